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
