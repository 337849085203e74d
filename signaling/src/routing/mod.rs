//! Session routing (SESS-3..6), technician status (SESS-9), custom fields
//! (FIELD-1, FIELD-2) and the console's texts (CONSOLE-16).
//!
//! A channel's settings ([`ChannelRouting`]) and a technician group's
//! ([`GroupRouting`]) are JSON in a column of their own, like the applet
//! settings. The sweeper ([`sweep`]) acts on them: every step is a
//! conditional UPDATE, and auto-start runs under the organisation's write
//! lock, so with several nodes on one PostgreSQL each session is moved once
//! and no technician goes past its maximum.

pub mod hours;
pub mod presence;
pub mod sweep;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use hours::{DayHours, WorkingHours};

/// Most custom fields of a channel or a group.
pub const MAX_FIELDS: usize = 5;
/// Longest custom field name.
pub const MAX_FIELD_NAME: usize = 100;
/// Longest custom field value.
pub const MAX_FIELD_VALUE: usize = 500;
/// Longest message or address shown to a customer.
pub const MAX_MESSAGE: usize = 500;
/// Longest console text (the create-session dialog, the e-mail text).
pub const MAX_CONSOLE_TEXT: usize = 4000;
/// Longest wait before an auto-transfer, seconds (one day).
pub const MAX_AFTER_S: i64 = 86_400;
/// Highest maximum of concurrent sessions.
pub const MAX_SESSIONS: i64 = 100;
/// Longest idle time before an automatic logout, seconds (one day).
pub const MAX_IDLE_LOGOUT_S: i64 = 86_400;

/// What happens when no technician is available (SESS-5, SESS-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnavailableAction {
    /// The session waits in the queue anyway.
    #[default]
    Wait,
    /// The customer is shown a message; no session is opened.
    Message,
    /// The customer's browser goes to a web page; no session is opened.
    Page,
    /// No session is opened, and waiting ones close (`unavailable`).
    Close,
}

/// The behaviour when no technician is available.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WhenUnavailable {
    /// What happens.
    pub action: UnavailableAction,
    /// The message shown (`message`, `close`); empty: a standard one.
    #[schema(max_length = 500, pattern = "{text}")]
    pub message: String,
    /// The page (`page`): an `https://` or `http://` address.
    #[schema(max_length = 500, pattern = "{text}")]
    pub url: String,
}

/// SESS-3: channel sessions waiting longer than this go to another group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoTransfer {
    /// Seconds in the queue before the transfer (the page sets minutes).
    #[schema(minimum = 1, maximum = 86_400)]
    pub after_s: i64,
    /// The technician group the session goes to.
    pub group_id: i64,
}

/// A channel's routing (SESS-3..5) and custom fields (FIELD-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelRouting {
    /// SESS-3; none: sessions stay in the channel's queue.
    pub auto_transfer: Option<AutoTransfer>,
    /// SESS-4: waiting sessions are given to the available technician idle
    /// longest, within its maximum.
    pub auto_start: bool,
    /// SESS-5; none: always open.
    pub hours: Option<WorkingHours>,
    /// SESS-5: outside the hours, or with no technician available.
    pub unavailable: WhenUnavailable,
    /// FIELD-1: the names of the fields the channel's form asks.
    #[schema(max_items = 5)]
    pub fields: Vec<String>,
}

/// CONSOLE-16: texts the console shows its technicians.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleTexts {
    /// Instructions in the "create session" dialog.
    #[schema(max_length = 4000, pattern = "{text}")]
    pub create_dialog: String,
    /// The informational link's label.
    #[schema(max_length = 500, pattern = "{text}")]
    pub info_link_label: String,
    /// The informational link (`https://` or `http://`).
    #[schema(max_length = 500, pattern = "{text}")]
    pub info_link_url: String,
    /// The default e-mail text inviting a customer to a private session.
    #[schema(max_length = 4000, pattern = "{text}")]
    pub email_text: String,
}

