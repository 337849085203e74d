//! The customer's pages: the PIN code (SESS-1) and a channel's form
//! (CHAN-4, FIELD-1). Both redeem through the API's own handlers, so a
//! wrong code is throttled per address exactly as the API's is; after a
//! valid one the page tells the customer the estimated wait (APPLET-4)
//! and how to start the applet with the session already bound to it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Form, Json};
use std::collections::BTreeMap;

use crate::Secret;
use crate::api;
use crate::api::join::{ChannelJoin, JoinRequest};
use crate::sessions::Joined;
use crate::state::{AppState, ClientIp};
use crate::web::auth::anonymous_lang;
use crate::web::chrome::{Chrome, Fields, render};
use crate::web::i18n::Lang;

/// The channel form's fields besides the name (FIELD-1): stored name,
/// message id of its label.
const CHANNEL_FIELDS: &[(&str, &str)] = &[("email", "field-email"), ("problem", "field-problem")];

#[derive(Template, Debug)]
#[template(path = "pin.html")]
struct PinPage {
    p: Chrome,
    error: Option<String>,
    name: String,
}

#[derive(Template, Debug)]
#[template(path = "channel_form.html")]
struct ChannelForm {
    p: Chrome,
    code: String,
    channel: String,
    /// Terms the customer must accept first (APPLET-6), empty for none.
    terms: String,
    error: Option<String>,
    name: String,
    /// Field name, label, value.
    fields: Vec<(&'static str, String, String)>,
}

#[derive(Template, Debug)]
#[template(path = "joined.html")]
struct JoinedPage {
    p: Chrome,
    technician: Option<String>,
    /// APPLET-4: whether the estimate is shown.
    show_wait: bool,
    /// APPLET-5's welcome text.
    welcome: String,
    wait_minutes: Option<i64>,
    /// The command that starts the applet bound to this session.
    command: String,
    /// Where the customer's survey (SURVEY-2) is answered once it is over.
    survey: Option<String>,
}

/// `GET /`: the PIN page.
pub(super) async fn pin_page(headers: HeaderMap) -> Response {
    let lang = anonymous_lang(&headers);
    render(
        StatusCode::OK,
        &PinPage {
            p: Chrome::anonymous(lang, "pin-title"),
            error: None,
            name: String::new(),
        },
    )
}

async fn joined(state: &AppState, lang: Lang, j: &Joined) -> Response {
    let server = state.config.public_url.trim_end_matches('/');
    let applet = crate::api::applet::for_session(state, &j.session_id)
        .await
        .unwrap_or_default();
    let survey = crate::api::surveys::load(&state.store.pool, "customer")
        .await
        .is_ok_and(|c| c.enabled)
        .then(|| crate::web::survey::link(&j.session_id, j.customer_token.expose()));
    render(
        StatusCode::OK,
        &JoinedPage {
            p: Chrome::anonymous(lang, "joined-title"),
            technician: j.technician.clone(),
            show_wait: applet.show_wait,
            welcome: applet.look.welcome,
            wait_minutes: j.estimated_wait_s.map(|s| (s + 59) / 60),
            command: format!(
                "secours applet --server {server} --session {} --token {}",
                j.session_id,
                j.customer_token.expose()
            ),
            survey,
        },
    )
}

/// `POST /`: a PIN code.
pub(super) async fn pin_submit(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let lang = anonymous_lang(&headers);
    let req = JoinRequest {
        pin: Some(Secret::new(f.text("pin").trim())),
        link: None,
        name: f.text("name"),
    };
    match api::join::join(State(state.clone()), ip, Json(req)).await {
        Ok(Json(j)) => joined(&state, lang, &j).await,
        Err(e) => render(
            e.status,
            &PinPage {
                p: Chrome::anonymous(lang, "pin-title"),
                error: Some(crate::web::i18n::Tr::new(lang).error(&e)),
                name: f.text("name"),
            },
        ),
    }
}

/// A channel by its link code: id, name, and its terms (APPLET-6).
async fn channel_of(state: &AppState, code: &str) -> Option<(i64, String, String)> {
    if code.len() != 32 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (id, name): (i64, String) =
        sqlx::query_as("SELECT id, name FROM channels WHERE link_code = $1")
            .bind(code)
            .fetch_optional(&state.store.pool)
            .await
            .ok()
            .flatten()?;
    let terms = crate::api::applet::of_channel(state, id)
        .await
        .map(|a| a.terms)
        .unwrap_or_default();
    Some((id, name, terms))
}

fn channel_form(
    lang: Lang,
    status: StatusCode,
    code: String,
    (channel, terms): (String, String),
    error: Option<String>,
    f: &Fields,
) -> Response {
    let p = Chrome::anonymous(lang, "channel-form-title");
    let fields = CHANNEL_FIELDS
        .iter()
        .map(|(name, label)| (*name, p.t(label), f.text(name)))
        .collect();
    render(
        status,
        &ChannelForm {
            p,
            code,
            channel,
            terms,
            error,
            name: f.text("name"),
            fields,
        },
    )
}

/// `GET /join/{code}`: a channel's form.
pub(super) async fn channel_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let lang = anonymous_lang(&headers);
    match channel_of(&state, &code).await {
        Some((_, name, terms)) => channel_form(
            lang,
            StatusCode::OK,
            code,
            (name, terms),
            None,
            &Fields::default(),
        ),
        None => not_found(lang),
    }
}

fn not_found(lang: Lang) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &PinPage {
            p: Chrome::anonymous(lang, "pin-title"),
            error: Some(crate::web::i18n::Tr::new(lang).t("error-no-channel")),
            name: String::new(),
        },
    )
}

/// `POST /join/{code}`: the channel's form sent.
pub(super) async fn channel_submit(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let lang = anonymous_lang(&headers);
    let Some((_, channel, terms)) = channel_of(&state, &code).await else {
        return not_found(lang);
    };
    if !terms.is_empty() && !f.checked("accept") {
        let msg = crate::web::i18n::Tr::new(lang).t("error-terms");
        return channel_form(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            (channel, terms),
            Some(msg),
            &f,
        );
    }
    let fields: BTreeMap<String, String> = CHANNEL_FIELDS
        .iter()
        .map(|(name, _)| ((*name).to_owned(), f.text(name)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let req = ChannelJoin {
        name: f.text("name"),
        fields,
    };
    match api::join::join_channel(State(state.clone()), ip, Path(code.clone()), Json(req)).await {
        Ok(Json(j)) => joined(&state, lang, &j).await,
        Err(e) => {
            let msg = crate::web::i18n::Tr::new(lang).error(&e);
            channel_form(lang, e.status, code, (channel, terms), Some(msg), &f)
        }
    }
}
