//! `secours demo`: a whole support session in one process.
//!
//! A stand-in for the server pairs the two peers (session id, token, each
//! other's certificate fingerprint, the technician group's permissions), then a
//! console and an applet run the real protocol state machines on their own
//! threads over an in-memory duplex: handshake with fingerprints and the short
//! authentication string, consent, remote-control input, clipboard both ways,
//! a file each way with MD5 checked on both sides, chat, and the end of the
//! session. Later issues swap the duplex for the network and add video.

mod applet;
mod console;
mod duplex;
mod peer;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use md5::{Digest, Md5};
use secours_protocol::handshake::{DEFAULT_HANDSHAKE_TIMEOUT, Handshake, HandshakeConfig};
use secours_protocol::pb::{self, Permission, Role};
use secours_protocol::{Fingerprint, PermissionSet, Session, SessionConfig, SessionToken};

use applet::Applet;
use console::Console;
use peer::{FileDesk, channel_name};

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

/// The technician group of the demo: a usual help-desk group, with control
/// and file sending prompted, and no reboot.
fn group_permissions() -> PermissionSet {
    PermissionSet::new(
        [
            Permission::Chat,
            Permission::RemoteControl,
            Permission::DesktopView,
            Permission::SendFiles,
            Permission::ReceiveFiles,
            Permission::SendUrl,
            Permission::SystemInfo,
            Permission::Clipboard,
        ],
        [
            Permission::RemoteControl,
            Permission::SendFiles,
            Permission::SendUrl,
        ],
    )
}

fn capabilities() -> pb::Capabilities {
    pb::Capabilities {
        video_codecs: vec![pb::VideoCodec::Av1 as i32],
        max_width: 3840,
        max_height: 2160,
        clipboard_text: true,
        clipboard_image: true,
        file_transfer: true,
        file_manager: false,
        system_info: true,
        reboot: false,
        max_file_window: 1 << 20,
    }
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

    // What the server does: pair the peers. Each makes an ephemeral
    // certificate (random bytes stand in for rcgen until the transport lands)
    // and the server hands each the other's fingerprint and a shared token.
    let console_fp = Fingerprint::of_certificate(&random::<64>()?);
    let applet_fp = Fingerprint::of_certificate(&random::<64>()?);
    let token = SessionToken::from_bytes(random()?);
    let session_id = format!("demo-{}", hex::encode(random::<4>()?));
    let (mut console_link, mut applet_link) = duplex::pair(console_fp, applet_fp);
    let config = |role: Role,
                  local: Fingerprint,
                  link_peer: Fingerprint,
                  expected: Fingerprint|
     -> Result<SessionConfig> {
        Ok(SessionConfig::new(HandshakeConfig {
            role,
            local_fingerprint: local,
            expected_peer_fingerprint: expected,
            observed_peer_fingerprint: link_peer,
            session_id: session_id.clone(),
            session_token: token.clone(),
            nonce: random()?,
            capabilities: capabilities(),
            permissions: group_permissions(),
            software: format!("secours/{}", env!("CARGO_PKG_VERSION")),
            versions: Handshake::default_versions(),
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }))
    };
    let console_cfg = config(
        Role::Console,
        console_fp,
        console_link.peer_fingerprint,
        applet_fp,
    )?;
    let applet_cfg = config(
        Role::Applet,
        applet_fp,
        applet_link.peer_fingerprint,
        console_fp,
    )?;
    let limit = Duration::from_secs(args.timeout_s);

    println!("Secours demo: one support session in one process");
    println!("  session {session_id}; technician certificate {console_fp}");
    println!("  customer certificate {applet_fp}");
    println!("  working files under {}", root.0.display());
    let started = Instant::now();
    let applet_thread = {
        let desk = FileDesk::new(&applet_dir);
        let file = to_technician.clone();
        thread::Builder::new().name("applet".into()).spawn(
            move || -> Result<(Applet, [u64; 6])> {
                let mut script = Applet::new(desk, file);
                let span =
                    tracing::info_span!("applet", session = %applet_cfg.handshake.session_id);
                let _g = span.enter();
                let mut session = Session::new(applet_cfg, Instant::now());
                peer::run(&mut session, &mut applet_link, &mut script, limit)?;
                Ok((script, applet_link.bytes_out))
            },
        )?
    };
    let mut console = Console::new(FileDesk::new(&console_dir), to_customer.clone(), started);
    let console_result = {
        let span = tracing::info_span!("console", session = %console_cfg.handshake.session_id);
        let _g = span.enter();
        let mut session = Session::new(console_cfg, started);
        peer::run(&mut session, &mut console_link, &mut console, limit)
    };
    let console_bytes = console_link.bytes_out;
    drop(console_link);
    let applet_result = applet_thread
        .join()
        .map_err(|_| anyhow!("the applet thread panicked"))?;
    // The first failure is the cause; the other side only saw the link go.
    let (applet, applet_bytes) = match (console_result, applet_result) {
        (Err(e), _) => return Err(e.context("console")),
        (Ok(()), Err(e)) => return Err(e.context("applet")),
        (Ok(()), Ok(a)) => a,
    };
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
    println!("Link");
    for id in 0..6 {
        println!(
            "  {:<9} technician->customer {:>9} bytes, customer->technician {:>9} bytes",
            channel_name(id),
            console_bytes[id],
            applet_bytes[id]
        );
    }
    if let Some(rtt) = console.rtt_ms {
        println!("  round trip (ping): {rtt:.2} ms");
    }
    println!("End");
    println!(
        "  {:?} after {:.2} s; temporary files removed",
        applet.end.unwrap_or(pb::EndReason::Unspecified),
        elapsed.as_secs_f64()
    );
    if !files_ok || !applet.echo_suppressed || applet.inputs.len() != console.inputs_sent {
        bail!("the demo session did not check out (see above)");
    }
    println!("\nOK: every step checked out.");
    Ok(())
}
