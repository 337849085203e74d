//! SESS-3..6, SESS-9, FIELD-1/2, PERM-20 over HTTP against a running
//! server, on SQLite and PostgreSQL: auto-start is fair and stops at each
//! technician's maximum, auto-transfer moves what waits too long, working
//! hours are read in the channel's time zone, what happens when nobody is
//! available, technician status and the idle logout, and custom fields
//! from the channel's form to the technician's queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Polls a session (as `token`) until `pred` holds; fails after 20 s.
async fn wait_session(h: &Harness, token: &str, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = h.get("/api/v1/sessions/{id}", &[id], token).await;
        if s == StatusCode::OK && pred(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session {id} never reached the expected state: {v}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the administrators' status list until `pred` holds for `tech`.
async fn wait_status(h: &Harness, tech: i64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = h.get("/api/v1/technicians/status", &[], &h.master).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if let Some(t) = v.as_array().unwrap().iter().find(|t| t["id"] == tech)
            && pred(t)
        {
            return t.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never matched: {v}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn put(h: &Harness, path: &str, params: &[&str], body: Value) -> Value {
    let (s, v) = h
        .call(Method::PUT, path, params, Some(&h.master), Some(body))
        .await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v
}

async fn channel_code(h: &Harness, id: usize) -> String {
    let (_, chans) = h.get("/api/v1/channels", &[], &h.master).await;
    chans[id - 1]["link_code"].as_str().unwrap().to_owned()
}

/// A customer joins a channel and connects its applet: the session waits.
async fn customer(h: &Harness, code: &str, name: &str) -> (String, Ws) {
    let (s, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[code],
            None,
            json!({"name": name}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let ws = applet_ws(h, &joined).await;
    (joined["session_id"].as_str().unwrap().to_owned(), ws)
}

async fn online(h: &Harness, tech: i64, token: &str) -> Ws {
    let mut ws = ws_connect(&h.ws_url(&format!("/ws/console?token={token}"))).await;
    ws_expect(&mut ws, "queue").await;
    wait_status(h, tech, |t| t["online"] == true).await;
    ws
}

/// Monday = 1 .. Sunday = 7 at UTC+`offset_h` now.
fn iso_weekday(offset_h: i64) -> i64 {
    let secs = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    // 1970-01-01 was a Thursday (4).
    ((secs + offset_h * 3600).div_euclid(86_400) + 3).rem_euclid(7) + 1
}

async fn auto_start(db: &Db) {
    let h = Harness::start_with(db, |c| c.presence.refresh_ms = 50).await;
    let m = h.master.clone();
    let ga = h.tech_group(&m, None, "One at a time", &["chat"]).await;
    let gb = h.tech_group(&m, None, "Two at a time", &["chat"]).await;
    put(
        &h,
        "/api/v1/tech-groups/{id}/routing",
        &[&ga.to_string()],
        json!({"max_sessions": 1}),
    )
    .await;
    put(
        &h,
        "/api/v1/tech-groups/{id}/routing",
        &[&gb.to_string()],
        json!({"max_sessions": 2}),
    )
    .await;
    let (a_id, a) = h.user(&m, "technician", "a@acme.test", Some(ga)).await;
    let (b_id, b) = h.user(&m, "technician", "b@acme.test", Some(gb)).await;
    put(
        &h,
        "/api/v1/channels/{id}/groups",
        &["1"],
        json!({"ids": [ga, gb]}),
    )
    .await;
    let r = put(
        &h,
        "/api/v1/channels/{id}/routing",
        &["1"],
        json!({"auto_start": true}),
    )
    .await;
    assert_eq!(r["auto_start"], true);
    let code = channel_code(&h, 1).await;
    let _ca = online(&h, a_id, &a).await;
    let _cb = online(&h, b_id, &b).await;
    // The node renews the lease of its open consoles.
    let seen = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT console_seen FROM users WHERE id = $1")
            .bind(a_id)
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap()
            .unwrap()
    };
    let first = seen().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen().await <= first {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease never renewed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Both idle and empty: the lower id first (A), then the one holding fewer.
    let (s1, _w1) = customer(&h, &code, "One").await;
    let v = wait_session(&h, &m, &s1, |v| v["state"] == "active").await;
    assert_eq!(v["tech_id"], a_id);
    let (s2, _w2) = customer(&h, &code, "Two").await;
    let v = wait_session(&h, &m, &s2, |v| v["state"] == "active").await;
    assert_eq!(v["tech_id"], b_id);
    // Both hold one; A has been busy longer, so fairness alone would pick
    // A, but A is at its maximum of one: B gets it.
    let (s3, _w3) = customer(&h, &code, "Three").await;
    let v = wait_session(&h, &m, &s3, |v| v["state"] == "active").await;
    assert_eq!(
        v["tech_id"], b_id,
        "a technician at its maximum gets nothing"
    );
    // Everyone at its maximum: the fourth waits until A ends its session.
    let (s4, _w4) = customer(&h, &code, "Four").await;
    wait_session(&h, &m, &s4, |v| v["state"] == "waiting").await;
    let (s, _) = h
        .post("/api/v1/sessions/{id}/close", &[&s1], Some(&a), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let v = wait_session(&h, &m, &s4, |v| v["state"] == "active").await;
    assert_eq!(v["tech_id"], a_id);
    // A busy technician is given nothing; back to available, it is.
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/me/status",
            &[],
            Some(&a),
            Some(json!({"status": "busy"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let t = wait_status(&h, a_id, |t| t["status"] == "busy").await;
    assert_eq!(t["sessions"], 1);
    assert_eq!(t["max_sessions"], 1);
    let (s, _) = h
        .post("/api/v1/sessions/{id}/close", &[&s4], Some(&a), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s5, _w5) = customer(&h, &code, "Five").await;
    wait_session(&h, &m, &s5, |v| v["state"] == "waiting").await;
    h.call(
        Method::PUT,
        "/api/v1/me/status",
        &[],
        Some(&a),
        Some(json!({"status": "available"})),
    )
    .await;
    let v = wait_session(&h, &m, &s5, |v| v["state"] == "active").await;
    assert_eq!(v["tech_id"], a_id);
    // The console of the technician hears about its new session.
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_start_is_fair_within_each_maximum() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        auto_start(&db).await;
    }
}

async fn auto_transfer(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let first = h.tech_group(&m, None, "First line", &["chat"]).await;
    let second = h.tech_group(&m, None, "Second line", &["chat"]).await;
    let (_, t2) = h
        .user(&m, "technician", "second@acme.test", Some(second))
        .await;
    put(
        &h,
        "/api/v1/channels/{id}/groups",
        &["2"],
        json!({"ids": [first]}),
    )
    .await;
    // An unknown target group is refused like one out of scope.
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/channels/{id}/routing",
            &["2"],
            Some(&m),
            Some(json!({"auto_transfer": {"after_s": 1, "group_id": 9999}})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    put(
        &h,
        "/api/v1/channels/{id}/routing",
        &["2"],
        json!({"auto_transfer": {"after_s": 1, "group_id": second}}),
    )
    .await;
    let code = channel_code(&h, 2).await;
    let (sid, _w) = customer(&h, &code, "Patient").await;
    let v = wait_session(&h, &m, &sid, |v| v["state"] == "transferred").await;
    assert_eq!(v["group_id"], second);
    // It is now in the second line's queue, and that technician takes it.
    let (_, q) = h.get("/api/v1/sessions", &[], &t2).await;
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == sid.as_str()),
        "{q}"
    );
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/pickup",
            &[&sid],
            Some(&t2),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, log) = h.get("/api/v1/audit?limit=1000", &[], &m).await;
    let moves = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "session.auto_transfer" && e["target"] == format!("session:{sid}")
        })
        .count();
    assert_eq!(moves, 1);
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_transfer_moves_long_waits() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        auto_transfer(&db).await;
    }
}

async fn hours_and_unavailable(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "Support", &["chat"]).await;
    let (t_id, t) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    put(
        &h,
        "/api/v1/channels/{id}/groups",
        &["3"],
        json!({"ids": [g]}),
    )
    .await;
    let code = channel_code(&h, 3).await;
    let join = |name: &'static str| {
        let h = &h;
        let code = code.clone();
        async move {
            h.post(
                "/api/v1/join/channel/{code}",
                &[&code],
                None,
                json!({"name": name}),
            )
            .await
        }
    };
    // Nobody online and the channel says to show a message: no session.
    put(
        &h,
        "/api/v1/channels/{id}/routing",
        &["3"],
        json!({"unavailable": {"action": "message", "message": "Back at nine."}}),
    )
    .await;
    let (s, v) = join("Early").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "unavailable");
    assert_eq!(v["message"], "Back at nine.");
    let _console = online(&h, t_id, &t).await;
    let (s, v) = join("Now").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Open all of today as Kiritimati (UTC+14) counts it; in Pago Pago
    // (UTC-11) it is still the day before there, so the channel is closed,
    // whatever the hour here.
    let today = iso_weekday(14);
    let hours = |zone: &str| {
        json!({"hours": {"time_zone": zone, "days": [{"day": today, "open": "00:00", "close": "24:00"}]},
               "unavailable": {"action": "message", "message": "Closed."}})
    };
    put(
        &h,
        "/api/v1/channels/{id}/routing",
        &["3"],
        hours("Pacific/Kiritimati"),
    )
    .await;
    let (s, v) = join("Inside").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    put(
        &h,
        "/api/v1/channels/{id}/routing",
        &["3"],
        hours("Pacific/Pago_Pago"),
    )
    .await;
    let (s, v) = join("Outside").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["message"], "Closed.");
    // A web page instead: the API names it, the web pages go there.
    let mut pg = hours("Pacific/Pago_Pago");
    pg["unavailable"] = json!({"action": "page", "url": "https://acme.test/closed"});
    put(&h, "/api/v1/channels/{id}/routing", &["3"], pg).await;
    let (s, v) = join("Elsewhere").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "unavailable_page");
    assert_eq!(v["message"], "https://acme.test/closed");
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for req in [
        no_follow.get(format!("{}/join/{code}", h.base)),
        no_follow
            .post(format!("{}/join/{code}", h.base))
            .header("origin", &h.base)
            .form(&[("name", "Web")]),
    ] {
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        assert_eq!(resp.headers()["location"], "https://acme.test/closed");
    }
    // Keep waiting: the customer gets a session even outside the hours.
    let mut w = hours("Pacific/Pago_Pago");
    w["unavailable"] = json!({"action": "wait"});
    put(&h, "/api/v1/channels/{id}/routing", &["3"], w).await;
    let (s, v) = join("Patient").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let waiting_sid = v["session_id"].as_str().unwrap().to_owned();
    let _applet = applet_ws(&h, &v).await;
    wait_session(&h, &m, &waiting_sid, |v| v["state"] == "waiting").await;
    // Close: refused at the door, and what waits closes as unavailable.
    let mut c = hours("Pacific/Pago_Pago");
    c["unavailable"] = json!({"action": "close"});
    put(&h, "/api/v1/channels/{id}/routing", &["3"], c).await;
    let (s, _) = join("Late").await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, live) = h.get("/api/v1/sessions", &[], &m).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut live = live;
    while live
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == waiting_sid.as_str())
    {
        assert!(tokio::time::Instant::now() < deadline, "never closed");
        tokio::time::sleep(Duration::from_millis(25)).await;
        live = h.get("/api/v1/sessions", &[], &m).await.1;
    }
    // Bad settings are refused.
    for bad in [
        json!({"hours": {"time_zone": "Mars/Olympus", "days": []}}),
        json!({"hours": {"time_zone": "UTC", "days": [{"day": 8, "open": "09:00", "close": "17:00"}]}}),
        json!({"unavailable": {"action": "page", "url": "javascript:alert(1)"}}),
        json!({"fields": ["a", "b", "c", "d", "e", "f"]}),
        json!({"auto_transfer": {"after_s": 0, "group_id": g}}),
    ] {
        let (s, v) = h
            .call(
                Method::PUT,
                "/api/v1/channels/{id}/routing",
                &["3"],
                Some(&m),
                Some(bad.clone()),
            )
            .await;
        assert!(s.is_client_error(), "{bad} -> {s} {v}");
    }
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_hours_and_nobody_available() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        hours_and_unavailable(&db).await;
    }
}

