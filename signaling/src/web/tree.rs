//! The organisation chart (ORG-1): the tree in the left pane, from the
//! API's own `org::tree` (so an administrator sees exactly its scope),
//! nested `<details>` to expand and collapse without script, a search
//! filtered on the server, drag and drop (`app.js`) posting to
//! [`move_node`].

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;

use crate::api;
use crate::api::org::OrgTree;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Flash, is_htmx, page as html_page};
use crate::web::i18n::Tr;

/// One line of the flattened tree: a leaf, the start of a branch, or its end.
#[derive(Debug, Clone, Default)]
pub(super) struct Item {
    /// Ends the branch opened last.
    pub close: bool,
    /// Starts a branch.
    pub open: bool,
    /// The node's label (hostile text: escaped by the template).
    pub label: String,
    /// Second line (e-mail).
    pub detail: String,
    /// Its form, when it has one.
    pub href: String,
    /// `kind:id` when it can be dragged.
    pub drag: String,
    /// `kind:id` when things can be dropped on it.
    pub drop: String,
    /// CSS class (the node's kind, `disabled`).
    pub class: String,
    /// A context menu's entries: (label, href).
    pub menu: Vec<(String, String)>,
}

impl Item {
    fn close() -> Self {
        Self {
            close: true,
            ..Self::default()
        }
    }
    fn heading(label: String, drop: &str) -> Self {
        Self {
            open: true,
            label,
            class: "section".to_owned(),
            drop: drop.to_owned(),
            ..Self::default()
        }
    }
}

struct Matcher(String);

impl Matcher {
    fn hit(&self, texts: &[&str]) -> bool {
        self.0.is_empty() || texts.iter().any(|t| t.to_lowercase().contains(&self.0))
    }
}

