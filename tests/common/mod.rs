//! What the end-to-end tests of the programs share: the programs as
//! child processes (their output read line by line), an Xvfb display, and
//! a server with an organisation, a technician group and a technician.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_secours");
pub const MASTER: &str = "root@helpdesk.example";
pub const TECH: &str = "alex@helpdesk.example";
pub const PASSWORD: &str = "Programs-Pass1%";
pub const WAIT: Duration = Duration::from_secs(60);

/// Children killed when the test ends, whatever happened: the newest
/// first, so that programs go before the X servers they draw on.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Xvfb on a free display, and the display's name.
pub fn xvfb(procs: &mut Procs) -> String {
    for n in 120..200 {
        if secours_applet::x_display_in_use(n) {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args([
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let up = Command::new("xwininfo")
                .args(["-root", "-display", &format!(":{n}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                procs.0.push(child);
                return format!(":{n}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no display free for Xvfb");
}

/// Lines of a child's standard output, through a channel.
pub fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // Keep draining when nobody listens: the child must never
            // block or fail on a full pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits for a line `pick` accepts; panics with what came meanwhile.
pub fn expect_line<T>(
    rx: &mpsc::Receiver<String>,
    what: &str,
    pick: impl Fn(&str) -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(t) = pick(&line) {
                    return t;
                }
                seen.push(line);
            }
            Err(_) => break,
        }
    }
    panic!("no {what}; seen:\n{}", seen.join("\n"));
}

pub fn event(rx: &mpsc::Receiver<String>, name: &str, pick: impl Fn(&Value) -> bool) -> Value {
    expect_line(rx, name, |l| {
        let v: Value = serde_json::from_str(l).ok()?;
        (v["event"] == name && pick(&v)).then_some(v)
    })
}

pub fn send(stdin: &mut ChildStdin, v: Value) {
    writeln!(stdin, "{v}").unwrap();
    stdin.flush().unwrap();
}

/// A server with an organisation, a technician group and a technician.
pub fn server(procs: &mut Procs, dir: &Path) -> String {
    server_with(
        procs,
        dir,
        &[
            "chat",
            "remote_control",
            "desktop_view",
            "send_files",
            "receive_files",
            "private_sessions",
            "clipboard",
            "record",
            "system_info",
            "send_url",
            "reboot",
            "file_manager",
        ],
    )
}

/// A server whose technician group grants `permissions`.
pub fn server_with(procs: &mut Procs, dir: &Path, permissions: &[&str]) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let db = format!("sqlite://{}?mode=rwc", dir.join("s.db").display());
    let mut init = Command::new(BIN)
        .args([
            "server",
            "--database-url",
            &db,
            "init",
            "--org",
            "Help Desk",
        ])
        .args(["--name", "Root", "--email", MASTER])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(init.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(init.wait().unwrap().success(), "server init");
    let mut node = Command::new(BIN)
        .args([
            "server",
            "--database-url",
            &db,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--public-url", &base, "--stun-listen", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(&mut node);
    procs.0.push(node);
    expect_line(&out, "the server's start", |l| {
        l.contains("listening").then_some(())
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: &str, token: Option<String>, body: Value| {
            let mut r = http.post(format!("{base}{path}")).json(&body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            async move {
                let r = r.send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                r.json::<Value>().await.unwrap()
            }
        };
        let login = |email: &str, pw: &str| json!({"email": email, "password": pw});
        let master = post("/api/v1/auth/login", None, login(MASTER, PASSWORD)).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let group = post(
            "/api/v1/tech-groups",
            Some(master.clone()),
            json!({"name": "Desk", "settings": {"permissions": permissions}}),
        )
        .await;
        post(
            "/api/v1/users",
            Some(master),
            json!({"role": "technician", "name": "Alex Martin", "nickname": "Alex",
                "email": TECH, "password": "Initial-Pass1%", "tech_group_id": group["id"]}),
        )
        .await;
        let first = post("/api/v1/auth/login", None, login(TECH, "Initial-Pass1%")).await;
        post(
            "/api/v1/me/password",
            first["token"].as_str().map(str::to_owned),
            json!({"current_password": "Initial-Pass1%", "new_password": PASSWORD}),
        )
        .await;
    });
    base
}

/// One scenario at a time: each runs three programs, a display and an
/// encoder self-test, and the machine has few cores.
pub static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `secours applet` on a synthetic screen with its state under `dir`.
pub fn applet(
    dir: &Path,
    base: &str,
    entry: &[&str],
) -> (Child, mpsc::Receiver<String>, ChildStdin) {
    let marker = dir.join("rebooted");
    let mut child = Command::new(BIN)
        .args(["applet", "--terminal"])
        .args(entry)
        .args([
            "--server",
            base,
            "--synthetic",
            "320x240",
            "--encoder",
            "aom",
        ])
        .arg("--received-dir")
        .arg(dir.join("received"))
        .arg("--reboot-command")
        .arg(format!("touch {}", marker.display()))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines(&mut child);
    let stdin = child.stdin.take().unwrap();
    (child, said, stdin)
}

pub fn answer(said: &mpsc::Receiver<String>, stdin: &mut ChildStdin, question: &str) {
    expect_line(said, question, |l| l.contains(question).then_some(()));
    writeln!(stdin, "y").unwrap();
    stdin.flush().unwrap();
}

/// `secours console` logged in as the technician (`extra`: `--headless`,
/// `--path relay`...): its output lines and its standard input. Headless,
/// it has said `ready` already.
pub fn console(
    procs: &mut Procs,
    base: &str,
    dir: &Path,
    extra: &[&str],
) -> (mpsc::Receiver<String>, ChildStdin) {
    let mut child = Command::new(BIN)
        .args(["console", "--server", base, "--email", TECH])
        .args(extra)
        .arg("--files-dir")
        .arg(dir.join("console-files"))
        .env("SECOURS_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(&mut child);
    let stdin = child.stdin.take().unwrap();
    procs.0.push(child);
    if extra.contains(&"--headless") {
        event(&out, "ready", |_| true);
    }
    (out, stdin)
}

/// A customer's desktop: Xvfb and a green xterm running `sh` in `dir`;
/// `None` (the test says SKIPPED) when a tool is missing.
pub fn desktop(procs: &mut Procs, dir: &Path, tools: &[&str]) -> Option<String> {
    for tool in ["Xvfb", "xterm", "xwininfo"].iter().chain(tools) {
        if !have(tool) {
            eprintln!("SKIPPED: {tool} is not installed (scripts/setup.sh installs it)");
            return None;
        }
    }
    let display = xvfb(procs);
    let xterm = Command::new("xterm")
        .args(["-display", &display, "-geometry", "80x24+0+0"])
        .args(["-bg", "#00c000", "-fg", "black", "-e", "sh"])
        .current_dir(dir)
        .spawn()
        .expect("start xterm");
    procs.0.push(xterm);
    Some(display)
}

/// What the administrators set: the group's routing (maximum, fields,
/// texts) and both surveys. The master's token.
pub fn configure_desk(base: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let master = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": MASTER, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let groups: Value = http
            .get(format!("{base}/api/v1/tech-groups"))
            .bearer_auth(&master)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let group = groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "Desk")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let put = |path: String, body: Value| {
            let r = http
                .put(format!("{base}{path}"))
                .bearer_auth(&master)
                .json(&body);
            async move {
                let r = r.send().await.unwrap();
                let status = r.status();
                assert!(
                    status.is_success(),
                    "{path}: {status} {}",
                    r.text().await.unwrap()
                );
            }
        };
        put(
            format!("/api/v1/tech-groups/{group}/routing"),
            json!({"max_sessions": 3, "fields": ["Ticket"],
                   "console": {"create_dialog": "Ask for the ticket number first.",
                               "info_link_label": "Desk handbook",
                               "info_link_url": "https://handbook.example/desk",
                               "email_text": "Hello, please open {link} or type {pin}."},
                   "monitoring": "ask"}),
        )
        .await;
        put(
            "/api/v1/surveys/technician".into(),
            json!({"enabled": true, "rating": true, "questions": [
                {"id": "solved", "label": "Solved?", "type": "yes_no", "required": true},
                {"id": "remarks", "label": "Remarks", "type": "text"}]}),
        )
        .await;
        put(
            "/api/v1/surveys/customer".into(),
            json!({"enabled": true, "rating": true, "questions": []}),
        )
        .await;
        master
    })
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The technician survey report's rows (as the master reads it).
pub fn technician_survey_rows(base: &str, master: &str) -> Vec<Vec<String>> {
    report_rows(base, master, "technician_survey")
}

/// A report's rows since the epoch (as the master reads it).
pub fn report_rows(base: &str, master: &str, kind: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r: Value = reqwest::Client::new()
            .get(format!(
                "{base}/api/v1/reports/{kind}?from=0&to={}",
                now_ms() + 60_000
            ))
            .bearer_auth(master)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(r["rows"].clone()).unwrap()
    })
}

/// An opener for the applet's `--url-opener`: it writes the address it
/// is given to `opened.txt` beside it.
pub fn opener(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("opener.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nprintf '%s' \"$1\" > \"$(dirname \"$0\")/opened.txt\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
