//! Login, logout, the password change (forced by POL-4 or an expired
//! password, POL-2), and the language switch (POL-6). Each calls the API's
//! own handler, so throttling, audit and notifications are the API's.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::Secret;
use crate::api;
use crate::api::auth::{LoginRequest, PasswordChange};
use crate::state::{AppState, ClientIp};
use crate::web::auth::{
    AnyStaff, CSRF_HEADER, LANG_COOKIE, anonymous_lang, csrf_of, session_cookie, session_of,
};
use crate::web::chrome::{Chrome, Flash, page as html_page, render};
use crate::web::i18n::{Lang, Tr};

#[derive(Template, Debug)]
#[template(path = "login.html")]
struct LoginPage {
    p: Chrome,
    error: Option<String>,
    email: String,
}

/// Reasons the login page may be sent to show (never free text from the URL).
const REASONS: &[&str] = &["account_disabled", "group_disabled", "ip_restricted"];

#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    error: Option<String>,
}

/// `GET /login`.
pub(super) async fn page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let lang = anonymous_lang(&headers);
    let tr = Tr::new(lang);
    let error = q
        .error
        .as_deref()
        .filter(|c| REASONS.contains(c))
        .map(|c| tr.t(&format!("error-{}", c.replace('_', "-"))));
    self::page_with(lang, error, String::new(), StatusCode::OK)
}

fn page_with(lang: Lang, error: Option<String>, email: String, status: StatusCode) -> Response {
    render(
        status,
        &LoginPage {
            p: Chrome::anonymous(lang, "login-title"),
            error,
            email,
        },
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    email: String,
    password: String,
}

fn see_other(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// `POST /login`.
pub(super) async fn submit(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = anonymous_lang(&headers);
    let req = LoginRequest {
        email: f.email.clone(),
        password: Secret::new(f.password),
    };
    match api::auth::login(State(state.clone()), ip, Json(req)).await {
        Ok(Json(resp)) => {
            let max_age = (resp.expires_at - crate::store::now_ms()) / 1000;
            let to = if resp.must_change_password {
                "/password"
            } else {
                "/admin"
            };
            let mut r = see_other(to);
            r.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&state, resp.token.expose(), max_age),
            );
            r
        }
        Err(e) => page_with(lang, Some(Tr::new(lang).error(&e)), f.email, e.status),
    }
}

/// `POST /logout`: ends the token (and the consoles opened with it).
pub(super) async fn logout(State(state): State<AppState>, AnyStaff(s): AnyStaff) -> Response {
    let _ = api::auth::logout(State(state.clone()), s.any()).await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    h.insert("hx-redirect", HeaderValue::from_static("/login"));
    r
}

#[derive(Template, Debug)]
#[template(path = "password.html")]
struct PasswordPage {
    p: Chrome,
    forced: bool,
}

/// `GET /password`.
pub(super) async fn password_page(AnyStaff(s): AnyStaff) -> Response {
    html_page(&PasswordPage {
        p: Chrome::staff(&s, "password-title"),
        forced: s.restricted,
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm: String,
}

/// `POST /password`: on success the API ended every token of the account
/// and gave a fresh one, which becomes the session.
pub(super) async fn password_submit(
    State(state): State<AppState>,
    AnyStaff(s): AnyStaff,
    Form(f): Form<PasswordForm>,
) -> Response {
    let tr = s.tr();
    if f.new_password != f.confirm {
        return Flash::err(
            &tr,
            &crate::error::ApiError::invalid(tr.t("password-mismatch")),
        );
    }
    let req = PasswordChange {
        current_password: Secret::new(f.current_password),
        new_password: Secret::new(f.new_password),
    };
    match api::auth::change_password(State(state.clone()), s.any(), Json(req)).await {
        Ok(Json(resp)) => {
            let max_age = (resp.expires_at - crate::store::now_ms()) / 1000;
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                header::SET_COOKIE,
                session_cookie(&state, resp.token.expose(), max_age),
            );
            h.insert("hx-redirect", HeaderValue::from_static("/admin"));
            r
        }
        Err(e) => Flash::err(&tr, &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct LangForm {
    lang: String,
}

/// `POST /lang`: the language of this browser, and of the account when
/// signed in (with the session's CSRF token).
pub(super) async fn language(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Form(f): Form<LangForm>,
) -> Response {
    let Some(lang) = Lang::parse(&f.lang) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    // The account's language changes only with the session's CSRF token;
    // the browser's cookie alone is harmless to set (a page seen signed
    // out, with a session cookie left, has no token to send).
    if let Ok(Some((any, token))) = session_of(&state, &headers, ip).await
        && headers.get(CSRF_HEADER).map(HeaderValue::as_bytes) == Some(csrf_of(&token).as_bytes())
    {
        if let Err(e) = sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
            .bind(lang.code())
            .bind(any.caller.id)
            .execute(&state.store.pool)
            .await
        {
            tracing::warn!(error = %e, "saving the language");
        }
    }
    let cookie = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    ))
    .unwrap_or(HeaderValue::from_static(""));
    // htmx reloads the page itself (a redirect would be followed inside
    // its request); a plain form post goes back to where it was.
    if headers.contains_key("hx-request") {
        return (
            StatusCode::NO_CONTENT,
            [
                (header::SET_COOKIE, cookie),
                (
                    header::HeaderName::from_static("hx-refresh"),
                    HeaderValue::from_static("true"),
                ),
            ],
        )
            .into_response();
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        .filter(|p| !p.starts_with("//"))
        .unwrap_or_else(|| "/".to_owned());
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (
                header::LOCATION,
                HeaderValue::from_str(&back).unwrap_or(HeaderValue::from_static("/")),
            ),
        ],
    )
        .into_response()
}
