//! `codecbench`: the screen pipeline measured step by step, in real time.
//!
//! Frames come from a synthetic scene (`--scene`) or a clip (`--input
//! FILE.y4m`, or raw I420 with `--size WxH`) at `--fps`; each goes through
//! damage -> scale -> BGRA to I420 -> AV1 (`--encoder aom|rav1e`) as the
//! applet does, paced like a capture loop: when a frame takes longer than
//! the interval the next capture is simply later, as on a real screen.
//! Latency is capture to packet out, frames held inside the encoder
//! included. Then every packet is decoded with dav1d and compared with its
//! source (PSNR-Y). The reference printed beside the encoding figures is the
//! input frame interval: the budget a frame has.
//!
//! Decoding speed: the packets, repeated to at least 1,200 frames, are
//! written to an IVF file; our `Decoder` decodes it with one thread and with
//! the console's setting (one per core), and `ffmpeg -threads 1 -c:v
//! libdav1d -i FILE -f null -` decodes the same file in the same run, timed
//! by its `-benchmark` clock. `--decode FILE.ivf` does only that, on a
//! stream recorded elsewhere (`ffmpeg -i rec.webm -c copy FILE.ivf`).
//!
//! `cargo run --release -p secours-benches --bin codecbench -- --all`

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use secours_applet::{Scene, ScreenCapture, SyntheticScreen};
use secours_benches::decode_reference::{
    DecodeSpeed, Output, read_ivf, time_ffmpeg, time_ours, write_ivf,
};
use secours_codec::convert::{Scaler, bgra_to_i420, psnr_y, to_bgra, to_i420};
use secours_codec::{
    Backend, BgraFrame, Decoder, EncodedVideoFrame, I420Frame, PipelineSettings, ScreenEncoder,
};

#[derive(Debug, Parser)]
struct Args {
    /// Synthetic scene: typing, scrolling, video, idle.
    #[arg(long, default_value = "typing")]
    scene: String,
    /// A clip instead of a scene: .y4m, or raw I420 with --size.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Frame size, WxH (scenes; raw I420 clips).
    #[arg(long, default_value = "1920x1080")]
    size: String,
    #[arg(long, default_value = "aom")]
    encoder: String,
    #[arg(long, default_value_t = 2_500)]
    bitrate: u32,
    /// Capture rate.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Frames to capture.
    #[arg(long, default_value_t = 150)]
    frames: usize,
    /// Encoder threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Keep the resolution fixed even when the encoder falls behind.
    #[arg(long)]
    no_adapt: bool,
    /// Every scene, both encoders, 1280x720 and 1920x1080.
    #[arg(long)]
    all: bool,
    /// Keep the stream the decoding speed is measured on (IVF) in this file.
    #[arg(long)]
    ivf: Option<PathBuf>,
    /// Only measure decoding speed, on this AV1 IVF file.
    #[arg(long)]
    decode: Option<PathBuf>,
}

/// The decoding speed is measured on at least this many frames (the
/// stream is repeated; each repetition starts on its keyframe).
const DECODE_FRAMES: usize = 1_200;

/// Our decoder beside ffmpeg + libdav1d on the same IVF file.
struct DecodeFigures {
    /// One thread, as the reference, pictures not copied.
    ours_1t: DecodeSpeed,
    /// One thread, each picture copied into an `I420Frame`.
    ours_1t_i420: DecodeSpeed,
    /// The console's setting: one thread per core.
    ours: DecodeSpeed,
    ffmpeg: Result<DecodeSpeed, String>,
}

impl DecodeFigures {
    fn measure(units: &[Bytes], size: (u32, u32), fps: u32, keep: Option<&Path>) -> Result<Self> {
        let reps = DECODE_FRAMES.div_ceil(units.len().max(1));
        let stream: Vec<Bytes> = units
            .iter()
            .cycle()
            .take(units.len() * reps)
            .cloned()
            .collect();
        let dir = tempfile::tempdir()?;
        let path = keep.map_or_else(|| dir.path().join("stream.ivf"), Path::to_path_buf);
        write_ivf(&path, size, fps, &stream)?;
        let ours_1t = time_ours(&stream, 1, Output::Pictures)?;
        let ffmpeg = time_ffmpeg(&path);
        let ours_1t_i420 = time_ours(&stream, 1, Output::I420)?;
        let ours = time_ours(&stream, 0, Output::Pictures)?;
        Ok(Self {
            ours_1t,
            ours_1t_i420,
            ours,
            ffmpeg,
        })
    }

