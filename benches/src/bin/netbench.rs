//! `netbench`: file goodput and input delay over an emulated link, for the
//! direct (QUIC), WebRTC, TURN (QUIC through coturn) and relay paths, each beside its references measured in the
//! same run over the same emulated link: a plain TCP bulk copy for goodput and
//! the link's own round-trip time for delay.
//!
//! As root the link is emulated per packet between two network namespaces
//! (`secours_benches::packet_link`), so the TCP reference loses, queues and
//! waits exactly as our paths do; otherwise netsim's proxies stand in (their
//! TCP reference sees neither loss nor the round trip).
//!
//! `cargo run --release -p secours-benches --bin netbench -- --profile 4g --path quic --seconds 5`
//! `cargo run --release -p secours-benches --bin netbench -- --all`
//! `cargo run --release -p secours-benches --bin netbench -- --all --reverse --runs 3 --seconds 10`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use secours_benches::packet_link::{self, ADDR_A, ADDR_B, PacketLink};
use secours_protocol::pb;
use secours_protocol::signaling::SignalPayload;
use secours_protocol::wire::{self, Channel, Decoded, FrameReader, Message};
use secours_transport::identity::LocalIdentity;
use secours_transport::netsim::{self, Profile, TcpProxy, UdpProxy};
use secours_transport::quic::{Congestion, QuicEndpoint};
use secours_transport::relay::{self, HubConfig, RelayHub, Side};
use secours_transport::webrtc::{self, Attempt, Role, Signals};
use secours_transport::{Link, LinkEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Parser)]
struct Args {
    /// lan, broadband, 4g, lossy-wifi or satellite.
    #[arg(long, default_value = "broadband")]
    profile: String,
    /// quic, webrtc or turn (QUIC through coturn; both with the packet
    /// emulator only), or relay.
    #[arg(long, default_value = "quic")]
    path: String,
    /// Seconds per measurement (the TCP reference's, then ours).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Measurements of each profile and path, each with its own TCP
    /// reference; the table gives their median and spread (lowest to
    /// highest), so that a change is judged beyond one run's noise.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Where the relay hub stands: `b` (beside the applet: the console's
    /// leg crosses the link) or `a` (beside the console: the applet's leg
    /// does). Packet emulator only.
    #[arg(long, default_value = "b")]
    hub_side: String,
    /// Every profile on every path (WebRTC with the packet emulator).
    #[arg(long)]
    all: bool,
    /// QUIC congestion controller: delivery (the product's default), bbr or
    /// cubic.
    #[arg(long, default_value = "delivery")]
    cc: String,
    /// How the link is emulated: `packet` (TUN devices between two network
    /// namespaces: TCP, QUIC and the relay all lose and queue the same
    /// packets; root), `proxy` (netsim's UDP and TCP proxies: the TCP
    /// reference then sees neither loss nor the round trip), or `auto`
    /// (packet when possible).
    #[arg(long, default_value = "auto")]
    emulator: String,
    /// The file and the small messages go from the applet to the console
    /// (the profile's down direction: a customer's upload, video's way),
    /// and so does the TCP reference. Packet emulator only.
    #[arg(long)]
    reverse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emulator {
    Packet,
    Proxy,
}

impl Emulator {
    fn name(self) -> &'static str {
        match self {
            Emulator::Packet => "packet",
            Emulator::Proxy => "proxy",
        }
    }
}

