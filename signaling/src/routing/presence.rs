//! Technician status (SESS-9): what a technician says (available, busy,
//! away) and whether a console of it is open, which every node knows from
//! a lease in the database that open consoles renew.

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

/// A console of `user` opened, or renews its lease: it is online and
/// (when `active`) it did something.
pub async fn console_seen(state: &AppState, user: i64, active: bool) -> ApiResult<()> {
    let now = now_ms();
    let sql = if active {
        "UPDATE users SET console_seen = $1, last_active = $1 WHERE id = $2"
    } else {
        "UPDATE users SET console_seen = $1 WHERE id = $2"
    };
    sqlx::query(sql)
        .bind(now)
        .bind(user)
        .execute(&state.store.pool)
        .await?;
    Ok(())
}

/// A console of `user` closed. Another console of the same account renews
/// the lease again within `presence.refresh_ms`.
pub async fn console_closed(state: &AppState, user: i64) -> ApiResult<()> {
    sqlx::query("UPDATE users SET console_seen = NULL WHERE id = $1")
        .bind(user)
        .execute(&state.store.pool)
        .await?;
    Ok(())
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