    /// `ours 1 thread / ffmpeg 1 thread`.
    fn ratio(&self) -> Option<f64> {
        self.ffmpeg
            .as_ref()
            .ok()
            .map(|f| self.ours_1t.fps() / f.fps().max(1e-9))
    }

    fn human(&self) -> String {
        let reference = match &self.ffmpeg {
            Ok(f) => format!(
                "ffmpeg -threads 1 libdav1d {:>6.1} fps, ours/ffmpeg {:.2}",
                f.fps(),
                self.ratio().unwrap_or(0.0)
            ),
            Err(why) => format!("no reference ({why})"),
        };
        format!(
            "decode {:>6.1} fps (1 thread {:>6.1}, {:>6.1} with I420 copies; {reference}; {} frames)",
            self.ours.fps(),
            self.ours_1t.fps(),
            self.ours_1t_i420.fps(),
            self.ours_1t.frames
        )
    }

    fn machine(&self) -> String {
        format!(
            "decode_fps={:.1} decode_fps_1t={:.1} decode_fps_1t_i420={:.1} ffmpeg_libdav1d_fps_1t={:.1} decode_ratio_1t={:.3} decode_frames={}",
            self.ours.fps(),
            self.ours_1t.fps(),
            self.ours_1t_i420.fps(),
            self.ffmpeg.as_ref().map_or(0.0, DecodeSpeed::fps),
            self.ratio().unwrap_or(0.0),
            self.ours_1t.frames
        )
    }
}

/// Frames to feed: a live scene or a clip loaded up front.
enum Source {
    Scene(SyntheticScreen),
    Clip { frames: Vec<BgraFrame>, next: usize },
}

impl Source {
    fn size(&self) -> (u32, u32) {
        match self {
            Source::Scene(s) => s.size(),
            Source::Clip { frames, .. } => {
                frames.first().map_or((0, 0), |f| (f.width(), f.height()))
            }
        }
    }

    fn next(&mut self) -> Result<(BgraFrame, Option<Vec<secours_codec::Rect>>)> {
        match self {
            Source::Scene(s) => {
                let c = s.capture()?;
                Ok((c.frame, c.damage_hints))
            }
            Source::Clip { frames, next } => {
                let f = frames[*next % frames.len()].clone();
                *next += 1;
                Ok((f, None))
            }
        }
    }
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.split_once('x').context("size is WxH")?;
    Ok((w.parse()?, h.parse()?))
}

fn load_y4m(path: &PathBuf, max: usize) -> Result<Vec<BgraFrame>> {
    let file = std::fs::File::open(path)?;
    let mut dec = y4m::decode(BufReader::new(file)).map_err(|e| anyhow::anyhow!("y4m: {e:?}"))?;
    let (w, h) = (dec.get_width() as u32, dec.get_height() as u32);
    if dec.get_bit_depth() != 8
        || !matches!(
            dec.get_colorspace(),
            y4m::Colorspace::C420
                | y4m::Colorspace::C420jpeg
                | y4m::Colorspace::C420paldv
                | y4m::Colorspace::C420mpeg2
        )
    {
        bail!("only 8-bit 4:2:0 y4m clips");
    }
    let mut out = Vec::new();
    while out.len() < max {
        let Ok(f) = dec.read_frame() else { break };
        let yuv = I420Frame::from_planes(
            w,
            h,
            f.get_y_plane().to_vec(),
            f.get_u_plane().to_vec(),
            f.get_v_plane().to_vec(),
        )?;
        out.push(to_bgra(&yuv)?);
    }
    Ok(out)
}

