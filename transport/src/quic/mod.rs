//! The direct backend: QUIC (quinn) between the two peers.
//!
//! The console is the QUIC client and opens one bidirectional stream per
//! reliable channel, writing the channel id as the stream's first byte; each
//! stream gets the channel's priority, so input overtakes file data. Video
//! frames each go on a unidirectional stream of their own: when a newer frame
//! is sent while an older one is still in flight past the lateness budget,
//! the older stream is reset and the frame counted as dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{
    Connection, ConnectionError, Endpoint, EndpointConfig, TokioRuntime, TransportConfig, VarInt,
};
use secours_protocol::{Channel, Fingerprint};
use tokio::sync::mpsc;

use crate::delivery_window::DeliveryWindowConfig;
use crate::error::LinkError;
use crate::identity::{self, LocalIdentity, Refusals};
use crate::link::{
    Backend, Counters, Link, LinkEvent, LinkStats, PathInfo, PathKind, Plumbing, priority,
};
use crate::punch::socket::{PunchMux, PunchSocket};
use crate::turn::TurnClient;

mod streams;
use streams::{
    read_datagrams, receive_file, receive_input, receive_video, send_file, send_file_v1,
    send_input, send_video,
};

/// A video frame still in flight after this long is dropped when the next
/// one is sent.
pub const VIDEO_LATENESS: Duration = Duration::from_millis(200);
/// The QUIC connection fails after this long without a packet.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

const RELIABLE: [Channel; 5] = [
    Channel::Control,
    Channel::Input,
    Channel::Clipboard,
    Channel::File,
    Channel::Chat,
];

/// The congestion controller of a QUIC path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Congestion {
    /// Loss-based (quinn's default): collapses under the random loss of
    /// Wi-Fi and 4G (netbench: 0.12 of TCP's goodput at 3 % loss).
    Cubic,
    /// Model-based: keeps its rate under random loss, as the kernel's TCP
    /// here does (quinn marks its BBR experimental). Its queue is kept short
    /// by the file pacer, not by the controller.
    Bbr,
    /// Twice the path's product from its delivery rate ([`DeliveryWindow`]),
    /// under the file's own rate: BBR without its drain (which read our
    /// paced ramp as a full pipe and held lan's file for 50 ms).
    ///
    /// The default.
    ///
    /// [`DeliveryWindow`]: crate::delivery_window::DeliveryWindow
    #[default]
    Delivery,
}

/// QUIC's first window. quinn paces at window / round trip, so its default
/// (240 KB) held a satellite path's first round trips at 3.2 Mbit/s, under
/// the file's own start-up rate; the file is paced by its own rate anyway.
const INITIAL_WINDOW: u64 = 1024 * 1024;

fn transport_config(idle: Duration, congestion: Congestion) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    match congestion {
        Congestion::Bbr => {
            let mut bbr = quinn::congestion::BbrConfig::default();
            bbr.initial_window(INITIAL_WINDOW);
            t.congestion_controller_factory(Arc::new(bbr));
        }
        Congestion::Delivery => {
            t.congestion_controller_factory(Arc::new(DeliveryWindowConfig {
                initial_window: INITIAL_WINDOW,
            }));
        }
        Congestion::Cubic => {}
    }
    t.keep_alive_interval(Some(idle / 4));
    t.max_idle_timeout(Some(
        idle.try_into().unwrap_or(VarInt::from_u32(15_000).into()),
    ));
    // Room for a keyframe burst and a file window in flight on fast links.
    t.stream_receive_window(VarInt::from_u32(8 * 1024 * 1024));
    t.receive_window(VarInt::from_u32(16 * 1024 * 1024));
    t.send_window(16 * 1024 * 1024);
    t.max_concurrent_uni_streams(VarInt::from_u32(256));
    Arc::new(t)
}

/// Size asked for the UDP socket's buffers, each way.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// A QUIC endpoint on one UDP socket (the socket hole punching used).
#[derive(Debug, Clone)]
pub struct QuicEndpoint {
    endpoint: Endpoint,
    /// The punched socket's probes and TURN allocation, if it is one.
    turn: Option<Arc<PunchMux>>,
    idle: Duration,
    congestion: Congestion,
    offer: &'static [&'static [u8]],
}

