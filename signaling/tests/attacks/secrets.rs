//! Secrets in `Debug`: every request, response and query struct that holds
//! a password, token, code or key, the configuration (SMTP password,
//! database URL) and the relay's issuing secret format without the secret;
//! so does a running server's whole state.

use std::fmt::Debug;

use secours_signaling::api::auth::{LoginRequest, LoginResponse, PasswordChange};
use secours_signaling::api::join::JoinRequest;
use secours_signaling::api::users::{NewUser, UserPatch};
use secours_signaling::config::Smtp;
use secours_signaling::pin_queue::{PinRow, Redemption};
use secours_signaling::sessions::{Joined, PrivateSession};
use secours_signaling::setup::{FirstMaster, SetupRequest};
use secours_signaling::ws::WsQuery;
use secours_transport::relay::HubConfig;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::common::*;

const SECRET: &str = "Zq7-very-secret-9Xw";

fn hidden(what: &str, v: &impl Debug) {
    let text = format!("{v:?}");
    assert!(!text.contains(SECRET), "{what} shows its secret: {text}");
}

fn parsed<T: DeserializeOwned + Debug>(what: &str, v: Value) {
    let t: T = serde_json::from_value(v).unwrap_or_else(|e| panic!("{what}: {e}"));
    hidden(what, &t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_debug_output() {
    let s = SECRET;
    parsed::<LoginRequest>("LoginRequest", json!({"email": "a@b.c", "password": s}));
    parsed::<LoginResponse>(
        "LoginResponse",
        json!({"token": s, "expires_at": 0, "user_id": 1, "role": "master",
            "must_change_password": false, "password_expires_in_days": null,
            "password_expiry_notice": false}),
    );
    parsed::<PasswordChange>(
        "PasswordChange",
        json!({"current_password": s, "new_password": s}),
    );
    parsed::<NewUser>(
        "NewUser",
        json!({"role": "technician", "name": "n", "email": "a@b.c", "password": s}),
    );
    parsed::<UserPatch>("UserPatch", json!({"password": s, "current_password": s}));
    parsed::<JoinRequest>("JoinRequest (pin)", json!({"pin": s}));
    parsed::<JoinRequest>("JoinRequest (link)", json!({"link": s}));
    parsed::<Joined>(
        "Joined",
        json!({"session_id": "x", "customer_token": s, "technician": null, "estimated_wait_s": null}),
    );
    parsed::<PrivateSession>(
        "PrivateSession",
        json!({"session": {"id": "x", "kind": "private", "state": "pending", "channel_id": null,
            "tech_id": 1, "group_id": null, "customer_name": "", "customer_fields": "{}",
            "created_at": 0, "waiting_since": null, "picked_at": null, "expires_at": null,
            "close_reason": null, "is_test": false},
            "pin": s, "link": s, "expires_at": 0}),
    );
    parsed::<WsQuery>("WsQuery", json!({"token": s, "session": "x"}));
    parsed::<FirstMaster>(
        "FirstMaster",
        json!({"org_name": "o", "name": "n", "email": "a@b.c", "password": s}),
    );
    parsed::<SetupRequest>(
        "SetupRequest",
        json!({"token": s, "org_name": "o", "name": "n", "email": "a@b.c", "password": s}),
    );
    parsed::<Smtp>(
        "Smtp",
        json!({"host": "h", "port": 25, "password": s, "from": "a@b.c"}),
    );
    hidden(
        "PinRow",
        &PinRow {
            id: "x".into(),
            pin: s.into(),
            link_hash: "h".into(),
            expires_at: 0,
            now: 0,
            tech: 1,
        },
    );
    hidden(
        "Redemption",
        &Redemption {
            by_link: false,
            code: s.into(),
            name: "n".into(),
            token_hash: "h".into(),
            connecting: 0,
            now: 0,
        },
    );
    hidden(
        "HubConfig",
        &HubConfig {
            issue_secret: Some(s.into()),
            ..HubConfig::default()
        },
    );
    // A running server, configured with every secret it can hold.
    let db = sqlite();
    let mut config = test_config(&db);
    config.database_url = format!("postgres://secours:{s}@db.invalid/secours");
    hidden("Config", &config);
    let h = Harness::start_with(&db, |c| {
        c.smtp = Some(
            serde_json::from_value(json!({"host": "127.0.0.1", "port": 1, "password": s,
                "from": "a@b.c"}))
            .unwrap(),
        );
    })
    .await;
    hidden("RunningServer", &h.server);
    h.server.shutdown().await.unwrap();
}
