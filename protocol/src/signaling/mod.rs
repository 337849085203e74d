//! The signaling contract: every message a console, an applet and the server
//! exchange over HTTPS and the signaling WebSockets (spec/SIGNALING.md), as
//! the serde types all three import. JSON on the wire; the server derives
//! its OpenAPI document from the same types (feature `openapi`).
//!
//! Plain data and checks only: the clients and the server live elsewhere.

mod applet;
mod desk;
mod messages;
mod rest;
mod secret;
mod vocabulary;

pub use applet::{AppletLook, AppletSettings, InputPriority, MAX_LOOK_TEXT, MAX_TERMS, RunMode};
pub use desk::{
    ConsoleInfo, ConsoleTexts, FieldsChange, MonitorAnswer, MonitorView, NewNote, Note, Question,
    QuestionType, StatusChange, Survey, SurveyAnswer, TechStatus,
};
pub use messages::{
    Hello, MAX_CANDIDATE_LEN, MAX_CANDIDATES, MAX_ICE_CANDIDATE_LEN, MAX_ICE_CANDIDATES,
    MAX_ICE_UFRAG_LEN, MAX_SDP_LEN, MAX_SDP_LINE, MAX_SDP_LINES, MAX_SIGNAL_PAYLOAD,
    MAX_WS_MESSAGE, Peer, PeerMessage, SdpType, ServerMessage, SignalPayload, check_ice,
    check_sdp_text,
};
pub use rest::{
    ChannelJoin, ErrorBody, JoinRequest, Joined, LoginRequest, LoginResponse, MAX_FORM_FIELD_NAME,
    MAX_FORM_FIELD_VALUE, MAX_FORM_FIELDS, Me, PasswordChange, PrivateSession, SessionView,
    TransferTarget, TurnGrant,
};
pub use secret::Secret;
pub use vocabulary::{ChatMode, CloseReason, GrantedSet, Perm, Role, SessionState};

/// Why a signaling message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// Not JSON, or not a message of the contract.
    #[error("unreadable message: {0}")]
    Unreadable(String),
    /// Over the size limit.
    #[error("message too large")]
    TooLarge,
    /// A kind only the server emits.
    #[error("the kind `{0}` is the server's own")]
    ServerOnlyKind(&'static str),
    /// A field outside its rules.
    #[error("{0}")]
    Invalid(&'static str),
}