/// A technician group's status rules (SESS-9), private-session routing
/// (SESS-6), custom fields (FIELD-2) and console texts (CONSOLE-16).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GroupRouting {
    /// Most sessions a technician of the group is auto-assigned at once
    /// (active or on hold); 0: no limit.
    #[schema(minimum = 0, maximum = 100)]
    pub max_sessions: i64,
    /// A technician idle this long is logged out, seconds; 0: never.
    #[schema(minimum = 0, maximum = 86_400)]
    pub idle_logout_s: i64,
    /// SESS-6: a private session whose technician is away or offline.
    pub private_unavailable: WhenUnavailable,
    /// FIELD-2: fields of private sessions, asked in the console's
    /// "create session" dialog and stored with the session.
    #[schema(max_items = 5)]
    pub fields: Vec<String>,
    /// CONSOLE-16.
    pub console: ConsoleTexts,
    /// SESS-10: whether administrators covering the group may watch its
    /// technicians' consoles, and with which consent.
    pub monitoring: MonitorConsent,
}

/// SESS-10: how a technician consents to being watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorConsent {
    /// Nobody watches this group's consoles.
    #[default]
    Off,
    /// The technician is told when an administrator starts watching.
    Tell,
    /// The technician is asked and may decline.
    Ask,
}

impl MonitorConsent {
    /// As stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Tell => "tell",
            Self::Ask => "ask",
        }
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned + Default>(stored: &str) -> T {
    // Empty (never set) or unreadable: the defaults.
    serde_json::from_str(stored).unwrap_or_default()
}

/// The shared text rules, answered 422: the routing document states them
/// in prose, beyond what its schema can say.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    crate::store::check_text(field, value, max).map_err(|e| ApiError::unprocessable(e.message))
}

fn check_url(field: &str, url: &str) -> ApiResult<()> {
    check_text(field, url, MAX_MESSAGE)?;
    let ok = url.is_empty()
        || ((url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(char::is_whitespace)
            && url.len() > "https://".len());
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "{field} must be an http:// or https:// address"
        )))
    }
}

fn check_unavailable(w: &WhenUnavailable) -> ApiResult<()> {
    check_text("message", &w.message, MAX_MESSAGE)?;
    check_url("url", &w.url)?;
    if w.action == UnavailableAction::Page && w.url.is_empty() {
        return Err(ApiError::unprocessable("the page action needs a url"));
    }
    Ok(())
}

fn check_fields(fields: &[String]) -> ApiResult<()> {
    if fields.len() > MAX_FIELDS {
        return Err(ApiError::unprocessable(format!(
            "at most {MAX_FIELDS} custom fields"
        )));
    }
    for (i, f) in fields.iter().enumerate() {
        check_text("field name", f, MAX_FIELD_NAME)?;
        if f.trim().is_empty() {
            return Err(ApiError::unprocessable("a field name is empty"));
        }
        if fields[..i].contains(f) || f == "name" {
            return Err(ApiError::unprocessable(format!("field {f:?} is repeated")));
        }
    }
    Ok(())
}

impl ChannelRouting {
    /// Checks every value (the target group's scope is the caller's check).
    pub fn check(&self) -> ApiResult<()> {
        if let Some(t) = &self.auto_transfer
            && !(1..=MAX_AFTER_S).contains(&t.after_s)
        {
            return Err(ApiError::unprocessable(format!(
                "after_s is 1..{MAX_AFTER_S} seconds"
            )));
        }
        if let Some(h) = &self.hours {
            h.check()?;
        }
        check_unavailable(&self.unavailable)?;
        check_fields(&self.fields)
    }
}

impl GroupRouting {
    /// Checks every value.
    pub fn check(&self) -> ApiResult<()> {
        if !(0..=MAX_SESSIONS).contains(&self.max_sessions) {
            return Err(ApiError::unprocessable(format!(
                "max_sessions is 0..{MAX_SESSIONS}"
            )));
        }
        if !(0..=MAX_IDLE_LOGOUT_S).contains(&self.idle_logout_s) {
            return Err(ApiError::unprocessable(format!(
                "idle_logout_s is 0..{MAX_IDLE_LOGOUT_S}"
            )));
        }
        check_unavailable(&self.private_unavailable)?;
        check_fields(&self.fields)?;
        let c = &self.console;
        check_text("create_dialog", &c.create_dialog, MAX_CONSOLE_TEXT)?;
        check_text("info_link_label", &c.info_link_label, MAX_MESSAGE)?;
        check_url("info_link_url", &c.info_link_url)?;
        check_text("email_text", &c.email_text, MAX_CONSOLE_TEXT)
    }
}

