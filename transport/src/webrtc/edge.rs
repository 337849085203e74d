//! The WebRTC link's tokio edge: one task owns the driver, the UDP socket,
//! the link's queues and the signals, and feeds the driver in turn.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use secours_protocol::signaling::SignalPayload;
use secours_protocol::{Channel, Fingerprint};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::error::LinkError;
use crate::identity::LocalIdentity;
use crate::link::{Backend, Link, LinkEvent, LinkStats, PathInfo, PathKind, Plumbing};

use super::driver::{Driver, Role};

/// Size asked for the UDP socket's buffers, each way.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// The signals of one WebRTC attempt, to and from the peer through the
/// signaling socket (the caller bridges them to it).
#[derive(Debug)]
pub struct Signals {
    /// What we send the peer (`sdp` and `ice` kinds).
    pub out: mpsc::Sender<SignalPayload>,
    /// What the peer sent us.
    pub incoming: mpsc::Receiver<SignalPayload>,
}

/// What [`connect`] needs beside the socket and the signals.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Our session identity (its certificate is the DTLS certificate).
    pub identity: LocalIdentity,
    /// The fingerprint the server announced for the peer.
    pub peer: Fingerprint,
    /// Offer or answer.
    pub role: Role,
    /// Server-reflexive or relayed candidates found beside the host one:
    /// `(address, base)` (the base is the socket's address).
    pub extra_candidates: Vec<str0m::Candidate>,
    /// How long ICE, DTLS and SCTP may take.
    pub timeout: Duration,
}

#[derive(Debug)]
struct WebRtcBackend {
    shared: Mutex<(LinkStats, PathInfo)>,
    close: Notify,
}

impl Backend for WebRtcBackend {
    fn stats(&self) -> LinkStats {
        self.shared.lock().map(|s| s.0).unwrap_or_default()
    }
    fn path(&self) -> PathInfo {
        self.shared.lock().map(|s| s.1).unwrap_or(PathInfo {
            kind: PathKind::WebRtc,
            local: None,
            remote: None,
        })
    }
    fn close(&self) {
        self.close.notify_one();
    }
}

/// Opens a WebRTC link on `socket` (bound to a specific address: it is the
/// host candidate): trickle ICE through `signals`, DTLS with our identity,
/// the data channels. Ends with the typed error of a fingerprint that is
/// not the announced one, or a timeout.
pub async fn connect(
    socket: UdpSocket,
    attempt: Attempt,
    signals: Signals,
) -> Result<Link, LinkError> {
    let local = socket
        .local_addr()
        .map_err(|e| LinkError::Io(e.to_string()))?;
    if local.ip().is_unspecified() {
        return Err(LinkError::Io(
            "a WebRTC socket is bound to one address (it is the host candidate)".into(),
        ));
    }
    // As for QUIC: the default buffers overflow in a burst at a few
    // hundred Mbit/s. The kernel caps the sizes; smaller is fine.
    let s = socket2::SockRef::from(&socket);
    for (what, set) in [
        ("receive", s.set_recv_buffer_size(SOCKET_BUFFER)),
        ("send", s.set_send_buffer_size(SOCKET_BUFFER)),
    ] {
        if let Err(e) = set {
            tracing::debug!("UDP {what} buffer: {e}");
        }
    }
    let now = tokio::time::Instant::now().into_std();
    let mut driver = Driver::new(&attempt.identity, attempt.peer, attempt.role, now);
    let host =
        str0m::Candidate::host(local, "udp").map_err(|e| LinkError::WebRtc(e.to_string()))?;
    driver.add_local_candidate(host, now);
    for c in attempt.extra_candidates {
        driver.add_local_candidate(c, now);
    }
    driver.start(now)?;
    let backend = Arc::new(WebRtcBackend {
        shared: Mutex::new((LinkStats::default(), driver.path())),
        close: Notify::new(),
    });
    let (link, plumbing) = Link::new(backend.clone(), attempt.peer);
    let (ready_tx, ready_rx) = oneshot::channel();
    tokio::spawn(run(
        driver, socket, local, signals, plumbing, backend, ready_tx,
    ));
    match tokio::time::timeout(attempt.timeout, ready_rx).await {
        Ok(Ok(Ok(()))) => Ok(link),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(LinkError::Closed),
        Err(_) => Err(LinkError::Timeout("WebRTC connection")),
    }
}

