//! `serverbench`: the server's two capacity figures.
//!
//! 1. PIN round trips per second on SQLite: a technician creates a private
//!    session (a six-digit code drawn and stored unique among live codes) and
//!    a customer redeems it (single use), through the server's own session
//!    functions with `--tasks` concurrent workers; the same through HTTP; and,
//!    as the reference, the database alone doing one INSERT plus one UPDATE
//!    per round trip on the same pool.
//! 2. Idle signaling WebSockets: a server runs as a child process (so its
//!    memory is its own), the bench opens `--idle` console sockets and reads
//!    the child's resident memory before and after.
//! 3. Legitimate requests under attack: the latency (p50, p99) of a
//!    technician's login and of a customer's PIN redemption, each on a fresh
//!    connection from 127.0.0.1, on a server with the default limits: with no
//!    attack (the reference), while slow clients on four other addresses hold
//!    every socket their per-address cap allows and dribble unfinished
//!    headers, and while one address floods the server with new sockets
//!    (each attack from a child process of its own).
//!
//! `cargo run --release -p secours-benches --bin serverbench -- --seconds 3 --idle 20000 --latency-samples 200`

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures_util::StreamExt;
use secours_signaling::auth::Caller;
use secours_signaling::config::Config;
use secours_signaling::model::Role;
use secours_signaling::sessions::{self, Code};
use secours_signaling::setup::{self, FirstMaster};
use secours_signaling::state::AppState;
use secours_signaling::store::audit::Actor;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Concurrent clients for the PIN figures (customers and technicians
    /// arrive concurrently; group commit batches what is waiting).
    #[arg(long, default_value_t = 128)]
    tasks: usize,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Idle WebSocket connections to hold (0 skips the figure).
    #[arg(long, default_value_t = 20_000)]
    idle: usize,
    /// Legitimate logins and PIN redemptions timed per attack (0 skips the
    /// figure).
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Internal: run an attack (`slow_clients` or `socket_flood`) on this
    /// address until stdin closes, then print what it held or opened.
    #[arg(long, hide = true, requires = "attack")]
    attack_target: Option<SocketAddr>,
    /// Internal: the attack an `--attack-target` child runs.
    #[arg(long, hide = true)]
    attack: Option<String>,
    /// Internal: run a server for the idle figure and print its address.
    #[arg(long, hide = true)]
    serve: Option<String>,
}

const PASSWORD: &str = "Sample1%x";

fn config(db: &str) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        stun_listen: None,
        database_url: db.to_owned(),
        // Every simulated client comes from 127.0.0.1: neither the socket
        // cap nor the redemption throttle (which counts a guess while it is
        // in flight) may stand in for a crowd of addresses.
        max_connections: 1_000_000,
        max_connections_per_address: 1_000_000,
        pin_max_failures: 1_000_000,
        ..Config::default()
    }
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("{status}: {v}");
    }
    Ok(v)
}

