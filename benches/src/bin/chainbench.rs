//! `chainbench`: the whole chain between the real programs, release build.
//!
//! 1. PIN entry to first decoded picture: a `secours server`, a headless
//!    `secours console` and a `secours applet` as processes on loopback; the
//!    technician has picked the session up as soon as it shows in the queue
//!    and the customer answers the consent question at once; the clock runs
//!    from the applet's start (the PIN entered) to the console's
//!    `first_frame` event. Several sessions; the encoder self-test's answer
//!    is remembered after the first. Reference: the loopback round trip of
//!    the session's own ping, and the 300 ms target.
//! 2. Frames per second of a real 1080p X display (Xvfb) while an xterm
//!    scrolls, decoded by the console, over `--seconds`. Reference, same run,
//!    same display: ffmpeg capturing it (x11grab) and encoding with libaom's
//!    real-time mode at the size the applet chose.
//!
//! `cargo build --release --workspace && target/release/chainbench`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use secours_benches::programs::{Guard, PASSWORD, Proc, TECH, secours_binary, server, xvfb};
use serde_json::json;

#[derive(Debug, Parser)]
struct Args {
    /// The `secours` binary (default: beside this one).
    #[arg(long)]
    secours: Option<PathBuf>,
    /// Sessions for the first-picture figure.
    #[arg(long, default_value_t = 5)]
    sessions: usize,
    /// Seconds of scrolling for the frame-rate figure.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// One session: PIN, pick-up, consent; returns the applet, the session id,
/// the milliseconds from PIN entry to the first picture, and its size.
fn session(
    bin: &Path,
    base: &str,
    console: &mut Proc,
    display: &str,
) -> Result<(Proc, String, f64, (u64, u64))> {
    console.write(&json!({"cmd": "create_pin"}).to_string())?;
    let pin = console.event("pin")?;
    let sid = pin["session_id"].as_str().context("sid")?.to_owned();
    let entered = Instant::now();
    let mut applet = Proc::start(
        Command::new(bin)
            .args(["applet", "--terminal", "--server", base, "--name", "Bench"])
            .args(["--pin", pin["pin"].as_str().context("pin")?])
            .env("DISPLAY", display),
    )?;
    console.line("the queue", |l| l.contains(&sid) && l.contains("waiting"))?;
    console.write(&json!({"cmd": "pickup", "session_id": sid}).to_string())?;
    console.event("established")?;
    console.write(
        &json!({"cmd": "request", "session_id": sid, "permission": "remote_control"}).to_string(),
    )?;
    applet.line("the consent question", |l| l.contains("[y/n]"))?;
    applet.write("y")?;
    let first = console.event("first_frame")?;
    let ms = entered.elapsed().as_secs_f64() * 1e3;
    let size = (
        first["width"].as_u64().unwrap_or(0),
        first["height"].as_u64().unwrap_or(0),
    );
    Ok((applet, sid, ms, size))
}

fn decoded(console: &mut Proc, sid: &str) -> Result<(u64, f64)> {
    console.write(&json!({"cmd": "stats", "session_id": sid}).to_string())?;
    let s = console.event("stats")?;
    Ok((
        s["screen"]["decoded"].as_u64().unwrap_or(0),
        s["ping_ms"]
            .as_f64()
            .unwrap_or(s["rtt_ms"].as_f64().unwrap_or(0.0)),
    ))
}

/// ffmpeg capturing the display and encoding with libaom real-time, frames
/// per second over `seconds`.
fn ffmpeg_reference(display: &str, size: (u64, u64), seconds: u64) -> Result<f64> {
    let started = Instant::now();
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "x11grab"])
        .args([
            "-framerate",
            "60",
            "-video_size",
            "1920x1080",
            "-i",
            display,
        ])
        .args(["-t", &seconds.to_string()])
        .args(["-vf", &format!("scale={}:{}", size.0, size.1)])
        .args(["-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8"])
        .args([
            "-row-mt",
            "1",
            "-b:v",
            "4M",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
        ])
        .output()
        .context("ffmpeg")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let frames: u64 = text
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|v| v.trim().parse().ok())
        .with_context(|| {
            format!(
                "ffmpeg printed no frame count: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    Ok(frames as f64 / started.elapsed().as_secs_f64().max(seconds as f64))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = secours_binary(args.secours)?;
    let dir = tempfile::tempdir()?;
    let (_x, display) = xvfb("1920x1080")?;
    let display = display.as_str();
    // The scrolling xterm: a full-height terminal printing without pause.
    let _xterm = Guard(
        Command::new("xterm")
            .args(["-display", display, "-geometry", "240x70+0+0", "-e"])
            .args(["sh", "-c", "while :; do ls -l /usr/lib /usr/share; done"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xterm")?,
    );
    let (_server, base) = server(&bin, dir.path())?;
    let mut console = Proc::start(
        Command::new(&bin)
            .args(["console", "--headless", "--server", &base, "--email", TECH])
            .arg("--files-dir")
            .arg(dir.path().join("files"))
            .env("SECOURS_PASSWORD", PASSWORD),
    )?;
    console.event("ready")?;

    println!("chainbench: the real programs on loopback, release build");
    let mut times = Vec::new();
    for i in 1..=args.sessions.max(1) {
        let (applet, sid, ms, size) = session(&bin, &base, &mut console, display)?;
        println!(
            "  session {i}: PIN entered -> first picture {ms:.0} ms ({}x{})",
            size.0, size.1
        );
        times.push(ms);
        if i < args.sessions {
            console.write(&json!({"cmd": "end", "session_id": sid}).to_string())?;
            console.event("closed")?;
            drop(applet);
            continue;
        }
        let (_, ping) = decoded(&mut console, &sid)?;
        let warm = median(times.iter().skip(1).copied().collect());
        println!(
            "PIN entry to first decoded picture: first {:.0} ms, median of the next {} {warm:.0} ms \
             (target < 300 ms; reference: session round trip {ping:.2} ms)",
            times[0],
            times.len().saturating_sub(1),
        );
        let (before, _) = decoded(&mut console, &sid)?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(args.seconds));
        let (after, _) = decoded(&mut console, &sid)?;
        let fps = (after - before) as f64 / t0.elapsed().as_secs_f64();
        console.write(&json!({"cmd": "end", "session_id": sid}).to_string())?;
        console.event("closed")?;
        drop(applet);
        let reference = match ffmpeg_reference(display, size, args.seconds) {
            Ok(r) => format!("{r:.1} frames/s"),
            Err(e) => format!("unavailable ({e:#})"),
        };
        println!(
            "1080p X display, xterm scrolling, through the whole chain at {}x{}: {fps:.1} frames/s \
             decoded (target >= 30; reference: ffmpeg x11grab + libaom real-time at the same size, \
             {reference})",
            size.0, size.1
        );
    }
    Ok(())
}
