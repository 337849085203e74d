//! UDP hole punching for the direct QUIC path.
//!
//! Each peer binds the one UDP socket it will use, learns its candidates on
//! it (host addresses, and the server-reflexive one from the server's STUN
//! responder), and swaps them with the other peer through the server. Then
//! both punch at once: each sends a few small probes from that socket to every
//! candidate of the other, which opens its own NAT's mapping for the peer's
//! packets; the console (QUIC client) then connects to every applet candidate
//! at the same time and keeps the first that completes, the applet (QUIC
//! server) accepts on the punched socket. Behind a symmetric NAT the mapping
//! differs per destination: the console also connects to where the applet's
//! probes came from (a peer-reflexive address), which works when the
//! console's own NAT lets in packets from new ports (RFC 4787's
//! endpoint-independent or address-dependent filtering, and no NAT). Between
//! two symmetric NATs, or a symmetric and a port-restricted one, no probe
//! gets through: the connector stays on the relay.

use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Duration;

use secours_protocol::Fingerprint;
use tokio::net::UdpSocket;

use crate::error::LinkError;
use crate::identity::LocalIdentity;
use crate::link::Link;
use crate::quic::QuicEndpoint;

/// What a probe says (QUIC endpoints drop it as garbage).
pub const PROBE: &[u8] = b"secours-punch";
/// How long punching and connecting may take.
pub const PUNCH_TIMEOUT: Duration = Duration::from_secs(8);
/// Probes sent to each candidate, and how far apart.
const PROBE_ROUNDS: usize = 5;
const PROBE_EVERY: Duration = Duration::from_millis(40);
/// Peer-reflexive addresses kept: anyone can send a probe, and each one
/// costs a QUIC attempt (which the peer's fingerprint then refuses).
const MAX_LEARNED: usize = 4;

/// Where a peer may be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Addresses of our own interfaces, with the socket's port.
    pub host: Vec<SocketAddr>,
    /// Our address as the server saw it (behind NAT: the NAT's).
    pub reflexive: Option<SocketAddr>,
}

impl Candidates {
    /// Every address, reflexive first (the likely one across NATs).
    pub fn all(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.reflexive.into_iter().collect();
        for h in &self.host {
            if !v.contains(h) {
                v.push(*h);
            }
        }
        v
    }
}

/// A bound socket and its candidates, ready to punch.
#[derive(Debug)]
pub struct Puncher {
    socket: UdpSocket,
    candidates: Candidates,
}

impl Puncher {
    /// Binds `bind` and gathers candidates: `host_ips` are this machine's
    /// addresses to offer; `stun` the server's reflexive-address service.
    pub async fn gather(
        bind: SocketAddr,
        host_ips: &[IpAddr],
        stun: Option<SocketAddr>,
    ) -> Result<Self, LinkError> {
        let mut p = Self::bind(bind, host_ips).await?;
        if let Some(server) = stun {
            p.learn_reflexive(server).await;
        }
        Ok(p)
    }

    /// Binds `bind`: the host candidates are known at once (`host_ips`
    /// with the socket's port); the reflexive one comes later.
    pub async fn bind(bind: SocketAddr, host_ips: &[IpAddr]) -> Result<Self, LinkError> {
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|e| LinkError::Io(e.to_string()))?;
        let port = socket
            .local_addr()
            .map_err(|e| LinkError::Io(e.to_string()))?
            .port();
        let host = host_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        Ok(Self {
            socket,
            candidates: Candidates {
                host,
                reflexive: None,
            },
        })
    }

    /// Asks `stun` for the address it sees this socket at (behind a NAT,
    /// the NAT's): the server-reflexive candidate. `None` when no answer
    /// comes (UDP blocked), after the STUN retransmissions.
    pub async fn learn_reflexive(&mut self, stun: SocketAddr) -> Option<SocketAddr> {
        match crate::stun::reflexive_address(&self.socket, stun).await {
            Ok(a) => {
                self.candidates.reflexive = Some(a);
                Some(a)
            }
            Err(e) => {
                tracing::info!(error = %e, "no reflexive candidate");
                None
            }
        }
    }

    /// What to send the peer through the server.
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// Sends the probes, and meanwhile notes where the peer's own probes
    /// come from: behind a NAT that maps each destination to a new port
    /// (symmetric), that source is the only address of the peer that
    /// answers us (a peer-reflexive candidate, as ICE calls it).
    async fn probe(&self, peer: &Candidates) -> Vec<SocketAddr> {
        let known = peer.all();
        let mut learned = Vec::new();
        let send = async {
            for _ in 0..PROBE_ROUNDS {
                for addr in &known {
                    let _ = self.socket.send_to(PROBE, *addr).await;
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
        };
        let listen = async {
            let mut buf = [0u8; 64];
            loop {
                let Ok((n, from)) = self.socket.recv_from(&mut buf).await else {
                    continue;
                };
                if &buf[..n] == PROBE
                    && !known.contains(&from)
                    && !learned.contains(&from)
                    && learned.len() < MAX_LEARNED
                {
                    tracing::debug!(%from, "peer-reflexive candidate");
                    learned.push(from);
                }
            }
        };
        tokio::select! {
            () = send => {}
            () = listen => {}
        }
        learned
    }

    fn into_endpoint(self) -> Result<QuicEndpoint, LinkError> {
        let std: StdUdpSocket = self
            .socket
            .into_std()
            .map_err(|e| LinkError::Io(e.to_string()))?;
        QuicEndpoint::new(std)
    }

    /// Console: punch, then connect to every applet candidate at once.
    pub async fn connect(
        self,
        local: &LocalIdentity,
        peer: Fingerprint,
        theirs: &Candidates,
    ) -> Result<Link, LinkError> {
        let learned = self.probe(theirs).await;
        let endpoint = self.into_endpoint()?;
        let mut addresses = theirs.all();
        addresses.extend(learned);
        let attempts = addresses.into_iter().map(|addr| {
            let endpoint = endpoint.clone();
            Box::pin(async move { endpoint.connect(local, peer, addr).await })
        });
        let race = async {
            let mut pending: Vec<_> = attempts.collect();
            let mut last = LinkError::Timeout("hole punching");
            while !pending.is_empty() {
                let (result, _, rest) = futures_util::future::select_all(pending).await;
                match result {
                    Ok(link) => return Ok(link),
                    // A wrong fingerprint is final, not a path problem.
                    Err(e @ LinkError::FingerprintMismatch(_)) => return Err(e),
                    Err(e) => last = e,
                }
                pending = rest;
            }
            Err(last)
        };
        tokio::time::timeout(PUNCH_TIMEOUT, race)
            .await
            .map_err(|_| LinkError::Timeout("hole punching"))?
    }

    /// Applet: punch, then accept the console on the punched socket.
    pub async fn accept(
        self,
        local: &LocalIdentity,
        peer: Fingerprint,
        theirs: &Candidates,
    ) -> Result<Link, LinkError> {
        // The console learns where our probes come from; we accept it
        // from wherever it connects.
        let _ = self.probe(theirs).await;
        let endpoint = self.into_endpoint()?;
        tokio::time::timeout(PUNCH_TIMEOUT, endpoint.accept(local, peer))
            .await
            .map_err(|_| LinkError::Timeout("hole punching"))?
    }
}
