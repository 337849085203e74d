//! Login, logout, the caller's own account, password changes, first-run set-up.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::Secret;
use crate::auth::{AnyCaller, check_group_access};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::model::Role;
use crate::notify::{self, Notice};
use crate::password::{self, Strength};
use crate::state::{AppState, ClientIp};
use crate::store::audit::{self, Actor};
use crate::store::throttle::{self, Attempt, Limit};
use crate::store::{Flag, now_ms, random_token, sha256_hex};

pub use secours_protocol::signaling::{LoginRequest, LoginResponse, Me, PasswordChange};

/// Lower-cased, checked e-mail address. Exactly what the document states
/// (its pattern is [`crate::store::email_pattern`]): lengths count
/// characters, and white space is refused anywhere, ends included.
pub fn normalise_email(email: &str) -> ApiResult<String> {
    let e = email;
    let n = e.chars().count();
    if !(3..=254).contains(&n) || !e.contains('@') || e.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("not an e-mail address"));
    }
    crate::store::check_text("email", e, 254)?;
    Ok(e.to_lowercase())
}

type LoginRow = (i64, String, String, Flag, Flag, i64, Option<i64>);

/// The attempts a login counts before its password is verified (the scheme
/// of SIGNALING.md 1.2): per address and account pair, per address, and per
/// account over a longer window. A full account window does not stop a
/// correct password from an address that logged into the account before,
/// so others cannot lock its owner out.
struct LoginAttempts {
    pair: Attempt,
    address: Attempt,
    account: Option<Attempt>,
}

async fn take_login_attempts(
    state: &AppState,
    email: &str,
    ip: ClientIp,
    now: i64,
) -> ApiResult<LoginAttempts> {
    let c = &state.config;
    let addr = throttle::address_key(ip.0);
    let window = |max_failures, s: i64| Limit {
        max_failures,
        window_ms: s * 1000,
    };
    let store = &state.store;
    let pair_key = format!("login:pair:{addr}:{email}");
    let pair = throttle::take(
        store,
        &pair_key,
        window(c.login_max_failures, c.throttle_window_s),
        now,
    )
    .await?;
    let address = match throttle::take(
        store,
        &format!("login:ip:{addr}"),
        window(c.login_address_max_failures, c.throttle_window_s),
        now,
    )
    .await
    {
        Ok(a) => a,
        Err(e) => {
            pair.give_back(store).await?;
            return Err(e);
        }
    };
    let account = match throttle::take(
        store,
        &format!("login:acct:{email}"),
        window(c.login_account_max_failures, c.login_account_window_s),
        now,
    )
    .await
    {
        Ok(a) => Some(a),
        Err(e) => {
            let known: Option<i64> = sqlx::query_scalar(
                "SELECT last_ok FROM login_known WHERE email = $1 AND address = $2",
            )
            .bind(email)
            .bind(&addr)
            .fetch_optional(&store.pool)
            .await?;
            if known.is_none() {
                pair.give_back(store).await?;
                address.give_back(store).await?;
                return Err(e);
            }
            None
        }
    };
    Ok(LoginAttempts {
        pair,
        address,
        account,
    })
}

impl LoginAttempts {
    /// A wrong password: every attempt stays counted.
    fn keep(self) {
        self.pair.keep();
        self.address.keep();
        if let Some(a) = self.account {
            a.keep();
        }
    }

    /// The right password: the pair's own typos are forgiven, the other
    /// counts give this attempt back (others' failures stay), and the
    /// address becomes known for the account.
    async fn succeeded(
        self,
        state: &AppState,
        email: &str,
        ip: ClientIp,
        now: i64,
    ) -> ApiResult<()> {
        let store = &state.store;
        let addr = throttle::address_key(ip.0);
        self.pair.keep();
        throttle::clear(store, &format!("login:pair:{addr}:{email}")).await?;
        self.address.give_back(store).await?;
        if let Some(a) = self.account {
            a.give_back(store).await?;
        }
        sqlx::query(
            "INSERT INTO login_known (email, address, last_ok) VALUES ($1, $2, $3) \
             ON CONFLICT (email, address) DO UPDATE SET last_ok = $3",
        )
        .bind(email)
        .bind(&addr)
        .bind(now)
        .execute(&store.pool)
        .await?;
        Ok(())
    }
}

