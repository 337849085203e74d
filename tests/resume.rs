//! CONSOLE-9 between the real programs: a killed applet and a restarted
//! computer come back to the same session.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

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
    let (events, mut commands) = console(&mut procs, &base, dir, &["--headless"]);
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
