//! A TURN client (RFC 8656) as a plain state machine: fed the datagrams the
//! TURN server sends and the time, it says what to send the server and what
//! the peers sent through the relay. One allocation over UDP, long-term
//! credentials (the server's 401 gives the realm and nonce; a 438 renews
//! the nonce), refreshed before it expires; permissions and channels for
//! the peers, refreshed while in use. No socket here: `socket.rs` is the
//! tokio edge.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytecodec::{DecodeExt, EncodeExt};
use stun_codec::rfc5389::attributes::{ErrorCode, MessageIntegrity, Nonce, Realm, Username};
use stun_codec::rfc5766::attributes::{
    ChannelNumber, Data, Lifetime, RequestedTransport, XorPeerAddress, XorRelayAddress,
};
use stun_codec::rfc5766::methods::{
    ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, DATA, REFRESH, SEND,
};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, Method, TransactionId};

use super::wire::{TurnAttribute, channel_data, is_channel_data, parse_channel_data};
use crate::secret::Secret;

/// Requests are resent this many times, the wait doubling from `RTO`.
const ATTEMPTS: u32 = 6;
const RTO: Duration = Duration::from_millis(250);
/// Permissions last 300 s on the server (RFC 8656 9); renewed before.
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// Channels last 600 s; renewed before.
const CHANNEL_REFRESH: Duration = Duration::from_secs(480);
/// The allocation is refreshed this long before it would expire.
const ALLOCATION_MARGIN: Duration = Duration::from_secs(60);
/// Peers one allocation serves: a session has one peer, with a few
/// addresses (host, reflexive, peer-reflexive).
pub const MAX_PEERS: usize = 16;

/// Why the relay could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnError {
    /// The server refused the credentials (wrong or expired).
    #[error("the TURN server refused the credentials")]
    Unauthorized,
    /// The server answered an error.
    #[error("the TURN server answered {code} {reason}")]
    Refused {
        /// The STUN error code.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// No answer after every retransmission.
    #[error("no answer from the TURN server")]
    Timeout,
    /// A message could not be encoded (a bug, not the network's doing).
    #[error("could not encode a TURN message: {0}")]
    Encode(String),
    /// More peers than an allocation serves.
    #[error("too many TURN peers")]
    TooManyPeers,
}

/// What the client has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The relay is ready: peers reach us at `relayed`.
    Allocated {
        /// The relayed transport address (our relay candidate).
        relayed: SocketAddr,
    },
    /// The allocation failed or was lost.
    Failed(TurnError),
}

/// What a datagram from the server held.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A peer's datagram, relayed.
    Data {
        /// Who sent it (the peer's address as the relay saw it).
        peer: SocketAddr,
        /// The datagram.
        data: Vec<u8>,
    },
    /// A TURN response, handled.
    Handled,
    /// Not TURN: someone else's datagram (or garbage).
    NotTurn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Allocate,
    Refresh,
    Permission(IpAddr),
    Bind(SocketAddr, u16),
}

#[derive(Debug)]
struct Pending {
    request: Request,
    bytes: Vec<u8>,
    next: Instant,
    attempts: u32,
    /// Already retried with fresh credentials (401/438 once each).
    reauthed: bool,
}

#[derive(Debug)]
struct Channel {
    number: u16,
    confirmed: bool,
    refresh_at: Instant,
}

/// The client's state machine.
#[derive(Debug)]
pub struct TurnClient {
    username: String,
    password: Secret,
    realm: Option<String>,
    nonce: Option<String>,
    relayed: Option<SocketAddr>,
    refresh_at: Option<Instant>,
    failed: bool,
    pending: HashMap<TransactionId, Pending>,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<SocketAddr, Channel>,
    by_number: HashMap<u16, SocketAddr>,
    next_channel: u16,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
}