/// Sets up an organisation with one technician allowed private sessions;
/// returns its token and id.
async fn technician(state: &AppState, base: &str) -> Result<(String, i64, i64)> {
    let first = FirstMaster {
        org_name: "Bench".into(),
        name: "Root".into(),
        email: "root@bench.test".into(),
        password: PASSWORD.into(),
    };
    setup::create(&state.store, &first, &Actor::system("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let http = reqwest::Client::new();
    let login = |email: &'static str, pw: &'static str| {
        let http = http.clone();
        let url = format!("{base}/api/v1/auth/login");
        async move { post(&http, url, None, json!({"email": email, "password": pw})).await }
    };
    let master = login("root@bench.test", PASSWORD).await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let group = post(
        &http,
        format!("{base}/api/v1/tech-groups"),
        Some(&master),
        json!({"name": "Support", "settings": {"permissions": ["private_sessions", "chat"]}}),
    )
    .await?;
    let gid = group["id"].as_i64().context("group id")?;
    let user = post(
        &http,
        format!("{base}/api/v1/users"),
        Some(&master),
        json!({"role": "technician",
        "name": "T", "email": "t@bench.test", "password": "Initial1%", "tech_group_id": gid}),
    )
    .await?;
    let uid = user["id"].as_i64().context("user id")?;
    let first = login("t@bench.test", "Initial1%").await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let changed = post(
        &http,
        format!("{base}/api/v1/me/password"),
        Some(&first),
        json!({"current_password": "Initial1%", "new_password": PASSWORD}),
    )
    .await?;
    Ok((
        changed["token"].as_str().unwrap_or_default().to_owned(),
        uid,
        gid,
    ))
}

async fn rate<F, Fut>(seconds: u64, tasks: usize, op: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (op, done, failed) = (op.clone(), done.clone(), failed.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < until {
                if op().await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        eprintln!("  ({f} operations failed)");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn pin_figures(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let server = secours_signaling::start(config(&db)).await?;
    let base = format!("http://{}", server.http_addr);
    let state = server.state.clone();
    let (token, uid, gid) = technician(&state, &base).await?;
    let caller = Caller {
        id: uid,
        role: Role::Technician,
        email: "t@bench.test".into(),
        tech_group_id: Some(gid),
        token_hash: String::new(),
        api_key: None,
    };

    // Reference: the database alone, one INSERT and one UPDATE per round trip.
    let pool = state.store.pool.clone();
    let counter = Arc::new(AtomicU64::new(0));
    let reference = rate(args.seconds, args.tasks, move || {
        let pool = pool.clone();
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            let id = format!("{n:032x}");
            let ins = sqlx::query(
                "INSERT INTO support_sessions (id, kind, state, created_at, last_activity) \
                VALUES ($1, 'bench', 'pending', 0, 0)",
            )
            .bind(&id)
            .execute(&pool)
            .await;
            let upd = sqlx::query(
                "UPDATE support_sessions SET state = 'closed' WHERE id = $1 AND state = 'pending'",
            )
            .bind(&id)
            .execute(&pool)
            .await;
            ins.is_ok() && upd.is_ok()
        }
    })
    .await;

    let st = state.clone();
    let service = rate(args.seconds, args.tasks, move || {
        let (st, caller) = (st.clone(), caller.clone());
        async move {
            match sessions::create_private(&st, &caller).await {
                Ok(p) => sessions::redeem(&st, Code::Pin(p.pin.expose()), "bench")
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;

    let http = reqwest::Client::new();
    let over_http = rate(args.seconds, args.tasks, move || {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let created = match post(
                &http,
                format!("{base}/api/v1/sessions"),
                Some(&token),
                json!({}),
            )
            .await
            {
                Ok(c) => c,
                Err(e) => {
                    report_once(&e);
                    return false;
                }
            };
            let pin = created["pin"].as_str().unwrap_or_default().to_owned();
            match post(
                &http,
                format!("{base}/api/v1/join"),
                None,
                json!({"pin": pin, "name": "bench"}),
            )
            .await
            {
                Ok(_) => true,
                Err(e) => {
                    report_once(&e);
                    false
                }
            }
        }
    })
    .await;
    println!(
        "PIN round trips on SQLite ({} workers, {} s each; create + redeem):",
        args.tasks, args.seconds
    );
    println!(
        "  {:<44} {:>10.0} /s",
        "reference: database alone (INSERT + UPDATE)", reference
    );
    println!(
        "  {:<44} {:>10.0} /s  ({:.2} of reference)",
        "server session functions",
        service,
        service / reference
    );
    println!(
        "  {:<44} {:>10.0} /s  ({:.2} of reference)",
        "over HTTP (2 requests, JSON, loopback)",
        over_http,
        over_http / reference
    );
    println!(
        "bench=pin db=sqlite service_per_s={service:.0} http_per_s={over_http:.0} db_reference_per_s={reference:.0}"
    );
    server.shutdown().await?;
    Ok(())
}

/// Prints the first failure of a run (the count comes at the end).
fn report_once(e: &anyhow::Error) {
    static SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SHOWN.swap(true, Ordering::Relaxed) {
        eprintln!("  first failure: {e:#}");
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

async fn serve(db: &str) -> Result<()> {
    let server = secours_signaling::start(config(db)).await?;
    let base = format!("http://{}", server.http_addr);
    let (token, _, _) = technician(&server.state, &base).await?;
    println!("{} {}", server.http_addr, token);
    std::io::stdout().flush()?;
    // Until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
    Ok(())
}

async fn idle_figure(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("idle.db").display());
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve", &db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("child stdout")?).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let addr = parts.next().context("child address")?.to_owned();
    let token = parts.next().context("child token")?.to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib(pid);
    let url = format!("ws://{addr}/ws/console?token={token}");
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(args.idle);
    let mut pending = futures_util::stream::iter((0..args.idle).map(|_| {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
            // hello + queue: the connection is fully set up server-side.
            for _ in 0..2 {
                ws.next().await;
            }
            Ok::<_, anyhow::Error>(ws)
        }
    }))
    .buffer_unordered(64);
    while let Some(ws) = pending.next().await {
        sockets.push(ws.context("opening an idle socket")?);
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before)) as f64 / sockets.len().max(1) as f64;
    println!("Idle console WebSockets held by one server process:");
    println!(
        "  connections {}, opened in {:.1} s ({:.0}/s)",
        sockets.len(),
        opened.as_secs_f64(),
        sockets.len() as f64 / opened.as_secs_f64()
    );
    println!(
        "  server RSS before {:.1} MiB, after {:.1} MiB, {:.1} KiB per connection",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per
    );
    println!(
        "bench=idle_ws connections={} rss_before_mib={:.1} rss_after_mib={:.1} kib_per_conn={per:.1}",
        sockets.len(),
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    drop(sockets);
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}

/// What runs beside the legitimate requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    None,
    /// Slow clients: on each of four addresses, twice its socket cap of
    /// connections that send a partial request head and then one byte a
    /// second (reconnecting when the server cuts them).
    SlowClients,
    /// One address opens sockets as fast as it can from 256 tasks, holds
    /// each until the server closes it, and opens the next.
    SocketFlood,
}

impl Attack {
    fn label(self) -> &'static str {
        match self {
            Attack::None => "no attack (reference)",
            Attack::SlowClients => "slow clients (4 addresses)",
            Attack::SocketFlood => "socket flood (1 address)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::SlowClients => "slow_clients",
            Attack::SocketFlood => "socket_flood",
        }
    }
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(from, 0))?;
    s.connect(to).await
}

/// One slow client, reconnecting until `stop`.
async fn slow_client(from: IpAddr, to: SocketAddr, stop: Arc<AtomicBool>, held: Arc<AtomicU64>) {
    use tokio::io::AsyncWriteExt;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = connect_from(from, to).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if tcp
            .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .is_err()
        {
            continue;
        }
        held.fetch_add(1, Ordering::Relaxed);
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if tcp.write_all(b"x").await.is_err() {
                break;
            }
        }
        held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One flooding task: a socket, held until the server closes it, then the next.
async fn flooder(from: IpAddr, to: SocketAddr, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    use tokio::io::AsyncReadExt;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = connect_from(from, to).await else {
            tokio::task::yield_now().await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        loop {
            tokio::select! {
                r = tcp.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { break }
                }
            }
        }
    }
}

/// p50 and p99 in milliseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

async fn attack_figures(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("attack.db").display()
    );
    // The default limits: what a deployed server runs with.
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        stun_listen: None,
        database_url: db,
        ..Config::default()
    };
    let per_address = config.max_connections_per_address;
    let header_timeout_ms = config.header_read_timeout_ms;
    let server = secours_signaling::start(config).await?;
    let to = server.http_addr;
    let base = format!("http://{to}");
    let (token, _, _) = technician(&server.state, &base).await?;
    // Each legitimate request on a fresh connection, as a new visitor's is.
    let legit = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 1]))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()?;
    let n = args.latency_samples;
    let mut rows = Vec::new();
    for attack in [Attack::None, Attack::SlowClients, Attack::SocketFlood] {
        // The attacker is another process, as it would be.
        let mut child = match attack {
            Attack::None => None,
            Attack::SlowClients | Attack::SocketFlood => Some(
                Command::new(std::env::current_exe()?)
                    .args(["--attack", attack.key(), "--attack-target", &to.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()?,
            ),
        };
        // Let the attack take hold before timing anything.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = Instant::now();
        let mut failed = 0u64;
        let mut logins = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            match post(
                &legit,
                format!("{base}/api/v1/auth/login"),
                None,
                json!({"email": "t@bench.test", "password": PASSWORD}),
            )
            .await
            {
                Ok(_) => logins.push(t.elapsed()),
                Err(e) => {
                    failed += 1;
                    report_once(&e);
                }
            }
        }
        let mut redeems = Vec::with_capacity(n);
        for _ in 0..n {
            let created = match post(
                &legit,
                format!("{base}/api/v1/sessions"),
                Some(&token),
                json!({}),
            )
            .await
            {
                Ok(c) => c,
                Err(e) => {
                    failed += 1;
                    report_once(&e);
                    continue;
                }
            };
            let pin = created["pin"].as_str().unwrap_or_default().to_owned();
            let t = Instant::now();
            match post(
                &legit,
                format!("{base}/api/v1/join"),
                None,
                json!({"pin": pin, "name": "bench"}),
            )
            .await
            {
                Ok(_) => redeems.push(t.elapsed()),
                Err(e) => {
                    failed += 1;
                    report_once(&e);
                }
            }
        }
        let during = started.elapsed().as_secs_f64();
        let attack_note = match child.as_mut() {
            None => String::new(),
            Some(c) => {
                drop(c.stdin.take());
                let mut line = String::new();
                BufReader::new(c.stdout.take().context("attacker stdout")?).read_line(&mut line)?;
                let _ = c.wait();
                let count: f64 = line.trim().parse().unwrap_or(0.0);
                match attack {
                    Attack::SlowClients => format!(
                        "{count:.0} slow clients connected at the end (the server keeps \
                         {} per address)",
                        Config::default().max_connections_per_address
                    ),
                    _ => format!("{:.0} sockets opened/s", count / (during + 2.0)),
                }
            }
        };
        rows.push((
            attack,
            percentiles(logins),
            percentiles(redeems),
            failed,
            attack_note,
        ));
        // The server sheds what the attack left before the next one starts.
        tokio::time::sleep(Duration::from_millis(header_timeout_ms.min(3000))).await;
    }
    println!(
        "Legitimate requests under attack ({n} logins and {n} PIN redemptions each, a fresh \
         connection each, default limits: {per_address} sockets per address, headers within \
         {header_timeout_ms} ms):"
    );
    println!(
        "  {:<30} {:>10} {:>10} {:>12} {:>12}  {:>6}",
        "", "login p50", "login p99", "redeem p50", "redeem p99", "failed"
    );
    let reference = rows.first().map(|r| (r.1, r.2));
    for (attack, login, redeem, failed, note) in &rows {
        println!(
            "  {:<30} {:>7.1} ms {:>7.1} ms {:>9.1} ms {:>9.1} ms  {:>6}  {}",
            attack.label(),
            login.0,
            login.1,
            redeem.0,
            redeem.1,
            failed,
            note
        );
        if let Some((l, r)) = reference
            && *attack != Attack::None
        {
            println!(
                "  {:<30} {:>10.2}x {:>9.2}x {:>11.2}x {:>11.2}x  (of the reference)",
                "",
                login.0 / l.0,
                login.1 / l.1,
                redeem.0 / r.0,
                redeem.1 / r.1
            );
        }
    }
    for (attack, login, redeem, failed, _) in &rows {
        println!(
            "bench=legit_latency attack={} login_p50_ms={:.1} login_p99_ms={:.1} redeem_p50_ms={:.1} redeem_p99_ms={:.1} failed={failed}",
            attack.key(),
            login.0,
            login.1,
            redeem.0,
            redeem.1
        );
    }
    server.shutdown().await?;
    Ok(())
}

