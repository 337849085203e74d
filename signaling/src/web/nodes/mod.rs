//! The forms of the chart's nodes (ORG-2..6): accounts and administrator
//! groups here, technician groups and their permissions in [`groups`],
//! channels in [`channels`]. Every read and every save is the API's own
//! handler called with the page's caller, so scope, audit and
//! transactions are the API's; errors come back beside the form.

mod applet;
mod channels;
mod groups;
mod routing;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};

pub(super) use applet::{channel_applet, group_applet};
pub(super) use channels::{channel_page, channel_save, channel_test};
pub(super) use groups::{group_create, group_page, group_save, group_settings};
pub(super) use routing::{channel_routing, group_routing};

use crate::Secret;
use crate::api;
use crate::api::users::{NewUser, User, UserPatch};
use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::password::Strength;
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash, is_htmx};
use crate::web::tree;

/// A node's form: alone for htmx, else inside the whole page.
pub(super) async fn show(
    state: &AppState,
    s: &Staff,
    headers: &HeaderMap,
    pane: String,
) -> Response {
    if is_htmx(headers) {
        axum::response::Html(pane).into_response()
    } else {
        tree::whole(state, s, pane).await
    }
}

/// A save went through: the message, and the tree redrawn in place.
pub(super) async fn saved(state: &AppState, s: &Staff, message_id: &str) -> Response {
    let flash = Flash::html(true, s.tr().t(message_id));
    let tree = match tree::fragment_for(state, s, "").await {
        Ok(mut t) => {
            t.oob = true;
            t.render().unwrap_or_default()
        }
        Err(_) => String::new(),
    };
    axum::response::Html(format!("{flash}{tree}")).into_response()
}

/// A node was created: its form replaces the pane, the tree is redrawn,
/// and the address bar names the new node.
pub(super) async fn created(state: &AppState, s: &Staff, href: String, pane: String) -> Response {
    let tree = match tree::fragment_for(state, s, "").await {
        Ok(mut t) => {
            t.oob = true;
            t.render().unwrap_or_default()
        }
        Err(_) => String::new(),
    };
    let mut r = axum::response::Html(format!("{pane}{tree}")).into_response();
    let h = r.headers_mut();
    h.insert("hx-retarget", HeaderValue::from_static("#pane"));
    h.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    if let Ok(v) = HeaderValue::from_str(&href) {
        h.insert("hx-push-url", v);
    }
    r
}

#[derive(Template, Debug)]
#[template(path = "user.html")]
struct UserPane {
    p: Chrome,
    u: User,
    is_self: bool,
    /// Technician groups in scope: id, name, selected.
    groups: Vec<(i64, String, bool)>,
    /// Administrator groups: id, name, selected.
    admin_groups: Vec<(i64, String, bool)>,
    /// For an administrator seen by a master: groups assigned (ORG-3).
    assigned: Vec<(i64, String, bool)>,
    levels: Vec<(i64, String)>,
}

impl UserPane {
    fn role_label(&self) -> String {
        self.p.t(&format!("role-{}", self.u.role))
    }
}

fn levels(s: &Staff) -> Vec<(i64, String)> {
    let tr = s.tr();
    [
        Strength::Weak,
        Strength::Good,
        Strength::Complex,
        Strength::Excellent,
    ]
    .into_iter()
    .map(|l| (l.as_i64(), tr.t(&format!("level-{}", l.as_i64()))))
    .collect()
}

async fn user_pane(state: &AppState, s: &Staff, id: i64) -> ApiResult<String> {
    let st = || State(state.clone());
    let Json(u) = api::users::get_user(st(), s.caller.clone(), Path(id)).await?;
    let in_scope = api::groups::list_groups(st(), s.caller.clone())
        .await
        .map(|Json(g)| g)
        .unwrap_or_default();
    let groups = in_scope
        .iter()
        .map(|g| (g.id, g.name.clone(), u.tech_group_id == Some(g.id)))
        .collect();
    let mut admin_groups = Vec::new();
    let mut assigned = Vec::new();
    if u.role == "admin" && s.caller.role == Role::Master {
        let Json(ag) = api::groups::list_admin_groups(st(), s.caller.clone()).await?;
        admin_groups = ag
            .into_iter()
            .map(|g| (g.id, g.name, u.admin_group_id == Some(g.id)))
            .collect();
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT group_id FROM admin_assignments WHERE admin_id = $1")
                .bind(id)
                .fetch_all(&state.store.pool)
                .await?;
        assigned = in_scope
            .iter()
            .map(|g| (g.id, g.name.clone(), ids.contains(&g.id)))
            .collect();
    }
    Ok(UserPane {
        p: Chrome::staff(s, "user-title"),
        is_self: u.id == s.caller.id,
        u,
        groups,
        admin_groups,
        assigned,
        levels: levels(s),
    }
    .render()
    .unwrap_or_default())
}

/// `GET /admin/users/{id}`.
pub(super) async fn user_page(
    State(state): State<AppState>,
    s: Staff,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    match user_pane(&state, &s, id).await {
        Ok(pane) => show(&state, &s, &headers, pane).await,
        Err(e) => show(&state, &s, &headers, error_pane(&s, &e)).await,
    }
}

/// A pane that says why the node cannot be shown.
pub(super) fn error_pane(s: &Staff, e: &ApiError) -> String {
    Flash::html(false, s.tr().error(e))
}

