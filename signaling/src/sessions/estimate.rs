//! APPLET-4: the customer's estimated wait, from recent pick-up times,
//! cached a few seconds per technician or channel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::AnyPool;

use crate::error::ApiResult;

/// Average seconds from entering a queue to pick-up over the last sessions
/// matching the filter; none without history.
async fn average_wait(pool: &AnyPool, sql: &'static str, key: i64) -> ApiResult<Option<i64>> {
    let waits: Vec<i64> = sqlx::query_scalar(sql).bind(key).fetch_all(pool).await?;
    if waits.is_empty() {
        return Ok(None);
    }
    Ok(Some(waits.iter().sum::<i64>() / waits.len() as i64 / 1000))
}

/// APPLET-4 for a private session: this technician's recent pick-up times.
pub async fn estimate_for_tech(pool: &AnyPool, tech: i64) -> ApiResult<Option<i64>> {
    average_wait(
        pool,
        "SELECT picked_at - waiting_since FROM support_sessions WHERE tech_id = $1 \
        AND picked_at IS NOT NULL AND waiting_since IS NOT NULL AND is_test = FALSE \
        ORDER BY picked_at DESC LIMIT 20",
        tech,
    )
    .await
}

/// APPLET-4 for a channel session: the channel's recent pick-up times.
pub async fn estimate_for_channel(pool: &AnyPool, channel: i64) -> ApiResult<Option<i64>> {
    average_wait(
        pool,
        "SELECT picked_at - waiting_since FROM support_sessions WHERE channel_id = $1 \
        AND picked_at IS NOT NULL AND waiting_since IS NOT NULL AND is_test = FALSE \
        ORDER BY picked_at DESC LIMIT 20",
        channel,
    )
    .await
}

/// (is a technician, id).
type EstimateKey = (bool, i64);

/// APPLET-4 estimates, recomputed at most every few seconds per technician
/// or channel: an estimate needs no more, and the customer-facing hot path
/// stays at one statement.
#[derive(Debug, Default)]
pub struct EstimateCache {
    entries: std::sync::Mutex<HashMap<EstimateKey, (Instant, Option<i64>)>>,
}

const ESTIMATE_TTL: Duration = Duration::from_secs(5);

impl EstimateCache {
    async fn get(&self, key: (bool, i64), pool: &AnyPool) -> ApiResult<Option<i64>> {
        if let Ok(map) = self.entries.lock()
            && let Some((at, v)) = map.get(&key)
            && at.elapsed() < ESTIMATE_TTL
        {
            return Ok(*v);
        }
        let v = if key.0 {
            estimate_for_tech(pool, key.1).await?
        } else {
            estimate_for_channel(pool, key.1).await?
        };
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(key, (Instant::now(), v));
        }
        Ok(v)
    }
    /// Drops the cached estimates of a channel and a technician.
    pub fn forget(&self, channel: Option<i64>, tech: Option<i64>) {
        if let Ok(mut map) = self.entries.lock() {
            if let Some(c) = channel {
                map.remove(&(false, c));
            }
            if let Some(t) = tech {
                map.remove(&(true, t));
            }
        }
    }
    /// For a private session's technician.
    pub async fn for_tech(&self, pool: &AnyPool, tech: i64) -> ApiResult<Option<i64>> {
        self.get((true, tech), pool).await
    }
    /// For a channel.
    pub async fn for_channel(&self, pool: &AnyPool, channel: i64) -> ApiResult<Option<i64>> {
        self.get((false, channel), pool).await
    }
}
