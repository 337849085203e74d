//! Technician status (SESS-9): what a technician says (available, busy,
//! away) and whether a console of it is open, which every node knows from
//! a lease in the database that open consoles renew.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::now_ms;

/// What a technician says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Takes sessions, auto-assigned ones too.
    #[default]
    Available,
    /// Works, but is given no session automatically.
    Busy,
    /// Not at its desk: private sessions follow the group's SESS-6 rule.
    Away,
}

impl Status {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Busy => "busy",
            Self::Away => "away",
        }
    }

    /// From the stored form (unknown: available).
    pub fn parse(s: &str) -> Self {
        match s {
            "busy" => Self::Busy,
            "away" => Self::Away,
            _ => Self::Available,
        }
    }
}

/// Whether a lease last renewed at `seen` still holds at `now`.
pub fn is_online(state: &AppState, seen: Option<i64>, now: i64) -> bool {
    seen.is_some_and(|s| s > now - state.config.presence.lease_ms)
}

/// The oldest lease that still holds now.
pub(crate) fn lease_cut(state: &AppState, now: i64) -> i64 {
    now - state.config.presence.lease_ms
}

/// Whether a technician of this channel (its groups, less exclusions) has a
/// console open and is available.
pub async fn channel_has_available(state: &AppState, channel: i64) -> ApiResult<bool> {
    let hit: Option<i64> = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN tech_groups g ON g.id = u.tech_group_id \
         WHERE u.role = 'technician' AND u.enabled AND g.enabled AND u.status = 'available' \
         AND u.console_seen > $2 \
         AND u.tech_group_id IN (SELECT group_id FROM channel_groups WHERE channel_id = $1) \
         AND u.id NOT IN (SELECT user_id FROM channel_exclusions WHERE channel_id = $1) LIMIT 1",
    )
    .bind(channel)
    .bind(lease_cut(state, now_ms()))
    .fetch_optional(&state.store.pool)
    .await?;
    Ok(hit.is_some())
}

/// The consoles open on this node, per technician: one renewal per
/// technician and interval whatever its number of consoles, and a console
/// that closes takes the technician offline only if it was its last here.
#[derive(Debug, Default)]
pub struct Consoles(Mutex<HashMap<i64, usize>>);

impl Consoles {
    fn opened(&self, user: i64) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(user).or_default() += 1;
        }
    }

    /// Consoles of `user` still open here.
    fn closed(&self, user: i64) -> usize {
        let Ok(mut m) = self.0.lock() else { return 0 };
        let left = m.get(&user).map_or(0, |n| n.saturating_sub(1));
        if left == 0 {
            m.remove(&user);
        } else {
            m.insert(user, left);
        }
        left
    }

    fn users(&self) -> Vec<i64> {
        self.0
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }
}

/// A console of `user` opened on this node: it is online and active.
pub async fn console_opened(state: &AppState, user: i64) {
    state.consoles.opened(user);
    let now = now_ms();
    let r = sqlx::query("UPDATE users SET console_seen = $1, last_active = $1 WHERE id = $2")
        .bind(now)
        .bind(user)
        .execute(&state.store.pool)
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, user, "console presence not recorded");
    }
}

/// A console of `user` closed on this node. Consoles of the same account on
/// other nodes renew the lease again within `presence.refresh_ms`.
pub async fn console_closed(state: &AppState, user: i64) {
    if state.consoles.closed(user) > 0 {
        return;
    }
    let r = sqlx::query("UPDATE users SET console_seen = NULL WHERE id = $1")
        .bind(user)
        .execute(&state.store.pool)
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, user, "console presence not cleared");
    }
}

/// Renews, every `presence.refresh_ms`, the lease of every technician with
/// a console open on this node (one transaction per round).
pub async fn run_renewal(state: AppState) {
    let every = std::time::Duration::from_millis(state.config.presence.refresh_ms.max(10));
    loop {
        tokio::time::sleep(every).await;
        let users = state.consoles.users();
        if users.is_empty() {
            continue;
        }
        if let Err(e) = renew(&state, &users).await {
            tracing::warn!(error = %e, "console presence not renewed");
        }
    }
}

async fn renew(state: &AppState, users: &[i64]) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = state.store.pool.begin().await?;
    for u in users {
        sqlx::query("UPDATE users SET console_seen = $1 WHERE id = $2")
            .bind(now)
            .bind(u)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// The technician did something (the idle logout counts from here).
pub async fn activity(state: &AppState, user: i64) -> ApiResult<()> {
    sqlx::query("UPDATE users SET last_active = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(user)
        .execute(&state.store.pool)
        .await?;
    Ok(())
}

/// Sets what the technician says of itself.
pub async fn set_status(state: &AppState, user: i64, status: Status) -> ApiResult<()> {
    sqlx::query("UPDATE users SET status = $1, last_active = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now_ms())
        .bind(user)
        .execute(&state.store.pool)
        .await?;
    Ok(())
}

/// One technician as administrators watch it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TechStatus {
    /// Account.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Its technician group.
    pub group_id: i64,
    /// What it says of itself.
    pub status: Status,
    /// A console of it is open.
    pub online: bool,
    /// Sessions it holds (active or on hold).
    pub sessions: i64,
    /// Its group's maximum of auto-assigned sessions; 0: no limit.
    pub max_sessions: i64,
    /// Its last activity, Unix milliseconds.
    pub last_active: Option<i64>,
}

type Row = (
    i64,
    String,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    String,
);

/// Every technician of the groups `scope` covers.
pub async fn list(state: &AppState, scope: &crate::scope::Scope) -> ApiResult<Vec<TechStatus>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.id, u.name, u.tech_group_id, u.status, u.console_seen, u.last_active, \
           (SELECT COUNT(*) FROM support_sessions s WHERE s.tech_id = u.id \
             AND s.state IN ('active', 'on_hold')), g.routing \
         FROM users u JOIN tech_groups g ON g.id = u.tech_group_id \
         WHERE u.role = 'technician' ORDER BY u.name, u.id LIMIT 10000",
    )
    .fetch_all(&state.store.pool)
    .await?;
    let now = now_ms();
    Ok(rows
        .into_iter()
        .filter(|r| scope.has(r.2))
        .map(
            |(id, name, group_id, status, seen, last_active, sessions, routing)| {
                let r: super::GroupRouting = super::parse(&routing);
                TechStatus {
                    id,
                    name,
                    group_id,
                    status: Status::parse(&status),
                    online: is_online(state, seen, now),
                    sessions,
                    max_sessions: r.max_sessions,
                    last_active,
                }
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_console_of_a_node_takes_the_technician_offline() {
        let c = Consoles::default();
        c.opened(7);
        c.opened(7);
        c.opened(8);
        assert_eq!(c.closed(7), 1);
        let mut users = c.users();
        users.sort_unstable();
        assert_eq!(users, vec![7, 8]);
        assert_eq!(c.closed(7), 0);
        assert_eq!(c.users(), vec![8]);
        assert_eq!(c.closed(9), 0, "an unknown console is no underflow");
    }
}
