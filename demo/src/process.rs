//! The demo's hands: the programs as child processes (their output read
//! line by line), the customer's X display, and the administrator's set-up.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use secours_peer::client::ServerClient;
use secours_protocol::signaling::Secret;
use serde_json::{Value, json};

/// The running binary (the demo runs inside `secours demo`), to start the
/// other programs.
pub fn me() -> Result<Command> {
    Ok(Command::new(
        std::env::current_exe().context("where is this program?")?,
    ))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running program: its output lines, its standard input; killed when
/// dropped, whatever happened.
#[derive(Debug)]
pub struct Program {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    wait: Duration,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Program {
    /// Starts `cmd` with piped standard input and output.
    pub fn start(name: &'static str, cmd: &mut Command, wait: Duration) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("start the {name}"))?;
        let out = child.stdout.take().context("no standard output")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // Keep draining: the child must never block on a full pipe.
                let _ = tx.send(line);
            }
        });
        Ok(Self {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            wait,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first line `pick` accepts, within the step's time.
    fn line<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + self.wait;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(t) = pick(&line) {
                        return Ok(t);
                    }
                    // What the console refuses or fails is an error at once.
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && matches!(v["event"].as_str(), Some("error" | "refused"))
                    {
                        bail!("the {} said {line} while waiting for {what}", self.name);
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!(
                        "the {} stopped before {what}; it said:\n{}",
                        self.name,
                        seen.join("\n")
                    )
                }
            }
        }
        bail!(
            "no {what} from the {} within {:?}; it said:\n{}",
            self.name,
            self.wait,
            seen.join("\n")
        )
    }

    /// Console: the next event `name` that `pick` accepts.
    pub fn event(&mut self, name: &str, pick: impl Fn(&Value) -> bool) -> Result<Value> {
        self.line(&format!("a {name:?} event"), |l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["event"] == name && pick(&v)).then_some(v)
        })
    }

    /// Applet: waits for a line the customer reads; returns it.
    pub fn say_until(&mut self, what: &str, pick: impl Fn(&str) -> bool) -> Result<String> {
        self.line(what, |l| pick(l).then(|| l.to_owned()))
    }

    /// Applet: waits for a question containing `question`, then answers.
    pub fn answer(&mut self, question: &str, answer: &str) -> Result<()> {
        self.say_until(&format!("the question {question:?}"), |l| {
            l.contains(question)
        })?;
        self.type_line(answer)
    }

    /// Types one line on the program's standard input.
    pub fn type_line(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("standard input closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Console: one command.
    pub fn send(&mut self, command: &Value) -> Result<()> {
        self.type_line(&command.to_string())
    }

    /// Waits for the program to exit.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("the {} did not exit", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The customer's X display: Xvfb and an xterm, stopped when dropped.
#[derive(Debug)]
pub struct Xvfb {
    /// `:N`.
    pub display: String,
    children: Vec<Child>,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Xvfb {
    /// Starts Xvfb on a free display with a green xterm in `dir`; `None`
    /// when Xvfb or xterm is not installed.
    pub fn start(dir: &Path) -> Result<Option<Self>> {
        if !["Xvfb", "xterm", "xwininfo"].iter().all(|t| have(t)) {
            return Ok(None);
        }
        for n in 90..120 {
            if secours_applet::x_display_in_use(n) {
                continue;
            }
            let display = format!(":{n}");
            let mut x = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("start Xvfb")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline && x.try_wait()?.is_none() {
                up = Command::new("xwininfo")
                    .args(["-root", "-display", &display])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if up {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !up {
                let _ = x.kill();
                let _ = x.wait();
                continue;
            }
            let xterm = Command::new("xterm")
                .args(["-display", &display, "-geometry", "80x24+0+0"])
                .args(["-bg", "#00c000", "-fg", "black", "-e", "sh"])
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("start xterm")?;
            return Ok(Some(Self {
                display,
                children: vec![x, xterm],
            }));
        }
        Ok(None)
    }
}

/// The server process and its database.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    database: String,
    _program: Program,
}

impl Server {
    /// `secours server audit-verify`'s verdict.
    pub fn audit_verify(&self) -> Result<String> {
        let out = me()?
            .args(["server", "--database-url", &self.database, "audit-verify"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "audit-verify: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

/// `secours server init`, then `secours server` on a free loopback port.
pub fn server(dir: &Path, master: &str, password: &str, wait: Duration) -> Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let database = format!("sqlite://{}?mode=rwc", dir.join("server.db").display());
    let init = me()?
        .args(["server", "--database-url", &database, "init"])
        .args([
            "--org",
            "Demo Help Desk",
            "--name",
            "Admin",
            "--email",
            master,
        ])
        .env("SECOURS_INIT_PASSWORD", password)
        .stdin(Stdio::null())
        .output()?;
    if !init.status.success() {
        bail!(
            "secours server init: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let mut program = Program::start(
        "server",
        me()?
            .args(["server", "--database-url", &database])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &base, "--stun-listen", "127.0.0.1:0"]),
        wait,
    )?;
    program.say_until("the server's start", |l| l.contains("listening"))?;
    Ok(Server {
        base,
        database,
        _program: program,
    })
}

/// The administrator's part (the administration centre's routes): a
/// technician group and its technician, whose first password is changed
/// as POL-4 requires.
pub fn add_technician(base: &str, master: &str, tech: &str, password: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let anon = ServerClient::new(base)?;
        let admin = anon.login(master, Secret::from(password)).await?.token;
        let http = reqwest::Client::new();
        let post = |path: &str, body: Value| {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(admin.expose())
                .json(&body)
                .send();
            async move {
                let r = r.await?;
                let status = r.status();
                let v: Value = r.json().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(anyhow!("{status} {v}"));
                }
                Ok(v)
            }
        };
        let group = post(
            "/api/v1/tech-groups",
            json!({"name": "Printers and peripherals", "settings": {"permissions": [
                "chat", "remote_control", "desktop_view", "send_files", "receive_files",
                "clipboard", "record", "private_sessions"]}}),
        )
        .await
        .context("create the technician group")?;
        post(
            "/api/v1/users",
            json!({"role": "technician", "name": "Alex Martin", "nickname": "Alex",
                "email": tech, "password": "Initial-Pass1%", "tech_group_id": group["id"]}),
        )
        .await
        .context("create the technician")?;
        let first = anon.login(tech, Secret::from("Initial-Pass1%")).await?;
        anon.with_token(first.token)
            .change_password(Secret::from("Initial-Pass1%"), Secret::from(password))
            .await?;
        anyhow::Ok(())
    })
}

/// Clicks into the customer's xterm and types a command there; the file it
/// writes appears.
pub fn remote_control(
    console: &mut Program,
    sid: &str,
    first: &Value,
    _x: &Xvfb,
    dir: &Path,
    wait: Duration,
) -> Result<()> {
    let (w, h) = (
        first["width"].as_i64().unwrap_or(0),
        first["height"].as_i64().unwrap_or(0),
    );
    console.send(&json!({"cmd": "click", "session_id": sid, "x": w / 5, "y": h / 8}))?;
    console
        .send(&json!({"cmd": "type", "session_id": sid, "text": "echo secours > typed.txt\n"}))?;
    let typed = dir.join("typed.txt");
    let deadline = Instant::now() + wait;
    while std::fs::read_to_string(&typed).ok().as_deref() != Some("secours\n") {
        if Instant::now() > deadline {
            bail!("the typed command never wrote {}", typed.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Clipboard both ways through the customer's real X clipboard (xclip
/// plays the customer's copy and paste); `None` without xclip.
pub fn clipboard(
    console: &mut Program,
    applet: &mut Program,
    sid: &str,
    x: &Xvfb,
) -> Result<Option<String>> {
    if !have("xclip") {
        return Ok(None);
    }
    console.send(&json!({"cmd": "request", "session_id": sid, "permission": "clipboard"}))?;
    applet.answer("share the clipboard", "y")?;
    console.event("consent", |v| v["actions"][0] == "clipboard")?;
    // The applet's clipboard thread takes its first look.
    std::thread::sleep(Duration::from_millis(600));
    let copied = "Printer: HP LaserJet 4000, queue \"office\"";
    let mut xclip = Command::new("xclip")
        .args(["-display", &x.display, "-selection", "clipboard", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("run xclip")?;
    xclip
        .stdin
        .take()
        .context("xclip's input")?
        .write_all(copied.as_bytes())?;
    xclip.wait()?;
    let got = console.event("clipboard", |v| v["text"].is_string())?;
    let text = got["text"].as_str().unwrap_or_default().to_owned();
    if text != copied {
        bail!("the clipboard carried {text:?}");
    }
    let pasted = "lpstat -p; cancel -a";
    console.send(&json!({"cmd": "clipboard", "session_id": sid, "text": pasted}))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("xclip")
            .args(["-display", &x.display, "-selection", "clipboard", "-o"])
            .stderr(Stdio::null())
            .output()?;
        if out.stdout == pasted.as_bytes() {
            return Ok(Some(text));
        }
        if Instant::now() > deadline {
            bail!("the technician's copy never reached the customer's clipboard");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
