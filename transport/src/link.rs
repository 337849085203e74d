//! `Link`: one authenticated, encrypted connection carrying the six logical
//! channels, whatever path is under it.
//!
//! The driver hands each outgoing frame to [`Link::send`] on its channel and
//! reads [`LinkEvent`]s from [`Link::recv`]. Each backend keeps the channels'
//! delivery rules: input is never queued behind file or video data, a late
//! video frame is dropped (and reported) rather than delivered late, file
//! data yields to everything.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use secours_protocol::{Channel, Fingerprint};
use tokio::sync::mpsc;

use crate::error::LinkError;

/// Frames queued per channel before `send` waits (backpressure).
pub const QUEUE_FRAMES: usize = 64;

/// Which kind of path a link runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Peer to peer (QUIC over UDP).
    Direct,
    /// Through the server's relay (TLS inside a WebSocket).
    Relay,
    /// Peer to peer over UDP through a TURN relay (QUIC end to end): what
    /// two NATs that both map each destination to a new port still allow.
    Turn,
    /// Peer to peer over WebRTC (ICE, DTLS, SCTP data channels).
    WebRtc,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathKind::Direct => "direct",
            PathKind::Relay => "relay",
            PathKind::Turn => "turn",
            PathKind::WebRtc => "webrtc",
        })
    }
}

/// The path a link uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathInfo {
    /// Direct or relay.
    pub kind: PathKind,
    /// Our address on it.
    pub local: Option<SocketAddr>,
    /// The peer's (or the relay's) address.
    pub remote: Option<SocketAddr>,
}

/// Measurements of a link; the bitrate estimate is what the codec follows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkStats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Fraction of packets lost (0.0..1.0), where the backend knows.
    pub loss: f64,
    /// Sending-rate estimate, bits per second.
    pub send_rate_bps: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Video frames dropped because they were late.
    pub video_dropped: u64,
}

/// What a link delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Bytes of a channel's stream (video: one or more whole frames).
    Data {
        /// The channel.
        channel: Channel,
        /// The bytes.
        data: Bytes,
    },
    /// Our video frames were dropped for being late: ask for a keyframe
    /// or lower the rate.
    VideoDropped {
        /// How many.
        frames: u64,
    },
    /// The link ended.
    Closed(Option<LinkError>),
}

/// Counters shared by a backend's tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub video_dropped: AtomicU64,
}

impl Counters {
    pub fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What a backend must provide beyond the queues.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    fn stats(&self) -> LinkStats;
    fn path(&self) -> PathInfo;
    fn close(&self);
}

/// An established link. Dropping it closes the connection.
#[derive(Debug)]
pub struct Link {
    out: Vec<mpsc::Sender<Bytes>>,
    events: mpsc::Receiver<LinkEvent>,
    /// Events read ahead (the race reads a link to learn which one the
    /// peer chose) and handed back, delivered before the queue's.
    unread: std::collections::VecDeque<LinkEvent>,
    backend: Arc<dyn Backend>,
    peer: Fingerprint,
}

/// The backend's ends of a link's queues.
pub(crate) struct Plumbing {
    /// One receiver per channel, indexed by `Channel::id`.
    pub out: Vec<mpsc::Receiver<Bytes>>,
    /// Where the backend delivers.
    pub events: mpsc::Sender<LinkEvent>,
}

impl Link {
    pub(crate) fn new(backend: Arc<dyn Backend>, peer: Fingerprint) -> (Self, Plumbing) {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..6).map(|_| mpsc::channel(QUEUE_FRAMES)).unzip();
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        (
            Self {
                out: txs,
                events: ev_rx,
                unread: std::collections::VecDeque::new(),
                backend,
                peer,
            },
            Plumbing {
                out: rxs,
                events: ev_tx,
            },
        )
    }

    /// Queues one whole frame on its channel; waits while the channel's queue
    /// is full.
    pub async fn send(&self, channel: Channel, frame: Bytes) -> Result<(), LinkError> {
        self.out[channel.id() as usize]
            .send(frame)
            .await
            .map_err(|_| LinkError::Closed)
    }

    /// Queues a frame if there is room now; `false` if the queue is full.
    pub fn try_send(&self, channel: Channel, frame: Bytes) -> Result<bool, LinkError> {
        match self.out[channel.id() as usize].try_send(frame) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(LinkError::Closed),
        }
    }

    /// A handle that queues frames on this link's channels, usable while
    /// the link itself is borrowed for [`Link::recv`].
    pub fn sender(&self) -> LinkSender {
        LinkSender {
            out: self.out.clone(),
        }
    }

    /// The next event; `Closed` once, then `None`.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        if let Some(ev) = self.unread.pop_front() {
            return Some(ev);
        }
        self.events.recv().await
    }

    /// Hands back events read with [`Link::recv`]: the next calls deliver
    /// them first, in this order.
    pub(crate) fn unread(&mut self, events: impl IntoIterator<Item = LinkEvent>) {
        let mut ahead: std::collections::VecDeque<LinkEvent> = events.into_iter().collect();
        ahead.append(&mut self.unread);
        self.unread = ahead;
    }

    /// Current measurements.
    pub fn stats(&self) -> LinkStats {
        self.backend.stats()
    }

    /// The peer's certificate fingerprint, as the TLS handshake verified it
    /// (the session handshake binds it: `observed_peer_fingerprint`).
    pub fn peer_fingerprint(&self) -> Fingerprint {
        self.peer
    }

    /// The path in use.
    pub fn path(&self) -> PathInfo {
        self.backend.path()
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.backend.close();
    }
}

/// Queues frames on a link's channels (see [`Link::sender`]); cheap to clone.
#[derive(Debug, Clone)]
pub struct LinkSender {
    out: Vec<mpsc::Sender<Bytes>>,
}

impl LinkSender {
    /// Queues one whole frame on its channel; waits while the channel's
    /// queue is full. Cancel-safe: dropped before it completes, nothing was
    /// queued.
    pub async fn send(&self, channel: Channel, frame: Bytes) -> Result<(), LinkError> {
        self.out[channel.id() as usize]
            .send(frame)
            .await
            .map_err(|_| LinkError::Closed)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.backend.close();
    }
}

/// The priority of a channel's stream: higher goes first.
pub(crate) fn priority(channel: Channel) -> i32 {
    match channel {
        Channel::Input => 100,
        Channel::Control => 90,
        Channel::Chat => 80,
        Channel::Video => 50,
        Channel::Clipboard => 40,
        Channel::File => 0,
    }
}
