//! Logical channels and the limits of each class.
//!
//! The transport carries each channel on its own stream (or datagram flow), so
//! a frame's channel is known before it is decoded: the decoder checks the
//! length prefix against the class limit before buffering anything, and the
//! decoded message against the set of messages the channel may carry.

use std::fmt;

use crate::wire::Message;

/// A logical channel of a session (PROTOCOL.md "Channels").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Handshake, consent, session control, signaling. Reliable, ordered.
    Control,
    /// Pointer and keyboard. Reliable, ordered, small, highest priority.
    Input,
    /// Screen frames and cursor. A late frame may be dropped.
    Video,
    /// Clipboard sync. Reliable, ordered.
    Clipboard,
    /// File transfer and file manager data. Bulk, lowest priority.
    File,
    /// Chat. Reliable, ordered.
    Chat,
}

impl Channel {
    /// Every channel, in priority order (highest first).
    pub const ALL: [Channel; 6] = [
        Channel::Input,
        Channel::Control,
        Channel::Chat,
        Channel::Video,
        Channel::Clipboard,
        Channel::File,
    ];

    /// The hard maximum of a frame body on this channel, in bytes.
    pub const fn max_frame(self) -> u32 {
        match self {
            Channel::Control => 256 * 1024,
            Channel::Input => 4 * 1024,
            Channel::Video => 8 * 1024 * 1024,
            Channel::Clipboard => 9 * 1024 * 1024,
            Channel::File => 1024 * 1024,
            Channel::Chat => 16 * 1024,
        }
    }

    /// Stable number of the channel, used by transports to name streams.
    pub const fn id(self) -> u8 {
        match self {
            Channel::Control => 0,
            Channel::Input => 1,
            Channel::Video => 2,
            Channel::Clipboard => 3,
            Channel::File => 4,
            Channel::Chat => 5,
        }
    }

    /// The channel with this stable number.
    pub const fn from_id(id: u8) -> Option<Channel> {
        Some(match id {
            0 => Channel::Control,
            1 => Channel::Input,
            2 => Channel::Video,
            3 => Channel::Clipboard,
            4 => Channel::File,
            5 => Channel::Chat,
            _ => return None,
        })
    }

    /// The channel a message travels on. Every message has exactly one.
    pub fn of(message: &Message) -> Channel {
        use Message as M;
        match message {
            M::Hello(_)
            | M::Auth(_)
            | M::Capabilities(_)
            | M::Permissions(_)
            | M::Ready(_)
            | M::ConsentRequest(_)
            | M::ConsentAnswer(_)
            | M::ConsentRevoke(_)
            | M::KeyframeRequest(_)
            | M::RecordingNotice(_)
            | M::UrlPush(_)
            | M::SystemInfoRequest(_)
            | M::SystemInfo(_)
            | M::RebootRequest(_)
            | M::ReconnectToken(_)
            | M::SessionControl(_)
            | M::LinkStats(_)
            | M::Ping(_)
            | M::Pong(_)
            | M::Error(_) => Channel::Control,
            M::VideoFrame(_) | M::CursorShape(_) | M::CursorPosition(_) => Channel::Video,
            M::PointerMove(_)
            | M::PointerButton(_)
            | M::PointerWheel(_)
            | M::Key(_)
            | M::Text(_)
            | M::WhiteboardStroke(_)
            | M::WhiteboardClear(_) => Channel::Input,
            M::ClipboardUpdate(_) => Channel::Clipboard,
            M::FileOffer(_)
            | M::FileAnswer(_)
            | M::FileChunk(_)
            | M::FileCredit(_)
            | M::FileComplete(_)
            | M::FileResult(_)
            | M::FileCancel(_)
            | M::FileListRequest(_)
            | M::FileList(_)
            | M::FileAction(_)
            | M::FileActionResult(_) => Channel::File,
            M::ChatMessage(_) | M::ChatState(_) => Channel::Chat,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Control => "control",
            Channel::Input => "input",
            Channel::Video => "video",
            Channel::Clipboard => "clipboard",
            Channel::File => "file",
            Channel::Chat => "chat",
        })
    }
}

/// The message's name as the spec writes it, for errors and logs.
pub fn message_name(message: &Message) -> &'static str {
    use Message as M;
    match message {
        M::Hello(_) => "Hello",
        M::Auth(_) => "Auth",
        M::Capabilities(_) => "Capabilities",
        M::Permissions(_) => "PermissionSet",
        M::Ready(_) => "Ready",
        M::ConsentRequest(_) => "ConsentRequest",
        M::ConsentAnswer(_) => "ConsentAnswer",
        M::ConsentRevoke(_) => "ConsentRevoke",
        M::KeyframeRequest(_) => "KeyframeRequest",
        M::RecordingNotice(_) => "RecordingNotice",
        M::UrlPush(_) => "UrlPush",
        M::SystemInfoRequest(_) => "SystemInfoRequest",
        M::SystemInfo(_) => "SystemInfo",
        M::RebootRequest(_) => "RebootRequest",
        M::ReconnectToken(_) => "ReconnectToken",
        M::SessionControl(_) => "SessionControl",
        M::LinkStats(_) => "LinkStats",
        M::Ping(_) => "Ping",
        M::Pong(_) => "Pong",
        M::Error(_) => "Error",
        M::FileListRequest(_) => "FileListRequest",
        M::FileList(_) => "FileList",
        M::FileAction(_) => "FileAction",
        M::FileActionResult(_) => "FileActionResult",
        M::VideoFrame(_) => "VideoFrame",
        M::CursorShape(_) => "CursorShape",
        M::CursorPosition(_) => "CursorPosition",
        M::PointerMove(_) => "PointerMove",
        M::PointerButton(_) => "PointerButton",
        M::PointerWheel(_) => "PointerWheel",
        M::Key(_) => "Key",
        M::Text(_) => "Text",
        M::WhiteboardStroke(_) => "WhiteboardStroke",
        M::WhiteboardClear(_) => "WhiteboardClear",
        M::ClipboardUpdate(_) => "ClipboardUpdate",
        M::FileOffer(_) => "FileOffer",
        M::FileAnswer(_) => "FileAnswer",
        M::FileChunk(_) => "FileChunk",
        M::FileCredit(_) => "FileCredit",
        M::FileComplete(_) => "FileComplete",
        M::FileResult(_) => "FileResult",
        M::FileCancel(_) => "FileCancel",
        M::ChatMessage(_) => "ChatMessage",
        M::ChatState(_) => "ChatState",
    }
}
