//! Post-to-URL (INTEG-2): session data posted to configured URLs when a
//! session starts (pick-up) and ends (close), as JSON or form data, signed
//! with HMAC-SHA256 over the body (`X-Secours-Signature: sha256=<hex>`)
//! with the configuration's secret.
//!
//! Durability: an item enters `post_outbox` in the same transaction as the
//! session change, so a receiver that is down (or a node that stops) loses
//! nothing. Each node's dispatcher claims one due item at a time with a
//! conditional UPDATE (a claim token and a lease), so with several nodes on
//! one PostgreSQL database exactly one of them delivers each item. Failures
//! are retried with exponential back-off, every attempt is logged in
//! `post_deliveries`.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::{Any, AnyPool, Transaction};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Flag, now_ms, random_id};

/// When a session event is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostEvent {
    /// A technician picked the session up.
    Start,
    /// The session closed.
    End,
}

impl PostEvent {
    /// Stored and sent form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
        }
    }
}

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-secours-signature";
/// How long a node holds a claimed item before another may take it.
const LEASE_MS: i64 = 60_000;
/// The most of a receiver's answer read (for the delivery log).
const MAX_ANSWER_BYTES: usize = 4096;
/// The longest back-off between attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Queues `event` of session `id` for every enabled configuration that
/// wants it, inside the transaction of the change itself.
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    event: PostEvent,
    now: i64,
) -> ApiResult<()> {
    let sql = match event {
        PostEvent::Start => {
            "INSERT INTO post_outbox (config_id, session_id, event, created_at, next_at) \
             SELECT id, $1, $2, $3, $3 FROM post_urls WHERE enabled AND on_start"
        }
        PostEvent::End => {
            "INSERT INTO post_outbox (config_id, session_id, event, created_at, next_at) \
             SELECT id, $1, $2, $3, $3 FROM post_urls WHERE enabled AND on_end"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .bind(event.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// HMAC-SHA256 of `body` with `secret`, hex: what the signature header carries.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a URL a configuration may post to: http or https, with a host.
pub fn check_url(url: &str) -> ApiResult<()> {
    crate::store::check_text("url", url, 2000)?;
    // 422: the document states the rule in prose (a pattern cannot say it).
    let parsed = reqwest::Url::parse(url).map_err(|_| ApiError::unprocessable("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::unprocessable(
            "the URL must be http:// or https:// with a host",
        ));
    }
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
struct SessionData {
    id: String,
    kind: String,
    state: String,
    channel_id: Option<i64>,
    tech_id: Option<i64>,
    tech_name: Option<String>,
    tech_email: Option<String>,
    group_id: Option<i64>,
    customer_name: String,
    customer_fields: String,
    created_at: i64,
    waiting_since: Option<i64>,
    picked_at: Option<i64>,
    closed_at: Option<i64>,
    close_reason: Option<String>,
}

/// A note as sent and reported.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoteOut {
    /// Note id.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// Author's account id.
    pub author_id: i64,
    /// Author's e-mail.
    pub author: String,
    /// The text.
    pub body: String,
}

/// The notes of a session, oldest first.
pub async fn notes_of(pool: &AnyPool, id: &str) -> ApiResult<Vec<NoteOut>> {
    Ok(sqlx::query_as(
        "SELECT n.id, n.at, n.author_id, u.email AS author, n.body FROM session_notes n \
         JOIN users u ON u.id = n.author_id WHERE n.session_id = $1 ORDER BY n.id LIMIT 1000",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// The JSON document posted for `event` of session `id`. The chat goes
/// from peer to peer and never through the server, so there is no chat
/// log to send.
pub async fn payload(pool: &AnyPool, delivery: i64, event: &str, id: &str) -> ApiResult<Value> {
    let s: SessionData = sqlx::query_as(
        "SELECT s.id, s.kind, s.state, s.channel_id, s.tech_id, u.name AS tech_name, \
         u.email AS tech_email, s.group_id, s.customer_name, s.customer_fields, s.created_at, \
         s.waiting_since, s.picked_at, s.closed_at, s.close_reason \
         FROM support_sessions s LEFT JOIN users u ON u.id = s.tech_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ApiError::not_found("session"))?;
    let fields: Value = serde_json::from_str(&s.customer_fields)
        .unwrap_or_else(|_| Value::String(s.customer_fields.clone()));
    let notes = notes_of(pool, id).await?;
    Ok(json!({
        "event": event,
        "delivery_id": delivery,
        "sent_at": now_ms(),
        "session": {
            "id": s.id, "kind": s.kind, "state": s.state, "channel_id": s.channel_id,
            "group_id": s.group_id,
            "technician": s.tech_id.map(|t| json!({"id": t, "name": s.tech_name, "email": s.tech_email})),
            "customer_name": s.customer_name, "customer_fields": fields,
            "created_at": s.created_at, "waiting_since": s.waiting_since,
            "picked_at": s.picked_at, "closed_at": s.closed_at, "close_reason": s.close_reason,
        },
        "notes": notes,
    }))
}

/// The same data as flat form fields: scalars as text, the customer
/// fields one by one (`customer_fields[name]`), notes as JSON text.
fn form_body(doc: &Value) -> Result<String, serde_urlencoded::ser::Error> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for k in ["event", "delivery_id", "sent_at"] {
        pairs.push((k.to_owned(), text(&doc[k])));
    }
    if let Some(session) = doc["session"].as_object() {
        for (k, v) in session {
            match (k.as_str(), v) {
                ("customer_fields", Value::Object(m)) => {
                    for (name, value) in m {
                        pairs.push((format!("customer_fields[{name}]"), text(value)));
                    }
                }
                ("technician", t) => {
                    pairs.push(("technician_id".into(), text(&t["id"])));
                    pairs.push(("technician_name".into(), text(&t["name"])));
                    pairs.push(("technician_email".into(), text(&t["email"])));
                }
                (k, v) => pairs.push((format!("session_{k}"), text(v))),
            }
        }
    }
    pairs.push(("notes".into(), doc["notes"].to_string()));
    serde_urlencoded::to_string(pairs)
}

type Claimed = (i64, i64, String, String, i64);

async fn claim(pool: &AnyPool, token: &str, now: i64) -> ApiResult<Option<Claimed>> {
    Ok(sqlx::query_as(
        "UPDATE post_outbox SET claim = $1, claimed_until = $2, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM post_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
           AND next_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
           ORDER BY next_at, id LIMIT 1) \
         AND delivered_at IS NULL AND failed_at IS NULL \
         AND (claimed_until IS NULL OR claimed_until < $3) \
         RETURNING id, config_id, session_id, event, attempts",
    )
    .bind(token)
    .bind(now + LEASE_MS)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}

/// The HTTP client of the dispatcher: no redirects (a receiver cannot send
/// the data elsewhere), bounded connect and total times.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent("secours-post-to-url")
        .build()
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer.
async fn bounded_text(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER_BYTES - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// One pass: claims and delivers due items until none is left; the number
/// delivered or failed.
pub async fn pass(state: &AppState, http: &reqwest::Client) -> ApiResult<usize> {
    let pool = &state.store.pool;
    let mut done = 0;
    loop {
        let token = random_id();
        let now = now_ms();
        let Some((id, config, session, event, attempts)) = claim(pool, &token, now).await? else {
            return Ok(done);
        };
        done += 1;
        let cfg: Option<(String, String, String, Flag)> =
            sqlx::query_as("SELECT url, format, secret, enabled FROM post_urls WHERE id = $1")
                .bind(config)
                .fetch_optional(pool)
                .await?;
        let started = Instant::now();
        let outcome = match cfg {
            Some((url, format, secret, Flag(true))) => {
                deliver(pool, http, id, &event, &session, &url, &format, &secret).await
            }
            _ => Err((None, "the configuration is disabled".to_owned())),
        };
        let took = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let (status, error) = match &outcome {
            Ok(s) => (Some(*s), String::new()),
            Err((s, e)) => (*s, e.chars().take(500).collect()),
        };
        sqlx::query(
            "INSERT INTO post_deliveries (outbox_id, config_id, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(config)
        .bind(now)
        .bind(status)
        .bind(&error)
        .bind(took)
        .execute(pool)
        .await?;
        if outcome.is_ok() {
            sqlx::query(
                "UPDATE post_outbox SET delivered_at = $1, claimed_until = NULL, last_error = '' \
                 WHERE id = $2 AND claim = $3",
            )
            .bind(now)
            .bind(id)
            .bind(&token)
            .execute(pool)
            .await?;
            continue;
        }
        tracing::warn!(item = id, attempts, error = %error, "post-to-URL delivery failed");
        let give_up = attempts >= state.config.post_max_attempts;
        let base = i64::try_from(state.config.post_retry_base_ms).unwrap_or(i64::MAX);
        let backoff = base
            .saturating_mul(1i64 << (attempts - 1).clamp(0, 30))
            .min(MAX_BACKOFF_MS);
        sqlx::query(
            "UPDATE post_outbox SET next_at = $1, failed_at = $2, claimed_until = NULL, \
             last_error = $3 WHERE id = $4 AND claim = $5",
        )
        .bind(now + backoff)
        .bind(give_up.then_some(now))
        .bind(&error)
        .bind(id)
        .bind(&token)
        .execute(pool)
        .await?;
    }
}

type Outcome = Result<i64, (Option<i64>, String)>;

#[allow(clippy::too_many_arguments)]
async fn deliver(
    pool: &AnyPool,
    http: &reqwest::Client,
    id: i64,
    event: &str,
    session: &str,
    url: &str,
    format: &str,
    secret: &str,
) -> Outcome {
    let doc = payload(pool, id, event, session)
        .await
        .map_err(|e| (None, e.message))?;
    let (ctype, body) = if format == "form" {
        let b = form_body(&doc).map_err(|e| (None, e.to_string()))?;
        ("application/x-www-form-urlencoded", b.into_bytes())
    } else {
        ("application/json", doc.to_string().into_bytes())
    };
    let signature = format!("sha256={}", sign(secret, &body));
    let resp = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, ctype)
        .header(SIGNATURE_HEADER, signature)
        .header("x-secours-event", event)
        .header("x-secours-delivery", id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| (None, e.to_string()))?;
    let status = i64::from(resp.status().as_u16());
    if resp.status().is_success() {
        // Drain a little so the connection can be reused; the rest is dropped.
        let _ = bounded_text(resp).await;
        Ok(status)
    } else {
        let text = bounded_text(resp).await;
        Err((Some(status), format!("HTTP {status}: {text}")))
    }
}

/// How long delivered or abandoned items and the delivery log are kept.
const RETENTION_MS: i64 = 90 * 86_400_000;

/// Forgets items settled before the retention period, and their log.
pub async fn prune(pool: &AnyPool, now: i64) -> ApiResult<()> {
    let cutoff = now - RETENTION_MS;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM post_deliveries WHERE outbox_id IN (SELECT id FROM post_outbox \
         WHERE delivered_at < $1 OR failed_at < $1)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM post_outbox WHERE delivered_at < $1 OR failed_at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Delivers forever, looking for due items at the sweep interval.
pub async fn run(state: AppState) {
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client; post-to-URL items stay queued");
            return;
        }
    };
    let every = Duration::from_millis(state.config.timeouts.sweep_interval_ms.clamp(10, 1000));
    let mut pruned_at = 0;
    loop {
        if let Err(e) = pass(&state, &http).await {
            tracing::warn!(error = %e, "post-to-URL pass failed");
        }
        let now = now_ms();
        if now - pruned_at > 3_600_000 {
            pruned_at = now;
            if let Err(e) = prune(&state.store.pool, now).await {
                tracing::warn!(error = %e, "post-to-URL pruning failed");
            }
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_http_urls() {
        assert!(check_url("https://crm.example/hook").is_ok());
        assert!(check_url("http://127.0.0.1:9/x").is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://x/y",
            "javascript:alert(1)",
            "nope",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn form_flattens_fields() {
        let doc = json!({"event": "end", "delivery_id": 3, "sent_at": 1,
            "session": {"id": "ab", "technician": {"id": 2, "name": "T", "email": "t@x"},
                        "customer_fields": {"ticket": "42 & co"}},
            "notes": []});
        let body = form_body(&doc).unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
        assert!(pairs.contains(&("customer_fields[ticket]".into(), "42 & co".into())));
        assert!(pairs.contains(&("technician_email".into(), "t@x".into())));
        assert!(pairs.contains(&("session_id".into(), "ab".into())));
    }
}
