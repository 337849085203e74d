//! `windowbench`: the console's window between the real programs on
//! loopback (release build), two Xvfb displays at 1920x1080: the customer's
//! (an xterm, `secours applet`) and the technician's (`secours console` in
//! its window, Mesa's software OpenGL).
//!
//! 1. Display latency: a key pressed in the console's window (xdotool) to
//!    the changed pixels back in that window (the letter typed into the
//!    customer's xterm, captured, encoded, sent, decoded and drawn), read by
//!    polling screenshots of the window's picture. Reference, same run,
//!    alternating: the same key pressed on the customer's own display to its
//!    changed pixels there (the xterm's local echo and the measuring
//!    itself).
//! 2. Frames drawn per second while a full-screen xterm scrolls on the
//!    customer's display: pictures the window uploaded and drew, beside the
//!    pictures the console decoded (the window's own log).
//!
//! `cargo build --release --workspace && target/release/windowbench`

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use secours_applet::X11Capture;
use secours_applet::capture::ScreenCapture;
use secours_benches::programs::{
    Guard, PASSWORD, Proc, TECH, WAIT, pin, secours_binary, server, xvfb,
};
use secours_codec::BgraFrame;

#[derive(Debug, Parser)]
struct Args {
    /// The `secours` binary (default: beside this one).
    #[arg(long)]
    secours: Option<PathBuf>,
    /// Keys pressed for each latency figure.
    #[arg(long, default_value_t = 20)]
    keys: usize,
    /// Seconds of scrolling for the frame-rate figure.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// The window's main action (console::window::colours::PRIMARY).
const PRIMARY: [u8; 3] = [0x1f, 0x5f, 0xd6];
/// The customer's xterm background.
const GREEN: [u8; 3] = [0x00, 0xc0, 0x00];

/// A display's screenshots, through one connection.
struct Screen(X11Capture);

impl Screen {
    fn open(display: &str) -> Result<Self> {
        Ok(Self(X11Capture::connect(Some(display))?))
    }

