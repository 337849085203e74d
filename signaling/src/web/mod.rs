//! The web administration centre and the customer's pages, served by the
//! server itself: HTML rendered on the server by askama templates (escaped
//! by default, checked at compile time), made live by htmx (a vendored
//! file, no build step), in the languages of [`i18n`].
//!
//! The pages act through the REST API's own handlers (scope, audit and
//! transactions stay in one place); they add a cookie session
//! ([`auth::Staff`], an extractor like the API's `Caller`), an Origin check
//! on every state-changing request and a CSRF token on every authenticated
//! one, and a strict Content-Security-Policy on every answer.
//!
//! Every page route is listed by [`routes`], which the router is built
//! from and the route-walk test walks.

pub mod assets;
mod audit;
pub mod auth;
mod chrome;
mod customer;
pub mod i18n;
mod integ;
mod login;
mod nodes;
mod reports;
mod sessions;
mod settings;
mod status;
pub mod survey;
mod tree;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

use crate::state::AppState;

/// Whether a page answers without a staff session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login, the customer's pages, assets).
    Public,
    /// A signed-in staff member; anything else is sent to the login page.
    Staff,
}

/// One page route: the router is built from this list and the route-walk
/// test walks the same list, so no page can escape the walk.
#[derive(Debug)]
pub struct PageRoute {
    /// HTTP method.
    pub method: Method,
    /// Path template (`{id}` placeholders).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    handler: MethodRouter<AppState>,
}

fn r(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> PageRoute {
    PageRoute {
        method,
        path,
        access,
        handler,
    }
}

/// Every page route.
pub fn routes() -> Vec<PageRoute> {
    use Access::{Public, Staff};
    use Method as M;
    vec![
        r(M::GET, "/assets/{file}", Public, get(assets::serve)),
        r(M::GET, "/login", Public, get(login::page)),
        r(M::POST, "/login", Public, post(login::submit)),
        r(M::POST, "/lang", Public, post(login::language)),
        r(M::POST, "/logout", Staff, post(login::logout)),
        r(M::GET, "/password", Staff, get(login::password_page)),
        r(M::POST, "/password", Staff, post(login::password_submit)),
        r(M::GET, "/admin", Staff, get(tree::page)),
        r(M::GET, "/admin/tree", Staff, get(tree::fragment)),
        r(M::POST, "/admin/move", Staff, post(tree::move_node)),
        r(M::GET, "/admin/users/{id}", Staff, get(nodes::user_page)),
        r(M::POST, "/admin/users/{id}", Staff, post(nodes::user_save)),
        r(M::POST, "/admin/users", Staff, post(nodes::user_create)),
        r(
            M::GET,
            "/admin/tech-groups/{id}",
            Staff,
            get(nodes::group_page),
        ),
        r(
            M::POST,
            "/admin/tech-groups/{id}",
            Staff,
            post(nodes::group_save),
        ),
        r(
            M::POST,
            "/admin/tech-groups/{id}/settings",
            Staff,
            post(nodes::group_settings),
        ),
        r(
            M::POST,
            "/admin/tech-groups",
            Staff,
            post(nodes::group_create),
        ),
        r(
            M::GET,
            "/admin/admin-groups/{id}",
            Staff,
            get(nodes::admin_group_page),
        ),
        r(
            M::POST,
            "/admin/admin-groups",
            Staff,
            post(nodes::admin_group_create),
        ),
        r(
            M::GET,
            "/admin/channels/{id}",
            Staff,
            get(nodes::channel_page),
        ),
        r(
            M::POST,
            "/admin/channels/{id}",
            Staff,
            post(nodes::channel_save),
        ),
        r(
            M::POST,
            "/admin/channels/{id}/test",
            Staff,
            post(nodes::channel_test),
        ),
        r(M::GET, "/admin/sessions", Staff, get(sessions::page)),
        r(M::GET, "/admin/sessions/rows", Staff, get(sessions::rows)),
        r(
            M::POST,
            "/admin/sessions/{id}/transfer",
            Staff,
            post(sessions::transfer),
        ),
        r(M::GET, "/admin/audit", Staff, get(audit::page)),
        r(M::GET, "/admin/settings", Staff, get(settings::page)),
        r(M::POST, "/admin/settings", Staff, post(settings::save)),
        r(
            M::POST,
            "/admin/tech-groups/{id}/applet",
            Staff,
            post(nodes::group_applet),
        ),
        r(
            M::POST,
            "/admin/channels/{id}/applet",
            Staff,
            post(nodes::channel_applet),
        ),
        r(
            M::POST,
            "/admin/admin-groups/{id}",
            Staff,
            post(nodes::admin_group_save),
        ),
        r(
            M::POST,
            "/admin/channels/{id}/routing",
            Staff,
            post(nodes::channel_routing),
        ),
        r(
            M::POST,
            "/admin/tech-groups/{id}/routing",
            Staff,
            post(nodes::group_routing),
        ),
        r(M::GET, "/admin/status", Staff, get(status::page)),
        r(M::GET, "/admin/status/rows", Staff, get(status::rows)),
        r(
            M::POST,
            "/joined/fields",
            Public,
            post(customer::fields_submit),
        ),
        // Issue 20 part B: integrations, surveys, reports.
        r(M::GET, "/admin/api-keys", Staff, get(integ::keys_page)),
        r(M::POST, "/admin/api-keys", Staff, post(integ::key_create)),
        r(
            M::POST,
            "/admin/api-keys/{id}/revoke",
            Staff,
            post(integ::key_revoke),
        ),
        r(
            M::GET,
            "/admin/post-urls",
            Staff,
            get(integ::post_urls_page),
        ),
        r(
            M::POST,
            "/admin/post-urls",
            Staff,
            post(integ::post_url_create),
        ),
        r(
            M::POST,
            "/admin/post-urls/{id}",
            Staff,
            post(integ::post_url_toggle),
        ),
        r(M::GET, "/admin/surveys", Staff, get(integ::surveys_page)),
        r(
            M::POST,
            "/admin/surveys/{kind}",
            Staff,
            post(integ::survey_save),
        ),
        r(M::GET, "/admin/reports", Staff, get(reports::page)),
        r(M::GET, "/admin/reports/csv", Staff, get(reports::csv)),
        r(M::GET, "/survey/{id}", Public, get(survey::page)),
        r(M::POST, "/survey/{id}", Public, post(survey::submit)),
        r(M::GET, "/", Public, get(customer::pin_page)),
        r(M::POST, "/", Public, post(customer::pin_submit)),
        r(M::GET, "/join/{code}", Public, get(customer::channel_page)),
        r(
            M::POST,
            "/join/{code}",
            Public,
            post(customer::channel_submit),
        ),
    ]
}

/// The pages' router.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for route in routes() {
        router = router.route(route.path, route.handler);
    }
    router
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            same_origin_writes,
        ))
        .layer(axum::middleware::map_response(security_headers))
}

/// The Content-Security-Policy of every page: scripts and styles only from
/// files this server serves, nothing inline, no frames, no plug-ins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether a state-changing request comes from one of our own pages: its
/// Origin is the public origin, an allowed one, or the origin the request
/// was addressed to (a browser cannot forge Host or Origin for another
/// site); a browser saying the request is cross-site is refused whatever
/// the Origin.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let config = &state.config;
    if origin == config.public_origin() || config.allowed_origins.iter().any(|a| a == origin) {
        return true;
    }
    let scheme = if config.public_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| origin == format!("{scheme}://{host}"))
}

async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if !safe && !same_origin(&state, req.headers()) {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "cross-origin request refused",
        )
            .into_response();
    }
    next.run(req).await
}
