//! Failure counters per key (account, address) in fixed windows, in the
//! database so that every node sees the same count.

use sqlx::AnyPool;

use crate::error::{ApiError, ApiResult};

/// How many failures a key may have per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures allowed in one window.
    pub max_failures: i64,
    /// Window length.
    pub window_ms: i64,
}

/// Refuses when `key` has used up its failures in the current window.
pub async fn check(pool: &AnyPool, key: &str, limit: Limit, now: i64) -> ApiResult<()> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT failures, window_start FROM throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?;
    match row {
        Some((failures, start))
            if start + limit.window_ms > now && failures >= limit.max_failures =>
        {
            Err(ApiError::throttled(
                (start + limit.window_ms - now) / 1000 + 1,
            ))
        }
        _ => Ok(()),
    }
}

/// Counts one failure for `key`.
pub async fn fail(pool: &AnyPool, key: &str, limit: Limit, now: i64) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO throttle (key, failures, window_start) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN throttle.window_start + $3 <= $2 THEN 1 ELSE throttle.failures + 1 END, \
           window_start = CASE WHEN throttle.window_start + $3 <= $2 THEN $2 ELSE throttle.window_start END",
    )
    .bind(key)
    .bind(now)
    .bind(limit.window_ms)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets `key`'s failures (after a success on an account).
pub async fn clear(pool: &AnyPool, key: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
