//! The session handshake (PROTOCOL.md "Handshake").
//!
//! ```text
//!  console                                   applet
//!    | Hello{versions, role, fp, nonce}  ->  <- Hello{..}        (both at once)
//!    |   check: versions overlap, role is the other one,
//!    |          Hello.fp == fp announced by server == fp of the TLS peer
//!    | Auth{session_id, HMAC(token, "console" | transcript)} ->
//!    |                     <- Auth{session_id, HMAC(token, "applet" | transcript)}
//!    | Capabilities, PermissionSet  ->     <- Capabilities, PermissionSet
//!    | Ready{version} ->                   <- Ready{version}
//!  established: both derive the same ShortAuthString and permission set
//! ```
//!
//! The transcript hashes the agreed version, the session id, both fingerprints
//! and both nonces, so the proofs bind the server's pairing to the exact
//! certificates the TLS layer authenticated. There is no unauthenticated mode.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{SessionError, VersionRange};
use crate::identity::{Fingerprint, SessionToken, ShortAuthString};
use crate::pb::{self, Role};
use crate::permissions::PermissionSet;
use crate::wire::{Message, PROTOCOL_VERSION, PROTOCOL_VERSION_MIN, message_name};

/// How long the handshake may take by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything one side knows before the handshake starts: its own identity,
/// what the server announced about the peer, and what the transport observed.
#[derive(Debug, Clone)]
pub struct HandshakeConfig {
    /// Console or applet.
    pub role: Role,
    /// Fingerprint of this side's certificate.
    pub local_fingerprint: Fingerprint,
    /// The peer's fingerprint as the server announced it (a `fingerprint` signal).
    pub expected_peer_fingerprint: Fingerprint,
    /// The peer's fingerprint as the transport's TLS handshake saw it.
    pub observed_peer_fingerprint: Fingerprint,
    /// The session id the server issued.
    pub session_id: String,
    /// The session token the server issued to both peers.
    pub session_token: SessionToken,
    /// 32 fresh random bytes (the caller draws them: this crate has no RNG).
    pub nonce: [u8; 32],
    /// What this side can do.
    pub capabilities: pb::Capabilities,
    /// The permission set the server gave this side.
    pub permissions: PermissionSet,
    /// Informational software name and version.
    pub software: String,
    /// Protocol versions this side speaks (normally the crate's own).
    pub versions: VersionRange,
    /// Deadline for the whole handshake.
    pub timeout: Duration,
}

/// What both sides agreed on.
#[derive(Debug, Clone, PartialEq)]
pub struct Established {
    /// The protocol version in use.
    pub version: u32,
    /// The string the customer and the technician may compare.
    pub sas: ShortAuthString,
    /// The effective permissions (intersection of both sides' sets).
    pub permissions: PermissionSet,
    /// The peer's capabilities.
    pub peer_capabilities: pb::Capabilities,
    /// The peer's software string (peer data: escape before showing).
    pub peer_software: String,
}

#[derive(Debug)]
enum State {
    Start,
    AwaitHello,
    AwaitRest {
        transcript: [u8; 32],
        version: u32,
        peer_nonce: [u8; 32],
        peer_software: String,
    },
    AwaitReady {
        established: Box<Established>,
    },
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "starting the handshake",
            State::AwaitHello => "waiting for Hello",
            State::AwaitRest { .. } => "waiting for Auth, Capabilities and PermissionSet",
            State::AwaitReady { .. } => "waiting for Ready",
            State::Done => "established",
            State::Failed => "failed",
        }
    }
}

/// The handshake of one side. Drive it with [`Handshake::handle_message`] and
/// [`Handshake::handle_timeout`], drain [`Handshake::poll_message`].
#[derive(Debug)]
pub struct Handshake {
    config: HandshakeConfig,
    state: State,
    deadline: Instant,
    out: VecDeque<Message>,
    peer_auth: Option<pb::Auth>,
    peer_caps: Option<pb::Capabilities>,
    peer_perms: Option<PermissionSet>,
    result: Option<Established>,
}