/// Stored routing of a channel.
pub async fn of_channel(state: &AppState, id: i64) -> ApiResult<ChannelRouting> {
    let v: Option<String> = sqlx::query_scalar("SELECT routing FROM channels WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
    Ok(v.as_deref().map(parse).unwrap_or_default())
}

/// Stored routing of a technician group.
pub async fn of_group(state: &AppState, id: i64) -> ApiResult<GroupRouting> {
    let v: Option<String> = sqlx::query_scalar("SELECT routing FROM tech_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
    Ok(v.as_deref().map(parse).unwrap_or_default())
}

/// Every channel's routing that differs from the defaults.
pub(crate) async fn all_channels(state: &AppState) -> ApiResult<Vec<(i64, ChannelRouting)>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, routing FROM channels WHERE routing <> '' ORDER BY id")
            .fetch_all(&state.store.pool)
            .await?;
    Ok(rows.into_iter().map(|(id, r)| (id, parse(&r))).collect())
}

/// Every group's routing that differs from the defaults.
pub(crate) async fn all_groups(state: &AppState) -> ApiResult<Vec<(i64, GroupRouting)>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, routing FROM tech_groups WHERE routing <> '' ORDER BY id")
            .fetch_all(&state.store.pool)
            .await?;
    Ok(rows.into_iter().map(|(id, r)| (id, parse(&r))).collect())
}

/// Why a customer is not given a session, and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// For the customer.
    pub message: String,
    /// A page to go to instead (`page`).
    pub url: Option<String>,
}

impl Refusal {
    fn of(w: &WhenUnavailable) -> Self {
        Self {
            message: if w.message.is_empty() {
                "No technician is available at the moment. Please try again later.".to_owned()
            } else {
                w.message.clone()
            },
            url: (w.action == UnavailableAction::Page).then(|| w.url.clone()),
        }
    }

    /// The API's answer (409: the state of the help desk, not a fault of
    /// the server): `unavailable` with the message to show, or
    /// `unavailable_page` with the address to open instead.
    pub fn into_error(self) -> ApiError {
        match self.url {
            Some(url) => ApiError::new(axum::http::StatusCode::CONFLICT, "unavailable_page", url),
            None => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "unavailable",
                self.message,
            ),
        }
    }
}

/// SESS-5: whether a customer may open a session on this channel now: it
/// is within its hours and a technician is available, or the channel
/// says to wait anyway.
pub async fn admit_channel(state: &AppState, channel: i64) -> ApiResult<Result<(), Refusal>> {
    admit_with(state, channel, &of_channel(state, channel).await?).await
}

async fn admit_with(
    state: &AppState,
    channel: i64,
    r: &ChannelRouting,
) -> ApiResult<Result<(), Refusal>> {
    if r.unavailable.action == UnavailableAction::Wait {
        return Ok(Ok(()));
    }
    let open = r
        .hours
        .as_ref()
        .is_none_or(|h| h.is_open(crate::store::now_ms()));
    if open && presence::channel_has_available(state, channel).await? {
        return Ok(Ok(()));
    }
    Ok(Err(Refusal::of(&r.unavailable)))
}

/// The groups whose private sessions do not wait for an unavailable
/// technician, as this node last read them: the sweeper refreshes it every
/// pass, a save on this node at once. While it is empty (the default
/// settings), a PIN redemption costs no query here.
#[derive(Debug, Default)]
pub struct PrivateRules(std::sync::RwLock<Option<std::collections::HashSet<i64>>>);

impl PrivateRules {
    /// Whether some group may refuse (unknown before the first read: yes).
    fn any(&self) -> bool {
        self.0
            .read()
            .map(|s| s.as_ref().is_none_or(|s| !s.is_empty()))
            .unwrap_or(true)
    }

