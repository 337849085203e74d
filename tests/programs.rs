//! The three programs as a help desk runs them, each a real process: a
//! `secours server`, a headless `secours console`, and a `secours applet`
//! sharing an Xvfb display where real X clients (xterm) run. The customer
//! answers consent at the applet's terminal (its standard input).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

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

fn session_runs(path: &str) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    // A real X client with a known colour, where the console will type.
    let Some(display) = desktop(&mut procs, dir.path(), &[]) else {
        return;
    };
    let base = server(&mut procs, dir.path());

    let (events, mut commands) = console(
        &mut procs,
        &base,
        dir.path(),
        &["--headless", "--path", path],
    );
    send(&mut commands, json!({"cmd": "create_pin"}));
    let pin = event(&events, "pin", |_| true);
    let (sid, code) = (
        pin["session_id"].as_str().unwrap().to_owned(),
        pin["pin"].as_str().unwrap().to_owned(),
    );

    let received: PathBuf = dir.path().join("received");
    let share = shared_folder(dir.path());
    let mut applet = Command::new(BIN)
        .args(["applet", "--terminal", "--server", &base, "--pin", &code])
        .args(["--name", "Sam"])
        .args(["--display", &display, "--path", path])
        // The clipboard is $DISPLAY's.
        .env("DISPLAY", &display)
        .env(
            "SECOURS_LOG",
            std::env::var("SECOURS_TEST_APPLET_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .arg("--received-dir")
        .arg(&received)
        .arg("--files-root")
        .arg(&share)
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
    expect_line(&said, "the help desk's name", |l| {
        l.contains("Welcome to Help Desk.").then_some(())
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
    // command and Enter; the file appears with that content. The pictures
    // meanwhile go to a Y4M stream.
    let y4m = dir.path().join("screen.y4m");
    send(
        &mut commands,
        json!({"cmd": "stream", "session_id": sid, "path": y4m}),
    );
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
    // The typed text shows, then the stream stops: a valid Y4M of it.
    std::thread::sleep(Duration::from_millis(500));
    send(&mut commands, json!({"cmd": "stream", "session_id": sid}));
    let stream = event(&events, "stream", |_| true);
    let frames = stream["frames"].as_u64().unwrap();
    assert!(frames >= 1, "{stream}");
    let bytes = std::fs::read(&y4m).unwrap();
    let header = format!("YUV4MPEG2 W{w} H{h} ");
    assert!(bytes.starts_with(header.as_bytes()), "{:?}", &bytes[..40]);
    let header_len = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    let frame_len = 6 + (w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2)) as usize;
    assert_eq!(bytes.len(), header_len + frames as usize * frame_len);

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

    file_manager(&mut commands, &events, &mut customer, &said, &sid, &share);

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

/// A harmless "browser": writes the URL it is given next to itself.
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
