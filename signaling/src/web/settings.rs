//! Global settings (masters): the organisation's password policy (POL-1..3;
//! POL-4 is the forced change that every reset sets), and the account
//! notifications sent to masters (SEC-9), newest first. IP restrictions
//! (POL-5) are per group, on its permissions tab.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::{Form, Json};

use crate::api;
use crate::api::org::{OrgPatch, OrgSettings};
use crate::error::ApiError;
use crate::notify::{Notice, OutboxEntry};
use crate::password::Strength;
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash, page as render};

#[derive(Template, Debug)]
#[template(path = "settings.html")]
struct SettingsPage {
    p: Chrome,
    s: OrgSettings,
    levels: Vec<(i64, String, bool)>,
    /// SEC-9 kinds: name, label, on.
    notices: Vec<(&'static str, String, bool)>,
    outbox: Vec<OutboxEntry>,
}

/// `GET /admin/settings`.
pub(super) async fn page(State(state): State<AppState>, s: Staff) -> Response {
    let tr = s.tr();
    let st = || State(state.clone());
    let settings = match api::org::get_settings(st(), s.caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return Flash::err(&tr, &e),
    };
    let outbox = api::org::outbox(st(), s.caller.clone())
        .await
        .map(|Json(mut o)| {
            o.truncate(50);
            o
        })
        .unwrap_or_default();
    let current = settings.min_password_level.as_i64();
    let levels = (0..4)
        .map(|l| (l, tr.t(&format!("level-{l}")), l == current))
        .collect();
    let notices = Notice::ALL
        .into_iter()
        .map(|n| {
            let label = tr.t(&format!("notice-{}", n.name().replace('_', "-")));
            (n.name(), label, settings.notifications.contains(&n))
        })
        .collect();
    render(&SettingsPage {
        p: Chrome::staff(&s, "settings-title"),
        s: settings,
        levels,
        notices,
        outbox,
    })
}

/// `POST /admin/settings`.
pub(super) async fn save(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let number = |name: &str| {
        f.text(name).trim().parse::<i64>().map_err(|_| {
            ApiError::invalid(tr.t1(
                "error-not-a-number",
                "field",
                tr.t(&format!("field-{}", name.replace('_', "-"))),
            ))
        })
    };
    let patch = (|| {
        Ok::<_, ApiError>(OrgPatch {
            name: Some(f.text("name")),
            min_password_level: f
                .get("min_password_level")
                .and_then(|v| v.parse().ok())
                .map(Strength::from_i64),
            max_password_age_days: Some(number("max_password_age_days")?),
            expiry_notice_days: Some(number("expiry_notice_days")?),
            notifications: f.checked("notices_shown").then(|| {
                Notice::ALL
                    .into_iter()
                    .filter(|n| f.all("notice").any(|v| v == n.name()))
                    .collect()
            }),
        })
    })();
    let result = match patch {
        Ok(p) => api::org::patch_settings(State(state.clone()), s.caller.clone(), Json(p)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Flash::ok(tr.t("saved")),
        Err(e) => Flash::err(&tr, &e),
    }
}

impl SettingsPage {
    fn sent(&self, e: &OutboxEntry) -> String {
        if e.sent_at.is_some() {
            self.p.t("outbox-sent")
        } else {
            self.p.tr.t1("outbox-pending", "attempts", e.attempts)
        }
    }
}
