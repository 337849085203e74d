//! Post-to-URL configurations and their delivery log (INTEG-2), for
//! master administrators (the data of every session leaves the server).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::Secret;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::posturl::check_url;
use crate::state::AppState;
use crate::store::{Flag, audit, check_text, now_ms, random_token};

/// The body format posted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PostFormat {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl PostFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Form => "form",
        }
    }
    fn parse(s: &str) -> Self {
        if s == "form" { Self::Form } else { Self::Json }
    }
}

/// A new configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPostUrl {
    /// Its name.
    #[schema(min_length = 1, max_length = 100, pattern = "{name}")]
    pub name: String,
    /// Where to post: an http:// or https:// URL with a host (else 422).
    #[schema(max_length = 2000, pattern = "{text}")]
    pub url: String,
    /// Body format.
    pub format: PostFormat,
    /// Post when a session is picked up.
    pub on_start: bool,
    /// Post when a session ends.
    pub on_end: bool,
}

/// Changes to a configuration.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostUrlPatch {
    /// Its name.
    #[schema(min_length = 1, max_length = 100, pattern = "{name}")]
    pub name: Option<String>,
    /// Where to post: an http:// or https:// URL with a host (else 422).
    #[schema(max_length = 2000, pattern = "{text}")]
    pub url: Option<String>,
    /// Body format.
    pub format: Option<PostFormat>,
    /// Post at pick-up.
    pub on_start: Option<bool>,
    /// Post at the end.
    pub on_end: Option<bool>,
    /// Enabled.
    pub enabled: Option<bool>,
}

/// A configuration as listed (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostUrl {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Where it posts.
    pub url: String,
    /// Body format.
    pub format: PostFormat,
    /// At pick-up.
    pub on_start: bool,
    /// At the end.
    pub on_end: bool,
    /// Enabled.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
}

/// A configuration just created, with the secret its receiver checks
/// signatures with (shown this once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedPostUrl {
    /// The configuration.
    #[serde(flatten)]
    pub config: PostUrl,
    /// HMAC-SHA256 key of the `X-Secours-Signature` header.
    pub secret: Secret,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Delivery {
    /// Attempt id.
    pub id: i64,
    /// The outbox item (the `X-Secours-Delivery` header).
    pub outbox_id: i64,
    /// The session.
    pub session_id: String,
    /// `start` or `end`.
    pub event: String,
    /// Unix ms.
    pub at: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    /// Why it failed (empty on success).
    pub error: String,
    /// How long it took.
    pub duration_ms: i64,
}

type Row = (i64, String, String, String, Flag, Flag, Flag, i64);

fn view(r: Row) -> PostUrl {
    PostUrl {
        id: r.0,
        name: r.1,
        url: r.2,
        format: PostFormat::parse(&r.3),
        on_start: r.4.0,
        on_end: r.5.0,
        enabled: r.6.0,
        created_at: r.7,
    }
}

const SELECT: &str =
    "SELECT id, name, url, format, on_start, on_end, enabled, created_at FROM post_urls";

fn check_name(name: &str) -> ApiResult<()> {
    check_text("name", name, 100)?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name is empty"));
    }
    Ok(())
}

/// Adds a configuration.
#[utoipa::path(post, path = "/api/v1/post-urls", tag = "integrations", security(("bearer" = [])),
    request_body = NewPostUrl,
    responses((status = 201, body = CreatedPostUrl), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<NewPostUrl>,
) -> ApiResult<(StatusCode, Json<CreatedPostUrl>)> {
    caller.require_master()?;
    check_name(&req.name)?;
    check_url(&req.url)?;
    let now = now_ms();
    let secret = random_token();
    let mut tx = state.store.write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO post_urls (name, url, format, on_start, on_end, secret, enabled, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7) RETURNING id",
    )
    .bind(&req.name)
    .bind(&req.url)
    .bind(req.format.as_str())
    .bind(req.on_start)
    .bind(req.on_end)
    .bind(&secret)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "post_url.create",
        &format!("post_url:{id}"),
        json!({"name": req.name, "url": req.url}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedPostUrl {
            config: PostUrl {
                id,
                name: req.name,
                url: req.url,
                format: req.format,
                on_start: req.on_start,
                on_end: req.on_end,
                enabled: true,
                created_at: now,
            },
            secret: Secret::new(secret),
        }),
    ))
}

/// Every configuration.
#[utoipa::path(get, path = "/api/v1/post-urls", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = Vec<PostUrl>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<PostUrl>>> {
    caller.require_master()?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY id")))
        .fetch_all(&state.store.pool)
        .await?;
    Ok(Json(rows.into_iter().map(view).collect()))
}

/// Changes a configuration.
#[utoipa::path(patch, path = "/api/v1/post-urls/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Configuration id")), request_body = PostUrlPatch,
    responses((status = 200, body = PostUrl), (status = 404, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(p): Json<PostUrlPatch>,
) -> ApiResult<Json<PostUrl>> {
    caller.require_master()?;
    if let Some(n) = &p.name {
        check_name(n)?;
    }
    if let Some(u) = &p.url {
        check_url(u)?;
    }
    let now = now_ms();
    let mut tx = state.store.write().await?;
    let cur: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let cur = view(cur.ok_or_else(|| ApiError::not_found("post-to-URL configuration"))?);
    let next = PostUrl {
        name: p.name.clone().unwrap_or(cur.name),
        url: p.url.clone().unwrap_or(cur.url),
        format: p.format.unwrap_or(cur.format),
        on_start: p.on_start.unwrap_or(cur.on_start),
        on_end: p.on_end.unwrap_or(cur.on_end),
        enabled: p.enabled.unwrap_or(cur.enabled),
        ..cur
    };
    sqlx::query(
        "UPDATE post_urls SET name = $1, url = $2, format = $3, on_start = $4, on_end = $5, \
         enabled = $6 WHERE id = $7",
    )
    .bind(&next.name)
    .bind(&next.url)
    .bind(next.format.as_str())
    .bind(next.on_start)
    .bind(next.on_end)
    .bind(next.enabled)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "post_url.update",
        &format!("post_url:{id}"),
        json!({"name": next.name, "url": next.url, "enabled": next.enabled}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(next))
}

/// The latest delivery attempts of a configuration, newest first.
#[utoipa::path(get, path = "/api/v1/post-urls/{id}/deliveries", tag = "integrations",
    security(("bearer" = [])), params(("id" = i64, Path, description = "Configuration id")),
    responses((status = 200, body = Vec<Delivery>), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Delivery>>> {
    caller.require_master()?;
    Ok(Json(deliveries_of(&state, id).await?))
}

/// The delivery log of configuration `id` (pages use it too).
pub async fn deliveries_of(state: &AppState, id: i64) -> ApiResult<Vec<Delivery>> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM post_urls WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found("post-to-URL configuration"));
    }
    Ok(sqlx::query_as(
        "SELECT d.id, d.outbox_id, o.session_id, o.event, d.at, d.status, d.error, d.duration_ms \
         FROM post_deliveries d JOIN post_outbox o ON o.id = d.outbox_id \
         WHERE d.config_id = $1 ORDER BY d.id DESC LIMIT 200",
    )
    .bind(id)
    .fetch_all(&state.store.pool)
    .await?)
}
