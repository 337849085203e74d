//! Signaling over WebSocket. Consoles get their queue pushed live and talk to
//! the applet of a session they hold; applets learn their session's state,
//! warnings and granted permissions and talk to its technician. The server
//! forwards signaling payloads (fingerprints, candidates, relay tokens),
//! never peer traffic. Upgrades check the Origin and require a token
//! (MeshCentral CVE-2024-26135), before anything else.

use std::collections::HashSet;

use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use secours_protocol::signaling::{Hello, PeerMessage, ServerMessage, SignalPayload};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;
use utoipa::IntoParams;

use crate::auth::{self, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::events::{Event, Peer};
use crate::model::{CloseReason, SessionState};
use crate::scope;
use crate::sessions;
use crate::state::{AppState, ClientIp};

pub use secours_protocol::signaling::{MAX_SIGNAL_PAYLOAD, MAX_WS_MESSAGE};
/// Read buffer per socket.
const IO_BUFFER: usize = 4096;

/// Credentials of an upgrade (browsers cannot set headers on WebSockets).
#[derive(Debug, Deserialize, IntoParams)]
pub struct WsQuery {
    /// Staff token (console) or customer token (applet).
    #[param(value_type = Option<String>)]
    pub token: Option<crate::Secret>,
    /// The session (applet).
    pub session: Option<String>,
}

fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    match headers.get(axum::http::header::ORIGIN) {
        None => true,
        Some(o) => match o.to_str() {
            Ok(o) => {
                o == state.config.public_origin()
                    || state.config.allowed_origins.iter().any(|a| a == o)
            }
            Err(_) => false,
        },
    }
}

fn origin_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "origin_refused",
        "this Origin may not open a WebSocket here",
    )
}

