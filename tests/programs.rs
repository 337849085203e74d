//! The three programs as a help desk runs them, each a real process: a
//! `secours server`, a headless `secours console`, and a `secours applet`
//! sharing an Xvfb display where real X clients (xterm) run. The customer
//! answers consent at the applet's terminal (its standard input).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_secours");
const MASTER: &str = "root@helpdesk.example";
const TECH: &str = "alex@helpdesk.example";
const PASSWORD: &str = "Programs-Pass1%";
const WAIT: Duration = Duration::from_secs(60);

/// Children killed when the test ends, whatever happened.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Xvfb on a free display, and the display's name.
fn xvfb(procs: &mut Procs) -> String {
    for n in 120..200 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
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
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
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
fn expect_line<T>(rx: &mpsc::Receiver<String>, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
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

fn event(rx: &mpsc::Receiver<String>, name: &str, pick: impl Fn(&Value) -> bool) -> Value {
    expect_line(rx, name, |l| {
        let v: Value = serde_json::from_str(l).ok()?;
        (v["event"] == name && pick(&v)).then_some(v)
    })
}

fn send(stdin: &mut ChildStdin, v: Value) {
    writeln!(stdin, "{v}").unwrap();
    stdin.flush().unwrap();
}

/// A server with an organisation, a technician group and a technician.
fn server(procs: &mut Procs, dir: &Path) -> String {
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
            json!({"name": "Desk", "settings": {"permissions": ["chat", "remote_control",
                "desktop_view", "send_files", "receive_files", "private_sessions", "file_manager"]}}),
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

/// Share of a PNG's pixels within 40 of `rgb` on every channel.
fn share_of(png_path: &Path, rgb: [u8; 3]) -> f64 {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let total = px.len() / step;
    let near = px
        .chunks_exact(step)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 40))
        .count();
    near as f64 / total as f64
}

/// One scenario at a time: each runs three programs, a display and an
/// encoder self-test, and the machine has few cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn session_runs(path: &str) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for tool in ["Xvfb", "xterm", "xwininfo"] {
        if !have(tool) {
            eprintln!("SKIPPED: {tool} is not installed (scripts/setup.sh installs it)");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let display = xvfb(&mut procs);
    // A real X client with a known colour, where the console will type.
    let xterm = Command::new("xterm")
        .args([
            "-display",
            &display,
            "-geometry",
            "80x24+0+0",
            "-bg",
            "#00c000",
        ])
        .args(["-fg", "black", "-e", "sh"])
        .current_dir(dir.path())
        .spawn()
        .expect("start xterm");
    procs.0.push(xterm);
    let base = server(&mut procs, dir.path());

    let mut console = Command::new(BIN)
        .args([
            "console",
            "--headless",
            "--server",
            &base,
            "--email",
            TECH,
            "--path",
            path,
        ])
        .arg("--files-dir")
        .arg(dir.path().join("console-files"))
        .env("SECOURS_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let events = lines(&mut console);
    let mut commands = console.stdin.take().unwrap();
    procs.0.push(console);
    event(&events, "ready", |_| true);
    send(&mut commands, json!({"cmd": "create_pin"}));
    let pin = event(&events, "pin", |_| true);
    let (sid, code) = (
        pin["session_id"].as_str().unwrap().to_owned(),
        pin["pin"].as_str().unwrap().to_owned(),
    );

    let received: PathBuf = dir.path().join("received");
    let share = shared_folder(dir.path());
    let mut applet = Command::new(BIN)
        .args(["applet", "--server", &base, "--pin", &code, "--name", "Sam"])
        .args(["--display", &display, "--path", path])
        .env(
            "SECOURS_LOG",
            std::env::var("SECOURS_TEST_APPLET_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .arg("--received-dir")
        .arg(&received)
        .arg("--files-root")
        .arg(&share)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines(&mut applet);
    let mut customer = applet.stdin.take().unwrap();
    expect_line(&said, "the applet's wait", |l| {
        l.contains("Waiting for Alex").then_some(())
    });
    event(&events, "queue", |v| {
        v["sessions"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["id"] == sid.as_str() && s["state"] == "waiting")
        })
    });
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    let established = event(&events, "established", |_| true);
    let sas = established["sas"].as_str().unwrap().to_owned();
    expect_line(&said, "the short authentication string", |l| {
        l.contains(&format!("Short authentication string: {sas}"))
            .then_some(())
    });

    // Input before consent is refused by the console's own session.
    send(
        &mut commands,
        json!({"cmd": "type", "session_id": sid, "text": "x"}),
    );
    event(&events, "refused", |v| {
        v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("input:"))
    });

    // The customer is asked, and says yes at the terminal.
    send(
        &mut commands,
        json!({"cmd": "request", "session_id": sid, "permission": "remote_control"}),
    );
    expect_line(&said, "the consent question", |l| {
        l.contains("control your screen").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    event(&events, "consent", |v| v["allowed"] == true);
    let first = event(&events, "first_frame", |_| true);
    // The start-up self-test may pick a smaller size on a busy machine:
    // the screen's shape stays.
    let (w, h) = (
        first["width"].as_i64().unwrap(),
        first["height"].as_i64().unwrap(),
    );
    assert_eq!(w * 3, h * 4, "{first}");

    // What the console sees is what the X client drew: the xterm's green.
    let shot = dir.path().join("screen.png");
    let deadline = Instant::now() + WAIT;
    loop {
        send(
            &mut commands,
            json!({"cmd": "snapshot", "session_id": sid, "path": shot}),
        );
        event(&events, "snapshot", |_| true);
        let green = share_of(&shot, [0, 0xc0, 0]);
        if green > 0.15 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the xterm's green never showed ({green:.3})"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Remote control of a real program: click into the xterm, type a
    // command and Enter; the file appears with that content.
    send(
        &mut commands,
        json!({"cmd": "click", "session_id": sid, "x": w / 5, "y": h / 8}),
    );
    send(
        &mut commands,
        json!({"cmd": "type", "session_id": sid, "text": "echo secours > typed.txt\n"}),
    );
    let typed = dir.path().join("typed.txt");
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(&typed).ok().as_deref() != Some("secours\n") {
        assert!(Instant::now() < deadline, "typed.txt never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A file to the customer: asked, allowed at the terminal, MD5 checked
    // by the applet, and on disk where the customer can see it.
    let driver: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let sent = dir.path().join("driver.bin");
    std::fs::write(&sent, &driver).unwrap();
    send(
        &mut commands,
        json!({"cmd": "send_file", "session_id": sid, "path": sent}),
    );
    expect_line(&said, "the file question", |l| {
        l.contains("send you a file").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    let done = event(&events, "file", |v| v["direction"] == "sent");
    assert_eq!(done["verified"], true, "{done}");
    expect_line(&said, "the applet's receipt", |l| {
        (l.starts_with("Received driver.bin") && l.contains("verified")).then_some(())
    });
    assert_eq!(std::fs::read(received.join("driver.bin")).unwrap(), driver);

    file_manager(&mut commands, &events, &mut customer, &said, &sid, &share);

    // The end: the applet says so and exits, its rights gone.
    send(&mut commands, json!({"cmd": "end", "session_id": sid}));
    event(&events, "closed", |_| true);
    expect_line(&said, "the end", |l| {
        l.contains("The session is over").then_some(())
    });
    let status = applet.wait().unwrap();
    assert!(status.success(), "the applet exited with {status}");
    send(&mut commands, json!({"cmd": "quit"}));
}

/// The customer's shared folder: a document, and beside the folder a
/// secret that a link inside points to.
fn shared_folder(dir: &Path) -> PathBuf {
    let share = dir.join("share");
    std::fs::create_dir_all(share.join("Documents")).unwrap();
    let doc: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(share.join("Documents/report.pdf"), doc).unwrap();
    std::fs::write(dir.join("secret.txt"), b"not yours").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), share.join("escape")).unwrap();
    share
}

/// The file manager (CONSOLE-6): allowed at the terminal, a listing, a
/// `../` and a link escape refused with a clear error, a file fetched with
/// its MD5 checked on the console's disk.
fn file_manager(
    commands: &mut ChildStdin,
    events: &mpsc::Receiver<String>,
    customer: &mut ChildStdin,
    said: &mpsc::Receiver<String>,
    sid: &str,
    share: &Path,
) {
    send(
        commands,
        json!({"cmd": "request", "session_id": sid, "permission": "file_manager"}),
    );
    expect_line(said, "the file manager question", |l| {
        l.contains("browse your files").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    event(events, "consent", |v| {
        v["allowed"] == true && v["actions"][0] == "file_manager"
    });
    let mut list = |path: &str| {
        send(
            commands,
            json!({"cmd": "list", "session_id": sid, "path": path}),
        );
        event(events, "file_list", |v| v["path"] == path)
    };
    let root = list("");
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Documents", "escape"], "{root}");
    assert_eq!(root["entries"][1]["symlink"], true, "{root}");
    assert_eq!(list("Documents")["entries"][0]["size"], 300_000);
    let up = list("../");
    let error = up["error"].as_str().unwrap_or_default();
    assert!(error.contains("leaves the shared folder"), "{up}");

    let mut get = |path: &str| {
        send(
            commands,
            json!({"cmd": "get", "session_id": sid, "path": path}),
        );
        event(events, "file_action", |v| v["path"] == path)
    };
    let escape = get("escape");
    assert_eq!(escape["ok"], false, "{escape}");
    let error = escape["error"].as_str().unwrap_or_default();
    assert!(error.contains("escapes the shared folder"), "{escape}");
    let fetched = get("Documents/report.pdf");
    assert_eq!(fetched["ok"], true, "{fetched}");
    let file = event(events, "file", |v| v["direction"] == "received");
    assert_eq!(file["verified"], true, "{file}");
    let bytes = std::fs::read(file["path"].as_str().unwrap()).unwrap();
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes));
    assert_eq!(bytes.len(), 300_000);
    assert_eq!(file["md5"], md5.as_str(), "{file}");

    // A file put into a folder of the customer's, renamed, then deleted.
    let local = share.parent().unwrap().join("notes.txt");
    std::fs::write(&local, b"from the technician").unwrap();
    send(
        commands,
        json!({"cmd": "put", "session_id": sid, "path": local, "dir": "Documents"}),
    );
    let put = event(events, "file", |v| v["direction"] == "sent");
    assert_eq!(put["verified"], true, "{put}");
    let landed = share.join("Documents/notes.txt");
    assert_eq!(std::fs::read(&landed).unwrap(), b"from the technician");
    let mut act = |cmd: Value| {
        let action = cmd["cmd"].clone();
        send(commands, cmd);
        event(events, "file_action", |v| v["action"] == action)
    };
    let renamed = act(json!({"cmd": "rename", "session_id": sid,
        "path": "Documents/notes.txt", "new_path": "notes-2.txt"}));
    assert_eq!(renamed["ok"], true, "{renamed}");
    assert!(share.join("notes-2.txt").exists() && !landed.exists());
    let deleted = act(json!({"cmd": "delete", "session_id": sid, "path": "notes-2.txt"}));
    assert_eq!(deleted["ok"], true, "{deleted}");
    assert!(!share.join("notes-2.txt").exists());
}

#[test]
fn pin_pickup_screen_and_control_between_real_processes() {
    session_runs("auto");
}

#[test]
fn the_same_session_over_the_relay_only() {
    session_runs("relay");
}
