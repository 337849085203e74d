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
use std::sync::Arc;
use std::time::Duration;

use secours_protocol::Fingerprint;
use tokio::net::UdpSocket;

use crate::error::LinkError;
use crate::identity::LocalIdentity;
use crate::link::Link;
use crate::quic::QuicEndpoint;
use socket::PunchMux;

pub mod socket;
use crate::turn::{TurnClient, TurnError, TurnEvent};

/// What a probe says (QUIC endpoints drop it as garbage).
pub const PROBE: &[u8] = b"secours-punch";
/// How long punching and connecting may take.
pub const PUNCH_TIMEOUT: Duration = Duration::from_secs(8);
/// Probes sent to each candidate, and how far apart.
const PROBE_ROUNDS: usize = 5;
const PROBE_EVERY: Duration = Duration::from_millis(40);

/// How long an allocation on the TURN server may take.
const ALLOCATE_TIMEOUT: Duration = Duration::from_secs(3);
/// The console tries a relayed (TURN) address this long after the others,
/// so that a path without the extra hop wins when there is one.
const RELAYED_HEAD_START: Duration = Duration::from_millis(400);
/// How a relayed candidate is marked in signals (as ICE writes it).
const RELAY_MARK: &str = " typ relay";

/// Where a peer may be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Addresses of our own interfaces, with the socket's port (and any
    /// candidate whose kind is not said).
    pub host: Vec<SocketAddr>,
    /// Our address as the server saw it (behind NAT: the NAT's).
    pub reflexive: Option<SocketAddr>,
    /// Addresses on a TURN server that relay to us.
    pub relayed: Vec<SocketAddr>,
}

impl Candidates {
    /// Every address but the relayed ones, reflexive first (the likely
    /// one across NATs).
    pub fn all(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.reflexive.into_iter().collect();
        for h in &self.host {
            if !v.contains(h) {
                v.push(*h);
            }
        }
        v
    }

    /// As signals carry them: `ip:port`, relayed ones with ` typ relay`.
    pub fn to_strings(&self) -> Vec<String> {
        let mut v: Vec<String> = self.all().iter().map(ToString::to_string).collect();
        v.extend(self.relayed.iter().map(|a| format!("{a}{RELAY_MARK}")));
        v
    }

    /// Adds what a signal carried (at most `max` addresses in all);
    /// anything that is not a candidate is skipped.
    pub fn add_strings(&mut self, list: &[String], max: usize) {
        for c in list {
            if self.host.len() + self.relayed.len() + usize::from(self.reflexive.is_some()) >= max {
                return;
            }
            let (addr, relayed) = match c.strip_suffix(RELAY_MARK) {
                Some(a) => (a, true),
                None => (c.as_str(), false),
            };
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                continue;
            };
            let list = if relayed {
                &mut self.relayed
            } else {
                &mut self.host
            };
            if !list.contains(&addr) {
                list.push(addr);
            }
        }
    }
}

/// TURN credentials and the server they are for.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnRoute {
    /// The TURN server (UDP).
    pub server: SocketAddr,
    /// Its username for this session.
    pub username: String,
    /// Its password for this session.
    pub password: crate::secret::Secret,
}

