//! What every page shares: the frame (language switch, account, menu, the
//! password expiry notice) and turning a template into a response.

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::model::Role;
use crate::web::assets;
use crate::web::auth::Staff;
use crate::web::i18n::{Lang, Tr};

/// The frame's data, field `p` of every page template.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Messages.
    pub tr: Tr,
    /// Every language: code, own name, current.
    pub langs: Vec<(&'static str, &'static str, bool)>,
    /// The session's CSRF token (empty without a session).
    pub csrf: String,
    /// The account's e-mail, when signed in.
    pub user: Option<String>,
    /// A master administrator (the global settings and audit pages).
    pub is_master: bool,
    /// An administrator or a master (the org chart and live sessions).
    pub is_admin: bool,
    /// Days before the password expires, inside the notice period (POL-3).
    pub notice_days: Option<i64>,
    /// Page title.
    pub title: String,
}

impl Chrome {
    fn new(lang: Lang, title_id: &str) -> Self {
        let tr = Tr::new(lang);
        Self {
            langs: Lang::all()
                .map(|l| (l.code(), l.native_name(), l == lang))
                .collect(),
            title: tr.t(title_id),
            tr,
            csrf: String::new(),
            user: None,
            is_master: false,
            is_admin: false,
            notice_days: None,
        }
    }

    /// A page for someone signed in.
    pub fn staff(s: &Staff, title_id: &str) -> Self {
        let mut c = Self::new(s.lang, title_id);
        c.csrf.clone_from(&s.csrf);
        c.user = Some(s.caller.email.clone());
        c.is_master = s.caller.role == Role::Master;
        c.is_admin = s.caller.role != Role::Technician;
        c.notice_days = s.expires_in_days;
        c
    }

    /// A page seen without an account, in the browser's language.
    pub fn anonymous(lang: Lang, title_id: &str) -> Self {
        Self::new(lang, title_id)
    }

    /// The language code, for `<html lang>`.
    pub fn lang(&self) -> &'static str {
        self.tr.lang.code()
    }

    /// An asset's URL.
    pub fn asset(&self, name: &str) -> &'static str {
        assets::url(name)
    }

    /// The message `id`.
    pub fn t(&self, id: &str) -> String {
        self.tr.t(id)
    }
}

/// Renders a template with a status.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Renders a template with 200.
pub fn page<T: Template>(t: &T) -> Response {
    render(StatusCode::OK, t)
}

/// Whether htmx asked (it then wants a fragment, not a whole page).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

/// A short message fragment (success or error) for a form's status area.
#[derive(Template, Debug)]
#[template(
    source = r#"<p class="{{ class }}" role="{% if ok %}status{% else %}alert{% endif %}"{% if let Some(f) = field %} data-field="{{ f }}"{% endif %}>{{ text }}</p>"#,
    ext = "html"
)]
pub struct Flash {
    ok: bool,
    class: &'static str,
    text: String,
    /// The form field the error concerns (`app.js` shows it beside it).
    field: Option<&'static str>,
}

/// Fields an API error can name (the first word of its message).
const FIELDS: &[&str] = &[
    "name",
    "nickname",
    "email",
    "sso_id",
    "description",
    "title",
    "welcome",
    "terms",
    "colour",
    "current_password",
];

/// The form field an API error concerns, when it says.
pub fn field_of(e: &crate::error::ApiError) -> Option<&'static str> {
    match e.code {
        "password_too_short" | "password_too_weak" => return Some("password"),
        "current_password_required" => return Some("current_password"),
        _ => {}
    }
    if e.message.contains("e-mail") {
        return Some("email");
    }
    let first = e.message.split([' ', ':']).next().unwrap_or_default();
    FIELDS.iter().copied().find(|f| *f == first)
}

impl Flash {
    /// The fragment's HTML.
    pub fn html(ok: bool, text: String) -> String {
        Self::html_for(ok, text, None)
    }
    fn html_for(ok: bool, text: String, field: Option<&'static str>) -> String {
        Flash {
            ok,
            class: if ok { "flash ok" } else { "flash error" },
            text,
            field,
        }
        .render()
        .unwrap_or_default()
    }
    /// Success.
    pub fn ok(text: String) -> Response {
        axum::response::Html(Self::html(true, text)).into_response()
    }
    /// Failure: the API's message (translated when the catalogue has it),
    /// answered 200 so htmx swaps it in beside the form.
    pub fn err(tr: &Tr, e: &crate::error::ApiError) -> Response {
        axum::response::Html(Self::html_for(false, tr.error(e), field_of(e))).into_response()
    }
}

/// A submitted form as its pairs, in order: repeated names (checkbox
/// lists) keep every value, which a struct cannot say.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The value of `name`, empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every pair, in order.
    pub fn all_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// A checkbox: present means ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// An optional id: absent or empty is None, anything else must parse.
    pub fn id(&self, name: &str) -> Result<Option<i64>, crate::error::ApiError> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| crate::error::ApiError::invalid(format!("{name} is not an id"))),
        }
    }
    /// Every value of `name` as ids.
    pub fn ids(&self, name: &str) -> Result<Vec<i64>, crate::error::ApiError> {
        self.all(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| crate::error::ApiError::invalid(format!("{name} is not an id")))
            })
            .collect()
    }
}
