//! Staff authentication: bearer tokens (random, stored as SHA-256, expiring)
//! read by the [`Caller`] extractor, which also applies account status,
//! group status and the group's IP restriction (POL-5) on every request.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::ipfilter::{self, IpMode};
use crate::model::Role;
use crate::state::{AppState, ClientIp};
use crate::store::{Flag, now_ms, sha256_hex};

/// An authenticated staff member whose password is in order.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Account id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Login e-mail.
    pub email: String,
    /// Technician group, for technicians.
    pub tech_group_id: Option<i64>,
    /// Hash of the token used (for logout).
    pub token_hash: String,
    /// The API key the request came with (INTEG-3), instead of a login token.
    pub api_key: Option<i64>,
}

impl Caller {
    /// For the audit log.
    pub fn actor(&self) -> crate::store::audit::Actor {
        crate::store::audit::Actor {
            id: Some(self.id),
            label: self.email.clone(),
        }
    }
    /// Refuses unless the caller is a master administrator.
    pub fn require_master(&self) -> Result<(), ApiError> {
        if self.role == Role::Master {
            Ok(())
        } else {
            Err(ApiError::forbidden("master administrators only"))
        }
    }
    /// Refuses technicians.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Technician {
            Err(ApiError::forbidden("administrators only"))
        } else {
            Ok(())
        }
    }
}

/// Like [`Caller`], but also accepts a token that may only change its
/// password (POL-4 forced change, POL-2 expired password).
#[derive(Debug, Clone)]
pub struct AnyCaller {
    /// The caller.
    pub caller: Caller,
    /// The token only allows a password change.
    pub restricted: bool,
}

/// The bearer token of a request (header, or `token` query parameter for
/// WebSocket upgrades, which browsers cannot give headers).
pub fn bearer(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        return h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
    }
    None
}

type TokenRow = (i64, String, String, Option<i64>, Flag, i64, Flag);

/// Resolves a token to its caller, applying every access rule.
pub async fn resolve(state: &AppState, token: &str, ip: ClientIp) -> Result<AnyCaller, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::unauthenticated());
    }
    let hash = sha256_hex(token);
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT u.id, u.role, u.email, u.tech_group_id, t.restricted, t.expires_at, u.enabled \
         FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&state.store.pool)
    .await?;
    let Some((id, role, email, tech_group_id, Flag(restricted), expires_at, Flag(enabled))) = row
    else {
        return Err(ApiError::unauthenticated());
    };
    if expires_at <= now_ms() {
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
        check_group_access(state, tech_group_id, ip).await?;
    }
    Ok(AnyCaller {
        caller: Caller {
            id,
            role,
            email,
            tech_group_id,
            token_hash: hash,
            api_key: None,
        },
        restricted,
    })
}

/// A technician's group must exist, be enabled, and let this address in.
pub async fn check_group_access(
    state: &AppState,
    group: Option<i64>,
    ip: ClientIp,
) -> Result<(), ApiError> {
    let Some(group) = group else {
        return Err(ApiError::forbidden("technician without a group"));
    };
    let row: Option<(Flag, String, String)> =
        sqlx::query_as("SELECT enabled, ip_mode, ip_ranges FROM tech_groups WHERE id = $1")
            .bind(group)
            .fetch_optional(&state.store.pool)
            .await?;
    let Some((Flag(enabled), mode, ranges)) = row else {
        return Err(ApiError::forbidden("technician group missing"));
    };
    if !enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "group_disabled",
            "this technician group is disabled",
        ));
    }
    if !ipfilter::allows(IpMode::parse(&mode), &ipfilter::split(&ranges), ip.0) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ip_restricted",
            "console access from this address is not allowed for this group",
        ));
    }
    Ok(())
}

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        let ip = ClientIp::from_request_parts(parts, state).await?;
        // API keys are bearers of the REST API only (not page cookies, not sockets).
        if token.starts_with(crate::api::keys::KEY_PREFIX) {
            return crate::api::keys::resolve(state, &token, ip, parts).await;
        }
        resolve(state, &token, ip).await
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let any = AnyCaller::from_request_parts(parts, state).await?;
        if any.restricted {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "change your password first (POST /api/v1/me/password)",
            ));
        }
        Ok(any.caller)
    }
}
