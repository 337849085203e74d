//! `secours demo`: a whole support session in one process.
//!
//! The real server runs embedded (see `broker`): a technician logs in and
//! opens a PIN session, the customer enters the PIN, the technician picks it
//! up from the live queue, and the server hands both peers a relay token,
//! the session's permissions, and each other's certificate fingerprint.
//! Then a console and an applet, each on its own task, connect
//! over loopback through the server's relay hub (TLS 1.3 inside a WebSocket) or
//! directly over QUIC, and run the real protocol state machines: handshake
//! with fingerprints and the short authentication string, consent,
//! remote-control input, clipboard both ways, a file each way with MD5 checked
//! on both sides, chat, and the end of the session. Video comes with the
//! codec issue.

mod applet;
mod broker;
mod console;
mod video;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use md5::{Digest, Md5};
use secours_peer::setup::{Pairing, capabilities, session_config};
use secours_peer::{Driver, FileDesk};
use secours_protocol::pb::{self, Role};
use secours_protocol::{Fingerprint, PermissionSet, Session, SessionConfig};

use applet::Applet;
use console::Console;
use secours_transport::LocalIdentity;
use secours_transport::connector::{self, Reports};
use secours_transport::quic::QuicEndpoint;
use secours_transport::relay::Side;
use tracing::Instrument;
use video::{ScreenSender, ScreenViewer};

/// Options of `secours demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Size of the file the technician sends, MiB.
    #[arg(long, default_value_t = 4)]
    pub file_mib: u64,
    /// Size of the file the customer sends back, MiB.
    #[arg(long, default_value_t = 3)]
    pub reply_mib: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Keep the technician's recording (session.webm, session.events.jsonl)
    /// in this directory; without it the recording goes with the temporary files.
    #[arg(long)]
    pub record_dir: Option<PathBuf>,
    /// The path between the peers.
    #[arg(long, value_enum, default_value_t = DemoPath::Auto)]
    pub path: DemoPath,
    /// The applet's AV1 encoder: `auto` runs the start-up self-test.
    #[arg(long, default_value = "auto")]
    pub encoder: String,
}

/// Which transport the demo uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoPath {
    /// Start on the relay at once, move to direct QUIC when it is up.
    Auto,
    /// Only through the relay hub: TLS inside a WebSocket (works through any proxy).
    Relay,
    /// Only direct QUIC between the peers.
    Quic,
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0; N];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no system randomness: {e}"))?;
    Ok(b)
}

/// Writes `mib` MiB of pseudo-random bytes (xorshift seeded by the OS).
fn write_file(path: &Path, mib: u64) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x = u64::from_le_bytes(random::<8>()?) | 1;
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

fn md5_file(path: &Path) -> Result<[u8; 16]> {
    let mut h = Md5::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().into())
}