async fn private_and_status(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["chat", "private_sessions"])
        .await;
    put(
        &h,
        "/api/v1/tech-groups/{id}/routing",
        &[&g.to_string()],
        json!({"private_unavailable": {"action": "message", "message": "Your technician stepped away."},
               "fields": ["Ticket"],
               "console": {"create_dialog": "Ask for the ticket number.",
                           "info_link_label": "Wiki", "info_link_url": "https://wiki.acme.test/",
                           "email_text": "Join me at {link}"}}),
    )
    .await;
    let (t_id, t) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    // CONSOLE-16 and FIELD-2 reach the console.
    let (s, c) = h.get("/api/v1/me/console", &[], &t).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["fields"], json!(["Ticket"]));
    assert_eq!(c["texts"]["info_link_url"], "https://wiki.acme.test/");
    assert_eq!(c["texts"]["email_text"], "Join me at {link}");
    let (s, _) = h.get("/api/v1/me/console", &[], &m).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // No console open: the customer is told, the session closes.
    let (_, p) = h.post("/api/v1/sessions", &[], Some(&t), json!({})).await;
    let (s, v) = h
        .post(
            "/api/v1/join",
            &[],
            None,
            json!({"pin": p["pin"], "name": "C"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["message"], "Your technician stepped away.");
    // Online: the technician fills the dialog's field, the customer comes.
    let _console = online(&h, t_id, &t).await;
    let (_, p) = h.post("/api/v1/sessions", &[], Some(&t), json!({})).await;
    let sid = p["session"]["id"].as_str().unwrap().to_owned();
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/sessions/{id}/fields",
            &[&sid],
            Some(&t),
            Some(json!({"fields": {"Ticket": "T-77"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/sessions/{id}/fields",
            &[&sid],
            Some(&t),
            Some(json!({"fields": {"Unknown": "x"}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (joined, _applet) = customer_joins_pin(&h, p["pin"].as_str().unwrap()).await;
    assert_eq!(joined["session_id"], sid.as_str());
    let (_, q) = h.get("/api/v1/sessions", &[], &t).await;
    let mine = q
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid.as_str())
        .unwrap()
        .clone();
    let fields: Value = serde_json::from_str(mine["customer_fields"].as_str().unwrap()).unwrap();
    assert_eq!(fields["Ticket"], "T-77");
    // Once the customer is there, editing needs PERM-20.
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/sessions/{id}/fields",
            &[&sid],
            Some(&t),
            Some(json!({"fields": {"Ticket": "T-78"}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "permission_denied");
    // FIELD-2 on the customer's side: after the PIN page, the joined page
    // asks the group's fields, proven by the session's token.
    let (_, p2) = h.post("/api/v1/sessions", &[], Some(&t), json!({})).await;
    let html = h
        .http
        .post(format!("{}/", h.base))
        .header("origin", &h.base)
        .form(&[("pin", p2["pin"].as_str().unwrap()), ("name", "Pat")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hidden = |name: &str| {
        let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        html[at..].split('"').next().unwrap().to_owned()
    };
    assert!(html.contains("id=\"joined-field0\""), "{html}");
    let (sid2, token2) = (hidden("session"), hidden("token"));
    let post_fields = |token: String, value: &'static str| {
        let (h, sid2) = (&h, sid2.clone());
        async move {
            h.http
                .post(format!("{}/joined/fields", h.base))
                .header("origin", &h.base)
                .form(&[
                    ("session", sid2.as_str()),
                    ("token", token.as_str()),
                    ("field0", value),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = post_fields("ab".repeat(32), "forged").await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let ok = post_fields(token2, "T-99").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("joined-fields-saved"));
    let (_, v) = h.get("/api/v1/sessions/{id}", &[&sid2], &m).await;
    let fields: Value = serde_json::from_str(v["customer_fields"].as_str().unwrap()).unwrap();
    assert_eq!(fields, json!({"Ticket": "T-99"}));
    // Away: the same as offline for a private session.
    h.call(
        Method::PUT,
        "/api/v1/me/status",
        &[],
        Some(&t),
        Some(json!({"status": "away"})),
    )
    .await;
    wait_status(&h, t_id, |s| s["status"] == "away" && s["online"] == true).await;
    let (_, p) = h.post("/api/v1/sessions", &[], Some(&t), json!({})).await;
    let (s, _) = h
        .post(
            "/api/v1/join",
            &[],
            None,
            json!({"pin": p["pin"], "name": "C"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // A web page instead: the PIN page goes there.
    put(
        &h,
        "/api/v1/tech-groups/{id}/routing",
        &[&g.to_string()],
        json!({"private_unavailable": {"action": "page", "url": "https://acme.test/away"}}),
    )
    .await;
    let (_, p) = h.post("/api/v1/sessions", &[], Some(&t), json!({})).await;
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/", h.base))
        .header("origin", &h.base)
        .form(&[("pin", p["pin"].as_str().unwrap()), ("name", "Web")])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert_eq!(resp.headers()["location"], "https://acme.test/away");
    // Idle logout (SESS-9): the token ends and the console closes.
    put(
        &h,
        "/api/v1/tech-groups/{id}/routing",
        &[&g.to_string()],
        json!({"idle_logout_s": 1}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, _) = h.get("/api/v1/me/console", &[], &t).await;
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never logged out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_status(&h, t_id, |s| s["online"] == false).await;
    let (_, log) = h.get("/api/v1/audit?limit=1000", &[], &m).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.idle_logout")
    );
    // Administrators only see their technicians; technicians see none.
    let (s, _) = h.get("/api/v1/technicians/status", &[], &t).await;
    assert!(s == StatusCode::FORBIDDEN || s == StatusCode::UNAUTHORIZED);
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_sessions_status_and_idle_logout() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        private_and_status(&db).await;
    }
}

async fn fields_to_queue(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["chat", "edit_custom_fields"])
        .await;
    let (_, t) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    put(
        &h,
        "/api/v1/channels/{id}/groups",
        &["4"],
        json!({"ids": [g]}),
    )
    .await;
    put(
        &h,
        "/api/v1/channels/{id}/routing",
        &["4"],
        json!({"fields": ["Case number", "Product"]}),
    )
    .await;
    let code = channel_code(&h, 4).await;
    // The channel's form asks exactly the configured fields.
    let page = h
        .http
        .get(format!("{}/join/{code}", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Case number") && page.contains("Product"),
        "{page}"
    );
    assert!(
        !page.contains("name=\"problem\""),
        "the default fields give way"
    );
    // The form, sent as a browser does.
    let resp = h
        .http
        .post(format!("{}/join/{code}", h.base))
        .header("origin", &h.base)
        .form(&[
            ("name", "Zoë"),
            ("field0", "C-1234"),
            ("field1", "Printer <b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    // The joined page gives the applet's command: session and token.
    let arg = |flag: &str| {
        let i = html.find(flag).unwrap() + flag.len();
        html[i..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect::<String>()
    };
    let joined = json!({"session_id": arg("--session "), "customer_token": arg("--token ")});
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let _applet = applet_ws(&h, &joined).await;
    // A name the channel does not ask is refused through the API.
    let (s, _) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "X", "fields": {"Other": "1"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The technician's queue shows them.
    let v = wait_session(&h, &t, &sid, |v| v["state"] == "waiting").await;
    assert_eq!(v["customer_name"], "Zoë");
    let fields: Value = serde_json::from_str(v["customer_fields"].as_str().unwrap()).unwrap();
    assert_eq!(
        fields,
        json!({"Case number": "C-1234", "Product": "Printer <b>"})
    );
    // PERM-20: the holder edits them during the session.
    let (s, v) = h
        .post("/api/v1/sessions/{id}/pickup", &[&sid], Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/sessions/{id}/fields",
            &[&sid],
            Some(&t),
            Some(json!({"fields": {"Product": "Scanner", "Case number": ""}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let fields: Value = serde_json::from_str(v["customer_fields"].as_str().unwrap()).unwrap();
    assert_eq!(fields, json!({"Product": "Scanner"}));
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_from_form_to_queue() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        fields_to_queue(&db).await;
    }
}