impl Handshake {
    /// Starts the handshake: queues our `Hello` at once.
    pub fn new(config: HandshakeConfig, now: Instant) -> Self {
        let deadline = now + config.timeout;
        let mut hs = Self {
            config,
            state: State::Start,
            deadline,
            out: VecDeque::new(),
            peer_auth: None,
            peer_caps: None,
            peer_perms: None,
            result: None,
        };
        hs.out.push_back(Message::Hello(pb::Hello {
            version_min: hs.config.versions.min,
            version_max: hs.config.versions.max,
            role: hs.config.role as i32,
            fingerprint: hs.config.local_fingerprint.as_bytes().to_vec().into(),
            nonce: hs.config.nonce.to_vec().into(),
            software: hs.config.software.clone(),
        }));
        hs.state = State::AwaitHello;
        hs
    }

    /// The versions this crate speaks.
    pub fn default_versions() -> VersionRange {
        VersionRange {
            min: PROTOCOL_VERSION_MIN,
            max: PROTOCOL_VERSION,
        }
    }

    /// The next message to send.
    pub fn poll_message(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// When [`Handshake::handle_timeout`] must be called, while not finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done | State::Failed => None,
            _ => Some(self.deadline),
        }
    }

    /// Fails the handshake once its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.state = State::Failed;
            return Err(SessionError::HandshakeTimeout);
        }
        Ok(())
    }

    /// Whether the peer proved itself and only its `Ready` is missing.
    pub fn awaits_ready(&self) -> bool {
        matches!(self.state, State::AwaitReady { .. })
    }

    /// Whether both sides are done.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The agreed parameters, once established (taken once).
    pub fn take_established(&mut self) -> Option<Established> {
        self.result.take()
    }

    /// Feeds one message from the peer's control channel.
    pub fn handle_message(&mut self, message: Message) -> Result<(), SessionError> {
        let result = self.step(message);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(&mut self, message: Message) -> Result<(), SessionError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match (state, message) {
            (State::AwaitHello, Message::Hello(hello)) => self.on_hello(hello),
            (state @ State::AwaitRest { .. }, Message::Auth(auth)) if self.peer_auth.is_none() => {
                self.peer_auth = Some(auth);
                self.state = state;
                self.try_finish()
            }
            (state @ State::AwaitRest { .. }, Message::Capabilities(c))
                if self.peer_caps.is_none() =>
            {
                self.peer_caps = Some(c);
                self.state = state;
                self.try_finish()
            }
            (state @ State::AwaitRest { .. }, Message::Permissions(p))
                if self.peer_perms.is_none() =>
            {
                self.peer_perms = Some(PermissionSet::from_wire(&p));
                self.state = state;
                self.try_finish()
            }
            (State::AwaitReady { established }, Message::Ready(ready)) => {
                if ready.version != established.version {
                    return Err(SessionError::Violation(format!(
                        "peer is ready for v{}, we agreed on v{}",
                        ready.version, established.version
                    )));
                }
                self.result = Some(*established);
                self.state = State::Done;
                Ok(())
            }
            (_, Message::Error(e)) => Err(SessionError::Peer {
                code: pb::ErrorCode::try_from(e.code).unwrap_or(pb::ErrorCode::Unspecified),
                message: e.message,
            }),
            (state, message) => Err(SessionError::Unexpected {
                message: message_name(&message),
                state: state.name(),
            }),
        }
    }

    fn on_hello(&mut self, hello: pb::Hello) -> Result<(), SessionError> {
        let ours = self.config.versions;
        let theirs = VersionRange {
            min: hello.version_min,
            max: hello.version_max,
        };
        let version = ours.max.min(theirs.max);
        if theirs.min > theirs.max || version < ours.min.max(theirs.min) {
            return Err(SessionError::VersionMismatch { ours, theirs });
        }
        let peer_role = Role::try_from(hello.role).unwrap_or(Role::Unspecified);
        let want_role = match self.config.role {
            Role::Console => Role::Applet,
            _ => Role::Console,
        };
        if peer_role != want_role {
            return Err(SessionError::WrongRole(peer_role));
        }
        // Fingerprint and nonce lengths are checked by the frame validator.
        let announced = Fingerprint::from_slice(&hello.fingerprint);
        if announced != Some(self.config.expected_peer_fingerprint)
            || self.config.observed_peer_fingerprint != self.config.expected_peer_fingerprint
        {
            return Err(SessionError::FingerprintMismatch {
                expected: self.config.expected_peer_fingerprint,
                announced: announced.map_or_else(|| "nothing valid".into(), |f| f.to_string()),
                observed: self.config.observed_peer_fingerprint,
            });
        }
        let peer_nonce: [u8; 32] = hello
            .nonce
            .as_ref()
            .try_into()
            .map_err(|_| SessionError::Violation("nonce is not 32 bytes".into()))?;
        let transcript = self.transcript(version, &peer_nonce);
        let proof = self.proof(self.config.role, &transcript);
        self.out.push_back(Message::Auth(pb::Auth {
            session_id: self.config.session_id.clone(),
            proof: proof.to_vec().into(),
        }));
        self.out
            .push_back(Message::Capabilities(self.config.capabilities.clone()));
        self.out
            .push_back(Message::Permissions(self.config.permissions.to_wire()));
        self.state = State::AwaitRest {
            transcript,
            version,
            peer_nonce,
            peer_software: hello.software,
        };
        self.try_finish()
    }

    fn try_finish(&mut self) -> Result<(), SessionError> {
        let State::AwaitRest {
            transcript,
            version,
            peer_nonce,
            peer_software,
        } = &self.state
        else {
            return Ok(());
        };
        let (Some(auth), Some(caps), Some(perms)) =
            (&self.peer_auth, &self.peer_caps, &self.peer_perms)
        else {
            return Ok(());
        };
        if auth.session_id != self.config.session_id {
            return Err(SessionError::AuthFailed("the peer is in another session"));
        }
        let peer_role = match self.config.role {
            Role::Console => Role::Applet,
            _ => Role::Console,
        };
        self.mac(peer_role, transcript)
            .verify_slice(&auth.proof)
            .map_err(|_| SessionError::AuthFailed("the peer does not hold this session's token"))?;
        let (console_fp, applet_fp, console_nonce, applet_nonce) = self.by_role(peer_nonce);
        let established = Established {
            version: *version,
            sas: ShortAuthString::derive(&console_fp, &applet_fp, &console_nonce, &applet_nonce),
            permissions: self.config.permissions.intersect(perms),
            peer_capabilities: caps.clone(),
            peer_software: peer_software.clone(),
        };
        self.out
            .push_back(Message::Ready(pb::Ready { version: *version }));
        self.state = State::AwaitReady {
            established: Box::new(established),
        };
        Ok(())
    }

    /// Both fingerprints and nonces in the order the spec fixes (console
    /// first), whichever side we are.
    fn by_role(&self, peer_nonce: &[u8; 32]) -> (Fingerprint, Fingerprint, [u8; 32], [u8; 32]) {
        let c = &self.config;
        match c.role {
            Role::Console => (
                c.local_fingerprint,
                c.expected_peer_fingerprint,
                c.nonce,
                *peer_nonce,
            ),
            _ => (
                c.expected_peer_fingerprint,
                c.local_fingerprint,
                *peer_nonce,
                c.nonce,
            ),
        }
    }

    /// SHA-256 over everything both peers must agree on.
    fn transcript(&self, version: u32, peer_nonce: &[u8; 32]) -> [u8; 32] {
        let (console_fp, applet_fp, console_nonce, applet_nonce) = self.by_role(peer_nonce);
        let mut h = Sha256::new();
        h.update(b"secours-handshake-v1");
        h.update(version.to_be_bytes());
        h.update((self.config.session_id.len() as u32).to_be_bytes());
        h.update(self.config.session_id.as_bytes());
        h.update(console_fp.as_bytes());
        h.update(applet_fp.as_bytes());
        h.update(console_nonce);
        h.update(applet_nonce);
        h.finalize().into()
    }

    fn mac(&self, role: Role, transcript: &[u8; 32]) -> Hmac<Sha256> {
        // HMAC takes keys of any length; a 32-byte key cannot be refused.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.config.session_token.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(match role {
            Role::Console => b"console",
            _ => b"applet\0",
        });
        mac.update(transcript);
        mac
    }

    fn proof(&self, role: Role, transcript: &[u8; 32]) -> [u8; 32] {
        self.mac(role, transcript).finalize().into_bytes().into()
    }
}