async fn run(
    mut driver: Driver,
    socket: UdpSocket,
    local: SocketAddr,
    mut signals: Signals,
    mut plumbing: Plumbing,
    backend: Arc<WebRtcBackend>,
    ready: oneshot::Sender<Result<(), LinkError>>,
) {
    let mut ready = Some(ready);
    let mut buf = vec![0u8; 2048];
    let mut signals_open = true;
    loop {
        // Everything the driver has for the world.
        while let Some(d) = driver.poll_transmit() {
            if let Err(e) = socket.send_to(&d.contents, d.destination).await {
                tracing::debug!("WebRTC: send to {}: {e}", d.destination);
            }
        }
        while let Some(s) = driver.poll_signal() {
            if signals.out.send(s).await.is_err() {
                tracing::debug!("WebRTC: the signaling socket is gone");
            }
        }
        if let Ok(mut s) = backend.shared.lock() {
            *s = (driver.stats(), driver.path());
        }
        while let Some(ev) = driver.poll_event() {
            if let LinkEvent::Closed(e) = &ev
                && let Some(r) = ready.take()
            {
                let _ = r.send(Err(e.clone().unwrap_or(LinkError::Closed)));
                return;
            }
            if ready.is_none() && plumbing.events.send(ev).await.is_err() {
                driver.close(tokio::time::Instant::now().into_std());
            }
        }
        if driver.is_closed() {
            // Let the close reach the peer, then end.
            while let Some(d) = driver.poll_transmit() {
                let _ = socket.send_to(&d.contents, d.destination).await;
            }
            return;
        }
        if driver.is_open()
            && let Some(r) = ready.take()
        {
            let _ = r.send(Ok(()));
        }
        if ready.as_ref().is_some_and(|r| r.is_closed()) {
            return; // the caller gave up (timeout)
        }
        let deadline = tokio::time::Instant::from_std(driver.poll_timeout());
        let room = |c: Channel| ready.is_none() && driver.has_room(c);
        let (input, control, chat, video, clip, file) = (
            room(Channel::Input),
            room(Channel::Control),
            room(Channel::Chat),
            room(Channel::Video),
            room(Channel::Clipboard),
            room(Channel::File),
        );
        let [o0, o1, o2, o3, o4, o5] = &mut plumbing.out[..] else {
            return;
        };
        let (ctl_rx, in_rx, vid_rx, clip_rx, file_rx, chat_rx) = (o0, o1, o2, o3, o4, o5);
        let send = |c: Channel, f: Option<Bytes>| (c, f);
        let frame = tokio::select! {
            biased;
            _ = backend.close.notified() => {
                driver.close(tokio::time::Instant::now().into_std());
                continue;
            }
            f = in_rx.recv(), if input => send(Channel::Input, f),
            f = ctl_rx.recv(), if control => send(Channel::Control, f),
            f = chat_rx.recv(), if chat => send(Channel::Chat, f),
            r = socket.recv_from(&mut buf) => {
                let now = tokio::time::Instant::now().into_std();
                match r {
                    Ok((n, from)) => driver.handle_datagram(from, local, &buf[..n], now),
                    Err(e) => tracing::debug!("WebRTC: receive: {e}"),
                }
                continue;
            }
            s = signals.incoming.recv(), if signals_open => {
                let now = tokio::time::Instant::now().into_std();
                match s {
                    Some(s) => {
                        if let Err(e) = driver.handle_signal(&s, now) {
                            tracing::info!("WebRTC attempt ends: {e}");
                            if let Some(r) = ready.take() {
                                let _ = r.send(Err(e));
                                return;
                            }
                        }
                    }
                    None => signals_open = false,
                }
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => {
                driver.handle_timeout(tokio::time::Instant::now().into_std());
                continue;
            }
            f = vid_rx.recv(), if video => send(Channel::Video, f),
            f = clip_rx.recv(), if clip => send(Channel::Clipboard, f),
            f = file_rx.recv(), if file => send(Channel::File, f),
        };
        let now = tokio::time::Instant::now().into_std();
        match frame {
            (c, Some(f)) => driver.send(c, f, now),
            // Every sender of the link is gone: the link was dropped.
            (_, None) => driver.close(now),
        }
    }
}
