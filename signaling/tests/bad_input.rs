//! Bad input: malformed JSON, wrong content types, oversized bodies, unknown
//! fields and ids, wrong roles, hostile strings in text fields. Always a 4xx
//! JSON error with a stable code (the harness fails on any 5xx), and nothing
//! half-written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn raw(
    h: &Harness,
    method: Method,
    path: &str,
    token: &str,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = h
        .http
        .request(method, format!("{}{}", h.base, path))
        .bearer_auth(token)
        .body(body);
    if let Some(c) = ctype {
        req = req.header("content-type", c);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/json",
        "{path} -> {s}"
    );
    (s, r.json().await.unwrap())
}

async fn counts(h: &Harness) -> (i64, i64, i64) {
    let pool = &h.server.state.store.pool;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await
        .unwrap();
    let groups: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tech_groups")
        .fetch_one(pool)
        .await
        .unwrap();
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .unwrap();
    (users, groups, audit)
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Support", &["chat", "private_sessions"])
        .await;
    let (tid, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let before = counts(&h).await;

    // Malformed bodies.
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (Some("application/json"), b"{bad".to_vec(), StatusCode::BAD_REQUEST),
        (Some("application/json"), b"[]".to_vec(), StatusCode::BAD_REQUEST),
        (Some("application/json"), vec![0xff, 0xfe, 0x00], StatusCode::BAD_REQUEST),
        (Some("text/plain"), b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (None, b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (Some("application/json"), format!("{{\"name\":\"{}\"}}", "x".repeat(100_000)).into_bytes(), StatusCode::PAYLOAD_TOO_LARGE),
        (Some("application/json"), b"{\"role\":\"technician\",\"name\":\"n\",\"email\":\"e@x\",\"password\":\"Sample1%\",\"tech_group_id\":1,\"is_root\":true}".to_vec(), StatusCode::BAD_REQUEST),
        (Some("application/json"), b"{\"role\":\"god\",\"name\":\"n\",\"email\":\"e@x\",\"password\":\"Sample1%\"}".to_vec(), StatusCode::BAD_REQUEST),
        (Some("application/json"), b"{\"role\":\"technician\",\"name\":\"n\",\"email\":\"e@x\",\"password\":\"Sample1%\",\"tech_group_id\":\"1; DROP TABLE users\"}".to_vec(), StatusCode::BAD_REQUEST),
        (Some("application/json"), b"{\"role\":\"technician\",\"name\":\"n\",\"email\":\"e@x\",\"password\":\"Sample1%\",\"tech_group_id\":99999999999999999999999}".to_vec(), StatusCode::BAD_REQUEST),
    ];
    for (ctype, body, want) in cases {
        let (s, v) = raw(&h, Method::POST, "/api/v1/users", &m, ctype, body).await;
        assert_eq!(s, want, "{v}");
        assert!(v["code"].is_string() && v["message"].is_string(), "{v}");
    }
    // Unknown ids and wrong shapes of ids.
    for path in [
        "/api/v1/users/999999",
        "/api/v1/tech-groups/999999",
        "/api/v1/users/abc",
        "/api/v1/sessions/nothex",
        "/api/v1/sessions/00000000000000000000000000000000",
    ] {
        let (s, v) = raw(&h, Method::GET, path, &m, None, vec![]).await;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
            "{path} -> {s} {v}"
        );
    }
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/channels/{id}",
            &["11"],
            Some(&m),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "there are ten channels");
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/users/{id}/assignments",
            &[&tid.to_string()],
            Some(&m),
            Some(json!({"group_ids": [g]})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "technicians have no assignments"
    );
    // Wrong roles.
    let (s, _) = h
        .post(
            "/api/v1/users",
            &[],
            Some(&tech),
            json!({"role": "master", "name": "x",
        "email": "x@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = h.post("/api/v1/sessions", &[], Some(&m), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "masters do not run sessions");
    // Hostile strings: markup is stored verbatim and comes back JSON-escaped;
    // control characters, direction overrides (attacks::hostile_text) and
    // over-long fields are refused.
    let hostile = "<img src=x onerror=alert(1)>'\"; DROP TABLE users;-- ǝɯɐu";
    let (s, v) = h
        .post(
            "/api/v1/users",
            &[],
            Some(&m),
            json!({"role": "technician", "name": hostile,
        "nickname": hostile, "description": hostile, "sso_id": hostile,
        "email": "h@acme.test", "password": PASSWORD, "tech_group_id": g}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], hostile);
    for field in ["name", "nickname", "description", "sso_id"] {
        let mut body = json!({"role": "technician", "name": "ok", "email": format!("{field}@acme.test"),
            "password": PASSWORD, "tech_group_id": g});
        body[field] = json!("a\u{0}b\u{1b}[31m");
        let (s, v) = h.post("/api/v1/users", &[], Some(&m), body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
        body[field] = json!("y".repeat(5000));
        let (s, _) = h.post("/api/v1/users", &[], Some(&m), body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field} too long");
    }
    for (path, body) in [
        ("/api/v1/tech-groups", json!({"name": "x\u{7}"})),
        ("/api/v1/tech-groups", json!({"name": ""})),
        ("/api/v1/admin-groups", json!({"name": "z".repeat(300)})),
        ("/api/v1/join", json!({"pin": "123456", "name": "\u{0}"})),
        (
            "/api/v1/auth/login",
            json!({"email": "not an email", "password": "x"}),
        ),
    ] {
        let (s, v) = h.post(path, &[], Some(&m), body).await;
        assert!(s == StatusCode::BAD_REQUEST, "{path}: {s} {v}");
    }
    let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();
    let many: serde_json::Map<String, Value> =
        (0..30).map(|i| (format!("f{i}"), json!("v"))).collect();
    let (s, _) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "n", "fields": many}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "n", "fields": {"k": 5}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Nothing half-written: every refused request above left no trace
    // except the one hostile account that was accepted (and its audit and
    // notification rows).
    let after = counts(&h).await;
    assert_eq!(after.0, before.0 + 1, "users");
    assert_eq!(after.1, before.1, "groups");
    assert_eq!(after.2, before.2 + 1, "audit entries");
    // A refused change leaves the account as it was.
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&tid.to_string()],
            Some(&m),
            Some(json!({"name": "Renamed", "email": "broken"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, u) = h.get("/api/v1/users/{id}", &[&tid.to_string()], &m).await;
    assert_eq!(u["name"], "t@acme.test");
    // A duplicate e-mail is a conflict, not a crash.
    let (s, v) = h
        .post(
            "/api/v1/users",
            &[],
            Some(&m),
            json!({"role": "technician", "name": "d",
        "email": "T@ACME.test", "password": PASSWORD, "tech_group_id": g}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    // Garbage on the WebSocket gets an error message, the socket stays usable.
    let mut ws = ws_connect(&h.ws_url(&format!("/ws/console?token={tech}"))).await;
    for junk in [
        "not json",
        "{\"type\":\"nope\"}",
        "{\"type\":\"signal\",\"session_id\":\"x\",\"payload\":{}}",
        "[1,2,3]",
    ] {
        use futures_util::SinkExt;
        ws.send(tokio_tungstenite::tungstenite::Message::Text(junk.into()))
            .await
            .unwrap();
        ws_expect(&mut ws, "error").await;
    }
    ws_send(&mut ws, json!({"type": "ping"})).await;
    ws_expect(&mut ws, "pong").await;
    // An oversized WebSocket message closes that socket only.
    {
        use futures_util::{SinkExt, StreamExt};
        let _ = ws
            .send(tokio_tungstenite::tungstenite::Message::Text(
                "x".repeat(100_000).into(),
            ))
            .await;
        let end = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    None
                    | Some(Err(_))
                    | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => break,
                    _ => {}
                }
            }
        })
        .await;
        assert!(end.is_ok(), "the oversized message did not end the socket");
    }
    let (s, _) = h.get("/api/v1/me", &[], &tech).await;
    assert_eq!(s, StatusCode::OK, "the server is unharmed");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    for db in backends().await {
        scenario(&db).await;
    }
}
