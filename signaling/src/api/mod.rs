//! The HTTP surface: every route is registered through utoipa's router, so
//! the OpenAPI document served at [`OPENAPI_PATH`] lists exactly the routes
//! that exist (the route-walk test relies on it).

pub mod applet;
pub mod auth;
pub mod channels;
pub mod groups;
pub mod join;
pub mod keys;
pub mod monitor;
pub mod notes;
pub mod org;
pub mod posturl;
pub mod reports;
pub mod routing;
pub mod sessions;
pub mod surveys;
pub mod users;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// Routes that answer without a staff token. Everything else refuses an
/// unauthenticated request (tested by walking the OpenAPI document).
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", OPENAPI_PATH),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/setup"),
    ("post", "/api/v1/join"),
    ("post", "/api/v1/join/channel/{code}"),
    // The applet authenticates with its customer token, checked in the handler.
    ("get", "/ws/applet"),
    // The customer's survey carries the session's customer token in its body.
    ("post", "/api/v1/sessions/{id}/customer-survey"),
];

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Secours server API", description = "Organisation, permissions, sessions, queue and signaling."),
    modifiers(&BearerAuth),
    components(schemas(crate::events::Event, crate::error::ErrorBody,
        crate::api::surveys::SurveyKind, crate::reports::ReportKind))
)]
struct ApiDoc;

/// Liveness and what this node runs on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta", responses((status = 200, body = Health)))]
pub async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        database: match state.store.backend {
            crate::store::Backend::Sqlite => "sqlite",
            crate::store::Backend::Postgres => "postgres",
        }
        .to_owned(),
    })
}

/// The API router and its OpenAPI document.
pub fn api(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(crate::setup::setup_route))
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(users::get_user, users::patch_user))
        .routes(routes!(users::put_assignments))
        .routes(routes!(groups::create_group, groups::list_groups))
        .routes(routes!(groups::get_group, groups::patch_group))
        .routes(routes!(groups::put_settings))
        .routes(routes!(applet::get_group, applet::put_group))
        .routes(routes!(applet::get_channel, applet::put_channel))
        .routes(routes!(
            groups::create_admin_group,
            groups::list_admin_groups
        ))
        .routes(routes!(groups::patch_admin_group))
        .routes(routes!(org::get_settings, org::patch_settings))
        .routes(routes!(org::tree))
        .routes(routes!(org::audit_list))
        .routes(routes!(org::audit_verify))
        .routes(routes!(org::outbox))
        .routes(routes!(channels::list))
        .routes(routes!(channels::patch))
        .routes(routes!(channels::put_groups))
        .routes(routes!(channels::put_exclusions))
        .routes(routes!(channels::test))
        .routes(routes!(sessions::create, sessions::list))
        .routes(routes!(sessions::get))
        .routes(routes!(sessions::pickup))
        .routes(routes!(sessions::hold))
        .routes(routes!(sessions::resume))
        .routes(routes!(sessions::transfer))
        .routes(routes!(sessions::close))
        .routes(routes!(sessions::permissions))
        .routes(routes!(sessions::may))
        .routes(routes!(routing::get_channel, routing::put_channel))
        .routes(routes!(routing::get_group, routing::put_group))
        .routes(routes!(routing::put_status))
        .routes(routes!(routing::console))
        .routes(routes!(routing::statuses))
        .routes(routes!(routing::patch_fields))
        .routes(routes!(monitor::request))
        .routes(routes!(monitor::get))
        .routes(routes!(monitor::answer))
        .routes(routes!(monitor::end))
        .routes(routes!(join::join))
        .routes(routes!(join::join_channel))
        .routes(routes!(crate::ws::console))
        .routes(routes!(crate::ws::applet))
        // Issue 20 part B: integrations, notes, surveys, reports.
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(posturl::create, posturl::list))
        .routes(routes!(posturl::patch))
        .routes(routes!(posturl::deliveries))
        .routes(routes!(notes::add, notes::list))
        .routes(routes!(notes::history))
        .routes(routes!(surveys::get_config, surveys::put_config))
        .routes(routes!(surveys::answer_technician))
        .routes(routes!(surveys::answer_customer))
        .routes(routes!(reports::report))
        .routes(routes!(reports::report_csv))
        .split_for_parts();
    let mut doc = doc;
    add_error_responses(&mut doc);
    let mut doc = fill_patterns(doc);
    doc.paths.paths.insert(
        OPENAPI_PATH.to_owned(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("meta")
                .response("200", utoipa::openapi::Response::new("OpenAPI 3.1 JSON")),
        ),
    );
    let served = doc.clone();
    let limit = state.config.max_body_bytes;
    let router = router
        .route(
            OPENAPI_PATH,
            axum::routing::get(move || async move { Json(served) }),
        )
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                objects_only(req, next, limit)
            },
        ));
    (router, doc)
}