fn load_raw(path: &PathBuf, size: (u32, u32), max: usize) -> Result<Vec<BgraFrame>> {
    let (w, h) = size;
    let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
    let luma = w as usize * h as usize;
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    while out.len() < max {
        let mut y = vec![0u8; luma];
        let mut u = vec![0u8; cw * ch];
        let mut v = vec![0u8; cw * ch];
        if file.read_exact(&mut y).is_err()
            || file.read_exact(&mut u).is_err()
            || file.read_exact(&mut v).is_err()
        {
            break;
        }
        out.push(to_bgra(&I420Frame::from_planes(w, h, y, u, v)?)?);
    }
    Ok(out)
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

struct Run {
    label: String,
    backend: Backend,
    size: (u32, u32),
    fps_in: u32,
    captured: usize,
    encoded: usize,
    wall: Duration,
    busy: Duration,
    latencies: Vec<Duration>,
    max_held: usize,
    bytes: usize,
    psnr_y: f64,
    decode: DecodeFigures,
    convert_gbps: f64,
    damage_p50: f64,
    convert_p50: f64,
    final_size: (u32, u32),
}

fn run(label: &str, mut source: Source, backend: Backend, args: &Args) -> Result<Run> {
    let size = source.size();
    let mut settings = PipelineSettings::new(backend);
    settings.bitrate_kbps = args.bitrate;
    settings.fps = args.fps;
    settings.threads = args.threads;
    settings.adapt_resolution = !args.no_adapt;
    let mut encoder = ScreenEncoder::new(settings);
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.fps.max(1)));

    // Sources kept by capture time for PSNR, at the size they were encoded.
    let mut sources: HashMap<u64, BgraFrame> = HashMap::new();
    let mut captured_at: HashMap<u64, Instant> = HashMap::new();
    let mut packets: Vec<EncodedVideoFrame> = Vec::new();
    let mut latencies = Vec::new();
    let (mut busy, mut max_held) = (Duration::ZERO, 0);
    let (mut damage_t, mut convert_t) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut tick = start;
    for _ in 0..args.frames {
        let now = Instant::now();
        if tick > now {
            std::thread::sleep(tick - now);
        }
        let (frame, hints) = source.next()?;
        let t = Instant::now();
        let capture_us = t.duration_since(start).as_micros() as u64;
        let (out, report) = encoder.push(&frame, capture_us, hints.as_deref())?;
        let done = Instant::now();
        busy += done - t;
        max_held = max_held.max(report.held);
        damage_t.push(report.damage_time);
        if !report.skipped {
            convert_t.push(report.convert_time);
            captured_at.insert(capture_us, t);
            sources.insert(capture_us, frame);
        }
        for p in &out {
            if let Some(t0) = captured_at.get(&p.capture_us) {
                latencies.push(done - *t0);
            }
        }
        packets.extend(out);
        // The next capture is due one interval later, or now if late.
        tick += interval;
        let now = Instant::now();
        if tick < now {
            tick = now;
        }
    }
    let flushed = encoder.flush()?;
    let done = Instant::now();
    for p in &flushed {
        if let Some(t0) = captured_at.get(&p.capture_us) {
            latencies.push(done - *t0);
        }
    }
    packets.extend(flushed);
    let wall = start.elapsed();
    latencies.sort();

    // Decode everything and compare with the sources.
    let mut decoder = Decoder::new(0)?;
    let mut decoded = Vec::new();
    for p in &packets {
        decoded.extend(decoder.decode(p.data.clone(), p.capture_us)?);
    }
    let units: Vec<Bytes> = packets
        .iter()
        .map(|p| Bytes::copy_from_slice(&p.data))
        .collect();
    let final_size = encoder.encoded_size().unwrap_or(size);
    let decode = DecodeFigures::measure(&units, final_size, args.fps, args.ivf.as_deref())?;
    let mut scaler = Scaler::default();
    let mut psnr_sum = 0.0;
    for d in &decoded {
        let source = sources
            .get(&d.pts_us)
            .context("decoded a frame never captured")?;
        let (w, h) = (d.frame.width(), d.frame.height());
        let reference = to_i420(&scaler.scale(source, w, h)?)?;
        psnr_sum += psnr_y(&reference, &d.frame)?;
    }

    // Conversion throughput on one full-size frame.
    let probe = source.next()?.0;
    let mut yuv = I420Frame::new(size.0, size.1)?;
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        bgra_to_i420(&probe, &mut yuv)?;
    }
    let convert_gbps = (probe.width() as f64 * probe.height() as f64 * 4.0 * reps as f64)
        / t.elapsed().as_secs_f64()
        / 1e9;

    damage_t.sort();
    convert_t.sort();
    Ok(Run {
        label: label.to_string(),
        backend,
        size,
        fps_in: args.fps,
        captured: args.frames,
        encoded: packets.len(),
        wall,
        busy,
        latencies,
        max_held,
        bytes: packets.iter().map(|p| p.data.len()).sum(),
        psnr_y: if decoded.is_empty() {
            0.0
        } else {
            psnr_sum / decoded.len() as f64
        },
        decode,
        convert_gbps,
        damage_p50: percentile(&damage_t, 50),
        convert_p50: percentile(&convert_t, 50),
        final_size,
    })
}

