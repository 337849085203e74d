//! Live sessions (SESS-8): the sessions of the groups in the caller's
//! scope (the API's own list), redrawn every two seconds by htmx, and
//! their transfer to another group.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Form, Json};

use crate::api;
use crate::sessions::SessionView;
use crate::sessions::TransferTarget;
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash, page as render};

/// One row: the session and what the page shows of it.
#[derive(Debug)]
pub(super) struct Row {
    s: SessionView,
    group: String,
    technician: String,
    /// Custom fields as name/value pairs (hostile text, escaped).
    fields: Vec<(String, String)>,
    since: String,
}

#[derive(Template, Debug)]
#[template(path = "sessions.html")]
struct SessionsPage {
    p: Chrome,
}

#[derive(Template, Debug)]
#[template(path = "session_rows.html")]
struct Rows {
    p: Chrome,
    rows: Vec<Row>,
    groups: Vec<(i64, String)>,
    /// This page (1..), the last one, and the sessions in all.
    page: usize,
    pages: usize,
    total: usize,
}

impl Rows {
    /// A stored word (kind, state) in the page's language, as stored when
    /// the catalogue lacks it.
    fn word(&self, prefix: &str, v: &str) -> String {
        let id = format!("{prefix}-{}", v.replace('_', "-"));
        if self.p.tr.has(&id) {
            self.p.t(&id)
        } else {
            v.to_owned()
        }
    }
}

/// Sessions on one page of the live list.
const PAGE: usize = 50;

#[derive(Debug, serde::Deserialize)]
pub(super) struct Paging {
    page: Option<usize>,
}

/// `GET /admin/sessions`.
pub(super) async fn page(s: Staff) -> Response {
    render(&SessionsPage {
        p: Chrome::staff(&s, "sessions-title"),
    })
}

fn ago(ms: i64, tr: &crate::web::i18n::Tr) -> String {
    let s = ((crate::store::now_ms() - ms) / 1000).max(0);
    if s < 60 {
        tr.t1("ago-seconds", "n", s)
    } else {
        tr.t1("ago-minutes", "n", s / 60)
    }
}

/// `GET /admin/sessions/rows`: the table alone.
pub(super) async fn rows(
    State(state): State<AppState>,
    s: Staff,
    axum::extract::Query(q): axum::extract::Query<Paging>,
) -> Response {
    let tr = s.tr();
    let st = || State(state.clone());
    let list = match api::sessions::list(st(), s.caller.clone()).await {
        Ok(Json(l)) => l,
        Err(e) => return Flash::err(&tr, &e),
    };
    let groups: Vec<(i64, String)> = api::groups::list_groups(st(), s.caller.clone())
        .await
        .map(|Json(g)| g.into_iter().map(|g| (g.id, g.name)).collect())
        .unwrap_or_default();
    let users = api::users::list_users(st(), s.caller.clone())
        .await
        .map(|Json(u)| u)
        .unwrap_or_default();
    let total = list.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let rows = list
        .into_iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .map(|v| {
            let group = v
                .group_id
                .and_then(|g| groups.iter().find(|x| x.0 == g).map(|x| x.1.clone()))
                .unwrap_or_default();
            let technician = v
                .tech_id
                .and_then(|t| users.iter().find(|u| u.id == t).map(|u| u.name.clone()))
                .unwrap_or_default();
            let fields = serde_json::from_str::<std::collections::BTreeMap<String, String>>(
                &v.customer_fields,
            )
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
            Row {
                since: ago(v.waiting_since.unwrap_or(v.created_at), &tr),
                s: v,
                group,
                technician,
                fields,
            }
        })
        .collect();
    render(&Rows {
        p: Chrome::staff(&s, "sessions-title"),
        rows,
        groups,
        page,
        pages,
        total,
    })
}

/// `POST /admin/sessions/{id}/transfer`: to the group chosen.
pub(super) async fn transfer(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let to = match f.id("group_id") {
        Ok(g) => TransferTarget {
            tech_id: None,
            group_id: g,
        },
        Err(e) => return Flash::err(&tr, &e),
    };
    match api::sessions::transfer(State(state.clone()), s.caller.clone(), Path(id), Json(to)).await
    {
        Ok(_) => Flash::ok(tr.t("session-transferred")),
        Err(e) => Flash::err(&tr, &e),
    }
}
