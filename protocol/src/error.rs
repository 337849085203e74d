//! The errors a session ends with.

use crate::identity::Fingerprint;
use crate::pb::ErrorCode;
use crate::wire::FrameError;

/// A range of protocol versions one peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest version spoken.
    pub min: u32,
    /// Highest version spoken.
    pub max: u32,
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "v{}", self.min)
        } else {
            write!(f, "v{}..v{}", self.min, self.max)
        }
    }
}

/// Why a session failed. Each one closes the session (after telling the peer
/// with an `Error` message where that makes sense); none panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A frame could not be decoded.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peers share no protocol version.
    #[error("protocol version mismatch: we speak {ours}, the peer speaks {theirs}")]
    VersionMismatch {
        /// What this side speaks.
        ours: VersionRange,
        /// What the peer announced.
        theirs: VersionRange,
    },
    /// The peer's certificate is not the one the server announced.
    #[error(
        "peer fingerprint mismatch: the server announced {expected}, the peer {announced} \
         and its TLS certificate is {observed}"
    )]
    FingerprintMismatch {
        /// What the server announced.
        expected: Fingerprint,
        /// What the peer claimed in its `Hello`.
        announced: String,
        /// What the transport saw in the TLS handshake.
        observed: Fingerprint,
    },
    /// The peer could not prove it holds this session's token.
    #[error("peer authentication failed: {0}")]
    AuthFailed(&'static str),
    /// The peer announced the wrong role (two consoles, two applets).
    #[error("the peer announced role {0:?}, not the other side of this session")]
    WrongRole(crate::pb::Role),
    /// A message that is not valid in the current state.
    #[error("unexpected {message} while {state}")]
    Unexpected {
        /// The message's name.
        message: &'static str,
        /// The state the session was in.
        state: &'static str,
    },
    /// A peer broke a rule of a sub-protocol (file window, clipboard, ...).
    #[error("protocol violation: {0}")]
    Violation(String),
    /// The handshake did not finish in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// Nothing arrived from the peer for too long.
    #[error("peer silent for too long")]
    IdleTimeout,
    /// The peer sent an `Error` and closed.
    #[error("peer reported {code:?}: {message}")]
    Peer {
        /// Its code.
        code: ErrorCode,
        /// Its text (peer data: escape before showing).
        message: String,
    },
}

impl SessionError {
    /// The code sent to the peer in the closing `Error` message.
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::Frame(FrameError::TooLarge { .. }) => ErrorCode::FrameTooLarge,
            SessionError::Frame(_)
            | SessionError::Unexpected { .. }
            | SessionError::Violation(_) => ErrorCode::ProtocolViolation,
            SessionError::VersionMismatch { .. } => ErrorCode::VersionMismatch,
            SessionError::FingerprintMismatch { .. } => ErrorCode::FingerprintMismatch,
            SessionError::AuthFailed(_) | SessionError::WrongRole(_) => ErrorCode::AuthFailed,
            SessionError::HandshakeTimeout | SessionError::IdleTimeout => ErrorCode::Timeout,
            SessionError::Peer { .. } => ErrorCode::Internal,
        }
    }
}

/// Why a local command was refused. The session goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The session is not established (or already closed).
    #[error("the session is not established")]
    NotEstablished,
    /// The permission set does not grant this action.
    #[error("not permitted: {0:?}")]
    NotPermitted(crate::pb::Permission),
    /// The action is granted but the customer has not consented (yet).
    #[error("waiting for the customer's consent to {0:?}")]
    NoConsent(crate::pb::Permission),
    /// This side's role cannot do that (e.g. an applet sending input).
    #[error("a {0} cannot do that")]
    WrongRole(&'static str),
    /// Argument outside the protocol limits.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// No such transfer or request.
    #[error("unknown id {0}")]
    UnknownId(u64),
    /// Too many of something at once.
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// Chat is switched off (PERM-1).
    #[error("chat is switched off")]
    ChatOff,
}
