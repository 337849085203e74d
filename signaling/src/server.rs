//! Assembling and running a node: database, event bus, relay hub, HTTP
//! routes, STUN responder, timeout sweeper, mailer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use secours_transport::relay::{HubConfig, RelayHub};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api;
use crate::config::Config;
use crate::error::ErrorBody;
use crate::events::{Bus, BusError};
use crate::state::{AppState, Inner};
use crate::store::{Store, StoreError};

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Event bus.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The revocation broadcast.
    #[error("cannot LISTEN for revocations: {0}")]
    Revocations(#[source] sqlx::Error),
    /// coturn, asked for beside the node, did not start.
    #[error(transparent)]
    Coturn(#[from] crate::coturn::CoturnError),
    /// A socket could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A running node.
#[derive(Debug)]
pub struct RunningServer {
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// Where STUN answers, if enabled.
    pub stun_addr: Option<SocketAddr>,
    /// Shared state (tests read the store and hub through it).
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    /// coturn started beside the node (stopped with it).
    coturn: Option<crate::coturn::Coturn>,
}

impl RunningServer {
    /// Where the coturn started beside the node listens, if one was.
    pub fn coturn_addr(&self) -> Option<SocketAddr> {
        self.coturn.as_ref().map(crate::coturn::Coturn::listen)
    }

    /// Stops accepting, lets requests in flight finish, stops background tasks.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for b in &self.background {
            b.abort();
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        for b in &self.background {
            b.abort();
        }
        self.task.abort();
    }
}

/// Rewrites error responses produced outside our handlers (axum's
/// extractor rejections, unknown routes, wrong methods) into the API's JSON
/// error shape, so every 4xx carries a stable code.
async fn json_errors(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    };
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&text)
        .chars()
        .take(500)
        .collect::<String>();
    // Unprocessable JSON is a client error like any other malformed body.
    if parts.status == StatusCode::UNPROCESSABLE_ENTITY {
        parts.status = StatusCode::BAD_REQUEST;
    }
    let body = serde_json::to_vec(&ErrorBody {
        code: code.to_owned(),
        message: if message.is_empty() {
            status.to_string()
        } else {
            message
        },
    })
    .unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Most connections waiting in the kernel to be accepted: a socket flood
/// from one address fills the queue faster than the per-address cap can
/// close its sockets, and a full queue drops a legitimate client's SYN
/// (retried a second later). Linux caps it at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Builds the whole router for `state` (also used by tests that walk routes).
pub fn router(state: &AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (api, doc) = api::api(state);
    // The pages answer in HTML: merged after the API's JSON error layer.
    let pages = crate::web::router(state).with_state(state.clone());
    let app = api
        .fallback(|| async { crate::error::ApiError::not_found("route") })
        .with_state(state.clone())
        .merge(state.hub.router())
        .layer(axum::middleware::map_response(json_errors))
        .merge(pages);
    (app, doc)
}

/// Opens the database and starts a node.
pub async fn start(mut config: Config) -> Result<RunningServer, ServerError> {
    let host = config.public_host();
    let coturn = match config.turn.as_mut() {
        Some(turn) => match turn.coturn {
            Some(listen) => {
                let c = crate::coturn::start(listen, &turn.secret).await?;
                if turn.urls.is_empty() {
                    turn.urls.push(c.url(&host));
                }
                Some(c)
            }
            None => None,
        },
        None => None,
    };
    let store = Store::open(&config.database_url, config.database_max_connections).await?;
    let bus = Bus::start(store.clone()).await?;
    let revocations = crate::revoke::Revocations::start(store.clone())
        .await
        .map_err(ServerError::Revocations)?;
    let mut origins = vec![config.public_origin()];
    origins.extend(config.allowed_origins.iter().cloned());
    let hub = RelayHub::new(HubConfig {
        allowed_origins: origins,
        ..HubConfig::default()
    });
    let pins = (store.backend == crate::store::Backend::Sqlite).then(|| {
        crate::pin_queue::PinQueue::start(
            store.pool.clone(),
            crate::model::Perm::mask(&[crate::model::Perm::PrivateSessions]),
        )
    });
    let redeems = (store.backend == crate::store::Backend::Sqlite)
        .then(|| crate::pin_queue::RedeemQueue::start(store.pool.clone()));
    let state = AppState(Arc::new(Inner {
        config,
        store,
        bus,
        hub,
        pins,
        redeems,
        revocations,
        estimates: Default::default(),
        applet_sockets: Default::default(),
        consoles: Default::default(),
        private_rules: Default::default(),
    }));
    let (app, _) = router(&state);

    let listener = listen(state.config.listen).map_err(|source| ServerError::Bind {
        what: "HTTP",
        addr: state.config.listen,
        source,
    })?;
    let http_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        what: "HTTP",
        addr: state.config.listen,
        source,
    })?;
    let mut background = Vec::new();
    let stun_addr = match state.config.stun_listen {
        Some(addr) => {
            let socket =
                tokio::net::UdpSocket::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind {
                        what: "STUN",
                        addr,
                        source,
                    })?;
            let local = socket.local_addr().map_err(|source| ServerError::Bind {
                what: "STUN",
                addr,
                source,
            })?;
            background.push(tokio::spawn(async move {
                if let Err(e) = secours_transport::stun::serve(socket).await {
                    tracing::error!(error = %e, "STUN responder stopped");
                }
            }));
            Some(local)
        }
        None => None,
    };
    background.push(tokio::spawn(crate::sweeper::run(state.clone())));
    background.push(tokio::spawn(crate::routing::presence::run_renewal(
        state.clone(),
    )));
    background.push(tokio::spawn(crate::revoke::run_relay_reaper(state.clone())));
    background.push(tokio::spawn(crate::posturl::run(state.clone())));
    if let Some(smtp) = state.config.smtp.clone() {
        background.push(tokio::spawn(crate::notify::run_mailer(
            state.store.pool.clone(),
            smtp,
        )));
    }
    let (tx, rx) = oneshot::channel::<()>();
    // The relay forwards small messages (input, acknowledgements) that must
    // not wait for Nagle behind the previous segment's ACK: the loop sets
    // TCP_NODELAY on every connection.
    let limits = crate::listen::Limits::from_config(&state.config);
    let task = tokio::spawn(crate::listen::serve(listener, app, limits, rx));
    Ok(RunningServer {
        http_addr,
        stun_addr,
        state,
        coturn,
        shutdown: Some(tx),
        task,
        background,
    })
}
