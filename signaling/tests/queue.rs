//! CHAN-2/3, SESS-2/8, PERM-13: channel sessions reach exactly the
//! technicians of the channel's groups minus exclusions, live over
//! WebSocket; pick-up is exclusive; the applet receives the granted set and
//! a relay token; signaling flows both ways; transfer, hold and close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn ids(queue: &Value) -> Vec<String> {
    queue["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let support = h
        .tech_group(
            &m,
            None,
            "Support",
            &["chat", "remote_control", "single_prompt", "transfer"],
        )
        .await;
    let sales = h.tech_group(&m, None, "Sales", &["chat"]).await;
    let (a_id, a) = h.user(&m, "technician", "a@acme.test", Some(support)).await;
    let (b_id, b) = h.user(&m, "technician", "b@acme.test", Some(support)).await;
    let (_, c) = h.user(&m, "technician", "c@acme.test", Some(sales)).await;

    // Channel 1 goes to Support; B is removed from it (CHAN-3).
    let (s, ch) = h
        .call(
            Method::PATCH,
            "/api/v1/channels/{id}",
            &["1"],
            Some(&m),
            Some(json!({"name": "Hotline <b>&"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        ch["name"], "Hotline <b>&",
        "hostile text is stored as given, JSON-escaped"
    );
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["1"],
        Some(&m),
        Some(json!({"ids": [support]})),
    )
    .await;
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/channels/{id}/exclusions",
            &["1"],
            Some(&m),
            Some(json!({"ids": [b_id]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let code = ch["link_code"].as_str().unwrap().to_owned();

    let mut ws_a = ws_connect(&h.ws_url(&format!("/ws/console?token={a}"))).await;
    let mut ws_b = ws_connect(&h.ws_url(&format!("/ws/console?token={b}"))).await;
    let mut ws_c = ws_connect(&h.ws_url(&format!("/ws/console?token={c}"))).await;
    for ws in [&mut ws_a, &mut ws_b, &mut ws_c] {
        let q = ws_expect(ws, "queue").await;
        assert!(ids(&q).is_empty());
    }

    // A customer comes through the channel link with a form.
    let (s, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "Zoë", "fields": {"problem": "<script>alert(1)</script>"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let mut applet = applet_ws(&h, &joined).await;
    let q = ws_expect_where(&mut ws_a, "queue", |q| !ids(q).is_empty()).await;
    assert_eq!(ids(&q), vec![sid.clone()]);
    assert_eq!(q["sessions"][0]["state"], "waiting");
    // B (excluded) and C (other group) do not see it, over the API either.
    let (_, qb) = h.get("/api/v1/sessions", &[], &b).await;
    let (_, qc) = h.get("/api/v1/sessions", &[], &c).await;
    assert_eq!((qb, qc), (json!([]), json!([])));
    // Neither can pick it up; A can, once.
    let (s, _) = h
        .post("/api/v1/sessions/{id}/pickup", &[&sid], Some(&b), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .post("/api/v1/sessions/{id}/pickup", &[&sid], Some(&a), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tech_id"], a_id);
    let (s, _) = h
        .post("/api/v1/sessions/{id}/pickup", &[&sid], Some(&a), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The applet learns: active, its permission set, and a relay token; the
    // console gets the same relay token.
    let st = ws_expect_where(&mut applet, "session_state", |v| v["state"] != "waiting").await;
    assert_eq!(st["state"], "active");
    let granted = ws_expect(&mut applet, "granted").await;
    assert_eq!(granted["technician"], "nick-a@acme.test");
    assert_eq!(
        granted["permissions"]["granted"],
        json!(["chat", "remote_control", "transfer"])
    );
    assert_eq!(granted["permissions"]["prompt"], json!(["remote_control"]));
    assert_eq!(granted["permissions"]["single_prompt"], true);
    let relay_applet =
        ws_expect_where(&mut applet, "signal", |v| v["payload"]["kind"] == "relay").await;
    let relay_console =
        ws_expect_where(&mut ws_a, "signal", |v| v["payload"]["kind"] == "relay").await;
    assert_eq!(
        relay_applet["payload"]["token"],
        relay_console["payload"]["token"]
    );
    let (_, perms) = h
        .get("/api/v1/sessions/{id}/permissions", &[&sid], &a)
        .await;
    assert_eq!(
        perms, granted["permissions"],
        "console and applet hold the same set"
    );

    // Fingerprints cross both ways; B cannot inject into A's session.
    let fp = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    ws_send(&mut ws_a, json!({"type": "signal", "session_id": sid, "payload": {"kind": "fingerprint", "sha256": fp}})).await;
    let got = ws_expect(&mut applet, "signal").await;
    assert_eq!(got["payload"], json!({"kind": "fingerprint", "sha256": fp}));
    ws_send(
        &mut applet,
        json!({"type": "signal", "payload": {"kind": "candidates", "list": ["198.51.100.2:4000"]}}),
    )
    .await;
    let got = ws_expect_where(&mut ws_a, "signal", |v| {
        v["payload"]["kind"] == "candidates"
    })
    .await;
    assert_eq!(got["session_id"], sid.as_str());
    ws_send(
        &mut ws_b,
        json!({"type": "signal", "session_id": sid, "payload": {"kind": "fingerprint", "sha256": fp}}),
    )
    .await;
    let err = ws_expect(&mut ws_b, "error").await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("not a live session")
    );
    ws_send(&mut ws_a, json!({"type": "signal", "session_id": sid, "payload": {"kind": "candidates", "list": ["y".repeat(5000)]}})).await;
    assert_eq!(
        ws_expect(&mut ws_a, "error").await["message"],
        "message too large"
    );
    // Unknown kinds, and the server's own kind from a peer, are refused:
    // the applet can trust that a `relay` signal came from the server.
    ws_send(
        &mut ws_a,
        json!({"type": "signal", "session_id": sid, "payload": {"kind": "x"}}),
    )
    .await;
    assert!(
        ws_expect(&mut ws_a, "error").await["message"]
            .as_str()
            .unwrap()
            .contains("unknown signal kind")
    );
    ws_send(
        &mut ws_a,
        json!({"type": "signal", "session_id": sid,
        "payload": {"kind": "relay", "url": "wss://evil.example/relay/v1/ws", "token": "t"}}),
    )
    .await;
    assert_eq!(
        ws_expect(&mut ws_a, "error").await["message"],
        "the kind `relay` is the server's own"
    );

    // may(): granted, not granted, not yours.
    let (_, d) = h
        .post(
            "/api/v1/sessions/{id}/may",
            &[&sid],
            Some(&a),
            json!({"action": "remote_control"}),
        )
        .await;
    assert_eq!(d, json!({"allowed": true, "reason": "granted"}));
    let (_, d) = h
        .post(
            "/api/v1/sessions/{id}/may",
            &[&sid],
            Some(&a),
            json!({"action": "reboot"}),
        )
        .await;
    assert_eq!(d, json!({"allowed": false, "reason": "not_granted"}));
    // Another technician's session answers as if it did not exist.
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/may",
            &[&sid],
            Some(&b),
            json!({"action": "chat"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Hold and resume; transfer to B (PERM-13), who sees it and picks it up.
    let (_, v) = h
        .post("/api/v1/sessions/{id}/hold", &[&sid], Some(&a), json!({}))
        .await;
    assert_eq!(v["state"], "on_hold");
    let (_, d) = h
        .post(
            "/api/v1/sessions/{id}/may",
            &[&sid],
            Some(&a),
            json!({"action": "chat"}),
        )
        .await;
    assert_eq!(
        d["allowed"], true,
        "on hold is still the technician's session"
    );
    let (_, v) = h
        .post("/api/v1/sessions/{id}/resume", &[&sid], Some(&a), json!({}))
        .await;
    assert_eq!(v["state"], "active");
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/transfer",
            &[&sid],
            Some(&a),
            json!({"tech_id": b_id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "transferred");
    let q = ws_expect_where(&mut ws_b, "queue", |q| !ids(q).is_empty()).await;
    assert_eq!(ids(&q), vec![sid.clone()]);
    let (s, _) = h
        .post("/api/v1/sessions/{id}/pickup", &[&sid], Some(&b), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // C's group does not grant transfer.
    let (_, c_session) = h
        .post("/api/v1/channels/{id}/test", &["1"], Some(&m), json!({}))
        .await;
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/transfer",
            &[c_session["id"].as_str().unwrap()],
            Some(&c),
            json!({"group_id": sales}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // An administrator transfers to a group (SESS-8): Sales sees it now.
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/transfer",
            &[&sid],
            Some(&m),
            json!({"group_id": sales}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let q = ws_expect_where(&mut ws_c, "queue", |q| ids(q).contains(&sid)).await;
    assert!(ids(&q).contains(&sid));
    let (s, _) = h
        .post("/api/v1/sessions/{id}/pickup", &[&sid], Some(&c), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = h
        .post("/api/v1/sessions/{id}/close", &[&sid], Some(&c), json!({}))
        .await;
    assert_eq!(
        (s, v["state"].as_str(), v["close_reason"].as_str()),
        (StatusCode::OK, Some("closed"), Some("technician"))
    );
    let st = ws_expect_where(&mut applet, "session_state", |v| v["state"] == "closed").await;
    assert_eq!(st["reason"], "technician");

    // CHAN-5: the test session is in Support's queue; the estimate now exists.
    let q = ws_expect_where(&mut ws_a, "queue", |q| {
        ids(q).contains(&c_session["id"].as_str().unwrap().to_owned())
    })
    .await;
    assert!(
        q["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["is_test"] == true)
    );
    let (_, joined2) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "Next"}),
        )
        .await;
    assert!(
        joined2["estimated_wait_s"].is_i64(),
        "APPLET-4 estimate from past pick-ups: {joined2}"
    );
    // The applet leaving closes its session as disconnected.
    let mut applet2 = applet_ws(&h, &joined2).await;
    ws_send(&mut applet2, json!({"type": "close"})).await;
    let st = ws_expect_where(&mut ws_a, "session_state", |v| {
        v["session_id"] == joined2["session_id"] && v["state"] == "closed"
    })
    .await;
    assert_eq!(st["reason"], "customer");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_queue_pickup_transfer_signaling() {
    for db in backends().await {
        scenario(&db).await;
    }
}

async fn timeouts(db: &Db) {
    let h = Harness::start_with(db, |c| {
        c.timeouts.waiting_s = 2;
        c.timeouts.idle_s = 2;
        c.timeouts.warning_s = 1;
    })
    .await;
    let m = h.master.clone();
    let support = h.tech_group(&m, None, "Support", &["chat"]).await;
    let (_, a) = h.user(&m, "technician", "a@acme.test", Some(support)).await;
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["2"],
        Some(&m),
        Some(json!({"ids": [support]})),
    )
    .await;
    let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
    let code = chans[1]["link_code"].as_str().unwrap().to_owned();
    let mut console = ws_connect(&h.ws_url(&format!("/ws/console?token={a}"))).await;
    // Waiting in the queue: warning, then closed as timed out.
    let (_, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "W"}),
        )
        .await;
    let mut applet = applet_ws(&h, &joined).await;
    let w = ws_expect(&mut applet, "warning").await;
    assert_eq!(w["timeout"], "waiting");
    let w2 = ws_expect(&mut console, "warning").await;
    assert_eq!(w2["session_id"], joined["session_id"]);
    let st = ws_expect_where(&mut applet, "session_state", |v| v["state"] == "closed").await;
    assert_eq!(st["reason"], "timed_out");
    // Idle while active: warning first, then closed.
    let (_, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "I"}),
        )
        .await;
    let mut applet = applet_ws(&h, &joined).await;
    let sid = joined["session_id"].as_str().unwrap();
    let (s, _) = h
        .post("/api/v1/sessions/{id}/pickup", &[sid], Some(&a), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let w = ws_expect_where(&mut console, "warning", |v| v["session_id"] == sid).await;
    assert_eq!(w["timeout"], "idle");
    let st = ws_expect_where(&mut applet, "session_state", |v| v["state"] == "closed").await;
    assert_eq!(st["reason"], "timed_out");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_warn_then_close() {
    for db in backends().await {
        timeouts(&db).await;
    }
}
