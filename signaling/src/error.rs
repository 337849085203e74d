//! The one error type of the API: an HTTP status, a stable machine code and a
//! human message, rendered as JSON. Every failure a client can cause maps to a
//! 4xx here; a 5xx means a bug or the database being unreachable.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What the API answers when a request fails.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, machine-readable code (`not_found`, `forbidden`, ...).
    pub code: &'static str,
    /// For people.
    pub message: String,
}

pub use secours_protocol::signaling::ErrorBody;

/// Shorthand for results of the service layer.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with this status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400: the request is malformed or a field is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    /// 422: the request is what the document describes, but a rule its
    /// prose states refuses it (a field that depends on another field or on
    /// the target's role, a password under the required strength).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
    /// 401: no valid credentials.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        )
    }
    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404: nothing with that id in the caller's scope.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }
    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 429: too many failures from this account or address.
    pub fn throttled(retry_after_s: i64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!("too many failures; retry in {retry_after_s} s"),
        )
    }
    /// 500: a fault on our side (logged, details not sent).
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error, see the server log",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        if let Some(db) = e.as_database_error() {
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    return Self::conflict("an entry with this value already exists");
                }
                ErrorKind::ForeignKeyViolation => {
                    return Self::unprocessable("a referenced entry does not exist");
                }
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    return Self::invalid("a field has a value the database refuses");
                }
                _ => {}
            }
        }
        if matches!(e, sqlx::Error::RowNotFound) {
            return Self::not_found("entry");
        }
        Self::internal("database", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("60"));
        }
        response
    }
}
