//! Custom fields of a session (FIELD-1, FIELD-2, PERM-20): the technician
//! who created a private session fills them in while it is pending (the
//! console's "create session" dialog); afterwards its holder edits them
//! where its group grants PERM-20, and administrators covering it may too.

use std::collections::BTreeMap;

use super::{SessionView, load, staff_session};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::model::{Perm, Role, SessionState};
use crate::scope;
use crate::state::AppState;
use crate::store::{audit, now_ms};

/// The names a session's fields may take: its channel's, or its
/// technician's group's, and those it already has.
async fn names_of(state: &AppState, s: &SessionView) -> ApiResult<Vec<String>> {
    let mut names = match (s.channel_id, s.tech_id) {
        (Some(c), _) => crate::routing::of_channel(state, c).await?.fields,
        (None, Some(t)) => {
            let g: Option<Option<i64>> =
                sqlx::query_scalar("SELECT tech_group_id FROM users WHERE id = $1")
                    .bind(t)
                    .fetch_optional(&state.store.pool)
                    .await?;
            match g.flatten() {
                Some(g) => crate::routing::of_group(state, g).await?.fields,
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let current: BTreeMap<String, String> =
        serde_json::from_str(&s.customer_fields).unwrap_or_default();
    names.extend(current.into_keys());
    Ok(names)
}

/// Sets custom field values (an empty value removes the field).
pub async fn edit_fields(
    state: &AppState,
    caller: &Caller,
    id: &str,
    values: &BTreeMap<String, String>,
) -> ApiResult<SessionView> {
    let s = staff_session(state, caller, id).await?;
    if s.state == SessionState::Closed.as_str() {
        return Err(ApiError::conflict("the session is closed"));
    }
    // A private session's creator fills them in before the customer comes.
    let creating = caller.role == Role::Technician && s.state == "pending";
    if caller.role == Role::Technician && !creating {
        scope::require_perm(&state.store.pool, caller.id, Perm::EditCustomFields).await?;
    }
    let names = names_of(state, &s).await?;
    crate::routing::check_values(&names, values)?;
    let text = merged(&s.customer_fields, values)?;
    let mut tx = state.store.write().await?;
    let changed = sqlx::query(
        "UPDATE support_sessions SET customer_fields = $1 WHERE id = $2 AND state <> 'closed'",
    )
    .bind(&text)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::conflict("the session is closed"));
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "session.fields",
        &format!("session:{id}"),
        serde_json::json!({"names": values.keys().collect::<Vec<_>>()}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    queue_changed(state, id).await;
    load(&state.store.pool, id).await
}

/// The stored fields with `values` applied (an empty value removes one).
fn merged(stored: &str, values: &BTreeMap<String, String>) -> ApiResult<String> {
    let mut current: BTreeMap<String, String> = serde_json::from_str(stored).unwrap_or_default();
    for (k, v) in values {
        if v.is_empty() {
            current.remove(k);
        } else {
            current.insert(k.clone(), v.clone());
        }
    }
    let text = serde_json::to_string(&current).map_err(|e| ApiError::internal("fields", e))?;
    if text.len() > crate::api::join::MAX_FIELDS_BYTES {
        return Err(ApiError::unprocessable("the fields are too long together"));
    }
    Ok(text)
}

/// Queues show the fields: consoles refresh theirs.
async fn queue_changed(state: &AppState, id: &str) {
    state
        .bus
        .announce(crate::events::Event::QueueChanged {
            session_id: id.to_owned(),
        })
        .await;
}

/// FIELD-2 on the customer's side: the fields of a private session's
/// technician group, asked after the PIN code (the page cannot know the
/// group before). Empty for channel sessions (their form asks first).
pub async fn customer_names(state: &AppState, id: &str) -> ApiResult<Vec<String>> {
    let routing: Option<String> = sqlx::query_scalar(
        "SELECT g.routing FROM support_sessions s JOIN users u ON u.id = s.tech_id \
         JOIN tech_groups g ON g.id = u.tech_group_id WHERE s.id = $1 AND s.kind = 'private'",
    )
    .bind(id)
    .fetch_optional(&state.store.pool)
    .await?;
    Ok(routing
        .map(|r| crate::routing::parse::<crate::routing::GroupRouting>(&r).fields)
        .unwrap_or_default())
}

/// The customer fills its private session's fields, with its token.
pub async fn customer_fields(
    state: &AppState,
    id: &str,
    token: &str,
    values: &BTreeMap<String, String>,
) -> ApiResult<()> {
    let s = super::check_customer(&state.store.pool, id, token).await?;
    crate::routing::check_values(&customer_names(state, id).await?, values)?;
    let text = merged(&s.customer_fields, values)?;
    // Only what it was when read: a technician's edit meanwhile wins.
    let changed = sqlx::query(
        "UPDATE support_sessions SET customer_fields = $1 WHERE id = $2 AND state <> 'closed' \
         AND customer_fields = $3",
    )
    .bind(&text)
    .bind(id)
    .bind(&s.customer_fields)
    .execute(&state.store.pool)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::conflict("the session changed; try again"));
    }
    queue_changed(state, id).await;
    Ok(())
}
