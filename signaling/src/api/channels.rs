//! Channels (CHAN-1..5): ten per organisation, renamed not created,
//! assigned to technician groups, with per-technician exclusions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::scope::{self, GroupTree, Scope};
use crate::sessions::{self, SessionView};
use crate::state::AppState;
use crate::store::audit;
use crate::store::{check_text, now_ms};

/// A channel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    /// 1..10.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The customer link (CHAN-4).
    pub link_url: String,
    /// The code in the link.
    pub link_code: String,
    /// Technician groups whose technicians see its sessions.
    pub group_ids: Vec<i64>,
    /// Technicians removed from it (CHAN-3).
    pub excluded_user_ids: Vec<i64>,
}

async fn load_all(state: &AppState) -> ApiResult<Vec<Channel>> {
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, name, description, link_code FROM channels ORDER BY id")
            .fetch_all(&state.store.pool)
            .await?;
    let groups: Vec<(i64, i64)> =
        sqlx::query_as("SELECT channel_id, group_id FROM channel_groups ORDER BY group_id")
            .fetch_all(&state.store.pool)
            .await?;
    let excl: Vec<(i64, i64)> =
        sqlx::query_as("SELECT channel_id, user_id FROM channel_exclusions ORDER BY user_id")
            .fetch_all(&state.store.pool)
            .await?;
    let base = state.config.public_url.trim_end_matches('/');
    Ok(rows
        .into_iter()
        .map(|(id, name, description, code)| Channel {
            id,
            name,
            description,
            link_url: format!("{base}/join/{code}"),
            link_code: code,
            group_ids: groups.iter().filter(|g| g.0 == id).map(|g| g.1).collect(),
            excluded_user_ids: excl.iter().filter(|e| e.0 == id).map(|e| e.1).collect(),
        })
        .collect())
}

fn in_scope(scope: &Scope, c: &Channel) -> bool {
    match scope {
        Scope::All => true,
        Scope::Groups(_) => c.group_ids.iter().any(|g| scope.has(*g)),
    }
}

/// Channels an administrator configures: those of its groups (all for masters).
pub async fn visible_channels(state: &AppState, caller: &Caller) -> ApiResult<Vec<Channel>> {
    let scope = scope::of(&state.store.pool, caller).await?;
    Ok(load_all(state)
        .await?
        .into_iter()
        .filter(|c| in_scope(&scope, c))
        .collect())
}

pub(crate) async fn visible_channel(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<(Scope, Channel)> {
    let scope = scope::of(&state.store.pool, caller).await?;
    load_all(state)
        .await?
        .into_iter()
        .find(|c| c.id == id && in_scope(&scope, c))
        .map(|c| (scope, c))
        .ok_or_else(|| ApiError::not_found("channel"))
}

/// Channels the caller configures.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = Vec<Channel>), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(visible_channels(&state, &caller).await?))
}

/// Renaming (CHAN-1).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// Name.
    #[schema(max_length = 100, pattern = "{name}")]
    pub name: Option<String>,
    /// Description.
    #[schema(max_length = 2000, pattern = "{text}")]
    pub description: Option<String>,
}

/// Renames a channel.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")), request_body = ChannelPatch,
    responses((status = 200, body = Channel), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(p): Json<ChannelPatch>,
) -> ApiResult<Json<Channel>> {
    let (_, mut c) = visible_channel(&state, &caller, id).await?;
    if let Some(v) = p.name {
        c.name = v;
    }
    if let Some(v) = p.description {
        c.description = v;
    }
    check_text("name", &c.name, 100)?;
    if c.name.trim().is_empty() {
        return Err(ApiError::invalid("name is empty"));
    }
    check_text("description", &c.description, 2000)?;
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query("UPDATE channels SET name = $1, description = $2 WHERE id = $3")
        .bind(&c.name)
        .bind(&c.description)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "channel.update",
        &format!("channel:{id}"),
        json!({"name": c.name}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(c))
}

/// Most ids in one [`Ids`] list.
pub const MAX_IDS: usize = 10_000;

/// A list of ids.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ids {
    /// The ids.
    #[schema(max_items = 10_000)]
    pub ids: Vec<i64>,
}

