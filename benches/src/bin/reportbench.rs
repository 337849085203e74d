//! `reportbench`: how long the sessions report (REPORT-1) takes over one
//! year of `--sessions` sessions (default 1,000,000), on SQLite and, when
//! `--postgres` (or `SECOURS_TEST_POSTGRES`) names a server, on PostgreSQL,
//! beside a reference measured in the same run on the same table: a plain
//! `SELECT COUNT(*)` over every session.
//!
//! The data is loaded through the server's own migrations (so its indexes
//! are the server's) with multi-row INSERTs in large transactions: ten
//! technician groups of twenty technicians, sessions spread evenly over the
//! year with pick-up, handling, close reasons, some missed, some failed,
//! some with custom fields.
//!
//! Figures: the sessions report for the whole organisation (summary over
//! the year plus the first 1,000 rows), the same for one group of the
//! chart, the last 30 days, and the CSV export of the first 200,000 rows.
//! A second reference reads one column of every row (the least a summary
//! over the whole year must do).
//!
//! `cargo run --release -p secours-benches --bin reportbench -- --sessions 1000000`

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use secours_signaling::auth::Caller;
use secours_signaling::model::Role;
use secours_signaling::reports::{self, Node, Query, ReportKind};
use secours_signaling::setup::{self, FirstMaster};
use secours_signaling::store::audit::Actor;
use secours_signaling::store::{Store, now_ms};
use sqlx::Connection;

#[derive(Debug, Parser)]
struct Args {
    /// Sessions over the year.
    #[arg(long, default_value_t = 1_000_000)]
    sessions: u64,
    /// A PostgreSQL server URL to also measure on (a database is created and dropped).
    #[arg(long, env = "SECOURS_TEST_POSTGRES")]
    postgres: Option<String>,
    /// Runs of each figure (the median is printed).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const GROUPS: i64 = 10;
const TECHS_PER_GROUP: i64 = 20;
const YEAR_MS: i64 = 365 * 86_400_000;
const ROWS_PER_INSERT: u64 = 1000;
const ROWS_PER_TX: u64 = 100_000;

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        bench("SQLite", &url, &args).await?;
        if let Some(admin) = &args.postgres {
            let name = format!("secours_reportbench_{}", std::process::id());
            let mut c = sqlx::PgConnection::connect(admin)
                .await
                .context("connecting to PostgreSQL")?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut c)
                .await?;
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .context("the PostgreSQL URL names no database")?;
            let result = bench("PostgreSQL", &format!("{base}/{name}"), &args).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await?;
            result?;
        } else {
            println!("PostgreSQL: skipped (no --postgres / SECOURS_TEST_POSTGRES)");
        }
        Ok(())
    })
}

async fn bench(label: &str, url: &str, args: &Args) -> Result<()> {
    let store = Store::open(url, 4).await?;
    setup::create(
        &store,
        &FirstMaster {
            org_name: "Bench".into(),
            name: "Root".into(),
            email: "root@bench.test".into(),
            password: "Sample1%x".into(),
        },
        &Actor::system("reportbench"),
    )
    .await?;
    let loaded = Instant::now();
    let (start, end) = load(&store, args.sessions).await?;
    println!(
        "{label}: loaded {} sessions in {:.1} s",
        args.sessions,
        loaded.elapsed().as_secs_f64()
    );
    let master: (i64,) = sqlx::query_as("SELECT id FROM users WHERE role = 'master'")
        .fetch_one(&store.pool)
        .await?;
    let caller = Caller {
        id: master.0,
        role: Role::Master,
        email: "root@bench.test".into(),
        tech_group_id: None,
        token_hash: String::new(),
        api_key: None,
    };
    let pool = &store.pool;
    let reference = median(args.runs, || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM support_sessions")
            .fetch_one(pool)
            .await?;
        anyhow::ensure!(n as u64 == args.sessions, "{n} sessions");
        Ok(())
    })
    .await?;
    // A second reference: every row read (what an aggregate over the year must do).
    let scan = median(args.runs, || async {
        let _: Option<i64> =
            sqlx::query_scalar("SELECT MAX(closed_at - picked_at) FROM support_sessions")
                .fetch_one(pool)
                .await?;
        Ok(())
    })
    .await?;
    let q = |node, limit| Query {
        kind: ReportKind::Sessions,
        from: start,
        to: end,
        node,
        limit,
    };
    let org = median(args.runs, || async {
        let r = reports::build(pool, &caller, &q(Node::Org, 1000)).await?;
        anyhow::ensure!(r.summary[0].value == args.sessions.to_string());
        Ok(())
    })
    .await?;
    let group = median(args.runs, || async {
        let r = reports::build(pool, &caller, &q(Node::Group(1), 1000)).await?;
        anyhow::ensure!(r.rows.len() == 1000);
        Ok(())
    })
    .await?;
    // The last month of the year: what the index on created_at is for.
    let month = median(args.runs, || async {
        let mut one = q(Node::Org, 1000);
        one.from = end - 30 * 86_400_000;
        let r = reports::build(pool, &caller, &one).await?;
        anyhow::ensure!(r.rows.len() == 1000);
        Ok(())
    })
    .await?;
    let csv = median(args.runs, || async {
        let r = reports::build(pool, &caller, &q(Node::Org, 200_000)).await?;
        let bytes = reports::to_csv(&r)?;
        anyhow::ensure!(!bytes.is_empty());
        Ok(())
    })
    .await?;
    // The whole year as CSV, streamed a page at a time (what the API sends).
    let streamed = median(args.runs, || async {
        use futures_util::StreamExt;
        let stream = reports::csv_stream(pool.clone(), &caller, &q(Node::Org, 1), None)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let mut stream = std::pin::pin!(stream);
        let mut lines = 0_u64;
        while let Some(chunk) = stream.next().await {
            lines += chunk?.iter().filter(|b| **b == b'\n').count() as u64;
        }
        anyhow::ensure!(lines == args.sessions + 1, "{lines} lines");
        Ok(())
    })
    .await?;
    println!(
        "{label}: reference COUNT(*) over {} sessions: {:.0} ms",
        args.sessions,
        ms(reference)
    );
    println!(
        "{label}: reference full scan reading a column of every row: {:.0} ms",
        ms(scan)
    );
    println!(
        "{label}: sessions report, one year, whole organisation (summary + 1,000 rows): {:.0} ms",
        ms(org)
    );
    println!(
        "{label}: sessions report, one year, one group of the chart: {:.0} ms",
        ms(group)
    );
    println!(
        "{label}: sessions report, last 30 days, whole organisation: {:.0} ms",
        ms(month)
    );
    println!(
        "{label}: sessions report as CSV, first 200,000 rows (built in memory): {:.0} ms",
        ms(csv)
    );
    println!(
        "{label}: sessions report as CSV, the whole year streamed ({} rows): {:.0} ms",
        args.sessions,
        ms(streamed)
    );
    store.pool.close().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn median<F, Fut>(runs: usize, f: F) -> Result<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Groups, technicians and `n` sessions over the year ending now; the range.
