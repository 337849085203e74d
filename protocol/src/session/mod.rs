//! A session between a console and an applet, sans IO.
//!
//! # Run loop
//!
//! The driver owns the sockets and the clock; the session owns the protocol.
//!
//! ```text
//! loop {
//!     feed:  session.handle_data(channel, bytes, now)   // bytes read from a channel
//!            session.handle_timeout(now)                // when poll_timeout() passed
//!            commands (send_chat, request, offer_file, ...)
//!     drain: while let Some(t) = session.poll_transmit() { write t.data on t.channel }
//!            while let Some(e) = session.poll_event()    { act on e }
//!     sleep until session.poll_timeout() or the next read
//! }
//! ```
//!
//! Every error from the peer closes the session with an [`Event::Closed`]
//! carrying a typed [`SessionError`] and, where the peer can still hear it, an
//! `Error` message; nothing the peer sends can panic it.

mod commands;
mod event;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

pub use event::{Event, SessionConfig, Transmit};

use crate::clipboard::ClipboardSync;
use crate::consent::Consent;
use crate::error::SessionError;
use crate::handshake::Handshake;
use crate::pb::{self, ControlAction, EndReason, Permission, Role};
use crate::permissions::ChatMode;
use crate::transfer::Transfers;
use crate::wire::{self, Channel, Decoded, FrameReader, Message, message_name};

/// Where the session is.
#[derive(Debug)]
enum Phase {
    Handshaking(Box<Handshake>),
    Live(Box<Live>),
    Closed,
}

/// State of an established session.
#[derive(Debug)]
struct Live {
    consent: Consent,
    clipboard: ClipboardSync,
    transfers: Transfers,
    chat_enabled: bool,
    next_chat_id: u64,
    ping_outstanding: Option<(u64, Instant)>,
    next_ping_id: u64,
}

/// Most messages kept while the peer's `Ready` is on its way.
pub const MAX_EARLY: usize = 64;

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames decoded.
    pub frames_in: u64,
    /// Frames encoded.
    pub frames_out: u64,
    /// Frames of unknown type skipped.
    pub unknown_skipped: u64,
    /// Actions dropped for lack of permission or consent.
    pub refused: u64,
}

/// One side of a session. See the module docs for the run loop.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: SessionConfig,
    phase: Phase,
    readers: Vec<FrameReader>,
    queues: Vec<VecDeque<Bytes>>,
    events: VecDeque<Event>,
    last_received: Instant,
    last_sent: Instant,
    /// Something was queued since `last_sent` was last brought up to date.
    sent_pending: bool,
    /// Our closing `SessionControl`, sent after everything queued before it.
    closing_frame: Option<Bytes>,
    /// Messages that overtook the peer's `Ready` (other streams).
    early: VecDeque<Message>,
    stats: SessionStats,
}

