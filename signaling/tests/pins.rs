//! SESS-1 PIN codes and links: six digits, single use, expiring, and
//! redemption throttled per address after a few failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn scenario(db: &Db) {
    let h = Harness::start_with(db, |c| {
        c.pin_max_failures = 4;
    })
    .await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["private_sessions", "chat"])
        .await;
    let nopriv = h.tech_group(&m, None, "Viewers", &["chat"]).await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let (_, viewer) = h.user(&m, "technician", "v@acme.test", Some(nopriv)).await;

    // PERM-11 gates private sessions.
    let (s, v) = h
        .post("/api/v1/sessions", &[], Some(&viewer), json!({}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_denied"))
    );

    // Codes are six digits and unique among live ones.
    let mut pins = std::collections::HashSet::new();
    for _ in 0..30 {
        let (s, v) = h
            .post("/api/v1/sessions", &[], Some(&tech), json!({}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let pin = v["pin"].as_str().unwrap().to_owned();
        assert!(pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()));
        assert!(pins.insert(pin), "a live code was handed out twice");
    }
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let pin = v["pin"].as_str().unwrap().to_owned();
    let link = v["link"]
        .as_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();

    // Single use: the second redemption fails (and counts as a failure).
    let (s, joined) = h
        .post(
            "/api/v1/join",
            &[],
            None,
            json!({"pin": pin, "name": "Zoé"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    assert_eq!(joined["technician"], "nick-t@acme.test");
    let (s, v) = h
        .call_from(
            "10.9.9.9",
            Method::POST,
            "/api/v1/join",
            &[],
            None,
            Some(json!({"pin": pin})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("invalid_code"))
    );
    // The link of that session died with its PIN.
    let (s, _) = h
        .call_from(
            "10.9.9.9",
            Method::POST,
            "/api/v1/join",
            &[],
            None,
            Some(json!({"link": link})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A link works once on its own.
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let link = v["link"]
        .as_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let (s, _) = h
        .post("/api/v1/join", &[], None, json!({"link": link}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = h
        .post("/api/v1/join", &[], None, json!({"link": link}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Brute force from one address: after 4 failures, even a right code is refused.
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let good = v["pin"].as_str().unwrap().to_owned();
    let attacker = "203.0.113.7";
    for wrong in ["000000", "abc", "11111", "999999"] {
        let (s, _) = h
            .call_from(
                attacker,
                Method::POST,
                "/api/v1/join",
                &[],
                None,
                Some(json!({"pin": wrong})),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{wrong}");
    }
    let (s, v) = h
        .call_from(
            attacker,
            Method::POST,
            "/api/v1/join",
            &[],
            None,
            Some(json!({"pin": good})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("throttled"))
    );
    // Another address is not affected and the code is still valid for it.
    let (s, _) = h
        .call_from(
            "198.51.100.1",
            Method::POST,
            "/api/v1/join",
            &[],
            None,
            Some(json!({"pin": good})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    h.server.shutdown().await.unwrap();
}

async fn expiry(db: &Db) {
    let h = Harness::start_with(db, |c| {
        c.timeouts.code_validity_s = 1;
        c.timeouts.warning_s = 0;
    })
    .await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["private_sessions"])
        .await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let pin = v["pin"].as_str().unwrap().to_owned();
    let id = v["session"]["id"].as_str().unwrap().to_owned();
    // Wait (on the session's state, not a clock) until the sweeper closes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let state: String = sqlx::query_scalar("SELECT state FROM support_sessions WHERE id = $1")
            .bind(&id)
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap();
        if state == "closed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "code never expired");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, v) = h.post("/api/v1/join", &[], None, json!({"pin": pin})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("invalid_code"))
    );
    let reason: Option<String> =
        sqlx::query_scalar("SELECT close_reason FROM support_sessions WHERE id = $1")
            .bind(&id)
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("timed_out"));
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_are_single_use_unique_and_throttled() {
    for db in backends().await {
        scenario(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_expire() {
    for db in backends().await {
        expiry(&db).await;
    }
}
