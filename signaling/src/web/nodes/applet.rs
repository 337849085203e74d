//! The applet settings form (APPLET-1..6) of a technician group or a
//! channel, saved through the API's own handlers.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Form, Json};

use crate::api;
use crate::api::applet::{AppletLook, AppletSettings, InputPriority, RunMode};
use crate::api::groups::{ApplyQuery, ApplyTo};
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash};

#[derive(Template, Debug)]
#[template(path = "applet_form.html")]
struct AppletForm {
    p: Chrome,
    /// A group's form (three saves) or a channel's (this one, all).
    group: bool,
    /// `/admin/tech-groups/3/applet` or `/admin/channels/2/applet`.
    action: String,
    a: AppletSettings,
}

impl AppletForm {
    fn chat_only(&self) -> bool {
        self.a.run_mode == RunMode::ChatOnly
    }
    fn technician_first(&self) -> bool {
        self.a.priority == InputPriority::Technician
    }
}

/// The form, rendered for a node's pane.
pub(super) fn form(s: &Staff, action: String, a: AppletSettings) -> String {
    AppletForm {
        group: action.starts_with("/admin/tech-groups/"),
        p: Chrome::staff(s, "applet-title"),
        action,
        a,
    }
    .render()
    .unwrap_or_default()
}

/// ORG-7: the button pressed.
fn apply_of(f: &Fields) -> ApplyQuery {
    ApplyQuery {
        apply: Some(match f.get("apply") {
            Some("subgroups") => ApplyTo::Subgroups,
            Some("all") => ApplyTo::All,
            _ => ApplyTo::Node,
        }),
    }
}

fn read(f: &Fields) -> AppletSettings {
    AppletSettings {
        run_mode: if f.get("run_mode") == Some("chat_only") {
            RunMode::ChatOnly
        } else {
            RunMode::Standard
        },
        system_service: f.checked("system_service"),
        priority: if f.get("priority") == Some("technician") {
            InputPriority::Technician
        } else {
            InputPriority::Customer
        },
        show_wait: f.checked("show_wait"),
        look: AppletLook {
            title: f.text("title"),
            colour: f.text("colour"),
            welcome: f.text("welcome"),
        },
        terms: f.text("terms").replace("\r\n", "\n"),
    }
}

/// `POST /admin/tech-groups/{id}/applet`.
pub(in crate::web) async fn group_applet(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let apply = Query(apply_of(&f));
    match api::applet::put_group(
        State(state),
        s.caller.clone(),
        Path(id),
        apply,
        Json(read(&f)),
    )
    .await
    {
        Ok(_) => Flash::ok(s.tr().t("saved")),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

/// `POST /admin/channels/{id}/applet`.
pub(in crate::web) async fn channel_applet(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let apply = Query(apply_of(&f));
    match api::applet::put_channel(
        State(state),
        s.caller.clone(),
        Path(id),
        apply,
        Json(read(&f)),
    )
    .await
    {
        Ok(_) => Flash::ok(s.tr().t("saved")),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}
