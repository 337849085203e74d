//! APPLET-3, "customer first", between the real programs on Xvfb: while
//! the customer moves their own mouse (xdotool plays them), what the
//! technician types never reaches the xterm and the customer is told why;
//! once they stop, the technician's typing goes through again.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn the_customers_own_mouse_holds_the_technician_back() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut procs = Procs(vec![]);
    let Some(display) = desktop(&mut procs, dir, &["xdotool"]) else {
        return;
    };
    let base = server(&mut procs, dir);
    let (events, mut commands) = console(&mut procs, &base, dir, &["--headless"]);
    send(&mut commands, json!({"cmd": "create_pin"}));
    let pin = event(&events, "pin", |_| true);
    let sid = pin["session_id"].as_str().unwrap().to_owned();
    let mut applet = Command::new(BIN)
        .args([
            "applet",
            "--terminal",
            "--server",
            &base,
            "--pin",
            pin["pin"].as_str().unwrap(),
        ])
        .args([
            "--display",
            &display,
            "--path",
            "relay",
            "--priority",
            "customer",
        ])
        .env("DISPLAY", &display)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines(&mut applet);
    let mut customer = applet.stdin.take().unwrap();
    procs.0.push(applet);
    event(&events, "queue", |v| v["sessions"][0]["id"] == sid.as_str());
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    event(&events, "established", |_| true);
    send(
        &mut commands,
        json!({"cmd": "request", "session_id": sid, "permission": "remote_control"}),
    );
    expect_line(&said, "the question", |l| {
        l.contains("control your screen").then_some(())
    });
    writeln!(customer, "y").unwrap();
    customer.flush().unwrap();
    let first = event(&events, "first_frame", |_| true);
    let (w, h) = (
        first["width"].as_i64().unwrap(),
        first["height"].as_i64().unwrap(),
    );
    let click = json!({"cmd": "click", "session_id": sid, "x": w / 5, "y": h / 8});

    // The customer moves their mouse for three seconds, within the xterm.
    let mut mouse = Command::new("sh")
        .args([
            "-c",
            "for i in $(seq 60); do xdotool mousemove $((40 + i)) 60; sleep 0.05; done",
        ])
        .env("DISPLAY", &display)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    send(&mut commands, click.clone());
    send(
        &mut commands,
        json!({"cmd": "type", "session_id": sid, "text": "echo first > held.txt\n"}),
    );
    expect_line(&said, "the notice", |l| {
        l.contains("your technician's input waits").then_some(())
    });
    assert!(mouse.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !dir.join("held.txt").exists(),
        "typed while the customer moved"
    );

    // Still: the technician types again, and it goes through.
    send(&mut commands, click);
    send(
        &mut commands,
        json!({"cmd": "type", "session_id": sid, "text": "echo second > free.txt\n"}),
    );
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(dir.join("free.txt"))
        .ok()
        .as_deref()
        != Some("second\n")
    {
        assert!(
            Instant::now() < deadline,
            "the technician's typing never went through"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    send(&mut commands, json!({"cmd": "quit"}));
}
