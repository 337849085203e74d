//! The relay hub: pairs two WebSockets by a relay token and forwards their
//! binary messages, which are TLS records of the peers' end-to-end session:
//! the hub sees only ciphertext.
//!
//! Tokens are issued by the server (`RelayHub::issue`), are good for one
//! console and one applet, expire unused after `token_ttl`, and cannot be
//! reused once paired. Each direction forwards one message at a time, so a
//! session's memory is bounded by two messages whatever the peers do; a
//! reader that stops reading stalls its sender (TCP backpressure) until the
//! idle timeout closes the pair. Other sessions are not affected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use tokio::sync::oneshot;

/// The path the hub serves, with the token as last segment.
pub const RELAY_PATH: &str = "/relay/v1/{token}";
/// Where a server asks a standalone relay for tokens.
pub const TOKENS_PATH: &str = "/relay/v1/tokens";
/// Largest WebSocket message the hub forwards.
pub const MAX_MESSAGE: usize = 128 * 1024;

/// Read chunk and write batch of each hub-side WebSocket.
const HUB_SOCKET_BUFFER: usize = 16 * 1024;
/// The same for input lanes, which carry small messages.
const LANE_SOCKET_BUFFER: usize = 4 * 1024;
/// Input lanes a paired session may open beside its main connection.
pub const INPUT_LANES: u8 = 2;

/// Which peer a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The technician's console.
    Console,
    /// The customer's applet.
    Applet,
}

/// Hub settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// An issued token not paired within this is void.
    pub token_ttl: Duration,
    /// A pair with nothing forwarded for this long is closed.
    pub idle_timeout: Duration,
    /// Most sessions (waiting or paired) at once.
    pub max_sessions: usize,
    /// `Origin` values accepted from browsers; native peers send none.
    pub allowed_origins: Vec<String>,
    /// When set, `POST /relay/v1/tokens` with `Authorization: Bearer <secret>`
    /// issues tokens: how a server uses a relay on another machine.
    pub issue_secret: Option<crate::secret::Secret>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            max_sessions: 10_000,
            allowed_origins: Vec::new(),
            issue_secret: None,
        }
    }
}

/// A relay token: 32 random bytes, hex.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelayToken(String);

impl RelayToken {
    /// A token received from the server.
    pub fn from_string(token: String) -> Self {
        Self(token)
    }

    /// The token as it goes in the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RelayToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelayToken({}..)", &self.0[..6])
    }
}

enum Slot {
    Issued {
        expires: Instant,
        /// Held by the main connection once claimed; dropped, it ends the
        /// token's lanes.
        ended: tokio::sync::watch::Sender<()>,
    },
    Waiting {
        expires: Instant,
        side: Side,
        pair: oneshot::Sender<WebSocket>,
    },
}

/// Counters of a hub.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Pairs forwarding now (main connections; lanes apart).
    pub active: AtomicUsize,
    /// Input lane pairs forwarding now.
    pub lanes: AtomicUsize,
    /// Pairs made since start.
    pub paired: AtomicU64,
    /// Bytes forwarded, both directions.
    pub bytes: AtomicU64,
    /// Connections refused (bad, reused or expired token, wrong origin, full).
    pub refused: AtomicU64,
    /// Bytes read from one peer and not yet handed to the other, all pairs.
    pub in_flight: AtomicU64,
    /// The most `in_flight` ever was.
    pub max_in_flight: AtomicU64,
}

type Tap = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// One input lane of a forwarding session.
enum LaneSlot {
    Free,
    Waiting {
        side: Side,
        pair: oneshot::Sender<WebSocket>,
    },
    Used,
}

/// The input lanes of an issued token; they end with its main pair.
struct Lanes {
    slots: Vec<LaneSlot>,
    main_ended: tokio::sync::watch::Receiver<()>,
}

struct Inner {
    config: HubConfig,
    slots: Mutex<HashMap<String, Slot>>,
    /// Ends a claimed token's pair early ([`RelayHub::revoke`]); locked
    /// after `slots` when both are.
    kills: Mutex<HashMap<String, oneshot::Sender<()>>>,
    lanes: Mutex<HashMap<String, Lanes>>,
    stats: HubStats,
    tap: Mutex<Option<Tap>>,
}

/// The relay hub; cheap to clone.
#[derive(Clone)]
pub struct RelayHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RelayHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHub")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, serde::Deserialize)]
struct SideQuery {
    side: Side,
    /// 0: the main connection; 1..=INPUT_LANES: an input lane.
    #[serde(default)]
    lane: u8,
}

