//! CONSOLE-9: an applet that drops off a live session (a reboot, a kill)
//! comes back with its customer token within the grace period, gets the same
//! rights and a new relay pair for both peers; one that does not come back
//! in time closes the session as `disconnected`; a session not yet picked up
//! closes at once; the token dies with the session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A technician's picked-up PIN session: (console socket, joined, applet
/// socket, session id).
async fn live_session(h: &Harness, email: &str) -> (Ws, Value, Ws, String) {
    let m = h.master.clone();
    let group = h
        .tech_group(
            &m,
            None,
            email,
            &["chat", "remote_control", "private_sessions"],
        )
        .await;
    let (_, tech) = h.user(&m, "technician", email, Some(group)).await;
    let mut console = ws_connect(&h.ws_url(&format!("/ws/console?token={tech}"))).await;
    ws_expect(&mut console, "queue").await;
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let (joined, mut applet) = customer_joins_pin(h, v["pin"].as_str().unwrap()).await;
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/pickup",
            &[&sid],
            Some(&tech),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    ws_expect(&mut applet, "granted").await;
    ws_expect_where(&mut applet, "signal", |v| v["payload"]["kind"] == "relay").await;
    ws_expect_where(&mut console, "signal", |v| v["payload"]["kind"] == "relay").await;
    (console, joined, applet, sid)
}

/// The session's state and close reason, as stored.
async fn state_of(h: &Harness, sid: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT state, close_reason FROM support_sessions WHERE id = $1")
        .bind(sid)
        .fetch_one(&h.server.state.store.pool)
        .await
        .unwrap()
}

async fn scenario(db: &Db) {
    let h = Harness::start_with(db, |c| c.timeouts.reconnect_s = 2).await;

    // The applet goes (killed: its socket just ends), and comes back.
    let (mut console, joined, applet, sid) = live_session(&h, "t1@acme.test").await;
    drop(applet);
    let warned =
        ws_expect_where(&mut console, "warning", |v| v["session_id"] == sid.as_str()).await;
    assert_eq!(warned["timeout"], "reconnect", "{warned}");
    assert_eq!(state_of(&h, &sid).await.0, "active");
    let mut back = applet_ws(&h, &joined).await;
    let granted = ws_expect(&mut back, "granted").await;
    assert_eq!(
        granted["permissions"]["granted"],
        json!(["chat", "remote_control", "private_sessions"])
    );
    let at_applet = ws_expect_where(&mut back, "signal", |v| v["payload"]["kind"] == "relay").await;
    let at_console =
        ws_expect_where(&mut console, "signal", |v| v["payload"]["kind"] == "relay").await;
    assert_eq!(
        at_applet["payload"]["token"],
        at_console["payload"]["token"]
    );
    // Past the grace period it is still live: it came back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(state_of(&h, &sid).await.0, "active");

    // Gone for good: closed as disconnected once the grace period passes,
    // and the token no longer opens a socket.
    drop(back);
    ws_expect_where(&mut console, "session_state", |v| {
        v["session_id"] == sid.as_str() && v["state"] == "closed"
    })
    .await;
    assert_eq!(
        state_of(&h, &sid).await,
        ("closed".to_owned(), Some("disconnected".to_owned()))
    );
    let url = h.ws_url(&format!(
        "/ws/applet?session={sid}&token={}",
        joined["customer_token"].as_str().unwrap()
    ));
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err(),
        "a closed session's token opens nothing"
    );

    // Not picked up yet: the session closes when its applet goes.
    let m = h.master.clone();
    let group = h.tech_group(&m, None, "t2", &["private_sessions"]).await;
    let (_, tech) = h.user(&m, "technician", "t2@acme.test", Some(group)).await;
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let (joined, applet) = customer_joins_pin(&h, v["pin"].as_str().unwrap()).await;
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    drop(applet);
    for _ in 0..100 {
        if state_of(&h, &sid).await.0 == "closed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        state_of(&h, &sid).await,
        ("closed".to_owned(), Some("disconnected".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applet_comes_back_within_the_grace_period_or_the_session_closes() {
    for db in backends().await {
        scenario(&db).await;
    }
}
