//! The sessions reports' CSV (sessions, missed, failed: the ones a year of
//! sessions makes large) streamed: read a page at a time in the report's
//! order (created, then id, a keyset cursor), written as it is read, so
//! that a year of sessions exports whole while the server holds a few
//! pages at most. The scope and the range are checked before the first
//! byte, so refusals answer as usual; a database error later cuts the body
//! (the client sees an incomplete transfer, never a short file that looks
//! whole).

use std::io;

use axum::body::Bytes;
use futures_util::Stream;
use sqlx::AnyPool;
use tokio::sync::mpsc;

use super::{
    FAILED, MISSED, Query, ReportKind, SESSION_COLUMNS, SESSION_SELECT, SessionRow, filter_for,
    notes_of, session_row,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Rows read per query. The cursor's `created_at >= $3` lets each page
/// start where the last ended on the index, not at the range's start.
const PAGE: i64 = 5_000;
/// Pages written but not yet sent that the server holds at most.
const PAGES_AHEAD: usize = 2;

/// Whether this report's CSV streams.
pub fn streams(kind: ReportKind) -> bool {
    matches!(
        kind,
        ReportKind::Sessions | ReportKind::Missed | ReportKind::Failed
    )
}

fn condition(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Missed => MISSED,
        ReportKind::Failed => FAILED,
        _ => "TRUE",
    }
}

fn csv_bytes(rows: &[Vec<String>]) -> Result<Bytes, io::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r).map_err(io::Error::other)?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| io::Error::other(e.into_error()))
}

/// The CSV of a sessions report for `caller`: its header, then every row
/// of the range (at most `limit` when given).
pub async fn csv_stream(
    pool: AnyPool,
    caller: &Caller,
    q: &Query,
    limit: Option<i64>,
) -> ApiResult<impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static> {
    if q.to <= q.from {
        return Err(ApiError::unprocessable("to must be after from"));
    }
    let filter = filter_for(&pool, caller, &q.node).await?.sessions();
    let sql = format!(
        "{SESSION_SELECT} FROM support_sessions s LEFT JOIN users u ON u.id = s.tech_id \
         WHERE s.created_at >= $1 AND s.created_at < $2 AND {} AND {filter} \
         AND s.created_at >= $3 AND (s.created_at > $3 OR s.id > $4) \
         ORDER BY s.created_at, s.id LIMIT $5",
        condition(q.kind)
    );
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(PAGES_AHEAD);
    let (from, to) = (q.from, q.to);
    tokio::spawn(async move {
        if tx
            .send(csv_bytes(&[SESSION_COLUMNS.map(String::from).to_vec()]))
            .await
            .is_err()
        {
            return;
        }
        let mut cursor = (i64::MIN, String::new());
        let mut left = limit.unwrap_or(i64::MAX);
        while left > 0 {
            let page = PAGE.min(left);
            let rows: Vec<SessionRow> = match sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(from)
                .bind(to)
                .bind(cursor.0)
                .bind(&cursor.1)
                .bind(page)
                .fetch_all(&pool)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "report stream cut");
                    let _ = tx.send(Err(io::Error::other(e))).await;
                    return;
                }
            };
            let read = i64::try_from(rows.len()).unwrap_or(i64::MAX);
            if let Some(last) = rows.last() {
                cursor = (last.7, last.0.clone());
            }
            let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            let mut notes = match notes_of(&pool, &ids).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e.message, "report stream cut");
                    let _ = tx.send(Err(io::Error::other(e.message))).await;
                    return;
                }
            };
            let out: Vec<Vec<String>> = rows
                .into_iter()
                .map(|r| {
                    let note = notes.remove(&r.0).unwrap_or_default();
                    session_row(r, note)
                })
                .collect();
            // The reader went away: stop reading.
            if tx.send(csv_bytes(&out)).await.is_err() {
                return;
            }
            left -= read;
            if read < page {
                break;
            }
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }))
}
