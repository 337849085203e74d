//! Surveys: the technician's after each session (SURVEY-1) and the
//! customer's when the session ends (SURVEY-2). A master sets each one's
//! rating and questions (rating, text, choice, yes/no); answers are
//! checked against them, stored once per session and kind, and reported.
//! The customer answers on a page of the server (`/survey/{id}`) or through
//! the API with the session's customer token.

use std::collections::{BTreeMap, HashSet};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AnyPool;
use utoipa::ToSchema;

use crate::Secret;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::store::{Flag, audit, check_text, now_ms, sha256_hex};

/// Which survey.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// SURVEY-2.
    Customer,
    /// SURVEY-1.
    Technician,
}

impl SurveyKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Technician => "technician",
        }
    }
    fn parse(s: &str) -> ApiResult<Self> {
        match s {
            "customer" => Ok(Self::Customer),
            "technician" => Ok(Self::Technician),
            _ => Err(ApiError::not_found("survey")),
        }
    }
}

/// The kind of answer a question takes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// 1 to 5.
    Rating,
    /// Free text (up to 2000 characters).
    Text,
    /// One of `choices`.
    Choice,
    /// `yes` or `no`.
    YesNo,
}

/// One question.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Stable id (`[a-z0-9_]`, 1 to 32), the key of its answer.
    #[schema(pattern = "^[a-z0-9_]{1,32}$")]
    pub id: String,
    /// What is asked.
    #[schema(min_length = 1, max_length = 200, pattern = "{name}")]
    pub label: String,
    /// Answer type.
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// The choices of a `choice` question (1 to 10, each 1 to 100
    /// characters of text; other types have none, else 422).
    #[serde(default)]
    #[schema(max_items = 10)]
    pub choices: Vec<String>,
    /// Must be answered.
    #[serde(default)]
    pub required: bool,
}

/// A survey's settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct SurveyConfig {
    /// Whether it is asked.
    pub enabled: bool,
    /// Whether the overall rating (1 to 5) is asked, and required.
    pub rating: bool,
    /// Further questions (up to 20, ids unique).
    #[schema(max_items = 20)]
    pub questions: Vec<Question>,
}

/// Answers to a survey.
#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    /// The overall rating, 1 to 5.
    pub rating: Option<i64>,
    /// Question id to answer (ratings as `1`..`5`, yes/no as `yes`/`no`, a
    /// choice as one of its choices, text up to 2,000 characters). Answers
    /// that do not fit the survey's questions, or a missing rating or
    /// required answer, answer 422.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

/// A customer's answers, with the session's customer token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerAnswer {
    /// The customer token the session was joined with.
    pub token: Secret,
    /// The overall rating, 1 to 5.
    pub rating: Option<i64>,
    /// Question id to answer.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

/// A survey's settings (the defaults, disabled, until a master sets them).
pub async fn load(pool: &AnyPool, kind: &str) -> ApiResult<SurveyConfig> {
    let row: Option<(Flag, String)> =
        sqlx::query_as("SELECT enabled, questions FROM surveys WHERE kind = $1")
            .bind(kind)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some((Flag(enabled), questions)) => {
            let mut c: SurveyConfig = serde_json::from_str(&questions)
                .map_err(|e| ApiError::internal("stored survey", e))?;
            c.enabled = enabled;
            c
        }
        None => SurveyConfig::default(),
    })
}

fn check_config(c: &SurveyConfig) -> ApiResult<()> {
    if c.questions.len() > 20 {
        return Err(ApiError::unprocessable("at most 20 questions"));
    }
    let mut ids = HashSet::new();
    for q in &c.questions {
        if q.id.is_empty()
            || q.id.len() > 32
            || !q
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ApiError::unprocessable(
                "a question id is [a-z0-9_], 1 to 32",
            ));
        }
        if !ids.insert(q.id.as_str()) {
            return Err(ApiError::unprocessable(format!(
                "question id {} twice",
                q.id
            )));
        }
        check_text("label", &q.label, 200)?;
        if q.label.trim().is_empty() {
            return Err(ApiError::unprocessable("label is empty"));
        }
        match q.kind {
            QuestionType::Choice => {
                if !(1..=10).contains(&q.choices.len()) {
                    return Err(ApiError::unprocessable(
                        "a choice question has 1 to 10 choices",
                    ));
                }
                for choice in &q.choices {
                    check_text("choice", choice, 100)
                        .map_err(|e| ApiError::unprocessable(e.message))?;
                    if choice.trim().is_empty() {
                        return Err(ApiError::unprocessable("choice is empty"));
                    }
                }
            }
            _ if !q.choices.is_empty() => {
                return Err(ApiError::unprocessable(
                    "only choice questions have choices",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks answers against a survey: the rating when asked, every required
/// question, each answer of its question's type, nothing unknown.
pub fn check_answer(c: &SurveyConfig, a: &SurveyAnswer) -> ApiResult<()> {
    if !c.enabled {
        return Err(ApiError::conflict("this survey is not enabled"));
    }
    match (c.rating, a.rating) {
        (true, Some(r)) if (1..=5).contains(&r) => {}
        (true, _) => return Err(ApiError::unprocessable("rating is 1 to 5")),
        (false, Some(_)) => return Err(ApiError::unprocessable("this survey asks no rating")),
        (false, None) => {}
    }
    for id in a.answers.keys() {
        if !c.questions.iter().any(|q| &q.id == id) {
            return Err(ApiError::unprocessable(format!("no question {id}")));
        }
    }
    for q in &c.questions {
        let Some(v) = a.answers.get(&q.id).filter(|v| !v.trim().is_empty()) else {
            if q.required {
                return Err(ApiError::unprocessable(format!("{} is required", q.label)));
            }
            continue;
        };
        let ok = match q.kind {
            QuestionType::Rating => matches!(v.as_str(), "1" | "2" | "3" | "4" | "5"),
            QuestionType::YesNo => matches!(v.as_str(), "yes" | "no"),
            QuestionType::Choice => q.choices.contains(v),
            QuestionType::Text => check_text("answer", v, 2000).is_ok(),
        };
        if !ok {
            return Err(ApiError::unprocessable(format!(
                "bad answer to {}",
                q.label
            )));
        }
    }
    Ok(())
}

/// Stores answers once per session and kind (409 the second time).
pub async fn store_answer(
    pool: &AnyPool,
    kind: SurveyKind,
    session: &str,
    tech: Option<i64>,
    a: &SurveyAnswer,
) -> ApiResult<()> {
    let c = load(pool, kind.as_str()).await?;
    check_answer(&c, a)?;
    let answers: BTreeMap<&String, &String> = a
        .answers
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let done = sqlx::query(
        "INSERT INTO survey_answers (session_id, kind, tech_id, rating, answers, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, kind) DO NOTHING",
    )
    .bind(session)
    .bind(kind.as_str())
    .bind(tech)
    .bind(a.rating)
    .bind(json!(answers).to_string())
    .bind(now_ms())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict("this survey is already answered"));
    }
    Ok(())
}

/// A survey's settings.
#[utoipa::path(get, path = "/api/v1/surveys/{kind}", tag = "surveys", security(("bearer" = [])),
    params(("kind" = SurveyKind, Path, description = "customer or technician")),
    responses((status = 200, body = SurveyConfig), (status = 404, body = ErrorBody)))]