/// A temporary directory removed when dropped: nothing stays behind.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let root = TempDir(std::env::temp_dir().join(format!("secours-demo-{}", std::process::id())));
    let (console_dir, applet_dir) = (root.0.join("console"), root.0.join("applet"));
    std::fs::create_dir_all(&console_dir)?;
    std::fs::create_dir_all(&applet_dir)?;
    let to_customer = console_dir.join("printer-driver.bin");
    let to_technician = applet_dir.join("printer-error.log");
    write_file(&to_customer, args.file_mib).context("write the technician's file")?;
    write_file(&to_technician, args.reply_mib).context("write the customer's file")?;

    // Each peer makes an ephemeral certificate for this session; the server
    // pairs them and hands each the other's fingerprint and a shared token.
    let console_id = LocalIdentity::generate()?;
    let applet_id = LocalIdentity::generate()?;
    let (console_fp, applet_fp) = (console_id.fingerprint(), applet_id.fingerprint());
    let config = |role: Role,
                  brokered: &broker::Brokered,
                  permissions: &PermissionSet,
                  local: Fingerprint,
                  observed: Fingerprint,
                  expected: Fingerprint|
     -> Result<SessionConfig> {
        let pairing = Pairing {
            role,
            session_id: brokered.session_id.clone(),
            local,
            expected_peer: expected,
            observed_peer: observed,
            token: brokered.session_token.clone(),
        };
        Ok(session_config(
            &pairing,
            permissions.clone(),
            capabilities(false, false),
        )?)
    };
    let limit = Duration::from_secs(args.timeout_s);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    println!("Secours demo: one support session, two peers on loopback");
    println!("  technician certificate {console_fp}");
    println!("  customer certificate {applet_fp}");
    println!("  working files under {}", root.0.display());
    // The applet picks its encoder and size before the session, as it
    // would at start-up, unless told which to use.
    let overrides = secours_codec::selftest::Overrides {
        backend: match args.encoder.as_str() {
            "auto" => None,
            other => Some(other.parse().map_err(|e: String| anyhow!(e))?),
        },
        size: None,
    };
    let choice = secours_codec::selftest::choose(video::SCREEN, 30, overrides)?;
    let started = Instant::now();
    let path = args.path;
    let outcome = runtime.block_on(async {
        // The applet's direct endpoint exists first: its address is the
        // candidate it announces through the server.
        let applet_ep = match path {
            DemoPath::Relay => None,
            _ => Some(QuicEndpoint::bind("127.0.0.1:0".parse()?)?),
        };
        let candidate = applet_ep
            .as_ref()
            .map(QuicEndpoint::local_addr)
            .transpose()?;
        let brokered = broker::broker(&root.0, console_fp, applet_fp, candidate).await?;
        println!("Server");
        for line in &brokered.log {
            println!("  {line}");
        }
        let session_id = brokered.session_id.clone();
        let (mut console_link, mut applet_link, where_, race) =
            connect(path, &console_id, &applet_id, &brokered, applet_ep).await?;
        let link_ms = started.elapsed().as_secs_f64() * 1e3;
        println!("  link: {where_}, TLS 1.3 with both certificates pinned, up in {link_ms:.1} ms");
        let console_cfg = config(
            Role::Console,
            &brokered,
            &brokered.console_permissions,
            console_fp,
            console_link.peer_fingerprint(),
            brokered.applet_fp_at_console,
        )?;
        let applet_cfg = config(
            Role::Applet,
            &brokered,
            &brokered.applet_permissions,
            applet_fp,
            applet_link.peer_fingerprint(),
            brokered.console_fp_at_applet,
        )?;
        let applet_desk = FileDesk::new(&applet_dir);
        let applet_choice = choice.clone();
        let applet_file = to_technician.clone();
        let applet_task = tokio::spawn(
            async move {
                let mut script = Applet::new(
                    applet_desk,
                    applet_file,
                    ScreenSender::new(Instant::now(), applet_choice)?,
                );
                let mut session = Session::new(applet_cfg, Instant::now());
                Driver::new()
                    .with_limit(limit)
                    .run(&mut session, &mut applet_link, &mut script)
                    .await?;
                Ok::<_, anyhow::Error>((script, applet_link.stats()))
            }
            .instrument(tracing::info_span!("applet", session = %session_id.clone())),
        );
        let mut console = Console::new(
            FileDesk::new(&console_dir),
            to_customer.clone(),
            started,
            race.clone(),
            ScreenViewer::new(&console_dir, &session_id, started)?,
        );
        let console_result = async {
            let mut session = Session::new(console_cfg, Instant::now());
            Driver::new()
                .with_limit(limit)
                .run(&mut session, &mut console_link, &mut console)
                .await
                .map_err(anyhow::Error::from)
        }
        .instrument(tracing::info_span!("console", session = %session_id))
        .await;
        let console_stats = console_link.stats();
        drop(console_link);
        let applet_result = applet_task
            .await
            .map_err(|e| anyhow!("the applet task failed: {e}"))?;
        let server_line = brokered.finish().await?;
        // The first failure is the cause; the other side only saw the link go.
        match (console_result, applet_result) {
            (Err(e), Err(a)) => Err(e.context(format!("console (the applet: {a:#})"))),
            (Err(e), Ok(_)) => Err(e.context("console")),
            (Ok(_), Err(e)) => Err(e.context("applet")),
            (Ok(final_path), Ok((applet, applet_stats))) => {
                let where_ = format!(
                    "{where_}; the session ended on the {} path",
                    final_path.kind
                );
                Ok((
                    console,
                    applet,
                    console_stats,
                    applet_stats,
                    where_,
                    server_line,
                ))
            }
        }
    });
    let (mut console, applet, console_stats, applet_stats, where_, server_line) = outcome?;
    console.screen.finish()?;
    let elapsed = started.elapsed();

    // Check both files on disk against independent MD5s.
    let (sent, (recv, recv_path)) = match (console.desk.sent.first(), applet.desk.received.first())
    {
        (Some(s), Some(r)) => (s.clone(), r.clone()),
        _ => bail!("the technician's file did not arrive"),
    };
    let (back, (back_in, back_path)) =
        match (applet.desk.sent.first(), console.desk.received.first()) {
            (Some(s), Some(r)) => (s.clone(), r.clone()),
            _ => bail!("the customer's file did not arrive"),
        };
    let disk = [
        md5_file(&to_customer)?,
        md5_file(&recv_path)?,
        md5_file(&to_technician)?,
        md5_file(&back_path)?,
    ];
    let files_ok = sent.verified
        && recv.verified
        && back.verified
        && back_in.verified
        && disk[0] == disk[1]
        && disk[2] == disk[3]
        && disk[0] == sent.md5
        && disk[2] == back.md5;

    println!();
    println!("Handshake");
    println!(
        "  established in {:.1} ms, protocol v1",
        console.handshake_ms.unwrap_or(0.0)
    );
    let sas = console.sas.map(|s| s.to_string()).unwrap_or_default();
    println!("  short authentication string: {sas} (technician and customer read the same digits)");
    println!("Consent");
    for line in &applet.prompts {
        println!("  customer prompted: {line}");
    }
    for line in &console.consent_log {
        println!("  console: {line}");
    }
    for line in &console.refused_locally {
        println!("  refused before sending: {line}");
    }
    println!("Remote control");
    println!(
        "  {} input events sent, {} received by the applet: {}",
        console.inputs_sent,
        applet.inputs.len(),
        applet.inputs.join(" ")
    );
    let (tx, rx) = (&applet.screen, &console.screen);
    println!(
        "Screen (synthetic 'typing' scene, {} encoder, dav1d decoder)",
        tx.backend
    );
    for t in &choice.trials {
        println!(
            "  codec self-test: {} at {}x{}: p95 {:.1} ms a frame (budget 33.3 ms){}",
            t.backend,
            t.size.0,
            t.size.1,
            t.p95.as_secs_f64() * 1e3,
            if t.meets_budget { ", chosen" } else { "" }
        );
    }
    println!(
        "  {} frames sent ({} keyframes, {:.0} KiB), {} decoded at {}x{}, first picture {:.0} ms after start",
        tx.frames_sent,
        tx.keyframes_sent,
        tx.bytes_sent as f64 / 1024.0,
        rx.decoded,
        rx.size.0,
        rx.size.1,
        rx.first_frame_ms.unwrap_or(0.0)
    );
    println!(
        "  keyframe requested by the console: {} request(s) received, keyframe arrived: {}",
        tx.keyframe_requests,
        if rx.keyframe_after_request {
            "yes"
        } else {
            "NO"
        }
    );
    println!(
        "  cursor apart from the video: {} shape(s), {} positions",
        rx.cursor_shapes, rx.cursor_positions
    );
    println!(
        "  bitrate follows the link: {} kbit/s for an estimate of {:.1} Mbit/s ({} change(s))",
        tx.bitrate_kbps(),
        tx.link_estimate_bps as f64 / 1e6,
        tx.rate_changes
    );
    if let Some(r) = rx.summary {
        println!(
            "  recorded: session.webm, {} frames ({} keyframes) over {:.2} s; session.events.jsonl, {} events",
            r.frames,
            r.keyframes,
            r.span_us as f64 / 1e6,
            rx.event_lines
        );
        if let Some(dir) = &args.record_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            for name in ["session.webm", "session.events.jsonl"] {
                std::fs::copy(console_dir.join(name), dir.join(name))
                    .with_context(|| format!("keep {name} in {}", dir.display()))?;
            }
            println!("  recording kept in {}", dir.display());
        }
    }
    println!("Clipboard");
    println!(
        "  technician -> customer: {:?}",
        applet
            .clipboard_in
            .first()
            .map(String::as_str)
            .unwrap_or("")
    );
    println!(
        "  customer -> technician: {:?}",
        console
            .clipboard_in
            .first()
            .map(String::as_str)
            .unwrap_or("")
    );
    println!(
        "  echo of the applied value suppressed: {}",
        if applet.echo_suppressed { "yes" } else { "NO" }
    );
    println!("Files (MD5 computed while streaming, checked by the receiver, and again on disk)");
    for (dir, s, r, d) in [
        ("technician -> customer", &sent, &recv, disk[1]),
        ("customer -> technician", &back, &back_in, disk[3]),
    ] {
        println!(
            "  {dir}: {} {:.1} MiB in {:.2} s ({:.0} MiB/s), md5 {} receiver {} disk {}",
            s.name,
            s.size as f64 / 1048576.0,
            r.seconds,
            s.size as f64 / 1048576.0 / r.seconds.max(1e-6),
            hex::encode(s.md5),
            if r.verified { "verified" } else { "MISMATCH" },
            if d == s.md5 { "ok" } else { "MISMATCH" },
        );
    }
    println!("Chat");
    for line in &applet.chat_in {
        println!("  technician: {line}");
    }
    for line in &console.chat_in {
        println!("  customer: {line}");
    }
    println!("Link ({where_})");
    for line in &console.race_log {
        println!("  connector: {line}");
    }
    println!(
        "  technician sent {} bytes, received {} bytes; customer sent {} bytes",
        console_stats.bytes_sent, console_stats.bytes_received, applet_stats.bytes_sent
    );
    if console_stats.rtt > Duration::ZERO {
        println!(
            "  transport RTT {:.2} ms, loss {:.2} %",
            console_stats.rtt.as_secs_f64() * 1e3,
            console_stats.loss * 100.0
        );
    }
    if let Some(rtt) = console.rtt_ms {
        println!("  round trip (session ping): {rtt:.2} ms");
    }
    println!("Server after the session");
    println!("  {server_line}");
    println!("End");
    println!(
        "  {:?} after {:.2} s; temporary files removed",
        applet.end.unwrap_or(pb::EndReason::Unspecified),
        elapsed.as_secs_f64()
    );
    let screen_ok = console.screen.satisfied()
        && console
            .screen
            .summary
            .is_some_and(|r| r.frames == console.screen.decoded + console.screen.decode_errors)
        && applet.screen.keyframe_requests >= 1;
    if !files_ok
        || !screen_ok
        || !applet.echo_suppressed
        || applet.inputs.len() != console.inputs_sent
    {
        bail!("the demo session did not check out (see above)");
    }
    println!("\nOK: every step checked out.");
    Ok(())
}

