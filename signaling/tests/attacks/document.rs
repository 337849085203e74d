//! The API is what its document says: every reference resolves, bodies are
//! JSON objects and declared as such (`[null, null]` is not a channel
//! rename), and the schema states the constraints the handlers enforce
//! (every pattern written out and valid). The workspace test
//! `tests/schemathesis.rs` then fuzzes the running server against it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_exact() {
    let db = sqlite();
    let h = Harness::start(&db).await;
    let mut all = Vec::new();
    refs(&h.doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            h.doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    for body in [
        json!([null, null]),
        json!(["x", "y"]),
        json!("x"),
        json!(null),
    ] {
        let (s, v) = h
            .call(
                Method::PATCH,
                "/api/v1/channels/{id}",
                &["1"],
                Some(&h.master),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
    }
    let schemas = &h.doc["components"]["schemas"];
    let login = &schemas["LoginRequest"]["properties"]["email"];
    assert_eq!(login["minLength"], 3, "{login}");
    let org = &schemas["OrgPatch"]["properties"]["max_password_age_days"];
    assert_eq!(org["maximum"], 3650, "{org}");
    // Every request body is declared as an object, with its fields closed.
    let resolve = |v: &'_ Value| -> Value {
        match v["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => v.clone(),
        }
    };
    let mut bodies = 0;
    for (path, item) in h.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema")
            else {
                continue;
            };
            let body = resolve(schema);
            assert_eq!(body["type"], "object", "{method} {path}: {body}");
            assert_eq!(
                body["additionalProperties"], false,
                "{method} {path}: unknown fields are refused, so the schema says so"
            );
            bodies += 1;
        }
    }
    assert!(bodies >= 15, "only {bodies} request bodies");
    // Patterns: no placeholder left, each compiles, and the text pattern
    // refuses what check_text refuses.
    let mut patterns = Vec::new();
    fn collect<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| match (k.as_str(), v) {
                ("pattern", Value::String(p)) => out.push(p),
                _ => collect(v, out),
            }),
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&h.doc, &mut patterns);
    assert!(patterns.len() >= 20, "{patterns:?}");
    for p in &patterns {
        assert!(!p.starts_with('{'), "placeholder {p} left in the document");
        jsonschema::validator_for(&json!({"type": "string", "pattern": p}))
            .unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    let name = jsonschema::validator_for(&schemas["NewUser"]["properties"]["name"]).unwrap();
    for (text, ok) in [
        ("Zoë", true),
        ("", false),
        (" \t", false),
        ("a\u{202E}b", false),
        ("a\u{0}b", false),
    ] {
        assert_eq!(name.is_valid(&json!(text)), ok, "{text:?}");
    }
    // A body the schema allows is not refused as malformed (400): a rule
    // between its fields stated in prose answers 422, a wrong code 404.
    let join = jsonschema::validator_for(&json!({
        "$ref": "#/components/schemas/JoinRequest", "components": h.doc["components"]
    }))
    .unwrap();
    for (body, code) in [
        (
            json!({"pin": "123456", "link": "00"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"pin": null, "link": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"pin": "123456"}), StatusCode::NOT_FOUND),
        (json!({"link": "00"}), StatusCode::NOT_FOUND),
    ] {
        assert!(join.is_valid(&body), "{body}");
        let (s, v) = h.post("/api/v1/join", &[], None, body).await;
        assert_eq!(s, code, "{v}");
    }
    // A number with a zero fraction is an integer, as JSON Schema reads it.
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/org/settings",
            &[],
            Some(&h.master),
            Some(json!({"expiry_notice_days": 10.0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["expiry_notice_days"], 10, "{v}");
    // White space around an e-mail is outside the pattern, so it is refused
    // (it was trimmed: the schema refused what the server took).
    let (s, _) = h.login(&format!(" {MASTER_EMAIL}"), PASSWORD).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.login("", "x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    h.server.shutdown().await.unwrap();
}
