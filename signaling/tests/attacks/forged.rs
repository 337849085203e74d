//! Forged server messages: a peer cannot send a signal of a kind the server
//! emits (`relay`), nor any kind the spec does not give peers; the other
//! peer never receives it, and the session goes on.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "Support", &["chat"]).await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["1"],
        Some(&m),
        Some(json!({"ids": [g]})),
    )
    .await;
    let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();
    let mut console = ws_connect(&h.ws_url(&format!("/ws/console?token={tech}"))).await;
    ws_expect(&mut console, "queue").await;
    let (_, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "C"}),
        )
        .await;
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let mut applet = applet_ws(&h, &joined).await;
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/pickup",
            &[&sid],
            Some(&tech),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // The genuine relay token reaches both.
    ws_expect_where(&mut applet, "signal", |v| v["payload"]["kind"] == "relay").await;
    ws_expect_where(&mut console, "signal", |v| v["payload"]["kind"] == "relay").await;
    let forged =
        json!({"kind": "relay", "url": "wss://evil.example/relay/v1/ws", "token": "0".repeat(64)});
    for bad in [forged.clone(), json!({"kind": "exec", "cmd": "rm"})] {
        ws_send(&mut applet, json!({"type": "signal", "payload": bad})).await;
        let e = ws_expect(&mut applet, "error").await;
        assert!(
            e["message"].as_str().unwrap().contains("kind"),
            "{e} ({})",
            db.name
        );
        ws_send(
            &mut console,
            json!({"type": "signal", "session_id": sid, "payload": bad}),
        )
        .await;
        let e = ws_expect(&mut console, "error").await;
        assert!(e["message"].as_str().unwrap().contains("kind"), "{e}");
    }
    // The next signal each side receives is the genuine one that followed.
    ws_send(
        &mut applet,
        json!({"type": "signal", "payload": {"kind": "fingerprint", "sha256": "ab".repeat(32)}}),
    )
    .await;
    let got = ws_expect(&mut console, "signal").await;
    assert_eq!(got["payload"]["kind"], "fingerprint", "{got}");
    ws_send(
        &mut console,
        json!({"type": "signal", "session_id": sid, "payload": {"kind": "candidates", "list": []}}),
    )
    .await;
    let got = ws_expect(&mut applet, "signal").await;
    assert_eq!(got["payload"]["kind"], "candidates", "{got}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_cannot_send_server_signal_kinds() {
    for db in backends().await {
        scenario(&db).await;
    }
}