/// The attacker's process: runs `kind` against `to` until stdin closes,
/// then prints the slow sockets it held or the sockets it opened.
async fn attack_child(to: SocketAddr, kind: &str) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let per_address = Config::default().max_connections_per_address;
    let mut tasks = Vec::new();
    match kind {
        "slow_clients" => {
            for a in 2..6u8 {
                for _ in 0..per_address * 2 {
                    tasks.push(tokio::spawn(slow_client(
                        IpAddr::from([127, 0, 0, a]),
                        to,
                        stop.clone(),
                        counter.clone(),
                    )));
                }
            }
        }
        "socket_flood" => {
            for _ in 0..256 {
                tasks.push(tokio::spawn(flooder(
                    IpAddr::from([127, 0, 0, 9]),
                    to,
                    stop.clone(),
                    counter.clone(),
                )));
            }
        }
        other => bail!("unknown attack {other}"),
    }
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    println!("{}", counter.load(Ordering::Relaxed));
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    // Each idle socket is a descriptor on both sides.
    let want = (args.idle as u64 * 2).max(8192) + 1024;
    // As root the hard limit can be raised too; otherwise up to it.
    if rlimit::setrlimit(rlimit::Resource::NOFILE, want, want).is_err()
        && let Err(e) = rlimit::increase_nofile_limit(want)
    {
        eprintln!("cannot raise the descriptor limit: {e}");
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        runtime.worker_threads(n);
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async {
        if let Some(db) = &args.serve {
            return serve(db).await;
        }
        if let (Some(to), Some(kind)) = (args.attack_target, args.attack.as_deref()) {
            return attack_child(to, kind).await;
        }
        pin_figures(&args).await?;
        if args.latency_samples > 0 {
            attack_figures(&args).await?;
        }
        if args.idle > 0 {
            idle_figure(&args).await?;
        }
        Ok(())
    })
}
