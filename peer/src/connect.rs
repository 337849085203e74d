//! From a picked-up session to a link: the two peers swap certificate
//! fingerprints and candidates through the server's signaling, connect
//! through the relay hub the server named (first frame fast, works
//! everywhere), and race direct paths beside it, QUIC hole punching and
//! WebRTC ICE (the connector moves the channels once one is proven; the
//! console picks QUIC when both are up). The server pairs; it never reads.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use secours_protocol::Fingerprint;
use secours_protocol::pb::Role;
use secours_protocol::signaling::{PeerMessage, Secret, SignalPayload};
use secours_transport::connector::{self, Contender, Judge, Race, Reports};
use secours_transport::punch::{Candidates, Puncher, TurnRoute};
use secours_transport::relay::{RelayToken, Side};
use secours_transport::{Link, LinkError, LocalIdentity};
use tokio::sync::mpsc;

use crate::rtc::{self, RtcPlan};
use crate::setup::{Pairing, session_token_from_relay};

/// How long the peers wait for each other's signals.
pub const MEET_TIMEOUT: Duration = Duration::from_secs(20);

/// Which paths a peer may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathChoice {
    /// The relay at once, direct QUIC or WebRTC when one is up.
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
    /// A TURN server and this session's credentials on it: the applet
    /// allocates a relayed candidate there, for the NATs hole punching
    /// cannot cross.
    pub turn: Option<TurnRoute>,
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
    /// Where the peer's later candidates go, in `Auto`.
    pub trickle: Option<Trickle>,
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
    let mut c = Candidates::default();
    c.add_strings(list, MAX_PEER_CANDIDATES);
    c
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
    // The host candidates go with the fingerprint at once; the reflexive
    // one follows in a `candidates` signal when the server's STUN answers,
    // so a network without UDP does not hold the relay (and the first
    // picture) back by the STUN retransmissions.
    let puncher = match route.path {
        PathChoice::Relay => None,
        PathChoice::Auto => match Puncher::bind(([0, 0, 0, 0], 0).into(), &route.host_ips).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::info!(error = %e, "no direct path: no UDP socket");
                None
            }
        },
    };
    let rtc_socket = match route.path {
        PathChoice::Relay => None,
        PathChoice::Auto => rtc::bind(&route.host_ips).await,
    };
    // The peer's `sdp` and `ice` signals wait here for the attempt.
    let (rtc_in, rtc_incoming) = mpsc::channel(rtc::SIGNAL_QUEUE);
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
        session_id: session.clone(),
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
    // The peer's `candidates` signal (its reflexive address, or none) may
    // come before its fingerprint has been read.
    let mut early: Vec<String> = Vec::new();
    let mut peer_gathered = false;
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
                    early.extend(list.into_iter().take(MAX_PEER_CANDIDATES));
                    peer_gathered = true;
                }
                // The WebRTC attempt's, early: a full queue is a flood.
                Some(s @ (SignalPayload::Sdp { .. } | SignalPayload::Ice { .. })) => {
                    let _ = rtc_in.try_send(s);
                }
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
    let mut theirs = theirs;
    theirs.add_strings(&early, MAX_PEER_CANDIDATES);
    let (trickle, late) = mpsc::channel(4);
    let mut contenders: Vec<(Contender, connector::DirectAttempt)> = Vec::new();
    if let Some(p) = puncher {
        let gathering = Gathering {
            puncher: p,
            stun: route.stun,
            turn: route.turn.clone(),
            out: out.clone(),
            session: session.clone(),
            theirs,
            peer_gathered,
            late,
        };
        let id = identity.clone();
        contenders.push((
            Contender::Quic,
            Box::pin(async move { gathering.punch(role, &id, peer_fp).await }),
        ));
    }
    let rtc_in = match rtc_socket {
        Some(socket) => {
            let plan = RtcPlan {
                socket,
                incoming: rtc_incoming,
                stun: route.stun,
                out: out.clone(),
                session: session.clone(),
            };
            let id = identity.clone();
            contenders.push((
                Contender::WebRtc,
                Box::pin(async move { plan.connect(role, id, peer_fp).await }),
            ));
            Some(rtc_in)
        }
        None => None,
    };
    let (link, race, trickle) = if contenders.is_empty() {
        (relay_link, None, None)
    } else {
        let judge = match role {
            Role::Console => Judge::Picks,
            _ => Judge::Follows,
        };
        let (link, reports) = connector::start_race(relay_link, Race { contenders, judge });
        let trickle = Trickle {
            candidates: trickle,
            rtc: rtc_in,
        };
        (link, Some(reports), Some(trickle))
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
        trickle,
    })
}

