//! A technician group's forms (ORG-5): general fields, the permissions tab
//! (PERM-1..22 with PERM-1's three chat modes) and its IP restriction
//! (POL-5), saved for the group, its sub-groups or every group (ORG-7);
//! a sub-group or a technician created inside it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Form, Json};

use super::{created, error_pane, saved, show};
use crate::api;
use crate::api::groups::{ApplyQuery, ApplyTo, GroupPatch, GroupSettings, NewTechGroup, TechGroup};
use crate::error::{ApiError, ApiResult};
use crate::ipfilter::IpMode;
use crate::model::{ChatMode, Perm};
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash};

#[derive(Template, Debug)]
#[template(path = "group.html")]
struct GroupPane {
    p: Chrome,
    g: TechGroup,
    /// Other groups it may move under: id, name, selected.
    parents: Vec<(i64, String, bool)>,
    /// Every permission: stored name, label, granted.
    perms: Vec<(&'static str, String, bool)>,
    /// Chat modes: stored name, label, current.
    chat_modes: Vec<(&'static str, String, bool)>,
    /// IP modes: stored name, label, current.
    ip_modes: Vec<(&'static str, String, bool)>,
    ip_ranges: String,
    technicians: Vec<crate::api::users::User>,
    /// The applet settings form, rendered by its own template.
    applet: String,
    /// The routing form (SESS-6, SESS-9, FIELD-2, CONSOLE-16).
    routing: String,
}

async fn group_pane(state: &AppState, s: &Staff, id: i64) -> ApiResult<String> {
    let st = || State(state.clone());
    let Json(g) = api::groups::get_group(st(), s.caller.clone(), Path(id)).await?;
    let Json(all) = api::groups::list_groups(st(), s.caller.clone()).await?;
    let tree = crate::scope::GroupTree::load(&state.store.pool).await?;
    let parents = all
        .iter()
        .filter(|o| !tree.is_within(o.id, id))
        .map(|o| (o.id, o.name.clone(), g.parent_id == Some(o.id)))
        .collect();
    let tr = s.tr();
    let perms = Perm::ALL
        .iter()
        .map(|p| {
            (
                p.name(),
                tr.t(&format!("perm-{}", p.name().replace('_', "-"))),
                g.permissions.contains(p),
            )
        })
        .collect();
    let chat_modes = [ChatMode::On, ChatMode::OnToggle, ChatMode::OffToggle]
        .into_iter()
        .map(|m| {
            let n = m.as_str();
            (
                n,
                tr.t(&format!("chat-{}", n.replace('_', "-"))),
                g.chat_mode == m,
            )
        })
        .collect();
    let ip_modes = [IpMode::Off, IpMode::AllowAllExcept, IpMode::DenyAllExcept]
        .into_iter()
        .map(|m| {
            let n = m.as_str();
            (
                n,
                tr.t(&format!("ip-{}", n.replace('_', "-"))),
                g.ip_mode == m,
            )
        })
        .collect();
    let Json(users) = api::users::list_users(st(), s.caller.clone()).await?;
    let technicians = users
        .into_iter()
        .filter(|u| u.role == "technician" && u.tech_group_id == Some(id))
        .collect();
    let applet = super::applet::form(
        s,
        format!("/admin/tech-groups/{id}/applet"),
        crate::api::applet::of_group(state, id).await?,
    );
    let routing = super::routing::group_form(state, s, id).await?;
    Ok(GroupPane {
        applet,
        routing,
        p: Chrome::staff(s, "group-title"),
        ip_ranges: g.ip_ranges.join("\n"),
        g,
        parents,
        perms,
        chat_modes,
        ip_modes,
        technicians,
    }
    .render()
    .unwrap_or_default())
}

/// `GET /admin/tech-groups/{id}`.
pub(in crate::web) async fn group_page(
    State(state): State<AppState>,
    s: Staff,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let pane = group_pane(&state, &s, id)
        .await
        .unwrap_or_else(|e| error_pane(&s, &e));
    show(&state, &s, &headers, pane).await
}

/// `POST /admin/tech-groups/{id}`: name, description, status, place.
pub(in crate::web) async fn group_save(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let result = async {
        let Json(g) =
            api::groups::get_group(State(state.clone()), s.caller.clone(), Path(id)).await?;
        let parent = f.id("parent_id")?;
        let patch = GroupPatch {
            name: Some(f.text("name")),
            description: Some(f.text("description")),
            enabled: Some(f.checked("enabled")),
            // Only a change moves it (a move has rules of its own).
            parent_id: (parent != g.parent_id).then_some(parent),
        };
        api::groups::patch_group(
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

/// `POST /admin/tech-groups/{id}/settings`: permissions, chat mode and IP
/// restriction, for the button pressed: this group, its sub-groups, all.
pub(in crate::web) async fn group_settings(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let result = async {
        let permissions = f
            .all("perm")
            .map(|n| {
                Perm::ALL
                    .iter()
                    .copied()
                    .find(|p| p.name() == n)
                    .ok_or_else(|| ApiError::invalid("unknown permission"))
            })
            .collect::<ApiResult<Vec<Perm>>>()?;
        let apply = match f.get("apply") {
            Some("subgroups") => ApplyTo::Subgroups,
            Some("all") => ApplyTo::All,
            _ => ApplyTo::Node,
        };
        let settings = GroupSettings {
            permissions,
            chat_mode: ChatMode::parse(f.get("chat_mode").unwrap_or("on")),
            ip_mode: IpMode::parse(f.get("ip_mode").unwrap_or("off")),
            ip_ranges: f
                .text("ip_ranges")
                .split(['\n', ',', ' '])
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        api::groups::put_settings(
            State(state.clone()),
            s.caller.clone(),
            Path(id),
            Query(ApplyQuery { apply: Some(apply) }),
            Json(settings),
        )
        .await
    }
    .await;
    match result {
        Ok(Json(applied)) => {
            let n = applied.group_ids.len();
            Flash::ok(tr.t1("saved-groups", "count", n))
        }
        Err(e) => Flash::err(&tr, &e),
    }
}

/// `POST /admin/tech-groups`: a group at the top (masters) or inside
/// `parent_id`; it starts with its parent's settings.
pub(in crate::web) async fn group_create(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let result = async {
        let req = NewTechGroup {
            parent_id: f.id("parent_id")?,
            name: f.text("name"),
            description: f.text("description"),
            enabled: None,
            settings: None,
        };
        let (_, Json(g)) =
            api::groups::create_group(State(state.clone()), s.caller.clone(), Json(req)).await?;
        Ok::<_, ApiError>(g.id)
    }
    .await;
    match result {
        Ok(id) => match group_pane(&state, &s, id).await {
            Ok(pane) => created(&state, &s, format!("/admin/tech-groups/{id}"), pane).await,
            Err(e) => Flash::err(&tr, &e),
        },
        Err(e) => Flash::err(&tr, &e),
    }
}
