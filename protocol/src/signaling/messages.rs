//! The signaling WebSockets (`/ws/console`, `/ws/applet`): what the server
//! pushes, what a peer may send, and the signal payloads the two peers
//! exchange through the server (spec/SIGNALING.md section 3).

use serde::{Deserialize, Serialize};

use super::ContractError;
use super::rest::SessionView;
use super::secret::Secret;
use super::vocabulary::{GrantedSet, SessionState};

/// Largest WebSocket message either side accepts.
pub const MAX_WS_MESSAGE: usize = 16 * 1024;
/// Largest signal payload, serialised.
pub const MAX_SIGNAL_PAYLOAD: usize = 4096;
/// Most candidates one signal may carry.
pub const MAX_CANDIDATES: usize = 16;
/// Longest candidate (`ip:port`, IPv6 with brackets included).
pub const MAX_CANDIDATE_LEN: usize = 64;

/// Longest SDP text in an `sdp` signal (the payload's 4096 bytes bound it
/// too; a data-channel offer from a browser is under 1 KiB).
pub const MAX_SDP_LEN: usize = 3072;
/// Most lines in an `sdp` signal's text.
pub const MAX_SDP_LINES: usize = 64;
/// Longest line of an SDP text.
pub const MAX_SDP_LINE: usize = 256;
/// Most ICE candidates one `ice` signal may carry.
pub const MAX_ICE_CANDIDATES: usize = 8;
/// Longest ICE candidate attribute (`candidate:...`, RFC 8839 grammar).
pub const MAX_ICE_CANDIDATE_LEN: usize = 256;
/// Longest ICE username fragment (RFC 8839: 4..256; browsers use 4..32).
pub const MAX_ICE_UFRAG_LEN: usize = 32;

/// Every signal kind (the server emits `relay`, the peers the others).
const KINDS: &[&str] = &["relay", "fingerprint", "candidates", "sdp", "ice"];

/// Which half of an SDP exchange an `sdp` signal is (WebRTC path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SdpType {
    /// The offer (also an ICE restart's).
    Offer,
    /// The answer to it.
    Answer,
}

/// Which peer of a session a signal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// The technician's console.
    Console,
    /// The customer's applet.
    Applet,
}

/// The first message on either socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Console: the technician's account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Applet: its session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Applet: the session's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SessionState>,
    /// Applet: estimated seconds before pick-up (APPLET-4), absent when
    /// unknown or when the settings hide it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_wait_s: Option<i64>,
    /// Applet: the settings it obeys (APPLET-1..6), of the session's channel
    /// or, for a private session, of its technician's group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applet: Option<super::AppletSettings>,
    /// Applet: the organisation's name, shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// Applet: TURN credentials for this session, fresh on each connection
    /// (an applet started from the web page, or coming back after a
    /// restart, has no join answer of its own), when the server offers TURN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<super::TurnGrant>,
    /// Applet: the customer survey is asked when the session ends
    /// (SURVEY-2), at `/survey/{session_id}?token={customer_token}`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub customer_survey: bool,
}

fn first_page() -> u32 {
    1
}

/// What the server sends on a signaling socket (`type` field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message of a socket.
    Hello(Hello),
    /// The technician's queue (console), pushed on every change, in pages
    /// that each fit a frame: the queue is one push's pages put together.
    Queue {
        /// Same objects as `GET /api/v1/sessions`.
        sessions: Vec<SessionView>,
        /// This page, from 1.
        #[serde(default = "first_page")]
        page: u32,
        /// Pages in this push.
        #[serde(default = "first_page")]
        pages: u32,
    },
    /// A session changed state.
    SessionState {
        /// Session.
        session_id: String,
        /// New state.
        state: SessionState,
        /// Technician now holding it, if any.
        tech_id: Option<i64>,
        /// Close reason, when closed.
        reason: Option<String>,
    },
    /// A timeout is near (SESS-7).
    Warning {
        /// Session.
        session_id: String,
        /// Which timeout (`code_validity`, `connecting`, `waiting`, `idle`).
        timeout: String,
        /// Seconds left.
        seconds_left: i64,
    },
    /// The applet's session was picked up: what it may allow.
    Granted {
        /// Session.
        session_id: String,
        /// The technician's nickname.
        technician: Option<String>,
        /// The group's permissions; the applet enforces these, never a
        /// console's claim.
        permissions: GrantedSet,
    },
    /// From the other peer, or from the server (`relay`).
    Signal {
        /// Session.
        session_id: String,
        /// Recipient.
        to: Peer,
        /// What the peer (or the server) sent.
        payload: SignalPayload,
    },
    /// Monitoring (SESS-10), to the technician's console: an administrator
    /// asks to watch it, or the request changed state. `consent`: `tell`
    /// (the technician is told, the watch starts) or `ask` (it answers at
    /// `POST /api/v1/monitors/{monitor_id}/answer`); `state`: `asked`,
    /// `watching`, `declined` or `ended`.
    Monitor {
        /// The request.
        monitor_id: String,
        /// The administrator's name (set by administrators: shown as text).
        admin: String,
        /// `tell` or `ask`.
        consent: String,
        /// `asked`, `watching`, `declined` or `ended`.
        state: String,
    },
    /// Answer to `ping`.
    Pong,
    /// A request on this socket failed; the socket stays open.
    Error {
        /// For people.
        message: String,
    },
}

