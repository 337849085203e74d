//! Attempt counters per key (an address, an account, an address and account
//! pair) in fixed windows, in the database so that every node sees the same
//! count.
//!
//! An attempt is taken *before* the guess is evaluated, by one statement
//! that counts it only while the window has room: concurrent requests
//! cannot all pass a check before any failure is counted, so at most
//! `max_failures` guesses per window are ever evaluated. A successful
//! attempt is given back; a failed one stays counted.

use std::net::IpAddr;

use crate::error::{ApiError, ApiResult};
use crate::store::Store;

/// How many failures a key may have per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures allowed in one window.
    pub max_failures: i64,
    /// Window length.
    pub window_ms: i64,
}

/// An attempt counted against a key; give it back if it succeeded.
#[derive(Debug)]
#[must_use = "a successful attempt is given back"]
pub struct Attempt {
    key: String,
    window_start: i64,
}

/// The throttling key of an address: IPv4 as is, IPv6 by its /64 (one
/// subscriber usually holds a whole /64, so its addresses are one key).
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// Counts one attempt for `key`, or refuses (429) when its window is full.
/// One statement: the count and the check cannot be separated by another
/// request, on SQLite or PostgreSQL.
pub async fn take(store: &Store, key: &str, limit: Limit, now: i64) -> ApiResult<Attempt> {
    let owned = key.to_owned();
    let started: Option<i64> = store
        .hot_write(move |c| {
            let key = owned.clone();
            Box::pin(async move {
                sqlx::query_scalar(
                    "INSERT INTO throttle (key, failures, window_start) VALUES ($1, 1, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN throttle.window_start + $3 <= $2 THEN 1 \
                                  ELSE throttle.failures + 1 END, \
                       window_start = CASE WHEN throttle.window_start + $3 <= $2 THEN $2 \
                                      ELSE throttle.window_start END \
                     WHERE throttle.window_start + $3 <= $2 OR throttle.failures < $4 \
                     RETURNING window_start",
                )
                .bind(key)
                .bind(now)
                .bind(limit.window_ms)
                .bind(limit.max_failures)
                .fetch_optional(&mut *c)
                .await
            })
        })
        .await?;
    match started {
        Some(window_start) => Ok(Attempt {
            key: key.to_owned(),
            window_start,
        }),
        None => {
            let start: Option<i64> =
                sqlx::query_scalar("SELECT window_start FROM throttle WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&store.pool)
                    .await?;
            let left = start.map_or(limit.window_ms, |s| s + limit.window_ms - now);
            Err(ApiError::throttled(left.max(0) / 1000 + 1))
        }
    }
}

impl Attempt {
    /// The attempt succeeded: it does not count (in the window it was taken in).
    pub async fn give_back(self, store: &Store) -> ApiResult<()> {
        let Attempt { key, window_start } = self;
        store
            .hot_write(move |c| {
                let key = key.clone();
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE throttle SET failures = failures - 1 \
                         WHERE key = $1 AND window_start = $2 AND failures > 0",
                    )
                    .bind(key)
                    .bind(window_start)
                    .execute(&mut *c)
                    .await
                })
            })
            .await?;
        Ok(())
    }

    /// The attempt failed: it stays counted.
    pub fn keep(self) {}
}

/// Forgets `key`'s failures (a person's own typos, after it logged in).
pub async fn clear(store: &Store, key: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM throttle WHERE key = $1")
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_by_its_64() {
        let k = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(k("192.0.2.1"), "192.0.2.1");
        assert_eq!(k("::ffff:192.0.2.1"), "192.0.2.1");
    }
}