pub async fn get_config(
    State(state): State<AppState>,
    _caller: Caller,
    Path(kind): Path<String>,
) -> ApiResult<Json<SurveyConfig>> {
    let kind = SurveyKind::parse(&kind)?;
    Ok(Json(load(&state.store.pool, kind.as_str()).await?))
}

/// Sets a survey (masters).
#[utoipa::path(put, path = "/api/v1/surveys/{kind}", tag = "surveys", security(("bearer" = [])),
    params(("kind" = SurveyKind, Path, description = "customer or technician")),
    request_body = SurveyConfig,
    responses((status = 200, body = SurveyConfig), (status = 400, body = ErrorBody)))]
pub async fn put_config(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Json(c): Json<SurveyConfig>,
) -> ApiResult<Json<SurveyConfig>> {
    caller.require_master()?;
    let kind = SurveyKind::parse(&kind)?;
    check_config(&c)?;
    let now = now_ms();
    let stored = json!({"enabled": c.enabled, "rating": c.rating, "questions": c.questions});
    let mut tx = state.store.write().await?;
    sqlx::query(
        "INSERT INTO surveys (kind, enabled, questions, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kind) DO UPDATE SET enabled = $2, questions = $3, updated_at = $4",
    )
    .bind(kind.as_str())
    .bind(c.enabled)
    .bind(stored.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        "survey.update",
        &format!("survey:{}", kind.as_str()),
        json!({"enabled": c.enabled, "questions": c.questions.len()}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(c))
}

/// The technician's survey of a session it handled, once closed (SURVEY-1).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/survey", tag = "surveys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = SurveyAnswer,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer_technician(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(a): Json<SurveyAnswer>,
) -> ApiResult<StatusCode> {
    let row: Option<(Option<i64>, String)> =
        sqlx::query_as("SELECT tech_id, state FROM support_sessions WHERE id = $1")
            .bind(&id)
            .fetch_optional(&state.store.pool)
            .await?;
    match row {
        Some((Some(t), s)) if t == caller.id => {
            if s != "closed" {
                return Err(ApiError::conflict("the session is not over"));
            }
        }
        _ => return Err(ApiError::not_found("session")),
    }
    store_answer(
        &state.store.pool,
        SurveyKind::Technician,
        &id,
        Some(caller.id),
        &a,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The technician of a closed session whose customer token is `token`.
pub async fn customer_session(pool: &AnyPool, id: &str, token: &str) -> ApiResult<Option<i64>> {
    let row: Option<(Option<String>, String, Option<i64>)> = sqlx::query_as(
        "SELECT customer_token_hash, state, tech_id FROM support_sessions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match row {
        Some((Some(h), state, tech)) if h == sha256_hex(token) => {
            if state == "closed" {
                Ok(tech)
            } else {
                Err(ApiError::conflict("the session is not over"))
            }
        }
        _ => Err(ApiError::unauthenticated()),
    }
}

/// The customer's survey, answered with the session's customer token once
/// the session is over (SURVEY-2).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/customer-survey", tag = "surveys",
    params(("id" = String, Path, description = "Session id")), request_body = CustomerAnswer,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(a): Json<CustomerAnswer>,
) -> ApiResult<StatusCode> {
    let tech = customer_session(&state.store.pool, &id, a.token.expose()).await?;
    store_answer(
        &state.store.pool,
        SurveyKind::Customer,
        &id,
        tech,
        &SurveyAnswer {
            rating: a.rating,
            answers: a.answers,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
