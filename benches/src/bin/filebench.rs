//! `filebench`: a whole file through two real sessions (the protocol's
//! transfer, the session driver, the file desk reading and writing real
//! files), both directions, over the direct path (QUIC) and the relay
//! (WebSocket), on loopback and through netsim's profiles; beside a plain
//! TCP copy of the same bytes over the same loopback or the same emulated
//! link, measured in the same run. Figures, never a verdict: it does not
//! fail on timing.
//!
//! `cargo run --release -p secours-benches --bin filebench`
//! `cargo run --release -p secours-benches --bin filebench -- --profile loopback --mib 64`
//!
//! On loopback it also prints what one core does here, in the same run, of
//! the work every byte gets besides the copies: MD5 (the sender's and the
//! receiver's) and AES-256-GCM (sealed once, opened once): the ceiling a
//! userspace transfer meets long before a kernel TCP copy's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use secours_peer::setup::{Pairing, capabilities, session_config};
use secours_peer::{App, AppError, Driver, FileDesk};
use secours_protocol::consent::Decision;
use secours_protocol::pb::{EndReason, Permission, Role};
use secours_protocol::session::Event;
use secours_protocol::{Fingerprint, PermissionSet, Session, SessionToken};
use secours_transport::identity::LocalIdentity;
use secours_transport::netsim::{self, Profile, TcpProxy, UdpProxy};
use secours_transport::quic::QuicEndpoint;
use secours_transport::relay::{self, HubConfig, RelayHub, Side};
use secours_transport::{Link, PathInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Parser)]
struct Args {
    /// `loopback`, a netsim profile (lan, broadband, 4g, lossy-wifi,
    /// satellite) or `all`.
    #[arg(long, default_value = "all")]
    profile: String,
    /// `quic`, `relay` or `both`.
    #[arg(long, default_value = "both")]
    path: String,
    /// File size on loopback, MiB.
    #[arg(long, default_value_t = 64)]
    mib: u64,
    /// Through a profile the file is this many seconds of the slower
    /// direction's rate (at least 1 MiB, at most `--mib`).
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// The receiver's window, KiB (default: the protocol's).
    #[arg(long)]
    window_kib: Option<u64>,
}