#[derive(Debug)]
struct Row {
    emulator: Emulator,
    profile: &'static str,
    path: &'static str,
    direction: &'static str,
    goodput_mbps: f64,
    tcp_mbps: f64,
    p50_ms: f64,
    p99_ms: f64,
    rtt_ms: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // RUST_LOG=netbench=debug prints every input's delay,
    // secours_transport::file_rate=debug the file rate's rounds.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let runs: Vec<(Profile, &'static str)> = if args.all {
        netsim::PROFILES
            .iter()
            .flat_map(|p| [(*p, "quic"), (*p, "webrtc"), (*p, "turn"), (*p, "relay")])
            .filter(|(_, path)| {
                !matches!(*path, "webrtc" | "turn") || packet_link::unavailable().is_none()
            })
            .collect()
    } else {
        let p = netsim::profile(&args.profile)
            .with_context(|| format!("no profile {}", args.profile))?;
        let path = match args.path.as_str() {
            "quic" => "quic",
            "relay" => "relay",
            "webrtc" => "webrtc",
            "turn" => "turn",
            other => bail!("no path {other}: quic, webrtc, turn or relay"),
        };
        vec![(p, path)]
    };
    let seconds = Duration::from_secs(args.seconds);
    let cc = match args.cc.as_str() {
        "cubic" => Congestion::Cubic,
        "bbr" => Congestion::Bbr,
        "delivery" => Congestion::Delivery,
        other => bail!("no congestion controller {other}: cubic, bbr or delivery"),
    };
    let unavailable = packet_link::unavailable();
    let emulator = match (args.emulator.as_str(), &unavailable) {
        ("packet", Some(why)) => bail!("the packet emulator cannot run: {why}"),
        ("packet", None) | ("auto", None) => Emulator::Packet,
        ("proxy", _) => Emulator::Proxy,
        ("auto", Some(why)) => {
            eprintln!(
                "netbench: packet emulator unavailable ({why}); using the proxies, whose TCP reference sees neither loss nor the round trip"
            );
            Emulator::Proxy
        }
        (other, _) => bail!("no emulator {other}: packet, proxy or auto"),
    };
    if args.path == "webrtc" && emulator != Emulator::Packet {
        bail!("--path webrtc needs the packet emulator (ICE would go around the proxies)");
    }
    if args.path == "turn" && emulator != Emulator::Packet {
        bail!("--path turn needs the packet emulator (coturn runs in its namespace)");
    }
    if args.reverse && emulator != Emulator::Packet {
        bail!("--reverse needs the packet emulator");
    }
    let hub_side = match args.hub_side.as_str() {
        "a" => HubSide::A,
        "b" => HubSide::B,
        other => bail!("no hub side {other}: a or b"),
    };
    if hub_side == HubSide::A && emulator != Emulator::Packet {
        bail!("--hub-side a needs the packet emulator");
    }
    let tcp_cc = packet_link::tcp_congestion_control();
    let mut groups: Vec<Vec<Row>> = Vec::new();
    for (profile, path) in runs {
        let mut group = Vec::new();
        for _ in 0..args.runs.max(1) {
            let row = runtime.block_on(run(
                emulator,
                profile,
                path,
                seconds,
                cc,
                args.reverse,
                hub_side,
            ))?;
            println!(
                "emulator={} cc={} tcp_cc={} hub_side={} profile={} path={} direction={} goodput_mbps={:.2} tcp_mbps={:.2} goodput_ratio={:.3} input_p50_ms={:.2} input_p99_ms={:.2} rtt_ms={:.2}",
                row.emulator.name(),
                args.cc,
                tcp_cc,
                args.hub_side,
                row.profile,
                row.path,
                row.direction,
                row.goodput_mbps,
                row.tcp_mbps,
                row.ratio(),
                row.p50_ms,
                row.p99_ms,
                row.rtt_ms
            );
            group.push(row);
        }
        groups.push(group);
    }
    println!();
    println!(
        "link emulated by: {}; TCP reference: the kernel's {}; QUIC: {}; relay hub on side {}; {} run(s) each: median [lowest-highest]",
        emulator.name(),
        tcp_cc,
        args.cc,
        args.hub_side,
        args.runs.max(1)
    );
    println!(
        "{:<11} {:<6} {:<17} {:>10} {:>10} {:>19} {:>9} {:>19} {:>8}",
        "profile", "path", "direction", "goodput", "TCP ref", "ratio", "input50", "input99", "RTT"
    );
    for g in &groups {
        let Some(first) = g.first() else { continue };
        let ratio = Spread::of(g.iter().map(Row::ratio));
        let p99 = Spread::of(g.iter().map(|r| r.p99_ms));
        println!(
            "{:<11} {:<6} {:<17} {:>7.2} Mb {:>7.2} Mb {:>6.3} [{:.3}-{:.3}] {:>6.1} ms {:>6.1} [{:.0}-{:.0}] ms {:>5.1} ms",
            first.profile,
            first.path,
            first.direction,
            Spread::of(g.iter().map(|r| r.goodput_mbps)).median,
            Spread::of(g.iter().map(|r| r.tcp_mbps)).median,
            ratio.median,
            ratio.low,
            ratio.high,
            Spread::of(g.iter().map(|r| r.p50_ms)).median,
            p99.median,
            p99.low,
            p99.high,
            Spread::of(g.iter().map(|r| r.rtt_ms)).median,
        );
    }
    Ok(())
}

