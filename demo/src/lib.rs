//! `secours demo`: a whole support session between the real programs, each
//! its own process on loopback: a `secours server` (SQLite in a temporary
//! directory), a headless `secours console` (the technician, driven by JSON
//! lines), and a `secours applet` (the customer) sharing a real X display
//! (Xvfb with an xterm) when there is one, a synthetic screen otherwise.
//! The demo plays both people: it types the technician's commands and the
//! customer's answers at the applet's terminal, and prints what each program
//! said, checking every step.

pub mod process;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use process::{Program, Xvfb};

/// Options of `secours demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Size of the file the technician sends, MiB.
    #[arg(long, default_value_t = 4)]
    pub file_mib: u64,
    /// Size of the file the customer sends back, MiB.
    #[arg(long, default_value_t = 3)]
    pub reply_mib: u64,
    /// Give up on a step after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Keep the technician's recording (session.webm, session.events.jsonl)
    /// in this directory; without it the recording goes with the temporary files.
    #[arg(long)]
    pub record_dir: Option<PathBuf>,
    /// The path between the peers: `auto` (relay at once, direct QUIC when
    /// up) or `relay` only.
    #[arg(long, default_value = "auto")]
    pub path: String,
    /// The applet's AV1 encoder: `auto` runs the start-up self-test.
    #[arg(long, default_value = "auto")]
    pub encoder: String,
    /// Share a synthetic screen even where Xvfb is installed.
    #[arg(long)]
    pub synthetic: bool,
}

const MASTER: &str = "admin@helpdesk.example";
const TECH: &str = "alex@helpdesk.example";
const PASSWORD: &str = "Demo-Pass1%";

/// Writes `mib` MiB of pseudo-random bytes (xorshift seeded by the OS).
fn write_file(path: &Path, mib: u64) -> Result<()> {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no system randomness: {e}"))?;
    let mut x = u64::from_le_bytes(seed) | 1;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 64 * 1024];
    for _ in 0..mib * 16 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(())
}

