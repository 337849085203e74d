//! Support sessions (SESS-1, SESS-2, SESS-7, SESS-8, CHAN-2..5): PIN codes
//! and links, channel sessions, the queue, pick-up, hold, transfer, close,
//! timeouts with warnings, and the customer's estimated wait (APPLET-4).
//! Every state change is one conditional UPDATE, so two technicians (or two
//! nodes) racing for the same session cannot both win.

mod estimate;
mod fields;
mod reconnect;

pub use estimate::{EstimateCache, estimate_for_channel, estimate_for_tech};
pub use fields::{customer_fields, customer_names, edit_fields};
pub use reconnect::{AppletSockets, applet_away, applet_back, issue_relay};

use rand::Rng;
use sqlx::AnyPool;

use crate::Secret;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::model::{CloseReason, Perm, Role, SessionState};
use crate::scope;
use crate::state::AppState;
use crate::store::audit;
use crate::store::{Flag, now_ms, random_id, random_token, sha256_hex};

pub use secours_protocol::signaling::{Joined, PrivateSession, SessionView, TransferTarget};

/// A session as the database holds it; [`SessionView`] is what staff see.
#[derive(Debug, Clone, sqlx::FromRow)]
struct SessionRow {
    id: String,
    kind: String,
    state: String,
    channel_id: Option<i64>,
    tech_id: Option<i64>,
    group_id: Option<i64>,
    customer_name: String,
    customer_fields: String,
    created_at: i64,
    waiting_since: Option<i64>,
    picked_at: Option<i64>,
    expires_at: Option<i64>,
    close_reason: Option<String>,
    #[sqlx(try_from = "Flag")]
    is_test: bool,
}

impl From<SessionRow> for SessionView {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            state: r.state,
            channel_id: r.channel_id,
            tech_id: r.tech_id,
            group_id: r.group_id,
            customer_name: r.customer_name,
            customer_fields: r.customer_fields,
            created_at: r.created_at,
            waiting_since: r.waiting_since,
            picked_at: r.picked_at,
            expires_at: r.expires_at,
            close_reason: r.close_reason,
            is_test: r.is_test,
        }
    }
}

macro_rules! session_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, state, channel_id, tech_id, group_id, customer_name, customer_fields, ",
            "created_at, waiting_since, picked_at, expires_at, close_reason, is_test ",
            "FROM support_sessions s ",
            $rest
        )
    };
}

