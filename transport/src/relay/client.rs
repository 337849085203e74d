//! A peer's end of the relay: a WebSocket to the hub, the end-to-end TLS
//! session inside it (console = TLS client, applet = TLS server, both
//! certificates pinned), and the channel mux inside that.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use secours_protocol::{Channel, Fingerprint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::hub::{RelayToken, Side};
use super::lanes;
use super::ws_io::WsIo;
use crate::error::LinkError;
use crate::identity::{self, LocalIdentity, Refusals};
use crate::link::{Backend, Counters, Link, LinkEvent, LinkStats, PathInfo, PathKind, Plumbing};
use crate::mux;

/// How long connecting (WebSocket, waiting for the peer, TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct RelayBackend {
    counters: Arc<Counters>,
    shared: Arc<mux::Shared>,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    started: Instant,
    closer: tokio::sync::watch::Sender<bool>,
}

impl Backend for RelayBackend {
    fn stats(&self) -> LinkStats {
        let sent = self.counters.sent.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        // With acknowledgements, the round trip through the peer and what the
        // window lets through; without, only the average sending rate.
        let (rtt, rate) = self
            .shared
            .with_window(|w| (w.srtt(), w.rate_bps()))
            .unwrap_or((None, None));
        LinkStats {
            rtt: rtt.unwrap_or(Duration::ZERO),
            // TCP hides loss.
            loss: 0.0,
            send_rate_bps: rate.unwrap_or((sent as f64 * 8.0 / secs) as u64),
            bytes_sent: sent,
            bytes_received: self.counters.received.load(Ordering::Relaxed),
            video_dropped: self.counters.video_dropped.load(Ordering::Relaxed),
        }
    }

    fn path(&self) -> PathInfo {
        PathInfo {
            kind: PathKind::Relay,
            local: self.local,
            remote: self.remote,
        }
    }

    fn close(&self) {
        let _ = self.closer.send(true);
    }
}

/// Connects to the hub at `base` (e.g. `ws://127.0.0.1:8443`) with `token`
/// as `side`, then runs end-to-end TLS with the peer, accepting only `peer`.
pub async fn connect(
    base: &str,
    token: &RelayToken,
    side: Side,
    local: &LocalIdentity,
    peer: Fingerprint,
) -> Result<Link, LinkError> {
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        connect_inner(base, token, side, local, peer, identity::RELAY_OFFER),
    )
    .await
    .map_err(|_| LinkError::Timeout("relay connection"))?
}

/// A byte stream TLS runs over, whichever side of TLS we are.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Our end of TLS: the console is the client, the applet the server.
#[derive(Clone)]
pub(super) enum Tls {
    Client(Arc<rustls::ClientConfig>),
    Server(Arc<rustls::ServerConfig>),
}

impl Tls {
    fn new(
        side: Side,
        local: &LocalIdentity,
        peer: Fingerprint,
        refusals: &Refusals,
        offer: &[&[u8]],
    ) -> Result<Self, LinkError> {
        Ok(match side {
            Side::Console => {
                let mut config = identity::client_config(local, peer, refusals)?;
                config.alpn_protocols = identity::alpns(offer);
                Self::Client(Arc::new(config))
            }
            Side::Applet => {
                let mut config = identity::server_config(local, peer, refusals)?;
                config.alpn_protocols = identity::alpns(offer);
                Self::Server(Arc::new(config))
            }
        })
    }
}

/// A connection through the hub, TLS done.
pub(super) struct Dialed {
    pub(super) tls: Box<dyn Io>,
    pub(super) alpn: Option<Vec<u8>>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
}

/// The URL of the hub's `lane` (0: the main connection) for `side`.
fn relay_url(base: &str, token: &RelayToken, side: Side, lane: u8) -> String {
    let side_name = match side {
        Side::Console => "console",
        Side::Applet => "applet",
    };
    let mut url = format!(
        "{}/relay/v1/{}?side={side_name}",
        base.trim_end_matches('/'),
        token.as_str()
    );
    if lane > 0 {
        url.push_str(&format!("&lane={lane}"));
    }
    url
}

/// A WebSocket to the hub, TLS not yet run.
pub(super) struct Opened {
    io: WsIo<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
}

