//! The pages' session: the API's own token, kept in an HttpOnly,
//! SameSite=Strict cookie, resolved by [`crate::auth::resolve`] (account
//! and group status, IP restriction, expiry: the API's rules). The
//! [`Staff`] extractor also requires the CSRF token on every request that
//! changes something (htmx sends it as a header from `<body hx-headers>`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{AnyCaller, Caller, resolve};
use crate::state::{AppState, ClientIp};
use crate::store::sha256_hex;
use crate::web::i18n::{Lang, Tr};

/// The session cookie.
pub const SESSION_COOKIE: &str = "secours_session";
/// The language of pages seen without an account (login, customer pages).
pub const LANG_COOKIE: &str = "secours_lang";
/// The header htmx sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value for the session (empty value and max-age 0 end it).
pub fn session_cookie(state: &AppState, token: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token of a session: derived from its secret token, so it is
/// as unguessable and ends with it.
pub fn csrf_of(token: &str) -> String {
    sha256_hex(&format!("csrf:{token}"))
}

/// The language of a request without an account: cookie, then browser.
pub fn anonymous_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept)
        })
        .unwrap_or_default()
}

/// A signed-in staff member on a page.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The caller, as the API knows it.
    pub caller: Caller,
    /// Only a password change is allowed (POL-4, POL-2).
    pub restricted: bool,
    /// The session's CSRF token.
    pub csrf: String,
    /// The account's language.
    pub lang: Lang,
    /// Days before the password expires, when the organisation's notice
    /// period has begun (POL-3).
    pub expires_in_days: Option<i64>,
}

impl Staff {
    /// The messages of the account's language.
    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }
    /// For the API's handlers that accept a restricted token.
    pub fn any(&self) -> AnyCaller {
        AnyCaller {
            caller: self.caller.clone(),
            restricted: self.restricted,
        }
    }
}

/// Why a page refused: where the browser goes instead.
#[derive(Debug)]
pub enum Refused {
    /// No valid session: to the login page (with a reason code it shows).
    Login(Option<&'static str>),
    /// The password must change first.
    Password,
    /// The CSRF token is missing or wrong.
    Csrf,
}

fn go(to: &str, htmx: bool) -> Response {
    if htmx {
        // htmx follows this header with a full navigation.
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }
}

/// Refusals are answered as redirects; the `bool` says whether htmx asked.
#[derive(Debug)]
pub struct Rejection(Refused, bool);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self.0 {
            Refused::Login(None) => go("/login", self.1),
            Refused::Login(Some(code)) => go(&format!("/login?error={code}"), self.1),
            Refused::Password => go("/password", self.1),
            Refused::Csrf => (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "CSRF token missing or wrong",
            )
                .into_response(),
        }
    }
}

/// Resolves the session of a request, if any; `None` when there is no
/// valid one. Errors other than a missing session say why (disabled
/// account, group, address refused).
pub async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
    ip: ClientIp,
) -> Result<Option<(AnyCaller, String)>, &'static str> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match resolve(state, token, ip).await {
        Ok(any) => Ok(Some((any, token.to_owned()))),
        Err(e) if e.code == "unauthenticated" => Ok(None),
        Err(e) => Err(e.code),
    }
}

async fn staff(parts: &mut Parts, state: &AppState) -> Result<Staff, Rejection> {
    let htmx = parts.headers.contains_key("hx-request");
    let ip = ClientIp::from_request_parts(parts, state)
        .await
        .map_err(|_| Rejection(Refused::Login(None), htmx))?;
    let (any, token) = match session_of(state, &parts.headers, ip).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Rejection(Refused::Login(None), htmx)),
        Err(code) => return Err(Rejection(Refused::Login(Some(code)), htmx)),
    };
    let csrf = csrf_of(&token);
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let given = parts.headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
        if given != Some(csrf.as_bytes()) {
            return Err(Rejection(Refused::Csrf, htmx));
        }
    }
    let (lang, changed_at): (String, i64) =
        sqlx::query_as("SELECT language, password_changed_at FROM users WHERE id = $1")
            .bind(any.caller.id)
            .fetch_optional(&state.store.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
    let lang = Lang::parse(&lang).unwrap_or_else(|| anonymous_lang(&parts.headers));
    let (max_age, notice): (i64, i64) =
        sqlx::query_as("SELECT max_password_age_days, expiry_notice_days FROM org WHERE id = 1")
            .fetch_optional(&state.store.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or((0, 0));
    // The same arithmetic as the API's login answer.
    let day = 86_400_000;
    let left = (max_age > 0)
        .then(|| (changed_at + max_age * day - crate::store::now_ms()).div_euclid(day));
    let expires_in_days = left.filter(|d| notice > 0 && *d <= notice);
    Ok(Staff {
        caller: any.caller,
        restricted: any.restricted,
        csrf,
        lang,
        expires_in_days,
    })
}

/// A staff member whose password may have to change: only the password
/// pages and logout take this.
#[derive(Debug, Clone)]
pub struct AnyStaff(pub Staff);

impl FromRequestParts<AppState> for AnyStaff {
    type Rejection = Rejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Rejection> {
        staff(parts, state).await.map(AnyStaff)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Rejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Rejection> {
        let s = staff(parts, state).await?;
        if s.restricted {
            let htmx = parts.headers.contains_key("hx-request");
            return Err(Rejection(Refused::Password, htmx));
        }
        Ok(s)
    }
}
