//! An applet that drops off a live session (the customer's computer
//! reboots, the program is killed, the network goes) may come back with its
//! customer token within `timeouts.reconnect_s` (CONSOLE-9): meanwhile the
//! session stays with its technician, `expires_at` marks the deadline, and
//! the sweeper closes it as `disconnected` once it passes. When the applet
//! is back, both peers get a new relay token and meet again.
//!
//! Sockets are counted per node: a new socket that arrives before the old
//! one's end was noticed keeps the session from being marked away.

use std::collections::HashMap;
use std::sync::Mutex;

use secours_protocol::signaling::{Secret, SignalPayload};

use crate::error::ApiResult;
use crate::events::{Event, Peer};
use crate::state::AppState;
use crate::store::now_ms;

/// Open applet sockets per session, on this node.
#[derive(Debug, Default)]
pub struct AppletSockets(Mutex<HashMap<String, usize>>);

impl AppletSockets {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A socket of `id` opened.
    pub fn opened(&self, id: &str) {
        *self.counts().entry(id.to_owned()).or_default() += 1;
    }

    /// A socket of `id` closed; how many are still open.
    pub fn closed(&self, id: &str) -> usize {
        let mut counts = self.counts();
        let left = counts.get(id).map_or(0, |n| n.saturating_sub(1));
        if left == 0 {
            counts.remove(id);
        } else {
            counts.insert(id.to_owned(), left);
        }
        left
    }
}

/// The applet of a live session is gone: the session waits for it until
/// the deadline. False when the session was not live (it closes instead).
pub async fn applet_away(state: &AppState, id: &str) -> ApiResult<bool> {
    let grace = state.config.timeouts.reconnect_s;
    let moved = sqlx::query(
        "UPDATE support_sessions SET expires_at = $1 \
         WHERE id = $2 AND state IN ('active', 'on_hold') AND expires_at IS NULL",
    )
    .bind(now_ms() + grace * 1000)
    .bind(id)
    .execute(&state.store.pool)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    state
        .bus
        .announce(Event::Warning {
            session_id: id.to_owned(),
            timeout: "reconnect".into(),
            seconds_left: grace,
        })
        .await;
    Ok(true)
}

/// The applet of a session waiting for it is back: the deadline goes and
/// both peers get a new relay token. Returns the technician, if it was.
pub async fn applet_back(state: &AppState, id: &str) -> ApiResult<Option<i64>> {
    let now = now_ms();
    let back: Option<(Option<i64>,)> = sqlx::query_as(
        "UPDATE support_sessions SET expires_at = NULL, last_activity = $1, warned_at = NULL \
         WHERE id = $2 AND state IN ('active', 'on_hold') AND expires_at IS NOT NULL \
         RETURNING tech_id",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(&state.store.pool)
    .await?;
    Ok(back.and_then(|(tech,)| tech))
}

/// Issues a relay token for the session and sends it to both peers: the
/// relay this node runs pairs them (they use it first, then race direct
/// paths).
pub async fn issue_relay(state: &AppState, id: &str) {
    let token = state.hub.issue();
    state.revocations.relay_issued(id, token.clone());
    let relay = SignalPayload::Relay {
        url: format!(
            "{}/relay/v1/ws",
            state
                .config
                .public_url
                .trim_end_matches('/')
                .replacen("http", "ws", 1)
        ),
        token: Secret::new(token.as_str()),
    };
    for to in [Peer::Console, Peer::Applet] {
        state
            .bus
            .announce(Event::Signal {
                session_id: id.to_owned(),
                to,
                payload: relay.clone(),
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_per_session() {
        let s = AppletSockets::default();
        s.opened("a");
        s.opened("a");
        s.opened("b");
        assert_eq!(s.closed("a"), 1);
        assert_eq!(s.closed("a"), 0);
        assert_eq!(s.closed("a"), 0);
        assert_eq!(s.closed("b"), 0);
    }
}
