//! SESS-7 timeouts: a warning event first, then the close. Each step is a
//! conditional UPDATE, so with several nodes sweeping, each warning and each
//! close happens once. The routing pass ([`crate::routing::sweep`]) runs
//! with it.

use std::time::Duration;

use crate::error::ApiResult;
use crate::events::Event;
use crate::model::SessionState;
use crate::state::AppState;
use crate::store::now_ms;

fn timeout_name(state: &str) -> &'static str {
    match state {
        "pending" => "code_validity",
        "connecting" => "connecting",
        "active" | "on_hold" => "idle",
        _ => "waiting",
    }
}

/// One pass: warnings, then closes.
pub async fn sweep(state: &AppState) -> ApiResult<()> {
    let now = now_ms();
    let t = &state.config.timeouts;
    let lead = t.warning_s * 1000;
    let idle = t.idle_s * 1000;
    let warned: Vec<(String, String, i64)> = sqlx::query_as(
        "UPDATE support_sessions SET warned_at = $1 WHERE warned_at IS NULL AND ( \
           (state IN ('pending', 'connecting', 'waiting', 'transferred') AND expires_at IS NOT NULL \
             AND expires_at - $2 <= $1 AND expires_at > $1) OR \
           (state IN ('active', 'on_hold') AND last_activity + $3 - $2 <= $1 AND last_activity + $3 > $1)) \
         RETURNING id, state, COALESCE(expires_at, last_activity + $3)",
    )
    .bind(now).bind(lead).bind(idle)
    .fetch_all(&state.store.pool).await?;
    for (id, s, deadline) in warned {
        state
            .bus
            .announce(Event::Warning {
                session_id: id,
                timeout: timeout_name(&s).to_owned(),
                seconds_left: ((deadline - now) / 1000).max(0),
            })
            .await;
    }
    // A live session whose applet did not come back in time (its
    // `expires_at` is the reconnection deadline) closes as disconnected.
    // The closes and their Post-to-URL items (INTEG-2) commit together.
    let mut tx = state.store.pool.begin().await?;
    let expired: Vec<(String, Option<i64>, String)> = sqlx::query_as(
        "UPDATE support_sessions SET state = 'closed', closed_at = $1, \
           close_reason = CASE WHEN state IN ('active', 'on_hold') AND expires_at <= $1 \
             THEN 'disconnected' ELSE 'timed_out' END, \
           pin = NULL, link_hash = NULL, expires_at = NULL WHERE \
           (state IN ('pending', 'connecting', 'waiting', 'transferred') AND expires_at <= $1) OR \
           (state IN ('active', 'on_hold') AND (last_activity + $2 <= $1 OR expires_at <= $1)) \
         RETURNING id, tech_id, close_reason",
    )
    .bind(now)
    .bind(idle)
    .fetch_all(&mut *tx)
    .await?;
    for (id, _, _) in &expired {
        crate::posturl::enqueue(&mut tx, id, crate::posturl::PostEvent::End, now).await?;
    }
    tx.commit().await?;
    for (id, tech, reason) in expired {
        state
            .bus
            .announce(Event::SessionState {
                session_id: id.clone(),
                state: SessionState::Closed,
                tech_id: tech,
                reason: Some(reason),
            })
            .await;
        state
            .bus
            .announce(Event::QueueChanged { session_id: id })
            .await;
    }
    // SESS-3..6, SESS-9; a failure there does not stop the cleaning below.
    if let Err(e) = crate::routing::sweep::run(state).await {
        tracing::warn!(error = %e, "routing pass failed");
    }
    // Expired staff tokens and stale throttle windows.
    sqlx::query("DELETE FROM auth_tokens WHERE expires_at < $1")
        .bind(now)
        .execute(&state.store.pool)
        .await?;
    sqlx::query("DELETE FROM throttle WHERE window_start < $1")
        .bind(
            now - state
                .config
                .throttle_window_s
                .max(state.config.login_account_window_s)
                * 1000
                * 2,
        )
        .execute(&state.store.pool)
        .await?;
    Ok(())
}

/// Sweeps forever at the configured interval.
pub async fn run(state: AppState) {
    let every = Duration::from_millis(state.config.timeouts.sweep_interval_ms.max(10));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "timeout sweep failed");
        }
    }
}
