//! Technician status, live (SESS-9): the technicians of the groups in the
//! caller's scope (the API's own list), redrawn every two seconds by htmx.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;

use crate::api;
use crate::routing::presence::TechStatus;
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Flash, page as render};

#[derive(Template, Debug)]
#[template(path = "status.html")]
struct StatusPage {
    p: Chrome,
}

#[derive(Template, Debug)]
#[template(path = "status_rows.html")]
struct Rows {
    p: Chrome,
    /// A technician, its group's name, its last activity in words.
    rows: Vec<(TechStatus, String, String)>,
}

/// `GET /admin/status`.
pub(super) async fn page(s: Staff) -> Response {
    render(&StatusPage {
        p: Chrome::staff(&s, "status-title"),
    })
}

/// `GET /admin/status/rows`: the table alone.
pub(super) async fn rows(State(state): State<AppState>, s: Staff) -> Response {
    let tr = s.tr();
    let st = || State(state.clone());
    let list = match api::routing::statuses(st(), s.caller.clone()).await {
        Ok(Json(l)) => l,
        Err(e) => return Flash::err(&tr, &e),
    };
    let groups: Vec<(i64, String)> = api::groups::list_groups(st(), s.caller.clone())
        .await
        .map(|Json(g)| g.into_iter().map(|g| (g.id, g.name)).collect())
        .unwrap_or_default();
    let now = crate::store::now_ms();
    let rows = list
        .into_iter()
        .map(|t| {
            let group = groups
                .iter()
                .find(|g| g.0 == t.group_id)
                .map(|g| g.1.clone())
                .unwrap_or_default();
            let last = t.last_active.map_or_else(String::new, |at| {
                let secs = ((now - at) / 1000).max(0);
                if secs < 60 {
                    tr.t1("ago-seconds", "n", secs)
                } else {
                    tr.t1("ago-minutes", "n", secs / 60)
                }
            });
            (t, group, last)
        })
        .collect();
    render(&Rows {
        p: Chrome::staff(&s, "status-title"),
        rows,
    })
}