/// Flattens the chart the caller may see; with a search, only matching
/// nodes and the branches above them.
pub(super) fn flatten(tree: &OrgTree, q: &str, tr: &Tr, is_master: bool) -> Vec<Item> {
    let m = Matcher(q.trim().to_lowercase());
    let mut out = Vec::new();
    // Master administrators.
    let masters: Vec<_> = tree
        .users
        .iter()
        .filter(|u| u.role == "master" && m.hit(&[&u.name, &u.email]))
        .collect();
    if is_master && !masters.is_empty() {
        out.push(Item::heading(tr.t("tree-masters"), ""));
        out.extend(masters.into_iter().map(|u| user_item(u, false)));
        out.push(Item::close());
    }
    // Administrators, inside their nested groups.
    if is_master {
        let admins: Vec<_> = tree.users.iter().filter(|u| u.role == "admin").collect();
        let ids: HashSet<i64> = tree.admin_groups.iter().map(|g| g.id).collect();
        let mut members: HashMap<i64, Vec<&api::users::User>> = HashMap::new();
        for a in admins.iter().copied() {
            if let Some(g) = a.admin_group_id {
                members.entry(g).or_default().push(a);
            }
        }
        let forest = Forest {
            kids: children(
                tree.admin_groups
                    .iter()
                    .map(|g| (g.id, g.parent_id.filter(|p| ids.contains(p)))),
            ),
            members,
        };
        let mut section = vec![Item::heading(tr.t("tree-admins"), "")];
        let mut seen = HashSet::new();
        let mut any = false;
        fn admin_branch(
            id: i64,
            tree: &OrgTree,
            forest: &Forest<'_>,
            m: &Matcher,
            seen: &mut HashSet<i64>,
            out: &mut Vec<Item>,
        ) -> bool {
            if !seen.insert(id) {
                return false;
            }
            let Some(g) = tree.admin_groups.iter().find(|g| g.id == id) else {
                return false;
            };
            let mut inner = Vec::new();
            let mut any = false;
            for k in forest.kids.get(&Some(id)).into_iter().flatten() {
                any |= admin_branch(*k, tree, forest, m, seen, &mut inner);
            }
            for a in forest.members.get(&id).into_iter().flatten() {
                if m.hit(&[&a.name, &a.email]) {
                    inner.push(user_item(a, true));
                    any = true;
                }
            }
            if any || m.hit(&[&g.name]) {
                out.push(Item {
                    open: true,
                    label: g.name.clone(),
                    href: format!("/admin/admin-groups/{}", g.id),
                    class: format!("admin-group{}", if g.enabled { "" } else { " disabled" }),
                    ..Item::default()
                });
                out.extend(inner);
                out.push(Item::close());
                return true;
            }
            false
        }
        for root in forest.kids.get(&None).into_iter().flatten() {
            any |= admin_branch(*root, tree, &forest, &m, &mut seen, &mut section);
        }
        for a in admins
            .iter()
            .filter(|a| a.admin_group_id.is_none_or(|g| !ids.contains(&g)))
        {
            if m.hit(&[&a.name, &a.email]) {
                section.push(user_item(a, true));
                any = true;
            }
        }
        section.push(Item::close());
        if any || m.0.is_empty() {
            out.extend(section);
        }
    }
    // Technician groups and their technicians.
    let ids: HashSet<i64> = tree.tech_groups.iter().map(|g| g.id).collect();
    let mut techs: HashMap<i64, Vec<&api::users::User>> = HashMap::new();
    for u in tree.users.iter().filter(|u| u.role == "technician") {
        if let Some(g) = u.tech_group_id {
            techs.entry(g).or_default().push(u);
        }
    }
    let forest = Forest {
        kids: children(
            tree.tech_groups
                .iter()
                .map(|g| (g.id, g.parent_id.filter(|p| ids.contains(p)))),
        ),
        members: techs,
    };
    let mut section = vec![Item::heading(
        tr.t("tree-technicians"),
        if is_master { "top" } else { "" },
    )];
    let mut seen = HashSet::new();
    let mut any = false;
    fn tech_branch(
        id: i64,
        tree: &OrgTree,
        forest: &Forest<'_>,
        m: &Matcher,
        seen: &mut HashSet<i64>,
        out: &mut Vec<Item>,
        tr: &Tr,
    ) -> bool {
        if !seen.insert(id) {
            return false;
        }
        let Some(g) = tree.tech_groups.iter().find(|g| g.id == id) else {
            return false;
        };
        let mut inner = Vec::new();
        let mut any = false;
        for k in forest.kids.get(&Some(id)).into_iter().flatten() {
            any |= tech_branch(*k, tree, forest, m, seen, &mut inner, tr);
        }
        for t in forest.members.get(&id).into_iter().flatten() {
            if m.hit(&[&t.name, &t.email, &t.nickname]) {
                inner.push(user_item(t, true));
                any = true;
            }
        }
        if any || m.hit(&[&g.name]) {
            let href = format!("/admin/tech-groups/{}", g.id);
            out.push(Item {
                open: true,
                label: g.name.clone(),
                drag: format!("tech-group:{}", g.id),
                drop: format!("tech-group:{}", g.id),
                class: format!("tech-group{}", if g.enabled { "" } else { " disabled" }),
                menu: vec![
                    (tr.t("menu-open"), href.clone()),
                    (tr.t("menu-permissions"), format!("{href}#permissions")),
                    (tr.t("menu-new-subgroup"), format!("{href}#new-subgroup")),
                    (
                        tr.t("menu-new-technician"),
                        format!("{href}#new-technician"),
                    ),
                ],
                href,
                ..Item::default()
            });
            out.extend(inner);
            out.push(Item::close());
            return true;
        }
        false
    }
    for root in forest.kids.get(&None).into_iter().flatten() {
        any |= tech_branch(*root, tree, &forest, &m, &mut seen, &mut section, tr);
    }
    section.push(Item::close());
    if any || m.0.is_empty() {
        out.extend(section);
    }
    // Channels.
    let chans: Vec<_> = tree
        .channels
        .iter()
        .filter(|c| m.hit(&[&c.name]))
        .map(|c| Item {
            label: c.name.clone(),
            href: format!("/admin/channels/{}", c.id),
            class: "channel".to_owned(),
            ..Item::default()
        })
        .collect();
    if !chans.is_empty() {
        out.push(Item::heading(tr.t("tree-channels"), ""));
        out.extend(chans);
        out.push(Item::close());
    }
    out
}

fn user_item(u: &api::users::User, drag: bool) -> Item {
    Item {
        label: u.name.clone(),
        detail: u.email.clone(),
        href: format!("/admin/users/{}", u.id),
        drag: if drag {
            format!("user:{}", u.id)
        } else {
            String::new()
        },
        class: format!("{}{}", u.role, if u.enabled { "" } else { " disabled" }),
        ..Item::default()
    }
}

/// Groups by parent, and the accounts inside each group.
struct Forest<'a> {
    kids: HashMap<Option<i64>, Vec<i64>>,
    members: HashMap<i64, Vec<&'a api::users::User>>,
}

fn children(links: impl Iterator<Item = (i64, Option<i64>)>) -> HashMap<Option<i64>, Vec<i64>> {
    let mut kids: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
    for (id, parent) in links {
        kids.entry(parent).or_default().push(id);
    }
    kids
}

#[derive(Template, Debug)]
#[template(path = "tree.html")]
pub(super) struct TreeFragment {
    pub p: Chrome,
    pub items: Vec<Item>,
    pub q: String,
    /// Sent beside another answer, to replace the tree in place.
    pub oob: bool,
}

#[derive(Template, Debug)]
#[template(path = "admin.html")]
pub(super) struct AdminPage {
    pub p: Chrome,
    pub tree: TreeFragment,
    /// The right pane, already rendered by its own (escaping) template.
    pub pane: String,
}

#[derive(Template, Debug)]
#[template(path = "start.html")]
struct StartPane {
    p: Chrome,
    admin_groups: Vec<(i64, String)>,
}

