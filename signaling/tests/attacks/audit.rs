//! Audit: pick-up, transfer and close of sessions, and administrators'
//! actions on sessions, enter the audit log; deleting the newest entries,
//! which leaves a chain that still links, is caught by the head anchored
//! outside the database.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn verify(h: &Harness, anchor: Option<&str>) -> (StatusCode, Value) {
    let path = match anchor {
        Some(a) => format!("/api/v1/audit/verify?anchor={a}"),
        None => "/api/v1/audit/verify".to_owned(),
    };
    h.get(&path, &[], &h.master).await
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["chat", "transfer"])
        .await;
    let (_, a) = h.user(&m, "technician", "a@acme.test", Some(g)).await;
    let (b_id, _) = h.user(&m, "technician", "b@acme.test", Some(g)).await;
    let (admin_id, admin) = h.user(&m, "admin", "ada@acme.test", None).await;
    h.call(
        Method::PUT,
        "/api/v1/users/{id}/assignments",
        &[&admin_id.to_string()],
        Some(&m),
        Some(json!({"group_ids": [g]})),
    )
    .await;
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["1"],
        Some(&m),
        Some(json!({"ids": [g]})),
    )
    .await;
    let (_, v) = h
        .post(
            "/api/v1/channels/{id}/test",
            &["1"],
            Some(&admin),
            json!({}),
        )
        .await;
    let sid = v["id"].as_str().unwrap().to_owned();
    for (path, token, body) in [
        ("/api/v1/sessions/{id}/pickup", &a, json!({})),
        (
            "/api/v1/sessions/{id}/transfer",
            &a,
            json!({"tech_id": b_id}),
        ),
        ("/api/v1/sessions/{id}/close", &admin, json!({})),
    ] {
        let (s, v) = h.post(path, &[&sid], Some(token), body).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    let (_, entries) = h.get("/api/v1/audit?limit=1000", &[], &m).await;
    let target = format!("session:{sid}");
    let trail: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == target.as_str())
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        trail,
        vec![
            ("session.test", "ada@acme.test"),
            ("session.pickup", "a@acme.test"),
            ("session.transfer", "a@acme.test"),
            ("session.close", "ada@acme.test"),
        ],
        "{}",
        db.name
    );
    // The head, kept outside the database.
    let (_, r) = verify(&h, None).await;
    assert_eq!(r["intact"], true, "{r}");
    let old_head = r["head"].as_str().unwrap().to_owned();
    h.login_ok(MASTER_EMAIL, PASSWORD).await;
    h.login_ok(MASTER_EMAIL, PASSWORD).await;
    let (_, r) = verify(&h, Some(&old_head)).await;
    assert_eq!(r["intact"], true, "an older anchor still holds: {r}");
    let head = r["head"].as_str().unwrap().to_owned();
    let head_id: i64 = head.split(':').next().unwrap().parse().unwrap();
    // Someone with the database deletes the newest entries: the rest still links.
    sqlx::query("DELETE FROM audit_log WHERE id >= $1")
        .bind(head_id - 1)
        .execute(&h.server.state.store.pool)
        .await
        .unwrap();
    let (_, r) = verify(&h, None).await;
    assert_eq!(r["intact"], true, "without an anchor the cut is invisible");
    let (_, r) = verify(&h, Some(&head)).await;
    assert_eq!(
        (r["intact"].as_bool(), r["first_bad_id"].as_i64()),
        (Some(false), Some(head_id)),
        "{r}"
    );
    assert!(r["problem"].as_str().unwrap().contains("gone"));
    let (s, _) = verify(&h, Some("12:nothex")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_actions_are_audited_and_the_head_is_anchored() {
    for db in backends().await {
        scenario(&db).await;
    }
}
