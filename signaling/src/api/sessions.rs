//! Staff routes over support sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::model::{Perm, Role};
use crate::scope::{self, Decision, GrantedSet};
use crate::sessions::{self, PrivateSession, SessionView, TransferTarget};
use crate::state::AppState;

fn check_id(id: &str) -> ApiResult<()> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::not_found("session"))
    }
}

/// Opens a private session with a PIN code and a link (SESS-1, PERM-11).
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 201, body = PrivateSession), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<PrivateSession>)> {
    Ok((
        StatusCode::CREATED,
        Json(sessions::create_private(&state, &caller).await?),
    ))
}

/// Live sessions: a technician's queue, or every live session of an
/// administrator's groups (SESS-8).
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SessionView>>> {
    Ok(Json(match caller.role {
        Role::Technician => {
            let g = caller
                .tech_group_id
                .ok_or_else(|| ApiError::forbidden("no group"))?;
            sessions::queue(&state, caller.id, g).await?
        }
        _ => sessions::live_for_admin(&state, &caller).await?,
    }))
}

/// One session the caller may see.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    check_id(&id)?;
    let visible = list(State(state), caller).await?.0;
    visible
        .into_iter()
        .find(|s| s.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("session"))
}

/// Picks a waiting session up.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/pickup", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn pickup(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    check_id(&id)?;
    Ok(Json(sessions::pickup(&state, &caller, &id).await?))
}

/// Puts a session on hold.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/hold", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    check_id(&id)?;
    Ok(Json(sessions::hold(&state, &caller, &id, true).await?))
}

/// Resumes a session on hold.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/resume", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    check_id(&id)?;
    Ok(Json(sessions::hold(&state, &caller, &id, false).await?))
}

/// Transfers a session to a technician or a group (PERM-13, SESS-8).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/transfer", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = TransferTarget,
    responses((status = 200, body = SessionView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(to): Json<TransferTarget>,
) -> ApiResult<Json<SessionView>> {
    check_id(&id)?;
    Ok(Json(sessions::transfer(&state, &caller, &id, &to).await?))
}

/// Closes a session.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/close", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    check_id(&id)?;
    Ok(Json(sessions::close_by_staff(&state, &caller, &id).await?))
}

/// The permission set the caller holds in a session (the applet receives the same).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/permissions", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = GrantedSet), (status = 404, body = ErrorBody)))]
pub async fn permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GrantedSet>> {
    check_id(&id)?;
    let s = sessions::load(&state.store.pool, &id).await?;
    if s.tech_id != Some(caller.id) || !matches!(s.state.as_str(), "active" | "on_hold") {
        return Err(ApiError::not_found("session"));
    }
    Ok(Json(
        scope::granted_for(&state.store.pool, caller.id).await?,
    ))
}

/// The action asked about.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MayRequest {
    /// The permission.
    pub action: Perm,
}

/// May the caller do this action in this session now?
#[utoipa::path(post, path = "/api/v1/sessions/{id}/may", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = MayRequest,
    responses((status = 200, body = Decision), (status = 404, body = ErrorBody)))]
pub async fn may(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<MayRequest>,
) -> ApiResult<Json<Decision>> {
    check_id(&id)?;
    if caller.role != Role::Technician {
        return Err(ApiError::forbidden("technicians only"));
    }
    let d = scope::may(&state.store.pool, caller.id, req.action, &id).await?;
    // Another technician's session answers like one that does not exist.
    if d.reason == "not_your_session" {
        return Err(ApiError::not_found("session"));
    }
    Ok(Json(d))
}
