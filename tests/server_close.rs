//! A session the server closes (an administrator's close; a revocation
//! goes the same way) ends in both programs at once, even on a direct path,
//! which the server cannot cut: the console reports it closed on the
//! server, and the applet tells the customer the technician no longer has
//! access, and exits. Real processes over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use secours_peer::client::ServerClient;
use secours_protocol::signaling::Secret;
use serde_json::json;

#[test]
fn an_administrators_close_ends_a_direct_session_in_both_programs() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let base = server(&mut procs, dir.path());
    let (events, mut commands) = console(&mut procs, &base, dir.path(), &["--headless"]);
    send(&mut commands, json!({"cmd": "create_pin"}));
    let pin = event(&events, "pin", |_| true);
    let (sid, code) = (
        pin["session_id"].as_str().unwrap().to_owned(),
        pin["pin"].as_str().unwrap().to_owned(),
    );
    let (mut applet, said, _customer) =
        applet(dir.path(), &base, &["--pin", &code, "--name", "Sam"]);
    event(&events, "queue", |v| {
        v["sessions"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["id"] == sid.as_str() && s["state"] == "waiting")
        })
    });
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    // On loopback the direct path takes over from the relay.
    event(&events, "path", |p| {
        p["session_id"] == sid.as_str() && p["path"] == "direct"
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let anon = ServerClient::new(&base).unwrap();
        let admin = anon.login(MASTER, Secret::new(PASSWORD)).await.unwrap();
        anon.with_token(admin.token).close(&sid).await.unwrap();
    });

    let closed = event(&events, "closed", |c| c["session_id"] == sid.as_str());
    assert!(
        closed["reason"]
            .as_str()
            .unwrap()
            .contains("closed on the server"),
        "{closed}"
    );
    expect_line(&said, "the end of the session", |l| {
        l.contains("no longer has access").then_some(())
    });
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = applet.try_wait().unwrap() {
            assert!(status.success(), "the applet ended with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "the applet still runs");
        std::thread::sleep(Duration::from_millis(100));
    }
}
