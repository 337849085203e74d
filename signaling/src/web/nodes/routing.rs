//! The routing forms of a channel (SESS-3..5, FIELD-1) and of a technician
//! group (SESS-6, SESS-9, FIELD-2, CONSOLE-16), saved through the API's
//! own handlers.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Form, Json};

use crate::api;
use crate::api::groups::{ApplyQuery, ApplyTo};
use crate::error::{ApiError, ApiResult};
use crate::routing::{
    AutoTransfer, ChannelRouting, ConsoleTexts, DayHours, GroupRouting, MAX_FIELDS, MonitorConsent,
    UnavailableAction, WhenUnavailable, WorkingHours,
};
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash};

/// The actions, stored name first.
const ACTIONS: [(UnavailableAction, &str); 4] = [
    (UnavailableAction::Wait, "wait"),
    (UnavailableAction::Message, "message"),
    (UnavailableAction::Page, "page"),
    (UnavailableAction::Close, "close"),
];

/// Stored name, label, current.
type Choice = (&'static str, String, bool);

fn actions(p: &Chrome, current: UnavailableAction) -> Vec<Choice> {
    ACTIONS
        .iter()
        .map(|(a, n)| (*n, p.t(&format!("unavailable-{n}")), *a == current))
        .collect()
}

/// Five inputs, the configured names first.
fn field_inputs(names: &[String]) -> Vec<String> {
    (0..MAX_FIELDS)
        .map(|i| names.get(i).cloned().unwrap_or_default())
        .collect()
}

#[derive(Template, Debug)]
#[template(path = "routing_channel.html")]
struct ChannelForm {
    p: Chrome,
    id: i64,
    r: ChannelRouting,
    /// Groups in scope: id, name, the auto-transfer target.
    groups: Vec<(i64, String, bool)>,
    transfer_minutes: String,
    time_zone: String,
    /// Per day 1..7: number, label, its spans (`09:00-12:00, 14:00-17:30`;
    /// empty: closed).
    days: Vec<(i64, String, String)>,
    actions: Vec<Choice>,
    fields: Vec<String>,
}

/// The channel's form, rendered for its pane.
pub(super) async fn channel_form(state: &AppState, s: &Staff, id: i64) -> ApiResult<String> {
    let r = crate::routing::of_channel(state, id).await?;
    let Json(gs) = api::groups::list_groups(State(state.clone()), s.caller.clone()).await?;
    let target = r.auto_transfer.as_ref().map(|t| t.group_id);
    let groups = gs
        .iter()
        .map(|g| (g.id, g.name.clone(), Some(g.id) == target))
        .collect();
    let p = Chrome::staff(s, "routing-title");
    let spans = |day: i64| {
        r.hours
            .iter()
            .flat_map(|h| h.days.iter().filter(|d| d.day == day))
            .map(|d| format!("{}-{}", d.open, d.close))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let days = (1..=7)
        .map(|d| (d, p.t(&format!("day-{d}")), spans(d)))
        .collect();
    Ok(ChannelForm {
        id,
        groups,
        transfer_minutes: r
            .auto_transfer
            .as_ref()
            .map(|t| (t.after_s / 60).max(1).to_string())
            .unwrap_or_default(),
        time_zone: r
            .hours
            .as_ref()
            .map(|h| h.time_zone.clone())
            .unwrap_or_default(),
        days,
        actions: actions(&p, r.unavailable.action),
        fields: field_inputs(&r.fields),
        p,
        r,
    }
    .render()
    .unwrap_or_default())
}

#[derive(Template, Debug)]
#[template(path = "routing_group.html")]
struct GroupForm {
    p: Chrome,
    id: i64,
    r: GroupRouting,
    idle_minutes: i64,
    actions: Vec<Choice>,
    fields: Vec<String>,
    /// SESS-10's consent options.
    monitoring: Vec<Choice>,
}

/// SESS-10's options, stored name first.
const MONITORING: [(MonitorConsent, &str); 3] = [
    (MonitorConsent::Off, "off"),
    (MonitorConsent::Tell, "tell"),
    (MonitorConsent::Ask, "ask"),
];

fn monitoring(p: &Chrome, current: MonitorConsent) -> Vec<Choice> {
    MONITORING
        .iter()
        .map(|(m, n)| (*n, p.t(&format!("monitoring-{n}")), *m == current))
        .collect()
}

/// The group's form, rendered for its pane.
pub(super) async fn group_form(state: &AppState, s: &Staff, id: i64) -> ApiResult<String> {
    let r = crate::routing::of_group(state, id).await?;
    let p = Chrome::staff(s, "routing-title");
    Ok(GroupForm {
        id,
        idle_minutes: r.idle_logout_s / 60,
        actions: actions(&p, r.private_unavailable.action),
        fields: field_inputs(&r.fields),
        monitoring: monitoring(&p, r.monitoring),
        p,
        r,
    }
    .render()
    .unwrap_or_default())
}

fn unavailable(f: &Fields, prefix: &str) -> WhenUnavailable {
    let chosen = f.get(&format!("{prefix}action")).unwrap_or("wait");
    WhenUnavailable {
        action: ACTIONS
            .iter()
            .find(|(_, n)| *n == chosen)
            .map_or(UnavailableAction::Wait, |(a, _)| *a),
        message: f.text(&format!("{prefix}message")),
        url: f.text(&format!("{prefix}url")).trim().to_owned(),
    }
}

fn names(f: &Fields) -> Vec<String> {
    (0..MAX_FIELDS)
        .map(|i| f.text(&format!("field{i}")).trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

fn number(f: &Fields, name: &str) -> ApiResult<i64> {
    let v = f.text(name);
    let v = v.trim();
    if v.is_empty() {
        return Ok(0);
    }
    v.parse()
        .map_err(|_| ApiError::invalid(format!("{name} is a whole number")))
}

/// A day's spans as typed: `09:00-12:00, 14:00-17:30` (the API checks the
/// times themselves).
fn spans_of(day: i64, text: &str) -> ApiResult<Vec<DayHours>> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|span| match span.split_once('-') {
            Some((open, close)) => Ok(DayHours {
                day,
                open: open.trim().to_owned(),
                close: close.trim().to_owned(),
            }),
            None => Err(ApiError::invalid(format!(
                "opening hours are written 09:00-17:30, not {span:?}"
            ))),
        })
        .collect()
}

fn read_channel(f: &Fields) -> ApiResult<ChannelRouting> {
    let minutes = number(f, "transfer_minutes")?;
    let group = number(f, "transfer_group")?;
    let auto_transfer = (minutes > 0 && group > 0).then(|| AutoTransfer {
        after_s: minutes.saturating_mul(60),
        group_id: group,
    });
    let hours = if f.checked("hours_on") {
        let mut days = Vec::new();
        for d in 1..=7 {
            days.extend(spans_of(d, &f.text(&format!("hours{d}")))?);
        }
        Some(WorkingHours {
            time_zone: f.text("time_zone").trim().to_owned(),
            days,
        })
    } else {
        None
    };
    Ok(ChannelRouting {
        auto_transfer,
        auto_start: f.checked("auto_start"),
        hours,
        unavailable: unavailable(f, ""),
        fields: names(f),
    })
}

fn read_group(f: &Fields) -> ApiResult<GroupRouting> {
    Ok(GroupRouting {
        max_sessions: number(f, "max_sessions")?,
        idle_logout_s: number(f, "idle_minutes")?.saturating_mul(60),
        private_unavailable: unavailable(f, ""),
        fields: names(f),
        console: ConsoleTexts {
            create_dialog: f.text("create_dialog").replace("\r\n", "\n"),
            info_link_label: f.text("info_link_label"),
            info_link_url: f.text("info_link_url").trim().to_owned(),
            email_text: f.text("email_text").replace("\r\n", "\n"),
        },
        monitoring: {
            let chosen = f.get("monitoring").unwrap_or("off");
            MONITORING
                .iter()
                .find(|(_, n)| *n == chosen)
                .map_or(MonitorConsent::Off, |(m, _)| *m)
        },
    })
}

/// `POST /admin/channels/{id}/routing`.
pub(in crate::web) async fn channel_routing(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let result = async {
        let r = read_channel(&f)?;
        api::routing::put_channel(State(state), s.caller.clone(), Path(id), Json(r)).await
    }
    .await;
    match result {
        Ok(_) => Flash::ok(s.tr().t("saved")),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

/// `POST /admin/tech-groups/{id}/routing`.
pub(in crate::web) async fn group_routing(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let apply = ApplyQuery {
        apply: Some(match f.get("apply") {
            Some("subgroups") => ApplyTo::Subgroups,
            Some("all") => ApplyTo::All,
            _ => ApplyTo::Node,
        }),
    };
    let result = async {
        let r = read_group(&f)?;
        api::routing::put_group(
            State(state),
            s.caller.clone(),
            Path(id),
            Query(apply),
            Json(r),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Flash::ok(s.tr().t("saved")),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}