impl RelayHub {
    /// A hub with these settings.
    pub fn new(config: HubConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                slots: Mutex::new(HashMap::new()),
                kills: Mutex::new(HashMap::new()),
                lanes: Mutex::new(HashMap::new()),
                stats: HubStats::default(),
                tap: Mutex::new(None),
            }),
        }
    }

    /// Issues a token for one session.
    pub fn issue(&self) -> RelayToken {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let expires = Instant::now() + self.inner.config.token_ttl;
        if let Ok(mut slots) = self.inner.slots.lock() {
            slots.retain(|_, s| match s {
                Slot::Issued { expires, .. } | Slot::Waiting { expires, .. } => {
                    *expires > Instant::now()
                }
            });
            // Lanes may open from now on (peers dial them beside the main
            // connection) until the main pair ends.
            let (ended, main_ended) = tokio::sync::watch::channel(());
            slots.insert(token.clone(), Slot::Issued { expires, ended });
            if let Ok(mut lanes) = self.inner.lanes.lock() {
                // Lanes of tokens expired, or whose main pair has ended.
                lanes.retain(|_, l| l.main_ended.has_changed().is_ok());
                let slots = (0..INPUT_LANES).map(|_| LaneSlot::Free).collect();
                lanes.insert(token.clone(), Lanes { slots, main_ended });
            }
        }
        RelayToken(token)
    }

    /// Ends what `token` gives access to, whatever its stage: unused, it
    /// becomes unknown; waiting or paired, its connections and input lanes
    /// are closed (SEC-4: a session that ends, or whose technician loses
    /// access, keeps no path to the customer's machine).
    pub fn revoke(&self, token: &RelayToken) {
        if let Ok(mut slots) = self.inner.slots.lock() {
            // Dropping a waiting slot's sender ends the waiting side.
            slots.remove(token.as_str());
            if let Ok(mut kills) = self.inner.kills.lock()
                && let Some(kill) = kills.remove(token.as_str())
            {
                let _ = kill.send(());
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> &HubStats {
        &self.inner.stats
    }

    /// Sees every forwarded message (tests use it to look for plaintext).
    pub fn set_tap(&self, tap: impl Fn(&[u8]) + Send + Sync + 'static) {
        if let Ok(mut t) = self.inner.tap.lock() {
            *t = Some(Arc::new(tap));
        }
    }

    /// The routes to mount (the server mounts them beside its own).
    pub fn router(&self) -> Router {
        Router::new()
            .route(RELAY_PATH, get(upgrade))
            .route(TOKENS_PATH, axum::routing::post(issue_route))
            .with_state(self.clone())
    }

    /// Serves the hub alone (`secours relay`) until the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // Small messages (input, acknowledgements) must not wait for Nagle;
        // the legs' congestion control and unsent queue (`tcp`).
        let listener = listener.tap_io(|tcp| super::tcp::tune(tcp));
        axum::serve(listener, self.router()).await
    }

    fn refuse(&self, status: StatusCode, why: &'static str) -> Response {
        self.inner.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::info!(why, "relay connection refused");
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"error\":\"{why}\"}}"),
        )
            .into_response()
    }

    /// Claims the token for `side`: either the first arrival (gets a
    /// receiver for its peer) or the second (gets the first's sender).
    fn claim(&self, token: &str, side: Side) -> Result<Claim, &'static str> {
        let mut slots = self.inner.slots.lock().map_err(|_| "hub poisoned")?;
        let now = Instant::now();
        match slots.remove(token) {
            None => Err("unknown or used token"),
            Some(Slot::Issued { expires, .. }) | Some(Slot::Waiting { expires, .. })
                if expires <= now =>
            {
                Err("expired token")
            }
            Some(Slot::Issued { expires, ended }) => {
                if self.inner.stats.active.load(Ordering::Relaxed) * 2 + slots.len()
                    >= self.inner.config.max_sessions * 2
                {
                    slots.insert(token.to_owned(), Slot::Issued { expires, ended });
                    return Err("relay full");
                }
                let (tx, rx) = oneshot::channel();
                slots.insert(
                    token.to_owned(),
                    Slot::Waiting {
                        expires,
                        side,
                        pair: tx,
                    },
                );
                let (kill, killed) = oneshot::channel();
                if let Ok(mut kills) = self.inner.kills.lock() {
                    kills.insert(token.to_owned(), kill);
                }
                Ok(Claim::First {
                    rx,
                    expires,
                    killed,
                    _ended: ended,
                })
            }
            Some(Slot::Waiting {
                expires,
                side: waiting,
                pair,
            }) => {
                if waiting == side {
                    slots.insert(
                        token.to_owned(),
                        Slot::Waiting {
                            expires,
                            side: waiting,
                            pair,
                        },
                    );
                    return Err("this side is already connected");
                }
                // Paired: the token is spent.
                Ok(Claim::Second { tx: pair })
            }
        }
    }

    /// Claims input lane `lane` of the forwarding session `token` for
    /// `side`, once.
    fn claim_lane(&self, token: &str, lane: u8, side: Side) -> Result<LaneClaim, &'static str> {
        let mut all = self.inner.lanes.lock().map_err(|_| "hub poisoned")?;
        let lanes = all
            .get_mut(token)
            .ok_or("no forwarding session for this lane")?;
        let main_ended = lanes.main_ended.clone();
        let slot = lanes
            .slots
            .get_mut(usize::from(lane) - 1)
            .ok_or("no such lane")?;
        match std::mem::replace(slot, LaneSlot::Used) {
            LaneSlot::Used => Err("lane already used"),
            LaneSlot::Free => {
                let (tx, rx) = oneshot::channel();
                *slot = LaneSlot::Waiting { side, pair: tx };
                Ok(LaneClaim::First { rx, main_ended })
            }
            LaneSlot::Waiting {
                side: waiting,
                pair,
            } => {
                if waiting == side {
                    *slot = LaneSlot::Waiting {
                        side: waiting,
                        pair,
                    };
                    return Err("this side is already connected");
                }
                Ok(LaneClaim::Second { tx: pair })
            }
        }
    }
}