/// `POST /admin/users/{id}`.
pub(super) async fn user_save(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    match save_user(&state, &s, id, &f).await {
        Ok(()) => saved(&state, &s, "saved").await,
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

async fn save_user(state: &AppState, s: &Staff, id: i64, f: &Fields) -> ApiResult<()> {
    let st = || State(state.clone());
    let Json(u) = api::users::get_user(st(), s.caller.clone(), Path(id)).await?;
    let email = f.text("email");
    let password = f.text("password");
    let current = f.text("current_password");
    let level = f
        .get("min_password_level")
        .and_then(|v| v.parse().ok())
        .map(Strength::from_i64);
    let patch = UserPatch {
        name: Some(f.text("name")),
        nickname: (u.role == "technician").then(|| f.text("nickname")),
        email: (email != u.email).then_some(email),
        sso_id: Some(f.text("sso_id")),
        description: Some(f.text("description")),
        enabled: (u.id != s.caller.id).then(|| f.checked("enabled")),
        tech_group_id: if u.role == "technician" {
            f.id("tech_group_id")?
                .filter(|g| Some(*g) != u.tech_group_id)
        } else {
            None
        },
        admin_group_id: if u.role == "admin" && s.caller.role == Role::Master {
            Some(f.id("admin_group_id")?)
        } else {
            None
        },
        password: (!password.is_empty()).then(|| Secret::new(password)),
        min_password_level: level,
        current_password: (!current.is_empty()).then(|| Secret::new(current)),
    };
    let _ = api::users::patch_user(st(), s.caller.clone(), Path(id), Json(patch)).await?;
    if u.role == "admin" && s.caller.role == Role::Master && f.checked("assignments") {
        let ids = f.ids("assigned")?;
        let _ = api::users::put_assignments(
            st(),
            s.caller.clone(),
            Path(id),
            Json(api::users::Assignments { group_ids: ids }),
        )
        .await?;
    }
    Ok(())
}

/// `POST /admin/users`: a technician (in a group), an administrator or a
/// master; the initial password must be changed at first login (POL-4).
pub(super) async fn user_create(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let role = match f.get("role") {
        Some("technician") => Role::Technician,
        Some("admin") => Role::Admin,
        Some("master") => Role::Master,
        _ => return Flash::err(&tr, &ApiError::invalid("unknown role")),
    };
    let result = async {
        let req = NewUser {
            role,
            name: f.text("name"),
            nickname: f.text("nickname"),
            email: f.text("email"),
            sso_id: f.text("sso_id"),
            description: f.text("description"),
            password: Secret::new(f.text("password")),
            tech_group_id: f.id("tech_group_id")?,
            admin_group_id: f.id("admin_group_id")?,
            min_password_level: None,
            enabled: None,
        };
        let (_, Json(u)) =
            api::users::create_user(State(state.clone()), s.caller.clone(), Json(req)).await?;
        Ok::<_, ApiError>(u.id)
    }
    .await;
    match result {
        Ok(id) => match user_pane(&state, &s, id).await {
            Ok(pane) => created(&state, &s, format!("/admin/users/{id}"), pane).await,
            Err(e) => Flash::err(&tr, &e),
        },
        Err(e) => Flash::err(&tr, &e),
    }
}

#[derive(Template, Debug)]
#[template(path = "admin_group.html")]
struct AdminGroupPane {
    p: Chrome,
    g: api::groups::AdminGroup,
    /// Groups it may move under: id, name, selected.
    parents: Vec<(i64, String, bool)>,
    members: Vec<User>,
}

/// `GET /admin/admin-groups/{id}` (masters).
pub(super) async fn admin_group_page(
    State(state): State<AppState>,
    s: Staff,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let pane = async {
        let Json(all) =
            api::groups::list_admin_groups(State(state.clone()), s.caller.clone()).await?;
        let g = all
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("administrator group"))?;
        let parents = all
            .iter()
            .filter(|x| x.id != id)
            .map(|x| (x.id, x.name.clone(), g.parent_id == Some(x.id)))
            .collect();
        let Json(users) = api::users::list_users(State(state.clone()), s.caller.clone()).await?;
        let members = users
            .into_iter()
            .filter(|u| u.admin_group_id == Some(id))
            .collect();
        Ok::<_, ApiError>(
            AdminGroupPane {
                p: Chrome::staff(&s, "admin-group-title"),
                g,
                parents,
                members,
            }
            .render()
            .unwrap_or_default(),
        )
    }
    .await;
    let pane = pane.unwrap_or_else(|e| error_pane(&s, &e));
    show(&state, &s, &headers, pane).await
}

/// `POST /admin/admin-groups` (masters, ORG-4).
pub(super) async fn admin_group_create(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let result = async {
        let req = api::groups::NewAdminGroup {
            parent_id: f.id("parent_id")?,
            name: f.text("name"),
            description: f.text("description"),
        };
        api::groups::create_admin_group(State(state.clone()), s.caller.clone(), Json(req)).await
    }
    .await;
    match result {
        Ok(_) => saved(&state, &s, "created").await,
        Err(e) => Flash::err(&tr, &e),
    }
}

/// `POST /admin/admin-groups/{id}` (masters, ORG-4).
pub(super) async fn admin_group_save(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let result = async {
        let patch = api::groups::AdminGroupPatch {
            name: Some(f.text("name")),
            description: Some(f.text("description")),
            enabled: Some(f.checked("enabled")),
            parent_id: Some(f.id("parent_id")?),
        };
        api::groups::patch_admin_group(
            State(state.clone()),
            s.caller.clone(),
            Path(id),
            Json(patch),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => saved(&state, &s, "saved").await,
        Err(e) => Flash::err(&s.tr(), &e),
    }
}