/// Where the relay hub stands on the packet link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HubSide {
    /// Beside the console: the applet's leg crosses the link.
    A,
    /// Beside the applet: the console's leg crosses the link.
    B,
}

/// Median and range of a few measurements.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    low: f64,
    high: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        let median = match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Self {
            median,
            low: v.first().copied().unwrap_or(f64::NAN),
            high: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

impl Row {
    fn ratio(&self) -> f64 {
        self.goodput_mbps / self.tcp_mbps.max(1e-9)
    }
}

async fn run(
    emulator: Emulator,
    profile: Profile,
    path: &'static str,
    seconds: Duration,
    cc: Congestion,
    reverse: bool,
    hub_side: HubSide,
) -> Result<Row> {
    let (tcp_mbps, rtt_ms, (console, applet, guards)) = match emulator {
        Emulator::Proxy => {
            let (tcp_mbps, rtt_ms) = tcp_reference(profile, seconds).await?;
            let pair = match path {
                "quic" => quic_pair(profile, cc).await?,
                _ => relay_pair(profile).await?,
            };
            (tcp_mbps, rtt_ms, pair)
        }
        Emulator::Packet => {
            let link = PacketLink::start(profile, 7)?;
            let (tcp_mbps, rtt_ms) = tcp_reference_packet(&link, seconds, reverse).await?;
            let (console, applet, mut guards) = match path {
                "quic" => quic_pair_packet(&link, cc).await?,
                "webrtc" => webrtc_pair_packet(&link).await?,
                "turn" => secours_benches::turn_pair::turn_pair_packet(&link).await?,
                _ => relay_pair_packet(&link, hub_side).await?,
            };
            // Dropped last: the links' tasks run on its namespaces' runtimes.
            guards.push(Box::new(link));
            (tcp_mbps, rtt_ms, (console, applet, guards))
        }
    };
    let (goodput_mbps, p50_ms, p99_ms) = if reverse {
        measure(applet, console, seconds).await?
    } else {
        measure(console, applet, seconds).await?
    };
    drop(guards);
    Ok(Row {
        emulator,
        profile: profile.name,
        path,
        direction: if reverse {
            "applet-to-console"
        } else {
            "console-to-applet"
        },
        goodput_mbps,
        tcp_mbps,
        p50_ms,
        p99_ms,
        rtt_ms,
    })
}

/// Plain TCP through the same emulated link: bulk goodput, then the RTT of
/// small ping-pongs on an idle connection.
async fn tcp_reference(profile: Profile, seconds: Duration) -> Result<(f64, f64)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream = listener.local_addr()?;
    let proxy = TcpProxy::start(upstream, profile, 7).await?;
    let sink = tokio::spawn(tcp_sink(listener));
    let rtts = tcp_source(proxy.addr(), seconds).await?;
    let (total, secs) = sink.await??;
    Ok(tcp_figures(total, secs, rtts))
}

