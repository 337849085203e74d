//! Writes the `av1_decoder` fuzz target's seed corpus: short real streams
//! from both encoders, as `u16 BE length | temporal unit` records.
//!
//! `cargo run -p secours-codec --example av1_seeds -- fuzz/corpus/av1_decoder`

use std::path::PathBuf;

use secours_codec::convert::to_i420;
use secours_codec::selftest::scrolling_text;
use secours_codec::{Backend, EncoderSettings, new_encoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or("fuzz/corpus/av1_decoder".into()),
    );
    std::fs::create_dir_all(&dir)?;
    for backend in Backend::ALL {
        for (w, h, frames) in [(64, 48, 4), (96, 64, 2), (16, 16, 3)] {
            let mut settings = EncoderSettings::new(w, h);
            settings.threads = 1;
            settings.bitrate_kbps = 300;
            let mut enc = new_encoder(backend, settings)?;
            let mut packets = Vec::new();
            for i in 0..frames {
                let f = to_i420(&scrolling_text((w, h), i)?)?;
                packets.extend(enc.encode(&f, u64::from(i) * 33_333, i == 0)?);
            }
            packets.extend(enc.flush()?);
            let mut out = Vec::new();
            for p in &packets {
                out.extend_from_slice(&u16::try_from(p.data.len())?.to_be_bytes());
                out.extend_from_slice(&p.data);
            }
            std::fs::write(dir.join(format!("seed-{backend}-{w}x{h}-{frames}")), out)?;
        }
    }
    Ok(())
}