/// The link's emulation: none, or a netsim profile.
#[derive(Debug, Clone, Copy)]
struct Net {
    name: &'static str,
    profile: Option<Profile>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let loopback = Net {
        name: "loopback",
        profile: None,
    };
    let nets: Vec<Net> = match args.profile.as_str() {
        "all" => std::iter::once(loopback)
            .chain(netsim::PROFILES.iter().map(|p| Net {
                name: p.name,
                profile: Some(netsim::adjust(*p)),
            }))
            .collect(),
        "loopback" => vec![loopback],
        name => {
            let p = netsim::profile(name).with_context(|| format!("no profile {name}"))?;
            vec![Net {
                name: p.name,
                profile: Some(netsim::adjust(p)),
            }]
        }
    };
    let paths: &[&str] = match args.path.as_str() {
        "both" => &["quic", "relay"],
        "quic" => &["quic"],
        "relay" => &["relay"],
        other => bail!("no path {other}: quic, relay or both"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    println!(
        "{:<11} {:<6} {:<17} {:>8} {:>10} {:>10} {:>6}",
        "profile", "path", "direction", "MiB", "MiB/s", "TCP MiB/s", "ratio"
    );
    if nets.iter().any(|n| n.profile.is_none()) {
        components();
    }
    for net in nets {
        // Both ways in one session, as a support session goes: the
        // technician's file first, then the customer's reply (whose side
        // has carried only credit so far).
        let to_applet = file_size(net, false, &args);
        let to_console = file_size(net, true, &args);
        let sources =
            [to_applet, to_console].map(|bytes| dir.path().join(format!("source-{bytes}")));
        for (bytes, source) in [to_applet, to_console].iter().zip(&sources) {
            if !source.exists() {
                write_file(source, *bytes)?;
            }
        }
        let tcp = [
            runtime.block_on(tcp_copy(net, to_applet, false))?,
            runtime.block_on(tcp_copy(net, to_console, true))?,
        ];
        for path in paths {
            let r = runtime.block_on(transfer(net, path, &sources, dir.path(), args.window_kib));
            let secs = match r {
                Ok(secs) => secs,
                Err(e) => {
                    println!("{:<11} {:<6} failed: {e:#}", net.name, path);
                    continue;
                }
            };
            for (i, direction) in ["console-to-applet", "applet-to-console"]
                .iter()
                .enumerate()
            {
                let bytes = [to_applet, to_console][i] as f64;
                let ours = bytes / secs[i] / MIB;
                let tcp_mibs = bytes / tcp[i] / MIB;
                println!(
                    "{:<11} {:<6} {:<17} {:>8.1} {:>10.2} {:>10.2} {:>6.3}",
                    net.name,
                    path,
                    direction,
                    bytes / MIB,
                    ours,
                    tcp_mibs,
                    ours / tcp_mibs
                );
            }
        }
    }
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// MiB/s of one core here: MD5 over a file-sized buffer, AES-256-GCM over
/// 16 KiB records (TLS's largest), and a memory copy.
fn components() {
    use md5::Digest;
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let len = 64usize << 20;
    let data = vec![0x5Au8; len];
    let rate = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        len as f64 / MIB / t.elapsed().as_secs_f64()
    };
    let mut digest = [0u8; 16];
    let md5 = rate(&mut || digest = md5::Md5::digest(&data).into());
    let key = UnboundKey::new(&AES_256_GCM, &[7u8; 32])
        .map(LessSafeKey::new)
        .ok();
    let mut record = vec![0u8; 16 * 1024];
    let aes = rate(&mut || {
        let Some(key) = &key else { return };
        for (i, chunk) in data.chunks(record.len()).enumerate() {
            record[..chunk.len()].copy_from_slice(chunk);
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
            let _ = key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut record[..chunk.len()],
            );
        }
    });
    let mut copy = vec![0u8; len];
    let memcpy = rate(&mut || copy.copy_from_slice(&data));
    std::hint::black_box((&digest, &record, &copy));
    println!(
        "one core here: MD5 {md5:.0} MiB/s, AES-256-GCM {aes:.0} MiB/s, memcpy {memcpy:.0} MiB/s; \
         a file byte gets MD5 twice and AES-GCM twice (seal, open): {:.0} MiB/s of one core's work",
        1.0 / (2.0 / md5 + 2.0 / aes)
    );
}

/// The file's size: `--mib` on loopback, `--seconds` of the direction's
/// rate through a profile.
fn file_size(net: Net, reverse: bool, args: &Args) -> u64 {
    let max = args.mib * (1 << 20);
    let Some(p) = net.profile else {
        return max;
    };
    // The console connects: `down` carries what goes to it.
    let d = if reverse { p.down } else { p.up };
    (d.rate_bps / 8 * args.seconds).clamp(1 << 20, max)
}

fn write_file(path: &Path, len: u64) -> Result<()> {
    let mut data = vec![0u8; len as usize];
    let mut x: u32 = 0x2545_F491;
    for b in &mut data {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(path, data)?;
    Ok(())
}

/// Seconds for a plain TCP copy of `bytes`, from the first write to the
/// last byte read, through the same emulation (netsim's TCP proxy: it
/// sees the rate, delay and queue, not the loss).
async fn tcp_copy(net: Net, bytes: u64, reverse: bool) -> Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream = listener.local_addr()?;
    let proxy = match net.profile {
        Some(p) => Some(TcpProxy::start(upstream, p, 7).await?),
        None => None,
    };
    let to = proxy.as_ref().map_or(upstream, |p| p.addr());
    // The console connects through the emulation (as in `transfer`); the
    // file goes from whichever side sends.
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await?;
        copy_end(s, bytes, reverse).await
    });
    let client = tokio::net::TcpStream::connect(to).await?;
    let at_client = copy_end(client, bytes, !reverse).await?;
    let at_server = server.await??;
    Ok(at_client.max(at_server))
}

/// One end of the TCP copy: writes `bytes` (then waits for the reader's
/// one-byte receipt) or reads them and answers; returns the seconds taken.
async fn copy_end(mut s: tokio::net::TcpStream, bytes: u64, send: bool) -> Result<f64> {
    s.set_nodelay(true)?;
    let mut buf = vec![0x5Au8; 256 * 1024];
    let t = Instant::now();
    if send {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            s.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        let mut receipt = [0u8; 1];
        s.read_exact(&mut receipt).await?;
        Ok(t.elapsed().as_secs_f64())
    } else {
        let mut got = 0u64;
        while got < bytes {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                bail!("the TCP copy ended early");
            }
            got += n as u64;
        }
        s.write_all(&[1]).await?;
        Ok(0.0)
    }
}

type Guards = Vec<Box<dyn std::any::Any + Send>>;

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The console's and the applet's links on `path` through `net`.
async fn links(net: Net, path: &str) -> Result<(Link, Link, Guards)> {
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    if path == "quic" {
        let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse()?)?;
        let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse()?)?;
        let mut guards: Guards = vec![];
        let mut via: SocketAddr = applet_ep.local_addr()?;
        if let Some(p) = net.profile {
            let proxy = UdpProxy::start(via, p, 11).await?;
            via = proxy.addr();
            guards.push(Box::new(proxy));
        }
        let (cl, al) = tokio::join!(console_ep.connect(&c, afp, via), applet_ep.accept(&a, cfp));
        guards.push(Box::new(console_ep));
        guards.push(Box::new(applet_ep));
        return Ok((cl?, al?, guards));
    }
    let hub = RelayHub::new(HubConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hub_addr = listener.local_addr()?;
    let mut guards: Guards = vec![Box::new(AbortOnDrop(tokio::spawn(
        hub.clone().serve(listener),
    )))];
    let mut via = hub_addr;
    if let Some(p) = net.profile {
        let proxy = TcpProxy::start(hub_addr, p, 13).await?;
        via = proxy.addr();
        guards.push(Box::new(proxy));
    }
    let token = hub.issue();
    let (via, direct) = (format!("ws://{via}"), format!("ws://{hub_addr}"));
    let (cl, al) = tokio::join!(
        relay::connect(&via, &token, Side::Console, &c, afp),
        relay::connect(&direct, &token, Side::Applet, &a, cfp),
    );
    Ok((cl?, al?, guards))
}

