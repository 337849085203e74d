//! PIN creations coalesced on SQLite: every creation waiting when the writer
//! is free goes into one multi-row INSERT (one statement and one commit for
//! the lot; sqlx hands each statement to its SQLite thread, and those
//! handoffs, not SQLite, were the cost). A failure (a PIN drawn twice among
//! live codes) sends the lot through one-row inserts, so it only affects
//! the job that collided.

use std::collections::HashSet;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// One private session to insert, if its technician may open one.
#[derive(Debug, Clone)]
pub struct PinRow {
    /// Session id.
    pub id: String,
    /// The code.
    pub pin: crate::Secret,
    /// SHA-256 of the link secret.
    pub link_hash: String,
    /// Code expiry (Unix ms).
    pub expires_at: i64,
    /// Now (Unix ms).
    pub now: i64,
    /// The technician.
    pub tech: i64,
}

type Reply = oneshot::Sender<Result<bool, sqlx::Error>>;

/// Most rows in one statement (7 parameters each, far under SQLite's limit).
const MAX_ROWS: usize = 128;

const ONE_ROW: &str = "INSERT INTO support_sessions (id, kind, state, pin, link_hash, expires_at, tech_id, \
     created_at, last_activity) SELECT $1, 'private', 'pending', $2, $3, $4, u.id, $5, $5 \
     FROM users u JOIN tech_groups g ON g.id = u.tech_group_id WHERE u.id = $6 \
     AND u.enabled AND g.enabled AND (g.permissions & $7) <> 0";

/// The queue in front of the coalescing writer.
#[derive(Debug, Clone)]
pub struct PinQueue {
    tx: mpsc::UnboundedSender<(PinRow, Reply)>,
}

impl PinQueue {
    /// Starts the writer; `mask` is the permission bit required.
    pub fn start(pool: AnyPool, mask: i64) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, mask, rx));
        Self { tx }
    }

    /// Inserts `row`: Ok(true) inserted, Ok(false) the technician may not
    /// open private sessions, Err (unique violation: draw another PIN).
    pub async fn insert(&self, row: PinRow) -> Result<bool, sqlx::Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((row, reply))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        rx.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// Waits for a job, then takes every job already waiting (up to MAX_ROWS).
async fn next_batch<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Option<Vec<T>> {
    let mut jobs = vec![rx.recv().await?];
    while jobs.len() < MAX_ROWS {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    Some(jobs)
}

async fn one(pool: &AnyPool, r: &PinRow, mask: i64) -> Result<bool, sqlx::Error> {
    sqlx::query(ONE_ROW)
        .bind(&r.id)
        .bind(r.pin.expose())
        .bind(&r.link_hash)
        .bind(r.expires_at)
        .bind(r.now)
        .bind(r.tech)
        .bind(mask)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1)
}

fn many_sql(n: usize) -> String {
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let b = i * 6;
        values.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6
        ));
    }
    // Placeholders only: every value is bound.
    format!(
        "INSERT INTO support_sessions (id, kind, state, pin, link_hash, expires_at, tech_id, \
         created_at, last_activity) SELECT v.column1, 'private', 'pending', v.column2, v.column3, \
         v.column4, u.id, v.column5, v.column5 FROM (VALUES {}) AS v \
         JOIN users u ON u.id = v.column6 JOIN tech_groups g ON g.id = u.tech_group_id \
         WHERE u.enabled AND g.enabled AND (g.permissions & ${}) <> 0 RETURNING id",
        values.join(", "),
        n * 6 + 1
    )
}

async fn many(pool: &AnyPool, rows: &[PinRow], mask: i64) -> Result<HashSet<String>, sqlx::Error> {
    let sql = many_sql(rows.len());
    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(r.id.clone())
            .bind(r.pin.expose().to_owned())
            .bind(r.link_hash.clone())
            .bind(r.expires_at)
            .bind(r.now)
            .bind(r.tech);
    }
    Ok(q.bind(mask).fetch_all(pool).await?.into_iter().collect())
}

