//! The customer's survey page (SURVEY-2): reached from the page the
//! customer joined on (or a link the applet opens) once the session is
//! over, answered once, with the session's customer token.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::api::surveys::{self, Question, QuestionType, SurveyAnswer, SurveyKind};
use crate::state::AppState;
use crate::web::auth::anonymous_lang;
use crate::web::chrome::{Chrome, Fields, render};

/// The survey page of a session, relative to this server (the page
/// linking it is served by the same server, whatever its public name).
pub fn link(session: &str, token: &str) -> String {
    format!("/survey/{session}?token={token}")
}

#[derive(Template, Debug)]
#[template(path = "survey.html")]
struct SurveyPage {
    p: Chrome,
    session: String,
    token: String,
    rating: bool,
    questions: Vec<Question>,
    error: Option<String>,
    done: bool,
}

impl SurveyPage {
    fn is(&self, q: &Question, t: &str) -> bool {
        let name = match q.kind {
            QuestionType::Rating => "rating",
            QuestionType::Text => "text",
            QuestionType::Choice => "choice",
            QuestionType::YesNo => "yes_no",
        };
        name == t
    }
}

/// An error in the customer's words: a wrong token is a bad link.
fn say(tr: &crate::web::i18n::Tr, e: &crate::error::ApiError) -> String {
    match e.code {
        "unauthenticated" => tr.t("survey-bad-link"),
        "conflict" => e.message.clone(),
        _ => tr.error(e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn show(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    token: String,
    error: Option<(StatusCode, String)>,
    done: bool,
) -> Response {
    let lang = anonymous_lang(headers);
    let config = surveys::load(&state.store.pool, "customer")
        .await
        .unwrap_or_default();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    render(
        status,
        &SurveyPage {
            p: Chrome::anonymous(lang, "survey-customer"),
            session: id,
            token,
            rating: config.rating,
            questions: config.questions,
            error: error.map(|e| e.1),
            done,
        },
    )
}

/// `GET /survey/{id}?token=`.
pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let tr = crate::web::i18n::Tr::new(anonymous_lang(&headers));
    let token = q.token.unwrap_or_default();
    if !valid_id(&id) {
        let e = crate::error::ApiError::not_found("session");
        return show(
            &state,
            &headers,
            String::new(),
            String::new(),
            Some((e.status, tr.error(&e))),
            false,
        )
        .await;
    }
    // Say at once when the link is wrong or the session not over yet.
    let err = match surveys::customer_session(&state.store.pool, &id, &token).await {
        Ok(_) => None,
        Err(e) => Some((e.status, say(&tr, &e))),
    };
    show(&state, &headers, id, token, err, false).await
}

/// `POST /survey/{id}`.
pub(super) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let tr = crate::web::i18n::Tr::new(anonymous_lang(&headers));
    let token = f.text("token");
    let result = async {
        if !valid_id(&id) {
            return Err(crate::error::ApiError::not_found("session"));
        }
        let tech = surveys::customer_session(&state.store.pool, &id, &token).await?;
        let rating = match f.get("rating").map(str::trim) {
            None | Some("") => None,
            Some(r) => Some(
                r.parse::<i64>()
                    .map_err(|_| crate::error::ApiError::invalid("rating is 1 to 5"))?,
            ),
        };
        let answers = f
            .all_pairs()
            .filter_map(|(k, v)| k.strip_prefix("q_").map(|k| (k.to_owned(), v.to_owned())))
            .collect();
        surveys::store_answer(
            &state.store.pool,
            SurveyKind::Customer,
            &id,
            tech,
            &SurveyAnswer { rating, answers },
        )
        .await
    }
    .await;
    match result {
        Ok(()) => show(&state, &headers, id, String::new(), None, true).await,
        Err(e) => {
            let status = e.status;
            show(
                &state,
                &headers,
                id,
                token,
                Some((status, say(&tr, &e))),
                false,
            )
            .await
        }
    }
}