/// Reads one session.
pub async fn load(pool: &AnyPool, id: &str) -> ApiResult<SessionView> {
    sqlx::query_as::<_, SessionRow>(session_select!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(SessionView::from)
        .ok_or_else(|| ApiError::not_found("session"))
}

fn technician(caller: &Caller) -> ApiResult<()> {
    if caller.role == Role::Technician {
        Ok(())
    } else {
        Err(ApiError::forbidden("technicians only"))
    }
}

/// A technician opens a private session and gets a PIN and a link.
pub async fn create_private(state: &AppState, caller: &Caller) -> ApiResult<PrivateSession> {
    technician(caller)?;
    let now = now_ms();
    let expires_at = now + state.config.timeouts.code_validity_s * 1000;
    let tech = caller.id;
    let mask = Perm::mask(&[Perm::PrivateSessions]);
    for _ in 0..16 {
        let pin = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let link = random_token();
        let session_id = random_id();
        let (id, link_hash, p) = (session_id.clone(), sha256_hex(&link), pin.clone());
        // One statement: the permission check (PERM-11, account and group
        // enabled) and the insert, group-committed on SQLite.
        let inserted: Result<u64, sqlx::Error> = match &state.pins {
            Some(queue) => queue
                .insert(crate::pin_queue::PinRow {
                    id: id.clone(),
                    pin: p.as_str().into(),
                    link_hash: link_hash.clone(),
                    expires_at,
                    now,
                    tech,
                })
                .await
                .map(u64::from),
            None => state
                .store
                .hot_write(move |c| {
                    let (id, pin, link_hash) = (id.clone(), p.clone(), link_hash.clone());
                    Box::pin(async move {
                        sqlx::query(concat!(
                            "INSERT INTO support_sessions (id, kind, state, pin, link_hash, expires_at, tech_id, ",
                            "created_at, last_activity) SELECT $1, 'private', 'pending', $2, $3, $4, u.id, $5, $5 ",
                            "FROM users u JOIN tech_groups g ON g.id = u.tech_group_id WHERE u.id = $6 ",
                            "AND u.enabled AND g.enabled AND (g.permissions & $7) <> 0"
                        ))
                        .bind(id)
                        .bind(pin)
                        .bind(link_hash)
                        .bind(expires_at)
                        .bind(now)
                        .bind(tech)
                        .bind(mask)
                        .execute(&mut *c)
                        .await
                        .map(|r| r.rows_affected())
                    })
                })
                .await,
        };
        match inserted {
            Ok(1) => {
                let base = state.config.public_url.trim_end_matches('/');
                // What the row holds, without reading it back.
                let session = SessionView {
                    id: session_id,
                    kind: "private".to_owned(),
                    state: SessionState::Pending.as_str().to_owned(),
                    channel_id: None,
                    tech_id: Some(tech),
                    group_id: None,
                    customer_name: String::new(),
                    customer_fields: "{}".to_owned(),
                    created_at: now,
                    waiting_since: None,
                    picked_at: None,
                    expires_at: Some(expires_at),
                    close_reason: None,
                    is_test: false,
                };
                return Ok(PrivateSession {
                    session,
                    pin: Secret::new(pin),
                    link: Secret::new(format!("{base}/join?link={link}")),
                    expires_at,
                });
            }
            Ok(_) => {
                // Say precisely why (rare path).
                scope::require_perm(&state.store.pool, caller.id, Perm::PrivateSessions).await?;
                return Err(ApiError::forbidden("account or group disabled"));
            }
            // The code is live for another session: draw again.
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "no_code_available",
        "too many live codes; try again",
    ))
}

/// How a customer identifies a private session.
#[derive(Debug, Clone, Copy)]
pub enum Code<'a> {
    /// The six digits.
    Pin(&'a str),
    /// The link's secret.
    Link(&'a str),
}

/// A customer uses a PIN or a link: single use, so it is cleared here.
pub async fn redeem(state: &AppState, code: Code<'_>, customer_name: &str) -> ApiResult<Joined> {
    let now = now_ms();
    let token = random_token();
    let connecting = now + state.config.timeouts.connecting_s * 1000;
    let (column_pin, value) = match code {
        Code::Pin(p) => (true, p.to_owned()),
        Code::Link(l) => (false, sha256_hex(l)),
    };
    let token_hash = sha256_hex(&token);
    let name = customer_name.to_owned();
    // One statement, group-committed on SQLite: the code is cleared (single
    // use) as the session moves on, and the technician's nickname comes back.
    let row: crate::pin_queue::Redeemed = match &state.redeems {
        Some(queue) => {
            queue
                .redeem(crate::pin_queue::Redemption {
                    by_link: !column_pin,
                    code: value.into(),
                    name,
                    token_hash,
                    connecting,
                    now,
                })
                .await?
        }
        None => {
            state
                .store
                .hot_write(move |c| {
                    let (name, token_hash, value) =
                        (name.clone(), token_hash.clone(), value.clone());
                    Box::pin(async move {
                        sqlx::query_as(crate::pin_queue::redeem_sql(!column_pin))
                            .bind(name)
                            .bind(token_hash)
                            .bind(connecting)
                            .bind(now)
                            .bind(value)
                            .fetch_optional(&mut *c)
                            .await
                    })
                })
                .await?
        }
    };
    let Some((session_id, tech, technician)) = row else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "invalid_code",
            "this code is wrong, used or expired",
        ));
    };
    // SESS-6: the technician is away or offline and its group says not to wait.
    if let Some(t) = tech
        && let Err(refusal) = crate::routing::admit_private(state, t).await?
    {
        close(state, &session_id, CloseReason::Unavailable).await?;
        return Err(refusal.into_error());
    }
    let estimated_wait_s = match tech {
        Some(t) => state.estimates.for_tech(&state.store.pool, t).await?,
        None => None,
    };
    state
        .bus
        .announce(Event::SessionState {
            session_id: session_id.clone(),
            state: SessionState::Connecting,
            tech_id: tech,
            reason: None,
        })
        .await;
    Ok(Joined {
        turn: state.config.turn.as_ref().map(|t| t.grant(&session_id)),
        session_id,
        customer_token: Secret::new(token),
        technician,
        estimated_wait_s,
    })
}

