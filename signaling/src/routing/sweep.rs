//! The routing pass of the sweeper: auto-transfer (SESS-3), closing what
//! waits when no technician is available and the settings say so (SESS-5,
//! SESS-6), auto-start (SESS-4) and the idle logout (SESS-9). Each node
//! runs it; each change is a conditional UPDATE that only one node wins,
//! and auto-start holds the organisation's write lock while it counts a
//! technician's sessions and gives it one, so two nodes cannot both fill
//! the same technician's last place.

use crate::error::ApiResult;
use crate::model::{CloseReason, SessionState};
use crate::state::AppState;
use crate::store::{audit, now_ms};

use super::{ChannelRouting, GroupRouting, UnavailableAction, presence};

/// Sessions one pass moves at most (the rest wait for the next pass).
const BATCH: i64 = 100;

/// One pass.
pub async fn run(state: &AppState) -> ApiResult<()> {
    let channels = super::all_channels(state).await?;
    let groups = super::all_groups(state).await?;
    state.private_rules.set_all(&groups);
    for (id, r) in &channels {
        if let Some(t) = &r.auto_transfer {
            auto_transfer(state, *id, t).await?;
        }
        if r.unavailable.action == UnavailableAction::Close {
            close_unavailable_channel(state, *id, r).await?;
        }
    }
    for (id, r) in &groups {
        if r.private_unavailable.action == UnavailableAction::Close {
            close_unavailable_private(state, *id).await?;
        }
        if r.idle_logout_s > 0 {
            idle_logout(state, *id, r.idle_logout_s).await?;
        }
    }
    let auto: Vec<i64> = channels
        .iter()
        .filter(|(_, r)| r.auto_start)
        .map(|(id, _)| *id)
        .collect();
    if !auto.is_empty() {
        auto_start(state, &auto, &groups).await?;
    }
    Ok(())
}

async fn announce(state: &AppState, id: &str, s: SessionState, tech: Option<i64>) {
    state
        .bus
        .announce(crate::events::Event::SessionState {
            session_id: id.to_owned(),
            state: s,
            tech_id: tech,
            reason: None,
        })
        .await;
    state
        .bus
        .announce(crate::events::Event::QueueChanged {
            session_id: id.to_owned(),
        })
        .await;
}

/// SESS-3: the channel's sessions waiting since before the delay go to
/// the target group (an enabled one).
async fn auto_transfer(state: &AppState, channel: i64, t: &super::AutoTransfer) -> ApiResult<()> {
    let now = now_ms();
    let due = now - t.after_s * 1000;
    let any: Option<String> = sqlx::query_scalar(
        "SELECT id FROM support_sessions WHERE channel_id = $1 AND state = 'waiting' \
         AND tech_id IS NULL AND group_id IS NULL AND waiting_since <= $2 LIMIT 1",
    )
    .bind(channel)
    .bind(due)
    .fetch_optional(&state.store.pool)
    .await?;
    if any.is_none() {
        return Ok(());
    }
    let mut tx = state.store.write().await?;
    let moved: Vec<(String,)> = sqlx::query_as(
        "UPDATE support_sessions SET state = 'transferred', group_id = $1, waiting_since = $2, \
           expires_at = $3, warned_at = NULL \
         WHERE channel_id = $4 AND state = 'waiting' AND tech_id IS NULL AND group_id IS NULL \
           AND waiting_since <= $5 \
           AND EXISTS (SELECT 1 FROM tech_groups g WHERE g.id = $1 AND g.enabled) \
         RETURNING id",
    )
    .bind(t.group_id)
    .bind(now)
    .bind(now + state.config.timeouts.waiting_s * 1000)
    .bind(channel)
    .bind(due)
    .fetch_all(&mut *tx)
    .await?;
    for (id,) in &moved {
        audit::append(
            &mut tx,
            &audit::Actor::system("routing"),
            "session.auto_transfer",
            &format!("session:{id}"),
            serde_json::json!({"channel_id": channel, "group_id": t.group_id}),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    for (id,) in moved {
        tracing::info!(session = %id, group = t.group_id, "auto-transferred");
        announce(state, &id, SessionState::Transferred, None).await;
    }
    Ok(())
}

/// SESS-5 `close`: outside the hours or with nobody available, what waits
/// in the channel's queue closes.
async fn close_unavailable_channel(
    state: &AppState,
    channel: i64,
    r: &ChannelRouting,
) -> ApiResult<()> {
    let open = r.hours.as_ref().is_none_or(|h| h.is_open(now_ms()));
    if open && presence::channel_has_available(state, channel).await? {
        return Ok(());
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM support_sessions WHERE channel_id = $1 AND state = 'waiting' \
         AND tech_id IS NULL AND group_id IS NULL ORDER BY waiting_since LIMIT $2",
    )
    .bind(channel)
    .bind(BATCH)
    .fetch_all(&state.store.pool)
    .await?;
    for id in ids {
        crate::sessions::close(state, &id, CloseReason::Unavailable).await?;
    }
    Ok(())
}

/// SESS-6 `close`: private sessions waiting for a technician of the group
/// who is away or has no console open close.
async fn close_unavailable_private(state: &AppState, group: i64) -> ApiResult<()> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT s.id FROM support_sessions s JOIN users u ON u.id = s.tech_id \
         WHERE s.kind = 'private' AND s.state = 'waiting' AND u.tech_group_id = $1 \
         AND (u.status = 'away' OR u.console_seen IS NULL OR u.console_seen <= $2) \
         ORDER BY s.waiting_since LIMIT $3",
    )
    .bind(group)
    .bind(presence::lease_cut(state, now_ms()))
    .bind(BATCH)
    .fetch_all(&state.store.pool)
    .await?;
    for id in ids {
        crate::sessions::close(state, &id, CloseReason::Unavailable).await?;
    }
    Ok(())
}