async fn writer(pool: AnyPool, mask: i64, mut rx: mpsc::UnboundedReceiver<(PinRow, Reply)>) {
    while let Some(jobs) = next_batch(&mut rx).await {
        if jobs.len() > 1 {
            let rows: Vec<PinRow> = jobs.iter().map(|(r, _)| r.clone()).collect();
            if let Ok(inserted) = many(&pool, &rows, mask).await {
                for (r, reply) in jobs {
                    let _ = reply.send(Ok(inserted.contains(&r.id)));
                }
                continue;
            }
        }
        for (r, reply) in jobs {
            let _ = reply.send(one(&pool, &r, mask).await);
        }
    }
}

/// One code redemption: the code (PIN, or SHA-256 of a link secret) and what
/// the session becomes.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// Match the link hash instead of the PIN.
    pub by_link: bool,
    /// The PIN or link hash.
    pub code: crate::Secret,
    /// Customer name.
    pub name: String,
    /// SHA-256 of the customer token (unique: it identifies the job's row).
    pub token_hash: String,
    /// Connecting deadline.
    pub connecting: i64,
    /// Now.
    pub now: i64,
}

/// The redeemed session: id, technician, its nickname.
pub type Redeemed = Option<(String, Option<i64>, Option<String>)>;

type RedeemReply = oneshot::Sender<Result<Redeemed, sqlx::Error>>;

macro_rules! redeem_one {
    ($column:literal) => {
        concat!(
            "UPDATE support_sessions SET pin = NULL, link_hash = NULL, state = 'connecting', ",
            "customer_name = $1, customer_token_hash = $2, expires_at = $3, last_activity = $4, ",
            "warned_at = NULL WHERE ", $column, " = $5 AND state = 'pending' AND expires_at > $4 ",
            "RETURNING id, tech_id, (SELECT CASE WHEN u.nickname = '' THEN u.name ELSE u.nickname END ",
            "FROM users u WHERE u.id = support_sessions.tech_id)"
        )
    };
}

/// The SQL redeeming one code (shared with the PostgreSQL path).
pub fn redeem_sql(by_link: bool) -> &'static str {
    if by_link {
        redeem_one!("link_hash")
    } else {
        redeem_one!("pin")
    }
}

async fn redeem_single(pool: &AnyPool, r: &Redemption) -> Result<Redeemed, sqlx::Error> {
    sqlx::query_as(redeem_sql(r.by_link))
        .bind(&r.name)
        .bind(&r.token_hash)
        .bind(r.connecting)
        .bind(r.now)
        .bind(r.code.expose())
        .fetch_optional(pool)
        .await
}

/// Several PIN redemptions in one UPDATE ... FROM (VALUES ...); when two
/// jobs name the same code, one row matches and only one of them wins.
fn redeem_many_sql(n: usize) -> String {
    let values: Vec<String> = (0..n)
        .map(|i| {
            let b = i * 5;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            )
        })
        .collect();
    // Placeholders only: every value is bound.
    format!(
        "UPDATE support_sessions SET pin = NULL, link_hash = NULL, state = 'connecting', \
         customer_name = v.column2, customer_token_hash = v.column3, expires_at = v.column4, \
         last_activity = v.column5, warned_at = NULL FROM (VALUES {}) AS v \
         WHERE support_sessions.pin = v.column1 AND support_sessions.state = 'pending' \
         AND support_sessions.expires_at > v.column5 \
         RETURNING support_sessions.customer_token_hash, support_sessions.id, support_sessions.tech_id, \
         (SELECT CASE WHEN u.nickname = '' THEN u.name ELSE u.nickname END FROM users u \
          WHERE u.id = support_sessions.tech_id)",
        values.join(", ")
    )
}

type RedeemRow = (String, String, Option<i64>, Option<String>);

async fn redeem_many(pool: &AnyPool, rows: &[Redemption]) -> Result<Vec<RedeemRow>, sqlx::Error> {
    let mut q = sqlx::query_as::<_, RedeemRow>(sqlx::AssertSqlSafe(redeem_many_sql(rows.len())));
    for r in rows {
        q = q
            .bind(r.code.expose().to_owned())
            .bind(r.name.clone())
            .bind(r.token_hash.clone())
            .bind(r.connecting)
            .bind(r.now);
    }
    q.fetch_all(pool).await
}

