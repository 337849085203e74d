//! The path matrix: for every pair of networks of the NAT lab, a real
//! session between the real programs (`secours applet` in LAN A, a
//! headless `secours console` in LAN B, `secours server` with its STUN
//! responder on the public segment): the path it ended on, the time from
//! the PIN entered to the first decoded picture, and the time until a
//! direct path took over.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::natlab::{Lab, Network, SERVER_IP, Side, TURN_IP};
use crate::programs::{Guard, PASSWORD, Proc, TECH};

/// How long after the first picture a direct path may still take over
/// (the puncher gives up after its own timeout, which is shorter).
const DIRECT_GRACE: Duration = Duration::from_secs(10);

/// What one pair's session did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The applet's network.
    pub applet: Network,
    /// The console's network.
    pub console: Network,
    /// `direct`, `turn`, `webrtc` or `relay`: where the session ended.
    pub path: String,
    /// From the PIN entered to the console's first decoded picture, ms.
    pub first_frame_ms: f64,
    /// From the PIN entered to the direct (QUIC, TURN or WebRTC) path
    /// carrying every channel, ms.
    pub direct_ms: Option<f64>,
    /// Why there was no direct path, as the console was told.
    pub reason: Option<String>,
}

impl Outcome {
    /// Whether the pair ended where RFC 4787 says it can.
    pub fn as_expected(&self) -> bool {
        self.path == self.applet.expected_path(self.console)
    }
}

/// Sets up the server's database once (a technician who may control),
/// on loopback in this namespace; returns its URL for [`run_pair`].
pub fn prepare(bin: &Path, dir: &Path) -> Result<String> {
    let (server, _) = crate::programs::server(bin, dir)?;
    drop(server);
    Ok(format!("sqlite://{}?mode=rwc", dir.join("s.db").display()))
}