impl QuicEndpoint {
    /// An endpoint on an already bound UDP socket.
    pub fn new(socket: UdpSocket) -> Result<Self, LinkError> {
        socket
            .set_nonblocking(true)
            .map_err(|e| LinkError::Io(e.to_string()))?;
        // The default buffers (208 KiB) overflow in a burst at a few hundred
        // Mbit/s: 0.5 % of lan's packets were lost in our own receiver. The
        // kernel caps the sizes at net.core.{r,w}mem_max; smaller is fine.
        let s = socket2::SockRef::from(&socket);
        for (what, set) in [
            ("receive", s.set_recv_buffer_size(SOCKET_BUFFER)),
            ("send", s.set_send_buffer_size(SOCKET_BUFFER)),
        ] {
            if let Err(e) = set {
                tracing::debug!("UDP {what} buffer: {e}");
            }
        }
        let endpoint = Endpoint::new(
            EndpointConfig::default(),
            None,
            socket,
            Arc::new(TokioRuntime),
        )
        .map_err(|e| LinkError::Io(e.to_string()))?;
        Ok(Self {
            endpoint,
            turn: None,
            idle: IDLE_TIMEOUT,
            congestion: Congestion::default(),
            offer: identity::OFFER,
        })
    }

    /// An endpoint on the punched socket, which also sends and reads the
    /// probes; with `turn`, the allocation a client holds on a server: peers
    /// that reach the relayed address are answered through it, the others
    /// directly.
    pub fn on_punched(
        socket: UdpSocket,
        turn: Option<(SocketAddr, TurnClient)>,
    ) -> Result<(Self, Arc<PunchMux>), LinkError> {
        let io = |e: std::io::Error| LinkError::Io(e.to_string());
        socket.set_nonblocking(true).map_err(io)?;
        let runtime = Arc::new(TokioRuntime);
        let inner = quinn::Runtime::wrap_udp_socket(&*runtime, socket).map_err(io)?;
        let (socket, mux) = PunchSocket::new(inner, turn);
        let endpoint =
            Endpoint::new_with_abstract_socket(EndpointConfig::default(), None, socket, runtime)
                .map_err(io)?;
        let this = Self {
            endpoint,
            turn: Some(mux.clone()),
            idle: IDLE_TIMEOUT,
            congestion: Congestion::default(),
            offer: identity::OFFER,
        };
        Ok((this, mux))
    }

    /// Which congestion controller new connections use.
    pub fn with_congestion(mut self, congestion: Congestion) -> Self {
        self.congestion = congestion;
        self
    }