impl Session {
    /// Starts a session: the `Hello` is queued at once.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let role = config.handshake.role;
        let handshake = Handshake::new(config.handshake.clone(), now);
        let mut s = Self {
            role,
            config,
            phase: Phase::Handshaking(Box::new(handshake)),
            readers: Channel::ALL.iter().map(|c| FrameReader::new(*c)).collect(),
            queues: Channel::ALL.iter().map(|_| VecDeque::new()).collect(),
            events: VecDeque::new(),
            last_received: now,
            last_sent: now,
            sent_pending: false,
            closing_frame: None,
            early: VecDeque::new(),
            stats: SessionStats::default(),
        };
        s.flush_handshake();
        s
    }

    /// Console or applet.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the handshake finished and the session is not closed.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Live(_))
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The effective permissions, once established.
    pub fn permissions(&self) -> Option<&crate::permissions::PermissionSet> {
        match &self.phase {
            Phase::Live(l) => Some(l.consent.permissions()),
            _ => None,
        }
    }

    /// Whether `action` may happen now: granted, and consented to when the
    /// group asks for consent (the applet pauses its screen until then).
    pub fn is_authorized(&self, action: crate::pb::Permission) -> bool {
        match &self.phase {
            Phase::Live(l) => l.consent.is_authorized(action),
            _ => false,
        }
    }

    /// Bytes read from a channel's stream.
    pub fn handle_data(&mut self, channel: Channel, data: &[u8], now: Instant) {
        if self.is_closed() {
            return;
        }
        let idx = Self::index(channel);
        self.readers[idx].push(data);
        loop {
            if self.is_closed() {
                return;
            }
            match self.readers[idx].next_frame() {
                Ok(Some(decoded)) => self.on_decoded(channel, decoded, now),
                Ok(None) => break,
                Err(e) => return self.fail(e.into(), now),
            }
        }
        self.mark_sent(now);
    }

    /// One whole frame body, for transports that deliver messages rather than
    /// a byte stream (datagrams, WebSocket messages).
    pub fn handle_frame_body(&mut self, channel: Channel, body: Bytes, now: Instant) {
        if self.is_closed() {
            return;
        }
        match wire::decode_body(channel, body) {
            Ok(decoded) => self.on_decoded(channel, decoded, now),
            Err(e) => self.fail(e.into(), now),
        }
        self.mark_sent(now);
    }

    fn on_decoded(&mut self, channel: Channel, decoded: Decoded, now: Instant) {
        self.last_received = now;
        self.stats.frames_in += 1;
        match decoded {
            Decoded::Unknown => {
                self.stats.unknown_skipped += 1;
                tracing::debug!(%channel, "skipped a message of unknown type");
            }
            Decoded::Message(m) => {
                let _span =
                    tracing::trace_span!("recv", %channel, msg = message_name(&m)).entered();
                if let Err(e) = self.on_message(m, now) {
                    self.fail(e, now);
                }
            }
        }
    }

    fn on_message(&mut self, message: Message, now: Instant) -> Result<(), SessionError> {
        if let Message::Error(e) = &message {
            return Err(SessionError::Peer {
                code: pb::ErrorCode::try_from(e.code).unwrap_or(pb::ErrorCode::Unspecified),
                message: e.message.clone(),
            });
        }
        match &mut self.phase {
            Phase::Closed => Ok(()),
            Phase::Handshaking(hs) => {
                // The peer's Ready travels on the control stream, its first
                // chat or input on others: they may overtake it. Once the peer
                // proved itself (Auth verified), keep them until Ready.
                if Channel::of(&message) != Channel::Control && hs.awaits_ready() {
                    if self.early.len() >= MAX_EARLY {
                        return Err(SessionError::Violation(
                            "too many messages before Ready".into(),
                        ));
                    }
                    self.early.push_back(message);
                    return Ok(());
                }
                hs.handle_message(message)?;
                if let Some(established) = hs.take_established() {
                    self.flush_handshake();
                    let mut consent = Consent::new(self.role, established.permissions.clone());
                    consent.start(now);
                    let chat_enabled = established.permissions.allows(Permission::Chat)
                        && established.permissions.chat_mode != ChatMode::OffToggle;
                    self.phase = Phase::Live(Box::new(Live {
                        consent,
                        clipboard: ClipboardSync::new(self.role),
                        transfers: Transfers::new(self.role, self.config.file_window),
                        chat_enabled,
                        next_chat_id: 1,
                        ping_outstanding: None,
                        next_ping_id: 1,
                    }));
                    tracing::info!(sas = %established.sas, version = established.version, "session established");
                    self.events.push_back(Event::Established(established));
                    self.flush_live();
                    while let Some(early) = self.early.pop_front() {
                        self.on_live_message(early, now)?;
                        self.flush_live();
                    }
                } else {
                    self.flush_handshake();
                }
                Ok(())
            }
            Phase::Live(_) => {
                self.on_live_message(message, now)?;
                self.flush_live();
                Ok(())
            }
        }
    }

    fn on_live_message(&mut self, message: Message, now: Instant) -> Result<(), SessionError> {
        let role = self.role;
        let Phase::Live(live) = &mut self.phase else {
            return Ok(());
        };
        let name = message_name(&message);
        if !direction_ok(&message, role) {
            return Err(SessionError::Unexpected {
                message: name,
                state: "established (wrong direction)",
            });
        }
        if live.consent.handle_message(&message, now) {
            return Ok(());
        }
        match message {
            Message::Ping(p) => {
                let frame = Message::Pong(pb::Pong { id: p.id });
                self.queue(frame);
            }
            Message::Pong(p) => {
                if let Some((id, sent)) = live.ping_outstanding {
                    if id == p.id {
                        live.ping_outstanding = None;
                        self.events
                            .push_back(Event::Rtt(now.saturating_duration_since(sent)));
                    }
                }
            }
            Message::SessionControl(c) if c.action == ControlAction::End as i32 => {
                let reason = EndReason::try_from(c.reason).unwrap_or(EndReason::Unspecified);
                self.phase = Phase::Closed;
                if !c.message.is_empty() {
                    self.events.push_back(Event::Farewell {
                        message: c.message.clone(),
                    });
                }
                self.events.push_back(Event::Closed {
                    reason,
                    error: None,
                });
            }
            Message::ClipboardUpdate(u) => {
                if live.consent.is_authorized(Permission::Clipboard) {
                    live.clipboard.handle_update(u)?;
                } else {
                    self.refuse(Permission::Clipboard, name);
                }
            }
            Message::ChatMessage(c) => {
                if live.chat_enabled {
                    self.events.push_back(Event::Chat {
                        id: c.id,
                        text: c.text,
                        sent_unix_ms: c.sent_unix_ms,
                    });
                } else {
                    self.refuse(Permission::Chat, name);
                }
            }
            Message::ChatState(s) => {
                if live.consent.permissions().allows(Permission::Chat) {
                    live.chat_enabled = s.enabled;
                    self.events.push_back(Event::ChatEnabled(s.enabled));
                }
            }
            Message::FileOffer(offer) => {
                // Into a folder of the customer's choice is the file
                // manager's (PERM-6); into the received folder, a sent file
                // (PERM-4). The console takes what it asked for through the
                // file manager too.
                let action = match role {
                    Role::Applet if !offer.target_dir.is_empty() => Permission::FileManager,
                    Role::Applet => Permission::SendFiles,
                    _ => Permission::ReceiveFiles,
                };
                let allowed = if role == Role::Applet {
                    live.consent.authorize(action).is_ok()
                } else {
                    let p = live.consent.permissions();
                    p.allows(action) || p.allows(Permission::FileManager)
                };
                if allowed {
                    live.transfers
                        .handle_message(Message::FileOffer(offer), now)?;
                } else {
                    self.queue(Message::FileAnswer(pb::FileAnswer {
                        id: offer.id,
                        accept: false,
                        reason: "not permitted".into(),
                        ..Default::default()
                    }));
                    self.refuse(action, name);
                }
            }
            m if Transfers::handles(&m) => live.transfers.handle_message(m, now)?,
            Message::VideoFrame(_)
            | Message::CursorShape(_)
            | Message::CursorPosition(_)
            | Message::WhiteboardStroke(_)
            | Message::WhiteboardClear(_) => {
                // The screen, and what is drawn over it, go with viewing.
                let c = &live.consent;
                if c.is_authorized(Permission::DesktopView)
                    || c.is_authorized(Permission::RemoteControl)
                {
                    self.events.push_back(Event::Message(message));
                } else {
                    self.refuse(Permission::DesktopView, name);
                }
            }
            m => match action_of(&m) {
                Some(action) if role == Role::Applet => {
                    if live.consent.authorize(action).is_ok() {
                        self.events.push_back(Event::Message(m));
                    } else {
                        self.refuse(action, name);
                    }
                }
                _ => match m {
                    Message::Hello(_)
                    | Message::Auth(_)
                    | Message::Capabilities(_)
                    | Message::Permissions(_)
                    | Message::Ready(_) => {
                        return Err(SessionError::Unexpected {
                            message: name,
                            state: "established",
                        });
                    }
                    m => self.events.push_back(Event::Message(m)),
                },
            },
        }
        Ok(())
    }

    fn refuse(&mut self, action: Permission, message: &'static str) {
        self.stats.refused += 1;
        // Logged at 1, 2, 4, 8... refusals: a flood stays a few lines.
        if self.stats.refused.is_power_of_two() {
            tracing::warn!(
                ?action,
                message,
                refused = self.stats.refused,
                "refused an action without permission or consent"
            );
        }
        self.events.push_back(Event::Refused { action, message });
    }

    /// Handles the passing of time: deadlines, keepalive, idle peers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let result = match &mut self.phase {
            Phase::Closed => return,
            Phase::Handshaking(hs) => hs.handle_timeout(now),
            Phase::Live(live) => {
                live.consent.handle_timeout(now);
                live.transfers.handle_timeout(now);
                if now.saturating_duration_since(self.last_received) >= self.config.idle_timeout {
                    Err(SessionError::IdleTimeout)
                } else {
                    if now.saturating_duration_since(self.last_sent) >= self.config.keepalive
                        && live.ping_outstanding.is_none()
                    {
                        let id = live.next_ping_id;
                        live.next_ping_id += 1;
                        live.ping_outstanding = Some((id, now));
                        self.queue(Message::Ping(pb::Ping { id }));
                    }
                    Ok(())
                }
            }
        };
        match result {
            Ok(()) => {
                self.flush_live();
                // A lost pong must not stop the keepalive for good.
                if let Phase::Live(live) = &mut self.phase {
                    if live.ping_outstanding.is_some_and(|(_, t)| {
                        now.saturating_duration_since(t) >= self.config.idle_timeout / 2
                    }) {
                        live.ping_outstanding = None;
                    }
                }
                self.mark_sent(now);
            }
            Err(e) => self.fail(e, now),
        }
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Closed => None,
            Phase::Handshaking(hs) => hs.poll_timeout(),
            Phase::Live(live) => {
                let mut t = self.last_received + self.config.idle_timeout;
                if live.ping_outstanding.is_none() {
                    t = t.min(self.last_sent + self.config.keepalive);
                } else if let Some((_, sent)) = live.ping_outstanding {
                    t = t.min(sent + self.config.idle_timeout / 2);
                }
                [live.consent.poll_timeout(), live.transfers.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .fold(t, Instant::min)
                    .into()
            }
        }
    }

    /// Frames queued and not yet taken by `poll_transmit`, for drivers that
    /// hold back bulk reads while the link is busy.
    pub fn queued_frames(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum::<usize>()
            + usize::from(self.closing_frame.is_some())
    }

    /// The next frame to write, highest-priority channel first.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        for (i, channel) in Channel::ALL.iter().enumerate() {
            if let Some(data) = self.queues[i].pop_front() {
                return Some(Transmit {
                    channel: *channel,
                    data,
                });
            }
        }
        // The end goes last, so the chat line typed before "end" is not lost
        // behind it.
        self.closing_frame.take().map(|data| Transmit {
            channel: Channel::Control,
            data,
        })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn index(channel: Channel) -> usize {
        Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0)
    }

    /// Encodes a message onto its channel's queue.
    fn queue(&mut self, message: Message) {
        let channel = Channel::of(&message);
        let name = message_name(&message);
        match wire::encode_to_bytes(message) {
            Ok(frame) => {
                self.stats.frames_out += 1;
                self.sent_pending = true;
                self.queues[Self::index(channel)].push_back(frame);
            }
            // Only our own bug can get here (validated commands); say so loudly
            // but keep the session.
            Err(e) => {
                tracing::error!(message = name, error = %e, "could not encode an outgoing message")
            }
        }
    }

    fn flush_handshake(&mut self) {
        let mut msgs = Vec::new();
        if let Phase::Handshaking(hs) = &mut self.phase {
            while let Some(m) = hs.poll_message() {
                msgs.push(m);
            }
        }
        for m in msgs {
            self.queue(m);
        }
    }

    /// Moves the sub-machines' messages and events to the session's queues.
    fn flush_live(&mut self) {
        let Phase::Live(live) = &mut self.phase else {
            return;
        };
        let mut msgs = Vec::new();
        while let Some(m) = live.consent.poll_message() {
            msgs.push(m);
        }
        while let Some(m) = live.clipboard.poll_message() {
            msgs.push(m);
        }
        while let Some(m) = live.transfers.poll_message() {
            msgs.push(m);
        }
        while let Some(e) = live.consent.poll_event() {
            self.events.push_back(Event::Consent(e));
        }
        while let Some(c) = live.clipboard.poll_apply() {
            self.events.push_back(Event::Clipboard(c));
        }
        while let Some(e) = live.transfers.poll_event() {
            self.events.push_back(Event::Transfer(e));
        }
        for m in msgs {
            self.queue(m);
        }
    }

    /// Brings the keepalive clock up to date after an entry point queued.
    fn mark_sent(&mut self, now: Instant) {
        if std::mem::take(&mut self.sent_pending) {
            self.last_sent = now;
        }
    }

    /// Ends the session with an error: tells the peer, then closes.
    fn fail(&mut self, error: SessionError, now: Instant) {
        if self.is_closed() {
            return;
        }
        tracing::warn!(%error, "session failed");
        if !matches!(error, SessionError::Peer { .. }) {
            let mut message = error.to_string();
            message.truncate(wire::validate::MAX_TEXT / 2);
            while !message.is_char_boundary(message.len()) {
                message.pop();
            }
            self.queue(Message::Error(pb::Error {
                code: error.code() as i32,
                message,
            }));
        }
        self.mark_sent(now);
        self.phase = Phase::Closed;
        let reason = match error {
            SessionError::IdleTimeout | SessionError::HandshakeTimeout => EndReason::TimedOut,
            _ => EndReason::Error,
        };
        self.events.push_back(Event::Closed {
            reason,
            error: Some(error),
        });
    }
}

