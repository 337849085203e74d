//! Routes of session routing (SESS-3..6), technician status (SESS-9),
//! custom fields (FIELD-1, FIELD-2, PERM-20) and console texts
//! (CONSOLE-16). Settings are in the caller's scope like the channel or
//! group they belong to.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::api::channels::visible_channel;
use crate::api::groups::{ApplyQuery, ApplyTo, visible_group};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::model::Role;
use crate::routing::presence::{self, Status, TechStatus};
use crate::routing::{ChannelRouting, ConsoleTexts, GroupRouting};
use crate::scope;
use crate::sessions::{self, SessionView};
use crate::state::AppState;
use crate::store::{audit, now_ms};

/// A channel's routing and custom fields.
#[utoipa::path(get, path = "/api/v1/channels/{id}/routing", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")),
    responses((status = 200, body = ChannelRouting), (status = 404, body = ErrorBody)))]
pub async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<ChannelRouting>> {
    visible_channel(&state, &caller, id).await?;
    Ok(Json(crate::routing::of_channel(&state, id).await?))
}

/// Sets a channel's routing and custom fields; the auto-transfer target
/// must be a group of the caller's scope.
#[utoipa::path(put, path = "/api/v1/channels/{id}/routing", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")), request_body = ChannelRouting,
    responses((status = 200, body = ChannelRouting), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(r): Json<ChannelRouting>,
) -> ApiResult<Json<ChannelRouting>> {
    let (scope, _) = visible_channel(&state, &caller, id).await?;
    r.check()?;
    if let Some(t) = &r.auto_transfer {
        visible_group(&state, &scope, t.group_id).await?;
    }
    let text = serde_json::to_string(&r).map_err(|e| ApiError::internal("routing", e))?;
    let mut tx = state.store.write().await?;
    sqlx::query("UPDATE channels SET routing = $1 WHERE id = $2")
        .bind(&text)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "channel.routing",
        &format!("channel:{id}"),
        json!({"routing": r}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(r))
}

/// A technician group's status rules, private-session routing, custom
/// fields and console texts.
#[utoipa::path(get, path = "/api/v1/tech-groups/{id}/routing", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")),
    responses((status = 200, body = GroupRouting), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<GroupRouting>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    visible_group(&state, &scope, id).await?;
    Ok(Json(crate::routing::of_group(&state, id).await?))
}

/// Sets them for the group, its sub-groups too, or every group in the
/// caller's scope (ORG-7).
#[utoipa::path(put, path = "/api/v1/tech-groups/{id}/routing", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id"), ApplyQuery), request_body = GroupRouting,
    responses((status = 200, body = GroupRouting), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ApplyQuery>,
    Json(r): Json<GroupRouting>,
) -> ApiResult<Json<GroupRouting>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    visible_group(&state, &scope, id).await?;
    r.check()?;
    let tree = scope::GroupTree::load(&state.store.pool).await?;
    let mut ids: Vec<i64> = match q.apply.unwrap_or_default() {
        ApplyTo::Node => vec![id],
        ApplyTo::Subgroups => tree.subtree(id).into_iter().collect(),
        ApplyTo::All => {
            sqlx::query_scalar("SELECT id FROM tech_groups")
                .fetch_all(&state.store.pool)
                .await?
        }
    };
    ids.retain(|g| scope.has(*g));
    ids.sort_unstable();
    let text = serde_json::to_string(&r).map_err(|e| ApiError::internal("routing", e))?;
    let mut tx = state.store.write().await?;
    for g in &ids {
        sqlx::query("UPDATE tech_groups SET routing = $1 WHERE id = $2")
            .bind(&text)
            .bind(g)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "tech_group.routing",
        &format!("tech_groups:{ids:?}"),
        json!({"ids": ids, "routing": r}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    state.private_rules.set_some(&ids, &r);
    Ok(Json(r))
}

/// A technician's status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// What the technician says of itself.
    pub status: Status,
}

fn technician(caller: &Caller) -> ApiResult<i64> {
    match (caller.role, caller.tech_group_id) {
        (Role::Technician, Some(g)) => Ok(g),
        _ => Err(ApiError::forbidden("technicians only")),
    }
}

/// Sets the caller's status (SESS-9): available, busy or away.
#[utoipa::path(put, path = "/api/v1/me/status", tag = "auth", security(("bearer" = [])),
    request_body = StatusChange,
    responses((status = 200, body = StatusChange), (status = 403, body = ErrorBody)))]
pub async fn put_status(
    State(state): State<AppState>,
    caller: Caller,
    Json(s): Json<StatusChange>,
) -> ApiResult<Json<StatusChange>> {
    technician(&caller)?;
    presence::set_status(&state, caller.id, s.status).await?;
    Ok(Json(s))
}

/// What a technician's console shows (SESS-9, FIELD-2, CONSOLE-16).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleInfo {
    /// The technician's status.
    pub status: Status,
    /// Its group's maximum of auto-assigned sessions; 0: no limit.
    pub max_sessions: i64,
    /// Custom fields its "create session" dialog asks for private sessions.
    pub fields: Vec<String>,
    /// Its group's texts.
    pub texts: ConsoleTexts,
}

/// The caller's console settings.
#[utoipa::path(get, path = "/api/v1/me/console", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = ConsoleInfo), (status = 403, body = ErrorBody)))]
pub async fn console(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ConsoleInfo>> {
    let group = technician(&caller)?;
    let r = crate::routing::of_group(&state, group).await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM users WHERE id = $1")
        .bind(caller.id)
        .fetch_optional(&state.store.pool)
        .await?;
    Ok(Json(ConsoleInfo {
        status: Status::parse(status.as_deref().unwrap_or_default()),
        max_sessions: r.max_sessions,
        fields: r.fields,
        texts: r.console,
    }))
}

/// Technicians of the caller's groups, live (SESS-9).
#[utoipa::path(get, path = "/api/v1/technicians/status", tag = "org", security(("bearer" = [])),
    responses((status = 200, body = Vec<TechStatus>), (status = 403, body = ErrorBody)))]
pub async fn statuses(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TechStatus>>> {
    caller.require_admin()?;
    let scope = scope::of(&state.store.pool, &caller).await?;
    Ok(Json(presence::list(&state, &scope).await?))
}

/// Custom field values; an empty value removes the field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldsChange {
    /// Name to value (at most 10).
    pub fields: BTreeMap<String, String>,
}

/// Edits a session's custom fields: its technician while creating it, then
/// where its group grants PERM-20; administrators covering it.
#[utoipa::path(patch, path = "/api/v1/sessions/{id}/fields", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = FieldsChange,
    responses((status = 200, body = SessionView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn patch_fields(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<FieldsChange>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found("session"));
    }
    if req.fields.len() > 10 {
        return Err(ApiError::unprocessable("at most 10 fields"));
    }
    Ok((
        StatusCode::OK,
        Json(sessions::edit_fields(&state, &caller, &id, &req.fields).await?),
    ))
}