/// What a peer may send on its signaling socket (`type` field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PeerMessage {
    /// Keepalive; the server answers `pong`.
    Ping,
    /// A signal for the other peer.
    Signal {
        /// The session (console; the applet's socket has one session).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// What to forward.
        payload: SignalPayload,
    },
    /// Console heartbeat: resets the idle timeout.
    Activity {
        /// Session.
        session_id: String,
    },
    /// Applet: the customer ends the session.
    Close,
}

/// A signal between the peers of one session (`kind` field). The server
/// forwards peers' kinds and emits `relay` itself: a peer that sends
/// `relay` is refused, so the other side can trust it came from the server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalPayload {
    /// Server only, to both peers at pick-up: the relay hub and its token.
    Relay {
        /// `ws[s]://host/relay/v1/ws` of the node that handled the pick-up.
        url: String,
        /// Single use, expiring.
        token: Secret,
    },
    /// The sender's certificate fingerprint, and the applet's candidates.
    Fingerprint {
        /// Hex of the SHA-256 fingerprint (64 characters).
        sha256: String,
        /// `ip:port` host and server-reflexive addresses for the direct path.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        candidates: Vec<String>,
    },
    /// Candidates found later.
    Candidates {
        /// `ip:port` addresses.
        list: Vec<String>,
    },
    /// WebRTC path: an SDP offer or answer (its `a=fingerprint` must be the
    /// fingerprint the sender announced).
    Sdp {
        /// Offer or answer.
        #[serde(rename = "type")]
        sdp_type: SdpType,
        /// The session description, CRLF-separated lines.
        sdp: String,
    },
    /// WebRTC path: trickled ICE candidates.
    Ice {
        /// The username fragment of the ICE generation they belong to.
        ufrag: String,
        /// `candidate:...` attributes, as a browser's `RTCIceCandidate`
        /// gives them.
        candidates: Vec<String>,
    },
}

impl std::fmt::Debug for SignalPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Relay { url, token } => f
                .debug_struct("Relay")
                .field("url", url)
                .field("token", token)
                .finish(),
            Self::Fingerprint { sha256, candidates } => f
                .debug_struct("Fingerprint")
                .field("sha256", sha256)
                .field("candidates", candidates)
                .finish(),
            Self::Candidates { list } => f.debug_struct("Candidates").field("list", list).finish(),
            Self::Sdp { sdp_type, sdp } => f
                .debug_struct("Sdp")
                .field("type", sdp_type)
                .field("len", &sdp.len())
                .finish(),
            Self::Ice { ufrag, candidates } => f
                .debug_struct("Ice")
                .field("ufrag", ufrag)
                .field("candidates", candidates)
                .finish(),
        }
    }
}

