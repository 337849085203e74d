//! Trusted proxies: `X-Forwarded-For` names the client only when the peer is
//! a configured proxy; from anyone else the socket's address counts, so a
//! client cannot pick the address its throttles and audit entries carry.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

/// The address the audit log recorded for the last failed login.
async fn last_failed_address(h: &Harness) -> String {
    let (_, entries) = h.get("/api/v1/audit?limit=1000", &[], &h.master).await;
    entries
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == "login.failed")
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
            d["address"].as_str().unwrap().to_owned()
        })
        .unwrap()
}

async fn fail_login(h: &Harness, forwarded: &str) {
    let (s, _) = h
        .call_from(
            forwarded,
            Method::POST,
            "/api/v1/auth/login",
            &[],
            None,
            Some(json!({"email": "nobody@acme.test", "password": "Wrong1%guess"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let db = sqlite();
    // No proxy configured: the header is the client's own claim.
    let h = Harness::start_with(&db, |c| c.trusted_proxies = Vec::new()).await;
    fail_login(&h, "203.0.113.5").await;
    assert_eq!(last_failed_address(&h).await, "127.0.0.1");
    // Rotating the header does not escape the join throttle either.
    for i in 0..5 {
        let (s, _) = h
            .call_from(
                &format!("198.51.100.{i}"),
                Method::POST,
                "/api/v1/join",
                &[],
                None,
                Some(json!({"pin": "000000"})),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, _) = h
        .call_from(
            "198.51.100.77",
            Method::POST,
            "/api/v1/join",
            &[],
            None,
            Some(json!({"pin": "000000"})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    h.server.shutdown().await.unwrap();

    // Behind a trusted proxy: the right-most address that is not a proxy.
    let db = sqlite();
    let h = Harness::start_with(&db, |c| {
        c.trusted_proxies = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]
    })
    .await;
    fail_login(&h, "203.0.113.5").await;
    assert_eq!(last_failed_address(&h).await, "203.0.113.5");
    fail_login(&h, "192.0.2.66, 203.0.113.6, 10.1.2.3").await;
    assert_eq!(
        last_failed_address(&h).await,
        "203.0.113.6",
        "entries left of the first untrusted one are the client's claims"
    );
    h.server.shutdown().await.unwrap();
}
