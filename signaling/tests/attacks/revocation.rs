//! Revocation is immediate: disabling a technician, resetting its password,
//! disabling its group or tightening its group's IP rule ends its console
//! WebSockets, its live sessions (and so their signaling) and their relay
//! pairs; others stay connected.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::*;

/// Whether the socket ends (close, error or end) within 10 s, skipping
/// whatever messages come before.
async fn ends(ws: &mut Ws) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Whether the socket still answers a ping.
async fn alive(ws: &mut Ws) -> bool {
    ws_send(ws, json!({"type": "ping"})).await;
    ws_expect(ws, "pong").await["type"] == "pong"
}

async fn console_from(h: &Harness, token: &str, ip: &str) -> Ws {
    let mut req = h
        .ws_url(&format!("/ws/console?token={token}"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-forwarded-for", ip.parse().unwrap());
    let mut ws = tokio_tungstenite::connect_async(req).await.unwrap().0;
    ws_expect(&mut ws, "queue").await;
    ws
}

/// A channel session picked up by `tech`, with its applet socket and both
/// ends of its relay pair (checked to forward).
async fn live_session(h: &Harness, tech: &str, console: &mut Ws) -> (Ws, Ws, Ws) {
    let (_, chans) = h.get("/api/v1/channels", &[], &h.master).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();
    let (_, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "C"}),
        )
        .await;
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let mut applet = applet_ws(h, &joined).await;
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/pickup",
            &[&sid],
            Some(tech),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let relay = ws_expect_where(&mut applet, "signal", |v| v["payload"]["kind"] == "relay").await;
    ws_expect_where(console, "signal", |v| {
        v["payload"]["kind"] == "relay" && v["session_id"] == sid.as_str()
    })
    .await;
    let token = relay["payload"]["token"].as_str().unwrap();
    let url = |side: &str| h.ws_url(&format!("/relay/v1/{token}?side={side}"));
    let mut a = ws_connect(&url("console")).await;
    let mut b = ws_connect(&url("applet")).await;
    a.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), b.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.into_data().as_ref(), &[1u8, 2, 3]);
    (applet, a, b)
}

async fn closed_as_revoked(applet: &mut Ws) -> Value {
    ws_expect_where(applet, "session_state", |v| v["state"] == "closed").await
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "Support", &["chat"]).await;
    let g2 = h.tech_group(&m, None, "Night", &["chat"]).await;
    let g3 = h.tech_group(&m, None, "Remote", &["chat"]).await;
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["1"],
        Some(&m),
        Some(json!({"ids": [g, g2, g3]})),
    )
    .await;
    let (a_id, a) = h.user(&m, "technician", "a@acme.test", Some(g)).await;
    let (b_id, b) = h.user(&m, "technician", "b@acme.test", Some(g)).await;
    let (_, c) = h.user(&m, "technician", "c@acme.test", Some(g2)).await;
    let (_, d) = h.user(&m, "technician", "d@acme.test", Some(g3)).await;
    let mut con_a = console_from(&h, &a, "127.0.0.1").await;
    let mut con_b = console_from(&h, &b, "127.0.0.1").await;
    let mut con_c = console_from(&h, &c, "127.0.0.1").await;
    let mut con_d = console_from(&h, &d, "198.51.100.20").await;

    // Disabling A ends its console, its session and the session's relay pair.
    let (mut applet, mut ra, mut rb) = live_session(&h, &a, &mut con_a).await;
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&a_id.to_string()],
            Some(&m),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ends(&mut con_a).await, "A's console survived ({})", db.name);
    assert_eq!(closed_as_revoked(&mut applet).await["reason"], "revoked");
    assert!(
        ends(&mut ra).await && ends(&mut rb).await,
        "the relay pair survived"
    );
    assert!(alive(&mut con_b).await && alive(&mut con_c).await && alive(&mut con_d).await);

    // Resetting B's password.
    let (mut applet, _ra, _rb) = live_session(&h, &b, &mut con_b).await;
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&b_id.to_string()],
            Some(&m),
            Some(json!({"password": "Reset3%zzz"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ends(&mut con_b).await, "B's console survived");
    assert_eq!(closed_as_revoked(&mut applet).await["reason"], "revoked");

    // Disabling C's group.
    let (mut applet, _ra, _rb) = live_session(&h, &c, &mut con_c).await;
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/tech-groups/{id}",
            &[&g2.to_string()],
            Some(&m),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ends(&mut con_c).await, "C's console survived");
    assert_eq!(closed_as_revoked(&mut applet).await["reason"], "revoked");
    assert!(alive(&mut con_d).await);

    // Tightening D's group's IP rule: D's address is no longer allowed.
    let (mut applet, _ra, _rb) = live_session(&h, &d, &mut con_d).await;
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/settings",
            &[&g3.to_string()],
            Some(&m),
            Some(
                json!({"permissions": ["chat"], "ip_mode": "deny_all_except",
                "ip_ranges": ["203.0.113.0/24"]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(ends(&mut con_d).await, "D's console survived");
    assert_eq!(closed_as_revoked(&mut applet).await["reason"], "revoked");
    // The server still serves everyone else.
    let (s, _) = h.call(Method::GET, "/api/v1/health", &[], None, None).await;
    assert_eq!(s, StatusCode::OK);
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_access_ends_consoles_sessions_and_relay_pairs() {
    for db in backends().await {
        scenario(&db).await;
    }
}
