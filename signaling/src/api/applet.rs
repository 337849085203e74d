//! Applet settings (APPLET-1..6) of a technician group or a channel, in the
//! caller's scope like the group or channel itself. The applet receives the
//! settings of its session in its `hello` ([`for_session`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::json;

use crate::api::channels::{visible_channel, visible_channels};
use crate::api::groups::{ApplyQuery, ApplyTo, visible_group};
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

/// Sets the applet settings of a technician group, its sub-groups too, or
/// every group in the caller's scope (ORG-7).
#[utoipa::path(put, path = "/api/v1/tech-groups/{id}/applet", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id"), ApplyQuery), request_body = AppletSettings,
    responses((status = 200, body = AppletSettings), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ApplyQuery>,
    Json(s): Json<AppletSettings>,
) -> ApiResult<Json<AppletSettings>> {
    let scope = scope::of(&state.store.pool, &caller).await?;
    visible_group(&state, &scope, id).await?;
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
    save(&state, &caller, Table::Groups, &ids, &s).await?;
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

/// Sets the applet settings of a channel, or of every channel the caller
/// configures (ORG-7; `subgroups` is the channel alone).
#[utoipa::path(put, path = "/api/v1/channels/{id}/applet", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10"), ApplyQuery), request_body = AppletSettings,
    responses((status = 200, body = AppletSettings), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ApplyQuery>,
    Json(s): Json<AppletSettings>,
) -> ApiResult<Json<AppletSettings>> {
    visible_channel(&state, &caller, id).await?;
    let ids = match q.apply.unwrap_or_default() {
        ApplyTo::All => visible_channels(&state, &caller)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
        _ => vec![id],
    };
    save(&state, &caller, Table::Channels, &ids, &s).await?;
    Ok(Json(s))
}

/// Where settings are stored.
#[derive(Debug, Clone, Copy)]
enum Table {
    Groups,
    Channels,
}

async fn save(
    state: &AppState,
    caller: &Caller,
    table: Table,
    ids: &[i64],
    s: &AppletSettings,
) -> ApiResult<()> {
    check(s)?;
    let text = serde_json::to_string(s).map_err(|e| ApiError::internal("applet settings", e))?;
    let (sql, kind) = match table {
        Table::Channels => ("UPDATE channels SET applet = $1 WHERE id = $2", "channel"),
        Table::Groups => (
            "UPDATE tech_groups SET applet = $1 WHERE id = $2",
            "tech_group",
        ),
    };
    let mut tx = state.store.write().await?;
    for id in ids {
        sqlx::query(sql)
            .bind(&text)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        &format!("{kind}.applet"),
        &format!("{kind}s:{ids:?}"),
        json!({"ids": ids, "settings": s}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