fn report(r: &Run) {
    let seconds = r.wall.as_secs_f64();
    let encode_fps = r.encoded as f64 / r.busy.as_secs_f64().max(1e-9);
    let kbps = r.bytes as f64 * 8.0 / 1000.0 / seconds;
    let budget_ms = 1000.0 / f64::from(r.fps_in);
    let (p50, p95) = (percentile(&r.latencies, 50), percentile(&r.latencies, 95));
    println!(
        "{:<10} {:<5} {:>9} | in {:>3} fps (budget {:>5.1} ms) | sent {:>3}/{:<3} | encode {:>6.1} fps | latency p50 {:>6.1} p95 {:>6.1} ms | held {} | {:>6.0} kbit/s | PSNR-Y {:>5.1} dB | {} | BGRA->I420 {:>5.2} GB/s | damage {:>4.1} ms conv {:>4.1} ms | encoded at {}x{}",
        r.label,
        r.backend,
        format!("{}x{}", r.size.0, r.size.1),
        r.fps_in,
        budget_ms,
        r.encoded,
        r.captured,
        encode_fps,
        p50,
        p95,
        r.max_held,
        kbps,
        r.psnr_y,
        r.decode.human(),
        r.convert_gbps,
        r.damage_p50,
        r.convert_p50,
        r.final_size.0,
        r.final_size.1,
    );
    println!(
        "encoder={} scene={} size={}x{} fps_in={} encode_fps={:.1} latency_p50_ms={:.2} latency_p95_ms={:.2} held_frames={} kbps={:.0} psnr_y={:.2} {} convert_gbps={:.2} budget_ms={:.2} encoded_size={}x{}",
        r.backend,
        r.label,
        r.size.0,
        r.size.1,
        r.fps_in,
        encode_fps,
        p50,
        p95,
        r.max_held,
        kbps,
        r.psnr_y,
        r.decode.machine(),
        r.convert_gbps,
        budget_ms,
        r.final_size.0,
        r.final_size.1,
    );
}

fn source_for(args: &Args, scene: Scene, size: (u32, u32)) -> Result<(String, Source)> {
    if let Some(path) = &args.input {
        let frames = if path.extension().is_some_and(|e| e == "y4m") {
            load_y4m(path, args.frames)?
        } else {
            load_raw(path, size, args.frames)?
        };
        if frames.is_empty() {
            bail!("no frame in {}", path.display());
        }
        let name = path
            .file_name()
            .map_or("clip".into(), |n| n.to_string_lossy().into_owned());
        return Ok((name, Source::Clip { frames, next: 0 }));
    }
    Ok((
        scene.name().to_string(),
        Source::Scene(SyntheticScreen::new(scene, size.0, size.1)?),
    ))
}

/// `--decode FILE.ivf`: decoding speed only, ours beside ffmpeg's.
fn decode_only(path: &Path) -> Result<()> {
    let (size, units) = read_ivf(path)?;
    if units.is_empty() {
        bail!("no frame in {}", path.display());
    }
    let figures = DecodeFigures::measure(&units, size, 30, None)?;
    let name = path
        .file_name()
        .map_or("stream".into(), |n| n.to_string_lossy().into_owned());
    println!(
        "{name} {}x{} ({} units) | {}",
        size.0,
        size.1,
        units.len(),
        figures.human()
    );
    println!(
        "stream={name} size={}x{} {}",
        size.0,
        size.1,
        figures.machine()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.decode {
        return decode_only(path);
    }
    let backends: Vec<Backend> = if args.all {
        Backend::ALL.to_vec()
    } else {
        vec![args.encoder.parse().map_err(anyhow::Error::msg)?]
    };
    let scenes: Vec<Scene> = if args.all {
        Scene::ALL.to_vec()
    } else {
        vec![args.scene.parse().map_err(anyhow::Error::msg)?]
    };
    let sizes = if args.all {
        vec![(1280, 720), (1920, 1080)]
    } else {
        vec![parse_size(&args.size)?]
    };
    println!(
        "codecbench: {} frames at {} fps, {} kbit/s, resolution adaptation {}",
        args.frames,
        args.fps,
        args.bitrate,
        if args.no_adapt { "off" } else { "on" }
    );
    for &size in &sizes {
        for &scene in &scenes {
            for &backend in &backends {
                let (label, source) = source_for(&args, scene, size)?;
                let r = run(&label, source, backend, &args)?;
                report(&r);
            }
        }
    }
    Ok(())
}