/// Opens the WebSocket at `url`.
pub(super) async fn open(url: &str) -> Result<Opened, LinkError> {
    let request = url
        .into_client_request()
        .map_err(|e| LinkError::Relay(e.to_string()))?;
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(super::hub::MAX_MESSAGE);
    config.max_frame_size = Some(super::hub::MAX_MESSAGE);
    // Keep little unsent data in the kernel and in tungstenite: the mux
    // schedules by priority only what it still holds, so a deep socket queue
    // would put input behind seconds of file data on a slow uplink.
    config.write_buffer_size = 32 * 1024;
    let stream = connect_tcp(&request).await?;
    let (ws, _response) = tokio_tungstenite::client_async_with_config(
        request,
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await
    .map_err(|e| LinkError::Relay(e.to_string()))?;
    let (local, remote) = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => (s.local_addr().ok(), s.peer_addr().ok()),
        _ => (None, None),
    };
    Ok(Opened {
        io: WsIo::new(ws),
        local,
        remote,
    })
}

/// Runs TLS inside an opened WebSocket.
pub(super) async fn handshake(
    opened: Opened,
    tls: &Tls,
    refusals: &Refusals,
) -> Result<Dialed, LinkError> {
    let Opened { io, local, remote } = opened;
    let refused = |e: std::io::Error| {
        refusals
            .take()
            .map_or_else(|| LinkError::from_io(&e), LinkError::from)
    };
    let (tls, alpn): (Box<dyn Io>, _) = match tls {
        Tls::Client(config) => {
            let name = ServerName::try_from(identity::SERVER_NAME)
                .map_err(|e| LinkError::Tls(e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, io)
                .await
                .map_err(refused)?;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            (Box::new(tls), alpn)
        }
        Tls::Server(config) => {
            let tls = tokio_rustls::TlsAcceptor::from(config.clone())
                .accept(io)
                .await
                .map_err(refused)?;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            (Box::new(tls), alpn)
        }
    };
    Ok(Dialed {
        tls,
        alpn,
        local,
        remote,
    })
}

async fn connect_inner(
    base: &str,
    token: &RelayToken,
    side: Side,
    local: &LocalIdentity,
    peer: Fingerprint,
    offer: &[&[u8]],
) -> Result<Link, LinkError> {
    let refusals = Refusals::default();
    let tls = Tls::new(side, local, peer, &refusals, offer)?;
    // The lanes open beside the main connection, and are used once it has
    // agreed on `secours/3`.
    let (gate, gate_rx) = tokio::sync::watch::channel(lanes::LaneGate::Pending);
    if offer.contains(&identity::ALPN_LANES) {
        let refusals = Refusals::default();
        let tls = Tls::new(side, local, peer, &refusals, &[identity::ALPN_LANE])?;
        let urls = (1..=super::hub::INPUT_LANES)
            .map(|lane| relay_url(base, token, side, lane))
            .collect();
        lanes::LaneDialer {
            urls,
            tls,
            refusals,
        }
        .spawn(gate_rx);
    }
    let opened = open(&relay_url(base, token, side, 0)).await?;
    let dialed = handshake(opened, &tls, &refusals).await?;
    let alpn = dialed.alpn.as_deref();
    let lanes = alpn == Some(identity::ALPN_LANES);
    let acks = lanes || alpn == Some(identity::ALPN_ACKS);
    Ok(start(dialed, peer, acks, lanes, gate))
}

async fn connect_tcp(
    request: &tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<TcpStream, LinkError> {
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(LinkError::Relay(format!(
            "unsupported relay URL scheme in {uri}: wss goes through the TLS terminator's ws"
        )));
    }
    let host = uri
        .host()
        .ok_or_else(|| LinkError::Relay(format!("no host in {uri}")))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| LinkError::Relay(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| LinkError::Relay(format!("{host}: no address")))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| LinkError::Io(e.to_string()))?;
    // Before the connection: the congestion controller then runs from the
    // first segment.
    super::tcp::tune(&socket);
    socket
        .connect(addr)
        .await
        .map_err(|e| LinkError::Relay(format!("connect {addr}: {e}")))
}