/// Sets the technician groups of a channel (CHAN-2). An administrator only
/// reaches channels that already have one of its groups (a master assigns
/// the others), and only adds or removes groups of its scope; others stay.
#[utoipa::path(put, path = "/api/v1/channels/{id}/groups", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")), request_body = Ids,
    responses((status = 200, body = Channel), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_groups(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<Ids>,
) -> ApiResult<Json<Channel>> {
    // Only a channel already of the caller's groups: attaching a foreign
    // channel to an own group would open that channel's sessions to it.
    let (scope, mut c) = visible_channel(&state, &caller, id).await?;
    if req.ids.len() > MAX_IDS {
        return Err(ApiError::invalid("too many groups"));
    }
    let tree = GroupTree::load(&state.store.pool).await?;
    for g in &req.ids {
        if !tree.contains(*g) || !scope.has(*g) {
            return Err(ApiError::not_found("technician group"));
        }
    }
    let mut ids: Vec<i64> = c
        .group_ids
        .iter()
        .copied()
        .filter(|g| !scope.has(*g))
        .collect();
    ids.extend(&req.ids);
    ids.sort_unstable();
    ids.dedup();
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query("DELETE FROM channel_groups WHERE channel_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for g in &ids {
        sqlx::query("INSERT INTO channel_groups (channel_id, group_id) VALUES ($1, $2)")
            .bind(id)
            .bind(g)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "channel.groups",
        &format!("channel:{id}"),
        json!({"group_ids": ids}),
        now,
    )
    .await?;
    tx.commit().await?;
    c.group_ids = ids;
    Ok(Json(c))
}

/// Sets the technicians removed from a channel (CHAN-3).
#[utoipa::path(put, path = "/api/v1/channels/{id}/exclusions", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")), request_body = Ids,
    responses((status = 200, body = Channel), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_exclusions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<Ids>,
) -> ApiResult<Json<Channel>> {
    let (scope, mut c) = visible_channel(&state, &caller, id).await?;
    if req.ids.len() > MAX_IDS {
        return Err(ApiError::invalid("too many technicians"));
    }
    for u in &req.ids {
        let g: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT tech_group_id FROM users WHERE id = $1 AND role = 'technician'",
        )
        .bind(u)
        .fetch_optional(&state.store.pool)
        .await?;
        match g {
            Some(Some(g)) if scope.has(g) => {}
            _ => return Err(ApiError::not_found("technician")),
        }
    }
    // Keep exclusions of technicians outside the caller's scope.
    let mut keep = Vec::new();
    for u in &c.excluded_user_ids {
        let g: Option<Option<i64>> =
            sqlx::query_scalar("SELECT tech_group_id FROM users WHERE id = $1")
                .bind(u)
                .fetch_optional(&state.store.pool)
                .await?;
        if !g.flatten().is_some_and(|g| scope.has(g)) {
            keep.push(*u);
        }
    }
    keep.extend(&req.ids);
    keep.sort_unstable();
    keep.dedup();
    let now = now_ms();
    let mut tx = state.store.write().await?;
    sqlx::query("DELETE FROM channel_exclusions WHERE channel_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for u in &keep {
        sqlx::query("INSERT INTO channel_exclusions (channel_id, user_id) VALUES ($1, $2)")
            .bind(id)
            .bind(u)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "channel.exclusions",
        &format!("channel:{id}"),
        json!({"user_ids": keep}),
        now,
    )
    .await?;
    tx.commit().await?;
    c.excluded_user_ids = keep;
    state
        .bus
        .announce(crate::events::Event::QueueChanged {
            session_id: String::new(),
        })
        .await;
    Ok(Json(c))
}

/// Starts a test session in the channel's queue (CHAN-5).
#[utoipa::path(post, path = "/api/v1/channels/{id}/test", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Channel 1..10")),
    responses((status = 201, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let (_, c) = visible_channel(&state, &caller, id).await?;
    let view = sessions::open_test(&state, &caller, c.id).await?;
    let mut tx = state.store.write().await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "session.test",
        &format!("session:{}", view.id),
        json!({"channel_id": c.id}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}
