//! The start-up self-test (RustDesk does the same for its codecs): encode a
//! short screen-like clip with each backend at each candidate size and pick
//! the first that meets the frame budget, largest size first, backends in
//! order of preference. Configuration can force a backend or a size.

use std::time::{Duration, Instant};

use crate::adapt::candidate_sizes;
use crate::convert::to_i420;
use crate::encoder::{Backend, EncoderSettings, new_encoder};
use crate::error::CodecError;
use crate::frame::{BgraFrame, Rect};

/// Frames measured per candidate (after the first, a keyframe, is left out).
const FRAMES: usize = 10;

/// One backend at one size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    pub backend: Backend,
    pub size: (u32, u32),
    /// 95th percentile of capture-to-packet time, frames held included.
    pub p95: Duration,
    pub meets_budget: bool,
}

/// What the self-test chose, and what it tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub backend: Backend,
    pub size: (u32, u32),
    pub trials: Vec<Trial>,
}

/// What configuration may force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub backend: Option<Backend>,
    pub size: Option<(u32, u32)>,
}

/// Runs the trials for a `native` screen captured at `fps`.
pub fn choose(native: (u32, u32), fps: u32, overrides: Overrides) -> Result<Choice, CodecError> {
    let budget = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
    let backends: Vec<Backend> = match overrides.backend {
        Some(b) => vec![b],
        None => Backend::ALL.into_iter().filter(|b| b.available()).collect(),
    };
    let sizes = match overrides.size {
        Some(s) => vec![s],
        None => candidate_sizes(native),
    };
    let mut trials = Vec::new();
    for &size in &sizes {
        for &backend in &backends {
            let trial = run_trial(backend, size, fps, budget)?;
            tracing::info!(
                backend = %backend, w = size.0, h = size.1,
                p95_ms = trial.p95.as_secs_f64() * 1000.0, ok = trial.meets_budget,
                "codec self-test"
            );
            trials.push(trial);
            if trial.meets_budget {
                return Ok(Choice {
                    backend,
                    size,
                    trials,
                });
            }
        }
    }
    // Nothing meets the budget: the fastest trial at the smallest size.
    let best = trials
        .iter()
        .filter(|t| Some(&t.size) == sizes.last())
        .min_by_key(|t| t.p95)
        .copied()
        .ok_or(CodecError::BackendMissing("any"))?;
    Ok(Choice {
        backend: best.backend,
        size: best.size,
        trials,
    })
}

fn run_trial(
    backend: Backend,
    size: (u32, u32),
    fps: u32,
    budget: Duration,
) -> Result<Trial, CodecError> {
    let mut settings = EncoderSettings::new(size.0, size.1);
    settings.fps = fps;
    let mut encoder = new_encoder(backend, settings)?;
    let mut sent: Vec<Instant> = Vec::new();
    let mut latencies = Vec::new();
    for i in 0..=FRAMES {
        let frame = to_i420(&scrolling_text(size, i as u32)?)?;
        sent.push(Instant::now());
        for p in encoder.encode(&frame, i as u64 * 33_333, i == 0)? {
            let index = (p.pts_us / 33_333) as usize;
            if index > 0 {
                if let Some(t) = sent.get(index) {
                    latencies.push(t.elapsed());
                }
            }
        }
    }
    // Frames still held never made their budget.
    latencies.extend(std::iter::repeat_n(
        Duration::from_secs(1),
        encoder.held_frames(),
    ));
    latencies.sort();
    let p95 = latencies
        .get((latencies.len() * 95).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or(Duration::from_secs(1));
    Ok(Trial {
        backend,
        size,
        p95,
        meets_budget: p95 <= budget,
    })
}

/// A terminal-like screen: lines of glyph-sized marks, scrolled one line
/// per frame, so each frame is a realistic amount of new content.
pub fn scrolling_text(size: (u32, u32), frame: u32) -> Result<BgraFrame, CodecError> {
    let mut f = BgraFrame::new(size.0, size.1)?;
    f.fill_rect(Rect::new(0, 0, size.0, size.1), [40, 30, 30, 255]);
    let (cw, ch) = (8u32, 16u32);
    for row in 0..size.1 / ch {
        let line = row + frame;
        let len = 20 + hash(line) % (size.0 / cw).saturating_sub(20).max(1);
        for col in 0..len.min(size.0 / cw) {
            let h = hash(line.wrapping_mul(131).wrapping_add(col));
            if h % 7 == 0 {
                continue; // a space
            }
            for gy in 3..13 {
                for gx in 1..7 {
                    if hash(h ^ (gy * 8 + gx)) % 3 == 0 {
                        f.fill_rect(
                            Rect::new(col * cw + gx, row * ch + gy, 1, 1),
                            [220, 220, 220, 255],
                        );
                    }
                }
            }
        }
    }
    Ok(f)
}

fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}