impl TurnClient {
    /// Starts allocating with `username` and `password` (the long-term
    /// credentials the signaling server issued for this session).
    pub fn new(username: &str, password: Secret, now: Instant) -> Self {
        let mut c = Self {
            username: username.to_owned(),
            password,
            realm: None,
            nonce: None,
            relayed: None,
            refresh_at: None,
            failed: false,
            pending: HashMap::new(),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            by_number: HashMap::new(),
            next_channel: ChannelNumber::MIN,
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        c.request(Request::Allocate, now);
        c
    }

    /// The relayed address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// Lets `peer` send to us through the relay (its IP: any port of it).
    pub fn permit(&mut self, peer: IpAddr, now: Instant) -> Result<(), TurnError> {
        if self.permissions.contains_key(&peer) {
            return Ok(());
        }
        if self.permissions.len() >= MAX_PEERS {
            return Err(TurnError::TooManyPeers);
        }
        self.permissions.insert(peer, now + PERMISSION_REFRESH);
        self.request(Request::Permission(peer), now);
        Ok(())
    }

    /// Binds a channel to `peer` (fewer bytes per datagram than a Send
    /// indication; also a permission for its IP).
    pub fn bind_channel(&mut self, peer: SocketAddr, now: Instant) -> Result<(), TurnError> {
        if self.channels.contains_key(&peer) {
            return Ok(());
        }
        if self.channels.len() >= MAX_PEERS || self.next_channel > ChannelNumber::MAX {
            return Err(TurnError::TooManyPeers);
        }
        let number = self.next_channel;
        self.next_channel += 1;
        self.channels.insert(
            peer,
            Channel {
                number,
                confirmed: false,
                refresh_at: now + CHANNEL_REFRESH,
            },
        );
        self.by_number.insert(number, peer);
        self.request(Request::Bind(peer, number), now);
        Ok(())
    }

    /// `data` for `peer`, as the datagram to send the server: channel data
    /// once the channel is confirmed, a Send indication before.
    pub fn wrap(&self, peer: SocketAddr, data: &[u8]) -> Result<Vec<u8>, TurnError> {
        if let Some(ch) = self.channels.get(&peer).filter(|c| c.confirmed) {
            return Ok(channel_data(ch.number, data));
        }
        let mut m = Message::<TurnAttribute>::new(MessageClass::Indication, SEND, random_tid());
        m.add_attribute(TurnAttribute::XorPeerAddress(XorPeerAddress::new(peer)));
        let data = Data::new(data.to_vec()).map_err(|e| TurnError::Encode(e.to_string()))?;
        m.add_attribute(TurnAttribute::Data(data));
        encode(m)
    }

    /// A datagram from the server.
    pub fn handle_input(&mut self, datagram: &[u8], now: Instant) -> Incoming {
        if is_channel_data(datagram) {
            return match parse_channel_data(datagram) {
                Some((number, data)) => match self.by_number.get(&number) {
                    Some(peer) => Incoming::Data {
                        peer: *peer,
                        data: data.to_vec(),
                    },
                    None => Incoming::Handled,
                },
                None => Incoming::NotTurn,
            };
        }
        let Ok(Ok(m)) = MessageDecoder::<TurnAttribute>::new().decode_from_bytes(datagram) else {
            return Incoming::NotTurn;
        };
        if m.class() == MessageClass::Indication && m.method() == DATA {
            let peer = m.get_attribute::<XorPeerAddress>().map(|a| a.address());
            let data = m.get_attribute::<Data>().map(|d| d.data().to_vec());
            return match (peer, data) {
                // Only peers we let in (the server checks too).
                (Some(peer), Some(data)) if self.permissions.contains_key(&peer.ip()) => {
                    Incoming::Data { peer, data }
                }
                _ => Incoming::Handled,
            };
        }
        let Some(pending) = self.pending.remove(&m.transaction_id()) else {
            return Incoming::NotTurn;
        };
        match m.class() {
            MessageClass::SuccessResponse => self.succeeded(pending.request, &m, now),
            MessageClass::ErrorResponse => self.refused(pending, &m, now),
            _ => {}
        }
        Incoming::Handled
    }

    fn succeeded(&mut self, request: Request, m: &Message<TurnAttribute>, now: Instant) {
        match request {
            Request::Allocate | Request::Refresh => {
                if request == Request::Allocate {
                    let Some(relayed) = m.get_attribute::<XorRelayAddress>().map(|a| a.address())
                    else {
                        self.fail(TurnError::Refused {
                            code: 0,
                            reason: "no relayed address".into(),
                        });
                        return;
                    };
                    self.relayed = Some(relayed);
                    self.events.push_back(TurnEvent::Allocated { relayed });
                }
                let lifetime = m
                    .get_attribute::<Lifetime>()
                    .map_or(Duration::from_secs(600), Lifetime::lifetime);
                self.refresh_at = Some(now + lifetime.saturating_sub(ALLOCATION_MARGIN).max(RTO));
            }
            Request::Permission(_) => {}
            Request::Bind(peer, _) => {
                if let Some(ch) = self.channels.get_mut(&peer) {
                    ch.confirmed = true;
                }
                // A channel is a permission for the peer's IP too.
                self.permissions
                    .entry(peer.ip())
                    .or_insert(now + PERMISSION_REFRESH);
            }
        }
    }

    fn refused(&mut self, pending: Pending, m: &Message<TurnAttribute>, now: Instant) {
        let Some(error) = m.get_attribute::<ErrorCode>() else {
            return self.request_failed(pending.request, TurnError::Timeout);
        };
        let code = error.code();
        // 401 asks for credentials (realm and nonce), 438 for a new nonce:
        // once each per request, or the credentials are wrong.
        if (code == 401 || code == 438) && !pending.reauthed {
            if let Some(r) = m.get_attribute::<Realm>() {
                self.realm = Some(r.text().to_owned());
            }
            if let Some(n) = m.get_attribute::<Nonce>() {
                self.nonce = Some(n.value().to_owned());
            }
            if self.realm.is_some() && self.nonce.is_some() {
                self.send_request(pending.request, true, now);
                return;
            }
        }
        let e = if code == 401 {
            TurnError::Unauthorized
        } else {
            TurnError::Refused {
                code,
                reason: error.reason_phrase().to_owned(),
            }
        };
        self.request_failed(pending.request, e);
    }

    fn request_failed(&mut self, request: Request, e: TurnError) {
        match request {
            Request::Allocate | Request::Refresh => self.fail(e),
            Request::Permission(ip) => {
                tracing::debug!(%ip, error = %e, "TURN permission refused");
                self.permissions.remove(&ip);
            }
            Request::Bind(peer, number) => {
                tracing::debug!(%peer, error = %e, "TURN channel refused");
                self.channels.remove(&peer);
                self.by_number.remove(&number);
            }
        }
    }

    fn fail(&mut self, e: TurnError) {
        if !self.failed {
            self.failed = true;
            self.relayed = None;
            self.pending.clear();
            self.events.push_back(TurnEvent::Failed(e));
        }
    }

    /// The next datagram for the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// What happened.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        let resend = self.pending.values().map(|p| p.next);
        let refresh = self.refresh_at.into_iter();
        let permissions = self.permissions.values().copied();
        let channels = self.channels.values().map(|c| c.refresh_at);
        resend
            .chain(refresh)
            .chain(permissions)
            .chain(channels)
            .min()
    }

