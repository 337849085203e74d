//! What a session gives its driver: frames to send and events to act on.

use std::time::Duration;

use bytes::Bytes;

use crate::clipboard::ClipboardContent;
use crate::consent::ConsentEvent;
use crate::error::SessionError;
use crate::handshake::{Established, HandshakeConfig};
use crate::pb::{EndReason, Permission};
use crate::transfer::{TransferEvent, WINDOW};
use crate::wire::{Channel, Message};

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Identity, pairing and permissions for the handshake.
    pub handshake: HandshakeConfig,
    /// A `Ping` goes out when nothing was sent for this long.
    pub keepalive: Duration,
    /// The session fails when nothing arrived for this long.
    pub idle_timeout: Duration,
    /// Receive window of each incoming file, bytes.
    pub file_window: u64,
}

impl SessionConfig {
    /// Defaults for everything but the handshake.
    pub fn new(handshake: HandshakeConfig) -> Self {
        Self {
            handshake,
            keepalive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            file_window: WINDOW,
        }
    }
}

/// One frame to write on a channel's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The channel.
    pub channel: Channel,
    /// A whole frame: length prefix and body.
    pub data: Bytes,
}

/// Something the application must act on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake succeeded: show the short authentication string.
    Established(Established),
    /// Consent news (prompt the customer, granted, refused, revoked).
    Consent(ConsentEvent),
    /// Put this on the local clipboard.
    Clipboard(ClipboardContent),
    /// File transfer news.
    Transfer(TransferEvent),
    /// A chat message from the peer (peer data: escape before showing).
    Chat {
        /// Sender's id for the message.
        id: u64,
        /// Text.
        text: String,
        /// When the peer sent it, Unix milliseconds (the peer's clock).
        sent_unix_ms: u64,
    },
    /// The technician switched chat on or off (PERM-1).
    ChatEnabled(bool),
    /// An authorised application message: video, cursor, input, URL,
    /// system information, reboot, recording notice, hold/transfer, stats.
    Message(Message),
    /// The applet dropped an action the customer has not allowed.
    Refused {
        /// The action.
        action: Permission,
        /// The message that carried it.
        message: &'static str,
    },
    /// The peer's words as it ended the session (shown before `Closed`;
    /// peer data: escape before showing).
    Farewell {
        /// What the peer said.
        message: String,
    },
    /// A round trip measured by ping.
    Rtt(Duration),
    /// The session is over; nothing more will be sent or received.
    Closed {
        /// Why it ended.
        reason: EndReason,
        /// The error, if it failed.
        error: Option<SessionError>,
    },
}
