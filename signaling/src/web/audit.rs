//! The audit log (masters): its entries a page at a time, and the chain
//! verified on every view (the API's own handlers).

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::api;
use crate::api::org::{AuditQuery, VerifyQuery};
use crate::state::AppState;
use crate::store::audit::{AuditEntry, ChainReport};
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Flash, page as render};

/// Entries on one page.
const PAGE: i64 = 50;

#[derive(Template, Debug)]
#[template(path = "audit.html")]
struct AuditPage {
    p: Chrome,
    entries: Vec<AuditEntry>,
    report: ChainReport,
    /// The `after` of the previous and next pages.
    prev: Option<i64>,
    next: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Paging {
    after: Option<i64>,
}

/// `GET /admin/audit?after=`.
pub(super) async fn page(
    State(state): State<AppState>,
    s: Staff,
    Query(q): Query<Paging>,
) -> Response {
    let tr = s.tr();
    let after = q.after.unwrap_or(0).max(0);
    let st = || State(state.clone());
    let entries = api::org::audit_list(
        st(),
        s.caller.clone(),
        Query(AuditQuery {
            after: Some(after),
            limit: Some(PAGE + 1),
        }),
    )
    .await;
    let report =
        api::org::audit_verify(st(), s.caller.clone(), Query(VerifyQuery { anchor: None })).await;
    match (entries, report) {
        (Ok(Json(mut entries)), Ok(Json(report))) => {
            let more = entries.len() > PAGE as usize;
            entries.truncate(PAGE as usize);
            render(&AuditPage {
                p: Chrome::staff(&s, "audit-title"),
                next: more.then(|| entries.last().map(|e| e.id)).flatten(),
                prev: (after > 0).then(|| (after - PAGE).max(0)),
                entries,
                report,
            })
        }
        (Err(e), _) | (_, Err(e)) => Flash::err(&tr, &e),
    }
}

impl AuditPage {
    fn when(&self, ms: &i64) -> String {
        let s = ms.div_euclid(1000);
        let (days, rest) = (s.div_euclid(86_400), s.rem_euclid(86_400));
        let (y, m, d) = civil(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1));
        assert_eq!(super::civil(20_000), (2024, 10, 4));
    }
}