    /// The ALPNs offered (default [`identity::OFFER`]; [`identity::OFFER_V1`]
    /// behaves as a peer from before acknowledgements).
    pub fn with_offer(mut self, offer: &'static [&'static [u8]]) -> Self {
        self.offer = offer;
        self
    }

    /// How long a silent path lives (default [`IDLE_TIMEOUT`]); the connector
    /// falls back to the relay when it ends.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// An endpoint on a fresh socket bound to `addr`.
    pub fn bind(addr: SocketAddr) -> Result<Self, LinkError> {
        Self::new(UdpSocket::bind(addr).map_err(|e| LinkError::Io(e.to_string()))?)
    }

    /// Our socket address.
    pub fn local_addr(&self) -> Result<SocketAddr, LinkError> {
        self.endpoint
            .local_addr()
            .map_err(|e| LinkError::Io(e.to_string()))
    }

    /// Moves the endpoint to another socket (a network change: Wi-Fi to 4G).
    /// The connections on it migrate.
    pub fn rebind(&self, socket: UdpSocket) -> Result<(), LinkError> {
        self.endpoint
            .rebind(socket)
            .map_err(|e| LinkError::Io(e.to_string()))
    }

    fn path_of(&self, relayed: bool) -> PathOf {
        PathOf {
            endpoint: self.endpoint.clone(),
            relayed,
            turn: self.turn.clone(),
        }
    }

    /// Console: connects to the applet at `addr`, accepting only `peer`.
    pub async fn connect(
        &self,
        local: &LocalIdentity,
        peer: Fingerprint,
        addr: SocketAddr,
    ) -> Result<Link, LinkError> {
        self.connect_to(local, peer, addr, false).await
    }

    /// Console: connects to `addr`, the applet's relayed (TURN) address
    /// when `relayed`: the link then says it runs through TURN.
    pub async fn connect_to(
        &self,
        local: &LocalIdentity,
        peer: Fingerprint,
        addr: SocketAddr,
        relayed: bool,
    ) -> Result<Link, LinkError> {
        let refusals = Refusals::default();
        let mut tls = identity::client_config(local, peer, &refusals)?;
        tls.alpn_protocols = identity::alpns(self.offer);
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| LinkError::Tls(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(transport_config(self.idle, self.congestion));
        let connecting = self
            .endpoint
            .connect_with(config, addr, identity::SERVER_NAME)
            .map_err(|e| LinkError::Quic(e.to_string()))?;
        let conn = connecting.await.map_err(|e| classify(&e, &refusals))?;
        let mut streams = Vec::new();
        for channel in RELIABLE {
            let (mut send, recv) = conn.open_bi().await.map_err(|e| classify(&e, &refusals))?;
            send.set_priority(priority(channel)).ok();
            send.write_all(&[channel.id()])
                .await
                .map_err(|e| LinkError::Quic(e.to_string()))?;
            streams.push((channel, send, recv));
        }
        // The applet's streams carry no channel byte: offsets start at 0.
        Ok(start(conn, streams, self.path_of(relayed), peer, 0))
    }

    /// Applet: accepts the console's connection, accepting only `peer`.
    pub async fn accept(
        &self,
        local: &LocalIdentity,
        peer: Fingerprint,
    ) -> Result<Link, LinkError> {
        let refusals = Refusals::default();
        let mut tls = identity::server_config(local, peer, &refusals)?;
        tls.alpn_protocols = identity::alpns(self.offer);
        let crypto = QuicServerConfig::try_from(tls).map_err(|e| LinkError::Tls(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(transport_config(self.idle, self.congestion));
        self.endpoint.set_server_config(Some(config));
        let incoming = self.endpoint.accept().await.ok_or(LinkError::Closed)?;
        let conn = incoming.await.map_err(|e| classify(&e, &refusals))?;
        let mut streams = Vec::new();
        while streams.len() < RELIABLE.len() {
            let (send, mut recv) = conn
                .accept_bi()
                .await
                .map_err(|e| classify(&e, &refusals))?;
            let mut id = [0u8; 1];
            recv.read_exact(&mut id)
                .await
                .map_err(|e| LinkError::Violation(format!("stream header: {e}")))?;
            let channel = Channel::from_id(id[0])
                .filter(|c| RELIABLE.contains(c) && !streams.iter().any(|(s, _, _)| s == c))
                .ok_or_else(|| LinkError::Violation(format!("bad stream channel {}", id[0])))?;
            send.set_priority(priority(channel)).ok();
            streams.push((channel, send, recv));
        }
        // The console's streams start with their channel byte.
        Ok(start(conn, streams, self.path_of(false), peer, 1))
    }
}

/// Whether the handshake agreed on delivery acknowledgements.
fn acknowledges(conn: &Connection) -> bool {
    conn.handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol)
        .is_some_and(|p| p == identity::ALPN_ACKS)
}

/// Maps a connection failure to a typed error.
fn classify(e: &ConnectionError, refusals: &Refusals) -> LinkError {
    if let Some(m) = refusals.take() {
        return LinkError::FingerprintMismatch(m);
    }
    if is_cert_alert(e) {
        return LinkError::RefusedByPeer;
    }
    match e {
        ConnectionError::TimedOut => LinkError::Timeout("QUIC connection"),
        other => LinkError::Quic(other.to_string()),
    }
}

/// A TLS alert about certificates in the connection-close code (0x100 + alert).
fn is_cert_alert(e: &ConnectionError) -> bool {
    let code = match e {
        ConnectionError::ConnectionClosed(c) => c.error_code,
        ConnectionError::TransportError(t) => t.code,
        _ => return false,
    };
    // bad_certificate 42, unsupported 43, unknown 46, access_denied 49,
    // decrypt_error 51, certificate_required 116.
    [42u8, 43, 46, 49, 51, 116]
        .iter()
        .any(|a| code == quinn::TransportErrorCode::crypto(*a))
}

/// What a link needs to say which path it runs on.
#[derive(Debug, Clone)]
struct PathOf {
    endpoint: Endpoint,
    /// Connected to a relayed address (the console's side).
    relayed: bool,
    /// Our own allocation (the applet's side).
    turn: Option<Arc<PunchMux>>,
}

#[derive(Debug)]
struct QuicBackend {
    conn: Connection,
    path: PathOf,
    counters: Arc<Counters>,
}

impl Backend for QuicBackend {
    fn stats(&self) -> LinkStats {
        let s = self.conn.stats();
        let rtt = self.conn.rtt();
        let loss = if s.path.sent_packets == 0 {
            0.0
        } else {
            s.path.lost_packets as f64 / s.path.sent_packets as f64
        };
        let secs = rtt.as_secs_f64().max(1e-4);
        LinkStats {
            rtt,
            loss,
            send_rate_bps: (s.path.cwnd as f64 * 8.0 / secs) as u64,
            bytes_sent: self.counters.sent.load(Ordering::Relaxed),
            bytes_received: self.counters.received.load(Ordering::Relaxed),
            video_dropped: self.counters.video_dropped.load(Ordering::Relaxed),
        }
    }

    fn path(&self) -> PathInfo {
        let remote = self.conn.remote_address();
        let turn = self.path.relayed
            || self
                .path
                .turn
                .as_ref()
                .is_some_and(|t| t.is_relayed(remote));
        PathInfo {
            kind: if turn {
                PathKind::Turn
            } else {
                PathKind::Direct
            },
            local: self.path.endpoint.local_addr().ok(),
            remote: Some(remote),
        }
    }

    fn close(&self) {
        self.conn.close(VarInt::from_u32(0), b"closed");
    }
}

type Streams = Vec<(Channel, quinn::SendStream, quinn::RecvStream)>;

fn start(conn: Connection, streams: Streams, path: PathOf, peer: Fingerprint, header: u64) -> Link {
    let acknowledged = acknowledges(&conn);
    let (ack_tx, ack_rx) = mpsc::channel(256);
    let mut ack_rx = Some(ack_rx);
    let counters = Arc::new(Counters::default());
    let backend = Arc::new(QuicBackend {
        conn: conn.clone(),
        path,
        counters: counters.clone(),
    });
    let (link, plumbing) = Link::new(backend, peer);
    let Plumbing { mut out, events } = plumbing;
    // Outgoing: one task per reliable stream, one for video.
    let mut taken: Vec<Option<mpsc::Receiver<Bytes>>> = out.drain(..).map(Some).collect();
    for (channel, mut send, mut recv) in streams {
        let Some(mut rx) = taken[channel.id() as usize].take() else {
            continue;
        };
        let c = counters.clone();
        if channel == Channel::Input {
            tokio::spawn(send_input(conn.clone(), send, rx, c.clone()));
            let (copy_tx, copy_rx) = mpsc::channel(256);
            tokio::spawn(read_datagrams(conn.clone(), copy_tx, ack_tx.clone()));
            tokio::spawn(receive_input(recv, header, c, events.clone(), copy_rx));
            continue;
        }
        if channel == Channel::File && acknowledged {
            if let Some(acks) = ack_rx.take() {
                tokio::spawn(send_file(send, rx, c.clone(), acks));
            }
            tokio::spawn(receive_file(conn.clone(), recv, header, c, events.clone()));
            continue;
        }
        if channel == Channel::File {
            tokio::spawn(send_file_v1(conn.clone(), send, rx, c));
        } else {
            tokio::spawn(async move {
                while let Some(frame) = rx.recv().await {
                    if send.write_chunk(frame.clone()).await.is_err() {
                        return;
                    }
                    c.add_sent(frame.len());
                }
                let _ = send.finish();
            });
        }
        let ev = events.clone();
        let c = counters.clone();
        tokio::spawn(async move {
            loop {
                match recv.read_chunk(64 * 1024, true).await {
                    Ok(Some(chunk)) => {
                        c.add_received(chunk.bytes.len());
                        if ev
                            .send(LinkEvent::Data {
                                channel,
                                data: chunk.bytes,
                            })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(None) | Err(_) => return,
                }
            }
        });
    }
    if let Some(rx) = taken[Channel::Video.id() as usize].take() {
        tokio::spawn(send_video(
            conn.clone(),
            rx,
            counters.clone(),
            events.clone(),
        ));
    }
    tokio::spawn(receive_video(
        conn.clone(),
        counters.clone(),
        events.clone(),
    ));
    tokio::spawn(async move {
        let reason = conn.closed().await;
        let error = match reason {
            ConnectionError::LocallyClosed | ConnectionError::ApplicationClosed(_) => None,
            other => Some(classify(&other, &Refusals::default())),
        };
        let _ = events.send(LinkEvent::Closed(error)).await;
    });
    link
}
