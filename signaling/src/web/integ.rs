//! Integration settings pages: API keys (INTEG-3, every staff member's
//! own), Post-to-URL configurations with their delivery log (INTEG-2) and
//! the two surveys (SURVEY-1/2), both for masters. They act through the
//! API's handlers; a key or secret is shown once, in the answer to its
//! creation.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};

use crate::api;
use crate::api::keys::{ApiKeyView, NewApiKey};
use crate::api::posturl::{Delivery, NewPostUrl, PostFormat, PostUrl, PostUrlPatch};
use crate::api::surveys::{Question, QuestionType, SurveyConfig};
use crate::error::ApiError;
use crate::reports::iso;
use crate::state::AppState;
use crate::web::auth::Staff;
use crate::web::chrome::{Chrome, Fields, Flash, page as render};

/// A secret shown once, with its label.
#[derive(Template, Debug)]
#[template(
    source = r#"<div class="flash ok" role="status"><p>{{ text }}</p><p><code id="{{ id }}">{{ secret }}</code></p></div>"#,
    ext = "html"
)]
struct ShownOnce {
    text: String,
    id: &'static str,
    secret: String,
}

/// Tells htmx to reload the page (the list changed).
fn refresh() -> Response {
    let mut r = axum::http::StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("hx-refresh", HeaderValue::from_static("true"));
    r
}

#[derive(Template, Debug)]
#[template(path = "api_keys.html")]
struct KeysPage {
    p: Chrome,
    keys: Vec<ApiKeyView>,
}

impl KeysPage {
    fn when(&self, ms: &i64) -> String {
        iso(*ms)
    }
}