/// The same over the packet link: the sink in namespace B, the sender in A
/// (the other way round when `reverse`).
async fn tcp_reference_packet(
    link: &PacketLink,
    seconds: Duration,
    reverse: bool,
) -> Result<(f64, f64)> {
    let (from, to, to_addr) = if reverse {
        (&link.b, &link.a, ADDR_A)
    } else {
        (&link.a, &link.b, ADDR_B)
    };
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let sink = to.spawn(async move {
        let listener = tokio::net::TcpListener::bind((to_addr, 0)).await?;
        let _ = addr_tx.send(listener.local_addr()?);
        tcp_sink(listener).await
    });
    let to = addr_rx.await.context("the TCP sink did not start")?;
    let rtts = from.spawn(tcp_source(to, seconds)).await??;
    let (total, secs) = sink.await??;
    Ok(tcp_figures(total, secs, rtts))
}

fn tcp_figures(total: u64, secs: f64, mut rtts: Vec<f64>) -> (f64, f64) {
    rtts.sort_by(f64::total_cmp);
    let rtt = rtts.get(rtts.len() / 2).copied().unwrap_or(f64::NAN);
    (total as f64 * 8.0 / secs / 1e6, rtt)
}

/// Counts the first connection's bytes, then echoes 8-byte probes on the
/// second.
async fn tcp_sink(listener: tokio::net::TcpListener) -> std::io::Result<(u64, f64)> {
    let (mut s, _) = listener.accept().await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut first: Option<Instant> = None;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    let secs = first.map_or(1.0, |f| f.elapsed().as_secs_f64());
    let (mut e, _) = listener.accept().await?;
    let mut b = [0u8; 8];
    while e.read_exact(&mut b).await.is_ok() {
        e.write_all(&b).await?;
    }
    Ok((total, secs))
}

/// Writes as fast as TCP takes it for `seconds`, then measures 10 RTTs.
async fn tcp_source(to: SocketAddr, seconds: Duration) -> std::io::Result<Vec<f64>> {
    let mut c = tokio::net::TcpStream::connect(to).await?;
    c.set_nodelay(true)?;
    let block = vec![0x5Au8; 64 * 1024];
    let end = Instant::now() + seconds;
    while Instant::now() < end {
        c.write_all(&block).await?;
    }
    c.shutdown().await?;
    drop(c);
    let mut e = tokio::net::TcpStream::connect(to).await?;
    e.set_nodelay(true)?;
    let mut rtts = Vec::new();
    for i in 0..10u64 {
        let t = Instant::now();
        e.write_all(&i.to_be_bytes()).await?;
        let mut b = [0u8; 8];
        e.read_exact(&mut b).await?;
        rtts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(rtts)
}

type Guards = Vec<Box<dyn std::any::Any + Send>>;

async fn quic_pair(profile: Profile, cc: Congestion) -> Result<(Link, Link, Guards)> {
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse()?)?.with_congestion(cc);
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse()?)?.with_congestion(cc);
    let proxy = UdpProxy::start(applet_ep.local_addr()?, profile, 11).await?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let via: SocketAddr = proxy.addr();
    let (cl, al) = tokio::join!(console_ep.connect(&c, afp, via), applet_ep.accept(&a, cfp));
    Ok((
        cl?,
        al?,
        vec![Box::new(proxy), Box::new(console_ep), Box::new(applet_ep)],
    ))
}