    /// Resends what went unanswered; refreshes what is about to expire.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        let mut gave_up = Vec::new();
        for (tid, p) in &mut self.pending {
            if p.next > now {
                continue;
            }
            if p.attempts >= ATTEMPTS {
                gave_up.push(*tid);
                continue;
            }
            p.attempts += 1;
            p.next = now + RTO * 2u32.pow(p.attempts.min(6));
            self.out.push_back(p.bytes.clone());
        }
        for tid in gave_up {
            if let Some(p) = self.pending.remove(&tid) {
                self.request_failed(p.request, TurnError::Timeout);
            }
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            self.request(Request::Refresh, now);
        }
        let due: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due {
            self.permissions.insert(ip, now + PERMISSION_REFRESH);
            self.request(Request::Permission(ip), now);
        }
        let due: Vec<(SocketAddr, u16)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.refresh_at <= now)
            .map(|(p, c)| (*p, c.number))
            .collect();
        for (peer, number) in due {
            if let Some(c) = self.channels.get_mut(&peer) {
                c.refresh_at = now + CHANNEL_REFRESH;
            }
            self.request(Request::Bind(peer, number), now);
        }
    }

    fn request(&mut self, request: Request, now: Instant) {
        // Before the first 401 there are no credentials to send.
        let authed = self.nonce.is_some();
        self.send_request(request, authed, now);
    }

    fn send_request(&mut self, request: Request, reauthed: bool, now: Instant) {
        match self.encode_request(request) {
            Ok((tid, bytes)) => {
                self.out.push_back(bytes.clone());
                self.pending.insert(
                    tid,
                    Pending {
                        request,
                        bytes,
                        next: now + RTO,
                        attempts: 0,
                        reauthed,
                    },
                );
            }
            Err(e) => self.request_failed(request, e),
        }
    }

    fn encode_request(&self, request: Request) -> Result<(TransactionId, Vec<u8>), TurnError> {
        let tid = random_tid();
        let method: Method = match request {
            Request::Allocate => ALLOCATE,
            Request::Refresh => REFRESH,
            Request::Permission(_) => CREATE_PERMISSION,
            Request::Bind(..) => CHANNEL_BIND,
        };
        let mut m = Message::<TurnAttribute>::new(MessageClass::Request, method, tid);
        match request {
            Request::Allocate => {
                // UDP (protocol 17) relaying.
                m.add_attribute(TurnAttribute::RequestedTransport(RequestedTransport::new(
                    17,
                )));
            }
            Request::Refresh => {
                let l = Lifetime::new(Duration::from_secs(600))
                    .map_err(|e| TurnError::Encode(e.to_string()))?;
                m.add_attribute(TurnAttribute::Lifetime(l));
            }
            Request::Permission(ip) => {
                m.add_attribute(TurnAttribute::XorPeerAddress(XorPeerAddress::new(
                    SocketAddr::new(ip, 0),
                )));
            }
            Request::Bind(peer, number) => {
                let n = ChannelNumber::new(number).map_err(|e| TurnError::Encode(e.to_string()))?;
                m.add_attribute(TurnAttribute::ChannelNumber(n));
                m.add_attribute(TurnAttribute::XorPeerAddress(XorPeerAddress::new(peer)));
            }
        }
        if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
            let err = |e: bytecodec::Error| TurnError::Encode(e.to_string());
            let username = Username::new(self.username.clone()).map_err(err)?;
            let realm = Realm::new(realm.clone()).map_err(err)?;
            m.add_attribute(TurnAttribute::Username(username.clone()));
            m.add_attribute(TurnAttribute::Realm(realm.clone()));
            m.add_attribute(TurnAttribute::Nonce(
                Nonce::new(nonce.clone()).map_err(err)?,
            ));
            let integrity = MessageIntegrity::new_long_term_credential(
                &m,
                &username,
                &realm,
                self.password.expose(),
            )
            .map_err(err)?;
            m.add_attribute(TurnAttribute::MessageIntegrity(integrity));
        }
        Ok((tid, encode(m)?))
    }
}

fn encode(m: Message<TurnAttribute>) -> Result<Vec<u8>, TurnError> {
    MessageEncoder::new()
        .encode_into_bytes(m)
        .map_err(|e| TurnError::Encode(e.to_string()))
}

fn random_tid() -> TransactionId {
    TransactionId::new(rand::random())
}
