//! Issue 20 part B over HTTP, on SQLite and PostgreSQL: API keys (scope,
//! expiry, revocation, audit), Post-to-URL to a local receiver that fails
//! twice then accepts (delivered once, signature verified; with two nodes
//! on PostgreSQL), session notes, both surveys, and every report for a
//! date range and a node with its CSV parsed back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus, Uri};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// (path, signature header, body, status answered)
type Hit = (String, String, Vec<u8>, u16);

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_left: Arc<AtomicUsize>,
}

async fn hook(State(rx): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes) -> AxStatus {
    let fail = uri.path() == "/json"
        && rx
            .fail_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let status = if fail {
        AxStatus::SERVICE_UNAVAILABLE
    } else {
        AxStatus::OK
    };
    let sig = headers
        .get("x-secours-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    rx.hits
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), sig, body.to_vec(), status.as_u16()));
    status
}

async fn receiver() -> (Receiver, String) {
    let rx = Receiver::default();
    rx.fail_left.store(2, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/json", axum::routing::post(hook))
        .route("/form", axum::routing::post(hook))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (rx, format!("http://{addr}"))
}

fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let Some(hexsig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(raw) = hex::decode(hexsig) else {
        return false;
    };
    mac.verify_slice(&raw).is_ok()
}

async fn wait_until<F: AsyncFn() -> bool>(what: &str, f: F) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn csv_of(h: &Harness, kind: &str, query: &str, token: &str) -> Vec<Vec<String>> {
    let resp = h
        .http
        .get(format!("{}/api/v1/reports/{kind}/csv?{query}", h.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{kind} csv");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = resp.text().await.unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let mut out = vec![
        r.headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    ];
    for rec in r.records() {
        out.push(rec.unwrap().iter().map(str::to_owned).collect());
    }
    out
}

async fn join_channel(h: &Harness, code: &str, fields: Value) -> Value {
    let (s, joined) = h
        .post(
            "/api/v1/join/channel/{code}",
            &[code],
            None,
            json!({"name": "Zoë", "fields": fields}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    joined
}

async fn state_of(h: &Harness, id: &str) -> String {
    sqlx::query_scalar("SELECT state FROM support_sessions WHERE id = $1")
        .bind(id)
        .fetch_one(&h.server.state.store.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn integrations_end_to_end() {
    for db in backends().await {
        eprintln!("== {}", db.name);
        run(&db).await;
    }
}

async fn run(db: &Db) {
    let tweak = |c: &mut secours_signaling::Config| {
        c.post_retry_base_ms = 50;
        c.timeouts.connecting_s = 1;
    };
    let h = Harness::start_with(db, tweak).await;
    // A second node on the same PostgreSQL database: both dispatch.
    let second = if db.name == "postgres" {
        Some(Harness::start_with(db, tweak).await)
    } else {
        None
    };
    // Everything from here on falls in the reports' range (logins included).
    let start = secours_signaling::store::now_ms() - 1000;
    let m = h.master.clone();
    let perms = ["chat", "private_sessions", "transfer"];
    let g1 = h.tech_group(&m, None, "Support", &perms).await;
    let g2 = h.tech_group(&m, None, "Sales", &perms).await;
    let (t1_id, t1) = h.user(&m, "technician", "t1@acme.test", Some(g1)).await;
    let (_, t2) = h.user(&m, "technician", "t2@acme.test", Some(g2)).await;
    let (t2_id, _) = (
        sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE email = 't2@acme.test'")
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap(),
        (),
    );
    let (admin_id, admin) = h.user(&m, "admin", "a@acme.test", None).await;
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/users/{id}/assignments",
            &[&admin_id.to_string()],
            Some(&m),
            Some(json!({"group_ids": [g1]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/channels/{id}/groups",
            &["1"],
            Some(&m),
            Some(json!({"ids": [g1]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();

    // ---- API keys (INTEG-3).
    let (s, k) = h
        .post(
            "/api/v1/api-keys",
            &[],
            Some(&admin),
            json!({"name": "CRM", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let akey = k["key"].as_str().unwrap().to_owned();
    let akey_id = k["id"].as_i64().unwrap();
    assert!(akey.starts_with("sk_"));
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE id = $1")
        .bind(akey_id)
        .fetch_one(&h.server.state.store.pool)
        .await
        .unwrap();
    assert_ne!(stored, akey, "stored hashed");
    assert!(!stored.contains(&akey[3..]));
    // The key acts with the administrator's scope.
    let (s, _) = h.get("/api/v1/sessions", &[], &akey).await;
    assert_eq!(s, StatusCode::OK);
    let q = format!("node=group:{g1}");
    let (s, _) = h
        .get(
            &format!("/api/v1/reports/{{kind}}?{q}"),
            &["sessions"],
            &akey,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = h
        .get(
            &format!("/api/v1/reports/{{kind}}?node=group:{g2}"),
            &["sessions"],
            &akey,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "out of the administrator's scope");
    let (s, _) = h
        .get(
            &format!("/api/v1/reports/{{kind}}?node=tech:{t2_id}"),
            &["sessions"],
            &akey,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h.get("/api/v1/post-urls", &[], &akey).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a master's route");
    // A key cannot make more keys.
    let (s, _) = h
        .post(
            "/api/v1/api-keys",
            &[],
            Some(&akey),
            json!({"name": "x", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Every use is audited.
    let uses: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'api_key.use' AND target = $1",
    )
    .bind(format!("api_key:{akey_id}"))
    .fetch_one(&h.server.state.store.pool)
    .await
    .unwrap();
    assert_eq!(uses, 6);
    let (_, chain) = h.get("/api/v1/audit/verify", &[], &m).await;
    assert_eq!(chain["intact"], true);
    // A technician's key requests a PIN for its technician.
    let (s, k1) = h
        .post(
            "/api/v1/api-keys",
            &[],
            Some(&t1),
            json!({"name": "ticketing", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let tkey = k1["key"].as_str().unwrap().to_owned();
    let (s, pin) = h
        .post("/api/v1/sessions", &[], Some(&tkey), json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pin}");
    assert_eq!(pin["session"]["tech_id"], t1_id);
    // Expired and revoked keys stop working.
    let (s, k2) = h
        .post(
            "/api/v1/api-keys",
            &[],
            Some(&admin),
            json!({"name": "old", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
        .bind(secours_signaling::store::now_ms() - 1)
        .bind(k2["id"].as_i64().unwrap())
        .execute(&h.server.state.store.pool)
        .await
        .unwrap();
    let (s, _) = h
        .get("/api/v1/sessions", &[], k2["key"].as_str().unwrap())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "expired");
    let (s, _) = h
        .call(
            Method::DELETE,
            "/api/v1/api-keys/{id}",
            &[&akey_id.to_string()],
            Some(&t1),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not its key");
    let (_, listed) = h.get("/api/v1/api-keys", &[], &admin).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed.to_string().find(&akey[3..]).is_none());

    // ---- Post-to-URL (INTEG-2) and notes (CONSOLE-10).
    let (rx, rx_base) = receiver().await;
    let (s, bad) = h
        .post(
            "/api/v1/post-urls",
            &[],
            Some(&m),
            json!({"name": "x", "url": "file:///etc/passwd", "format": "json", "on_start": true, "on_end": true}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (s, pj) = h
        .post(
            "/api/v1/post-urls",
            &[],
            Some(&m),
            json!({"name": "CRM", "url": format!("{rx_base}/json"), "format": "json",
                   "on_start": false, "on_end": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pj}");
    let (s, pf) = h
        .post(
            "/api/v1/post-urls",
            &[],
            Some(&m),
            json!({"name": "Tickets", "url": format!("{rx_base}/form"), "format": "form",
                   "on_start": true, "on_end": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (json_secret, form_secret) = (
        pj["secret"].as_str().unwrap().to_owned(),
        pf["secret"].as_str().unwrap().to_owned(),
    );

    // Session 1: a channel session with a custom field, picked up, noted, closed.
    let joined = join_channel(&h, &code, json!({"ticket": "T-42"})).await;
    let s1 = joined["session_id"].as_str().unwrap().to_owned();
    let mut applet = applet_ws(&h, &joined).await;
    wait_until("waiting", async || state_of(&h, &s1).await == "waiting").await;
    let (s, v) = h
        .post("/api/v1/sessions/{id}/pickup", &[&s1], Some(&t1), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, note) = h
        .post(
            "/api/v1/sessions/{id}/notes",
            &[&s1],
            Some(&tkey),
            json!({"body": "Printer driver reinstalled"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{note}");
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/notes",
            &[&s1],
            Some(&t2),
            json!({"body": "not mine"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another group's technician");
    let (s, notes) = h.get("/api/v1/sessions/{id}/notes", &[&s1], &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(notes[0]["body"], "Printer driver reinstalled");
    let (s, _) = h
        .post("/api/v1/sessions/{id}/close", &[&s1], Some(&t1), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    drop(applet.close(None).await);

    wait_until("the end delivery", async || {
        rx.hits
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.0 == "/json" && h.3 == 200)
    })
    .await;
    // Give any duplicate a chance to show up, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = rx.hits.lock().unwrap().clone();
    let json_hits: Vec<_> = hits.iter().filter(|h| h.0 == "/json").collect();
    assert_eq!(
        json_hits.iter().map(|h| h.3).collect::<Vec<_>>(),
        vec![503, 503, 200],
        "failed twice, then delivered once"
    );
    for (_, sig, body, _) in &json_hits {
        assert!(verify(&json_secret, body, sig), "signature");
        assert!(!verify(&form_secret, body, sig));
    }
    let doc: Value = serde_json::from_slice(&json_hits[2].2).unwrap();
    assert_eq!(doc["event"], "end");
    assert_eq!(doc["session"]["id"], s1);
    assert_eq!(doc["session"]["technician"]["email"], "t1@acme.test");
    assert_eq!(doc["session"]["customer_fields"]["ticket"], "T-42");
    assert_eq!(doc["notes"][0]["body"], "Printer driver reinstalled");
    let form_hits: Vec<_> = hits.iter().filter(|h| h.0 == "/form").collect();
    assert_eq!(form_hits.len(), 1, "the start, once");
    assert!(verify(&form_secret, &form_hits[0].2, &form_hits[0].1));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&form_hits[0].2).unwrap();
    assert!(pairs.contains(&("event".into(), "start".into())));
    assert!(pairs.contains(&("customer_fields[ticket]".into(), "T-42".into())));
    let (s, log) = h
        .get(
            "/api/v1/post-urls/{id}/deliveries",
            &[&pj["id"].to_string()],
            &m,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(log.as_array().unwrap().len(), 3);
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[2]["status"], 503);
    // Settled items are kept for the retention period, then forgotten.
    let pool = &h.server.state.store.pool;
    let now = secours_signaling::store::now_ms();
    secours_signaling::posturl::prune(pool, now).await.unwrap();
    let (_, log) = h
        .get(
            "/api/v1/post-urls/{id}/deliveries",
            &[&pj["id"].to_string()],
            &m,
        )
        .await;
    assert_eq!(log.as_array().unwrap().len(), 3, "recent: kept");
    secours_signaling::posturl::prune(pool, now + 91 * 86_400_000)
        .await
        .unwrap();
    let (_, log) = h
        .get(
            "/api/v1/post-urls/{id}/deliveries",
            &[&pj["id"].to_string()],
            &m,
        )
        .await;
    assert_eq!(log, json!([]), "past 90 days: forgotten");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM post_outbox WHERE config_id = $1")
        .bind(pj["id"].as_i64().unwrap())
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);

    let (s, hist) = h.get("/api/v1/sessions/{id}/history", &[&s1], &t1).await;
    assert_eq!(s, StatusCode::OK);
    let steps: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["created", "waiting", "picked_up", "note", "closed"],
        "{hist}"
    );
    let (s, _) = h.get("/api/v1/sessions/{id}/history", &[&s1], &t2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Session 2, missed: waits, closed by the administrator unanswered.
    let joined2 = join_channel(&h, &code, json!({})).await;
    let s2 = joined2["session_id"].as_str().unwrap().to_owned();
    let mut applet2 = applet_ws(&h, &joined2).await;
    wait_until("waiting", async || state_of(&h, &s2).await == "waiting").await;
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/close",
            &[&s2],
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    drop(applet2.close(None).await);
    // Session 3, transferred by its technician to its own group.
    let joined3 = join_channel(&h, &code, json!({})).await;
    let s3 = joined3["session_id"].as_str().unwrap().to_owned();
    let mut applet3 = applet_ws(&h, &joined3).await;
    wait_until("waiting", async || state_of(&h, &s3).await == "waiting").await;
    h.post("/api/v1/sessions/{id}/pickup", &[&s3], Some(&t1), json!({}))
        .await;
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/transfer",
            &[&s3],
            Some(&tkey),
            json!({"group_id": g1}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a transfer through the technician's API key: {v}"
    );
    let by: Option<i64> =
        sqlx::query_scalar("SELECT by_id FROM session_transfers WHERE session_id = $1")
            .bind(&s3)
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap();
    assert_eq!(by, Some(t1_id));
    // Its applet stays: the session waits in the group's queue.
    // Session 4, failed: the customer's applet never connects.
    let joined4 = join_channel(&h, &code, json!({})).await;
    let s4 = joined4["session_id"].as_str().unwrap().to_owned();
    wait_until("the connecting timeout", async || {
        state_of(&h, &s4).await == "closed"
    })
    .await;

    // ---- Surveys (SURVEY-1, SURVEY-2).
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/surveys/{kind}",
            &["technician"],
            Some(&m),
            Some(json!({"enabled": true, "rating": true, "questions": [
                {"id": "fixed", "label": "Fixed?", "type": "yes_no", "required": true},
                {"id": "cause", "label": "Cause", "type": "text"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/surveys/{kind}",
            &["customer"],
            Some(&admin),
            Some(json!({"enabled": true, "rating": true, "questions": []})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "masters set surveys");
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/surveys/{kind}",
            &["customer"],
            Some(&m),
            Some(json!({"enabled": true, "rating": true, "questions": [
                {"id": "speed", "label": "Speed", "type": "rating", "required": true},
                {"id": "channel", "label": "Found us via", "type": "choice",
                 "choices": ["web", "phone"]}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, cfg) = h.get("/api/v1/surveys/{kind}", &["technician"], &t1).await;
    assert_eq!(cfg["questions"][0]["id"], "fixed");
    let ta = json!({"rating": 4, "answers": {"fixed": "yes", "cause": "old driver"}});
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/survey",
            &[&s1],
            Some(&t2),
            ta.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not its session");
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/survey",
            &[&s1],
            Some(&t1),
            json!({"rating": 4, "answers": {"fixed": "maybe"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/survey",
            &[&s1],
            Some(&t1),
            ta.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _) = h
        .post("/api/v1/sessions/{id}/survey", &[&s1], Some(&t1), ta)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "once");
    let ctoken = joined["customer_token"].as_str().unwrap();
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/customer-survey",
            &[&s1],
            None,
            json!({"token": "0".repeat(64), "rating": 5, "answers": {"speed": "5"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "wrong token");
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/customer-survey",
            &[&s1],
            None,
            json!({"token": ctoken, "rating": 5, "answers": {"speed": "4", "channel": "web"}}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

    // ---- Reports (REPORT-1): every kind for the range and group G1.
    let end = secours_signaling::store::now_ms() + 1000;
    let range = format!("from={start}&to={end}&node=group:{g1}");
    let mut got = std::collections::HashMap::new();
    for kind in secours_signaling::reports::ReportKind::ALL {
        let name = kind.name();
        let (s, r) = h
            .get(
                &format!("/api/v1/reports/{{kind}}?{range}"),
                &[name],
                &admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        let csv = csv_of(&h, name, &range, &admin).await;
        assert_eq!(Value::from(csv[0].clone()), r["columns"], "{name} header");
        assert_eq!(
            Value::from(csv[1..].to_vec()),
            r["rows"],
            "{name}: the CSV holds the rows"
        );
        got.insert(name, r);
    }
    let col = |r: &Value, name: &str| {
        r["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c == name)
            .unwrap()
    };
    let ids_of = |r: &Value| -> Vec<String> {
        let c = col(r, "session_id");
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[c].as_str().unwrap().to_owned())
            .collect()
    };
    let fig = |r: &Value, name: &str| {
        r["summary"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sessions = &got["sessions"];
    // The PIN session the key opened is T1's too.
    assert_eq!(fig(sessions, "total"), "5");
    assert_eq!(fig(sessions, "missed"), "1");
    assert_eq!(fig(sessions, "failed"), "1");
    assert_eq!(fig(sessions, "picked_up"), "2");
    assert!(ids_of(sessions).contains(&s1));
    let row1 = sessions["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == s1.as_str())
        .unwrap();
    assert_eq!(row1[col(sessions, "notes")], "Printer driver reinstalled");
    assert_eq!(ids_of(&got["missed"]), vec![s2.clone()]);
    assert_eq!(ids_of(&got["failed"]), vec![s4.clone()]);
    assert_eq!(ids_of(&got["transferred"]), vec![s3.clone()]);
    let perf = &got["performance"];
    assert_eq!(perf["rows"].as_array().unwrap().len(), 1);
    assert_eq!(perf["rows"][0][col(perf, "technician")], "t1@acme.test");
    // Session 3 went back to the group's queue: it counts for whoever ends it.
    assert_eq!(perf["rows"][0][col(perf, "sessions")], "1");
    let cf = &got["custom_fields"];
    assert_eq!(cf["rows"][0][col(cf, "field")], "ticket");
    assert_eq!(cf["rows"][0][col(cf, "value")], "T-42");
    let cs = &got["customer_survey"];
    assert_eq!(ids_of(cs), vec![s1.clone()]);
    assert_eq!(cs["rows"][0][col(cs, "rating")], "5");
    assert_eq!(cs["rows"][0][col(cs, "Found us via")], "web");
    assert_eq!(fig(cs, "avg_rating"), "5.00");
    let ts = &got["technician_survey"];
    assert_eq!(ts["rows"][0][col(ts, "Fixed?")], "yes");
    assert_eq!(ts["rows"][0][col(ts, "technician")], "t1@acme.test");
    let logins = &got["logins"];
    let accounts: Vec<&str> = logins["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_str().unwrap())
        .collect();
    assert!(accounts.contains(&"t1@acme.test"));
    assert!(!accounts.contains(&"t2@acme.test"), "another group");
    // Another node of the chart: nothing of G1.
    let (s, r) = h
        .get(
            &format!("/api/v1/reports/{{kind}}?from={start}&to={end}&node=group:{g2}"),
            &["sessions"],
            &m,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fig(&r, "total"), "0");
    // A range before everything: empty.
    let (_, r) = h
        .get(
            &format!("/api/v1/reports/{{kind}}?from=0&to={start}&node=org"),
            &["sessions"],
            &m,
        )
        .await;
    assert_eq!(fig(&r, "total"), "0");
    // Technicians get no reports; bad input answers 400/404.
    let (s, _) = h.get("/api/v1/reports/{kind}", &["sessions"], &t1).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = h.get("/api/v1/reports/{kind}", &["nope"], &m).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .get("/api/v1/reports/{kind}?node=galaxy:1", &["sessions"], &m)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Revocation ends the key at once, and is audited.
    let (s, _) = h
        .call(
            Method::DELETE,
            "/api/v1/api-keys/{id}",
            &[&akey_id.to_string()],
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.get("/api/v1/sessions", &[], &akey).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked");
    let revoked: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'api_key.revoke'")
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap();
    assert_eq!(revoked, 1);
    drop(applet3.close(None).await);
    if let Some(n2) = second {
        n2.server.shutdown().await.unwrap();
    }
    h.server.shutdown().await.unwrap();
}