/// A customer opens a channel session (CHAN-4): it will wait in the queue.
pub async fn join_channel(
    state: &AppState,
    link_code: &str,
    customer_name: &str,
    fields: &str,
) -> ApiResult<Joined> {
    let channel: Option<i64> = sqlx::query_scalar("SELECT id FROM channels WHERE link_code = $1")
        .bind(link_code)
        .fetch_optional(&state.store.pool)
        .await?;
    let channel = channel.ok_or_else(|| ApiError::not_found("channel"))?;
    crate::routing::admit_join(state, channel, fields).await?;
    let now = now_ms();
    let token = random_token();
    let id = random_id();
    sqlx::query(
        "INSERT INTO support_sessions (id, kind, state, expires_at, channel_id, customer_name, \
         customer_fields, customer_token_hash, created_at, last_activity) \
         VALUES ($1, 'channel', 'connecting', $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(now + state.config.timeouts.connecting_s * 1000)
    .bind(channel)
    .bind(customer_name)
    .bind(fields)
    .bind(sha256_hex(&token))
    .bind(now)
    .execute(&state.store.pool)
    .await?;
    Ok(Joined {
        turn: state.config.turn.as_ref().map(|t| t.grant(&id)),
        session_id: id,
        customer_token: Secret::new(token),
        technician: None,
        estimated_wait_s: state
            .estimates
            .for_channel(&state.store.pool, channel)
            .await?,
    })
}

/// CHAN-5: a test session that enters the channel's queue at once.
pub async fn open_test(state: &AppState, caller: &Caller, channel: i64) -> ApiResult<SessionView> {
    let now = now_ms();
    let id = random_id();
    sqlx::query(
        "INSERT INTO support_sessions (id, kind, state, expires_at, channel_id, customer_name, \
         created_at, waiting_since, last_activity, is_test) \
         VALUES ($1, 'channel', 'waiting', $2, $3, $4, $5, $5, $5, TRUE)",
    )
    .bind(&id)
    .bind(now + state.config.timeouts.waiting_s * 1000)
    .bind(channel)
    .bind(format!("Test by {}", caller.email))
    .bind(now)
    .execute(&state.store.pool)
    .await?;
    state
        .bus
        .announce(Event::QueueChanged {
            session_id: id.clone(),
        })
        .await;
    load(&state.store.pool, &id).await
}

/// The applet is connected: the session enters its queue.
pub async fn applet_connected(state: &AppState, id: &str) -> ApiResult<()> {
    let now = now_ms();
    let moved = sqlx::query(
        "UPDATE support_sessions SET state = 'waiting', waiting_since = $1, expires_at = $2, \
         warned_at = NULL WHERE id = $3 AND state = 'connecting'",
    )
    .bind(now)
    .bind(now + state.config.timeouts.waiting_s * 1000)
    .bind(id)
    .execute(&state.store.pool)
    .await?;
    if moved.rows_affected() == 1 {
        state
            .bus
            .announce(Event::SessionState {
                session_id: id.to_owned(),
                state: SessionState::Waiting,
                tech_id: None,
                reason: None,
            })
            .await;
        state
            .bus
            .announce(Event::QueueChanged {
                session_id: id.to_owned(),
            })
            .await;
    }
    Ok(())
}

// The queue predicate of technician $1 in group $2: its own sessions,
// sessions transferred to its group, and channel sessions of its group's
// channels it is not excluded from.
macro_rules! visible_to_tech {
    () => {
        "(s.tech_id = $1 OR (s.tech_id IS NULL AND s.group_id = $2) OR \
          (s.tech_id IS NULL AND s.group_id IS NULL AND s.channel_id IN \
            (SELECT channel_id FROM channel_groups WHERE group_id = $2) AND s.channel_id NOT IN \
            (SELECT channel_id FROM channel_exclusions WHERE user_id = $1)))"
    };
}

/// A technician's queue: sessions waiting for it, and those it holds.
pub async fn queue(state: &AppState, tech: i64, group: i64) -> ApiResult<Vec<SessionView>> {
    let rows: Vec<SessionRow> = sqlx::query_as(concat!(
        "SELECT id, kind, state, channel_id, tech_id, group_id, customer_name, customer_fields, ",
        "created_at, waiting_since, picked_at, expires_at, close_reason, is_test ",
        "FROM support_sessions s WHERE s.state IN ('waiting', 'transferred', 'active', 'on_hold') AND ",
        visible_to_tech!(),
        " ORDER BY s.waiting_since, s.id LIMIT 500"
    ))
    .bind(tech)
    .bind(group)
    .fetch_all(&state.store.pool)
    .await?;
    Ok(rows.into_iter().map(SessionView::from).collect())
}

/// The technician takes a waiting session.
pub async fn pickup(state: &AppState, caller: &Caller, id: &str) -> ApiResult<SessionView> {
    technician(caller)?;
    let group = caller
        .tech_group_id
        .ok_or_else(|| ApiError::forbidden("no group"))?;
    let now = now_ms();
    // The change and its audit entry commit together.
    let mut tx = state.store.write().await?;
    let taken = sqlx::query(concat!(
        "UPDATE support_sessions SET state = 'active', tech_id = $1, group_id = NULL, picked_at = $3, ",
        "expires_at = NULL, last_activity = $3, warned_at = NULL ",
        "WHERE id = $4 AND state IN ('waiting', 'transferred') AND id IN (SELECT s.id FROM support_sessions s WHERE ",
        visible_to_tech!(),
        ")"
    ))
    .bind(caller.id)
    .bind(group)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() == 0 {
        drop(tx);
        return Err(match load(&state.store.pool, id).await {
            Ok(s) if s.state == "active" && was_offered(state, caller, group, &s).await? => {
                ApiError::conflict("already picked up")
            }
            _ => ApiError::not_found("session"),
        });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "session.pickup",
        &format!("session:{id}"),
        serde_json::json!({}),
        now,
    )
    .await?;
    crate::posturl::enqueue(&mut tx, id, crate::posturl::PostEvent::Start, now).await?;
    tx.commit().await?;
    let _ = crate::routing::presence::activity(state, caller.id).await;
    announce_state(state, id, SessionState::Active, Some(caller.id), None).await;
    // A pick-up changes the averages: this node recomputes them next time
    // (other nodes within the cache's few seconds).
    if let Ok(s) = load(&state.store.pool, id).await {
        state.estimates.forget(s.channel_id, s.tech_id);
    }
    issue_relay(state, id).await;
    load(&state.store.pool, id).await
}

/// Whether a session picked up by now was in this technician's queue (its
/// own, or from a channel of its group it is not excluded from): only then
/// does a failed pick-up say "already picked up" rather than 404.
async fn was_offered(
    state: &AppState,
    caller: &Caller,
    group: i64,
    s: &SessionView,
) -> ApiResult<bool> {
    if s.tech_id == Some(caller.id) {
        return Ok(true);
    }
    let Some(channel) = s.channel_id else {
        return Ok(false);
    };
    let hit: Option<i64> = sqlx::query_scalar(
        "SELECT cg.channel_id FROM channel_groups cg WHERE cg.channel_id = $1 AND cg.group_id = $2 \
         AND NOT EXISTS (SELECT 1 FROM channel_exclusions e WHERE e.channel_id = $1 AND e.user_id = $3)",
    )
    .bind(channel)
    .bind(group)
    .bind(caller.id)
    .fetch_optional(&state.store.pool)
    .await?;
    Ok(hit.is_some())
}

async fn announce_state(
    state: &AppState,
    id: &str,
    s: SessionState,
    tech: Option<i64>,
    reason: Option<CloseReason>,
) {
    state
        .bus
        .announce(Event::SessionState {
            session_id: id.to_owned(),
            state: s,
            tech_id: tech,
            reason: reason.map(|r| r.as_str().to_owned()),
        })
        .await;
    state
        .bus
        .announce(Event::QueueChanged {
            session_id: id.to_owned(),
        })
        .await;
}

/// The holder puts an active session on hold, or resumes it.
pub async fn hold(state: &AppState, caller: &Caller, id: &str, on: bool) -> ApiResult<SessionView> {
    let (from, to) = if on {
        ("active", SessionState::OnHold)
    } else {
        ("on_hold", SessionState::Active)
    };
    let changed = sqlx::query(
        "UPDATE support_sessions SET state = $1, last_activity = $2, warned_at = NULL \
         WHERE id = $3 AND tech_id = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(now_ms())
    .bind(id)
    .bind(caller.id)
    .bind(from)
    .execute(&state.store.pool)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(not_held(state, caller, id).await);
    }
    announce_state(state, id, to, Some(caller.id), None).await;
    load(&state.store.pool, id).await
}

async fn not_held(state: &AppState, caller: &Caller, id: &str) -> ApiError {
    match load(&state.store.pool, id).await {
        Ok(s) if s.tech_id == Some(caller.id) => {
            ApiError::conflict(format!("the session is {}", s.state))
        }
        _ => ApiError::not_found("session"),
    }
}

/// Whether an administrator's scope covers a session (SESS-8). Whoever the
/// session is with now decides: a technician's session is covered through
/// that technician's group, a transferred one through its target group, and
/// only a session waiting in a channel's queue through the channel. So a
/// channel shared with another group opens none of that group's sessions.
async fn admin_covers(pool: &AnyPool, scope: &scope::Scope, s: &SessionView) -> ApiResult<bool> {
    if let scope::Scope::All = scope {
        return Ok(true);
    }
    if let Some(t) = s.tech_id {
        return scope::covers_tech(pool, scope, t).await;
    }
    if let Some(g) = s.group_id {
        return Ok(scope.has(g));
    }
    if let Some(c) = s.channel_id {
        let groups: Vec<i64> =
            sqlx::query_scalar("SELECT group_id FROM channel_groups WHERE channel_id = $1")
                .bind(c)
                .fetch_all(pool)
                .await?;
        return Ok(groups.iter().any(|g| scope.has(*g)));
    }
    Ok(false)
}

/// Loads a session a member of staff may act on, else 404: its technician's
/// own, or one an administrator covers.
pub(crate) async fn staff_session(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<SessionView> {
    let s = load(&state.store.pool, id).await?;
    let allowed = match caller.role {
        Role::Technician => s.tech_id == Some(caller.id),
        Role::Admin | Role::Master => {
            let scope = scope::of(&state.store.pool, caller).await?;
            admin_covers(&state.store.pool, &scope, &s).await?
        }
    };
    if allowed {
        Ok(s)
    } else {
        Err(ApiError::not_found("session"))
    }
}

/// Transfers a session (PERM-13 for its technician; SESS-8 for administrators).
pub async fn transfer(
    state: &AppState,
    caller: &Caller,
    id: &str,
    to: &TransferTarget,
) -> ApiResult<SessionView> {
    let s = staff_session(state, caller, id).await?;
    if caller.role == Role::Technician {
        scope::require_perm(&state.store.pool, caller.id, Perm::Transfer).await?;
    }
    // The target must be inside the caller's reach too; out of it answers
    // like an id that does not exist.
    let targets = scope::transfer_targets(&state.store.pool, caller).await?;
    let (tech, group) = match (to.tech_id, to.group_id) {
        (Some(t), None) => {
            let row: Option<(Option<i64>, Flag, Flag)> = sqlx::query_as(
                "SELECT u.tech_group_id, u.enabled, g.enabled FROM users u \
                 JOIN tech_groups g ON g.id = u.tech_group_id \
                 WHERE u.id = $1 AND u.role = 'technician'",
            )
            .bind(t)
            .fetch_optional(&state.store.pool)
            .await?;
            match row {
                Some((Some(g), Flag(true), Flag(true))) if targets.has(g) => {}
                Some((Some(g), _, _)) if targets.has(g) => {
                    return Err(ApiError::conflict("the target technician is disabled"));
                }
                _ => return Err(ApiError::not_found("technician")),
            }
            (Some(t), None)
        }
        (None, Some(g)) => {
            let enabled: Option<Flag> =
                sqlx::query_scalar("SELECT enabled FROM tech_groups WHERE id = $1")
                    .bind(g)
                    .fetch_optional(&state.store.pool)
                    .await?;
            match enabled {
                Some(Flag(true)) if targets.has(g) => {}
                Some(_) if targets.has(g) => {
                    return Err(ApiError::conflict("the target group is disabled"));
                }
                _ => return Err(ApiError::not_found("technician group")),
            }
            (None, Some(g))
        }
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of tech_id and group_id",
            ));
        }
    };
    let now = now_ms();
    let mut tx = state.store.write().await?;
    let moved = sqlx::query(
        "UPDATE support_sessions SET state = 'transferred', tech_id = $1, group_id = $2, \
         waiting_since = $3, expires_at = $4, warned_at = NULL \
         WHERE id = $5 AND state IN ('waiting', 'active', 'on_hold', 'transferred')",
    )
    .bind(tech)
    .bind(group)
    .bind(now)
    .bind(now + state.config.timeouts.waiting_s * 1000)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Err(ApiError::conflict(format!("the session is {}", s.state)));
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        "session.transfer",
        &format!("session:{id}"),
        serde_json::json!({"from_tech_id": s.tech_id, "tech_id": tech, "group_id": group}),
        now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO session_transfers (session_id, at, by_id, from_tech_id, to_tech_id, \
         to_group_id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(now)
    .bind(caller.id)
    .bind(s.tech_id)
    .bind(tech)
    .bind(group)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    announce_state(state, id, SessionState::Transferred, tech, None).await;
    load(&state.store.pool, id).await
}