impl std::fmt::Debug for TurnRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnRoute")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A bound socket and its candidates, ready to punch.
#[derive(Debug)]
pub struct Puncher {
    socket: UdpSocket,
    candidates: Candidates,
    /// An allocation on a TURN server, made from this socket.
    turn: Option<(SocketAddr, TurnClient)>,
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
                relayed: Vec::new(),
            },
            turn: None,
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

    /// Allocates a relayed address on `route`'s TURN server from this
    /// socket (the relayed candidate): peers that cannot punch through to
    /// us reach it, and the endpoint answers them through it.
    pub async fn allocate(&mut self, route: &TurnRoute) -> Result<SocketAddr, TurnError> {
        let mut client = TurnClient::new(
            &route.username,
            route.password.clone(),
            std::time::Instant::now(),
        );
        let mut buf = vec![0u8; 2048];
        let run = async {
            loop {
                while let Some(d) = client.poll_transmit() {
                    let _ = self.socket.send_to(&d, route.server).await;
                }
                match client.poll_event() {
                    Some(TurnEvent::Allocated { relayed }) => return Ok(relayed),
                    Some(TurnEvent::Failed(e)) => return Err(e),
                    None => {}
                }
                let Some(wake) = client.poll_timeout() else {
                    return Err(TurnError::Timeout);
                };
                tokio::select! {
                    got = self.socket.recv_from(&mut buf) => {
                        if let Ok((n, from)) = got && from == route.server {
                            client.handle_input(&buf[..n], std::time::Instant::now());
                        }
                    }
                    () = tokio::time::sleep_until(wake.into()) => {
                        client.handle_timeout(std::time::Instant::now());
                    }
                }
            }
        };
        let relayed = tokio::time::timeout(ALLOCATE_TIMEOUT, run)
            .await
            .map_err(|_| TurnError::Timeout)??;
        self.candidates.relayed = vec![relayed];
        self.turn = Some((route.server, client));
        Ok(relayed)
    }

    /// Lets the peer's addresses send to our relayed address (TURN
    /// permissions are per IP: any port a NAT picks will do).
    pub async fn permit(&mut self, peer: &Candidates) {
        let Some((server, client)) = &mut self.turn else {
            return;
        };
        let now = std::time::Instant::now();
        for addr in peer.all() {
            if let Err(e) = client.permit(addr.ip(), now) {
                tracing::debug!(error = %e, "TURN permission");
            }
        }
        while let Some(d) = client.poll_transmit() {
            let _ = self.socket.send_to(&d, *server).await;
        }
    }

    /// What to send the peer through the server.
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// The QUIC endpoint on the punched socket, from which the probes go
    /// too (so that nothing the peer sends is lost to a probe reader).
    fn into_endpoint(self) -> Result<(QuicEndpoint, Arc<PunchMux>), LinkError> {
        let std: StdUdpSocket = self
            .socket
            .into_std()
            .map_err(|e| LinkError::Io(e.to_string()))?;
        QuicEndpoint::on_punched(std, self.turn)
    }

    /// Console: punch, then connect to every applet candidate at once.
    pub async fn connect(
        self,
        local: &LocalIdentity,
        peer: Fingerprint,
        theirs: &Candidates,
    ) -> Result<Link, LinkError> {
        let (endpoint, mux) = self.into_endpoint()?;
        // The applet's probes, from behind a NAT that maps each destination
        // to a new port, come from the only address of it that answers us
        // (a peer-reflexive candidate, as ICE calls it).
        probe(&mux, theirs).await;
        let learned = mux.learned();
        let mut addresses: Vec<(SocketAddr, bool)> =
            theirs.all().into_iter().map(|a| (a, false)).collect();
        addresses.extend(learned.into_iter().map(|a| (a, false)));
        addresses.extend(theirs.relayed.iter().map(|a| (*a, true)));
        let attempts = addresses.into_iter().map(|(addr, relayed)| {
            let endpoint = endpoint.clone();
            Box::pin(async move {
                if relayed {
                    tokio::time::sleep(RELAYED_HEAD_START).await;
                }
                endpoint.connect_to(local, peer, addr, relayed).await
            })
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
        // from wherever it connects (through our relayed address too).
        let mut this = self;
        this.permit(theirs).await;
        let (endpoint, mux) = this.into_endpoint()?;
        let accepting = tokio::time::timeout(PUNCH_TIMEOUT, endpoint.accept(local, peer));
        let (_, accepted) = tokio::join!(probe(&mux, theirs), accepting);
        accepted.map_err(|_| LinkError::Timeout("hole punching"))?
    }
}

/// Sends the probes to every candidate of the peer's, a few rounds apart.
async fn probe(mux: &PunchMux, peer: &Candidates) {
    let mut to = peer.all();
    to.extend(&peer.relayed);
    for _ in 0..PROBE_ROUNDS {
        mux.probe(&to);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Fuzzing: candidates as a peer's signal carries them (one per line).
#[doc(hidden)]
pub fn fuzz_candidates(data: &[u8]) {
    let list: Vec<String> = String::from_utf8_lossy(data)
        .split('\n')
        .map(str::to_owned)
        .collect();
    let mut c = Candidates::default();
    c.add_strings(&list, 32);
    assert!(c.host.len() + c.relayed.len() <= 32);
    let _ = c.to_strings();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_are_read_out_and_their_sources_learned() {
        let a = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let b = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        let (_endpoint, mux) = QuicEndpoint::on_punched(b, None).unwrap();
        for _ in 0..3 {
            a.send_to(PROBE, b_addr).unwrap();
        }
        for _ in 0..50 {
            if !mux.learned().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(mux.learned(), vec![a.local_addr().unwrap()]);
    }
}