/// Most candidates kept of the peer (the signal allows 16 per message).
const MAX_PEER_CANDIDATES: usize = 32;
/// How long the race waits for the peer's reflexive candidate (a peer of
/// an older version never says it finished): beyond the STUN
/// retransmissions, and a signaling round trip.
const PEER_GATHER_WAIT: Duration = Duration::from_secs(3);

/// The peer's candidates that come during the session: hand it every
/// signal the server forwards once the meeting is over.
#[derive(Debug, Clone)]
pub struct Trickle {
    /// QUIC's: `candidates` signals.
    candidates: mpsc::Sender<Vec<String>>,
    /// WebRTC's: `sdp` and `ice` signals (ICE restarts too).
    rtc: Option<mpsc::Sender<SignalPayload>>,
}

impl Trickle {
    /// Takes a `candidates`, `sdp` or `ice` signal to its attempt; other
    /// kinds are not the race's.
    pub fn offer(&self, payload: &SignalPayload) {
        // A full queue means a peer flooding: what is dropped is its loss.
        match payload {
            SignalPayload::Candidates { list } => {
                let _ = self.candidates.try_send(list.clone());
            }
            SignalPayload::Sdp { .. } | SignalPayload::Ice { .. } => {
                if let Some(rtc) = &self.rtc {
                    let _ = rtc.try_send(payload.clone());
                }
            }
            _ => {}
        }
    }
}

/// Runs `session` (a driver's run) while handing the signals that come
/// meanwhile to the meeting's race.
pub async fn with_trickle<T>(
    session: impl std::future::Future<Output = T>,
    signals: &mut mpsc::Receiver<SignalPayload>,
    trickle: Option<&Trickle>,
) -> T {
    let mut session = std::pin::pin!(session);
    loop {
        tokio::select! {
            out = &mut session => return out,
            Some(signal) = signals.recv() => {
                if let Some(t) = trickle {
                    t.offer(&signal);
                }
            }
        }
    }
}

/// The direct attempt after the meeting: our reflexive candidate learned
/// and sent, the peer's awaited, then the punching.
struct Gathering {
    puncher: Puncher,
    stun: Option<SocketAddr>,
    turn: Option<TurnRoute>,
    out: mpsc::Sender<PeerMessage>,
    session: Option<String>,
    theirs: Candidates,
    peer_gathered: bool,
    late: mpsc::Receiver<Vec<String>>,
}

impl Gathering {
    async fn punch(
        mut self,
        role: Role,
        id: &LocalIdentity,
        peer_fp: Fingerprint,
    ) -> Result<Link, LinkError> {
        let reflexive = match self.stun {
            Some(stun) => self.puncher.learn_reflexive(stun).await,
            None => None,
        };
        // The applet (QUIC's server) offers a relayed address too: the
        // console reaches it through any NAT that lets UDP out.
        if role == Role::Applet
            && let Some(turn) = &self.turn
        {
            match self.puncher.allocate(turn).await {
                Ok(relayed) => tracing::info!(%relayed, "TURN relayed candidate"),
                Err(e) => tracing::info!(error = %e, "no relayed candidate"),
            }
        }
        // Sent even when empty: it tells the peer our gathering is over.
        let mut ours = self.puncher.candidates().clone();
        ours.host.clear();
        ours.reflexive = reflexive;
        let list = ours.to_strings();
        let _ = self
            .out
            .send(PeerMessage::Signal {
                session_id: self.session.clone(),
                payload: SignalPayload::Candidates { list },
            })
            .await;
        if !self.peer_gathered {
            if let Ok(Some(list)) = tokio::time::timeout(PEER_GATHER_WAIT, self.late.recv()).await {
                self.theirs.add_strings(&list, MAX_PEER_CANDIDATES);
            }
        }
        if self.theirs.all().is_empty() && self.theirs.relayed.is_empty() {
            return Err(LinkError::Io("the peer has no UDP candidate".into()));
        }
        match role {
            Role::Console => self.puncher.connect(id, peer_fp, &self.theirs).await,
            _ => self.puncher.accept(id, peer_fp, &self.theirs).await,
        }
    }
}