/// SESS-9: technicians of the group idle for `after_s` are logged out
/// (their tokens end, their consoles close).
async fn idle_logout(state: &AppState, group: i64, after_s: i64) -> ApiResult<()> {
    let now = now_ms();
    let cut = now - after_s * 1000;
    // Idle: nothing done since the cut, and no login since either (a
    // technician back the next day is not logged out at once).
    let idle: Vec<i64> = sqlx::query_scalar(
        "SELECT u.id FROM users u WHERE u.tech_group_id = $1 AND u.role = 'technician' \
         AND COALESCE(u.last_active, 0) <= $2 \
         AND EXISTS (SELECT 1 FROM auth_tokens t WHERE t.user_id = u.id) \
         AND NOT EXISTS (SELECT 1 FROM auth_tokens t WHERE t.user_id = u.id AND t.created_at > $2) \
         LIMIT $3",
    )
    .bind(group)
    .bind(cut)
    .bind(BATCH)
    .fetch_all(&state.store.pool)
    .await?;
    for user in idle {
        let mut tx = state.store.write().await?;
        // Still idle now (a console may have reported activity meanwhile).
        let ended = sqlx::query(
            "DELETE FROM auth_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM users u \
             WHERE u.id = $1 AND COALESCE(u.last_active, 0) <= $2) \
             AND NOT EXISTS (SELECT 1 FROM auth_tokens t WHERE t.user_id = $1 AND t.created_at > $2)",
        )
        .bind(user)
        .bind(cut)
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() == 0 {
            continue;
        }
        sqlx::query("UPDATE users SET console_seen = NULL WHERE id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        audit::append(
            &mut tx,
            &audit::Actor::system("routing"),
            "user.idle_logout",
            &format!("user:{user}"),
            serde_json::json!({"idle_s": after_s}),
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user, "logged out after idle time");
        state
            .revocations
            .revoke(crate::revoke::Revoked::User(user))
            .await;
    }
    Ok(())
}

/// A technician who may be given a session.
struct Candidate {
    id: i64,
    group: i64,
    /// Sessions it holds.
    holds: i64,
    /// When it last picked up or ended a session (0: never).
    last_busy: i64,
}

type CandidateRow = (i64, i64, i64, Option<i64>);