/// Makes the link both peers will use: the server's relay hub with the
/// token it issued, or a direct QUIC connection to the candidate the applet
/// announced; each side pins the fingerprint it learned through signaling.
async fn connect(
    path: DemoPath,
    console: &LocalIdentity,
    applet: &LocalIdentity,
    b: &broker::Brokered,
    applet_ep: Option<QuicEndpoint>,
) -> Result<(
    secours_transport::Link,
    secours_transport::Link,
    String,
    Option<Reports>,
)> {
    let (cfp, afp) = (b.console_fp_at_applet, b.applet_fp_at_console);
    let relay = || async {
        let (c, a) = tokio::join!(
            secours_transport::relay::connect(
                &b.relay_base,
                &b.relay_token,
                Side::Console,
                console,
                afp
            ),
            secours_transport::relay::connect(
                &b.relay_base,
                &b.relay_token,
                Side::Applet,
                applet,
                cfp
            ),
        );
        Ok::<_, anyhow::Error>((
            c?,
            a?,
            format!("the server's relay hub at {}", b.relay_base),
        ))
    };
    let direct = |applet_ep: Option<QuicEndpoint>| -> Result<_> {
        let applet_ep = applet_ep.context("no applet endpoint")?;
        let addr = b
            .candidate_at_console
            .context("the applet announced no candidate")?;
        let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse()?)?;
        Ok((applet_ep, console_ep, addr))
    };
    match path {
        DemoPath::Relay => {
            let (c, a, where_) = relay().await?;
            Ok((c, a, where_, None))
        }
        DemoPath::Auto => {
            let (c, a, relay_where) = relay().await?;
            let (applet_ep, console_ep, addr) = direct(applet_ep)?;
            let (console_id, applet_id) = (console.clone(), applet.clone());
            let console_direct =
                Box::pin(async move { console_ep.connect(&console_id, afp, addr).await });
            let applet_direct = Box::pin(async move { applet_ep.accept(&applet_id, cfp).await });
            let (c, reports) = connector::start(c, console_direct);
            let (a, _) = connector::start(a, applet_direct);
            Ok((
                c,
                a,
                format!("{relay_where} first, then direct QUIC to {addr} when up"),
                Some(reports),
            ))
        }
        DemoPath::Quic => {
            let (applet_ep, console_ep, addr) = direct(applet_ep)?;
            let (c, a) = tokio::join!(
                console_ep.connect(console, afp, addr),
                applet_ep.accept(applet, cfp)
            );
            Ok((c?, a?, format!("direct QUIC to {addr}"), None))
        }
    }
}
