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
                "desktop_view", "send_files", "receive_files", "private_sessions",
                "clipboard", "record", "system_info", "send_url", "reboot"]}}),
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
    let mut applet = Command::new(BIN)
        .args(["applet", "--server", &base, "--pin", &code, "--name", "Sam"])
        .args(["--display", &display, "--path", path])
        // The clipboard is $DISPLAY's.
        .env("DISPLAY", &display)
        .env(
            "SECOURS_LOG",
            std::env::var("SECOURS_TEST_APPLET_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .arg("--received-dir")
        .arg(&received)
        .arg("--url-opener")
        .arg(opener(dir.path()))
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

    clipboard_both_ways(
        &mut commands,
        &events,
        &mut customer,
        &said,
        &display,
        &sid,
        dir.path(),
    );

    system_info_and_url(
        &mut commands,
        &events,
        &mut customer,
        &said,
        &sid,
        dir.path(),
    );

    // A file from the customer, chosen at the terminal: the technician's
    // console keeps it in the session's folder, MD5 checked.
    let log: Vec<u8> = (0..700 * 1024u32).map(|i| (i % 239) as u8).collect();
    let log_path = dir.path().join("printer.log");
    std::fs::write(&log_path, &log).unwrap();
    writeln!(customer, "/send {}", log_path.display()).unwrap();
    customer.flush().unwrap();
    let back = event(&events, "file", |v| v["direction"] == "received");
    assert_eq!(back["verified"], true, "{back}");
    assert_eq!(
        std::fs::read(back["path"].as_str().unwrap()).unwrap(),
        log,
        "{back}"
    );

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

/// A harmless "browser": writes the URL it is given next to itself.
fn opener(dir: &Path) -> PathBuf {
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

/// System information and a pushed web page, each after the customer's
/// yes; a URL that is not http(s) is refused before it is sent.
fn system_info_and_url(
    commands: &mut ChildStdin,
    events: &mpsc::Receiver<String>,
    customer: &mut ChildStdin,
    said: &mpsc::Receiver<String>,
    sid: &str,
    dir: &Path,
) {
    send(commands, json!({"cmd": "system_info", "session_id": sid}));
    expect_line(said, "the system information question", |l| {
        l.contains("read your system information").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    let info = event(events, "system_info", |_| true);
    let items = info["items"].as_array().unwrap();
    let value = |section: &str, key: &str| {
        items
            .iter()
            .find(|i| i["section"] == section && i["key"] == key)
            .and_then(|i| i["value"].as_str())
            .map(str::to_owned)
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        value("system", "host").as_deref(),
        Some(host.trim()),
        "{info}"
    );
    assert!(value("memory", "total").is_some(), "{info}");
    assert!(items.iter().any(|i| i["section"] == "processes"), "{info}");

    send(
        commands,
        json!({"cmd": "open_url", "session_id": sid, "url": "file:///etc/passwd"}),
    );
    event(events, "refused", |v| {
        v["reason"].as_str().is_some_and(|r| r.contains("http"))
    });
    let url = "https://support.example/kb/printer?id=41";
    send(
        commands,
        json!({"cmd": "open_url", "session_id": sid, "url": url}),
    );
    expect_line(said, "the web page question", |l| {
        l.contains("open a web page").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    wait_for("the pushed page opened", || {
        std::fs::read_to_string(dir.join("opened.txt"))
            .ok()
            .as_deref()
            == Some(url)
    });
}

/// `xclip` on the applet's display: what it holds, as `target`.
fn xclip_out(display: &str, target: &str) -> Option<Vec<u8>> {
    let out = Command::new("xclip")
        .args([
            "-display",
            display,
            "-selection",
            "clipboard",
            "-o",
            "-t",
            target,
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// `xclip` owns the clipboard of the applet's display with `data`.
fn xclip_in(display: &str, target: &str, data: &[u8]) {
    let mut c = Command::new("xclip")
        .args([
            "-display",
            display,
            "-selection",
            "clipboard",
            "-i",
            "-t",
            target,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run xclip");
    c.stdin.take().unwrap().write_all(data).unwrap();
    // xclip forks a child that serves the selection; the parent exits.
    assert!(c.wait().unwrap().success());
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small PNG of one colour.
fn png_of(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    writer
        .write_image_data(&rgb.repeat((w * h) as usize))
        .unwrap();
    writer.finish().unwrap();
    out
}

/// Clipboard, once the customer allows it: text copied on the applet's
/// display with xclip reaches the console; the console's text and image
/// are readable with `xclip -o` on the display; nothing echoes back.
fn clipboard_both_ways(
    commands: &mut ChildStdin,
    events: &mpsc::Receiver<String>,
    customer: &mut ChildStdin,
    said: &mpsc::Receiver<String>,
    display: &str,
    sid: &str,
    dir: &Path,
) {
    if !have("xclip") {
        eprintln!("SKIPPED (clipboard part): xclip is not installed");
        return;
    }
    send(
        commands,
        json!({"cmd": "request", "session_id": sid, "permission": "clipboard"}),
    );
    expect_line(said, "the clipboard question", |l| {
        l.contains("share the clipboard").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    event(events, "consent", |v| {
        v["allowed"] == true && v["actions"][0] == "clipboard"
    });
    // Give the applet's clipboard thread its first look.
    std::thread::sleep(Duration::from_millis(600));
    xclip_in(display, "UTF8_STRING", "ticket #4711 — ünïcode".as_bytes());
    let got = event(events, "clipboard", |v| v["text"].is_string());
    assert_eq!(got["text"], "ticket #4711 — ünïcode");

    send(
        commands,
        json!({"cmd": "clipboard", "session_id": sid, "text": "from the technician"}),
    );
    wait_for("the technician's text in xclip -o", || {
        xclip_out(display, "UTF8_STRING").as_deref() == Some(b"from the technician".as_slice())
    });

    let image = dir.join("red.png");
    std::fs::write(&image, png_of(32, 16, [250, 10, 10])).unwrap();
    send(
        commands,
        json!({"cmd": "clipboard", "session_id": sid, "image": image}),
    );
    wait_for("the technician's image in xclip -o", || {
        xclip_out(display, "image/png").is_some_and(|png| {
            let mut r = png::Decoder::new(png.as_slice()).read_info().unwrap();
            let mut buf = vec![0; r.output_buffer_size()];
            let info = r.next_frame(&mut buf).unwrap();
            (info.width, info.height) == (32, 16) && buf[..3] == [250, 10, 10]
        })
    });
    // An image copied on the customer's side arrives as a PNG file, and
    // nothing the console set came back as the customer's change (no echo).
    xclip_in(display, "image/png", &png_of(8, 8, [10, 10, 250]));
    let got = event(events, "clipboard", |v| {
        assert!(v["text"].is_null(), "an echo of the technician's text: {v}");
        true
    });
    assert_eq!(
        (got["width"].as_u64(), got["height"].as_u64()),
        (Some(8), Some(8)),
        "an echo of the technician's image: {got}"
    );
}

#[test]
fn pin_pickup_screen_and_control_between_real_processes() {
    session_runs("auto");
}

#[test]
fn the_same_session_over_the_relay_only() {
    session_runs("relay");
}

/// Starts `secours applet` on a synthetic screen with its state under `dir`.
fn applet(dir: &Path, base: &str, entry: &[&str]) -> (Child, mpsc::Receiver<String>, ChildStdin) {
    let marker = dir.join("rebooted");
    let mut child = Command::new(BIN)
        .arg("applet")
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

fn answer(said: &mpsc::Receiver<String>, stdin: &mut ChildStdin, question: &str) {
    expect_line(said, question, |l| l.contains(question).then_some(()));
    writeln!(stdin, "y").unwrap();
    stdin.flush().unwrap();
}

/// CONSOLE-9: the applet is killed (`kill -9`) in the middle of a file; a
/// new `secours applet --reconnect` comes back to the same session without
/// a code, and the file resumes and completes with the right MD5. Then the
/// technician restarts the computer (a harmless reboot command here): the
/// applet leaves the session open, `--reconnect` resumes it again, and at
/// the end nothing is left to reconnect with.
#[test]
fn a_killed_applet_and_a_restarted_computer_come_back_to_the_session() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut procs = Procs(vec![]);
    let base = server(&mut procs, dir);
    let mut console = Command::new(BIN)
        .args(["console", "--headless", "--server", &base, "--email", TECH])
        .arg("--files-dir")
        .arg(dir.join("console-files"))
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
    let sid = pin["session_id"].as_str().unwrap().to_owned();
    let (first, said, mut customer) = applet(dir, &base, &["--pin", pin["pin"].as_str().unwrap()]);
    procs.0.push(first);
    expect_line(&said, "the wait", |l| {
        l.contains("Waiting for Alex").then_some(())
    });
    event(&events, "queue", |v| v["sessions"][0]["id"] == sid.as_str());
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    event(&events, "established", |_| true);

    // A file big enough to be cut in the middle.
    let big: Vec<u8> = (0..48 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sent = dir.join("image.iso");
    std::fs::write(&sent, &big).unwrap();
    send(
        &mut commands,
        json!({"cmd": "send_file", "session_id": sid, "path": sent}),
    );
    answer(&said, &mut customer, "send you a file");
    let part = dir.join("received").join("image.iso.part");
    wait_for("a part of the file", || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > 1024 * 1024)
    });
    // kill -9: no goodbye, no cleanup.
    let mut killed = procs.0.pop().unwrap();
    killed.kill().unwrap();
    killed.wait().unwrap();
    let held = std::fs::metadata(&part).unwrap().len();
    assert!(held < big.len() as u64, "the file finished before the kill");
    event(&events, "reconnecting", |_| true);

    let (again, said, mut customer) = applet(dir, &base, &["--reconnect"]);
    procs.0.push(again);
    expect_line(&said, "the reconnection", |l| {
        l.contains("Reconnecting").then_some(())
    });
    let established = event(&events, "established", |_| true);
    let sas = established["sas"].as_str().unwrap().to_owned();
    expect_line(&said, "the new SAS", |l| {
        l.contains(&format!("Short authentication string: {sas}"))
            .then_some(())
    });
    // The console offers the file again; the customer says yes again; it
    // resumes from what the .part holds.
    answer(&said, &mut customer, "send you a file");
    let done = event(&events, "file", |v| v["direction"] == "sent");
    assert_eq!(done["verified"], true, "{done}");
    expect_line(&said, "the receipt", |l| {
        (l.starts_with("Received image.iso") && l.contains("verified")).then_some(())
    });
    assert!(std::fs::read(dir.join("received").join("image.iso")).unwrap() == big);
    assert!(!part.exists());

    // The technician restarts the computer.
    send(&mut commands, json!({"cmd": "reboot", "session_id": sid}));
    answer(&said, &mut customer, "restart your computer");
    expect_line(&said, "the restart", |l| {
        l.contains("Restarting").then_some(())
    });
    let mut rebooting = procs.0.pop().unwrap();
    assert!(rebooting.wait().unwrap().success());
    assert!(dir.join("rebooted").exists(), "the reboot command ran");
    let autostart = dir.join("config/autostart/secours-reconnect.desktop");
    assert!(
        std::fs::read_to_string(&autostart)
            .unwrap()
            .contains("applet --reconnect"),
        "the applet comes back at the next login"
    );
    event(&events, "reconnecting", |_| true);
    let (after, said, _customer) = applet(dir, &base, &["--reconnect"]);
    procs.0.push(after);
    event(&events, "established", |_| true);
    expect_line(&said, "the session again", |l| {
        l.contains("Short authentication string").then_some(())
    });

    // The end: nothing is left to come back with.
    send(&mut commands, json!({"cmd": "end", "session_id": sid}));
    event(&events, "closed", |_| true);
    expect_line(&said, "the end", |l| {
        l.contains("The session is over").then_some(())
    });
    let mut last = procs.0.pop().unwrap();
    assert!(last.wait().unwrap().success());
    assert!(!dir.join("state/secours/reconnect.json").exists());
    assert!(!autostart.exists());
    let (mut late, said, _) = applet(dir, &base, &["--reconnect"]);
    assert!(!late.wait().unwrap().success(), "nothing to reconnect to");
    drop(said);
    send(&mut commands, json!({"cmd": "quit"}));
}
