//! Hostile text in every text input: direction overrides, zero-width
//! characters and oversized values are refused (400) wherever text enters,
//! and nothing is stored; ordinary text in any script still passes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "Support", &["chat"]).await;
    let (tid, _) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();
    let (gs, ts) = (g.to_string(), tid.to_string());
    let user = |k: &str, v: &str| {
        let mut b = json!({"role": "technician", "name": "N", "email": "n@acme.test",
            "password": "Initial1%", "tech_group_id": g});
        b[k] = json!(v);
        b
    };
    for evil in [
        "Support\u{202E}txt.exe".to_owned(),
        "Sup\u{200B}port".to_owned(),
        "\u{2067}Support\u{2069}".to_owned(),
        "x".repeat(3000),
    ] {
        let e = evil.as_str();
        let cases: Vec<(Method, &str, Vec<&str>, Value)> = vec![
            (Method::POST, "/api/v1/users", vec![], user("name", e)),
            (Method::POST, "/api/v1/users", vec![], user("nickname", e)),
            (
                Method::POST,
                "/api/v1/users",
                vec![],
                user("description", e),
            ),
            (Method::POST, "/api/v1/users", vec![], user("sso_id", e)),
            (
                Method::PATCH,
                "/api/v1/users/{id}",
                vec![&ts],
                json!({"name": e}),
            ),
            (
                Method::PATCH,
                "/api/v1/users/{id}",
                vec![&ts],
                json!({"nickname": e}),
            ),
            (
                Method::POST,
                "/api/v1/tech-groups",
                vec![],
                json!({"name": e}),
            ),
            (
                Method::POST,
                "/api/v1/tech-groups",
                vec![],
                json!({"name": "G", "description": e}),
            ),
            (
                Method::PATCH,
                "/api/v1/tech-groups/{id}",
                vec![&gs],
                json!({"name": e}),
            ),
            (
                Method::POST,
                "/api/v1/admin-groups",
                vec![],
                json!({"name": e}),
            ),
            (
                Method::PATCH,
                "/api/v1/channels/{id}",
                vec!["1"],
                json!({"name": e}),
            ),
            (
                Method::PATCH,
                "/api/v1/channels/{id}",
                vec!["1"],
                json!({"description": e}),
            ),
            (
                Method::PATCH,
                "/api/v1/org/settings",
                vec![],
                json!({"name": e}),
            ),
            (
                Method::POST,
                "/api/v1/auth/login",
                vec![],
                json!({"email": format!("{e}@acme.test"), "password": "x"}),
            ),
            (
                Method::POST,
                "/api/v1/join",
                vec![],
                json!({"pin": "123456", "name": e}),
            ),
            (
                Method::POST,
                "/api/v1/join/channel/{code}",
                vec![&code],
                json!({"name": e}),
            ),
            (
                Method::POST,
                "/api/v1/join/channel/{code}",
                vec![&code],
                json!({"fields": {e: "v"}}),
            ),
            (
                Method::POST,
                "/api/v1/join/channel/{code}",
                vec![&code],
                json!({"fields": {"problem": e}}),
            ),
        ];
        for (method, template, params, body) in cases {
            let token =
                (!template.contains("/join") && !template.contains("/login")).then_some(m.as_str());
            let (s, v) = h
                .call(method.clone(), template, &params, token, Some(body.clone()))
                .await;
            assert_eq!(
                (s, v["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid")),
                "{method} {template} took {body} ({})",
                db.name
            );
        }
    }
    // Nothing was stored, and ordinary text in any script passes.
    let (_, tree) = h.get("/api/v1/org/tree", &[], &m).await;
    let text = tree.to_string();
    assert!(!text.contains('\u{202E}') && !text.contains('\u{200B}'));
    let (s, _) = h.call(Method::GET, "/api/v1/health", &[], None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "Zoë Ångström", "fields": {"problème": "עברית, العربية, 中文 <b>"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deceptive_and_oversized_text_is_refused_everywhere() {
    for db in backends().await {
        scenario(&db).await;
    }
}
