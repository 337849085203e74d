//! Customer routes (no account): use a PIN code or a link, open a channel
//! session. Redemption failures are throttled per address.

use axum::Json;
use axum::extract::{Path, State};
use secours_protocol::signaling::Secret;

use crate::error::{ApiError, ApiResult, ErrorBody};
pub use secours_protocol::signaling::{ChannelJoin, JoinRequest};
use secours_protocol::signaling::{MAX_FORM_FIELD_NAME, MAX_FORM_FIELD_VALUE, MAX_FORM_FIELDS};

use crate::sessions::{self, Code, Joined};
use crate::state::{AppState, ClientIp};
use crate::store::throttle::{self, Limit};
use crate::store::{check_text, now_ms};

/// Most bytes of a channel session's form fields, as stored (JSON): with
/// the name, one queue entry stays far under a WebSocket frame.
pub const MAX_FIELDS_BYTES: usize = 4096;

fn limit(state: &AppState) -> Limit {
    Limit {
        max_failures: state.config.pin_max_failures,
        window_ms: state.config.throttle_window_s * 1000,
    }
}

/// Uses a PIN code or a private link (single use).
#[utoipa::path(post, path = "/api/v1/join", tag = "customer", request_body = JoinRequest,
    responses((status = 200, body = Joined), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`unavailable` (message to show) or `unavailable_page` (address to open): no technician available (SESS-6)")))]
pub async fn join(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(req): Json<JoinRequest>,
) -> ApiResult<Json<Joined>> {
    let now = now_ms();
    check_text("name", &req.name, 100)?;
    if req.pin.is_some() == req.link.is_some() {
        return Err(ApiError::unprocessable("give exactly one of pin and link"));
    }
    // Counted before the code is looked at, given back if it was right.
    let key = format!("join:ip:{}", throttle::address_key(ip.0));
    let attempt = throttle::take(&state.store, &key, limit(&state), now).await?;
    let code = match (
        req.pin.as_ref().map(Secret::expose),
        req.link.as_ref().map(Secret::expose),
    ) {
        (Some(pin), None) if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) => {
            Code::Pin(pin)
        }
        (None, Some(link)) if link.len() == 64 && link.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Code::Link(link)
        }
        _ => {
            attempt.keep();
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "invalid_code",
                "this code is wrong, used or expired",
            ));
        }
    };
    match sessions::redeem(&state, code, &req.name).await {
        Err(e) if e.code == "invalid_code" => {
            attempt.keep();
            Err(e)
        }
        other => {
            attempt.give_back(&state.store).await?;
            other.map(Json)
        }
    }
}

/// Opens a channel session; it waits in the queue once the applet connects.
#[utoipa::path(post, path = "/api/v1/join/channel/{code}", tag = "customer", request_body = ChannelJoin,
    params(("code" = String, Path, description = "The channel's link code")),
    responses((status = 200, body = Joined), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`unavailable` (message to show) or `unavailable_page` (address to open): outside working hours or no technician available (SESS-5)")))]
pub async fn join_channel(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    Json(req): Json<ChannelJoin>,
) -> ApiResult<Json<Joined>> {
    let now = now_ms();
    check_text("name", &req.name, 100)?;
    if req.fields.len() > MAX_FORM_FIELDS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_FORM_FIELDS} form fields"
        )));
    }
    for (k, v) in &req.fields {
        check_text("field name", k, MAX_FORM_FIELD_NAME)?;
        check_text("field value", v, MAX_FORM_FIELD_VALUE)?;
    }
    let fields = serde_json::to_string(&req.fields).map_err(|e| ApiError::internal("fields", e))?;
    if fields.len() > MAX_FIELDS_BYTES {
        return Err(ApiError::unprocessable(format!(
            "form fields take more than {MAX_FIELDS_BYTES} bytes"
        )));
    }
    let addr = throttle::address_key(ip.0);
    let key = format!("join:ip:{addr}");
    let attempt = throttle::take(&state.store, &key, limit(&state), now).await?;
    // Successful joins count too: one address cannot fill the queues.
    let joins = Limit {
        max_failures: state.config.channel_joins_per_address,
        window_ms: state.config.throttle_window_s * 1000,
    };
    let joined =
        match throttle::take(&state.store, &format!("chanjoin:ip:{addr}"), joins, now).await {
            Ok(j) => j,
            Err(e) => {
                attempt.give_back(&state.store).await?;
                return Err(e);
            }
        };
    if code.len() != 32 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        attempt.keep();
        joined.give_back(&state.store).await?;
        return Err(ApiError::not_found("channel"));
    }
    match sessions::join_channel(&state, &code, &req.name, &fields).await {
        Err(e) if e.code == "not_found" => {
            attempt.keep();
            joined.give_back(&state.store).await?;
            Err(e)
        }
        Err(e) => {
            attempt.give_back(&state.store).await?;
            joined.give_back(&state.store).await?;
            Err(e)
        }
        Ok(j) => {
            attempt.give_back(&state.store).await?;
            joined.keep();
            Ok(Json(j))
        }
    }
}