/// Logs a staff member in.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let now = now_ms();
    let email = normalise_email(&req.email)?;
    let attempts = take_login_attempts(&state, &email, ip, now).await?;

    let row: Option<LoginRow> = sqlx::query_as(
        "SELECT id, role, password_hash, enabled, must_change_password, password_changed_at, \
         tech_group_id FROM users WHERE email = $1",
    )
    .bind(&email)
    .fetch_optional(&state.store.pool)
    .await?;
    let phc = row
        .as_ref()
        .map(|r| r.2.clone())
        .unwrap_or_else(|| password::decoy_hash().to_owned());
    let given = req.password.expose().to_owned();
    let ok = tokio::task::spawn_blocking(move || password::verify(&given, &phc))
        .await
        .unwrap_or(false);
    let Some((id, role, _, Flag(enabled), Flag(must_change), changed_at, group)) =
        row.filter(|_| ok)
    else {
        attempts.keep();
        let mut tx = state.store.write().await?;
        audit::append(
            &mut tx,
            &Actor::system(&format!("login@{}", ip.0)),
            "login.failed",
            &format!("email:{email}"),
            json!({"address": ip.0.to_string()}),
            now,
        )
        .await?;
        notify::queue(&mut tx, Notice::LoginFailed, &email, now).await?;
        tx.commit().await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong e-mail or password",
        ));
    };
    let actor = Actor {
        id: Some(id),
        label: email.clone(),
    };
    if !enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "this account is disabled",
        ));
    }
    let role = Role::parse(&role).ok_or_else(|| ApiError::forbidden("unknown role"))?;
    if role == Role::Technician
        && let Err(e) = check_group_access(&state, group, ip).await
    {
        let mut tx = state.store.write().await?;
        audit::append(
            &mut tx,
            &actor,
            "login.refused",
            &format!("user:{id}"),
            json!({"address": ip.0.to_string(), "code": e.code}),
            now,
        )
        .await?;
        tx.commit().await?;
        return Err(e);
    }
    attempts.succeeded(&state, &email, ip, now).await?;

    let (max_age, notice_days): (i64, i64) =
        sqlx::query_as("SELECT max_password_age_days, expiry_notice_days FROM org WHERE id = 1")
            .fetch_optional(&state.store.pool)
            .await?
            .unwrap_or((0, 0));
    let day = 86_400_000;
    let expires_in = (max_age > 0).then(|| (changed_at + max_age * day - now).div_euclid(day));
    let expired = expires_in.is_some_and(|d| d < 0);
    let restricted = must_change || expired;
    let token = random_token();
    let expires_at = now + state.config.token_ttl_s * 1000;
    let mut tx = state.store.write().await?;
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, user_id, restricted, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(sha256_hex(&token))
    .bind(id)
    .bind(restricted)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM auth_tokens WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &actor,
        "login.ok",
        &format!("user:{id}"),
        json!({"address": ip.0.to_string(), "restricted": restricted}),
        now,
    )
    .await?;
    notify::queue(&mut tx, Notice::LoginSucceeded, &email, now).await?;
    tx.commit().await?;
    Ok(Json(LoginResponse {
        token: Secret::new(token),
        expires_at,
        user_id: id,
        role,
        must_change_password: restricted,
        password_expires_in_days: expires_in,
        password_expiry_notice: notice_days > 0 && expires_in.is_some_and(|d| d <= notice_days),
    }))
}

/// Ends the caller's token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, who: AnyCaller) -> ApiResult<StatusCode> {
    sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
        .bind(&who.caller.token_hash)
        .execute(&state.store.pool)
        .await?;
    // Consoles opened with that token end.
    state
        .revocations
        .revoke(crate::revoke::Revoked::User(who.caller.id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(who: AnyCaller) -> Json<Me> {
    Json(Me {
        id: who.caller.id,
        role: who.caller.role,
        email: who.caller.email,
        tech_group_id: who.caller.tech_group_id,
        must_change_password: who.restricted,
    })
}

/// Re-authentication: the account's current password, which a stolen token
/// does not give. Missing answers 403 `current_password_required`, wrong 401
/// `invalid_credentials`.
pub(crate) async fn verify_current(
    state: &AppState,
    user: i64,
    given: Option<&str>,
) -> ApiResult<()> {
    let Some(given) = given else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "current_password_required",
            "changing your own password or e-mail needs current_password",
        ));
    };
    let phc: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&state.store.pool)
        .await?;
    let given = given.to_owned();
    let ok = tokio::task::spawn_blocking(move || password::verify(&given, &phc))
        .await
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "current password is wrong",
        ))
    }
}

/// The level required for an account.
pub(crate) async fn required_level(state: &AppState, user_min: i64) -> ApiResult<Strength> {
    let org: Option<i64> = sqlx::query_scalar("SELECT min_password_level FROM org WHERE id = 1")
        .fetch_optional(&state.store.pool)
        .await?;
    Ok(Strength::from_i64(org.unwrap_or(1).max(user_min)))
}

/// Changes the caller's password; every token of the account ends and a
/// fresh one is returned.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    who: AnyCaller,
    Json(req): Json<PasswordChange>,
) -> ApiResult<Json<LoginResponse>> {
    if who.caller.api_key.is_some() {
        return Err(ApiError::forbidden("an API key cannot change a password"));
    }
    let id = who.caller.id;
    verify_current(&state, id, Some(req.current_password.expose())).await?;
    let user_min: i64 = sqlx::query_scalar("SELECT min_password_level FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&state.store.pool)
        .await?;
    if req.new_password == req.current_password {
        return Err(ApiError::unprocessable(
            "the new password must differ from the current one",
        ));
    }
    password::check(
        req.new_password.expose(),
        required_level(&state, user_min).await?,
    )?;
    let new = req.new_password.expose().to_owned();
    let phc = tokio::task::spawn_blocking(move || password::hash(&new))
        .await
        .map_err(|e| ApiError::internal("hash task", e))??;
    let now = now_ms();
    let token = random_token();
    let expires_at = now + state.config.token_ttl_s * 1000;
    let mut tx = state.store.write().await?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, \
                 must_change_password = FALSE WHERE id = $3",
    )
    .bind(&phc)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, user_id, restricted, expires_at, created_at) \
                 VALUES ($1, $2, FALSE, $3, $4)",
    )
    .bind(sha256_hex(&token))
    .bind(id)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &who.caller.actor(),
        "password.change",
        &format!("user:{id}"),
        json!({}),
        now,
    )
    .await?;
    notify::queue(&mut tx, Notice::PasswordChanged, &who.caller.email, now).await?;
    tx.commit().await?;
    // Every other token ended: so do consoles opened with them.
    state
        .revocations
        .revoke(crate::revoke::Revoked::User(id))
        .await;
    Ok(Json(LoginResponse {
        token: Secret::new(token),
        expires_at,
        user_id: id,
        role: who.caller.role,
        must_change_password: false,
        password_expires_in_days: None,
        password_expiry_notice: false,
    }))
}