    fn shot(&mut self) -> Result<BgraFrame> {
        Ok(self.0.capture()?.frame)
    }
}

/// The bounding box of the pixels near `rgb` (6 on every channel; 24 for
/// the xterm's green, which went through the video codec), if at least
/// `min` of them.
fn bbox(frame: &BgraFrame, rgb: [u8; 3], min: usize) -> Option<[usize; 4]> {
    let tolerance = if rgb == GREEN { 24 } else { 6 };
    let mut b = [usize::MAX, usize::MAX, 0, 0];
    let mut n = 0;
    for y in 0..frame.height() as usize {
        let row = &frame.data()[y * frame.stride()..][..frame.width() as usize * 4];
        for (x, px) in row.chunks_exact(4).enumerate() {
            if (0..3).all(|i| px[2 - i].abs_diff(rgb[i]) <= tolerance) {
                n += 1;
                b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
        }
    }
    (n >= min).then_some(b)
}

fn centre(b: [usize; 4]) -> (i32, i32) {
    (((b[0] + b[2]) / 2) as i32, ((b[1] + b[3]) / 2) as i32)
}

/// Waits for `what`, shown in `rgb` (centred right of `right_of` when
/// given).
fn wait_for(
    screen: &mut Screen,
    what: &str,
    rgb: [u8; 3],
    min: usize,
    right_of: Option<usize>,
) -> Result<[usize; 4]> {
    let deadline = Instant::now() + WAIT;
    let mut seen = None;
    while Instant::now() < deadline {
        if let Some(b) = bbox(&screen.shot()?, rgb, min) {
            seen = Some(b);
            if right_of.is_none_or(|x| centre(b).0 >= x as i32) {
                return Ok(b);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} never showed (its colour {rgb:?} last seen at {seen:?})")
}

fn region(frame: &BgraFrame, b: [usize; 4]) -> Vec<u8> {
    (b[1]..=b[3])
        .flat_map(|y| {
            frame.data()[y * frame.stride() + b[0] * 4..][..(b[2] - b[0] + 1) * 4].to_vec()
        })
        .collect()
}

fn xdotool(display: &str, args: &[&str]) -> Result<()> {
    let ok = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .status()
        .context("xdotool (scripts/setup.sh installs it)")?
        .success();
    if !ok {
        bail!("xdotool {args:?} failed");
    }
    Ok(())
}

fn click(display: &str, (x, y): (i32, i32)) -> Result<()> {
    xdotool(
        display,
        &["mousemove", "--sync", &x.to_string(), &y.to_string()],
    )?;
    xdotool(display, &["mousedown", "1"])?;
    std::thread::sleep(Duration::from_millis(120));
    xdotool(display, &["mouseup", "1"])
}

/// Milliseconds from a key pressed on `typed` to a change of `watch`'s
/// region `b`.
fn key_to_pixels(typed: &str, watch: &mut Screen, b: [usize; 4]) -> Result<f64> {
    let before = region(&watch.shot()?, b);
    let t0 = Instant::now();
    xdotool(typed, &["key", "x"])?;
    while t0.elapsed() < Duration::from_secs(5) {
        if region(&watch.shot()?, b) != before {
            return Ok(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    bail!("the key pressed on {typed} never showed")
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(0.0)
}

/// A log line without its terminal colours.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn field(line: &str, name: &str) -> Option<f64> {
    let rest = line.split(&format!("{name}=")).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = secours_binary(args.secours)?;
    let dir = tempfile::tempdir()?;
    let (_cx, customer) = xvfb("1920x1080")?;
    let (_tx, technician) = xvfb("1920x1080")?;
    let _shell = Guard(
        Command::new("xterm")
            .args(["-display", &customer, "-geometry", "100x30+0+0"])
            .args(["-bg", "#00c000", "-fg", "black", "-e", "sh"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xterm")?,
    );
    let (_server, base) = server(&bin, dir.path())?;
    let console = Proc::start_logging(
        Command::new(&bin)
            .args(["console", "--server", &base, "--email", TECH])
            .arg("--files-dir")
            .arg(dir.path().join("files"))
            .env("DISPLAY", &technician)
            .env("SECOURS_PASSWORD", PASSWORD)
            .env("SECOURS_LOG", "warn,secours_console::window=debug")
            .env("NO_COLOR", "1"),
    )?;
    let code = pin(&base)?;
    let mut applet = Proc::start(
        Command::new(&bin)
            .args(["applet", "--terminal", "--server", &base, "--name", "Bench"])
            .args(["--pin", &code, "--display", &customer])
            .env("DISPLAY", &customer),
    )?;
    let mut tech = Screen::open(&technician)?;
    let mut cust = Screen::open(&customer)?;

    let pick_up = wait_for(&mut tech, "the Pick up button", PRIMARY, 200, None)?;
    click(&technician, centre(pick_up))?;
    applet.line("the technician", |l| l.contains("joined the session"))?;
    let ask = wait_for(
        &mut tech,
        "the Remote control button",
        PRIMARY,
        200,
        Some(640),
    )?;
    click(&technician, centre(ask))?;
    applet.line("the consent question", |l| l.contains("[y/n]"))?;
    applet.write("y")?;
    let shown = wait_for(&mut tech, "the customer's screen", GREEN, 2_000, None)?;
    let local = bbox(&cust.shot()?, GREEN, 2_000).context("the customer's xterm")?;
    xdotool(
        &technician,
        &[
            "search",
            "--name",
            "Secours console",
            "windowfocus",
            "--sync",
        ],
    )?;
    click(&technician, centre(shown))?;
    std::thread::sleep(Duration::from_secs(1));

    println!("windowbench: the console's window on loopback, release build, 1920x1080 displays");
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for _ in 0..args.keys.max(1) {
        ours.push(key_to_pixels(&technician, &mut tech, shown)?);
        std::thread::sleep(Duration::from_millis(300));
        reference.push(key_to_pixels(&customer, &mut cust, local)?);
        std::thread::sleep(Duration::from_millis(300));
    }
    println!(
        "display latency, key in the console's window to its pixels back there: median {:.1} ms, \
         p90 {:.1} ms over {} keys (reference: the key on the customer's own display to its pixels \
         there, median {:.1} ms, p90 {:.1} ms)",
        percentile(ours.clone(), 0.5),
        percentile(ours, 0.9),
        reference.len(),
        percentile(reference.clone(), 0.5),
        percentile(reference, 0.9),
    );

    let _scroll = Guard(
        Command::new("xterm")
            .args(["-display", &customer, "-geometry", "240x70+0+0", "-e"])
            .args(["sh", "-c", "while :; do ls -l /usr/lib /usr/share; done"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xterm")?,
    );
    std::thread::sleep(Duration::from_secs(3));
    // The figures from before the scrolling do not count.
    console.drain();
    let started = Instant::now();
    let (mut decoded, mut drawn, mut n, mut picture) = (0.0, 0.0, 0, String::new());
    while started.elapsed() < Duration::from_secs(args.seconds) {
        let line = plain(&console.line("the window's figures", |l| l.contains("window figures"))?);
        if let (Some(d), Some(w)) = (field(&line, "decoded_per_s"), field(&line, "drawn_per_s")) {
            decoded += d;
            drawn += w;
            n += 1;
        }
        if let Some(p) = line.split("picture=").nth(1) {
            picture = p.trim().to_owned();
        }
    }
    let n = f64::from(n.max(1));
    println!(
        "frames drawn per second while a 1920x1080 xterm scrolls (picture {picture}): {:.1} drawn \
         (reference: {:.1} decoded by the console in the same seconds)",
        drawn / n,
        decoded / n,
    );
    Ok(())
}
