//! The windows as people use them, under Xvfb with Mesa's software
//! OpenGL: the customer's applet window (consent dialog, end session) and
//! the technician's console window (queue, pick-up, the remote screen,
//! remote control of a real xterm). The tests find buttons the way a
//! person does, by looking: a screenshot of the display, the button's
//! colour; then they click with xdotool and type real key events.
//! Screenshots are kept in the test artefact directory.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use secours_applet::X11Capture;
use secours_applet::capture::ScreenCapture;
use secours_codec::BgraFrame;
use secours_peer::client::ServerClient;
use secours_protocol::signaling::Secret;
use serde_json::json;

const ALLOW: [u8; 3] = [0x1b, 0x8a, 0x2f];
const DENY: [u8; 3] = [0xc0, 0x1c, 0x28];
const END: [u8; 3] = [0xe0, 0x6c, 0x00];
const PRIMARY: [u8; 3] = [0x1f, 0x5f, 0xd6];
const PEN: [u8; 3] = [0xd0, 0x20, 0xd0];
/// The applet's "Answer the survey".
const SURVEY: [u8; 3] = [0x00, 0x66, 0xa1];
/// The console's status switch, "New session", note, "Save note", rating.
const AVAILABLE: [u8; 3] = [0x2e, 0x7d, 0x32];
const AWAY: [u8; 3] = [0x5c, 0x4d, 0x7d];
const NEW_SESSION: [u8; 3] = [0x8e, 0x24, 0xaa];
const NOTE: [u8; 3] = [0xff, 0xf1, 0xb8];
const SAVE_NOTE: [u8; 3] = [0x00, 0x7a, 0x87];
const RATING: [u8; 3] = [0xc8, 0x9b, 0x00];
/// The customer's xterm background (tests/common's desktop).
const XTERM_GREEN: [u8; 3] = [0x00, 0xc0, 0x00];

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("windows");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shot(display: &str) -> BgraFrame {
    let mut capture = X11Capture::connect(Some(display)).unwrap();
    capture.capture().unwrap().frame
}

