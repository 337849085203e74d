//! A userspace link emulator for UDP (the kernel here has no netem): one-way
//! delay, jitter, random loss, a bandwidth limit with a bounded queue, and a
//! switch that cuts the link. Deterministic under a seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// One direction of an emulated link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Direction {
    /// Bits per second (0: unlimited).
    pub rate_bps: u64,
    /// One-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly in `0..jitter`.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Bytes the bottleneck queue holds before dropping.
    pub queue_bytes: usize,
}

/// A named link: `down` is towards the client (the side that connects).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Its name.
    pub name: &'static str,
    /// Server to client.
    pub down: Direction,
    /// Client to server.
    pub up: Direction,
}

const fn dir(mbps: u64, delay_ms: u64, jitter_ms: u64, loss: f64) -> Direction {
    // Queue: 50 ms at the link rate, at least 64 KiB.
    let q = (mbps * 1_000_000 / 8 / 20) as usize;
    Direction {
        rate_bps: mbps * 1_000_000,
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::from_millis(jitter_ms),
        loss,
        queue_bytes: if q < 65536 { 65536 } else { q },
    }
}

/// The profiles of the transport issue.
pub const PROFILES: [Profile; 5] = [
    Profile {
        name: "lan",
        down: dir(1000, 0, 0, 0.0),
        up: dir(1000, 0, 0, 0.0),
    },
    Profile {
        name: "broadband",
        down: dir(50, 20, 0, 0.001),
        up: dir(10, 20, 0, 0.001),
    },
    Profile {
        name: "4g",
        down: dir(20, 45, 10, 0.01),
        up: dir(5, 45, 10, 0.01),
    },
    Profile {
        name: "lossy-wifi",
        down: dir(30, 10, 0, 0.03),
        up: dir(30, 10, 0, 0.03),
    },
    Profile {
        name: "satellite",
        down: dir(20, 300, 0, 0.005),
        up: dir(20, 300, 0, 0.005),
    },
];

/// The profile with this name.
pub fn profile(name: &str) -> Option<Profile> {
    PROFILES.iter().copied().find(|p| p.name == name)
}

/// The `lan` profile's 0.5 ms delay does not fit the const table above.
pub fn adjust(mut p: Profile) -> Profile {
    if p.name == "lan" {
        p.down.delay = Duration::from_micros(500);
        p.up.delay = Duration::from_micros(500);
    }
    p
}

/// Counters of one proxy.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Packets forwarded.
    pub forwarded: AtomicU64,
    /// Packets lost at random.
    pub lost: AtomicU64,
    /// Packets dropped by a full queue.
    pub overflowed: AtomicU64,
    /// Packets dropped while cut.
    pub cut: AtomicU64,
}

/// A UDP proxy emulating a link between a client and `upstream`.
#[derive(Debug)]
pub struct UdpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    stats: Arc<NetStats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One direction's bottleneck, sans IO: random loss, a rate with a bounded
/// queue, delay and jitter. Each packet admitted gets the time it leaves.
#[derive(Debug)]
pub struct Shaper {
    dir: Direction,
    rng: StdRng,
    free_at: Instant,
    in_order: bool,
    last_release: Instant,
}

impl Shaper {
    /// A shaper for `dir`; `in_order` keeps jitter from reordering packets.
    pub fn new(dir: Direction, seed: u64, in_order: bool) -> Self {
        let now = Instant::now();
        Self {
            dir,
            rng: StdRng::seed_from_u64(seed),
            free_at: now,
            in_order,
            last_release: now,
        }
    }

    /// When this packet leaves, or `None` if it is dropped.
    pub fn admit(&mut self, len: usize, stats: &NetStats) -> Option<Instant> {
        let now = Instant::now();
        if self.dir.loss > 0.0 && self.rng.random::<f64>() < self.dir.loss {
            stats.lost.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let start = self.free_at.max(now);
        // Bytes still queued at the bottleneck when this one arrives.
        let backlog = if self.dir.rate_bps == 0 {
            0
        } else {
            (start.duration_since(now).as_secs_f64() * self.dir.rate_bps as f64 / 8.0) as usize
        };
        if backlog + len > self.dir.queue_bytes {
            stats.overflowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let serialize = if self.dir.rate_bps == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(len as f64 * 8.0 / self.dir.rate_bps as f64)
        };
        self.free_at = start + serialize;
        let jitter = if self.dir.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.dir.jitter.mul_f64(self.rng.random::<f64>())
        };
        let mut at = self.free_at + self.dir.delay + jitter;
        if self.in_order {
            at = at.max(self.last_release);
            self.last_release = at;
        }
        Some(at)
    }
}

type Heap = BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>;

