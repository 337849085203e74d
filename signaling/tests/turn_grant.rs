//! TURN credentials reach every applet, however it joined: the join
//! answer's, and on each applet connection the `hello`'s, which is all an
//! applet started from the customer page (`--session --token`) has. They
//! are for that session alone, derived from the shared secret as coturn
//! checks them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use secours_signaling::Secret;
use secours_signaling::config::Turn;
use serde_json::{Value, json};

const TURN_URL: &str = "turn:192.0.2.7:3478?transport=udp";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applet_joined_on_the_web_page_gets_turn_credentials() {
    for db in backends().await {
        scenario(&db).await;
    }
}

/// The grant's credential is the one coturn derives from the secret for
/// its username, and the username names `session`.
fn check_grant(grant: &Value, session: &str, secret: &Secret) {
    assert_eq!(grant["urls"], json!([TURN_URL]), "{grant}");
    let username = grant["username"].as_str().unwrap();
    assert!(
        username.ends_with(&format!(":{session}")),
        "{username} is not for {session}"
    );
    let expected = secours_transport::turn::credentials::password_for(secret, username);
    assert_eq!(grant["credential"].as_str().unwrap(), expected.expose());
}

async fn scenario(db: &Db) {
    let secret = Secret::from("lab-secret");
    let s2 = secret.clone();
    let h = Harness::start_with(db, move |c| {
        c.turn = Some(Turn {
            urls: vec![TURN_URL.into()],
            secret: s2,
            ttl_s: 3600,
            coturn: None,
        });
    })
    .await;
    let (_, chans) = h.get("/api/v1/channels", &[], &h.master).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();

    // The customer page's form, sent as a browser does: the page gives
    // the applet's command, with no TURN credentials in it.
    let resp = h
        .http
        .post(format!("{}/join/{code}", h.base))
        .header("origin", &h.base)
        .form(&[("name", "Zoë")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let arg = |flag: &str| {
        let i = html.find(flag).expect("the applet's command") + flag.len();
        html[i..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect::<String>()
    };
    let (sid, token) = (arg("--session "), arg("--token "));
    assert!(!html.contains("lab-secret"));
    let mut ws = ws_connect(&h.ws_url(&format!("/ws/applet?session={sid}&token={token}"))).await;
    let hello = ws_expect(&mut ws, "hello").await;
    check_grant(&hello["turn"], &sid, &secret);

    // Through the API: the join answer has one, and so has the `hello`.
    let (s, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[&code],
            None,
            json!({"name": "API"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let other = joined["session_id"].as_str().unwrap().to_owned();
    check_grant(&joined["turn"], &other, &secret);
    let mut ws = ws_connect(&h.ws_url(&format!(
        "/ws/applet?session={other}&token={}",
        joined["customer_token"].as_str().unwrap()
    )))
    .await;
    let hello = ws_expect(&mut ws, "hello").await;
    check_grant(&hello["turn"], &other, &secret);
}