/// The tree for a caller.
pub(super) async fn fragment_for(state: &AppState, s: &Staff, q: &str) -> ApiResult<TreeFragment> {
    let Json(tree) = api::org::tree(State(state.clone()), s.caller.clone()).await?;
    let p = Chrome::staff(s, "org-title");
    Ok(TreeFragment {
        items: flatten(&tree, q, &p.tr, p.is_master),
        q: q.to_owned(),
        oob: false,
        p,
    })
}

/// A whole page: the tree and a pane.
pub(super) async fn whole(state: &AppState, s: &Staff, pane: String) -> Response {
    match fragment_for(state, s, "").await {
        Ok(tree) => html_page(&AdminPage {
            p: Chrome::staff(s, "org-title"),
            tree,
            pane,
        }),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TreeQuery {
    q: Option<String>,
}

#[derive(Template, Debug)]
#[template(path = "technician.html")]
struct TechnicianHome {
    p: Chrome,
    server: String,
}

/// `GET /admin`: the tree, and the creation forms of the top level; a
/// technician, who has no chart, is pointed to the console.
pub(super) async fn page_(state: AppState, s: Staff) -> Response {
    if s.caller.role == crate::model::Role::Technician {
        return html_page(&TechnicianHome {
            p: Chrome::staff(&s, "technician-title"),
            server: state.config.public_url.clone(),
        });
    }
    let admin_groups = if s.caller.require_master().is_ok() {
        api::groups::list_admin_groups(State(state.clone()), s.caller.clone())
            .await
            .map(|Json(g)| g.into_iter().map(|g| (g.id, g.name)).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let pane = StartPane {
        p: Chrome::staff(&s, "org-title"),
        admin_groups,
    }
    .render()
    .unwrap_or_default();
    whole(&state, &s, pane).await
}

/// `GET /admin`.
pub(super) async fn page(State(state): State<AppState>, s: Staff) -> Response {
    page_(state, s).await
}

/// `GET /admin/tree?q=`: the tree alone (the search box asks for it).
pub(super) async fn fragment(
    State(state): State<AppState>,
    s: Staff,
    headers: HeaderMap,
    Query(q): Query<TreeQuery>,
) -> Response {
    let q = q.q.unwrap_or_default();
    if !is_htmx(&headers) {
        return page_(state, s).await;
    }
    match fragment_for(&state, &s, &q).await {
        Ok(t) => html_page(&t),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MoveForm {
    what: String,
    to: String,
}

fn parse_ref(s: &str) -> Option<(&str, i64)> {
    let (kind, id) = s.split_once(':')?;
    Some((kind, id.parse().ok()?))
}

/// `POST /admin/move`: drag and drop. A technician dropped on a group moves
/// there (ORG-6), a group moves under another or to the top (ORG-5), an
/// administrator dropped on a group is assigned it (ORG-3). Each through
/// the API's handler, which checks the scope.
pub(super) async fn move_node(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<MoveForm>,
) -> Response {
    let tr = s.tr();
    let result = do_move(&state, &s, &f).await;
    match result {
        Ok(()) => match fragment_for(&state, &s, "").await {
            Ok(t) => html_page(&t),
            Err(e) => Flash::err(&tr, &e),
        },
        Err(e) => Flash::err(&tr, &e),
    }
}

async fn do_move(state: &AppState, s: &Staff, f: &MoveForm) -> ApiResult<()> {
    let bad = || ApiError::invalid("unknown drag or drop target");
    let (kind, id) = parse_ref(&f.what).ok_or_else(bad)?;
    let to = if f.to == "top" {
        None
    } else {
        match parse_ref(&f.to).ok_or_else(bad)? {
            ("tech-group", g) => Some(g),
            _ => return Err(bad()),
        }
    };
    let st = || State(state.clone());
    let c = || s.caller.clone();
    match kind {
        "user" => {
            let Json(u) = api::users::get_user(st(), c(), axum::extract::Path(id)).await?;
            let g = to.ok_or_else(bad)?;
            if u.role == "technician" {
                let patch = api::users::UserPatch {
                    tech_group_id: Some(g),
                    ..Default::default()
                };
                let _ =
                    api::users::patch_user(st(), c(), axum::extract::Path(id), Json(patch)).await?;
            } else if u.role == "admin" {
                s.caller.require_master()?;
                let mut ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT group_id FROM admin_assignments WHERE admin_id = $1",
                )
                .bind(id)
                .fetch_all(&state.store.pool)
                .await?;
                ids.push(g);
                let _ = api::users::put_assignments(
                    st(),
                    c(),
                    axum::extract::Path(id),
                    Json(api::users::Assignments { group_ids: ids }),
                )
                .await?;
            } else {
                return Err(bad());
            }
        }
        "tech-group" => {
            let patch = api::groups::GroupPatch {
                name: None,
                description: None,
                enabled: None,
                parent_id: Some(to),
            };
            let _ =
                api::groups::patch_group(st(), c(), axum::extract::Path(id), Json(patch)).await?;
        }
        _ => return Err(bad()),
    }
    Ok(())
}
