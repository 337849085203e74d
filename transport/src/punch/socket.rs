//! The punched UDP socket as quinn's socket, from the first probe on: the
//! QUIC endpoint exists before punching starts, so a peer's first QUIC
//! packet is never read (and lost) as a failed probe. Beside QUIC it
//! carries:
//!
//! - the probes: sent straight from the socket, and read out of the stream
//!   (their sources are the peer-reflexive candidates);
//! - a TURN allocation, when there is one: datagrams for peers heard
//!   through the relay go back through it (channel data, or a Send
//!   indication until the channel is bound), the TURN server's datagrams are
//!   unwrapped into the peer's, and the client's timers run on a task.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

use super::PROBE;
use crate::turn::{Incoming, TurnClient, TurnEvent};

/// Relayed datagrams waiting for quinn to read them.
const MAX_QUEUED: usize = 256;
/// Peer addresses answered through the relay (the client lets in only
/// the session's peer's IPs; a port per NAT mapping).
const MAX_RELAYED_PEERS: usize = 64;
/// Peer-reflexive addresses kept: anyone can send a probe, and each one
/// costs a QUIC attempt (which the peer's fingerprint then refuses).
const MAX_LEARNED: usize = 4;

#[derive(Debug)]
struct Turn {
    server: SocketAddr,
    client: TurnClient,
    /// Peers heard through the relay: what we send them goes back that way
    /// (unless they were also heard directly).
    via: HashSet<SocketAddr>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
}

#[derive(Debug, Default)]
struct State {
    turn: Option<Turn>,
    /// Where probes came from that were not known candidates.
    learned: Vec<SocketAddr>,
    known: HashSet<SocketAddr>,
    /// Peers heard straight from the socket. A peer whose address is the
    /// same both ways (no NAT, or one that keeps its port) is answered
    /// directly: one address cannot be told apart on two paths.
    direct: HashSet<SocketAddr>,
}

impl State {
    fn relays_to(&self, peer: &SocketAddr) -> Option<&Turn> {
        self.turn
            .as_ref()
            .filter(|t| t.via.contains(peer) && !self.direct.contains(peer))
    }
}

/// What the socket, its owner and the TURN timer task share.
#[derive(Debug)]
pub struct PunchMux {
    inner: Arc<dyn AsyncUdpSocket>,
    state: Mutex<State>,
}

impl PunchMux {
    /// Whether `peer` is reached through the relay.
    pub fn is_relayed(&self, peer: SocketAddr) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| s.relays_to(&peer).is_some())
    }

    /// Sends one probe to each of `to` (best effort: a probe lost to a
    /// full buffer is one of several).
    pub fn probe(&self, to: &[SocketAddr]) {
        if let Ok(mut s) = self.state.lock() {
            s.known.extend(to.iter().copied());
        }
        for addr in to {
            let _ = self.inner.try_send(&Transmit {
                destination: *addr,
                ecn: None,
                contents: PROBE,
                segment_size: None,
                src_ip: None,
            });
        }
    }

    /// Sources of the peer's probes that were not among its candidates.
    pub fn learned(&self) -> Vec<SocketAddr> {
        self.state
            .lock()
            .map(|s| s.learned.clone())
            .unwrap_or_default()
    }

    /// Runs the TURN client's timers (refreshes, retransmissions) until the
    /// allocation fails or the endpoint drops the socket.
    async fn tick(mux: Weak<Self>) {
        loop {
            let Some(this) = mux.upgrade() else { return };
            let wake = match this.state.lock() {
                Ok(mut s) => {
                    let Some(t) = s.turn.as_mut() else { return };
                    t.client.handle_timeout(Instant::now());
                    flush(t, &*this.inner);
                    while let Some(e) = t.client.poll_event() {
                        if let TurnEvent::Failed(e) = e {
                            tracing::warn!(error = %e, "TURN allocation lost");
                            return;
                        }
                    }
                    t.client.poll_timeout()
                }
                Err(_) => return,
            };
            drop(this);
            let Some(wake) = wake else { return };
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

fn flush(turn: &mut Turn, socket: &dyn AsyncUdpSocket) {
    while let Some(d) = turn.client.poll_transmit() {
        // A lost request is resent by the client's timer.
        let _ = socket.try_send(&Transmit {
            destination: turn.server,
            ecn: None,
            contents: &d,
            segment_size: None,
            src_ip: None,
        });
    }
}

/// quinn's socket over the punched socket (and its allocation).
pub struct PunchSocket {
    mux: Arc<PunchMux>,
}

impl fmt::Debug for PunchSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PunchSocket").finish_non_exhaustive()
    }
}

