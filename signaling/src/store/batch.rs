//! Group commit for SQLite. A commit costs ~130 us on this kind of machine
//! while a statement inside a transaction costs ~20 us, so hot writes (PIN
//! codes) queue here and one writer task runs every waiting job in a single
//! transaction. Results reach callers only after the commit. If any job of a
//! batch fails, the batch is rolled back and each job re-runs alone, so one
//! failure (a PIN collision) never affects another caller. On PostgreSQL,
//! which handles concurrent writers itself, jobs run directly.

use std::any::Any as StdAny;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

type Output = Result<Box<dyn StdAny + Send>, sqlx::Error>;
type Op = Arc<dyn for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, Output> + Send + Sync>;

struct Job {
    op: Op,
    reply: oneshot::Sender<Output>,
}

/// Most jobs in one transaction.
const MAX_BATCH: usize = 512;

/// The queue in front of the writer task.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl Batcher {
    /// Starts the writer task on `pool`.
    pub fn start(pool: AnyPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, rx));
        Self { tx }
    }

    /// Runs `op` in the next batch; it may run twice (once in a batch that
    /// is rolled back, once alone), so it must only touch the database.
    pub async fn run<R, F>(&self, op: F) -> Result<R, sqlx::Error>
    where
        R: Send + 'static,
        F: for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, Result<R, sqlx::Error>>
            + Send
            + Sync
            + 'static,
    {
        let op: Op = Arc::new(move |c| {
            let fut = op(c);
            Box::pin(async move { fut.await.map(|r| Box::new(r) as Box<dyn StdAny + Send>) })
        });
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { op, reply })
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let out = rx.await.map_err(|_| sqlx::Error::PoolClosed)??;
        out.downcast::<R>()
            .map(|b| *b)
            .map_err(|_| sqlx::Error::Protocol("batch result of the wrong type".into()))
    }
}

async fn alone(conn: &mut AnyConnection, op: &Op) -> Output {
    let mut tx = conn.begin().await?;
    let out = op(&mut tx).await?;
    tx.commit().await?;
    Ok(out)
}

async fn writer(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(sqlx::Error::Protocol(msg.clone())));
                }
                continue;
            }
        };
        if jobs.len() > 1 {
            let mut outputs = Vec::with_capacity(jobs.len());
            let batch: Result<(), sqlx::Error> = async {
                let mut tx = conn.begin().await?;
                for j in &jobs {
                    outputs.push((j.op)(&mut tx).await?);
                }
                tx.commit().await
            }
            .await;
            if batch.is_ok() {
                for (j, out) in jobs.into_iter().zip(outputs) {
                    let _ = j.reply.send(Ok(out));
                }
                continue;
            }
        }
        for j in jobs {
            let out = alone(&mut conn, &j.op).await;
            let _ = j.reply.send(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_failure_does_not_sink_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let store = Store::open(&url, 1).await.unwrap();
        // 300 concurrent inserts, every tenth key a duplicate of the one before.
        let mut tasks = Vec::new();
        for i in 0..300i64 {
            let store = store.clone();
            let key = if i % 10 == 9 {
                format!("k{}", i - 1)
            } else {
                format!("k{i}")
            };
            tasks.push(tokio::spawn(async move {
                store
                    .hot_write(move |c| {
                        let key = key.clone();
                        Box::pin(async move {
                            sqlx::query("INSERT INTO throttle (key, failures, window_start) VALUES ($1, 0, 0)")
                                .bind(key)
                                .execute(&mut *c)
                                .await
                                .map(|r| r.rows_affected())
                        })
                    })
                    .await
            }));
        }
        let mut ok = 0;
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(1) => ok += 1,
                Ok(n) => panic!("{n} rows"),
                Err(e) => {
                    assert!(
                        e.as_database_error()
                            .is_some_and(|d| d.is_unique_violation()),
                        "{e}"
                    );
                    failed += 1;
                }
            }
        }
        assert_eq!((ok, failed), (270, 30));
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(rows, 270, "every success was committed, no failure was");
    }
}
