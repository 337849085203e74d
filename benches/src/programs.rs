//! The real programs as the benchmarks run them: child processes whose
//! output lines arrive on a channel, Xvfb on a free display, and a `secours
//! server` set up with a technician.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

pub const TECH: &str = "bench@helpdesk.example";
pub const PASSWORD: &str = "Bench-Pass1%";
pub const WAIT: Duration = Duration::from_secs(60);

/// A child whose output lines arrive on a channel; killed when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, picked or passed over.
    history: std::sync::Mutex<Vec<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn start(cmd: &mut Command) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let out = child.stdout.take().context("stdout")?;
        Ok(Self::reading(child, out))
    }

    /// Like `start`, with the child's standard error (its log) kept in
    /// `log`.
    pub fn start_keeping_log(cmd: &mut Command, log: &Path) -> Result<Self> {
        let file = std::fs::File::create(log)?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()?;
        let out = child.stdout.take().context("stdout")?;
        Ok(Self::reading(child, out))
    }

    /// Like `start`, but the lines are the child's standard error (its
    /// log), for a program that says nothing on standard output.
    pub fn start_logging(cmd: &mut Command) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = child.stderr.take().context("stderr")?;
        Ok(Self::reading(child, out))
    }

    fn reading(mut child: Child, out: impl std::io::Read + Send + 'static) -> Self {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            history: std::sync::Mutex::default(),
        }
    }

    pub fn line(&self, what: &str, pick: impl Fn(&str) -> bool) -> Result<String> {
        self.line_within(what, WAIT, pick)
    }

    /// Like `line`, waiting at most `wait`.
    pub fn line_within(
        &self,
        what: &str,
        wait: Duration,
        pick: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Ok(mut h) = self.history.lock() {
                        h.push(l.clone());
                    }
                    if pick(&l) {
                        return Ok(l);
                    }
                    seen.push(l);
                }
                Err(_) => break,
            }
        }
        bail!("no {what}; seen:\n{}", seen.join("\n"))
    }

    /// The lines read so far that `pick` likes, in order.
    pub fn history(&self, pick: impl Fn(&str) -> bool) -> Vec<String> {
        self.history
            .lock()
            .map(|h| h.iter().filter(|l| pick(l)).cloned().collect())
            .unwrap_or_default()
    }

    /// Drops the lines said so far.
    pub fn drain(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    pub fn event(&self, name: &str) -> Result<Value> {
        let l = self.line(name, |l| l.contains(&format!("\"event\":\"{name}\"")))?;
        Ok(serde_json::from_str(&l)?)
    }

    pub fn write(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }
}

/// A child killed when dropped.
#[derive(Debug)]
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Xvfb with a screen of `size` (`WIDTHxHEIGHT`) on a free display.
pub fn xvfb(size: &str) -> Result<(Guard, String)> {
    let n = (70..100)
        .find(|n| !secours_applet::x_display_in_use(*n))
        .context("no free display")?;
    let display = format!(":{n}");
    let x = Guard(
        Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                &format!("{size}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("Xvfb (scripts/setup.sh installs it)")?,
    );
    for _ in 0..200 {
        let up = Command::new("xwininfo")
            .args(["-root", "-display", &display])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            return Ok((x, display));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("Xvfb did not start")
}

/// `secours server` on a fresh SQLite database, with a technician
/// (`TECH`, `PASSWORD`) whose group may view and control; its base URL.
pub fn server(bin: &Path, dir: &Path) -> Result<(Proc, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let db = format!("sqlite://{}?mode=rwc", dir.join("s.db").display());
    let init = Command::new(bin)
        .args(["server", "--database-url", &db, "init", "--org", "Bench"])
        .args(["--name", "Root", "--email", "root@helpdesk.example"])
        .env("SECOURS_INIT_PASSWORD", PASSWORD)
        .output()?;
    if !init.status.success() {
        bail!("init: {}", String::from_utf8_lossy(&init.stderr));
    }
    let p = Proc::start(
        Command::new(bin)
            .args(["server", "--database-url", &db])
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &base,
            ])
            .args(["--stun-listen", "off"]),
    )?;
    p.line("the server", |l| l.contains("listening"))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: &str, token: Option<String>, body: Value| {
            let mut r = http.post(format!("{base}{path}")).json(&body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let path = path.to_owned();
            async move {
                let r = r.send().await?;
                if !r.status().is_success() {
                    bail!("{path}: {}", r.status());
                }
                Ok::<Value, anyhow::Error>(r.json().await?)
            }
        };
        let login = |e: &str, p: &str| json!({"email": e, "password": p});
        let root = post(
            "/api/v1/auth/login",
            None,
            login("root@helpdesk.example", PASSWORD),
        )
        .await?["token"]
            .as_str()
            .context("token")?
            .to_owned();
        let group = post(
            "/api/v1/tech-groups",
            Some(root.clone()),
            json!({"name": "Bench", "settings": {"permissions":
                ["remote_control", "desktop_view", "private_sessions", "chat"]}}),
        )
        .await?;
        post(
            "/api/v1/users",
            Some(root),
            json!({"role": "technician", "name": "Bench", "email": TECH,
                "password": "Initial-Pass1%", "tech_group_id": group["id"]}),
        )
        .await?;
        let first = post("/api/v1/auth/login", None, login(TECH, "Initial-Pass1%")).await?;
        post(
            "/api/v1/me/password",
            first["token"].as_str().map(str::to_owned),
            json!({"current_password": "Initial-Pass1%", "new_password": PASSWORD}),
        )
        .await?;
        anyhow::Ok(())
    })?;
    Ok((p, base))
}

/// A PIN session opened by the technician through the REST API; its code.
pub fn pin(base: &str) -> Result<String> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": TECH, "password": PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = login["token"].as_str().context("no token")?;
        let created: Value = http
            .post(format!("{base}/api/v1/sessions"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        Ok(created["pin"].as_str().context("no pin")?.to_owned())
    })
}

/// The `secours` binary: `given`, or the one beside this program.
pub fn secours_binary(given: Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    match given {
        Some(b) => Ok(b),
        None => Ok(std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("secours")),
    }
}