fn save(frame: &BgraFrame, name: &str) {
    let path = artefacts().join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut enc = png::Encoder::new(file, frame.width(), frame.height());
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut rgba = Vec::with_capacity(frame.width() as usize * frame.height() as usize * 4);
    for y in 0..frame.height() as usize {
        let row = &frame.data()[y * frame.stride()..][..frame.width() as usize * 4];
        for px in row.chunks_exact(4) {
            rgba.extend_from_slice(&[px[2], px[1], px[0], 255]);
        }
    }
    enc.write_header().unwrap().write_image_data(&rgba).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// The centre of the pixels near `rgb` (6 on every channel; 24 for
/// colours that went through the video codec), if there are at least `min`
/// of them.
fn find(frame: &BgraFrame, rgb: [u8; 3], min: usize) -> Option<(i32, i32)> {
    let tolerance = if rgb == XTERM_GREEN { 24 } else { 6 };
    let (mut n, mut sx, mut sy) = (0usize, 0usize, 0usize);
    for y in 0..frame.height() as usize {
        let row = &frame.data()[y * frame.stride()..][..frame.width() as usize * 4];
        for (x, px) in row.chunks_exact(4).enumerate() {
            if (0..3).all(|i| px[2 - i].abs_diff(rgb[i]) <= tolerance) {
                n += 1;
                sx += x;
                sy += y;
            }
        }
    }
    (n >= min).then(|| ((sx / n) as i32, (sy / n) as i32))
}

/// Waits until `rgb` shows on `display`; its centre.
fn wait_colour(display: &str, rgb: [u8; 3], min: usize, what: &str) -> (i32, i32) {
    wait_colour_where(display, rgb, min, what, |_| true)
}

/// Waits until `rgb` shows on `display` with its centre where `place`
/// says; that centre.
fn wait_colour_where(
    display: &str,
    rgb: [u8; 3],
    min: usize,
    what: &str,
    place: impl Fn((i32, i32)) -> bool,
) -> (i32, i32) {
    let deadline = Instant::now() + WAIT;
    loop {
        let frame = shot(display);
        if let Some(at) = find(&frame, rgb, min).filter(|&at| place(at)) {
            return at;
        }
        if Instant::now() > deadline {
            save(&frame, &format!("missing-{}.png", what.replace(' ', "-")));
            panic!("{what} never showed on {display}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn xdotool(display: &str, args: &[&str]) {
    let ok = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .status()
        .unwrap()
        .success();
    assert!(ok, "xdotool {args:?}");
}

fn click(display: &str, (x, y): (i32, i32)) {
    xdotool(
        display,
        &["mousemove", "--sync", &x.to_string(), &y.to_string()],
    );
    // egui takes a press and a release a frame apart as a click.
    xdotool(display, &["mousedown", "1"]);
    std::thread::sleep(Duration::from_millis(120));
    xdotool(display, &["mouseup", "1"]);
}

/// The customer's applet window: the consent dialog's Allow and Deny
/// decide, and "End session" ends the session on both sides.
#[test]
fn the_applet_window_asks_and_ends() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let Some(display) = desktop(&mut procs, dir.path(), &["xdotool"]) else {
        return;
    };
    let base = server(&mut procs, dir.path());
    // The customer survey is asked (SURVEY-2).
    configure_desk(&base);
    let (events, mut commands) = console(&mut procs, &base, dir.path(), &["--headless"]);
    send(&mut commands, json!({"cmd": "create_pin"}));
    let pin = event(&events, "pin", |_| true);
    let sid = pin["session_id"].as_str().unwrap().to_owned();
    let applet = Command::new(BIN)
        .args(["applet", "--server", &base, "--name", "Sam"])
        .args(["--pin", pin["pin"].as_str().unwrap()])
        .args(["--display", &display, "--encoder", "aom"])
        .arg("--received-dir")
        .arg(dir.path().join("received"))
        .arg("--url-opener")
        .arg(opener(dir.path()))
        .env("DISPLAY", &display)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(applet);
    expect_line(&events, "the customer waiting", |l| {
        (l.contains(&sid) && l.contains("waiting")).then_some(())
    });
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    event(&events, "established", |_| true);

    send(
        &mut commands,
        json!({"cmd": "request", "session_id": sid, "permission": "remote_control"}),
    );
    let allow = wait_colour(&display, ALLOW, 400, "the Allow button");
    save(&shot(&display), "applet-consent.png");
    click(&display, allow);
    let consent = event(&events, "consent", |_| true);
    assert_eq!(consent["allowed"], true, "{consent}");
    assert_eq!(consent["actions"][0], "remote_control");

    send(
        &mut commands,
        json!({"cmd": "request", "session_id": sid, "permission": "clipboard"}),
    );
    let deny = wait_colour(&display, DENY, 400, "the Deny button");
    click(&display, deny);
    let consent = event(&events, "consent", |_| true);
    assert_eq!(consent["allowed"], false, "{consent}");

    let end = wait_colour(&display, END, 400, "the End session button");
    save(&shot(&display), "applet-session.png");
    click(&display, end);
    let closed = event(&events, "closed", |_| true);
    assert_eq!(closed["session_id"], sid.as_str(), "{closed}");
    // The window says so and offers to close; the button is gone.
    wait_for("the End session button to go", || {
        find(&shot(&display), END, 400).is_none()
    });
    save(&shot(&display), "applet-ended.png");
    // The end screen offers the customer survey; the button opens this
    // session's survey page in the browser.
    let survey = wait_colour(&display, SURVEY, 400, "the Answer the survey button");
    click(&display, survey);
    let opened = dir.path().join("opened.txt");
    wait_for("the survey page to open", || {
        std::fs::read_to_string(&opened)
            .is_ok_and(|u| u.starts_with(&format!("{base}/survey/{sid}?token=")))
    });
}

/// The technician's console window: the queue shows the customer, a click
/// picks the session up, the customer's screen (a real xterm) appears, and
/// a click and typed text in the window run a command in that xterm.
#[test]
fn the_console_window_controls_a_real_xterm() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let Some(customer) = desktop(&mut procs, dir.path(), &["xdotool"]) else {
        return;
    };
    let technician = xvfb(&mut procs);
    let base = server(&mut procs, dir.path());
    let console = Command::new(BIN)
        .args(["console", "--server", &base, "--email", TECH])
        .arg("--files-dir")
        .arg(dir.path().join("console-files"))
        .env("SECOURS_PASSWORD", PASSWORD)
        .env("DISPLAY", &technician)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(console);

    // The technician's PIN, made through the API on the same account: the
    // window's queue follows the server.
    let pin = secours_pin(&base);
    let mut applet = Command::new(BIN)
        .args(["applet", "--terminal", "--server", &base, "--name", "Sam"])
        .args(["--pin", &pin, "--display", &customer, "--encoder", "aom"])
        .arg("--received-dir")
        .arg(dir.path().join("received"))
        .env("DISPLAY", &customer)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines(&mut applet);
    let mut typed = applet.stdin.take().unwrap();
    procs.0.push(applet);

    let pick_up = wait_colour(&technician, PRIMARY, 200, "the Pick up button");
    save(&shot(&technician), "console-queue.png");
    click(&technician, pick_up);
    expect_line(&said, "the technician", |l| {
        l.contains("joined the session").then_some(())
    });
    // In the session's side panel, on the right (the queue's button was
    // on the left).
    let ask = wait_colour_where(
        &technician,
        PRIMARY,
        200,
        "the Remote control button",
        |(x, _)| x > 640,
    );
    click(&technician, ask);
    answer(&said, &mut typed, "control your screen");

    // The customer's green xterm, drawn in the console's window.
    let xterm = wait_colour(&technician, XTERM_GREEN, 2_000, "the customer's xterm");
    save(&shot(&technician), "console-session.png");
    // Without a window manager nothing gives a window the keyboard: do
    // what a window manager does on a click.
    xdotool(
        &technician,
        &[
            "search",
            "--name",
            "Secours console",
            "windowfocus",
            "--sync",
        ],
    );
    click(&technician, xterm);
    std::thread::sleep(Duration::from_millis(500));
    xdotool(
        &technician,
        &["type", "--delay", "60", "echo secours > from-window.txt"],
    );
    xdotool(&technician, &["key", "Return"]);
    let file = dir.path().join("from-window.txt");
    std::thread::sleep(Duration::from_secs(3));
    save(&shot(&technician), "console-after-typing.png");
    save(&shot(&customer), "customer-after-typing.png");
    wait_for("the command typed in the console window", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t == "secours\n")
    });
    save(&shot(&technician), "console-typed.png");

    // The whiteboard: the pen, a line across the customer's xterm in the
    // console's window, and the same line over the customer's screen.
    let pen = wait_colour(&technician, PEN, 200, "the Draw button");
    click(&technician, pen);
    std::thread::sleep(Duration::from_millis(300));
    let (x, y) = xterm;
    xdotool(
        &technician,
        &["mousemove", "--sync", &(x - 60).to_string(), &y.to_string()],
    );
    xdotool(&technician, &["mousedown", "1"]);
    for step in 1..=12 {
        std::thread::sleep(Duration::from_millis(30));
        let to = (x - 60 + step * 10, y + step * 3);
        xdotool(
            &technician,
            &["mousemove", "--sync", &to.0.to_string(), &to.1.to_string()],
        );
    }
    xdotool(&technician, &["mouseup", "1"]);
    wait_colour(
        &customer,
        PEN,
        100,
        "the whiteboard line on the customer's screen",
    );
    save(&shot(&technician), "console-drawing.png");
    save(&shot(&customer), "customer-whiteboard.png");
}

