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

/// Creations and redemptions arriving together are coalesced on SQLite:
/// each still gets its own answer, a refused technician in the same batch
/// is refused alone, and two customers racing for one code: one wins.
async fn concurrency(db: &Db) {
    let h = std::sync::Arc::new(Harness::start(db).await);
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["private_sessions"])
        .await;
    let viewers = h.tech_group(&m, None, "Viewers", &["chat"]).await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let (_, viewer) = h.user(&m, "technician", "v@acme.test", Some(viewers)).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (h, token) = (
            h.clone(),
            if i % 10 == 0 {
                viewer.clone()
            } else {
                tech.clone()
            },
        );
        tasks.push(tokio::spawn(async move {
            h.post("/api/v1/sessions", &[], Some(&token), json!({}))
                .await
        }));
    }
    let mut pins = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (s, v) = t.await.unwrap();
        if i % 10 == 0 {
            assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        } else {
            assert_eq!(s, StatusCode::CREATED, "{v}");
            pins.push(v["pin"].as_str().unwrap().to_owned());
        }
    }
    let unique: std::collections::HashSet<_> = pins.iter().collect();
    assert_eq!(unique.len(), pins.len(), "live codes are unique");
    // Every code redeemed twice at once, from different addresses.
    let mut tasks = Vec::new();
    for (i, pin) in pins.iter().chain(pins.iter()).enumerate() {
        let (h, pin) = (h.clone(), pin.clone());
        tasks.push(tokio::spawn(async move {
            let ip = format!("198.18.{}.{}", i / 200, i % 200 + 1);
            let (s, v) = h
                .call_from(
                    &ip,
                    Method::POST,
                    "/api/v1/join",
                    &[],
                    None,
                    Some(json!({"pin": pin, "name": format!("c{i}")})),
                )
                .await;
            (pin, s, v)
        }));
    }
    let mut wins = std::collections::HashMap::new();
    for t in tasks {
        let (pin, s, v) = t.await.unwrap();
        match s {
            StatusCode::OK => {
                assert_eq!(v["technician"], "nick-t@acme.test");
                *wins.entry(pin).or_insert(0) += 1;
            }
            StatusCode::NOT_FOUND => assert_eq!(v["code"], "invalid_code"),
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(wins.len(), pins.len(), "every code was redeemed");
    assert!(
        wins.values().all(|n| *n == 1),
        "no code was redeemed twice: {wins:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_codes_each_get_their_own_answer() {
    for db in backends().await {
        concurrency(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_expire() {
    for db in backends().await {
        expiry(&db).await;
    }
}
