//! From a picked-up session to a link: the two peers swap certificate
//! fingerprints and candidates through the server's signaling, connect
//! through the relay hub the server named (first frame fast, works
//! everywhere), and race a direct QUIC path beside it (the connector moves
//! the channels once it is proven). The server pairs; it never reads.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use secours_protocol::Fingerprint;
use secours_protocol::pb::Role;
use secours_protocol::signaling::{PeerMessage, Secret, SignalPayload};
use secours_transport::connector::{self, Reports};
use secours_transport::punch::{Candidates, Puncher};
use secours_transport::relay::{RelayToken, Side};
use secours_transport::{Link, LinkError, LocalIdentity};
use tokio::sync::mpsc;

use crate::setup::{Pairing, session_token_from_relay};

/// How long the peers wait for each other's signals.
pub const MEET_TIMEOUT: Duration = Duration::from_secs(20);

/// Which paths a peer may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathChoice {
    /// The relay at once, direct QUIC when it is up.
    #[default]
    Auto,
    /// Only the relay (TLS inside a WebSocket: any proxy lets it through).
    Relay,
}

/// How this side may reach the other.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// Which paths.
    pub path: PathChoice,
    /// This machine's addresses for host candidates.
    pub host_ips: Vec<IpAddr>,
    /// The server's STUN responder, for the reflexive candidate.
    pub stun: Option<SocketAddr>,
}

/// Why two peers could not meet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeetError {
    /// The signaling socket went away.
    #[error("the signaling connection ended before the peers met")]
    SignalingClosed,
    /// The other peer's signals did not come in time.
    #[error("no answer from the other side within {0:?}")]
    TimedOut(Duration),
    /// The peer's fingerprint is not one.
    #[error("the peer announced a malformed certificate fingerprint")]
    BadFingerprint,
    /// The link could not be made.
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// A link to the peer, and what the session's handshake needs of it.
#[derive(Debug)]
pub struct Meeting {
    /// The link (relay first, moving to direct in `Auto`).
    pub link: Link,
    /// Identity and pairing for the handshake.
    pub pairing: Pairing,
    /// The connector's race, in `Auto`.
    pub race: Option<Reports>,
    /// The relay hub used.
    pub relay_url: String,
}

/// The address this machine uses toward `server` (no packet is sent: a UDP
/// socket's route lookup), for the host candidate.
pub fn host_ip_toward(server: &str) -> Option<IpAddr> {
    let host = server.split("://").nth(1)?.split('/').next()?.to_owned();
    let with_port = if host
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
        && !host.ends_with(']')
    {
        host
    } else {
        format!("{host}:443")
    };
    let target = std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .ok()?
        .next()?;
    let bind: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

fn parse_candidates(list: &[String]) -> Candidates {
    Candidates {
        host: list.iter().filter_map(|c| c.parse().ok()).collect(),
        reflexive: None,
    }
}

/// Meets the other peer of `session_id`: `signals` are the signals the
/// server forwards for this session, `out` where this side's go.
pub async fn meet(
    role: Role,
    session_id: &str,
    signals: &mut mpsc::Receiver<SignalPayload>,
    out: &mpsc::Sender<PeerMessage>,
    identity: &LocalIdentity,
    route: &Route,
) -> Result<Meeting, MeetError> {
    let puncher = match route.path {
        PathChoice::Relay => None,
        PathChoice::Auto => {
            match Puncher::gather(([0, 0, 0, 0], 0).into(), &route.host_ips, route.stun).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::info!(error = %e, "no direct path: gathering failed");
                    None
                }
            }
        }
    };
    let candidates = puncher
        .as_ref()
        .map(|p| {
            p.candidates()
                .all()
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default();
    let session = match role {
        Role::Console => Some(session_id.to_owned()),
        _ => None,
    };
    let ours = PeerMessage::Signal {
        session_id: session,
        payload: SignalPayload::Fingerprint {
            sha256: hex::encode(identity.fingerprint().as_bytes()),
            candidates,
        },
    };
    out.send(ours.clone())
        .await
        .map_err(|_| MeetError::SignalingClosed)?;

    let mut relay: Option<(String, Secret)> = None;
    let mut peer: Option<(Fingerprint, Candidates)> = None;
    let wait = async {
        while relay.is_none() || peer.is_none() {
            match signals.recv().await {
                Some(SignalPayload::Relay { url, token }) => {
                    // The server sends the relay once both peers are there:
                    // ours goes again, for a peer that came (back) after it
                    // first went out.
                    relay = Some((url, token));
                    out.send(ours.clone())
                        .await
                        .map_err(|_| MeetError::SignalingClosed)?;
                }
                Some(SignalPayload::Fingerprint { sha256, candidates }) => {
                    let fp = hex::decode(&sha256)
                        .ok()
                        .and_then(|b| Fingerprint::from_slice(&b))
                        .ok_or(MeetError::BadFingerprint)?;
                    peer = Some((fp, parse_candidates(&candidates)));
                }
                Some(SignalPayload::Candidates { list }) => {
                    if let Some((_, c)) = &mut peer {
                        c.host.extend(parse_candidates(&list).host);
                    }
                }
                // The WebRTC path's signals: this meeting races the relay
                // and QUIC only (transport::webrtc is not in the race yet).
                Some(SignalPayload::Sdp { .. } | SignalPayload::Ice { .. }) => {}
                None => return Err(MeetError::SignalingClosed),
            }
        }
        Ok(())
    };
    tokio::time::timeout(MEET_TIMEOUT, wait)
        .await
        .map_err(|_| MeetError::TimedOut(MEET_TIMEOUT))??;
    let (Some((url, token)), Some((peer_fp, theirs))) = (relay, peer) else {
        return Err(MeetError::SignalingClosed);
    };
    let side = match role {
        Role::Console => Side::Console,
        _ => Side::Applet,
    };
    let base = url.trim_end_matches("/relay/v1/ws").to_owned();
    let relay_token = RelayToken::from_string(token.expose().to_owned());
    let relay_link =
        secours_transport::relay::connect(&base, &relay_token, side, identity, peer_fp).await?;
    let (link, race) = match puncher {
        Some(p) if !theirs.host.is_empty() => {
            let id = identity.clone();
            let direct: connector::DirectAttempt = match role {
                Role::Console => Box::pin(async move { p.connect(&id, peer_fp, &theirs).await }),
                _ => Box::pin(async move { p.accept(&id, peer_fp, &theirs).await }),
            };
            let (link, reports) = connector::start(relay_link, direct);
            (link, Some(reports))
        }
        _ => (relay_link, None),
    };
    let pairing = Pairing {
        role,
        session_id: session_id.to_owned(),
        local: identity.fingerprint(),
        expected_peer: peer_fp,
        observed_peer: link.peer_fingerprint(),
        token: session_token_from_relay(token.expose()),
    };
    Ok(Meeting {
        link,
        pairing,
        race,
        relay_url: url,
    })
}