/// `GET /admin/api-keys`.
pub(super) async fn keys_page(State(state): State<AppState>, s: Staff) -> Response {
    match api::keys::list(State(state), s.caller.clone()).await {
        Ok(Json(keys)) => render(&KeysPage {
            p: Chrome::staff(&s, "keys-title"),
            keys,
        }),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

/// `POST /admin/api-keys`: the new key, shown once.
pub(super) async fn key_create(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let days = match f.text("days").trim().parse::<i64>() {
        Ok(d) => d,
        Err(_) => return Flash::err(&tr, &ApiError::invalid("days")),
    };
    let req = NewApiKey {
        name: f.text("name"),
        expires_in_days: days,
    };
    match api::keys::create(State(state), s.caller.clone(), Json(req)).await {
        Ok((_, Json(k))) => crate::web::chrome::page(&ShownOnce {
            text: tr.t("keys-shown-once"),
            id: "new-key",
            secret: k.key.expose().to_owned(),
        }),
        Err(e) => Flash::err(&tr, &e),
    }
}

/// `POST /admin/api-keys/{id}/revoke`.
pub(super) async fn key_revoke(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
) -> Response {
    match api::keys::revoke(State(state), s.caller.clone(), Path(id)).await {
        Ok(_) => refresh(),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

#[derive(Template, Debug)]
#[template(path = "post_urls.html")]
struct PostUrlsPage {
    p: Chrome,
    configs: Vec<(PostUrl, Vec<Delivery>)>,
}

impl PostUrlsPage {
    fn when(&self, ms: &i64) -> String {
        iso(*ms)
    }
    fn format(&self, c: &PostUrl) -> &'static str {
        match c.format {
            PostFormat::Json => "JSON",
            PostFormat::Form => "form",
        }
    }
}

/// `GET /admin/post-urls`.
pub(super) async fn post_urls_page(State(state): State<AppState>, s: Staff) -> Response {
    let tr = s.tr();
    let list = match api::posturl::list(State(state.clone()), s.caller.clone()).await {
        Ok(Json(l)) => l,
        Err(e) => return Flash::err(&tr, &e),
    };
    let mut configs = Vec::new();
    for c in list {
        let mut log = api::posturl::deliveries_of(&state, c.id)
            .await
            .unwrap_or_default();
        log.truncate(20);
        configs.push((c, log));
    }
    render(&PostUrlsPage {
        p: Chrome::staff(&s, "posturl-title"),
        configs,
    })
}

/// `POST /admin/post-urls`: the new configuration's secret, shown once.
pub(super) async fn post_url_create(
    State(state): State<AppState>,
    s: Staff,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let req = NewPostUrl {
        name: f.text("name"),
        url: f.text("url").trim().to_owned(),
        format: if f.text("format") == "form" {
            PostFormat::Form
        } else {
            PostFormat::Json
        },
        on_start: f.checked("on_start"),
        on_end: f.checked("on_end"),
    };
    match api::posturl::create(State(state), s.caller.clone(), Json(req)).await {
        Ok((_, Json(c))) => crate::web::chrome::page(&ShownOnce {
            text: tr.t("posturl-secret-once"),
            id: "new-secret",
            secret: c.secret.expose().to_owned(),
        }),
        Err(e) => Flash::err(&tr, &e),
    }
}

/// `POST /admin/post-urls/{id}`: enables or disables a configuration.
pub(super) async fn post_url_toggle(
    State(state): State<AppState>,
    s: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let patch = PostUrlPatch {
        enabled: Some(f.text("enabled") == "true"),
        ..PostUrlPatch::default()
    };
    match api::posturl::patch(State(state), s.caller.clone(), Path(id), Json(patch)).await {
        Ok(_) => refresh(),
        Err(e) => Flash::err(&s.tr(), &e),
    }
}

#[derive(Template, Debug)]
#[template(path = "surveys.html")]
struct SurveysPage {
    p: Chrome,
    /// (kind, settings, questions as lines)
    surveys: Vec<(&'static str, SurveyConfig, String)>,
}

fn type_name(t: QuestionType) -> &'static str {
    match t {
        QuestionType::Rating => "rating",
        QuestionType::Text => "text",
        QuestionType::Choice => "choice",
        QuestionType::YesNo => "yes_no",
    }
}

/// Questions as the page edits them: one a line,
/// `id | type | label | choice, choice | required`.
fn to_lines(qs: &[Question]) -> String {
    qs.iter()
        .map(|q| {
            format!(
                "{} | {} | {} | {} | {}",
                q.id,
                type_name(q.kind),
                q.label,
                q.choices.join(", "),
                if q.required { "required" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn from_lines(text: &str) -> Result<Vec<Question>, ApiError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let bad = || {
            ApiError::invalid(format!(
                "line {}: id | type | label | choices | required",
                n + 1
            ))
        };
        let kind = match parts.get(1).copied() {
            Some("rating") => QuestionType::Rating,
            Some("text") => QuestionType::Text,
            Some("choice") => QuestionType::Choice,
            Some("yes_no") => QuestionType::YesNo,
            _ => return Err(bad()),
        };
        out.push(Question {
            id: parts.first().copied().ok_or_else(bad)?.to_owned(),
            label: parts.get(2).copied().ok_or_else(bad)?.to_owned(),
            kind,
            choices: parts
                .get(3)
                .map(|c| {
                    c.split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            required: parts.get(4).is_some_and(|r| *r == "required"),
        });
    }
    Ok(out)
}

/// `GET /admin/surveys`.
pub(super) async fn surveys_page(State(state): State<AppState>, s: Staff) -> Response {
    let tr = s.tr();
    if let Err(e) = s.caller.require_master() {
        return Flash::err(&tr, &e);
    }
    let mut surveys = Vec::new();
    for kind in ["technician", "customer"] {
        match api::surveys::load(&state.store.pool, kind).await {
            Ok(c) => {
                let lines = to_lines(&c.questions);
                surveys.push((kind, c, lines));
            }
            Err(e) => return Flash::err(&tr, &e),
        }
    }
    render(&SurveysPage {
        p: Chrome::staff(&s, "surveys-title"),
        surveys,
    })
}

/// `POST /admin/surveys/{kind}`.
pub(super) async fn survey_save(
    State(state): State<AppState>,
    s: Staff,
    Path(kind): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let tr = s.tr();
    let config = match from_lines(&f.text("questions")) {
        Ok(questions) => SurveyConfig {
            enabled: f.checked("enabled"),
            rating: f.checked("rating"),
            questions,
        },
        Err(e) => return Flash::err(&tr, &e),
    };
    match api::surveys::put_config(State(state), s.caller.clone(), Path(kind), Json(config)).await {
        Ok(_) => Flash::ok(tr.t("saved")),
        Err(e) => Flash::err(&tr, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_lines_round_trip() {
        let text = "fixed | yes_no | Fixed? |  | required\nvia | choice | Via | web, phone |";
        let qs = from_lines(text).unwrap_or_default();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[1].choices, vec!["web", "phone"]);
        assert!(qs[0].required && !qs[1].required);
        assert_eq!(from_lines(&to_lines(&qs)).unwrap_or_default(), qs);
        assert!(from_lines("x | colour | y").is_err());
    }
}