/// The permission an action message needs (checked by the applet on receipt
/// and by the console before sending).
pub(crate) fn action_of(message: &Message) -> Option<Permission> {
    Some(match message {
        Message::PointerMove(_)
        | Message::PointerButton(_)
        | Message::PointerWheel(_)
        | Message::Key(_)
        | Message::Text(_) => Permission::RemoteControl,
        Message::UrlPush(_) => Permission::SendUrl,
        Message::SystemInfoRequest(_) => Permission::SystemInfo,
        Message::RebootRequest(_) => Permission::Reboot,
        Message::FileListRequest(_) | Message::FileAction(_) => Permission::FileManager,
        Message::RecordingNotice(_) => Permission::Record,
        Message::SessionControl(c) if c.action == ControlAction::Transfer as i32 => {
            Permission::Transfer
        }
        _ => return None,
    })
}

/// Whether a peer of the other role may send this message to a `receiver`.
fn direction_ok(message: &Message, receiver: Role) -> bool {
    let from_console = matches!(
        message,
        Message::PointerMove(_)
            | Message::PointerButton(_)
            | Message::PointerWheel(_)
            | Message::Key(_)
            | Message::Text(_)
            | Message::WhiteboardStroke(_)
            | Message::WhiteboardClear(_)
            | Message::UrlPush(_)
            | Message::SystemInfoRequest(_)
            | Message::RebootRequest(_)
            | Message::FileListRequest(_)
            | Message::FileAction(_)
            | Message::RecordingNotice(_)
            | Message::ConsentRequest(_)
            | Message::ChatState(_)
            | Message::KeyframeRequest(_)
    );
    let from_applet = matches!(
        message,
        Message::VideoFrame(_)
            | Message::CursorShape(_)
            | Message::CursorPosition(_)
            | Message::SystemInfo(_)
            | Message::FileList(_)
            | Message::FileActionResult(_)
            | Message::ConsentAnswer(_)
            | Message::ConsentRevoke(_)
            | Message::ReconnectToken(_)
    );
    match receiver {
        Role::Applet => !from_applet,
        Role::Console => !from_console,
        _ => false,
    }
}
