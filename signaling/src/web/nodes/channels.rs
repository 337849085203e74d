//! A channel's form (CHAN-1..5): rename, assign to groups, remove a
//! technician, its link and a form to paste on a company site, and a test
//! session.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Form, Json};

use super::{error_pane, saved, show};
use crate::api;
use crate::api::channels::{Channel, ChannelPatch, Ids};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash};

#[derive(Template, Debug)]
#[template(path = "channel.html")]
struct ChannelPane {
    p: Chrome,
    c: Channel,
    /// Groups in scope: id, name, assigned.
    groups: Vec<(i64, String, bool)>,
    /// Technicians of its groups in scope: id, name, excluded.
    technicians: Vec<(i64, String, bool)>,
    /// The HTML a company pastes on its site (shown as text).
    snippet: String,
    /// The applet settings form, rendered by its own template.
    applet: String,
    /// The routing form (SESS-3..5, FIELD-1).
    routing: String,
}

async fn channel_pane(state: &AppState, s: &Staff, id: i64) -> ApiResult<String> {
    let st = || State(state.clone());
    let Json(all) = api::channels::list(st(), s.caller.clone()).await?;
    let c = all
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("channel"))?;
    let Json(gs) = api::groups::list_groups(st(), s.caller.clone()).await?;
    let groups = gs
        .iter()
        .map(|g| (g.id, g.name.clone(), c.group_ids.contains(&g.id)))
        .collect();
    let Json(users) = api::users::list_users(st(), s.caller.clone()).await?;
    let technicians = users
        .iter()
        .filter(|u| u.role == "technician")
        .filter(|u| u.tech_group_id.is_some_and(|g| c.group_ids.contains(&g)))
        .map(|u| (u.id, u.name.clone(), c.excluded_user_ids.contains(&u.id)))
        .collect();
    let snippet = format!(
        "<form action=\"{}\" method=\"get\">\n  <button type=\"submit\">{}</button>\n</form>",
        c.link_url,
        s.tr().t("channel-snippet-button")
    );
    let applet = super::applet::form(
        s,
        format!("/admin/channels/{id}/applet"),
        crate::api::applet::of_channel(state, id).await?,
    );
    let routing = super::routing::channel_form(state, s, id).await?;
    Ok(ChannelPane {
        applet,
        routing,
        p: Chrome::staff(s, "channel-title"),
        c,
        groups,
        technicians,
        snippet,
    }
    .render()
    .unwrap_or_default())
}

/// `GET /admin/channels/{id}`.
pub(in crate::web) async fn channel_page(
    State(state): State<AppState>,
    s: Staff,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let pane = channel_pane(&state, &s, id)
        .await
        .unwrap_or_else(|e| error_pane(&s, &e));
    show(&state, &s, &headers, pane).await
}

/// `POST /admin/channels/{id}`: name and description, groups, exclusions
/// (each the API's own call).
pub(in crate::web) async fn channel_save(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let result = async {
        let st = || State(state.clone());
        let patch = ChannelPatch {
            name: Some(f.text("name")),
            description: Some(f.text("description")),
        };
        let _ = api::channels::patch(st(), s.caller.clone(), Path(id), Json(patch)).await?;
        if f.checked("groups_shown") {
            let ids = Ids {
                ids: f.ids("group")?,
            };
            let _ = api::channels::put_groups(st(), s.caller.clone(), Path(id), Json(ids)).await?;
        }
        if f.checked("technicians_shown") {
            let ids = Ids {
                ids: f.ids("excluded")?,
            };
            let _ =
                api::channels::put_exclusions(st(), s.caller.clone(), Path(id), Json(ids)).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => saved(&state, &s, "saved").await,
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

/// `POST /admin/channels/{id}/test` (CHAN-5): a test session in its queue.
pub(in crate::web) async fn channel_test(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
) -> Response {
    match api::channels::test(State(state.clone()), s.caller.clone(), Path(id)).await {
        Ok((_, Json(view))) => Flash::ok(s.tr().t1("channel-tested", "id", view.id)),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}
