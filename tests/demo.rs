//! `secours demo` as the README runs it: a whole session, summary printed.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

#[test]
fn demo_runs_over_the_relay() {
    demo_runs_and_checks_out(&["--path", "relay"], "on the relay path");
}

#[test]
fn demo_moves_from_relay_to_direct() {
    demo_runs_and_checks_out(&["--path", "auto"], "on the direct path");
}

#[test]
fn demo_runs_on_a_synthetic_screen() {
    demo_runs_and_checks_out(&["--synthetic"], "a synthetic screen");
}

/// One demo at a time: each runs a server, two peers and an encoder
/// self-test, and the machine has few cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn demo_runs_and_checks_out(args: &[&str], expected: &str) {
    let _turn = one_at_a_time();
    let out = Command::new(env!("CARGO_BIN_EXE_secours"))
        .args(["demo", "--file-mib", "2", "--reply-mib", "1"])
        .args(args)
        .output()
        .expect("run secours demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real_desktop = !args.contains(&"--synthetic")
        && ["Xvfb", "xterm", "xclip"].iter().all(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let desktop_needles: &[&str] = if real_desktop {
        &[
            "into the customer's xterm: the file appeared",
            "clipboard: customer -> technician",
        ]
    } else {
        &[]
    };
    for needle in [
        expected,
        "`secours server` on http://127.0.0.1:",
        "private session opened: PIN ",
        "the session appeared in Alex's live queue",
        "TLS 1.3 with both certificates pinned; short authentication string",
        "customer allowed remote_control",
        "the customer is told the session is recorded",
        "Technician: Hello, I am Alex.",
        "customer: Thank you, the printer says error 0x41.",
        "receiver verified disk ok",
        "the applet exited, its temporary files removed",
        "recorded: session.webm, ",
        "audit chain intact",
        "OK: every step checked out.",
    ]
    .iter()
    .chain(desktop_needles)
    {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // Nothing stays behind on the "customer machine".
    let dir = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("working files under "))
        .expect("the demo names its working directory");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was left behind");
}

#[test]
fn demo_keeps_its_recording_when_asked() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_secours"))
        .args([
            "demo",
            "--file-mib",
            "1",
            "--reply-mib",
            "1",
            "--path",
            "relay",
        ])
        .arg("--record-dir")
        .arg(dir.path())
        .output()
        .expect("run secours demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(dir.path().join("session.webm"))
            .unwrap()
            .len()
            > 0
    );
    let log = std::fs::read_to_string(dir.path().join("session.events.jsonl")).unwrap();
    let events: Vec<&str> = log
        .lines()
        .map(|l| {
            let start = l.find("\"event\":\"").unwrap() + 9;
            &l[start..start + l[start..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(events.first(), Some(&"session_start"), "{log}");
    assert_eq!(events.last(), Some(&"session_end"), "{log}");
    assert_eq!(events.iter().filter(|e| **e == "file").count(), 2, "{log}");
    // Each file's MD5 in the log is the one the summary printed as verified.
    for line in log.lines().filter(|l| l.contains("\"event\":\"file\"")) {
        let md5 = line
            .split("\"md5\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            stdout.contains(&format!("md5 {md5} receiver verified")),
            "{md5}\n{stdout}"
        );
    }
}
