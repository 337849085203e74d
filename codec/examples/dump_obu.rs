//! Encodes the self-test's scrolling text with one backend and writes the
//! temporal units back to back (the `obu` format ffmpeg and dav1d's tools
//! read): for checking a backend's stream with another decoder.
//!
//! `cargo run -p secours-codec --example dump_obu -- rav1e 320x240 30 out.obu`

use secours_codec::convert::to_i420;
use secours_codec::selftest::scrolling_text;
use secours_codec::{Backend, EncoderSettings, new_encoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let backend: Backend = args.get(1).map_or("aom", String::as_str).parse()?;
    let (w, h) = args
        .get(2)
        .and_then(|s| s.split_once('x'))
        .ok_or("size WxH")?;
    let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
    let frames: u32 = args.get(3).map_or(Ok(30), |s| s.parse())?;
    let out = args.get(4).ok_or("output file")?;
    let mut settings = EncoderSettings::new(w, h);
    settings.threads = 2;
    let mut enc = new_encoder(backend, settings)?;
    let mut bytes = Vec::new();
    for i in 0..frames {
        let f = to_i420(&scrolling_text((w, h), i)?)?;
        for p in enc.encode(&f, u64::from(i) * 33_333, i == 0)? {
            bytes.extend_from_slice(&p.data);
        }
    }
    for p in enc.flush()? {
        bytes.extend_from_slice(&p.data);
    }
    std::fs::write(out, bytes)?;
    Ok(())
}