/// Closes a session (its technician, or an administrator covering it).
pub async fn close_by_staff(state: &AppState, caller: &Caller, id: &str) -> ApiResult<SessionView> {
    let s = staff_session(state, caller, id).await?;
    if !close(state, id, CloseReason::Technician).await? {
        return Err(ApiError::conflict("the session is already closed"));
    }
    let mut tx = state.store.write().await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "session.close",
        &format!("session:{id}"),
        serde_json::json!({"tech_id": s.tech_id}),
        now_ms(),
    )
    .await?;
    tx.commit().await?;
    load(&state.store.pool, id).await
}

/// Closes a session for `reason`; false when it was already closed.
pub async fn close(state: &AppState, id: &str, reason: CloseReason) -> ApiResult<bool> {
    let now = now_ms();
    // The close and its Post-to-URL items (INTEG-2) commit together.
    let mut tx = state.store.pool.begin().await?;
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "UPDATE support_sessions SET state = 'closed', close_reason = $1, closed_at = $2, pin = NULL, \
         link_hash = NULL, expires_at = NULL WHERE id = $3 AND state <> 'closed' RETURNING tech_id",
    )
    .bind(reason.as_str()).bind(now).bind(id)
    .fetch_optional(&mut *tx).await?;
    if row.is_some() {
        crate::posturl::enqueue(&mut tx, id, crate::posturl::PostEvent::End, now).await?;
    }
    tx.commit().await?;
    match row {
        Some((tech,)) => {
            announce_state(state, id, SessionState::Closed, tech, Some(reason)).await;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Live sessions an administrator covers (SESS-8).
pub async fn live_for_admin(state: &AppState, caller: &Caller) -> ApiResult<Vec<SessionView>> {
    caller.require_admin()?;
    let all: Vec<SessionRow> = sqlx::query_as(session_select!(
        "WHERE state <> 'closed' ORDER BY created_at LIMIT 5000"
    ))
    .fetch_all(&state.store.pool)
    .await?;
    let all = all.into_iter().map(SessionView::from);
    let scope = scope::of(&state.store.pool, caller).await?;
    let mut out = Vec::new();
    for s in all {
        if admin_covers(&state.store.pool, &scope, &s).await? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Marks activity on a live session (signaling traffic, console heartbeat).
pub async fn touch(pool: &AnyPool, id: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE support_sessions SET last_activity = $1, warned_at = NULL \
                 WHERE id = $2 AND state IN ('active', 'on_hold')",
    )
    .bind(now_ms())
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The customer token matches this live session.
pub async fn check_customer(pool: &AnyPool, id: &str, token: &str) -> ApiResult<SessionView> {
    let hash: Option<Option<String>> = sqlx::query_scalar(
        "SELECT customer_token_hash FROM support_sessions WHERE id = $1 AND state <> 'closed'",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match hash.flatten() {
        Some(h) if h == sha256_hex(token) => load(pool, id).await,
        _ => Err(ApiError::unauthenticated()),
    }
}