/// Console signaling socket.
#[utoipa::path(get, path = "/ws/console", tag = "signaling", params(WsQuery),
    security(("bearer" = [])),
    responses((status = 101, description = "Switching to WebSocket"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn console(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !origin_allowed(&state, &headers) {
        return Err(origin_refused());
    }
    let token = q.token.ok_or_else(ApiError::unauthenticated)?;
    let who = auth::resolve(&state, token.expose(), ip).await?;
    if who.restricted {
        return Err(ApiError::forbidden("change your password first"));
    }
    let caller = who.caller;
    if caller.tech_group_id.is_none() {
        return Err(ApiError::forbidden("technicians only"));
    }
    let guard =
        crate::revoke::Guard::new(&state, token.expose(), ip, caller.id, caller.tech_group_id);
    let ws = ws.map_err(|e| ApiError::invalid(format!("not a WebSocket upgrade: {e}")))?;
    Ok(ws
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        // Small buffers: an idle socket costs a few KiB instead of the
        // 2 x 128 KiB tungstenite reserves by default (serverbench).
        .read_buffer_size(IO_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("console", user = caller.id);
            console_loop(state, socket, caller, guard).instrument(span)
        })
        .into_response())
}

/// Applet signaling socket.
#[utoipa::path(get, path = "/ws/applet", tag = "signaling", params(WsQuery),
    responses((status = 101, description = "Switching to WebSocket"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn applet(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !origin_allowed(&state, &headers) {
        return Err(origin_refused());
    }
    let (Some(token), Some(session)) = (q.token, q.session) else {
        return Err(ApiError::unauthenticated());
    };
    let token = token.expose();
    if session.len() > 64 || token.len() > 128 {
        return Err(ApiError::unauthenticated());
    }
    let view = sessions::check_customer(&state.store.pool, &session, token).await?;
    let ws = ws.map_err(|e| ApiError::invalid(format!("not a WebSocket upgrade: {e}")))?;
    Ok(ws
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        // Small buffers: an idle socket costs a few KiB instead of the
        // 2 x 128 KiB tungstenite reserves by default (serverbench).
        .read_buffer_size(IO_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("applet", session = %view.id);
            applet_loop(state, socket, view.id).instrument(span)
        })
        .into_response())
}

/// Checks a text message from a peer the way the sockets do (the
/// contract's parse and payload rules); fuzzed by
/// `fuzz/fuzz_targets/server_inputs.rs`.
pub fn inspect(msg: &str) -> Result<(), String> {
    PeerMessage::parse(msg)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn send(
    socket: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    m: &ServerMessage,
) -> bool {
    let Ok(text) = serde_json::to_string(m) else {
        return false;
    };
    socket.send(Message::Text(text.into())).await.is_ok()
}

fn error_msg(text: &str) -> ServerMessage {
    ServerMessage::Error {
        message: text.to_owned(),
    }
}

async fn push_queue(
    state: &AppState,
    caller: &Caller,
    out: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    known: &mut HashSet<String>,
) -> bool {
    let Some(group) = caller.tech_group_id else {
        return false;
    };
    match sessions::queue(state, caller.id, group).await {
        Ok(q) => {
            known.clear();
            known.extend(q.iter().map(|s| s.id.clone()));
            // In pages that each fit a peer's frame limit.
            for page in crate::limits::queue_pages(q, MAX_WS_MESSAGE) {
                if !send(out, &page).await {
                    return false;
                }
            }
            true
        }
        Err(e) => send(out, &error_msg(&e.message)).await,
    }
}

/// Pushes an event as its socket message (events without one are skipped).
async fn push(
    socket: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    ev: &Event,
) -> bool {
    match ev.to_message() {
        Some(m) => send(socket, &m).await,
        None => true,
    }
}

async fn console_loop(
    state: AppState,
    socket: WebSocket,
    caller: Caller,
    mut guard: crate::revoke::Guard,
) {
    let (mut out, mut inc) = socket.split();
    let mut events = state.bus.subscribe();
    let mut known = HashSet::new();
    let mut rate = crate::limits::Rate::per_second(state.config.ws_messages_per_s);
    let hello = Hello {
        user_id: Some(caller.id),
        session_id: None,
        state: None,
        estimated_wait_s: None,
        applet: None,
        organisation: None,
        turn: None,
        customer_survey: false,
    };
    if !send(&mut out, &ServerMessage::Hello(hello)).await
        || !push_queue(&state, &caller, &mut out, &mut known).await
    {
        return;
    }
    // SESS-9: the technician is online while this node renews its lease.
    crate::routing::presence::console_opened(&state, caller.id).await;
    loop {
        tokio::select! {
            // Access revoked (SIGNALING.md 3): the socket ends.
            () = guard.revoked() => break,
            msg = inc.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) if rate.allow() => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) if rate.allow() => continue,
                    _ => break, // ended, binary, or over the message rate
                };
                let reply = match PeerMessage::parse(&text) {
                    Ok(PeerMessage::Ping) => Some(ServerMessage::Pong),
                    Ok(PeerMessage::Signal { session_id: Some(id), payload }) => {
                        match forward_signal(&state, &id, payload, Peer::Console, Some(caller.id)).await {
                            Ok(()) => None,
                            Err(e) => Some(error_msg(&e)),
                        }
                    }
                    Ok(PeerMessage::Activity { session_id }) => {
                        let _ = sessions::touch(&state.store.pool, &session_id).await;
                        let _ = crate::routing::presence::activity(&state, caller.id).await;
                        None
                    }
                    Ok(_) => Some(error_msg("unexpected message")),
                    Err(e) => Some(error_msg(&e.to_string())),
                };
                if let Some(r) = reply && !send(&mut out, &r).await {
                    break;
                }
            }
            ev = events.recv() => {
                let ok = match ev {
                    Ok(Event::QueueChanged { .. }) => push_queue(&state, &caller, &mut out, &mut known).await,
                    Ok(ev @ (Event::SessionState { .. } | Event::Warning { .. })) => {
                        let relevant = match &ev {
                            Event::SessionState { session_id, tech_id, .. } =>
                                known.contains(session_id) || *tech_id == Some(caller.id),
                            Event::Warning { session_id, .. } => known.contains(session_id),
                            _ => false,
                        };
                        !relevant || push(&mut out, &ev).await
                    }
                    // SESS-10: only the watched technician's consoles hear of it.
                    Ok(ev @ Event::Monitor { tech_id, .. }) => tech_id != caller.id || push(&mut out, &ev).await,
                    Ok(ev @ Event::Signal { to: Peer::Console, .. }) => {
                        let held = match &ev {
                            Event::Signal { session_id, .. } => sessions::load(&state.store.pool, session_id)
                                .await.map(|s| s.tech_id == Some(caller.id)).unwrap_or(false),
                            _ => false,
                        };
                        !held || push(&mut out, &ev).await
                    }
                    Ok(_) => true,
                    Err(RecvError::Lagged(_)) => push_queue(&state, &caller, &mut out, &mut known).await,
                    Err(RecvError::Closed) => false,
                };
                if !ok {
                    break;
                }
            }
        }
    }
    crate::routing::presence::console_closed(&state, caller.id).await;
}

/// Forwards a signal from one peer of a live session to the other. A
/// console may only signal in a session it holds.
async fn forward_signal(
    state: &AppState,
    id: &str,
    payload: SignalPayload,
    from: Peer,
    holder: Option<i64>,
) -> Result<(), String> {
    // Parsing already refused server-only kinds; checked again here so no
    // caller can forward one.
    payload.check_from_peer().map_err(|e| e.to_string())?;
    let s = sessions::load(&state.store.pool, id)
        .await
        .map_err(|e| e.message)?;
    if from == Peer::Console && s.tech_id != holder {
        return Err("not a live session of yours".to_owned());
    }
    if !matches!(s.state.as_str(), "active" | "on_hold") {
        return Err(match from {
            Peer::Console => "not a live session of yours",
            Peer::Applet => "no technician yet",
        }
        .to_owned());
    }
    let _ = sessions::touch(&state.store.pool, id).await;
    let to = match from {
        Peer::Console => Peer::Applet,
        Peer::Applet => Peer::Console,
    };
    state
        .bus
        .publish(Event::Signal {
            session_id: id.to_owned(),
            to,
            payload,
        })
        .await
        .map_err(|e| e.to_string())
}

