//! Monitoring (SESS-10) over HTTP and the console socket, on SQLite and
//! PostgreSQL: who may watch whom (the administrator's scope, the group's
//! option), the consent options (`tell` starts at once, `ask` waits for the
//! technician's answer), the technician's console told of every step, and
//! the audit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn put_routing(h: &Harness, group: i64, monitoring: &str) {
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/routing",
            &[&group.to_string()],
            Some(&h.master),
            Some(json!({"monitoring": monitoring})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["monitoring"], monitoring);
}

async fn ask(h: &Harness, token: &str, tech: i64) -> (StatusCode, Value) {
    h.post(
        "/api/v1/technicians/{id}/monitor",
        &[&tech.to_string()],
        Some(token),
        json!({}),
    )
    .await
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let support = h.tech_group(&m, None, "Support", &["chat"]).await;
    let sales = h.tech_group(&m, None, "Sales", &["chat"]).await;
    let (admin_id, admin) = h.user(&m, "admin", "ada@acme.test", None).await;
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/users/{id}/assignments",
            &[&admin_id.to_string()],
            Some(&m),
            Some(json!({"group_ids": [support]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (t_id, t) = h.user(&m, "technician", "t@acme.test", Some(support)).await;
    let (st_id, st) = h.user(&m, "technician", "st@acme.test", Some(sales)).await;
    let (_, other) = h.user(&m, "technician", "o@acme.test", Some(support)).await;

    // Off by default: nobody watches.
    let (s, v) = ask(&h, &admin, t_id).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    put_routing(&h, support, "tell").await;
    put_routing(&h, sales, "tell").await;
    // The console must be open.
    let (s, v) = ask(&h, &admin, t_id).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let mut console = ws_connect(&h.ws_url(&format!("/ws/console?token={t}"))).await;
    ws_expect(&mut console, "queue").await;
    let _sales_console = {
        let mut ws = ws_connect(&h.ws_url(&format!("/ws/console?token={st}"))).await;
        ws_expect(&mut ws, "queue").await;
        ws
    };
    // Out of the administrator's scope: like no such technician.
    let (s, _) = ask(&h, &admin, st_id).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Technicians watch nobody.
    let (s, _) = ask(&h, &other, t_id).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // `tell`: the watch starts, the technician is told.
    let (s, v) = ask(&h, &admin, t_id).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], "watching");
    assert_eq!(v["consent"], "tell");
    let id = v["id"].as_str().unwrap().to_owned();
    let told = ws_expect(&mut console, "monitor").await;
    assert_eq!(told["monitor_id"], id.as_str());
    assert_eq!(told["state"], "watching");
    assert_eq!(told["consent"], "tell");
    assert_eq!(told["admin"], "ada@acme.test");
    // Nothing to answer when told; another technician cannot end it.
    let (s, _) = h
        .post(
            "/api/v1/monitors/{id}/answer",
            &[&id],
            Some(&t),
            json!({"accept": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = h
        .post("/api/v1/monitors/{id}/end", &[&id], Some(&other), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The technician stops it whenever it likes.
    let (s, v) = h
        .post("/api/v1/monitors/{id}/end", &[&id], Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "ended");
    ws_expect_where(&mut console, "monitor", |m| m["state"] == "ended").await;

    // `ask`: the technician declines, then accepts another request.
    put_routing(&h, support, "ask").await;
    let (_, v) = ask(&h, &admin, t_id).await;
    assert_eq!(v["state"], "asked", "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let asked = ws_expect_where(&mut console, "monitor", |m| m["state"] == "asked").await;
    assert_eq!(asked["consent"], "ask");
    // Only the technician asked answers.
    let (s, _) = h
        .post(
            "/api/v1/monitors/{id}/answer",
            &[&id],
            Some(&other),
            json!({"accept": true}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .post(
            "/api/v1/monitors/{id}/answer",
            &[&id],
            Some(&t),
            json!({"accept": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "declined");
    let (_, v) = h.get("/api/v1/monitors/{id}", &[&id], &admin).await;
    assert_eq!(v["state"], "declined");
    assert!(v["answered_at"].is_i64());
    let (_, v) = ask(&h, &admin, t_id).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let (_, v) = h
        .post(
            "/api/v1/monitors/{id}/answer",
            &[&id],
            Some(&t),
            json!({"accept": true}),
        )
        .await;
    assert_eq!(v["state"], "watching");
    ws_expect_where(&mut console, "monitor", |m| m["state"] == "watching").await;
    let (s, _) = h.get("/api/v1/monitors/{id}", &[&id], &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .post("/api/v1/monitors/{id}/end", &[&id], Some(&admin), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = h
        .post("/api/v1/monitors/{id}/end", &[&id], Some(&admin), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Every step is in the audit log.
    let (_, audit) = h.get("/api/v1/audit?limit=200", &[], &m).await;
    let text = audit.to_string();
    for action in ["monitor.request", "monitor.answer", "monitor.end"] {
        assert!(text.contains(action), "{action} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_watch_with_the_groups_consent() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        scenario(&db).await;
    }
}