impl UdpProxy {
    /// Starts a proxy on loopback forwarding to `upstream` through `profile`.
    pub async fn start(upstream: SocketAddr, profile: Profile, seed: u64) -> std::io::Result<Self> {
        let profile = adjust(profile);
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(NetStats::default());
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let mut tasks = Vec::new();
        // client -> upstream
        let (up_tx, up_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
        let (down_tx, down_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
        {
            let (front, cut, stats, client) =
                (front.clone(), cut.clone(), stats.clone(), client.clone());
            let mut sched = Shaper::new(profile.up, seed, false);
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    // The client's address may change (rebinding): follow it.
                    *client.lock().await = Some(from);
                    if cut.load(Ordering::Relaxed) {
                        stats.cut.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(at) = sched.admit(n, &stats) {
                        let _ = up_tx.send((at, buf[..n].to_vec()));
                    }
                }
            }));
        }
        {
            let (back, cut, stats) = (back.clone(), cut.clone(), stats.clone());
            let mut sched = Shaper::new(profile.down, seed ^ 0x9E37_79B9_7F4A_7C15, false);
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok((n, _)) = back.recv_from(&mut buf).await {
                    if cut.load(Ordering::Relaxed) {
                        stats.cut.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(at) = sched.admit(n, &stats) {
                        let _ = down_tx.send((at, buf[..n].to_vec()));
                    }
                }
            }));
        }
        let up_stats = stats.clone();
        let up_back = back.clone();
        tasks.push(tokio::spawn(release(up_rx, move |p| {
            let (s, st) = (up_back.clone(), up_stats.clone());
            async move {
                if s.send_to(&p, upstream).await.is_ok() {
                    st.forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        })));
        let down_stats = stats.clone();
        tasks.push(tokio::spawn(release(down_rx, move |p| {
            let (s, st, client) = (front.clone(), down_stats.clone(), client.clone());
            async move {
                let to = *client.lock().await;
                if let Some(to) = to {
                    if s.send_to(&p, to).await.is_ok() {
                        st.forwarded.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })));
        Ok(Self {
            addr,
            cut,
            stats,
            tasks,
        })
    }

    /// Where the client sends.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts (or restores) the link both ways.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Relaxed);
    }

    /// Counters.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }
}

/// Sends packets when their time comes (jitter may reorder them, as real
/// links do).
async fn release<F, Fut>(mut rx: tokio::sync::mpsc::UnboundedReceiver<(Instant, Vec<u8>)>, send: F)
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut heap: Heap = BinaryHeap::new();
    let mut n = 0u64;
    loop {
        let next = heap.peek().map(|Reverse((t, _, _))| *t);
        tokio::select! {
            got = rx.recv() => match got {
                Some((at, p)) => {
                    n += 1;
                    heap.push(Reverse((at, n, p)));
                }
                None => return,
            },
            () = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = Instant::now();
                while heap.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
                    if let Some(Reverse((_, _, p))) = heap.pop() {
                        send(p).await;
                    }
                }
            }
        }
    }
}

/// A TCP proxy emulating the same link for byte streams: delay, jitter
/// (without reordering, as TCP delivers in order) and the bandwidth limit
/// with a bounded queue (the proxy stops reading when it is full, which is
/// what the sender's TCP sees as a bottleneck). Random loss is not emulated
/// here: a userspace proxy terminates TCP, so a lost segment cannot be
/// retransmitted by the real sender; the loss of TCP paths comes from
/// nftables in the NAT lab.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TcpProxy {
    /// Starts a proxy on loopback forwarding every connection to `upstream`.
    pub async fn start(upstream: SocketAddr, profile: Profile, seed: u64) -> std::io::Result<Self> {
        let profile = adjust(profile);
        // A small receive buffer, so the emulated bottleneck queue (not a
        // multi-megabyte kernel buffer) is where data waits, as at a router.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(64 * 1024)?;
        socket.bind("127.0.0.1:0".parse().map_err(std::io::Error::other)?)?;
        let listener = socket.listen(128)?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, profile.up, seed ^ n));
                tokio::spawn(pipe(sr, cw, profile.down, seed ^ n ^ 0xABCD));
            }
        });
        Ok(Self { addr, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    dir: Direction,
    seed: u64,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut free_at = Instant::now();
    let mut last_release = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Backpressure: do not read while the bottleneck queue is full.
        let now = Instant::now();
        if dir.rate_bps > 0 {
            let backlog =
                free_at.saturating_duration_since(now).as_secs_f64() * dir.rate_bps as f64 / 8.0;
            if backlog as usize > dir.queue_bytes {
                let wait = Duration::from_secs_f64(
                    (backlog - dir.queue_bytes as f64) * 8.0 / dir.rate_bps as f64,
                );
                tokio::time::sleep(wait).await;
                continue;
            }
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = Instant::now();
        let start = free_at.max(now);
        free_at = if dir.rate_bps == 0 {
            start
        } else {
            start + Duration::from_secs_f64(n as f64 * 8.0 / dir.rate_bps as f64)
        };
        let jitter = if dir.jitter.is_zero() {
            Duration::ZERO
        } else {
            dir.jitter.mul_f64(rng.random::<f64>())
        };
        // In order: never release before the previous chunk.
        let at = (free_at + dir.delay + jitter).max(last_release);
        last_release = at;
        if tx.send((at, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