async fn applet_loop(state: AppState, socket: WebSocket, id: String) {
    state.applet_sockets.opened(&id);
    let closed = applet_session(&state, socket, &id).await;
    if state.applet_sockets.closed(&id) == 0 && !closed {
        // A live session waits for its applet to come back (a reboot);
        // one not yet picked up closes.
        let away = sessions::applet_away(&state, &id).await.unwrap_or(false);
        if !away {
            let _ = sessions::close(&state, &id, CloseReason::Disconnected).await;
        }
    }
}

/// One applet socket; whether the session closed while it was open.
async fn applet_session(state: &AppState, socket: WebSocket, id: &str) -> bool {
    let (state, id) = (state.clone(), id.to_owned());
    let (mut out, mut inc) = socket.split();
    let mut events = state.bus.subscribe();
    if let Err(e) = sessions::applet_connected(&state, &id).await {
        tracing::warn!(session = %id, error = %e, "applet connect");
    }
    let back = sessions::applet_back(&state, &id).await.ok().flatten();
    let view = match sessions::load(&state.store.pool, &id).await {
        Ok(v) => v,
        Err(_) => return false,
    };
    let wait = match (view.channel_id, view.tech_id) {
        (Some(c), _) => state
            .estimates
            .for_channel(&state.store.pool, c)
            .await
            .ok()
            .flatten(),
        (None, Some(t)) => state
            .estimates
            .for_tech(&state.store.pool, t)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    // The settings the applet obeys (APPLET-1..6); APPLET-4 may hide the wait.
    let applet = crate::api::applet::for_session(&state, &id)
        .await
        .unwrap_or_default();
    let organisation: Option<String> = sqlx::query_scalar("SELECT name FROM org WHERE id = 1")
        .fetch_optional(&state.store.pool)
        .await
        .ok()
        .flatten();
    // SURVEY-2: the applet offers the survey's page once the session is over.
    let customer_survey = crate::api::surveys::load(&state.store.pool, "customer")
        .await
        .is_ok_and(|c| c.enabled);
    let hello = Hello {
        user_id: None,
        session_id: Some(id.clone()),
        state: Some(SessionState::parse(&view.state)),
        estimated_wait_s: wait.filter(|_| applet.show_wait),
        applet: Some(applet),
        organisation,
        turn: state.config.turn.as_ref().map(|t| t.grant(&id)),
        customer_survey,
    };
    if !send(&mut out, &ServerMessage::Hello(hello)).await {
        return false;
    }
    if let Some(tech) = back {
        // Back after a reboot: the same rights, a new relay pair.
        tracing::info!(session = %id, "applet back");
        if !send_granted(&state, &mut out, &id, tech).await {
            return false;
        }
        sessions::issue_relay(&state, &id).await;
    }
    let mut closed = false;
    let mut rate = crate::limits::Rate::per_second(state.config.ws_messages_per_s);
    loop {
        tokio::select! {
            msg = inc.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) if rate.allow() => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) if rate.allow() => continue,
                    _ => break, // ended, binary, or over the message rate
                };
                let reply = match PeerMessage::parse(&text) {
                    Ok(PeerMessage::Ping) => Some(ServerMessage::Pong),
                    Ok(PeerMessage::Signal { payload, .. }) => forward_signal(&state, &id, payload, Peer::Applet, None).await.err().map(|e| error_msg(&e)),
                    Ok(PeerMessage::Close) => {
                        let _ = sessions::close(&state, &id, CloseReason::Customer).await;
                        closed = true;
                        None
                    }
                    Ok(_) => Some(error_msg("unexpected message")),
                    Err(e) => Some(error_msg(&e.to_string())),
                };
                if let Some(r) = reply && !send(&mut out, &r).await {
                    break;
                }
            }
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                let mine = match &ev {
                    Event::SessionState { session_id, .. } | Event::Warning { session_id, .. } => *session_id == id,
                    Event::Signal { session_id, to: Peer::Applet, .. } => *session_id == id,
                    _ => false,
                };
                if !mine {
                    continue;
                }
                if !push(&mut out, &ev).await {
                    break;
                }
                if let Event::SessionState { state: s, tech_id, .. } = &ev {
                    match s {
                        SessionState::Active => {
                            if let Some(t) = tech_id && !send_granted(&state, &mut out, &id, *t).await {
                                break;
                            }
                        }
                        SessionState::Closed => {
                            closed = true;
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    closed
}

async fn send_granted(
    state: &AppState,
    out: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    id: &str,
    tech: i64,
) -> bool {
    let granted = scope::granted_for(&state.store.pool, tech).await.ok();
    let nickname: Option<String> = sqlx::query_scalar(
        "SELECT CASE WHEN nickname = '' THEN name ELSE nickname END FROM users WHERE id = $1",
    )
    .bind(tech)
    .fetch_optional(&state.store.pool)
    .await
    .ok()
    .flatten();
    let Some(permissions) = granted else {
        return send(
            out,
            &error_msg("the technician's permissions are unavailable"),
        )
        .await;
    };
    let granted = ServerMessage::Granted {
        session_id: id.to_owned(),
        technician: nickname,
        permissions,
    };
    send(out, &granted).await
}
