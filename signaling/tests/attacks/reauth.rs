//! A stolen token is not the account: changing one's own password or e-mail
//! through the user-edit route needs the current password, and a password
//! change ends every other token of the account.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

const NEW_PASSWORD: &str = "Another2%y";

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let stolen = h.master.clone();
    // The owner's other session (another browser).
    let other = h.login_ok(MASTER_EMAIL, PASSWORD).await;
    let (_, me) = h.get("/api/v1/me", &[], &stolen).await;
    let id = me["id"].as_i64().unwrap().to_string();
    let patch = |body: serde_json::Value| {
        let (h, id, token) = (&h, id.clone(), stolen.clone());
        async move {
            h.call(
                Method::PATCH,
                "/api/v1/users/{id}",
                &[&id],
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    for body in [
        json!({"password": NEW_PASSWORD}),
        json!({"email": "evil@attacker.test"}),
        json!({"email": "evil@attacker.test", "password": NEW_PASSWORD}),
    ] {
        let (s, v) = patch(body.clone()).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("current_password_required")),
            "{body} ({})",
            db.name
        );
    }
    let (s, v) = patch(json!({"password": NEW_PASSWORD, "current_password": "guess1%Guess"})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    // Nothing changed: the owner still logs in with the old password.
    let (_, v) = h.get("/api/v1/me", &[], &other).await;
    assert_eq!(v["email"], MASTER_EMAIL);
    h.login_ok(MASTER_EMAIL, PASSWORD).await;
    // Other fields need no re-authentication.
    let (s, _) = patch(json!({"name": "Root Two"})).await;
    assert_eq!(s, StatusCode::OK);
    // With the current password: changed, and every other token ends.
    let (s, v) = patch(json!({"password": NEW_PASSWORD, "current_password": PASSWORD})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = h.get("/api/v1/me", &[], &other).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the other token survived");
    let (s, v) = h.get("/api/v1/me", &[], &stolen).await;
    assert_eq!(
        (s, &v["must_change_password"]),
        (StatusCode::OK, &json!(false))
    );
    h.login_ok(MASTER_EMAIL, NEW_PASSWORD).await;
    let (s, v) = patch(json!({"email": "root2@acme.test", "current_password": NEW_PASSWORD})).await;
    assert_eq!(
        (s, v["email"].as_str()),
        (StatusCode::OK, Some("root2@acme.test"))
    );
    // A master resetting someone else's password is a reset, not a change.
    let g = h.tech_group(&stolen, None, "S", &["chat"]).await;
    let (tid, _) = h.user(&stolen, "technician", "t@acme.test", Some(g)).await;
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&tid.to_string()],
            Some(&stolen),
            Some(json!({"password": "Reset3%zzz"})),
        )
        .await;
    assert_eq!(
        (s, &v["must_change_password"]),
        (StatusCode::OK, &json!(true))
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_password_and_email_need_the_current_password() {
    for db in backends().await {
        scenario(&db).await;
    }
}