/// Every request body of the API is a JSON object: serde would read a
/// struct from an array too (`[null, null]` was a valid channel rename).
/// A number with no fraction (`225.0`) is an integer to JSON Schema, so it
/// is one here too: such numbers reach the handlers written as integers.
async fn objects_only(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: usize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return crate::error::ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is larger than {limit} bytes"),
            )
            .into_response();
        }
    };
    if let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace())
        && *first != b'{'
    {
        return crate::error::ApiError::invalid("the body must be a JSON object").into_response();
    }
    // Unreadable JSON goes on as it came: the handler's extractor says why.
    let bytes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) => {
            if integral_floats_to_integers(&mut v) {
                serde_json::to_vec(&v).map_or(bytes, axum::body::Bytes::from)
            } else {
                bytes
            }
        }
        Err(_) => bytes,
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// Rewrites every number with a zero fraction that fits an i64 as that
/// integer; true when it changed something.
fn integral_floats_to_integers(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else { return false };
            // From -2^63 (i64::MIN) up to, not including, 2^63.
            const TWO_63: f64 = 9_223_372_036_854_775_808.0;
            if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *v = serde_json::Value::from(i);
                true
            } else {
                false
            }
        }
        serde_json::Value::Object(m) => m
            .values_mut()
            .fold(false, |c, v| integral_floats_to_integers(v) | c),
        serde_json::Value::Array(a) => a
            .iter_mut()
            .fold(false, |c, v| integral_floats_to_integers(v) | c),
        _ => false,
    }
}

/// The patterns the schemas name by placeholder (`{text}`, `{name}`,
/// `{email}`, `{ip_range}`), written out once here from the checks the
/// handlers run, so the document states exactly what they accept.
pub fn patterns() -> [(&'static str, String); 4] {
    [
        ("{text}", crate::store::text_pattern()),
        ("{name}", crate::store::name_pattern()),
        ("{email}", crate::store::email_pattern()),
        ("{ip_range}", crate::ipfilter::RANGE_PATTERN.to_owned()),
    ]
}

fn fill_patterns(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    fn walk(v: &mut serde_json::Value, table: &[(&str, String)]) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    match (k.as_str(), v) {
                        ("pattern", serde_json::Value::String(p)) => {
                            if let Some((_, full)) = table.iter().find(|(name, _)| name == p) {
                                full.clone_into(p);
                            }
                        }
                        (_, v) => walk(v, table),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, table)),
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::to_value(&doc) else {
        return doc;
    };
    walk(&mut v, &patterns());

    serde_json::from_value(v).unwrap_or(doc)
}

/// Every operation may answer with the API's JSON error on these statuses
/// (malformed input, missing token, scope, unknown ids, conflicts, size,
/// throttling); documenting them once keeps each handler's list short.
fn add_error_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = ResponseBuilder::new()
        .description("JSON error with a stable code")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for status in [
                "400", "401", "403", "404", "405", "409", "413", "415", "422", "429",
            ] {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error.clone().into());
            }
        }
    }
}