async fn load(store: &Store, n: u64) -> Result<(i64, i64)> {
    let pool = &store.pool;
    let now = now_ms();
    let start = now - YEAR_MS;
    let mut tx = pool.begin().await?;
    for g in 1..=GROUPS {
        sqlx::query("INSERT INTO tech_groups (id, name, permissions) VALUES ($1, $2, 0)")
            .bind(g)
            .bind(format!("Group {g}"))
            .execute(&mut *tx)
            .await?;
    }
    // Technicians: ids from 1000, twenty per group.
    for t in 0..GROUPS * TECHS_PER_GROUP {
        sqlx::query(
            "INSERT INTO users (id, role, name, email, password_hash, password_changed_at, \
             tech_group_id, created_at) VALUES ($1, 'technician', $2, $3, 'x', 0, $4, 0)",
        )
        .bind(1000 + t)
        .bind(format!("Tech {t}"))
        .bind(format!("t{t}@bench.test"))
        .bind(1 + t % GROUPS)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let step = YEAR_MS / i64::try_from(n.max(1))?;
    let mut i: u64 = 0;
    while i < n {
        let mut tx = pool.begin().await?;
        let tx_end = (i + ROWS_PER_TX).min(n);
        while i < tx_end {
            let batch_end = (i + ROWS_PER_INSERT).min(tx_end);
            let mut sql = String::with_capacity(256 * ROWS_PER_INSERT as usize);
            sql.push_str(
                "INSERT INTO support_sessions (id, kind, state, channel_id, tech_id, customer_name, \
                 customer_fields, customer_token_hash, created_at, waiting_since, picked_at, \
                 last_activity, closed_at, close_reason) VALUES ",
            );
            for k in i..batch_end {
                let ki = i64::try_from(k)?;
                let created = start + ki * step;
                let tech = 1000 + ki % (GROUPS * TECHS_PER_GROUP);
                // One in twenty missed, one in fifty failed, the rest handled.
                let (tech, picked, reason) = match k % 100 {
                    0..=4 => ("NULL".to_owned(), "NULL".to_owned(), "timed_out"),
                    5 | 6 => (
                        tech.to_string(),
                        (created + 20_000).to_string(),
                        "disconnected",
                    ),
                    _ => (
                        tech.to_string(),
                        (created + 30_000 + ki % 60_000).to_string(),
                        "technician",
                    ),
                };
                let fields = if k % 10 == 0 {
                    r#"{"ticket":"T-1"}"#
                } else {
                    "{}"
                };
                if k > i {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('{k:032x}', 'channel', 'closed', NULL, {tech}, 'Customer {k}', '{fields}', 'h', \
                     {created}, {created}, {picked}, {closed}, {closed}, '{reason}')",
                    closed = created + 600_000,
                ));
            }
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
            i = batch_end;
        }
        tx.commit().await?;
    }
    // Planner statistics, as a server that has run for a year has them.
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok((start, now + 1))
}
