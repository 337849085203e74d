//! The customer's pages: the PIN code (SESS-1) and a channel's form
//! (CHAN-4, FIELD-1). Both redeem through the API's own handlers, so a
//! wrong code is throttled per address exactly as the API's is; after a
//! valid one the page tells the customer the estimated wait (APPLET-4)
//! and how to start the applet with the session already bound to it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
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
    fields: Vec<(String, String, String)>,
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
    /// FIELD-2: the session and its token for the fields' form.
    session_id: String,
    token: String,
    /// Input name, label (the private session's fields).
    fields: Vec<(String, String)>,
    /// The fields were just saved, or why not.
    fields_saved: bool,
    fields_error: Option<String>,
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
    joined_with(state, lang, j, (false, None)).await
}

async fn joined_with(
    state: &AppState,
    lang: Lang,
    j: &Joined,
    (fields_saved, fields_error): (bool, Option<String>),
) -> Response {
    let server = state.config.public_url.trim_end_matches('/');
    let applet = crate::api::applet::for_session(state, &j.session_id)
        .await
        .unwrap_or_default();
    let fields = crate::sessions::customer_names(state, &j.session_id)
        .await
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (format!("field{i}"), name))
        .collect();
    let survey = crate::api::surveys::load(&state.store.pool, "customer")
        .await
        .is_ok_and(|c| c.enabled)
        .then(|| crate::web::survey::link(&j.session_id, j.customer_token.expose()));
    render(
        StatusCode::OK,
        &JoinedPage {
            session_id: j.session_id.clone(),
            token: j.customer_token.expose().to_owned(),
            fields,
            fields_saved,
            fields_error,
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
        Err(e) if e.code == "unavailable_page" => go_to(&e.message),
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

/// A channel by its link code: id, name, its terms (APPLET-6) and its
/// custom fields (FIELD-1).
async fn channel_of(state: &AppState, code: &str) -> Option<(i64, String, String, Vec<String>)> {
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
    let fields = crate::routing::of_channel(state, id)
        .await
        .map(|r| r.fields)
        .unwrap_or_default();
    Some((id, name, terms, fields))
}

/// The form's inputs: input name, label, stored name. A channel's own
/// fields (FIELD-1) replace the standard ones.
fn inputs(p: &Chrome, configured: &[String]) -> Vec<(String, String, String)> {
    if configured.is_empty() {
        CHANNEL_FIELDS
            .iter()
            .map(|(name, label)| ((*name).to_owned(), p.t(label), (*name).to_owned()))
            .collect()
    } else {
        configured
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("field{i}"), name.clone(), name.clone()))
            .collect()
    }
}

/// SESS-5: a channel that sends its customers to a page when nobody is
/// available does so before the form.
async fn redirect_if_closed(state: &AppState, channel: i64) -> Option<Response> {
    match crate::routing::admit_channel(state, channel).await {
        Ok(Err(crate::routing::Refusal { url: Some(url), .. })) => Some(go_to(&url)),
        _ => None,
    }
}

/// SESS-5, SESS-6: the page the help desk named (checked `http(s)://` when
/// saved) instead of a session.
fn go_to(url: &str) -> Response {
    axum::response::Redirect::to(url).into_response()
}

fn channel_form(
    lang: Lang,
    status: StatusCode,
    code: String,
    (channel, terms, configured): (String, String, &[String]),
    error: Option<String>,
    f: &Fields,
) -> Response {
    let p = Chrome::anonymous(lang, "channel-form-title");
    let fields = inputs(&p, configured)
        .into_iter()
        .map(|(input, label, _)| {
            let value = f.text(&input);
            (input, label, value)
        })
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
        Some((id, name, terms, configured)) => {
            if let Some(r) = redirect_if_closed(&state, id).await {
                return r;
            }
            channel_form(
                lang,
                StatusCode::OK,
                code,
                (name, terms, &configured),
                None,
                &Fields::default(),
            )
        }
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
    let Some((_, channel, terms, configured)) = channel_of(&state, &code).await else {
        return not_found(lang);
    };
    if !terms.is_empty() && !f.checked("accept") {
        let msg = crate::web::i18n::Tr::new(lang).t("error-terms");
        return channel_form(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            (channel, terms, &configured),
            Some(msg),
            &f,
        );
    }
    let p = Chrome::anonymous(lang, "channel-form-title");
    let fields: BTreeMap<String, String> = inputs(&p, &configured)
        .into_iter()
        .map(|(input, _, stored)| (stored, f.text(&input)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let req = ChannelJoin {
        name: f.text("name"),
        fields,
    };
    match api::join::join_channel(State(state.clone()), ip, Path(code.clone()), Json(req)).await {
        Ok(Json(j)) => joined(&state, lang, &j).await,
        Err(e) if e.code == "unavailable_page" => go_to(&e.message),
        Err(e) => {
            let msg = crate::web::i18n::Tr::new(lang).error(&e);
            channel_form(
                lang,
                e.status,
                code,
                (channel, terms, &configured),
                Some(msg),
                &f,
            )
        }
    }
}

/// `POST /joined/fields` (FIELD-2): the customer of a private session fills
/// its technician group's fields, proving it with the session's token.
pub(super) async fn fields_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let lang = anonymous_lang(&headers);
    let (id, token) = (f.text("session"), f.text("token"));
    if id.len() > 64 || token.len() > 128 {
        return not_found(lang);
    }
    let names = crate::sessions::customer_names(&state, &id)
        .await
        .unwrap_or_default();
    let values: BTreeMap<String, String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), f.text(&format!("field{i}"))))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let outcome = match crate::sessions::customer_fields(&state, &id, &token, &values).await {
        Ok(()) => (true, None),
        // A wrong or spent token learns nothing more than a wrong channel.
        Err(e) if e.code == "unauthenticated" => return not_found(lang),
        Err(e) => (false, Some(crate::web::i18n::Tr::new(lang).error(&e))),
    };
    let j = Joined {
        session_id: id,
        customer_token: Secret::new(token),
        technician: None,
        estimated_wait_s: None,
        // The page shows how to start the applet; TURN is the applet's.
        turn: None,
    };
    joined_with(&state, lang, &j, outcome).await
}