/// The technician a session of `channel` goes to: available, console open,
/// under its group's maximum; fewest sessions held, then idle longest.
async fn best<'e, E>(
    ex: E,
    state: &AppState,
    channel: i64,
    groups: &[(i64, GroupRouting)],
) -> ApiResult<Option<Candidate>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<CandidateRow> = sqlx::query_as(
        "SELECT u.id, u.tech_group_id, \
           (SELECT COUNT(*) FROM support_sessions s WHERE s.tech_id = u.id \
             AND s.state IN ('active', 'on_hold')), \
           (SELECT MAX(COALESCE(s.closed_at, s.picked_at)) FROM support_sessions s \
             WHERE s.tech_id = u.id) \
         FROM users u JOIN tech_groups g ON g.id = u.tech_group_id \
         WHERE u.role = 'technician' AND u.enabled AND g.enabled AND u.status = 'available' \
         AND u.console_seen > $2 \
         AND u.tech_group_id IN (SELECT group_id FROM channel_groups WHERE channel_id = $1) \
         AND u.id NOT IN (SELECT user_id FROM channel_exclusions WHERE channel_id = $1)",
    )
    .bind(channel)
    .bind(presence::lease_cut(state, now_ms()))
    .fetch_all(ex)
    .await?;
    let max_of = |g: i64| {
        groups
            .iter()
            .find(|(id, _)| *id == g)
            .map_or(0, |(_, r)| r.max_sessions)
    };
    Ok(rows
        .into_iter()
        .map(|(id, group, holds, last)| Candidate {
            id,
            group,
            holds,
            last_busy: last.unwrap_or(0),
        })
        .filter(|c| {
            let max = max_of(c.group);
            max == 0 || c.holds < max
        })
        .min_by_key(|c| (c.holds, c.last_busy, c.id)))
}

/// SESS-4: waiting sessions of auto-start channels go, oldest first, each
/// to the [`best`] technician of its channel.
async fn auto_start(
    state: &AppState,
    channels: &[i64],
    groups: &[(i64, GroupRouting)],
) -> ApiResult<()> {
    let mut waiting: Vec<(String, i64)> = Vec::new();
    let mut servable = false;
    for c in channels {
        let mut some: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, channel_id FROM support_sessions WHERE channel_id = $1 \
             AND state = 'waiting' AND tech_id IS NULL AND group_id IS NULL \
             ORDER BY waiting_since, id LIMIT $2",
        )
        .bind(c)
        .bind(BATCH)
        .fetch_all(&state.store.pool)
        .await?;
        // Read without the lock first: most passes have nothing to do.
        if !some.is_empty() && !servable {
            servable = best(&state.store.pool, state, *c, groups).await?.is_some();
        }
        waiting.append(&mut some);
    }
    if !servable {
        return Ok(());
    }
    let now = now_ms();
    let mut given = Vec::new();
    // Under the write lock: counts read here stay true until the commit.
    let mut tx = state.store.write().await?;
    for (session, channel) in waiting {
        let Some(tech) = best(&mut *tx, state, channel, groups).await? else {
            continue;
        };
        let taken = sqlx::query(
            "UPDATE support_sessions SET state = 'active', tech_id = $1, group_id = NULL, \
               picked_at = $2, expires_at = NULL, last_activity = $2, warned_at = NULL \
             WHERE id = $3 AND state = 'waiting' AND tech_id IS NULL AND group_id IS NULL",
        )
        .bind(tech.id)
        .bind(now)
        .bind(&session)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 1 {
            audit::append(
                &mut tx,
                &audit::Actor::system("routing"),
                "session.auto_start",
                &format!("session:{session}"),
                serde_json::json!({"tech_id": tech.id, "channel_id": channel}),
                now,
            )
            .await?;
            given.push((session, channel, tech.id));
        }
    }
    tx.commit().await?;
    for (session, channel, tech) in given {
        tracing::info!(session = %session, tech, "auto-started");
        announce(state, &session, SessionState::Active, Some(tech)).await;
        state.estimates.forget(Some(channel), Some(tech));
        crate::sessions::issue_relay(state, &session).await;
    }
    Ok(())
}