/// Issues a token to a server holding the relay's secret.
async fn issue_route(State(hub): State<RelayHub>, headers: HeaderMap) -> Response {
    let Some(secret) = hub.inner.config.issue_secret.as_ref().map(|s| s.expose()) else {
        return hub.refuse(StatusCode::NOT_FOUND, "token issuing is not enabled");
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), secret.as_bytes()) {
        return hub.refuse(StatusCode::UNAUTHORIZED, "bad credentials");
    }
    let token = hub.issue();
    let ttl = hub.inner.config.token_ttl.as_secs();
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"token\":\"{}\",\"expires_in_s\":{ttl}}}",
            token.as_str()
        ),
    )
        .into_response()
}

/// Compares secrets without leaking where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum LaneClaim {
    First {
        rx: oneshot::Receiver<WebSocket>,
        main_ended: tokio::sync::watch::Receiver<()>,
    },
    Second {
        tx: oneshot::Sender<WebSocket>,
    },
}

enum Claim {
    First {
        rx: oneshot::Receiver<WebSocket>,
        expires: Instant,
        /// Fires when the token is revoked.
        killed: oneshot::Receiver<()>,
        /// Dropped when the main connection ends: so do its lanes.
        _ended: tokio::sync::watch::Sender<()>,
    },
    Second {
        tx: oneshot::Sender<WebSocket>,
    },
}

async fn upgrade(
    State(hub): State<RelayHub>,
    Path(token): Path<String>,
    Query(q): Query<SideQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .is_ok_and(|o| hub.inner.config.allowed_origins.iter().any(|a| a == o));
        if !ok {
            return hub.refuse(StatusCode::FORBIDDEN, "origin not allowed");
        }
    }
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hub.refuse(StatusCode::NOT_FOUND, "unknown or used token");
    }
    if q.lane > 0 {
        return upgrade_lane(hub, token, q, ws);
    }
    let claim = match hub.claim(&token, q.side) {
        Ok(c) => c,
        Err(why) => return hub.refuse(StatusCode::NOT_FOUND, why),
    };
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        // tungstenite's defaults reserve 128 KiB to read and 128 KiB to
        // write per socket: 269 KiB a paired session, 5 GiB for 20,000 idle
        // ones (hubbench). Small chunks cost little forwarding rate.
        .read_buffer_size(HUB_SOCKET_BUFFER)
        .write_buffer_size(HUB_SOCKET_BUFFER)
        .on_upgrade(move |socket| async move {
            match claim {
                Claim::Second { tx } => {
                    // The first arrival runs the pair; if it has gone, we close.
                    let _ = tx.send(socket);
                }
                Claim::First {
                    rx,
                    expires,
                    killed,
                    _ended,
                } => {
                    let wait = expires.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(wait, rx).await {
                        Ok(Ok(peer)) => hub.forward(socket, peer, killed).await,
                        _ => {
                            if let Ok(mut slots) = hub.inner.slots.lock() {
                                slots.remove(&token);
                            }
                            tracing::info!("relay token expired with one side waiting");
                        }
                    }
                    if let Ok(mut lanes) = hub.inner.lanes.lock() {
                        lanes.remove(&token);
                    }
                    if let Ok(mut kills) = hub.inner.kills.lock() {
                        kills.remove(&token);
                    }
                }
            }
        })
}

