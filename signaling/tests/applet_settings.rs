//! Applet settings (APPLET-1..6) of a group and of a channel: stored and
//! read in the caller's scope, checked, and sent to the applet in its
//! `hello` (the input priority it obeys, the estimate hidden by APPLET-4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applet_settings_reach_the_applet() {
    for db in backends().await {
        scenario(&db).await;
    }
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let g = h
        .tech_group(&m, None, "Desk", &["chat", "private_sessions"])
        .await;
    let other = h.tech_group(&m, None, "Other", &["chat"]).await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let (admin_id, _) = h.user(&m, "admin", "a@acme.test", None).await;
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/users/{id}/assignments",
            &[&admin_id.to_string()],
            Some(&m),
            Some(json!({"group_ids": [other]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let admin = h.login_ok("a@acme.test", PASSWORD).await;

    // The defaults, until set.
    let gid = g.to_string();
    let (s, v) = h.get("/api/v1/tech-groups/{id}/applet", &[&gid], &m).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["priority"], "customer");
    assert_eq!(v["show_wait"], true);
    let settings = json!({"run_mode": "standard", "system_service": true,
        "priority": "technician", "show_wait": false,
        "look": {"title": "Acme help", "colour": "#123abc", "welcome": "Hello"},
        "terms": "Be kind."});
    let put = |token: String, body: serde_json::Value| {
        let gid = gid.clone();
        let h = &h;
        async move {
            h.call(
                Method::PUT,
                "/api/v1/tech-groups/{id}/applet",
                &[&gid],
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    // Out of the administrator's scope: as if the group did not exist.
    assert_eq!(
        put(admin.clone(), settings.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    let mut bad = settings.clone();
    bad["look"]["colour"] = json!("red");
    assert_eq!(put(m.clone(), bad).await.0, StatusCode::BAD_REQUEST);
    let (s, v) = put(m.clone(), settings.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = h.get("/api/v1/tech-groups/{id}/applet", &[&gid], &m).await;
    assert_eq!(v, settings);

    // ORG-7: saved for the sub-groups too.
    let sub = h.tech_group(&m, Some(g), "Desk 2", &["chat"]).await;
    let mut calm = settings.clone();
    calm["priority"] = json!("customer");
    let r = h
        .http
        .put(format!(
            "{}/api/v1/tech-groups/{g}/applet?apply=subgroups",
            h.base
        ))
        .bearer_auth(&m)
        .json(&calm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = h
        .get("/api/v1/tech-groups/{id}/applet", &[&sub.to_string()], &m)
        .await;
    assert_eq!(v, calm);
    let (_, v) = h
        .get("/api/v1/tech-groups/{id}/applet", &[&other.to_string()], &m)
        .await;
    assert_eq!(v["priority"], "customer", "another tree keeps its own");
    assert_eq!(v["terms"], "", "another tree keeps its own");
    put(m.clone(), settings.clone()).await;

    // A private session of that group: its applet receives the settings.
    let (s, created) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (s, joined) = h
        .post(
            "/api/v1/join",
            &[],
            None,
            json!({"pin": created["pin"], "name": "C"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let mut ws = ws_connect(&h.ws_url(&format!(
        "/ws/applet?session={}&token={}",
        joined["session_id"].as_str().unwrap(),
        joined["customer_token"].as_str().unwrap()
    )))
    .await;
    let hello = ws_expect(&mut ws, "hello").await;
    assert_eq!(hello["applet"]["priority"], "technician", "{hello}");
    assert_eq!(hello["applet"]["terms"], "Be kind.");
    assert!(
        hello.get("estimated_wait_s").is_none(),
        "APPLET-4 hides it: {hello}"
    );

    // A channel's own settings, for its sessions.
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/channels/{id}/applet",
            &["1"],
            Some(&m),
            Some(json!({"priority": "customer", "terms": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["show_wait"], true);
    let (s, _) = h
        .call(
            Method::GET,
            "/api/v1/channels/{id}/applet",
            &["1"],
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a channel without the admin's groups"
    );
    h.server.shutdown().await.unwrap();
}
