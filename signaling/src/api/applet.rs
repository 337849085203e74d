//! Applet settings (APPLET-1..6) of a technician group or a channel, in the
//! caller's scope like the group or channel itself. The applet receives the
//! settings of its session in its `hello` ([`for_session`]).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::json;

use crate::api::channels::visible_channel;
use crate::api::groups::visible_group;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::scope;
use crate::state::AppState;
use crate::store::audit;
use crate::store::{check_text, now_ms};
pub use secours_protocol::signaling::{
    AppletLook, AppletSettings, InputPriority, MAX_LOOK_TEXT, MAX_TERMS, RunMode,
};

fn parse(stored: &str) -> AppletSettings {
    // Empty (never set) or unreadable: the defaults.
    serde_json::from_str(stored).unwrap_or_default()
}

fn check(s: &AppletSettings) -> ApiResult<()> {
    check_text("title", &s.look.title, MAX_LOOK_TEXT)?;
    check_text("welcome", &s.look.welcome, MAX_LOOK_TEXT)?;
    check_text("terms", &s.terms, MAX_TERMS)?;
    let c = &s.look.colour;
    let hex = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !c.is_empty() && !hex {
        return Err(ApiError::invalid("colour is #rrggbb"));
    }
    Ok(())
}

/// Stored settings of a group.
pub async fn of_group(state: &AppState, id: i64) -> ApiResult<AppletSettings> {
    let v: Option<String> = sqlx::query_scalar("SELECT applet FROM tech_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
    Ok(v.as_deref().map(parse).unwrap_or_default())
}

/// Stored settings of a channel.
pub async fn of_channel(state: &AppState, id: i64) -> ApiResult<AppletSettings> {
    let v: Option<String> = sqlx::query_scalar("SELECT applet FROM channels WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
    Ok(v.as_deref().map(parse).unwrap_or_default())
}

/// The settings a session's applet obeys: its channel's, else its
/// technician's group's (or the group it was transferred to).
pub async fn for_session(state: &AppState, session_id: &str) -> ApiResult<AppletSettings> {
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT s.channel_id, s.group_id, u.tech_group_id FROM support_sessions s \
         LEFT JOIN users u ON u.id = s.tech_id WHERE s.id = $1",
    )
    .bind(session_id)
    .fetch_optional(&state.store.pool)
    .await?;
    match row {
        Some((Some(c), _, _)) => of_channel(state, c).await,
        Some((None, Some(g), _) | (None, None, Some(g))) => of_group(state, g).await,
        _ => Ok(AppletSettings::default()),
    }
}

/// The applet settings of a technician group.
#[utoipa::path(get, path = "/api/v1/tech-groups/{id}/applet", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")),
    responses((status = 200, body = AppletSettings), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<AppletSettings>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    visible_group(&state, &scope, id).await?;
    Ok(Json(of_group(&state, id).await?))
}

/// Sets the applet settings of a technician group.
#[utoipa::path(put, path = "/api/v1/tech-groups/{id}/applet", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")), request_body = AppletSettings,
    responses((status = 200, body = AppletSettings), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(s): Json<AppletSettings>,
) -> ApiResult<Json<AppletSettings>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    visible_group(&state, &scope, id).await?;
    save(&state, &caller, "tech_groups", "tech_group", id, &s).await?;
    Ok(Json(s))
}

/// The applet settings of a channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}/applet", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")),
    responses((status = 200, body = AppletSettings), (status = 404, body = ErrorBody)))]
pub async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<AppletSettings>> {
    visible_channel(&state, &caller, id).await?;
    Ok(Json(of_channel(&state, id).await?))
}

/// Sets the applet settings of a channel.
#[utoipa::path(put, path = "/api/v1/channels/{id}/applet", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")), request_body = AppletSettings,
    responses((status = 200, body = AppletSettings), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(s): Json<AppletSettings>,
) -> ApiResult<Json<AppletSettings>> {
    visible_channel(&state, &caller, id).await?;
    save(&state, &caller, "channels", "channel", id, &s).await?;
    Ok(Json(s))
}

async fn save(
    state: &AppState,
    caller: &Caller,
    table: &'static str,
    kind: &str,
    id: i64,
    s: &AppletSettings,
) -> ApiResult<()> {
    check(s)?;
    let text = serde_json::to_string(s).map_err(|e| ApiError::internal("applet settings", e))?;
    let sql = match table {
        "channels" => "UPDATE channels SET applet = $1 WHERE id = $2",
        _ => "UPDATE tech_groups SET applet = $1 WHERE id = $2",
    };
    let mut tx = state.store.write().await?;
    sqlx::query(sql)
        .bind(&text)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        &format!("{kind}.applet"),
        &format!("{kind}:{id}"),
        json!(s),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