impl PunchSocket {
    /// Wraps `inner` (quinn's socket on the punched socket); with `turn`,
    /// the allocation `client` holds on `server`, whose timers start.
    pub fn new(
        inner: Arc<dyn AsyncUdpSocket>,
        turn: Option<(SocketAddr, TurnClient)>,
    ) -> (Arc<Self>, Arc<PunchMux>) {
        let with_turn = turn.is_some();
        let mux = Arc::new(PunchMux {
            inner,
            state: Mutex::new(State {
                turn: turn.map(|(server, client)| Turn {
                    server,
                    client,
                    via: HashSet::new(),
                    queue: VecDeque::new(),
                }),
                ..State::default()
            }),
        });
        if with_turn {
            tokio::spawn(PunchMux::tick(Arc::downgrade(&mux)));
        }
        (Arc::new(Self { mux: mux.clone() }), mux)
    }

    /// Puts one relayed datagram in slot 0.
    fn deliver(bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta], peer: SocketAddr, data: &[u8]) {
        let n = data.len().min(bufs[0].len());
        bufs[0][..n].copy_from_slice(&data[..n]);
        meta[0] = RecvMeta {
            addr: peer,
            len: n,
            stride: n,
            ecn: None,
            dst_ip: None,
        };
    }
}

impl AsyncUdpSocket for PunchSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.mux.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let wrapped = {
            let s = self
                .mux
                .state
                .lock()
                .map_err(|_| io::Error::other("punch state poisoned"))?;
            match s.relays_to(&transmit.destination) {
                Some(t) => Some((
                    t.server,
                    t.client
                        .wrap(transmit.destination, transmit.contents)
                        .map_err(io::Error::other)?,
                )),
                None => None,
            }
        };
        match wrapped {
            None => self.mux.inner.try_send(transmit),
            Some((server, d)) => self.mux.inner.try_send(&Transmit {
                destination: server,
                ecn: None,
                contents: &d,
                segment_size: None,
                src_ip: transmit.src_ip,
            }),
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Ok(mut s) = self.mux.state.lock()
                && let Some(t) = s.turn.as_mut()
                && let Some((peer, data)) = t.queue.pop_front()
            {
                Self::deliver(bufs, meta, peer, &data);
                return Poll::Ready(Ok(1));
            }
            let n = match self.mux.inner.poll_recv(cx, bufs, meta) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            };
            let Ok(mut s) = self.mux.state.lock() else {
                return Poll::Ready(Err(io::Error::other("punch state poisoned")));
            };
            // Probes and the TURN server's datagrams leave the batch (the
            // relayed ones into the queue); the others close up in order.
            let mut kept = 0;
            for i in 0..n {
                let from = meta[i].addr;
                let turn_server = s.turn.as_ref().map(|t| t.server);
                if turn_server == Some(from) {
                    let stride = meta[i].stride.max(1);
                    let Some(t) = s.turn.as_mut() else { continue };
                    for datagram in bufs[i][..meta[i].len].chunks(stride) {
                        if let Incoming::Data { peer, data } =
                            t.client.handle_input(datagram, Instant::now())
                            && data != PROBE
                            && t.queue.len() < MAX_QUEUED
                            && (t.via.contains(&peer) || t.via.len() < MAX_RELAYED_PEERS)
                        {
                            t.via.insert(peer);
                            t.queue.push_back((peer, data));
                        }
                    }
                    flush(t, &*self.mux.inner);
                    continue;
                }
                if s.direct.len() < MAX_RELAYED_PEERS {
                    s.direct.insert(from);
                }
                let stride = meta[i].stride.max(1);
                if bufs[i][..meta[i].len].chunks(stride).all(|d| d == PROBE) {
                    if !s.known.contains(&from)
                        && !s.learned.contains(&from)
                        && s.learned.len() < MAX_LEARNED
                    {
                        tracing::debug!(%from, "peer-reflexive candidate");
                        s.learned.push(from);
                    }
                    continue;
                }
                if kept != i {
                    let len = meta[i].len;
                    let moved = bufs[i][..len].to_vec();
                    bufs[kept][..len].copy_from_slice(&moved);
                    meta[kept] = meta[i];
                }
                kept += 1;
            }
            if kept > 0 {
                return Poll::Ready(Ok(kept));
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.mux.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        // One datagram per transmit: each may need wrapping on its own.
        1
    }

    fn max_receive_segments(&self) -> usize {
        self.mux.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.mux.inner.may_fragment()
    }
}
