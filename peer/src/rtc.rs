//! The WebRTC attempt of a meeting, raced beside QUIC: a UDP socket on this
//! machine's address (str0m's host candidate), its server-reflexive address
//! from the server's STUN responder, and the `sdp`/`ice` signals bridged
//! to and from the signaling socket. It wins where QUIC cannot get
//! through: a firewall that lets only STUN- and DTLS-looking UDP out.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use secours_protocol::Fingerprint;
use secours_protocol::pb::Role;
use secours_protocol::signaling::{PeerMessage, SignalPayload};
use secours_transport::punch::PUNCH_TIMEOUT;
use secours_transport::webrtc::{self, Attempt, Candidate, Signals};
use secours_transport::{Link, LinkError, LocalIdentity};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Signals of the attempt queued before it reads them (an offer and a
/// few `ice` messages; a flood loses the rest).
pub(crate) const SIGNAL_QUEUE: usize = 64;

/// How long ICE, DTLS and SCTP may take: as long as QUIC's punching.
const RTC_TIMEOUT: Duration = PUNCH_TIMEOUT;

/// A socket for str0m, bound to this machine's first IPv4 address (or its
/// first one) toward the server; `None` without one.
pub(crate) async fn bind(host_ips: &[IpAddr]) -> Option<UdpSocket> {
    let ip = host_ips
        .iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| host_ips.first())?;
    match UdpSocket::bind(SocketAddr::new(*ip, 0)).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::info!(error = %e, "no WebRTC attempt: no UDP socket");
            None
        }
    }
}

/// What the attempt needs beside its socket.
pub(crate) struct RtcPlan {
    pub socket: UdpSocket,
    pub incoming: mpsc::Receiver<SignalPayload>,
    pub stun: Option<SocketAddr>,
    pub out: mpsc::Sender<PeerMessage>,
    pub session: Option<String>,
}

impl RtcPlan {
    /// Learns the reflexive address, then runs ICE, DTLS and SCTP with the
    /// peer (the console offers, as it is QUIC's client).
    pub(crate) async fn connect(
        self,
        role: Role,
        identity: LocalIdentity,
        peer: Fingerprint,
    ) -> Result<Link, LinkError> {
        let local = self
            .socket
            .local_addr()
            .map_err(|e| LinkError::Io(e.to_string()))?;
        let mut extra = Vec::new();
        if let Some(stun) = self.stun {
            match secours_transport::stun::reflexive_address(&self.socket, stun).await {
                Ok(mapped) if mapped != local => {
                    match Candidate::server_reflexive(mapped, local, "udp") {
                        Ok(c) => extra.push(c),
                        Err(e) => tracing::debug!("WebRTC: reflexive candidate: {e}"),
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::info!(error = %e, "WebRTC: no reflexive candidate"),
            }
        }
        // Our `sdp` and `ice` signals go out through the signaling socket.
        let (to_peer, mut outgoing) = mpsc::channel::<SignalPayload>(SIGNAL_QUEUE);
        let (out, session) = (self.out, self.session);
        tokio::spawn(async move {
            while let Some(payload) = outgoing.recv().await {
                let message = PeerMessage::Signal {
                    session_id: session.clone(),
                    payload,
                };
                if out.send(message).await.is_err() {
                    return;
                }
            }
        });
        let attempt = Attempt {
            identity,
            peer,
            role: match role {
                Role::Console => webrtc::Role::Offerer,
                _ => webrtc::Role::Answerer,
            },
            extra_candidates: extra,
            timeout: RTC_TIMEOUT,
        };
        let signals = Signals {
            out: to_peer,
            incoming: self.incoming,
        };
        webrtc::connect(self.socket, attempt, signals).await
    }
}
