//! The sessions report's CSV streams (REPORT-1): more rows than one read
//! page, sessions sharing a creation time across page boundaries, each
//! exactly once and in order, on SQLite and PostgreSQL; `limit` still caps
//! it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;

/// More than two of the stream's 5,000-row pages.
const ROWS: i64 = 12_345;

async fn fill(db: &Db) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let start = 1_700_000_000_000_i64;
    let mut i = 0;
    while i < ROWS {
        let end = (i + 500).min(ROWS);
        let values: Vec<String> = (i..end)
            // Three sessions per millisecond: ties the cursor must break by id.
            .map(|k| {
                format!(
                    "('{k:032x}', 'private', 'closed', 'Customer {k}', {created}, {created})",
                    created = start + k / 3
                )
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO support_sessions (id, kind, state, customer_name, created_at, \
             last_activity) VALUES {}",
            values.join(",")
        )))
        .execute(&pool)
        .await
        .unwrap();
        i = end;
    }
    start
}

async fn csv(h: &Harness, query: &str) -> Vec<csv::StringRecord> {
    let resp = h
        .http
        .get(format!("{}/api/v1/reports/sessions/csv?{query}", h.base))
        .bearer_auth(&h.master)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-secours-truncated"], "false");
    let text = resp.text().await.unwrap();
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect()
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let start = fill(db).await;
    let range = format!("from={start}&to={}", start + ROWS);
    let rows = csv(&h, &range).await;
    assert_eq!(rows.len() as i64, ROWS, "every session once");
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(&r[0], format!("{k:032x}"), "row {k} in order");
        assert_eq!(&r[6], format!("Customer {k}"));
    }
    let capped = csv(&h, &format!("{range}&limit=7000")).await;
    assert_eq!(capped.len(), 7000);
    assert_eq!(&capped[6999][0], format!("{:032x}", 6999));
    // Scope and range are checked before the first byte.
    let resp = h
        .http
        .get(format!(
            "{}/api/v1/reports/sessions/csv?from=10&to=5",
            h.base
        ))
        .bearer_auth(&h.master)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_csv_streams_every_row() {
    for db in backends().await {
        eprintln!("backend: {}", db.name);
        scenario(&db).await;
    }
}
