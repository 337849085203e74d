//! First run (ScreenConnect CVE-2024-1709 is why this is so narrow): the CLI
//! either creates the organisation and its first master administrator
//! directly, or prints a one-time set-up token. The only web route,
//! `POST /api/v1/setup`, needs that token and answers 404 for good once a
//! master administrator exists.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::api::auth::normalise_email;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::model::Role;
use crate::password::{self, Strength};
use crate::state::AppState;
use crate::store::audit::{self, Actor};
use crate::store::{Store, check_text, now_ms, random_id, random_token, sha256_hex};

/// Number of channels an organisation has (CHAN-1).
pub const CHANNELS: i64 = 10;

/// The first master administrator.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstMaster {
    /// Organisation name.
    #[schema(max_length = 200, pattern = "{text}")]
    pub org_name: String,
    /// Administrator's name.
    #[schema(max_length = 200, pattern = "{text}")]
    pub name: String,
    /// Login e-mail.
    #[schema(min_length = 3, max_length = 254, pattern = "{email}")]
    pub email: String,
    /// Password (at least Complex, else 422).
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub password: crate::Secret,
}

async fn is_set_up(store: &Store) -> ApiResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'master'")
        .fetch_one(&store.pool)
        .await?;
    Ok(n > 0)
}

/// Creates the organisation, its ten channels and the first master
/// administrator. Refused once a master administrator exists.
pub async fn create(store: &Store, first: &FirstMaster, actor: &Actor) -> ApiResult<i64> {
    check_text("org_name", &first.org_name, 200)?;
    check_text("name", &first.name, 200)?;
    let email = normalise_email(&first.email)?;
    password::check(first.password.expose(), Strength::Complex)?;
    let pw = first.password.expose().to_owned();
    let phc = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::internal("hash task", e))??;
    let now = now_ms();
    let mut tx = store.pool.begin().await?;
    let masters: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'master'")
        .fetch_one(&mut *tx)
        .await?;
    if masters > 0 {
        return Err(ApiError::conflict("the organisation is already set up"));
    }
    sqlx::query(
        "INSERT INTO org (id, name, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET name = $1, setup_token_hash = NULL, setup_token_expires = NULL",
    )
    .bind(&first.org_name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for n in 1..=CHANNELS {
        sqlx::query(
            "INSERT INTO channels (id, name, link_code) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(n)
        .bind(format!("Channel {n}"))
        .bind(random_id())
        .execute(&mut *tx)
        .await?;
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (role, name, email, password_hash, password_changed_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(Role::Master.as_str())
    .bind(&first.name)
    .bind(&email)
    .bind(&phc)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "org.setup",
        &format!("user:{id}"),
        json!({"org": first.org_name, "email": email}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Stores a one-time set-up token (valid `ttl_s`) and returns it, unless
/// the organisation is already set up.
pub async fn issue_token(store: &Store, ttl_s: i64) -> ApiResult<String> {
    if is_set_up(store).await? {
        return Err(ApiError::conflict("the organisation is already set up"));
    }
    let token = random_token();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO org (id, name, setup_token_hash, setup_token_expires, created_at) \
         VALUES (1, '', $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
         setup_token_hash = $1, setup_token_expires = $2",
    )
    .bind(sha256_hex(&token))
    .bind(now + ttl_s * 1000)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(token)
}

/// The web set-up request: the token and the [`FirstMaster`] fields, in
/// one object (a flattened struct made an `allOf` of two closed objects,
/// which no document can satisfy).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token `secours server init --token` printed.
    #[schema(value_type = String)]
    pub token: crate::Secret,
    /// Organisation name.
    #[schema(max_length = 200, pattern = "{text}")]
    pub org_name: String,
    /// Administrator's name.
    #[schema(max_length = 200, pattern = "{text}")]
    pub name: String,
    /// Login e-mail.
    #[schema(min_length = 3, max_length = 254, pattern = "{email}")]
    pub email: String,
    /// Password (at least Complex, else 422).
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub password: crate::Secret,
}

impl SetupRequest {
    /// The organisation and its first master administrator.
    pub fn first(&self) -> FirstMaster {
        FirstMaster {
            org_name: self.org_name.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            password: self.password.clone(),
        }
    }
}

/// The created account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetupResponse {
    /// The master administrator's id.
    pub user_id: i64,
}

/// Completes set-up with a one-time token. Answers 404 once set up.
#[utoipa::path(post, path = "/api/v1/setup", tag = "setup", request_body = SetupRequest,
    responses((status = 201, body = SetupResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn setup_route(
    State(state): State<AppState>,
    Json(req): Json<SetupRequest>,
) -> ApiResult<(StatusCode, Json<SetupResponse>)> {
    if is_set_up(&state.store).await? {
        return Err(ApiError::not_found("route"));
    }
    let stored: Option<(Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT setup_token_hash, setup_token_expires FROM org WHERE id = 1")
            .fetch_optional(&state.store.pool)
            .await?;
    let valid = match stored {
        Some((Some(hash), Some(expires))) => {
            let given = sha256_hex(req.token.expose().trim());
            // Compare hashes of equal length; no early exit on content.
            hash.len() == given.len()
                && hash
                    .bytes()
                    .zip(given.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    == 0
                && expires > now_ms()
        }
        _ => false,
    };
    if !valid {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_setup_token",
            "missing, wrong or expired set-up token",
        ));
    }
    let user_id = create(&state.store, &req.first(), &Actor::system("setup-token")).await?;
    Ok((StatusCode::CREATED, Json(SetupResponse { user_id })))
}
