//! Monitoring (SESS-10): an administrator watches a technician's console.
//! Who may: an administrator whose scope covers the technician's group,
//! when that group allows it; with which consent: the group's option
//! (`tell`: the technician is told and the watch starts; `ask`: the
//! technician answers and may decline). The technician's consoles hear of
//! each request and each change on their signaling socket (`monitor`);
//! every step is audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::Event;
use crate::model::Role;
use crate::routing::MonitorConsent;
use crate::routing::presence;
use crate::scope;
use crate::state::AppState;
use crate::store::{audit, now_ms, random_id};

/// A monitoring request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct MonitorView {
    /// Id (128 random bits, hex).
    pub id: String,
    /// The administrator watching.
    pub admin_id: i64,
    /// The technician watched.
    pub tech_id: i64,
    /// `tell` or `ask`, the technician's group's option when asked.
    pub consent: String,
    /// `asked`, `watching`, `declined` or `ended`.
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// When the technician answered (`ask`), Unix ms.
    pub answered_at: Option<i64>,
    /// When it ended, Unix ms.
    pub ended_at: Option<i64>,
}

type Row = (
    String,
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn view(
    (id, admin_id, tech_id, consent, state, created_at, answered_at, ended_at): Row,
) -> MonitorView {
    MonitorView {
        id,
        admin_id,
        tech_id,
        consent,
        state,
        created_at,
        answered_at,
        ended_at,
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<MonitorView> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found("monitor"));
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, admin_id, tech_id, consent, state, created_at, answered_at, ended_at \
         FROM monitor_requests WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.store.pool)
    .await?;
    row.map(view).ok_or_else(|| ApiError::not_found("monitor"))
}

async fn admin_name(state: &AppState, id: i64) -> String {
    sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

async fn announce(state: &AppState, m: &MonitorView) {
    state
        .bus
        .announce(Event::Monitor {
            monitor_id: m.id.clone(),
            tech_id: m.tech_id,
            admin: admin_name(state, m.admin_id).await,
            consent: m.consent.clone(),
            state: m.state.clone(),
        })
        .await;
}

/// Asks to watch a technician's console. The technician must be in the
/// caller's scope (else 404), its group must allow monitoring (else 403)
/// and its console open (else 409). With `tell` the watch starts at once;
/// with `ask` it waits for the technician's answer.
#[utoipa::path(post, path = "/api/v1/technicians/{id}/monitor", tag = "org", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The technician's account id")),
    responses((status = 201, body = MonitorView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    Path(tech): Path<i64>,
) -> ApiResult<(StatusCode, Json<MonitorView>)> {
    caller.require_admin()?;
    let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT tech_group_id, console_seen FROM users WHERE id = $1 AND role = 'technician' \
         AND enabled",
    )
    .bind(tech)
    .fetch_optional(&state.store.pool)
    .await?;
    let Some((Some(group), seen)) = row else {
        return Err(ApiError::not_found("technician"));
    };
    // Out of scope answers like a technician that does not exist.
    let scope = scope::of(&state.store.pool, &caller).await?;
    if !scope.has(group) {
        return Err(ApiError::not_found("technician"));
    }
    let consent = crate::routing::of_group(&state, group).await?.monitoring;
    if consent == MonitorConsent::Off {
        return Err(ApiError::forbidden(
            "the technician's group does not allow monitoring",
        ));
    }
    let now = now_ms();
    if !presence::is_online(&state, seen, now) {
        return Err(ApiError::conflict("the technician's console is not open"));
    }
    let m = MonitorView {
        id: random_id(),
        admin_id: caller.id,
        tech_id: tech,
        consent: consent.as_str().to_owned(),
        state: if consent == MonitorConsent::Tell {
            "watching"
        } else {
            "asked"
        }
        .to_owned(),
        created_at: now,
        answered_at: None,
        ended_at: None,
    };
    let mut tx = state.store.write().await?;
    sqlx::query(
        "INSERT INTO monitor_requests (id, admin_id, tech_id, consent, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&m.id)
    .bind(m.admin_id)
    .bind(m.tech_id)
    .bind(&m.consent)
    .bind(&m.state)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "monitor.request",
        &format!("user:{tech}"),
        json!({"monitor": m.id, "consent": m.consent}),
        now,
    )
    .await?;
    tx.commit().await?;
    announce(&state, &m).await;
    Ok((StatusCode::CREATED, Json(m)))
}

/// The request, for its administrator or its technician.
#[utoipa::path(get, path = "/api/v1/monitors/{id}", tag = "org", security(("bearer" = [])),
    params(("id" = String, Path, description = "Monitoring request id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MonitorView>> {
    let m = load(&state, &id).await?;
    if caller.id != m.admin_id && caller.id != m.tech_id {
        return Err(ApiError::not_found("monitor"));
    }
    Ok(Json(m))
}

/// The technician's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorAnswer {
    /// Let the administrator watch.
    pub accept: bool,
}

/// Moves a request from `from` states (fixed names, never input) to `to`,
/// audited; 409 when it is no longer in one of them.
async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    from: &[&str],
    to: &str,
    action: &str,
) -> ApiResult<MonitorView> {
    let now = now_ms();
    let column = if to == "ended" {
        "ended_at"
    } else {
        "answered_at"
    };
    let mut tx = state.store.write().await?;
    let placeholders = from
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE monitor_requests SET state = $1, {column} = $2 WHERE id = $3 \
         AND state IN ({placeholders})"
    )))
    .bind(to)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict("the request is over"));
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        action,
        &format!("monitor:{id}"),
        json!({"state": to}),
        now,
    )
    .await?;
    tx.commit().await?;
    let m = load(state, id).await?;
    announce(state, &m).await;
    Ok(m)
}

/// The technician accepts or declines a request it was asked (`ask`).
#[utoipa::path(post, path = "/api/v1/monitors/{id}/answer", tag = "org", security(("bearer" = [])),
    params(("id" = String, Path, description = "Monitoring request id")), request_body = MonitorAnswer,
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(a): Json<MonitorAnswer>,
) -> ApiResult<Json<MonitorView>> {
    let m = load(&state, &id).await?;
    if caller.role != Role::Technician || caller.id != m.tech_id {
        return Err(ApiError::not_found("monitor"));
    }
    let to = if a.accept { "watching" } else { "declined" };
    Ok(Json(
        change(&state, &caller, &id, &["asked"], to, "monitor.answer").await?,
    ))
}

/// Ends a request or a watch: its administrator or its technician (who may
/// stop being watched at any moment).
#[utoipa::path(post, path = "/api/v1/monitors/{id}/end", tag = "org", security(("bearer" = [])),
    params(("id" = String, Path, description = "Monitoring request id")),
    responses((status = 200, body = MonitorView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MonitorView>> {
    let m = load(&state, &id).await?;
    if caller.id != m.admin_id && caller.id != m.tech_id {
        return Err(ApiError::not_found("monitor"));
    }
    Ok(Json(
        change(
            &state,
            &caller,
            &id,
            &["asked", "watching"],
            "ended",
            "monitor.end",
        )
        .await?,
    ))
}