fn md5_file(path: &Path) -> Result<String> {
    let mut h = Md5::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// A temporary directory removed when dropped: nothing stays behind.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

pub fn run(args: &DemoArgs) -> Result<()> {
    ensure!(
        matches!(args.path.as_str(), "auto" | "relay"),
        "--path is auto or relay"
    );
    let wait = Duration::from_secs(args.timeout_s);
    let root = TempDir(std::env::temp_dir().join(format!("secours-demo-{}", std::process::id())));
    let (tech_dir, customer_dir) = (root.0.join("technician"), root.0.join("customer"));
    std::fs::create_dir_all(&tech_dir)?;
    std::fs::create_dir_all(&customer_dir)?;
    let to_customer = tech_dir.join("printer-driver.bin");
    let to_technician = customer_dir.join("printer-error.log");
    write_file(&to_customer, args.file_mib).context("write the technician's file")?;
    write_file(&to_technician, args.reply_mib).context("write the customer's file")?;
    let started = Instant::now();

    println!("Secours demo: one support session between the three programs on loopback");
    println!("  working files under {}", root.0.display());
    let desktop = if args.synthetic {
        None
    } else {
        Xvfb::start(&customer_dir)?
    };
    match &desktop {
        Some(x) => println!(
            "  the customer's desktop: Xvfb {} with an xterm (real capture, input and clipboard)",
            x.display
        ),
        None => println!(
            "  the customer's desktop: a synthetic screen (no Xvfb: no input or clipboard)"
        ),
    }

    println!("Server");
    let server = process::server(&root.0, MASTER, PASSWORD, wait)?;
    println!(
        "  `secours server` on {} (SQLite), organisation set up by `secours server init`",
        server.base
    );
    process::add_technician(&server.base, MASTER, TECH, PASSWORD)?;
    println!(
        "  group \"Printers and peripherals\" and technician Alex created by the administrator"
    );

    println!("Technician (`secours console --headless`)");
    let mut console = Program::start(
        "console",
        process::me()?
            .args([
                "console",
                "--headless",
                "--server",
                &server.base,
                "--email",
                TECH,
            ])
            .args(["--path", &args.path])
            .arg("--files-dir")
            .arg(&tech_dir)
            .env("SECOURS_PASSWORD", PASSWORD),
        wait,
    )?;
    console.event("ready", |_| true)?;
    println!("  Alex logged in; the live queue follows on the signaling socket");
    console.send(&json!({"cmd": "create_pin"}))?;
    let pin = console.event("pin", |_| true)?;
    let (sid, code) = (s(&pin, "session_id"), s(&pin, "pin"));
    println!("  private session opened: PIN {code}");

    println!("Customer (`secours applet`)");
    let mut applet_cmd = process::me()?;
    applet_cmd
        .args([
            "applet",
            "--terminal",
            "--server",
            &server.base,
            "--pin",
            &code,
            "--name",
            "Sam",
        ])
        .args(["--path", &args.path])
        .arg("--received-dir")
        .arg(customer_dir.join("Downloads"));
    match &desktop {
        Some(x) => applet_cmd.env("DISPLAY", &x.display),
        None => applet_cmd.args(["--synthetic", "1280x720"]),
    };
    if args.encoder != "auto" {
        applet_cmd.args(["--encoder", &args.encoder]);
    }
    let pin_entered = Instant::now();
    let mut applet = Program::start("applet", &mut applet_cmd, wait)?;
    let customer_pid = applet.pid();
    applet.say_until("the wait", |l| l.contains("Waiting for Alex"))?;
    console.event("queue", |v| {
        v["sessions"]
            .as_array()
            .is_some_and(|q| q.iter().any(|x| x["id"] == sid.as_str()))
    })?;
    println!("  the session appeared in Alex's live queue; Alex picks it up");
    console.send(&json!({"cmd": "pickup", "session_id": sid}))?;
    let connected = console.event("connected", |_| true)?;
    let established = console.event("established", |_| true)?;
    let sas = s(&established, "sas");
    applet.say_until("the short authentication string", |l| {
        l.contains(&format!("Short authentication string: {sas}"))
    })?;
    println!(
        "  link: {} first, TLS 1.3 with both certificates pinned; short authentication string {sas} on both sides",
        s(&connected, "path")
    );

    // Consent: the demo answers at the customer's terminal, as a person would.
    let ask = |console: &mut Program, applet: &mut Program, perm: &str, question: &str| {
        console.send(&json!({"cmd": "request", "session_id": sid, "permission": perm}))?;
        applet.answer(question, "y")?;
        console.event("consent", |v| {
            v["actions"][0] == perm && v["allowed"] == true
        })?;
        println!("  customer allowed {perm}");
        anyhow::Ok(())
    };
    println!("Consent");
    ask(
        &mut console,
        &mut applet,
        "remote_control",
        "control your screen",
    )?;
    let first = console.event("first_frame", |_| true)?;
    let first_ms = pin_entered.elapsed().as_secs_f64() * 1e3;
    ask(&mut console, &mut applet, "record", "record this session")?;
    let record_dir = args
        .record_dir
        .clone()
        .unwrap_or_else(|| tech_dir.join("recording"));
    console.send(&json!({"cmd": "record", "session_id": sid, "on": true, "dir": record_dir}))?;
    console.event("recording", |v| v["recording"] == true)?;
    applet.say_until("the recording notice", |l| l.contains("being recorded"))?;
    println!("  the customer is told the session is recorded");

    println!("Screen");
    println!(
        "  first picture {}x{} decoded {:.0} ms after the pick-up, {first_ms:.0} ms after the PIN was entered",
        first["width"],
        first["height"],
        first["ms_since_pickup"].as_f64().unwrap_or(0.0)
    );
    if let Some(x) = &desktop {
        process::remote_control(&mut console, &sid, &first, x, &customer_dir, wait)?;
        println!("  typed `echo secours > typed.txt` into the customer's xterm: the file appeared");
        if let Some(text) = process::clipboard(&mut console, &mut applet, &sid, x)? {
            println!(
                "  clipboard: customer -> technician {text:?}; technician -> customer read back by xclip"
            );
        }
    }

    println!("Chat");
    console.send(&json!({"cmd": "chat", "session_id": sid, "text": "Hello, I am Alex. I will look at your printer."}))?;
    let line = applet.say_until("the technician's chat", |l| l.starts_with("Technician: "))?;
    println!("  {line}");
    applet.type_line("Thank you, the printer says error 0x41.")?;
    let chat = console.event("chat", |_| true)?;
    println!("  customer: {}", s(&chat, "text"));

    println!("Files (MD5 computed while streaming, checked by the receiver, and again on disk)");
    let t0 = Instant::now();
    console.send(&json!({"cmd": "send_file", "session_id": sid, "path": to_customer}))?;
    applet.answer("send you a file", "y")?;
    let sent = console.event("file", |v| v["direction"] == "sent")?;
    let received_line = applet.say_until("the receipt", |l| {
        l.starts_with("Received printer-driver.bin")
    })?;
    let there = customer_dir.join("Downloads").join("printer-driver.bin");
    files_line(
        "technician -> customer",
        &sent,
        t0,
        &md5_file(&to_customer)?,
        &md5_file(&there)?,
    )?;
    ensure!(
        received_line.contains("verified"),
        "the applet said: {received_line}"
    );
    let t0 = Instant::now();
    applet.type_line(&format!("/send {}", to_technician.display()))?;
    let back = console.event("file", |v| v["direction"] == "received")?;
    let back_path = PathBuf::from(s(&back, "path"));
    files_line(
        "customer -> technician",
        &back,
        t0,
        &md5_file(&to_technician)?,
        &md5_file(&back_path)?,
    )?;

    console.send(&json!({"cmd": "stats", "session_id": sid}))?;
    let stats = console.event("stats", |_| true)?;
    let screen = &stats["screen"];
    println!(
        "Screen: {} pictures decoded ({} keyframes, {:.0} KiB, {} decode errors), cursor apart: {} shape(s), {} positions",
        screen["decoded"],
        screen["keyframes"],
        screen["bytes"].as_f64().unwrap_or(0.0) / 1024.0,
        screen["decode_errors"],
        screen["cursor_shapes"],
        screen["cursor_positions"]
    );
    println!(
        "Link: round trip {:.2} ms, {} bytes sent, {} received by the technician",
        stats["rtt_ms"].as_f64().unwrap_or(0.0),
        stats["bytes_sent"],
        stats["bytes_received"]
    );

    println!("End");
    console.send(&json!({"cmd": "end", "session_id": sid}))?;
    let recording = console.event("recording", |v| v["recording"] == false)?;
    let closed = console.event("closed", |_| true)?;
    applet.say_until("the end", |l| l.contains("The session is over"))?;
    let status = applet.wait()?;
    ensure!(status.success(), "the applet exited with {status}");
    let applet_temp = std::env::temp_dir().join(format!("secours-applet-{customer_pid}"));
    ensure!(
        !applet_temp.exists(),
        "the applet left {} behind",
        applet_temp.display()
    );
    println!(
        "  closed by the technician ({}), on the {} path; the applet exited, its temporary files removed",
        s(&closed, "reason"),
        s(&closed, "path")
    );
    println!(
        "  recorded: session.webm, {} frames ({} keyframes) over {:.2} s; session.events.jsonl, {} events{}",
        recording["frames"],
        recording["keyframes"],
        recording["seconds"].as_f64().unwrap_or(0.0),
        recording["event_lines"],
        if args.record_dir.is_some() {
            format!("; kept in {}", record_dir.display())
        } else {
            String::new()
        }
    );
    ensure!(
        recording["frames"].as_u64().unwrap_or(0) > 0,
        "nothing was recorded"
    );
    console.send(&json!({"cmd": "quit"}))?;
    let _ = console.wait();
    let chain = server.audit_verify()?;
    println!("Server after the session");
    println!("  {chain}");
    println!("  {:.2} s in all", started.elapsed().as_secs_f64());
    println!("\nOK: every step checked out.");
    Ok(())
}

/// Prints a file's line and checks its MD5s: the sender's, the receiver's
/// verdict, and both copies on disk.
fn files_line(dir: &str, done: &Value, t0: Instant, source: &str, copy: &str) -> Result<()> {
    let size = done["size"].as_f64().unwrap_or(0.0) / 1048576.0;
    let secs = t0.elapsed().as_secs_f64();
    let md5 = s(done, "md5");
    println!(
        "  {dir}: {} {size:.1} MiB in {secs:.2} s ({:.1} MiB/s), md5 {md5} receiver {} disk {}",
        s(done, "name"),
        size / secs.max(1e-6),
        if done["verified"] == true {
            "verified"
        } else {
            "MISMATCH"
        },
        if source == copy && copy == md5 {
            "ok"
        } else {
            "MISMATCH"
        },
    );
    if done["verified"] != true || source != copy || copy != md5 {
        bail!("{dir}: the file did not arrive intact");
    }
    Ok(())
}
