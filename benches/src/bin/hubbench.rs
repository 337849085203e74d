//! `hubbench`: the relay hub's forwarding rate and the memory of idle paired
//! sessions. The peers are raw WebSocket clients in the same process, so both
//! figures include the clients' share: they are upper bounds of the hub's
//! cost. Reference in the same run: a plain TCP copy on loopback.
//!
//! `cargo run --release -p secours-benches --bin hubbench -- --seconds 3 --idle 2000`

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use secours_transport::relay::{HubConfig, RelayHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
struct Args {
    /// Seconds of forwarding.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Idle paired sessions to hold for the memory figure.
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// Internal: run only a hub in this process, with N tokens issued up
    /// front (the hub's own memory is measured from the parent).
    #[arg(long, hide = true)]
    serve_hub: Option<usize>,
}

/// Resident memory of process `pid`, bytes.
fn rss_of(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// Child mode: a hub alone, printing its address and `n` tokens.
async fn serve_hub(n: usize) -> Result<()> {
    let hub = RelayHub::new(HubConfig {
        idle_timeout: Duration::from_secs(600),
        ..HubConfig::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut out = format!("ready ws://{}\n", listener.local_addr()?);
    for _ in 0..n {
        out.push_str(hub.issue().as_str());
        out.push('\n');
    }
    print!("{out}");
    std::io::Write::flush(&mut std::io::stdout())?;
    // Serves until the parent kills it.
    hub.serve(listener).await.context("hub stopped")
}

/// The hub's own memory per idle paired session (with its two input lanes
/// when `lanes`): the hub in a child process, the clients here.
async fn hub_share(n: usize, lanes: bool) -> Result<f64> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["--serve-hub", &n.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut lines = std::io::BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let base = lines
        .next()
        .context("hub child said nothing")??
        .strip_prefix("ready ")
        .context("hub child not ready")?
        .to_string();
    let tokens: Vec<String> = lines.take(n).collect::<Result<_, _>>()?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_of(child.id());
    let mut held = Vec::with_capacity(n);
    for t in &tokens {
        let a = format!("{base}/relay/v1/{t}?side=console");
        let b = format!("{base}/relay/v1/{t}?side=applet");
        let (a, b) = tokio::join!(
            tokio_tungstenite::connect_async(a),
            tokio_tungstenite::connect_async(b)
        );
        held.push((a?.0, b?.0));
        for lane in 1..=secours_transport::relay::hub::INPUT_LANES {
            if lanes {
                held.push(pair_lane(&base, t, lane).await?);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per = rss_of(child.id()).saturating_sub(before) as f64 / n as f64;
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
    Ok(per)
}

/// Process CPU time (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory, bytes.
fn rss() -> u64 {
    rss_of(std::process::id())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn pair(base: &str, hub: &RelayHub) -> Result<(Ws, Ws)> {
    let token = hub.issue();
    let a = format!("{base}/relay/v1/{}?side=console", token.as_str());
    let b = format!("{base}/relay/v1/{}?side=applet", token.as_str());
    let (a, b) = tokio::join!(
        tokio_tungstenite::connect_async(a),
        tokio_tungstenite::connect_async(b)
    );
    Ok((a?.0, b?.0))
}

/// Input lane `lane` of the session `token`.
async fn pair_lane(base: &str, token: &str, lane: u8) -> Result<(Ws, Ws)> {
    let a = format!("{base}/relay/v1/{token}?side=console&lane={lane}");
    let b = format!("{base}/relay/v1/{token}?side=applet&lane={lane}");
    let (a, b) = tokio::join!(
        tokio_tungstenite::connect_async(a),
        tokio_tungstenite::connect_async(b)
    );
    Ok((a?.0, b?.0))
}

async fn tcp_reference(seconds: Duration) -> Result<f64> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let sink = tokio::spawn(async move {
        let (mut s, _) = l.accept().await?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(total);
            }
            total += n as u64;
        }
    });
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    let block = vec![7u8; 64 * 1024];
    let t = Instant::now();
    while t.elapsed() < seconds {
        c.write_all(&block).await?;
    }
    c.shutdown().await?;
    let total = sink.await??;
    Ok(total as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e9)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(n) = args.serve_hub {
        return rt.block_on(serve_hub(n));
    }
    rt.block_on(async move {
        let seconds = Duration::from_secs(args.seconds);
        let tcp = tcp_reference(seconds).await?;
        let hub = RelayHub::new(HubConfig { idle_timeout: Duration::from_secs(600), ..HubConfig::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("ws://{}", listener.local_addr()?);
        tokio::spawn(hub.clone().serve(listener));

        // Forwarding: one pair, 64 KiB messages one way.
        let (mut a, mut b) = pair(&base, &hub).await?;
        let reader = tokio::spawn(async move {
            let mut total = 0u64;
            while let Some(Ok(m)) = b.next().await {
                if let Message::Binary(d) = m {
                    total += d.len() as u64;
                }
            }
            total
        });
        let block = bytes::Bytes::from(vec![9u8; 64 * 1024]);
        let (cpu0, t) = (cpu_seconds(), Instant::now());
        while t.elapsed() < seconds {
            a.send(Message::Binary(block.clone())).await.context("send")?;
        }
        a.close(None).await.ok();
        let total = reader.await?;
        let wall = t.elapsed().as_secs_f64();
        let cores = ((cpu_seconds() - cpu0) / wall).max(0.01);
        let gbps = total as f64 * 8.0 / wall / 1e9;

        // Idle sessions.
        let before = rss();
        let mut held = Vec::with_capacity(args.idle);
        for _ in 0..args.idle {
            held.push(pair(&base, &hub).await?);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let per = (rss().saturating_sub(before)) as f64 / args.idle as f64;
        drop(held);
        let hub_only = hub_share(args.idle, false).await?;
        let hub_lanes = hub_share(args.idle, true).await?;
        println!("hub forwarding: {gbps:.2} Gbit/s using {cores:.2} cores (clients included) = {:.2} Gbit/s per core", gbps / cores);
        println!("reference: plain TCP copy on loopback {tcp:.2} Gbit/s");
        println!(
            "idle paired sessions: {} held, {:.1} KiB each (both clients included), {:.0} MiB per 20,000",
            args.idle,
            per / 1024.0,
            per * 20_000.0 / 1048576.0
        );
        println!(
            "idle paired sessions, the hub alone in its own process: {:.1} KiB each, {:.0} MiB per 20,000",
            hub_only / 1024.0,
            hub_only * 20_000.0 / 1048576.0
        );
        println!(
            "the same with their two input lanes: {:.1} KiB each, {:.0} MiB per 20,000",
            hub_lanes / 1024.0,
            hub_lanes * 20_000.0 / 1048576.0
        );
        println!(
            "hub_gbps={gbps:.3} hub_gbps_per_core={:.3} tcp_gbps={tcp:.3} idle_session_kib={:.1} hub_idle_session_kib={:.1} hub_idle_session_with_lanes_kib={:.1}",
            gbps / cores,
            per / 1024.0,
            hub_only / 1024.0,
            hub_lanes / 1024.0
        );
        Ok(())
    })
}