const CONSOLE_FP: [u8; 32] = [0xC0; 32];
const APPLET_FP: [u8; 32] = [0xA9; 32];

fn session(role: Role, window: Option<u64>) -> Result<Session> {
    let (local, peer) = match role {
        Role::Console => (CONSOLE_FP, APPLET_FP),
        _ => (APPLET_FP, CONSOLE_FP),
    };
    let fp = |b: &[u8; 32]| Fingerprint::from_slice(b).context("fingerprint");
    let pairing = Pairing {
        role,
        session_id: "filebench".into(),
        local: fp(&local)?,
        expected_peer: fp(&peer)?,
        observed_peer: fp(&peer)?,
        token: SessionToken::from_bytes([7; 32]),
    };
    let perms = PermissionSet::new([Permission::SendFiles, Permission::ReceiveFiles], []);
    let mut config = session_config(&pairing, perms, capabilities(false, false))?;
    if let Some(kib) = window {
        config.file_window = kib * 1024;
    }
    Ok(Session::new(config, Instant::now()))
}

/// One side: the console offers its file once established, the applet
/// its own once the console's arrived; the console ends the session when
/// both verdicts are in.
struct Peer {
    desk: FileDesk,
    send: Option<PathBuf>,
    ended: bool,
}

impl Peer {
    fn offer(&mut self, s: &mut Session, now: Instant) -> Result<(), AppError> {
        if let Some(path) = self.send.take() {
            if s.role() == Role::Console
                && !matches!(
                    s.request(Permission::SendFiles, "", now)?,
                    Decision::Allowed
                )
            {
                return Err("no consent".into());
            }
            self.desk.offer(s, &path, now)?;
        }
        Ok(())
    }
}

impl App for Peer {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        match event {
            Event::Established(_) if s.role() == Role::Console => self.offer(s, now)?,
            Event::Transfer(t) => {
                self.desk.on_event(s, &t, now)?;
                if self.desk.sent.iter().any(|d| !d.verified)
                    || self.desk.received.iter().any(|(d, _)| !d.verified)
                {
                    return Err("MD5 mismatch".into());
                }
                if s.role() == Role::Applet && !self.desk.received.is_empty() {
                    self.offer(s, now)?;
                }
                if s.role() == Role::Console
                    && !self.ended
                    && !self.desk.sent.is_empty()
                    && !self.desk.received.is_empty()
                {
                    self.ended = true;
                    s.close(EndReason::ByTechnician, "done", now);
                }
            }
            Event::Closed { error: Some(e), .. } => return Err(e.to_string().into()),
            _ => {}
        }
        Ok(())
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        self.desk.pump(s, now)?;
        Ok(None)
    }
}

/// Seconds from each offer to the receiver's verdict: the console's file,
/// then the applet's.
async fn transfer(
    net: Net,
    path: &str,
    sources: &[PathBuf; 2],
    dir: &Path,
    window: Option<u64>,
) -> Result<[f64; 2]> {
    let (mut cl, mut al, guards) = links(net, path).await?;
    let (cdir, adir) = (dir.join("console"), dir.join("applet"));
    std::fs::create_dir_all(&cdir)?;
    std::fs::create_dir_all(&adir)?;
    let mut console = Peer {
        desk: FileDesk::new(&cdir),
        send: Some(sources[0].clone()),
        ended: false,
    };
    let mut applet = Peer {
        desk: FileDesk::new(&adir),
        send: Some(sources[1].clone()),
        ended: false,
    };
    let (mut cs, mut as_) = (
        session(Role::Console, window)?,
        session(Role::Applet, window)?,
    );
    let limit = Duration::from_secs(300);
    let (dc, da) = (
        Driver::new().with_limit(limit),
        Driver::new().with_limit(limit),
    );
    let (rc, ra): (Result<PathInfo, _>, Result<PathInfo, _>) = tokio::join!(
        dc.run(&mut cs, &mut cl, &mut console),
        da.run(&mut as_, &mut al, &mut applet),
    );
    drop(guards);
    let _ = std::fs::remove_dir_all(&cdir);
    let _ = std::fs::remove_dir_all(&adir);
    let end = rc.context("console")?;
    ra.context("applet")?;
    tracing::debug!(
        ?end,
        console_sent = console.desk.sent.len(),
        console_received = console.desk.received.len(),
        applet_sent = applet.desk.sent.len(),
        applet_received = applet.desk.received.len(),
        "session over"
    );
    let sent = console
        .desk
        .sent
        .first()
        .context("the console's file did not finish")?;
    // The console's clock for the reply: its verdict may not reach the
    // applet before the end does (another stream).
    let back = &console
        .desk
        .received
        .first()
        .context("the applet's file did not finish")?
        .0;
    Ok([sent.seconds, back.seconds])
}
