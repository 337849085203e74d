//! The reports page (REPORT-1): a report kind, a date range and a node of
//! the chart; the table and its summary, and the same as CSV. It builds
//! the API's own query, so scope and limits are the API's.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::api::reports::{MAX_CSV_ROWS, ReportParams, query_of};
use crate::error::ApiError;
use crate::reports::{self, Report, ReportKind};
use crate::scope;
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Flash, page as render};

/// The form: dates as the browser's date inputs give them.
#[derive(Debug, Deserialize, Default)]
pub(super) struct ReportForm {
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    node: Option<String>,
}

#[derive(Template, Debug)]
#[template(path = "reports.html")]
struct ReportsPage {
    p: Chrome,
    kinds: Vec<(&'static str, String, bool)>,
    nodes: Vec<(String, String, bool)>,
    from: String,
    to: String,
    query: String,
    report: Option<Report>,
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (days-from-civil).
fn days_of(date: &str) -> Option<i64> {
    let mut it = date.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

const DAY: i64 = 86_400_000;

/// The API parameters of the form: `to` is the last day included.
fn params_of(f: &ReportForm) -> Result<(ReportParams, String, String), ApiError> {
    let today = crate::store::now_ms().div_euclid(DAY);
    let parse = |v: &Option<String>, default: i64| match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => days_of(s).ok_or_else(|| ApiError::invalid("dates are YYYY-MM-DD")),
    };
    let to = parse(&f.to, today)?;
    let from = parse(&f.from, to - 30)?;
    let day = |d: i64| reports::iso(d * DAY)[..10].to_owned();
    Ok((
        ReportParams {
            from: Some(from * DAY),
            to: Some((to + 1) * DAY),
            node: f.node.clone(),
            limit: None,
        },
        day(from),
        day(to),
    ))
}

/// `GET /admin/reports`.
pub(super) async fn page(
    State(state): State<AppState>,
    s: Staff,
    Query(f): Query<ReportForm>,
) -> Response {
    let tr = s.tr();
    if let Err(e) = s.caller.require_admin() {
        return Flash::err(&tr, &e);
    }
    let (params, from, to) = match params_of(&f) {
        Ok(v) => v,
        Err(e) => return Flash::err(&tr, &e),
    };
    let kind = f.kind.clone().unwrap_or_default();
    let report = if kind.is_empty() {
        None
    } else {
        let q = match query_of(&kind, &params, crate::api::reports::MAX_JSON_ROWS) {
            Ok(q) => q,
            Err(e) => return Flash::err(&tr, &e),
        };
        match reports::build(&state.store.pool, &s.caller, &q).await {
            Ok(r) => Some(r),
            Err(e) => return Flash::err(&tr, &e),
        }
    };
    let node = f.node.clone().unwrap_or_else(|| "org".into());
    let mut nodes = vec![("org".to_owned(), tr.t("reports-whole"), node == "org")];
    let pool = &state.store.pool;
    let groups: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM tech_groups ORDER BY name, id")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    if let Ok(sc) = scope::of(pool, &s.caller).await {
        for (id, name) in groups.into_iter().filter(|(id, _)| sc.has(*id)) {
            let v = format!("group:{id}");
            let sel = v == node;
            nodes.push((v, name, sel));
        }
    }
    let query = serde_urlencoded::to_string([
        ("kind", kind.as_str()),
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("node", node.as_str()),
    ])
    .unwrap_or_default();
    render(&ReportsPage {
        p: Chrome::staff(&s, "reports-title"),
        kinds: ReportKind::ALL
            .into_iter()
            .map(|k| {
                let label = tr.t(&format!("report-{}", k.name().replace('_', "-")));
                (k.name(), label, k.name() == kind)
            })
            .collect(),
        nodes,
        from,
        to,
        query,
        report,
    })
}

/// `GET /admin/reports/csv`.
pub(super) async fn csv(
    State(state): State<AppState>,
    s: Staff,
    Query(f): Query<ReportForm>,
) -> Response {
    use axum::response::IntoResponse;
    let result = async {
        s.caller.require_admin()?;
        let (params, _, _) = params_of(&f)?;
        let q = query_of(f.kind.as_deref().unwrap_or_default(), &params, MAX_CSV_ROWS)?;
        crate::api::reports::csv_answer(&state, &s.caller, &q, params.limit).await
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::days_of("1970-01-01"), Some(0));
        assert_eq!(super::days_of("2024-10-04"), Some(20_000));
        assert_eq!(super::days_of("2024-13-01"), None);
        assert_eq!(super::days_of("x"), None);
    }
}