async fn relay_pair(profile: Profile) -> Result<(Link, Link, Guards)> {
    let hub = RelayHub::new(HubConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hub_addr = listener.local_addr()?;
    let server = tokio::spawn(hub.clone().serve(listener));
    // The console reaches the relay over the emulated link.
    let proxy = TcpProxy::start(hub_addr, profile, 13).await?;
    let token = hub.issue();
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let (via_proxy, direct) = (format!("ws://{}", proxy.addr()), format!("ws://{hub_addr}"));
    let (cl, al) = tokio::join!(
        relay::connect(&via_proxy, &token, Side::Console, &c, afp),
        relay::connect(&direct, &token, Side::Applet, &a, cfp),
    );
    Ok((
        cl?,
        al?,
        vec![Box::new(proxy), Box::new(AbortOnDrop(server))],
    ))
}

/// QUIC between the namespaces: the applet's endpoint in B, the console's
/// in A.
async fn quic_pair_packet(link: &PacketLink, cc: Congestion) -> Result<(Link, Link, Guards)> {
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let bind = |ip| async move {
        QuicEndpoint::bind(SocketAddr::from((ip, 0))).map(|e| e.with_congestion(cc))
    };
    let applet_ep = link.b.spawn(bind(ADDR_B)).await??;
    let console_ep = link.a.spawn(bind(ADDR_A)).await??;
    let to = applet_ep.local_addr()?;
    let (ae, ce) = (applet_ep.clone(), console_ep.clone());
    let accept = link.b.spawn(async move { ae.accept(&a, cfp).await });
    let connect = link.a.spawn(async move { ce.connect(&c, afp, to).await });
    let (cl, al) = (connect.await??, accept.await??);
    Ok((cl, al, vec![Box::new(console_ep), Box::new(applet_ep)]))
}

/// The relay between the namespaces: the hub beside the applet in B (the
/// console's leg crosses the link) or beside the console in A (the
/// applet's leg does).
async fn relay_pair_packet(link: &PacketLink, hub_side: HubSide) -> Result<(Link, Link, Guards)> {
    let hub = RelayHub::new(HubConfig::default());
    let h = hub.clone();
    let (hub_ns, hub_ip) = match hub_side {
        HubSide::A => (&link.a, ADDR_A),
        HubSide::B => (&link.b, ADDR_B),
    };
    let (hub_addr, server) = hub_ns
        .spawn(async move {
            let listener = tokio::net::TcpListener::bind((hub_ip, 0)).await?;
            let addr = listener.local_addr()?;
            Ok::<_, std::io::Error>((addr, tokio::spawn(h.serve(listener))))
        })
        .await??;
    let token = hub.issue();
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let url = format!("ws://{hub_addr}");
    let (u, t) = (url.clone(), token.clone());
    let applet = link
        .b
        .spawn(async move { relay::connect(&u, &t, Side::Applet, &a, cfp).await });
    let console = link
        .a
        .spawn(async move { relay::connect(&url, &token, Side::Console, &c, afp).await });
    let (cl, al) = (console.await??, applet.await??);
    Ok((cl, al, vec![Box::new(AbortOnDrop(server))]))
}

/// WebRTC between the namespaces: the console offers from A, the applet
/// answers in B; their signals cross in this process (what the server
/// forwards), ICE finds the pair over the emulated link.
async fn webrtc_pair_packet(link: &PacketLink) -> Result<(Link, Link, Guards)> {
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let (console_signals, applet_signals) = signal_pair();
    let attempt = |identity, peer, role| Attempt {
        identity,
        peer,
        role,
        extra_candidates: vec![],
        timeout: Duration::from_secs(20),
    };
    let (ca, aa) = (
        attempt(c, afp, Role::Offerer),
        attempt(a, cfp, Role::Answerer),
    );
    let applet = link.b.spawn(async move {
        let socket = tokio::net::UdpSocket::bind((ADDR_B, 0)).await?;
        anyhow::Ok(webrtc::connect(socket, aa, applet_signals).await?)
    });
    let console = link.a.spawn(async move {
        let socket = tokio::net::UdpSocket::bind((ADDR_A, 0)).await?;
        anyhow::Ok(webrtc::connect(socket, ca, console_signals).await?)
    });
    let (cl, al) = (console.await??, applet.await??);
    Ok((cl, al, vec![]))
}

/// Two ends' signals, each one's `out` the other's `incoming`.
fn signal_pair() -> (Signals, Signals) {
    let (c_out, mut c_rx) = tokio::sync::mpsc::channel::<SignalPayload>(64);
    let (a_out, mut a_rx) = tokio::sync::mpsc::channel::<SignalPayload>(64);
    let (to_c, c_in) = tokio::sync::mpsc::channel(64);
    let (to_a, a_in) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(p) = c_rx.recv().await {
            if to_a.send(p).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(p) = a_rx.recv().await {
            if to_c.send(p).await.is_err() {
                return;
            }
        }
    });
    (
        Signals {
            out: c_out,
            incoming: c_in,
        },
        Signals {
            out: a_out,
            incoming: a_in,
        },
    )
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `sender` saturates the file channel while sending an input event every
/// 20 ms; `receiver` measures file goodput and each input's delay.
async fn measure(sender: Link, mut receiver: Link, seconds: Duration) -> Result<(f64, f64, f64)> {
    let sent_at: Arc<Mutex<HashMap<i32, Instant>>> = Arc::default();
    let chunk = wire::encode_to_bytes(Message::FileChunk(pb::FileChunk {
        id: 1,
        offset: 0,
        data: Bytes::from(vec![1u8; 128 * 1024]),
    }))?;
    let sender = Arc::new(sender);
    let end = Instant::now() + seconds;
    let bulk = {
        let sender = sender.clone();
        tokio::spawn(async move {
            while Instant::now() < end {
                if tokio::time::timeout(
                    Duration::from_millis(200),
                    sender.send(Channel::File, chunk.clone()),
                )
                .await
                .is_err()
                {
                    continue;
                }
            }
        })
    };
    let input = {
        let (sender, sent_at) = (sender.clone(), sent_at.clone());
        tokio::spawn(async move {
            let mut n = 0i32;
            while Instant::now() < end {
                let frame =
                    wire::encode_to_bytes(Message::PointerMove(pb::PointerMove { x: n, y: 0 }))
                        .unwrap_or_default();
                if let Ok(mut m) = sent_at.lock() {
                    m.insert(n, Instant::now());
                }
                let _ = sender.send(Channel::Input, frame).await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut file = FrameReader::new(Channel::File);
    let mut inputs = FrameReader::new(Channel::Input);
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    let mut delays = Vec::new();
    let stop = end + Duration::from_millis(500);
    while Instant::now() < stop {
        let Ok(ev) = tokio::time::timeout_at(stop.into(), receiver.recv()).await else {
            break;
        };
        match ev {
            Some(LinkEvent::Data {
                channel: Channel::File,
                data,
            }) => {
                if Instant::now() < end {
                    first.get_or_insert_with(Instant::now);
                    bytes += data.len() as u64;
                }
                file.push(&data);
                while let Ok(Some(_)) = file.next_frame() {}
            }
            Some(LinkEvent::Data {
                channel: Channel::Input,
                data,
            }) => {
                inputs.push(&data);
                while let Ok(Some(Decoded::Message(Message::PointerMove(p)))) = inputs.next_frame()
                {
                    if let Some(t) = sent_at.lock().ok().and_then(|m| m.get(&p.x).copied()) {
                        delays.push(t.elapsed().as_secs_f64() * 1e3);
                        tracing::debug!(
                            at_ms = (end - seconds).elapsed().as_secs_f64() * 1e3,
                            delay_ms = t.elapsed().as_secs_f64() * 1e3,
                            "input"
                        );
                    }
                }
            }
            Some(LinkEvent::Closed(e)) => bail!("link closed during the run: {e:?}"),
            None => break,
            Some(_) => {}
        }
    }
    bulk.abort();
    input.abort();
    tracing::debug!(sender = ?sender.stats(), receiver = ?receiver.stats(), "link statistics");
    let secs = first.map_or(1.0, |f| {
        end.saturating_duration_since(f).as_secs_f64().max(1e-3)
    });
    delays.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok((bytes as f64 * 8.0 / secs / 1e6, pct(0.5), pct(0.99)))
}