/// Runs the link over the main connection; `gate` tells the input lanes
/// whether (`lanes`) and until when to carry copies.
fn start(
    dialed: Dialed,
    peer: Fingerprint,
    acks: bool,
    lanes: bool,
    gate: tokio::sync::watch::Sender<lanes::LaneGate>,
) -> Link {
    let counters = Arc::new(Counters::default());
    let shared = Arc::new(mux::Shared::new(acks, lanes));
    let (closer, mut closed) = tokio::sync::watch::channel(false);
    let backend = Arc::new(RelayBackend {
        counters: counters.clone(),
        shared: shared.clone(),
        remote: dialed.remote,
        local: dialed.local,
        started: Instant::now(),
        closer,
    });
    let (link, Plumbing { mut out, events }) = Link::new(backend, peer);
    if lanes {
        let input = Channel::Input.id() as usize;
        let (_, closed_rx) = mpsc::channel(1);
        let app = std::mem::replace(&mut out[input], closed_rx);
        out[input] = lanes::tee_input(app, shared.clone());
    }
    gate.send_replace(if lanes {
        lanes::LaneGate::Open {
            shared: shared.clone(),
            events: events.clone(),
        }
    } else {
        lanes::LaneGate::Shut
    });
    let (r, w) = tokio::io::split(dialed.tls);
    let ev = events.clone();
    let c = counters.clone();
    tokio::spawn(async move {
        let writer = mux::write_loop(w, out, shared.clone(), c.clone(), ev.clone());
        let reader = mux::read_loop(r, shared, c, ev.clone());
        let result = tokio::select! {
            r = writer => r,
            r = reader => r,
            _ = closed.wait_for(|c| *c) => Ok(()),
        };
        // The lanes end with the link, closed or broken.
        gate.send_replace(lanes::LaneGate::Shut);
        let _ = ev.send(LinkEvent::Closed(result.err())).await;
    });
    link
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::relay::{HubConfig, RelayHub};
    use bytes::Bytes;

    /// A peer that offers only `secours/1` (no acknowledgement records) and
    /// one that offers both agree on `secours/1`, and the channels work.
    #[tokio::test]
    async fn a_peer_without_acknowledgements_still_talks() {
        let hub = RelayHub::new(HubConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        tokio::spawn(hub.clone().serve(listener));
        let token = hub.issue();
        let c = LocalIdentity::generate().unwrap();
        let a = LocalIdentity::generate().unwrap();
        let (cfp, afp) = (c.fingerprint(), a.fingerprint());
        let (console, applet) = tokio::join!(
            connect_inner(&base, &token, Side::Console, &c, afp, identity::RELAY_OFFER),
            connect_inner(&base, &token, Side::Applet, &a, cfp, identity::OFFER_V1),
        );
        let (console, mut applet) = (console.unwrap(), applet.unwrap());
        let file = Bytes::from(vec![3u8; 200_000]);
        console.send(Channel::File, file.clone()).await.unwrap();
        console
            .send(Channel::Chat, Bytes::from_static(b"hi"))
            .await
            .unwrap();
        let (mut got_file, mut got_chat) = (Vec::new(), Vec::new());
        while got_file.len() < file.len() || got_chat.len() < 2 {
            let ev = tokio::time::timeout(Duration::from_secs(10), applet.recv())
                .await
                .expect("delivered in time");
            match ev {
                Some(LinkEvent::Data {
                    channel: Channel::File,
                    data,
                }) => got_file.extend_from_slice(&data),
                Some(LinkEvent::Data {
                    channel: Channel::Chat,
                    data,
                }) => got_chat.extend_from_slice(&data),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got_file, file);
        assert_eq!(got_chat, b"hi");
        // A reply: with acknowledgements, the applet's would come before it.
        applet
            .send(Channel::Chat, Bytes::from_static(b"ok"))
            .await
            .unwrap();
        let mut console = console;
        let ev = tokio::time::timeout(Duration::from_secs(10), console.recv()).await;
        assert!(matches!(
            ev,
            Ok(Some(LinkEvent::Data {
                channel: Channel::Chat,
                ..
            }))
        ));
        // No acknowledgements: no round trip measured, the window unused.
        assert_eq!(console.stats().rtt, Duration::ZERO);
    }
}
