//! What the help desk's administrators set for the applet reaches the
//! customer: the organisation's name, the applet's title and welcome text
//! (APPLET-5), and terms to accept before anything else (APPLET-6). A
//! customer who declines never reaches the technician's queue; one who
//! accepts does.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::*;
use serde_json::{Value, json};

/// Sets the technician group's applet settings, as the master.
fn set_terms(base: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": MASTER, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap();
        let groups: Value = http
            .get(format!("{base}/api/v1/tech-groups"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let group = groups
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == "Desk"))
            .or_else(|| {
                groups["items"]
                    .as_array()
                    .and_then(|g| g.iter().find(|g| g["name"] == "Desk"))
            })
            .unwrap_or_else(|| panic!("no Desk group in {groups}"));
        let settings = json!({"run_mode": "standard", "system_service": false,
            "priority": "customer", "show_wait": true,
            "look": {"title": "Acme help", "colour": "", "welcome": "We answer in English."},
            "terms": "The session may be recorded."});
        let r = http
            .put(format!("{base}/api/v1/tech-groups/{}/applet", group["id"]))
            .bearer_auth(token)
            .header("Origin", base)
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    });
}

#[test]
fn the_customer_accepts_or_declines_the_help_desks_terms() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let base = server(&mut procs, dir.path());
    set_terms(&base);
    let (events, mut commands) = console(&mut procs, &base, dir.path(), &["--headless"]);

    for accept in [false, true] {
        send(&mut commands, json!({"cmd": "create_pin"}));
        let pin = event(&events, "pin", |_| true);
        let (sid, code) = (
            pin["session_id"].as_str().unwrap().to_owned(),
            pin["pin"].as_str().unwrap().to_owned(),
        );
        let (mut child, said, mut stdin) =
            applet(dir.path(), &base, &["--pin", &code, "--name", "Sam"]);
        expect_line(&said, "the help desk's name", |l| {
            l.contains("Welcome to Acme help (Help Desk). We answer in English.")
                .then_some(())
        });
        expect_line(&said, "the terms", |l| {
            (l.contains("The session may be recorded.") && l.contains("[y/n]")).then_some(())
        });
        writeln!(stdin, "{}", if accept { "y" } else { "n" }).unwrap();
        stdin.flush().unwrap();
        if accept {
            // On to the queue.
            event(&events, "queue", |v| {
                v["sessions"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["id"] == sid.as_str() && s["state"] == "waiting")
                })
            });
            send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
            event(&events, "established", |_| true);
            send(&mut commands, json!({"cmd": "end", "session_id": sid}));
            event(&events, "closed", |_| true);
        } else {
            let status = child.wait().unwrap();
            assert!(!status.success(), "a declining applet says it stopped");
            // The session is closed at the server, never in the queue.
            event(&events, "queue", |v| {
                v["sessions"]
                    .as_array()
                    .is_some_and(|s| !s.iter().any(|s| s["id"] == sid.as_str()))
            });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