/// A PIN session for the technician, through the REST API.
fn secours_pin(base: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let anon = ServerClient::new(base).unwrap();
        let login = anon.login(TECH, Secret::new(PASSWORD)).await.unwrap();
        let client = anon.with_token(login.token);
        client
            .create_session()
            .await
            .unwrap()
            .pin
            .expose()
            .to_owned()
    })
}

/// The technician's desk in the console window: the status switch, the
/// create-session dialog with the group's field, a note written in the
/// session's tab, and the technician survey once the session ended.
#[test]
fn the_console_window_keeps_the_desk() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let Some(customer) = desktop(&mut procs, dir.path(), &["xdotool"]) else {
        return;
    };
    let technician = xvfb(&mut procs);
    let base = server(&mut procs, dir.path());
    let master = configure_desk(&base);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tech = rt.block_on(async {
        let anon = ServerClient::new(&base).unwrap();
        let login = anon.login(TECH, Secret::new(PASSWORD)).await.unwrap();
        anon.with_token(login.token)
    });
    // A rating and an optional remark: what a click can answer.
    rt.block_on(async {
        let r = reqwest::Client::new()
            .put(format!("{base}/api/v1/surveys/technician"))
            .bearer_auth(&master)
            .json(&json!({"enabled": true, "rating": true, "questions": [
                {"id": "remarks", "label": "Remarks", "type": "text"}]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });
    let console = Command::new(BIN)
        .args(["console", "--server", &base, "--email", TECH])
        .arg("--files-dir")
        .arg(dir.path().join("console-files"))
        .env("SECOURS_PASSWORD", PASSWORD)
        .env("DISPLAY", &technician)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(console);

    // SESS-9: away, then the server says so.
    let away = wait_colour(&technician, AWAY, 200, "the Away button");
    save(&shot(&technician), "console-desk.png");
    click(&technician, away);
    wait_for("the technician to be away", || {
        rt.block_on(tech.console_info())
            .is_ok_and(|i| i.status == secours_protocol::signaling::TechStatus::Away)
    });

    // FIELD-2: the dialog asks the group's field; its first box has the
    // keyboard.
    xdotool(
        &technician,
        &[
            "search",
            "--name",
            "Secours console",
            "windowfocus",
            "--sync",
        ],
    );
    let new = wait_colour(&technician, NEW_SESSION, 200, "the New session button");
    click(&technician, new);
    let create = wait_colour(&technician, PRIMARY, 200, "the Create button");
    save(&shot(&technician), "console-create-dialog.png");
    xdotool(&technician, &["type", "--delay", "60", "T-42"]);
    // A click in the frame that takes the last keys in would move the
    // focus before the box reads them: let a loaded machine catch up.
    std::thread::sleep(Duration::from_millis(1500));
    click(&technician, create);
    wait_for("the private session with its field", || {
        report_rows(&base, &master, "custom_fields")
            .iter()
            .any(|r| r.iter().any(|c| c == "T-42"))
    });
    save(&shot(&technician), "console-invitation.png");
    let available = wait_colour(&technician, AVAILABLE, 200, "the Available button");
    click(&technician, available);
    wait_for("the technician to be available", || {
        rt.block_on(tech.console_info())
            .is_ok_and(|i| i.status == secours_protocol::signaling::TechStatus::Available)
    });

    // A session to work in.
    let pin = secours_pin(&base);
    let mut applet = Command::new(BIN)
        .args(["applet", "--terminal", "--server", &base, "--name", "Sam"])
        .args(["--pin", &pin, "--display", &customer, "--encoder", "aom"])
        .arg("--received-dir")
        .arg(dir.path().join("received"))
        .env("DISPLAY", &customer)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines(&mut applet);
    let mut typed = applet.stdin.take().unwrap();
    procs.0.push(applet);
    let pick_up = wait_colour(&technician, PRIMARY, 200, "the Pick up button");
    click(&technician, pick_up);
    expect_line(&said, "the technician", |l| {
        l.contains("joined the session").then_some(())
    });
    let sid = rt
        .block_on(tech.sessions())
        .unwrap()
        .into_iter()
        .find(|v| v.state == "active")
        .unwrap()
        .id;

    // CONSOLE-10: a note written in the session's tab.
    let note = wait_colour(&technician, NOTE, 2_000, "the note box");
    click(&technician, note);
    std::thread::sleep(Duration::from_millis(300));
    xdotool(&technician, &["type", "--delay", "60", "Router rebooted"]);
    std::thread::sleep(Duration::from_millis(1500));
    let save_note = wait_colour(&technician, SAVE_NOTE, 200, "the Save note button");
    save(&shot(&technician), "console-note.png");
    click(&technician, save_note);
    wait_for("the note on the server", || {
        rt.block_on(tech.notes(&sid))
            .is_ok_and(|n| n.iter().any(|n| n.body == "Router rebooted"))
    });

    // SURVEY-1: the customer ends the session; its tab asks the survey.
    // The middle of the five rating buttons is 3.
    {
        use std::io::Write;
        writeln!(typed, "/quit").unwrap();
        typed.flush().unwrap();
    }
    let rating = wait_colour(&technician, RATING, 400, "the survey's rating");
    save(&shot(&technician), "console-survey.png");
    click(&technician, rating);
    let send_survey = wait_colour(&technician, PRIMARY, 200, "the Send survey button");
    click(&technician, send_survey);
    wait_for("the survey's answers on the server", || {
        technician_survey_rows(&base, &master)
            .iter()
            .any(|r| r[0] == sid && r[3] == "3")
    });
    save(&shot(&technician), "console-survey-sent.png");
}
