//! The API is what its document says: every reference resolves, bodies are
//! JSON objects (`[null, null]` is not a channel rename), and the schema
//! states the constraints the handlers enforce.

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
    let login = &h.doc["components"]["schemas"]["LoginRequest"]["properties"]["email"];
    assert_eq!(login["minLength"], 3, "{login}");
    let org = &h.doc["components"]["schemas"]["OrgPatch"]["properties"]["max_password_age_days"];
    assert_eq!(org["maximum"], 3650, "{org}");
    let (s, _) = h.login("", "x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    h.server.shutdown().await.unwrap();
}
