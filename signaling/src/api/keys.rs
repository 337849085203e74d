//! API keys for integrations (INTEG-3): a key is a bearer of the REST API
//! that acts as the account that created it, with that account's scope as
//! it is at each request (an administrator's key follows its assignments,
//! a disabled account's keys stop working). Keys expire, are stored as
//! SHA-256 only, can be revoked, and every request made with one is audited.
//! A key cannot manage keys or change a password: a leaked key cannot make
//! itself permanent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::Secret;
use crate::auth::{AnyCaller, Caller, check_group_access};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::model::Role;
use crate::state::{AppState, ClientIp};
use crate::store::audit::{self, Actor};
use crate::store::{Flag, check_text, now_ms, random_token, sha256_hex};

/// What every key starts with (tells it apart from a login token).
pub const KEY_PREFIX: &str = "sk_";

/// The longest a key may live.
pub const MAX_DAYS: i64 = 366;

const DAY_MS: i64 = 86_400_000;

/// A new key's name and lifetime.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for (shown in lists and the audit log).
    #[schema(min_length = 1, max_length = 100, pattern = "{name}")]
    pub name: String,
    /// Days until it expires (1 to 366).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
}

/// A key as listed (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ApiKeyView {
    /// Key id.
    pub id: i64,
    /// The account it acts as.
    pub owner_id: i64,
    /// Its name.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms, once revoked.
    pub revoked_at: Option<i64>,
    /// Unix ms of the latest use.
    pub last_used_at: Option<i64>,
}

/// A key just created: the only time the key is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key as listed.
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// The bearer to send (`Authorization: Bearer sk_...`); kept only hashed.
    pub key: Secret,
}

fn no_keys_with_keys(caller: &Caller) -> ApiResult<()> {
    if caller.api_key.is_some() {
        Err(ApiError::forbidden(
            "API keys cannot manage API keys; sign in",
        ))
    } else {
        Ok(())
    }
}

/// Creates a key acting as the caller.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "integrations", security(("bearer" = [])),
    request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<NewApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    no_keys_with_keys(&caller)?;
    check_text("name", &req.name, 100)?;
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name is empty"));
    }
    if !(1..=MAX_DAYS).contains(&req.expires_in_days) {
        return Err(ApiError::invalid("expires_in_days is 1 to 366"));
    }
    let now = now_ms();
    let secret = random_token();
    let key = format!("{KEY_PREFIX}{secret}");
    let prefix = key[..KEY_PREFIX.len() + 8].to_owned();
    let expires_at = now + req.expires_in_days * DAY_MS;
    let mut tx = state.store.write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (owner_id, name, key_hash, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(caller.id)
    .bind(&req.name)
    .bind(sha256_hex(&key))
    .bind(&prefix)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "api_key.create",
        &format!("api_key:{id}"),
        json!({"name": req.name, "expires_at": expires_at}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            view: ApiKeyView {
                id,
                owner_id: caller.id,
                name: req.name,
                prefix,
                created_at: now,
                expires_at,
                revoked_at: None,
                last_used_at: None,
            },
            key: Secret::new(key),
        }),
    ))
}

/// The caller's keys (a master sees every key).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    no_keys_with_keys(&caller)?;
    let all = caller.role == Role::Master;
    let rows: Vec<ApiKeyView> = sqlx::query_as(
        "SELECT id, owner_id, name, prefix, created_at, expires_at, revoked_at, last_used_at \
         FROM api_keys WHERE owner_id = $1 OR $2 ORDER BY id DESC LIMIT 1000",
    )
    .bind(caller.id)
    .bind(all)
    .fetch_all(&state.store.pool)
    .await?;
    Ok(Json(rows))
}

/// Revokes a key (its owner, or a master): it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    no_keys_with_keys(&caller)?;
    let now = now_ms();
    let mut tx = state.store.write().await?;
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
         AND (owner_id = $3 OR $4)",
    )
    .bind(now)
    .bind(id)
    .bind(caller.id)
    .bind(caller.role == Role::Master)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("API key"));
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "api_key.revoke",
        &format!("api_key:{id}"),
        json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

type KeyRow = (
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<i64>,
    Flag,
);

/// Resolves an API key bearer, applying the owner's account rules, and
/// audits the request (method and path, never the query: it may carry data).
pub async fn resolve(
    state: &AppState,
    key: &str,
    ip: ClientIp,
    parts: &Parts,
) -> ApiResult<AnyCaller> {
    let Some(secret) = key.strip_prefix(KEY_PREFIX) else {
        return Err(ApiError::unauthenticated());
    };
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::unauthenticated());
    }
    let hash = sha256_hex(key);
    let row: Option<KeyRow> = sqlx::query_as(
        "SELECT k.id, k.expires_at, u.id, k.revoked_at, u.role, u.email, u.tech_group_id, u.enabled \
         FROM api_keys k JOIN users u ON u.id = k.owner_id WHERE k.key_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&state.store.pool)
    .await?;
    let Some((key_id, expires_at, user, revoked, role, email, group, Flag(enabled))) = row else {
        return Err(ApiError::unauthenticated());
    };
    let now = now_ms();
    if revoked.is_some() || expires_at <= now {
        return Err(ApiError::unauthenticated());
    }
    if !enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "this account is disabled",
        ));
    }
    let role = Role::parse(&role).ok_or_else(ApiError::unauthenticated)?;
    if role == Role::Technician {
        check_group_access(state, group, ip).await?;
    }
    let caller = Caller {
        id: user,
        role,
        email,
        tech_group_id: group,
        token_hash: hash,
        api_key: Some(key_id),
    };
    let mut tx = state.store.write().await?;
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
    let path: String = parts.uri.path().chars().take(300).collect();
    audit::append(
        &mut tx,
        &Actor {
            id: Some(user),
            label: caller.email.clone(),
        },
        "api_key.use",
        &format!("api_key:{key_id}"),
        json!({"method": parts.method.as_str(), "path": path, "address": ip.0.to_string()}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(AnyCaller {
        caller,
        restricted: false,
    })
}
