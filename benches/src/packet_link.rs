//! A packet-level emulated link between two network namespaces (Linux, root),
//! so that a benchmark's reference crosses the same link as our own traffic.
//!
//! netsim's proxies emulate a link for UDP datagrams and for TCP byte
//! streams, but a TCP proxy terminates TCP on loopback: the sender's TCP never
//! sees the link's loss or round trip, which makes "plain TCP over the same
//! link" an unbeatable reference on lossy or long paths. Here two namespaces
//! each get a TUN device; this process reads every IP packet one side's
//! kernel sends and writes it into the other side's TUN when netsim's
//! [`Shaper`] says so (loss, rate with a bounded queue, delay, in-order
//! jitter). TCP, QUIC and the relay's TCP then all see the same packets
//! dropped and delayed, and react end to end.
//!
//! Code that must open sockets on a side runs on that side's runtime
//! ([`PacketLink::a`], [`PacketLink::b`]), whose threads live in its namespace.

use std::fs::File;
use std::future::Future;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use secours_transport::netsim::{NetStats, Profile, Shaper, adjust};
use tokio::task::JoinHandle;
use tokio_tun::Tun;

/// Address of side A (the client: console, TCP sender).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
/// Address of side B (the server: applet, relay hub, TCP sink).
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
const MTU: i32 = 1500;

/// The congestion controller the kernel's TCP uses (the reference's).
pub fn tcp_congestion_control() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Why the packet link cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root (network namespaces and TUN devices need it)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    match std::process::Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("no `ip` command (iproute2)".into()),
    }
}

/// One side: a namespace and a runtime whose threads are inside it.
#[derive(Debug)]
pub struct NsSide {
    name: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl NsSide {
    fn new(name: String) -> Result<Self> {
        ip(&["netns", "add", &name])?;
        // From here on, dropping `side` deletes the namespace.
        let mut side = Self {
            name,
            runtime: None,
        };
        let path = format!("/var/run/netns/{}", side.name);
        let failed = Arc::new(AtomicBool::new(false));
        let (p, f) = (path.clone(), failed.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || {
                let entered = File::open(&p).map_err(|e| e.to_string()).and_then(|ns| {
                    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| e.to_string())
                });
                if entered.is_err() {
                    f.store(true, Ordering::SeqCst);
                }
            })
            .build()?;
        side.runtime = Some(runtime);
        // Check from inside: the worker's network namespace is this one.
        let want = std::fs::metadata(&path)?.ino();
        let (tx, rx) = std::sync::mpsc::channel();
        side.spawn(async move {
            let _ = tx.send(std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .context("the namespace's runtime did not answer")??;
        if failed.load(Ordering::SeqCst) || got != want {
            bail!("could not enter network namespace {}", side.name);
        }
        ip(&["-n", &side.name, "link", "set", "lo", "up"])?;
        Ok(side)
    }

    /// The namespace's name (`ip netns exec NAME ...` runs a program in it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `fut` on this side (its sockets are opened in this namespace).
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(rt) => rt.spawn(fut),
            // Only after drop: never reached by callers.
            None => tokio::spawn(fut),
        }
    }
}

impl Drop for NsSide {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Two namespaces joined by an emulated link.
#[derive(Debug)]
pub struct PacketLink {
    /// The client side ([`ADDR_A`]).
    pub a: NsSide,
    /// The server side ([`ADDR_B`]).
    pub b: NsSide,
    /// Packets forwarded, lost, dropped by the queue.
    pub stats: Arc<NetStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for PacketLink {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl PacketLink {
    /// Makes both namespaces and devices and starts forwarding through
    /// `profile` (`up` from A to B). Call from within a tokio runtime.
    pub fn start(profile: Profile, seed: u64) -> Result<Self> {
        if let Some(why) = unavailable() {
            bail!("packet link unavailable: {why}");
        }
        let profile = adjust(profile);
        let id = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let a = NsSide::new(format!("sbench-a-{id}"))?;
        let b = NsSide::new(format!("sbench-b-{id}"))?;
        let tun_a = make_tun(&format!("sba{id}"), &a.name, ADDR_A)?;
        let tun_b = make_tun(&format!("sbb{id}"), &b.name, ADDR_B)?;
        let stats = Arc::new(NetStats::default());
        let (tun_a, tun_b) = (Arc::new(tun_a), Arc::new(tun_b));
        let tasks = vec![
            tokio::spawn(forward(
                tun_a.clone(),
                tun_b.clone(),
                Shaper::new(profile.up, seed, true),
                stats.clone(),
            )),
            tokio::spawn(forward(
                tun_b,
                tun_a,
                Shaper::new(profile.down, seed ^ 0x5DEE_CE66, true),
                stats.clone(),
            )),
        ];
        Ok(Self { a, b, stats, tasks })
    }
}

fn make_tun(dev: &str, ns: &str, addr: Ipv4Addr) -> Result<Tun> {
    let tun = Tun::builder()
        .name(dev)
        .mtu(MTU)
        .build()
        .with_context(|| format!("TUN device {dev}"))?
        .pop()
        .context("no TUN queue")?;
    // The open file stays attached to the device as it moves.
    ip(&["link", "set", dev, "netns", ns])?;
    ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
    ip(&["-n", ns, "link", "set", dev, "up"])?;
    Ok(tun)
}

/// Reads packets from `from`, shapes them, writes them into `to` in order.
///
/// Packets are released by a thread of their own that sleeps with the
/// kernel's high-resolution timers: tokio's timer wakes on whole
/// milliseconds, which turned `lan`'s 0.5 ms one-way delay into 1 to 2 ms
/// with a millisecond of jitter (rate controllers read it as queue).
async fn forward(from: Arc<Tun>, to: Arc<Tun>, mut shaper: Shaper, stats: Arc<NetStats>) {
    let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>)>();
    let runtime = tokio::runtime::Handle::current();
    let st = stats.clone();
    let released = std::thread::Builder::new()
        .name("packet-release".into())
        .spawn(move || release(&rx, &to, &runtime, &st));
    if released.is_err() {
        return;
    }
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = from.recv(&mut buf).await {
        if let Some(at) = shaper.admit(n, &stats) {
            if tx.send((at.into_std(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    }
    // Dropping `tx` ends the release thread.
}

/// Writes each packet into `to` at its time, in order, until the channel
/// closes.
fn release(
    rx: &std::sync::mpsc::Receiver<(std::time::Instant, Vec<u8>)>,
    to: &Tun,
    runtime: &tokio::runtime::Handle,
    stats: &NetStats,
) {
    while let Ok((at, packet)) = rx.recv() {
        let now = std::time::Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        // A TUN write does not wait: the kernel takes the packet at once.
        if runtime.block_on(to.send(&packet)).is_ok() {
            stats.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
