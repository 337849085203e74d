//! Organisation settings (POL-1..3), the org chart tree (ORG-1), the audit
//! log and the notification outbox.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::api::channels::{Channel, visible_channels};
use crate::api::groups::{AdminGroup, TechGroup};
use crate::api::users::User;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::notify::{self, Notice, OutboxEntry};
use crate::password::Strength;
use crate::state::AppState;
use crate::store::audit::{self, AuditEntry, ChainReport};
use crate::store::{check_text, now_ms};

/// Organisation-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgSettings {
    /// Organisation name.
    pub name: String,
    /// POL-1 minimum password level for everyone.
    pub min_password_level: Strength,
    /// POL-2 maximum password age in days (0: no limit).
    pub max_password_age_days: i64,
    /// POL-3 notice before expiry in days (0: none).
    pub expiry_notice_days: i64,
    /// SEC-9 notifications sent to master administrators (the others are
    /// switched off).
    pub notifications: Vec<Notice>,
}

async fn load_settings(state: &AppState) -> ApiResult<OrgSettings> {
    let (name, level, age, notice, off): (String, i64, i64, i64, String) = sqlx::query_as(
        "SELECT name, min_password_level, max_password_age_days, expiry_notice_days, \
         notifications_off FROM org WHERE id = 1",
    )
    .fetch_one(&state.store.pool)
    .await?;
    Ok(OrgSettings {
        name,
        min_password_level: Strength::from_i64(level),
        max_password_age_days: age,
        expiry_notice_days: notice,
        notifications: Notice::enabled(&off),
    })
}

/// Organisation settings (masters).
#[utoipa::path(get, path = "/api/v1/org/settings", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = OrgSettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<OrgSettings>> {
    caller.require_master()?;
    Ok(Json(load_settings(&state).await?))
}

/// Changes to organisation settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    /// Name.
    #[schema(max_length = 200, pattern = "{text}")]
    pub name: Option<String>,
    /// POL-1.
    pub min_password_level: Option<Strength>,
    /// POL-2.
    #[schema(minimum = 0, maximum = 3650)]
    pub max_password_age_days: Option<i64>,
    /// POL-3.
    #[schema(minimum = 0, maximum = 3650)]
    pub expiry_notice_days: Option<i64>,
    /// SEC-9: the notifications to send (the others are switched off).
    pub notifications: Option<Vec<Notice>>,
}

/// Changes organisation settings (masters).
#[utoipa::path(patch, path = "/api/v1/org/settings", tag = "org", security(("bearer" = [])),
    request_body = OrgPatch,
    responses((status = 200, body = OrgSettings), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn patch_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(p): Json<OrgPatch>,
) -> ApiResult<Json<OrgSettings>> {
    caller.require_master()?;
    let mut s = load_settings(&state).await?;
    if let Some(v) = p.name {
        s.name = v;
    }
    if let Some(v) = p.min_password_level {
        s.min_password_level = v;
    }
    if let Some(v) = p.max_password_age_days {
        s.max_password_age_days = v;
    }
    if let Some(v) = p.expiry_notice_days {
        s.expiry_notice_days = v;
    }
    if let Some(v) = p.notifications {
        s.notifications = v;
    }
    check_text("name", &s.name, 200)?;
    if !(0..=3650).contains(&s.max_password_age_days) || !(0..=3650).contains(&s.expiry_notice_days)
    {
        return Err(ApiError::invalid("day counts are between 0 and 3650"));
    }
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query(
        "UPDATE org SET name = $1, min_password_level = $2, max_password_age_days = $3, \
                 expiry_notice_days = $4, notifications_off = $5 WHERE id = 1",
    )
    .bind(&s.name)
    .bind(s.min_password_level.as_i64())
    .bind(s.max_password_age_days)
    .bind(s.expiry_notice_days)
    .bind(Notice::off_list(&s.notifications))
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "org.settings",
        "org",
        json!(s),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

/// The org chart as the caller may see it (ORG-1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrgTree {
    /// Accounts (masters and administrators only for masters).
    pub users: Vec<User>,
    /// Administrator groups (masters).
    pub admin_groups: Vec<AdminGroup>,
    /// Technician groups in scope.
    pub tech_groups: Vec<TechGroup>,
    /// Channels of those groups (all for masters).
    pub channels: Vec<Channel>,
}

/// The org chart.
#[utoipa::path(get, path = "/api/v1/org/tree", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = OrgTree), (status = 403, body = ErrorBody)))]
pub async fn tree(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<OrgTree>> {
    let users = crate::api::users::list_users(State(state.clone()), caller.clone())
        .await?
        .0;
    let tech_groups = crate::api::groups::list_groups(State(state.clone()), caller.clone())
        .await?
        .0;
    let admin_groups = if caller.require_master().is_ok() {
        crate::api::groups::list_admin_groups(State(state.clone()), caller.clone())
            .await?
            .0
    } else {
        Vec::new()
    };
    let channels = visible_channels(&state, &caller).await?;
    Ok(Json(OrgTree {
        users,
        admin_groups,
        tech_groups,
        channels,
    }))
}

/// Paging through the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries after this id.
    pub after: Option<i64>,
    /// At most this many (1..1000, default 100).
    pub limit: Option<i64>,
}

/// Audit entries (masters).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody)))]
pub async fn audit_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    caller.require_master()?;
    Ok(Json(
        audit::list(
            &state.store.pool,
            q.after.unwrap_or(0),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// Checking the chain against an anchor.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// A head printed earlier (`ID:HASH`), kept outside the database.
    #[param(pattern = "^[0-9]{1,18}:[0-9a-fA-F]{64}$")]
    pub anchor: Option<String>,
}

/// Verifies the audit chain (masters), against an anchor when given.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    params(VerifyQuery),
    responses((status = 200, body = ChainReport), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<Json<ChainReport>> {
    caller.require_master()?;
    let anchor = match q.anchor.as_deref() {
        Some(a) => Some(
            a.parse::<audit::Anchor>()
                .map_err(|e| ApiError::invalid(e.to_string()))?,
        ),
        None => None,
    };
    Ok(Json(
        audit::verify_anchored(&state.store.pool, anchor.as_ref()).await?,
    ))
}

/// Account notifications (SEC-9), newest first (masters).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Vec<OutboxEntry>), (status = 403, body = ErrorBody)))]
pub async fn outbox(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<OutboxEntry>>> {
    caller.require_master()?;
    Ok(Json(notify::list(&state.store.pool, 200).await?))
}