/// One session through a lab with the applet behind `applet` and the
/// console behind `console`.
pub fn run_pair(
    bin: &Path,
    database: &str,
    dir: &Path,
    applet: Network,
    console: Network,
) -> Result<Outcome> {
    let _lab = Lab::build(applet, console)?;
    let base = format!("http://{SERVER_IP}:443");
    let stun = format!("{SERVER_IP}:3478");
    let log = |who: &str| dir.join(format!("{who}-{applet}-{console}.log"));
    let turn_secret = hex_secret();
    let _turn = Guard(
        Lab::public(Path::new("turnserver"))
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay"])
            .args(["--listening-ip", TURN_IP, "--relay-ip", TURN_IP])
            .args(["--listening-port", "3478", "--realm", "secours.lab"])
            .args(["--use-auth-secret", "--static-auth-secret", &turn_secret])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("turnserver (coturn: scripts/setup.sh installs it)")?,
    );
    let server = Proc::start_keeping_log(
        Lab::public(bin)
            .args(["server", "--database-url", database])
            .args(["--listen", &format!("{SERVER_IP}:443")])
            .args(["--public-url", &base, "--stun-listen", &stun])
            .args(["--turn-url", &format!("turn:{TURN_IP}:3478?transport=udp")])
            .env("SECOURS_TURN_SECRET", &turn_secret),
        &log("server"),
    )?;
    server.line("the server", |l| l.contains("listening"))?;
    let mut tech = Proc::start_keeping_log(
        Lab::on(Side::B, bin)
            .args(["console", "--headless", "--server", &base, "--email", TECH])
            .args(["--stun", &stun])
            .arg("--files-dir")
            .arg(dir.join("files"))
            .env("SECOURS_PASSWORD", PASSWORD),
        &log("console"),
    )?;
    tech.event("ready")?;
    tech.write(&json!({"cmd": "create_pin"}).to_string())?;
    let pin = tech.event("pin")?;
    let sid = pin["session_id"].as_str().context("session id")?.to_owned();
    let entered = Instant::now();
    let mut customer = Proc::start_keeping_log(
        Lab::on(Side::A, bin)
            .args(["applet", "--terminal", "--synthetic", "640x360"])
            .args(["--server", &base, "--name", "Lab", "--stun", &stun])
            .args(["--pin", pin["pin"].as_str().context("pin")?]),
        &log("applet"),
    )?;
    tech.line("the queue", |l| l.contains(&sid) && l.contains("waiting"))?;
    let picked = Instant::now();
    tech.write(&json!({"cmd": "pickup", "session_id": sid}).to_string())?;
    tech.event("established")?;
    tech.write(
        &json!({"cmd": "request", "session_id": sid, "permission": "remote_control"}).to_string(),
    )?;
    customer.line("the consent question", |l| l.contains("[y/n]"))?;
    customer.write("y")?;
    tech.event("first_frame")?;
    let first_frame_ms = ms(entered.elapsed());
    let to_pickup = ms(picked.duration_since(entered));
    // The first path event says whether the direct path took over, or
    // why not; it may have come before the picture.
    let is_path = |l: &str| l.contains("\"event\":\"path\"");
    let line = match tech.history(is_path).into_iter().next() {
        Some(l) => Some(l),
        None => tech.line_within("a path event", DIRECT_GRACE, is_path).ok(),
    };
    let (mut direct_ms, mut reason) = (None, None);
    if let Some(line) = line {
        let e: serde_json::Value = serde_json::from_str(&line)?;
        if ["direct", "turn", "webrtc"].iter().any(|p| e["path"] == *p) {
            direct_ms = e["ms_since_pickup"].as_f64().map(|m| to_pickup + m);
        }
        reason = e["reason"].as_str().map(str::to_owned);
    }
    // Both ways on the path the session settled on.
    tech.write(&json!({"cmd": "chat", "session_id": sid, "text": "lab"}).to_string())?;
    customer.line("the technician's chat", |l| {
        l.starts_with("Technician: lab")
    })?;
    customer.write("fine")?;
    let chat = tech.event("chat")?;
    if chat["text"] != "fine" {
        bail!("the customer's chat arrived as {chat}");
    }
    tech.write(&json!({"cmd": "end", "session_id": sid}).to_string())?;
    let closed = tech.event("closed")?;
    let path = closed["path"].as_str().unwrap_or("none").to_owned();
    if path == "none" {
        bail!("the session did not end cleanly: {closed}");
    }
    if path == "relay" && reason.is_none() {
        reason = Some(match (applet.udp(), console.udp()) {
            (true, true) => "no direct attempt reported".into(),
            _ => "no UDP candidate".into(),
        });
    }
    drop(customer);
    Ok(Outcome {
        applet,
        console,
        path,
        first_frame_ms,
        direct_ms,
        reason,
    })
}

/// A fresh TURN secret for each lab.
fn hex_secret() -> String {
    let mut b = [0u8; 16];
    // Without randomness the lab still runs: the secret stays on loopback
    // namespaces this test made.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The matrix as a Markdown table: a row per applet network, a column per
/// console network; each cell the path, first picture and direct times.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut t = String::from("| applet \\ console |");
    for c in Network::ALL {
        let _ = write!(t, " {c} |");
    }
    t.push_str("\n|---|");
    for _ in Network::ALL {
        t.push_str("---|");
    }
    for a in Network::ALL {
        let _ = write!(t, "\n| **{a}** |");
        for c in Network::ALL {
            let cell = outcomes
                .iter()
                .find(|o| o.applet == a && o.console == c)
                .map_or_else(|| "not run".to_owned(), cell);
            let _ = write!(t, " {cell} |");
        }
    }
    t.push('\n');
    t
}

fn cell(o: &Outcome) -> String {
    let direct = o
        .direct_ms
        .map_or_else(String::new, |d| format!(", UDP path at {d:.0} ms"));
    let mark = if o.as_expected() { "" } else { " (unexpected)" };
    format!(
        "{}{mark}: first picture {:.0} ms{direct}",
        o.path, o.first_frame_ms
    )
}

/// Why each cell not on direct QUIC stayed off it, one line each.
pub fn reasons(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    for o in outcomes.iter().filter(|o| o.path != "direct") {
        let _ = writeln!(
            s,
            "- applet {} / console {}: {}",
            o.applet,
            o.console,
            o.reason.as_deref().unwrap_or("unknown")
        );
    }
    s
}
