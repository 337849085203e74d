//! Brute force, concurrently: hundreds of wrong PIN codes or passwords at
//! once from one address are evaluated at most the allowed number of times
//! (check and count are one statement); IPv6 addresses count by their /64;
//! failures by others do not lock an account's owner out. Meanwhile a
//! health request and a legitimate customer are served.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

const FLOOD: usize = 300;

async fn pins(db: &Db) {
    let h = Arc::new(Harness::start_with(db, |c| c.pin_max_failures = 5).await);
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["private_sessions"])
        .await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let good = v["pin"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..FLOOD {
        let h = h.clone();
        let mut pin = format!("{:06}", i * 3001 % 1_000_000);
        if pin == good {
            pin = format!("{:06}", (i * 3001 + 1) % 1_000_000);
        }
        tasks.push(tokio::spawn(async move {
            h.call_from(
                "198.51.100.7",
                Method::POST,
                "/api/v1/join",
                &[],
                None,
                Some(json!({"pin": pin})),
            )
            .await
        }));
    }
    // Served meanwhile: a health request and a customer elsewhere.
    let (s, _) = h.call(Method::GET, "/api/v1/health", &[], None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (joined, _applet) = customer_joins_pin(&h, &good).await;
    assert!(joined["session_id"].is_string());
    let (mut evaluated, mut throttled) = (0, 0);
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::NOT_FOUND => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("{other}: {v}"),
        }
    }
    assert!(
        evaluated <= 5,
        "{evaluated} wrong codes of {FLOOD} were evaluated ({})",
        db.name
    );
    assert_eq!(evaluated + throttled, FLOOD);
    // An IPv6 subscriber's /64 is one address.
    let join_from = |ip: &'static str| {
        let h = h.clone();
        async move {
            h.call_from(
                ip,
                Method::POST,
                "/api/v1/join",
                &[],
                None,
                Some(json!({"pin": "000000"})),
            )
            .await
            .0
        }
    };
    for ip in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:aaaa::3",
        "2001:db8:1:2::4",
        "2001:db8:1:2:ffff:ffff:ffff:fff5",
    ] {
        assert_eq!(join_from(ip).await, StatusCode::NOT_FOUND, "{ip}");
    }
    assert_eq!(
        join_from("2001:db8:1:2::99").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(join_from("2001:db8:1:3::1").await, StatusCode::NOT_FOUND);
}

async fn logins(db: &Db) {
    let h = Arc::new(Harness::start(db).await);
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "Support", &["chat"]).await;
    // The owner logged in from 127.0.0.1 (the harness's address) once.
    h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let login_from = |ip: String, password: &'static str| {
        let h = h.clone();
        async move {
            h.call_from(
                &ip,
                Method::POST,
                "/api/v1/auth/login",
                &[],
                None,
                Some(json!({"email": "t@acme.test", "password": password})),
            )
            .await
        }
    };
    let mut tasks = Vec::new();
    for _ in 0..FLOOD {
        tasks.push(tokio::spawn(login_from(
            "198.51.100.9".to_owned(),
            "Wrong1%guess",
        )));
    }
    let (s, _) = h.call(Method::GET, "/api/v1/health", &[], None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut evaluated = 0;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}: {v}"),
        }
    }
    assert!(
        evaluated <= 5,
        "{evaluated} wrong passwords of {FLOOD} were evaluated ({})",
        db.name
    );
    let (s, _) = login_from("198.51.100.9".to_owned(), PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "the pair stays throttled");
    // Others spray the account from many addresses until its own limit.
    let mut refused = 0;
    for i in 0..25 {
        let (s, _) = login_from(format!("198.51.101.{i}"), "Wrong1%guess").await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "the account's limit never applied");
    let (s, _) = login_from("198.51.102.1".to_owned(), PASSWORD).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "an unknown address waits out the account's window"
    );
    // The owner, from where it logged in before, is not locked out.
    let (s, v) = login_from("127.0.0.1".to_owned(), PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pin_guesses_are_counted_before_they_are_evaluated() {
    for db in backends().await {
        pins(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_password_guesses_neither_pass_nor_lock_the_owner_out() {
    for db in backends().await {
        logins(&db).await;
    }
}
