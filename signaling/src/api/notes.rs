//! Session notes (CONSOLE-10): what the technician writes down about a
//! session, kept with it, listed in reports and sent by Post-to-URL. Who
//! may read and add them is who may act on the session: its technician,
//! or an administrator whose scope covers it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::posturl::{NoteOut, notes_of};
use crate::state::AppState;
use crate::store::{check_text, now_ms};

/// A note's text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// The text (up to 4000 characters).
    #[schema(min_length = 1, max_length = 4000, pattern = "{name}")]
    pub body: String,
}

fn check_id(id: &str) -> ApiResult<()> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::not_found("session"))
    }
}

/// Adds a note to a session.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/notes", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = NewNote,
    responses((status = 201, body = NoteOut), (status = 404, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<NewNote>,
) -> ApiResult<(StatusCode, Json<NoteOut>)> {
    check_id(&id)?;
    check_text("body", &req.body, 4000)?;
    if req.body.trim().is_empty() {
        return Err(ApiError::invalid("body is empty"));
    }
    crate::sessions::staff_session(&state, &caller, &id).await?;
    let now = now_ms();
    let note_id: i64 = sqlx::query_scalar(
        "INSERT INTO session_notes (session_id, author_id, body, at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(&id)
    .bind(caller.id)
    .bind(&req.body)
    .bind(now)
    .fetch_one(&state.store.pool)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NoteOut {
            id: note_id,
            at: now,
            author_id: caller.id,
            author: caller.email,
            body: req.body,
        }),
    ))
}

/// A session's notes, oldest first.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/notes", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Vec<NoteOut>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<NoteOut>>> {
    check_id(&id)?;
    crate::sessions::staff_session(&state, &caller, &id).await?;
    Ok(Json(notes_of(&state.store.pool, &id).await?))
}

/// One step of a session's history.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// Unix ms.
    pub at: i64,
    /// `created`, `waiting`, `picked_up`, `transferred`, `note`, `closed`.
    pub event: String,
    /// Who or what: the technician, the transfer's target, the note's text,
    /// the close reason.
    pub detail: String,
}

type TransferRow = (i64, Option<String>, Option<String>, Option<i64>);
type StepsRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A session's history (CONSOLE-10): its steps and notes, oldest first.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/history", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    check_id(&id)?;
    crate::sessions::staff_session(&state, &caller, &id).await?;
    let pool = &state.store.pool;
    let row: StepsRow = sqlx::query_as(
        "SELECT s.created_at, s.waiting_since, s.picked_at, u.email, s.closed_at, \
             s.close_reason FROM support_sessions s LEFT JOIN users u ON u.id = s.tech_id \
             WHERE s.id = $1",
    )
    .bind(&id)
    .fetch_one(pool)
    .await?;
    let (created, waiting, picked, tech, closed, reason) = row;
    let entry = |at: i64, event: &str, detail: String| HistoryEntry {
        at,
        event: event.to_owned(),
        detail,
    };
    let mut out = vec![entry(created, "created", String::new())];
    if let Some(w) = waiting {
        out.push(entry(w, "waiting", String::new()));
    }
    if let Some(p) = picked {
        out.push(entry(p, "picked_up", tech.unwrap_or_default()));
    }
    let transfers: Vec<TransferRow> = sqlx::query_as(
        "SELECT t.at, b.email, o.email, t.to_group_id FROM session_transfers t \
         LEFT JOIN users b ON b.id = t.by_id LEFT JOIN users o ON o.id = t.to_tech_id \
         WHERE t.session_id = $1 ORDER BY t.id LIMIT 1000",
    )
    .bind(&id)
    .fetch_all(pool)
    .await?;
    for (at, by, to, group) in transfers {
        let to = to.unwrap_or_else(|| group.map(|g| format!("group:{g}")).unwrap_or_default());
        out.push(entry(
            at,
            "transferred",
            format!("{} -> {to}", by.unwrap_or_default()),
        ));
    }
    for n in notes_of(pool, &id).await? {
        out.push(entry(n.at, "note", format!("{}: {}", n.author, n.body)));
    }
    if let Some(c) = closed {
        out.push(entry(c, "closed", reason.unwrap_or_default()));
    }
    // Stable: steps at the same millisecond keep the order above.
    out.sort_by_key(|e| e.at);
    Ok(Json(out))
}
