//! Reports over the API (REPORT-1, INTEG-3): JSON, and CSV for spreadsheets.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::reports::{self, Node, Report, ReportKind};
use crate::state::AppState;
use crate::store::now_ms;

/// The most rows a JSON report returns.
pub const MAX_JSON_ROWS: i64 = 10_000;
/// The last instant a report range may name (9999-12-31T23:59:59Z), Unix ms.
pub const MAX_TIME_MS: i64 = 253_402_300_799_000;
/// The most rows a CSV export holds (narrow the range for more).
pub const MAX_CSV_ROWS: i64 = 200_000;

/// Range and node of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Range start, Unix ms (default: 30 days before `to`).
    #[param(minimum = 0, maximum = 253402300799000_i64)]
    pub from: Option<i64>,
    /// Range end, Unix ms, excluded (default: now).
    #[param(minimum = 0, maximum = 253402300799000_i64)]
    pub to: Option<i64>,
    /// `org` (the caller's whole scope, the default, also when empty), `group:ID` (a
    /// technician group and its sub-groups) or `tech:ID`.
    #[param(pattern = "^(|org|group:[0-9]{1,18}|tech:[0-9]{1,18})$")]
    pub node: Option<String>,
    /// Most rows: 1 to 10,000 in JSON (default 1,000), 1 to 200,000 in CSV
    /// (the default); over the route's maximum answers 422. The CSV of the
    /// sessions, missed and failed reports streams every row of the range
    /// when no limit is given. `to` must be after `from` (else 422).
    #[param(minimum = 1, maximum = 200000)]
    pub limit: Option<i64>,
}

/// The report query of a request (the pages build it too).
pub fn query_of(kind: &str, p: &ReportParams, max: i64) -> ApiResult<reports::Query> {
    let kind = ReportKind::parse(kind).ok_or_else(|| ApiError::not_found("report"))?;
    // Bounded so that no date arithmetic downstream can overflow.
    for (name, v) in [("from", p.from), ("to", p.to)] {
        if v.is_some_and(|v| !(0..=MAX_TIME_MS).contains(&v)) {
            return Err(ApiError::unprocessable(format!(
                "{name} is Unix milliseconds from 0 to {MAX_TIME_MS}"
            )));
        }
    }
    let to = p.to.unwrap_or_else(now_ms);
    let from = p.from.unwrap_or(to.saturating_sub(30 * 86_400_000).max(0));
    let limit = p
        .limit
        .unwrap_or(if max > MAX_JSON_ROWS { max } else { 1000 });
    if !(1..=max).contains(&limit) {
        return Err(ApiError::unprocessable(format!("limit is 1 to {max}")));
    }
    Ok(reports::Query {
        kind,
        from,
        to,
        node: Node::parse(p.node.as_deref().unwrap_or("org"))?,
        limit,
    })
}

/// A report, as a table with its summary.
#[utoipa::path(get, path = "/api/v1/reports/{kind}", tag = "reports", security(("bearer" = [])),
    params(("kind" = ReportKind, Path, description = "Which report"), ReportParams),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Query(p): Query<ReportParams>,
) -> ApiResult<Json<Report>> {
    caller.require_admin()?;
    let q = query_of(&kind, &p, MAX_JSON_ROWS)?;
    Ok(Json(reports::build(&state.store.pool, &caller, &q).await?))
}

/// A report as CSV: a header row with the column names, then the rows.
#[utoipa::path(get, path = "/api/v1/reports/{kind}/csv", tag = "reports", security(("bearer" = [])),
    params(("kind" = ReportKind, Path, description = "Which report"), ReportParams),
    responses((status = 200, description = "CSV (RFC 4180), UTF-8", content_type = "text/csv"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Query(p): Query<ReportParams>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let q = query_of(&kind, &p, MAX_CSV_ROWS)?;
    csv_answer(&state, &caller, &q, p.limit).await
}

/// A report's CSV (also the pages' export): streamed for the sessions
/// reports (every row of the range unless `limit`), else built whole.
pub async fn csv_answer(
    state: &AppState,
    caller: &Caller,
    q: &reports::Query,
    limit: Option<i64>,
) -> ApiResult<Response> {
    if reports::streams(q.kind) {
        let body = reports::csv_stream(state.store.pool.clone(), caller, q, limit).await?;
        return Ok(csv_headers(
            q.kind,
            false,
            axum::body::Body::from_stream(body),
        ));
    }
    let r = reports::build(&state.store.pool, caller, q).await?;
    csv_response(&r)
}

fn csv_headers(kind: ReportKind, truncated: bool, body: axum::body::Body) -> Response {
    let name = format!("attachment; filename=\"{}.csv\"", kind.name());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (
                header::HeaderName::from_static("x-secours-truncated"),
                truncated.to_string(),
            ),
        ],
        body,
    )
        .into_response()
}

/// The CSV answer of a report (also the pages' export).
pub fn csv_response(r: &Report) -> ApiResult<Response> {
    let body = reports::to_csv(r).map_err(|e| ApiError::internal("csv", e))?;
    Ok(csv_headers(r.kind, r.truncated, body.into()))
}