impl SignalPayload {
    /// The `kind` as it travels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Relay { .. } => "relay",
            Self::Fingerprint { .. } => "fingerprint",
            Self::Candidates { .. } => "candidates",
            Self::Sdp { .. } => "sdp",
            Self::Ice { .. } => "ice",
        }
    }

    /// Whether only the server may emit this kind.
    pub fn is_server_only(&self) -> bool {
        matches!(self, Self::Relay { .. })
    }

    /// Checks what a peer sent before the server forwards it: a kind peers
    /// may send, a fingerprint of 64 hex digits, a bounded list of
    /// bounded candidates.
    pub fn check_from_peer(&self) -> Result<(), ContractError> {
        let candidates = match self {
            Self::Relay { .. } => return Err(ContractError::ServerOnlyKind(self.kind())),
            Self::Fingerprint { sha256, candidates } => {
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ContractError::Invalid("sha256 is 64 hex digits"));
                }
                candidates
            }
            Self::Candidates { list } => list,
            Self::Sdp { sdp, .. } => return check_sdp_text(sdp),
            Self::Ice { ufrag, candidates } => return check_ice(ufrag, candidates),
        };
        if candidates.len() > MAX_CANDIDATES {
            return Err(ContractError::Invalid("too many candidates"));
        }
        if candidates
            .iter()
            .any(|c| c.is_empty() || c.len() > MAX_CANDIDATE_LEN)
        {
            return Err(ContractError::Invalid("a candidate is 1..64 characters"));
        }
        Ok(())
    }
}

/// The server's check of an SDP text: bounded, printable ASCII lines of
/// the `x=...` form, starting with `v=0`. The peers parse it in full.
pub fn check_sdp_text(sdp: &str) -> Result<(), ContractError> {
    if sdp.len() > MAX_SDP_LEN {
        return Err(ContractError::Invalid("sdp is at most 3072 bytes"));
    }
    if !sdp.starts_with("v=0") {
        return Err(ContractError::Invalid("sdp starts with v=0"));
    }
    let mut lines = 0;
    for line in sdp.split("\r\n").filter(|l| !l.is_empty()) {
        lines += 1;
        let b = line.as_bytes();
        if lines > MAX_SDP_LINES
            || line.len() > MAX_SDP_LINE
            || b.len() < 2
            || !b[0].is_ascii_lowercase()
            || b[1] != b'='
            || !b.iter().all(|c| (0x20..0x7f).contains(c))
        {
            return Err(ContractError::Invalid(
                "sdp is at most 64 printable lines of 256 characters, CRLF-separated",
            ));
        }
    }
    Ok(())
}

/// The server's check of trickled ICE candidates: a bounded list of
/// bounded printable `candidate:` attributes, a bounded ICE ufrag.
pub fn check_ice(ufrag: &str, candidates: &[String]) -> Result<(), ContractError> {
    let ice_char = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    if ufrag.is_empty() || ufrag.len() > MAX_ICE_UFRAG_LEN || !ufrag.bytes().all(ice_char) {
        return Err(ContractError::Invalid("ufrag is 1..32 ICE characters"));
    }
    if candidates.is_empty() || candidates.len() > MAX_ICE_CANDIDATES {
        return Err(ContractError::Invalid(
            "an ice signal carries 1..8 candidates",
        ));
    }
    if candidates.iter().any(|c| {
        c.len() > MAX_ICE_CANDIDATE_LEN
            || !c.starts_with("candidate:")
            || !c.bytes().all(|b| (0x20..0x7f).contains(&b))
    }) {
        return Err(ContractError::Invalid(
            "a candidate is a printable candidate: attribute of at most 256 characters",
        ));
    }
    Ok(())
}

impl PeerMessage {
    /// Parses and checks a text message from a peer: its JSON, its size, and
    /// the payload rules of a signal.
    pub fn parse(text: &str) -> Result<Self, ContractError> {
        if text.len() > MAX_WS_MESSAGE {
            return Err(ContractError::TooLarge);
        }
        let msg: Self = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                // Say so when the kind is what is wrong.
                let unknown_kind = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .filter(|v| v["type"] == "signal")
                    .and_then(|v| v["payload"]["kind"].as_str().map(str::to_owned))
                    .is_some_and(|k| !KINDS.contains(&k.as_str()));
                return Err(if unknown_kind {
                    ContractError::Invalid("unknown signal kind")
                } else {
                    ContractError::Unreadable(e.to_string())
                });
            }
        };
        if let Self::Signal { payload, .. } = &msg {
            let size = serde_json::to_vec(payload).map_or(usize::MAX, |v| v.len());
            if size > MAX_SIGNAL_PAYLOAD {
                return Err(ContractError::TooLarge);
            }
            payload.check_from_peer()?;
        }
        Ok(msg)
    }
}
