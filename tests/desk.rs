//! The technician's desk through the programs, each a real process: a
//! `secours server` whose administrators set the group's maximum, custom
//! fields and console texts (CONSOLE-16) and both surveys; a headless
//! `secours console` that switches status (SESS-9), creates a private
//! session with its fields and invitation, edits the fields where PERM-20
//! allows, writes notes (CONSOLE-10) and answers the technician survey
//! (SURVEY-1); and a `secours applet` that offers the customer survey at
//! the end (SURVEY-2).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[test]
fn the_headless_console_keeps_the_desk() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let base = server_with(
        &mut procs,
        dir.path(),
        &["chat", "private_sessions", "edit_custom_fields"],
    );
    let master = configure_desk(&base);
    let (events, mut commands) = console(&mut procs, &base, dir.path(), &["--headless"]);

    // CONSOLE-16, FIELD-2, SESS-9: what the group set, right after `ready`.
    let info = event(&events, "console_info", |_| true);
    assert_eq!(info["status"], "available", "{info}");
    assert_eq!(info["max_sessions"], 3);
    assert_eq!(info["fields"], json!(["Ticket"]));
    assert_eq!(
        info["texts"]["create_dialog"],
        "Ask for the ticket number first."
    );
    assert_eq!(
        info["texts"]["info_link_url"],
        "https://handbook.example/desk"
    );

    send(&mut commands, json!({"cmd": "status", "status": "away"}));
    assert_eq!(event(&events, "status", |_| true)["status"], "away");
    send(&mut commands, json!({"cmd": "console_info"}));
    assert_eq!(event(&events, "console_info", |_| true)["status"], "away");
    send(
        &mut commands,
        json!({"cmd": "status", "status": "sleeping"}),
    );
    event(&events, "error", |e| {
        e["message"]
            .as_str()
            .unwrap()
            .contains("unreadable command")
    });
    send(
        &mut commands,
        json!({"cmd": "status", "status": "available"}),
    );
    assert_eq!(event(&events, "status", |_| true)["status"], "available");

    // SESS-10: the master asks to watch this console (the group asks the
    // technician); the console is asked, accepts, then stops it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (monitor, me) = rt.block_on(async {
        let anon = secours_peer::client::ServerClient::new(&base).unwrap();
        let tech = anon
            .login(TECH, secours_protocol::signaling::Secret::new(PASSWORD))
            .await
            .unwrap();
        let watcher = anon.with_token(secours_protocol::signaling::Secret::new(master.clone()));
        (watcher.monitor(tech.user_id).await.unwrap(), tech.user_id)
    });
    assert_eq!(monitor.tech_id, me);
    assert_eq!(monitor.state, "asked");
    let asked = event(&events, "monitor", |_| true);
    assert_eq!(asked["monitor_id"], monitor.id.as_str(), "{asked}");
    assert_eq!(
        (asked["consent"].as_str(), asked["state"].as_str()),
        (Some("ask"), Some("asked"))
    );
    assert_eq!(asked["admin"], "Root");
    send(
        &mut commands,
        json!({"cmd": "monitor_answer", "monitor_id": monitor.id, "accept": true}),
    );
    event(&events, "monitor", |m| m["state"] == "watching");
    send(
        &mut commands,
        json!({"cmd": "monitor_end", "monitor_id": monitor.id}),
    );
    event(&events, "monitor", |m| m["state"] == "ended");
    send(
        &mut commands,
        json!({"cmd": "monitor_end", "monitor_id": monitor.id}),
    );
    event(&events, "refused", |r| {
        r["reason"].as_str().unwrap().contains("409")
    });

    // A private session with its field, and the invitation to send.
    // Markup is text: stored and shown as typed, never interpreted (the
    // server refuses invisible and direction-changing characters).
    let hostile = "<b>T-42</b> {pin} &amp;";
    send(
        &mut commands,
        json!({"cmd": "create_pin", "fields": {"Ticket": hostile}}),
    );
    let pin = event(&events, "pin", |_| true);
    let sid = pin["session_id"].as_str().unwrap().to_owned();
    let (code, link) = (pin["pin"].as_str().unwrap(), pin["link"].as_str().unwrap());
    assert_eq!(
        pin["email"],
        format!("Hello, please open {link} or type {code}."),
        "{pin}"
    );
    assert_eq!(pin["fields"]["Ticket"], hostile);
    // A field the group does not ask for is refused by the server.
    send(
        &mut commands,
        json!({"cmd": "create_pin", "fields": {"Colour": "blue"}}),
    );
    let refused = event(&events, "refused", |_| true);
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("fields were not saved"),
        "{refused}"
    );
    event(&events, "pin", |p| p["fields"] == json!({}));

    let (child, said, _stdin) = applet(dir.path(), &base, &["--pin", code]);
    procs.0.push(child);
    event(&events, "queue", |q| {
        q["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == sid.as_str() && s["state"] == "waiting")
    });
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    // PERM-20 granted: the fields as stored (hostile text, verbatim), editable.
    let fields = event(&events, "fields", |_| true);
    assert_eq!(fields["fields"]["Ticket"], hostile, "{fields}");
    assert_eq!(fields["editable"], true);
    event(&events, "established", |_| true);
    send(
        &mut commands,
        json!({"cmd": "fields", "session_id": sid, "fields": {"Ticket": "T-43"}}),
    );
    let fields = event(&events, "fields", |_| true);
    assert_eq!(fields["fields"], json!({"Ticket": "T-43"}));

    // CONSOLE-10: notes during the session...
    send(
        &mut commands,
        json!({"cmd": "note", "session_id": sid, "text": "Printer driver reinstalled."}),
    );
    let note = event(&events, "note", |_| true);
    assert_eq!(note["note"]["body"], "Printer driver reinstalled.");
    assert_eq!(note["note"]["author"], TECH);
    send(
        &mut commands,
        json!({"cmd": "note", "session_id": sid, "text": "  "}),
    );
    event(&events, "refused", |r| r["session_id"] == sid.as_str());

    send(&mut commands, json!({"cmd": "end", "session_id": sid}));
    event(&events, "closed", |_| true);
    // SURVEY-1: the technician is asked once the session is over.
    let survey = event(&events, "survey", |_| true);
    assert_eq!(survey["rating"], true, "{survey}");
    assert_eq!(survey["questions"][0]["id"], "solved");
    assert_eq!(survey["questions"][0]["type"], "yes_no");
    // ...and after it.
    send(
        &mut commands,
        json!({"cmd": "note", "session_id": sid, "text": "Customer to call back Monday."}),
    );
    event(&events, "note", |_| true);
    send(&mut commands, json!({"cmd": "notes", "session_id": sid}));
    let notes = event(&events, "notes", |_| true);
    let bodies: Vec<&str> = notes["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            "Printer driver reinstalled.",
            "Customer to call back Monday."
        ]
    );
    // Closed: the fields are no longer edited.
    send(
        &mut commands,
        json!({"cmd": "fields", "session_id": sid, "fields": {"Ticket": "late"}}),
    );
    event(&events, "refused", |r| r["session_id"] == sid.as_str());

    // A required answer missing: refused; then answered.
    send(
        &mut commands,
        json!({"cmd": "survey", "session_id": sid, "rating": 4}),
    );
    let refused = event(&events, "refused", |r| r["session_id"] == sid.as_str());
    assert!(
        refused["reason"].as_str().unwrap().contains("Solved?"),
        "{refused}"
    );
    send(
        &mut commands,
        json!({"cmd": "survey", "session_id": sid, "rating": 4,
               "answers": {"solved": "yes", "remarks": "quick"}}),
    );
    event(&events, "survey_sent", |_| true);
    let rows = technician_survey_rows(&base, &master);
    let row = rows.iter().find(|r| r[0] == sid).expect("the survey's row");
    assert_eq!(row[2], TECH);
    assert_eq!(row[3], "4");
    assert!(
        row.contains(&"yes".to_owned()) && row.contains(&"quick".to_owned()),
        "{row:?}"
    );

    // SURVEY-2: the applet's last words are the customer survey's address;
    // it is this session's, and answers once.
    let url = expect_line(&said, "the customer survey's address", |l| {
        l.split_once("Please tell us how it went: ")
            .map(|(_, u)| u.trim().to_owned())
    });
    assert!(
        url.starts_with(&format!("{base}/survey/{sid}?token=")),
        "{url}"
    );
    let token = url.split_once("token=").unwrap().1.to_owned();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let page = http.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let post = |token: String| {
            http.post(format!("{base}/api/v1/sessions/{sid}/customer-survey"))
                .json(&json!({"token": token, "rating": 5}))
                .send()
        };
        assert_eq!(post(token.clone()).await.unwrap().status(), 204);
        assert_eq!(post(token).await.unwrap().status(), 409);
    });
}
