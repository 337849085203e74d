//! Two server nodes on one PostgreSQL behave as one service: a console on
//! node A sees a customer who arrived on node B, picks the session up, and
//! signaling crosses between them through LISTEN/NOTIFY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_queue_and_signaling() {
    let Some(db) = postgres().await else {
        return; // reason printed by postgres(); SQLite is single-node by design
    };
    let a = Harness::start(&db).await;
    let b = Harness::start(&db).await;
    let m = a.master.clone();
    let g = a
        .tech_group(&m, None, "Support", &["chat", "remote_control"])
        .await;
    let (_, tech) = a.user(&m, "technician", "t@acme.test", Some(g)).await;
    a.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["3"],
        Some(&m),
        Some(json!({"ids": [g]})),
    )
    .await;
    let (_, chans) = b.get("/api/v1/channels", &[], &b.master).await;
    let code = chans[2]["link_code"].as_str().unwrap().to_owned();

    let mut console = ws_connect(&a.ws_url(&format!("/ws/console?token={tech}"))).await;
    ws_expect(&mut console, "queue").await;
    // The customer arrives on node B.
    let (s, joined) = b
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "Remote"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let mut applet = applet_ws(&b, &joined).await;
    let q = ws_expect_where(&mut console, "queue", |q| {
        !q["sessions"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        q["sessions"][0]["id"],
        sid.as_str(),
        "queue change crossed from B to A"
    );
    // Picked up on A: the applet on B hears it.
    let (s, _) = a
        .post(
            "/api/v1/sessions/{id}/pickup",
            &[&sid],
            Some(&tech),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let st = ws_expect_where(&mut applet, "session_state", |v| v["state"] == "active").await;
    assert_eq!(st["session_id"], sid.as_str());
    let granted = ws_expect(&mut applet, "granted").await;
    assert_eq!(
        granted["permissions"]["granted"],
        json!(["chat", "remote_control"])
    );
    let relay_b = ws_expect_where(&mut applet, "signal", |v| v["payload"]["kind"] == "relay").await;
    let relay_a =
        ws_expect_where(&mut console, "signal", |v| v["payload"]["kind"] == "relay").await;
    assert_eq!(
        relay_a["payload"], relay_b["payload"],
        "both peers got the same relay (node A's)"
    );
    // Fingerprints both ways across nodes.
    ws_send(&mut console, json!({"type": "signal", "session_id": sid, "payload": {"kind": "fingerprint", "sha256": "c".repeat(64)}})).await;
    assert_eq!(
        ws_expect(&mut applet, "signal").await["payload"]["sha256"],
        "c".repeat(64)
    );
    ws_send(
        &mut applet,
        json!({"type": "signal", "payload": {"kind": "fingerprint", "sha256": "a".repeat(64)}}),
    )
    .await;
    let got = ws_expect_where(&mut console, "signal", |v| {
        v["payload"]["kind"] == "fingerprint"
    })
    .await;
    assert_eq!(got["payload"]["sha256"], "a".repeat(64));
    // Closed on B by an administrator: A's console hears it.
    let (s, _) = b
        .post(
            "/api/v1/sessions/{id}/close",
            &[&sid],
            Some(&b.master),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    ws_expect_where(&mut console, "session_state", |v| v["state"] == "closed").await;
    // The audit chain stays one chain with two writers.
    let (_, r) = a.get("/api/v1/audit/verify", &[], &m).await;
    assert_eq!(r["intact"], true);
    b.server.shutdown().await.unwrap();
    a.server.shutdown().await.unwrap();
}

/// SESS-4 on two nodes: both sweep, yet each session is auto-assigned once
/// and no technician goes past its maximum of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_both_auto_assign() {
    let Some(db) = postgres().await else {
        return;
    };
    let a = Harness::start(&db).await;
    let b = Harness::start(&db).await;
    let m = a.master.clone();
    let g = a.tech_group(&m, None, "Support", &["chat"]).await;
    for (path, id, body) in [
        (
            "/api/v1/tech-groups/{id}/routing",
            g.to_string(),
            json!({"max_sessions": 1}),
        ),
        (
            "/api/v1/channels/{id}/groups",
            "5".to_owned(),
            json!({"ids": [g]}),
        ),
        (
            "/api/v1/channels/{id}/routing",
            "5".to_owned(),
            json!({"auto_start": true}),
        ),
    ] {
        let (s, v) = a
            .call(Method::PUT, path, &[&id], Some(&m), Some(body))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (t1, tok1) = a.user(&m, "technician", "t1@acme.test", Some(g)).await;
    let (t2, tok2) = a.user(&m, "technician", "t2@acme.test", Some(g)).await;
    // One console on each node.
    let mut c1 = ws_connect(&a.ws_url(&format!("/ws/console?token={tok1}"))).await;
    let mut c2 = ws_connect(&b.ws_url(&format!("/ws/console?token={tok2}"))).await;
    ws_expect(&mut c1, "queue").await;
    ws_expect(&mut c2, "queue").await;
    let (_, chans) = a.get("/api/v1/channels", &[], &m).await;
    let code = chans[4]["link_code"].as_str().unwrap().to_owned();
    // Four customers, alternating nodes.
    let mut applets = Vec::new();
    let mut ids = Vec::new();
    for (i, node) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (s, joined) = node
            .post(
                "/api/v1/join/channel/{code}",
                &[&code],
                None,
                json!({"name": format!("C{i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{joined}");
        ids.push(joined["session_id"].as_str().unwrap().to_owned());
        applets.push(applet_ws(node, &joined).await);
    }
    let held = |live: &serde_json::Value, tech: i64| {
        live.as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "active" && s["tech_id"] == tech)
            .count()
    };
    // Wait for both technicians to get one; then the other two wait.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let live = loop {
        let (_, live) = b.get("/api/v1/sessions", &[], &b.master).await;
        if held(&live, t1) + held(&live, t2) >= 2 {
            break live;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never assigned: {live}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!((held(&live, t1), held(&live, t2)), (1, 1), "{live}");
    // T1 ends its session: exactly one more is given to it.
    let mine = live
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tech_id"] == t1)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = b
        .post(
            "/api/v1/sessions/{id}/close",
            &[&mine],
            Some(&tok1),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let live = loop {
        let (_, live) = a.get("/api/v1/sessions", &[], &m).await;
        if held(&live, t1) == 1 {
            break live;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reassigned: {live}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!(held(&live, t2), 1);
    let waiting = live
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "waiting")
        .count();
    assert_eq!(waiting, 1, "{live}");
    // Each session was given at most once, by one node.
    let (_, log) = a.get("/api/v1/audit?limit=1000", &[], &m).await;
    for id in &ids {
        let n = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["action"] == "session.auto_start" && e["target"] == format!("session:{id}")
            })
            .count();
        assert!(n <= 1, "session {id} auto-assigned {n} times");
    }
    let total = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "session.auto_start")
        .count();
    assert_eq!(total, 3);
    b.server.shutdown().await.unwrap();
    a.server.shutdown().await.unwrap();
}
