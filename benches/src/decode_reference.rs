//! Decoding speed beside a reference: the same AV1 stream, written once to an
//! IVF file, decoded by our `Decoder` and by `ffmpeg -threads 1 -c:v libdav1d`
//! in the same run.
//!
//! ffmpeg is timed by its own `-benchmark` clock (`rtime`: the transcode
//! loop, demuxing and the null muxer included, process start-up excluded),
//! and its frame count is read from its last `frame=` statistic, so both
//! sides are frames decoded over the time spent decoding them.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use secours_codec::Decoder;

/// An AV1 stream as IVF: a 32-byte file header, then per temporal unit a
/// 12-byte header (size, timestamp) and the unit.
pub fn write_ivf(path: &Path, size: (u32, u32), fps: u32, units: &[Bytes]) -> Result<()> {
    let mut out = Vec::with_capacity(32 + units.iter().map(|u| u.len() + 12).sum::<usize>());
    out.extend_from_slice(b"DKIF");
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(b"AV01");
    out.extend_from_slice(&u16::try_from(size.0).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(&u16::try_from(size.1).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(&fps.max(1).to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&u32::try_from(units.len())?.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for (i, unit) in units.iter().enumerate() {
        out.extend_from_slice(&u32::try_from(unit.len())?.to_le_bytes());
        out.extend_from_slice(&(i as u64).to_le_bytes());
        out.extend_from_slice(unit);
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(&out)?;
    Ok(())
}

/// The temporal units of an IVF file (for `codecbench --decode FILE.ivf`).
pub fn read_ivf(path: &Path) -> Result<((u32, u32), Vec<Bytes>)> {
    let data = std::fs::read(path)?;
    if data.len() < 32 || &data[..4] != b"DKIF" || &data[8..12] != b"AV01" {
        bail!("{}: not an AV1 IVF file", path.display());
    }
    let header = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let size = (
        u32::from(u16::from_le_bytes([data[12], data[13]])),
        u32::from(u16::from_le_bytes([data[14], data[15]])),
    );
    let mut units = Vec::new();
    let mut rest = data
        .get(header..)
        .context("IVF header longer than the file")?;
    while rest.len() >= 12 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let unit = rest
            .get(12..12 + len)
            .context("IVF frame longer than the file")?;
        units.push(Bytes::copy_from_slice(unit));
        rest = &rest[12 + len..];
    }
    Ok((size, units))
}

/// Frames decoded and the time they took.
#[derive(Debug, Clone, Copy)]
pub struct DecodeSpeed {
    pub frames: u64,
    pub time: Duration,
}

impl DecodeSpeed {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.time.as_secs_f64().max(1e-9)
    }
}

/// What our decoder hands out per picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `Decoder::decode_pictures`: dav1d's own buffers, shared (a viewer
    /// converts from them to BGRA as it draws).
    Pictures,
    /// `Decoder::decode`: each picture copied into a tight `I420Frame`.
    I420,
}

/// Our decoder on `units`, `threads` as `Decoder::new` takes them: every
/// unit in, every picture out as `output` says, and dropped as a viewer
/// drops it once drawn, all on the clock.
pub fn time_ours(units: &[Bytes], threads: u32, output: Output) -> Result<DecodeSpeed> {
    let mut decoder = Decoder::new(threads)?;
    let mut frames = 0;
    let t = Instant::now();
    for (i, unit) in units.iter().enumerate() {
        frames += match output {
            Output::Pictures => decoder.decode_pictures(unit.clone(), i as u64)?.len(),
            Output::I420 => decoder.decode(unit.clone(), i as u64)?.len(),
        } as u64;
    }
    Ok(DecodeSpeed {
        frames,
        time: t.elapsed(),
    })
}

/// `ffmpeg -threads 1 -c:v libdav1d -i FILE -f null -`, timed by ffmpeg's
/// `-benchmark`; an error saying why when ffmpeg or libdav1d is missing.
pub fn time_ffmpeg(path: &Path) -> Result<DecodeSpeed, String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-benchmark", "-threads", "1"])
        .args(["-c:v", "libdav1d", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let last = log.lines().last().unwrap_or("").trim();
        return Err(format!("ffmpeg failed: {last}"));
    }
    let rtime = log
        .rsplit("rtime=")
        .next()
        .filter(|_| log.contains("rtime="))
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .ok_or("no rtime in ffmpeg's -benchmark output")?;
    let frames = log
        .rsplit("frame=")
        .next()
        .filter(|_| log.contains("frame="))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("no frame count in ffmpeg's output")?;
    Ok(DecodeSpeed {
        frames,
        time: Duration::from_secs_f64(rtime),
    })
}