/// An input lane: paired like the main connection, but only until the main
/// pair ends (or its token expires unused), and ended with it.
fn upgrade_lane(hub: RelayHub, token: String, q: SideQuery, ws: WebSocketUpgrade) -> Response {
    if q.lane > INPUT_LANES {
        return hub.refuse(StatusCode::NOT_FOUND, "no such lane");
    }
    let claim = match hub.claim_lane(&token, q.lane, q.side) {
        Ok(c) => c,
        Err(why) => return hub.refuse(StatusCode::NOT_FOUND, why),
    };
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(LANE_SOCKET_BUFFER)
        .write_buffer_size(LANE_SOCKET_BUFFER)
        .on_upgrade(move |socket| async move {
            match claim {
                LaneClaim::Second { tx } => {
                    let _ = tx.send(socket);
                }
                LaneClaim::First { rx, mut main_ended } => {
                    let peer = tokio::select! {
                        p = rx => p.ok(),
                        _ = main_ended.changed() => None,
                    };
                    if let Some(peer) = peer {
                        let stats = &hub.inner.stats;
                        stats.lanes.fetch_add(1, Ordering::Relaxed);
                        tokio::select! {
                            () = hub.pump_pair(socket, peer) => {}
                            _ = main_ended.changed() => {}
                        }
                        stats.lanes.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
        })
}

impl RelayHub {
    async fn forward(&self, a: WebSocket, b: WebSocket, killed: oneshot::Receiver<()>) {
        let stats = &self.inner.stats;
        stats.active.fetch_add(1, Ordering::Relaxed);
        stats.paired.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            () = self.pump_pair(a, b) => {}
            Ok(()) = killed => tracing::info!("relay pair revoked: closed"),
        }
        stats.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// Forwards both directions until one ends.
    async fn pump_pair(&self, a: WebSocket, b: WebSocket) {
        let stats = &self.inner.stats;
        let (a_tx, a_rx) = a.split();
        let (b_tx, b_rx) = b.split();
        let last = Arc::new(Mutex::new(Instant::now()));
        let idle = self.inner.config.idle_timeout;
        let tap = self.inner.tap.lock().ok().and_then(|t| t.clone());
        let one = pump(a_rx, b_tx, last.clone(), idle, stats, tap.clone());
        let two = pump(b_rx, a_tx, last, idle, stats, tap);
        // When one direction ends, the other is dropped with it.
        tokio::select! {
            _ = one => {}
            _ = two => {}
        }
    }
}

async fn pump(
    mut from: futures_util::stream::SplitStream<WebSocket>,
    mut to: futures_util::stream::SplitSink<WebSocket, Message>,
    last: Arc<Mutex<Instant>>,
    idle: Duration,
    stats: &HubStats,
    tap: Option<Tap>,
) {
    loop {
        let next = match tokio::time::timeout(idle, from.next()).await {
            Ok(n) => n,
            Err(_) => {
                let quiet = last.lock().map(|l| l.elapsed() >= idle).unwrap_or(true);
                if quiet {
                    tracing::info!("relay pair idle: closed");
                    let _ = to.close().await;
                    return;
                }
                continue;
            }
        };
        let data: Bytes = match next {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(_))) => {
                tracing::info!("text on the relay: closed");
                let _ = to.close().await;
                return;
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                let _ = to.close().await;
                return;
            }
        };
        if let Some(tap) = &tap {
            tap(&data);
        }
        let len = data.len() as u64;
        let now_in_flight = stats.in_flight.fetch_add(len, Ordering::Relaxed) + len;
        stats
            .max_in_flight
            .fetch_max(now_in_flight, Ordering::Relaxed);
        let sent = tokio::time::timeout(idle, to.send(Message::Binary(data))).await;
        stats.in_flight.fetch_sub(len, Ordering::Relaxed);
        match sent {
            Ok(Ok(())) => {}
            _ => return, // the other side stopped reading, or left
        }
        stats.bytes.fetch_add(len, Ordering::Relaxed);
        if let Ok(mut l) = last.lock() {
            *l = Instant::now();
        }
    }
}