async fn redeemer(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<(Redemption, RedeemReply)>) {
    while let Some(jobs) = next_batch(&mut rx).await {
        let (pins, links): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(r, _)| !r.by_link);
        if pins.len() > 1 {
            let rows: Vec<Redemption> = pins.iter().map(|(r, _)| r.clone()).collect();
            if let Ok(done) = redeem_many(&pool, &rows).await {
                for (r, reply) in pins {
                    let hit = done
                        .iter()
                        .find(|d| d.0 == r.token_hash)
                        .map(|d| (d.1.clone(), d.2, d.3.clone()));
                    let _ = reply.send(Ok(hit));
                }
                for (r, reply) in links {
                    let _ = reply.send(redeem_single(&pool, &r).await);
                }
                continue;
            }
        }
        for (r, reply) in pins.into_iter().chain(links) {
            let _ = reply.send(redeem_single(&pool, &r).await);
        }
    }
}

/// The queue in front of the coalescing redeemer.
#[derive(Debug, Clone)]
pub struct RedeemQueue {
    tx: mpsc::UnboundedSender<(Redemption, RedeemReply)>,
}

impl RedeemQueue {
    /// Starts the writer.
    pub fn start(pool: AnyPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(redeemer(pool, rx));
        Self { tx }
    }

    /// Redeems one code; None when it is wrong, used or expired.
    pub async fn redeem(&self, r: Redemption) -> Result<Redeemed, sqlx::Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((r, reply))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        rx.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_row_statements_do_what_single_ones_do() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
        let store = Store::open(&url, 1).await.unwrap();
        let pool = &store.pool;
        for q in [
            "INSERT INTO tech_groups (id, name, permissions) VALUES (1, 'yes', 2048), (2, 'no', 0)",
            "INSERT INTO users (id, role, name, email, password_hash, password_changed_at, tech_group_id, created_at) \
             VALUES (1, 'technician', 'A', 'a@x', '', 0, 1, 0), (2, 'technician', 'B', 'b@x', '', 0, 2, 0)",
        ] {
            sqlx::query(q).execute(pool).await.unwrap();
        }
        let row = |id: &str, pin: &str, tech: i64| PinRow {
            id: id.into(),
            pin: pin.into(),
            link_hash: format!("l{id}"),
            expires_at: 10_000,
            now: 1,
            tech,
        };
        let mask = 1 << 11;
        let done = many(
            pool,
            &[
                row("s1", "111111", 1),
                row("s2", "222222", 2),
                row("s3", "333333", 1),
            ],
            mask,
        )
        .await
        .unwrap();
        assert_eq!(
            done,
            HashSet::from(["s1".to_owned(), "s3".to_owned()]),
            "the refused one alone"
        );
        // A live code drawn again fails the statement as a whole.
        assert!(
            many(
                pool,
                &[row("s4", "444444", 1), row("s5", "111111", 1)],
                mask
            )
            .await
            .is_err()
        );
        let redeem = |pin: &str, token: &str| Redemption {
            by_link: false,
            code: pin.into(),
            name: "c".into(),
            token_hash: token.into(),
            connecting: 5_000,
            now: 2,
        };
        let got = redeem_many(
            pool,
            &[
                redeem("111111", "t1"),
                redeem("111111", "t2"),
                redeem("333333", "t3"),
                redeem("999999", "t4"),
            ],
        )
        .await
        .unwrap();
        let mut tokens: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
        tokens.sort_unstable();
        assert_eq!(
            tokens.len(),
            2,
            "one winner for the shared code, none for the wrong one: {got:?}"
        );
        assert!(tokens.contains(&"t3"));
        assert!(tokens.contains(&"t1") ^ tokens.contains(&"t2"));
        assert_eq!(
            redeem_single(pool, &redeem("333333", "t5")).await.unwrap(),
            None,
            "single use"
        );
    }
}