    /// Every group's rules, as just read.
    pub(crate) fn set_all(&self, groups: &[(i64, GroupRouting)]) {
        let refusing = groups
            .iter()
            .filter(|(_, r)| r.private_unavailable.action != UnavailableAction::Wait)
            .map(|(id, _)| *id)
            .collect();
        if let Ok(mut s) = self.0.write() {
            *s = Some(refusing);
        }
    }

    /// Some groups' rules, as just saved.
    pub(crate) fn set_some(&self, ids: &[i64], r: &GroupRouting) {
        if let Ok(mut s) = self.0.write()
            && let Some(set) = s.as_mut()
        {
            for id in ids {
                if r.private_unavailable.action == UnavailableAction::Wait {
                    set.remove(id);
                } else {
                    set.insert(*id);
                }
            }
        }
    }
}

/// SESS-6: whether a private session of technician `tech` goes on now that
/// its customer came: the technician is online and not away, or its group
/// says to wait anyway.
pub async fn admit_private(state: &AppState, tech: i64) -> ApiResult<Result<(), Refusal>> {
    if !state.private_rules.any() {
        return Ok(Ok(()));
    }
    let row: Option<(Option<i64>, String, Option<i64>, String)> = sqlx::query_as(
        "SELECT u.tech_group_id, u.status, u.console_seen, g.routing FROM users u \
         JOIN tech_groups g ON g.id = u.tech_group_id WHERE u.id = $1",
    )
    .bind(tech)
    .fetch_optional(&state.store.pool)
    .await?;
    let Some((_, status, seen, routing)) = row else {
        return Ok(Ok(()));
    };
    let r: GroupRouting = parse(&routing);
    if r.private_unavailable.action == UnavailableAction::Wait {
        return Ok(Ok(()));
    }
    let online = presence::is_online(state, seen, crate::store::now_ms());
    if online && status != presence::Status::Away.as_str() {
        return Ok(Ok(()));
    }
    Ok(Err(Refusal::of(&r.private_unavailable)))
}

/// The values of the custom fields a request brings: only the configured
/// names, each checked (FIELD-1, FIELD-2).
pub fn check_values(
    names: &[String],
    values: &std::collections::BTreeMap<String, String>,
) -> ApiResult<()> {
    for (k, v) in values {
        if !names.contains(k) {
            return Err(ApiError::unprocessable(format!(
                "{k:?} is not a custom field here"
            )));
        }
        check_text(k, v, MAX_FIELD_VALUE)?;
    }
    Ok(())
}

/// A channel join (SESS-5, FIELD-1): the form's fields are the channel's
/// configured ones when it names any, and the channel admits the customer.
pub async fn admit_join(state: &AppState, channel: i64, fields_json: &str) -> ApiResult<()> {
    let r = of_channel(state, channel).await?;
    if !r.fields.is_empty() {
        let values: std::collections::BTreeMap<String, String> =
            serde_json::from_str(fields_json).unwrap_or_default();
        check_values(&r.fields, &values)?;
    }
    match admit_with(state, channel, &r).await? {
        Ok(()) => Ok(()),
        Err(refusal) => Err(refusal.into_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_rules_skip_the_query_only_when_no_group_refuses() {
        let rules = PrivateRules::default();
        assert!(rules.any(), "unknown before the first read");
        let mut refusing = GroupRouting::default();
        refusing.private_unavailable.action = UnavailableAction::Message;
        rules.set_all(&[(1, GroupRouting::default())]);
        assert!(!rules.any());
        rules.set_some(&[2, 3], &refusing);
        assert!(rules.any());
        rules.set_some(&[2, 3], &GroupRouting::default());
        assert!(!rules.any());
        rules.set_all(&[(4, refusing)]);
        assert!(rules.any());
    }

    #[test]
    fn settings_checks() {
        let mut c = ChannelRouting::default();
        assert!(c.check().is_ok());
        c.unavailable.action = UnavailableAction::Page;
        assert!(c.check().is_err(), "a page needs its address");
        c.unavailable.url = "https://acme.test/closed".into();
        assert!(c.check().is_ok());
        c.fields = vec!["A".into(), "A".into()];
        assert!(c.check().is_err(), "repeated field");
        let g = GroupRouting {
            max_sessions: 101,
            ..GroupRouting::default()
        };
        assert!(g.check().is_err());
    }
}
