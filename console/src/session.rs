//! One session on the technician's side: the commands for it go to the
//! protocol session (which refuses what the permission set or the
//! customer's consent does not allow, before anything is sent), and what
//! the applet sends becomes events.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use secours_codec::recording::{RecordedEvent, Side};
use secours_peer::{App, AppError, FileDesk};
use secours_protocol::consent::{ConsentEvent, Decision};
use secours_protocol::pb::{self, EndReason, Permission};
use secours_protocol::session::Event;
use secours_protocol::signaling::Perm;
use secours_protocol::{Message, Session, SessionError};
use secours_transport::LinkStats;
use tokio::sync::mpsc;

use crate::commands::{Command, ConsoleEvent, InfoItem};

mod clipboard;
use crate::viewer::Viewer;

/// The console's side of one session.
#[derive(Debug)]
pub struct ConsoleApp {
    session_id: String,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ConsoleEvent>,
    viewer: Viewer,
    desk: FileDesk,
    picked_at: Instant,
    first_frame: bool,
    ending: bool,
    /// Files waiting for the customer's consent, oldest first.
    waiting_files: Vec<PathBuf>,
    /// One-shot actions (URL, system information, reboot) waiting for the
    /// customer's consent, oldest first.
    waiting_actions: Vec<(Permission, Message)>,
    next_request_id: u64,
    /// Files interrupted by a lost link, offered again on the next session.
    resend: Vec<PathBuf>,
    /// The session's folder (received files, clipboard images, recording).
    dir: PathBuf,
    clipboard_images: u32,
    stats: LinkStats,
    ping: Option<Duration>,
    /// Why the session ended, once it has.
    pub closed: Option<String>,
    /// When progress was last reported, and what it was.
    progress_at: Instant,
    progress_said: std::collections::HashMap<(bool, u64), u64>,
    files: crate::file_manager::FileManager,
    /// A window's copy of the screen, when there is a window.
    screens: Option<crate::screens::Screens>,
    /// Whiteboard strokes sent (their ids).
    strokes: u64,
}

/// How often file progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A mouse button by name (left unless said otherwise).
fn button_named(name: Option<&str>) -> pb::Button {
    match name {
        Some("middle") => pb::Button::Middle,
        Some("right") => pb::Button::Right,
        _ => pb::Button::Left,
    }
}

/// A permission by its signaling name (`remote_control`...).
fn permission(name: &str) -> Option<Permission> {
    Perm::ALL
        .iter()
        .find(|p| p.name() == name)
        .and_then(|p| p.to_wire())
}

fn wire_name(p: Permission) -> String {
    Perm::ALL
        .iter()
        .find(|q| q.to_wire() == Some(p))
        .map_or_else(|| format!("{p:?}"), |q| q.name().to_owned())
}

impl ConsoleApp {
    /// `received`: where the customer's files land.
    pub fn new(
        session_id: String,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::UnboundedSender<ConsoleEvent>,
        received: &std::path::Path,
        picked_at: Instant,
    ) -> Result<Self, crate::viewer::ViewerError> {
        Ok(Self {
            session_id,
            commands,
            events,
            viewer: Viewer::new(0)?,
            desk: FileDesk::new(received),
            picked_at,
            first_frame: false,
            ending: false,
            waiting_files: Vec::new(),
            waiting_actions: Vec::new(),
            next_request_id: 1,
            resend: Vec::new(),
            dir: received.to_owned(),
            clipboard_images: 0,
            stats: LinkStats::default(),
            ping: None,
            closed: None,
            progress_at: picked_at,
            progress_said: std::collections::HashMap::new(),
            files: Default::default(),
            screens: None,
            strokes: 0,
        })
    }

    /// Shares every decoded picture and the cursor with a window.
    pub fn with_screens(mut self, screens: Option<crate::screens::Screens>) -> Self {
        self.screens = screens;
        self
    }

    fn share_picture(&self) {
        if let (Some(screens), Some(p)) = (&self.screens, self.viewer.newest()) {
            screens.picture(&self.session_id, p);
        }
    }

    /// Reports the transfers that moved since the last report.
    fn report_progress(&mut self, now: Instant) {
        if now.duration_since(self.progress_at) < PROGRESS_EVERY {
            return;
        }
        self.progress_at = now;
        let progress = self.desk.progress();
        self.progress_said
            .retain(|k, _| progress.iter().any(|p| (p.sending, p.id) == *k));
        for p in progress {
            if self.progress_said.insert((p.sending, p.id), p.done) == Some(p.done) {
                continue;
            }
            self.emit(ConsoleEvent::Progress {
                session_id: self.session_id.clone(),
                direction: if p.sending { "sending" } else { "receiving" }.into(),
                name: p.name,
                bytes: p.done,
                size: p.size,
            });
        }
    }

    /// The link went under a live session: transfers stop; the files still
    /// to send go again once the next session is up.
    pub fn interrupted(&mut self) {
        self.resend = self.desk.interrupted();
        self.waiting_files.clear();
        self.waiting_actions.clear();
        self.first_frame = false;
    }

    /// Ends the Y4M stream, if one runs, and says what it holds.
    pub fn end_stream(&mut self) {
        if let Some((path, frames)) = self.viewer.stop_stream() {
            self.emit(ConsoleEvent::Stream {
                session_id: self.session_id.clone(),
                path,
                frames,
            });
        }
    }

    /// The session ended for good: unfinished incoming files go.
    pub fn abandon_files(&mut self) {
        self.desk.abandon();
    }

    /// Ends the recording, if one runs, and says what it holds.
    pub fn finish_recording(&mut self) {
        if !self.viewer.recording() {
            return;
        }
        match self.viewer.stop_recording() {
            Ok(r) => self.emit(ConsoleEvent::Recording {
                session_id: self.session_id.clone(),
                recording: false,
                video: r.video,
                events: r.events,
                frames: r.summary.frames,
                keyframes: r.summary.keyframes,
                seconds: r.summary.span_us as f64 / 1e6,
                event_lines: r.event_lines,
            }),
            Err(e) => self.refused(format!("recording: {e}")),
        }
    }

    fn record(&mut self, s: &mut Session, on: bool, dir: Option<PathBuf>, now: Instant) {
        if on == self.viewer.recording() {
            self.refused(format!(
                "record: {}",
                if on {
                    "already recording"
                } else {
                    "not recording"
                }
            ));
            return;
        }
        // The customer is told first (SEC-6); refused when the group may
        // not record.
        let notice = Message::RecordingNotice(pb::RecordingNotice { recording: on });
        if let Err(e) = s.send_action(notice, now) {
            self.refused(format!("record: {e}"));
            return;
        }
        if !on {
            self.finish_recording();
            return;
        }
        let dir = dir.unwrap_or_else(|| self.dir.clone());
        match self.viewer.start_recording(&dir, &self.session_id, now) {
            Ok(()) => self.emit(ConsoleEvent::Recording {
                session_id: self.session_id.clone(),
                recording: true,
                video: dir.join("session.webm"),
                events: dir.join("session.events.jsonl"),
                frames: 0,
                keyframes: 0,
                seconds: 0.0,
                event_lines: 0,
            }),
            Err(e) => self.refused(format!("record: {e}")),
        }
        // Ask for a keyframe: the recording starts with one.
        let _ = s.send_reply(
            Message::KeyframeRequest(pb::KeyframeRequest { last_good_frame: 0 }),
            now,
        );
    }

    /// A one-shot action: asks the customer (when the group says so) and
    /// sends the message once allowed.
    fn act(&mut self, s: &mut Session, what: &str, message: Message, detail: &str, now: Instant) {
        let Some(action) = action_permission(&message) else {
            return;
        };
        // A message that could never be sent is refused before the
        // customer is asked.
        if let Err(v) = secours_protocol::wire::validate::validate(&message) {
            self.refused(format!("{what}: {}: {}", v.field, v.reason));
            return;
        }
        match s.request(action, detail, now) {
            Ok(Decision::Allowed) => {
                if let Err(e) = s.send_action(message, now) {
                    self.refused(format!("{what}: {e}"));
                }
            }
            Ok(Decision::Pending(_)) => self.waiting_actions.push((action, message)),
            Err(e) => self.refused(format!("{what}: {e}")),
        }
    }

    /// The customer answered: the oldest action waiting for `actions` goes
    /// (allowed) or is dropped (refused).
    fn answered(&mut self, s: &mut Session, actions: &[Permission], allowed: bool, now: Instant) {
        let Some(i) = self
            .waiting_actions
            .iter()
            .position(|(p, _)| actions.contains(p))
        else {
            return;
        };
        let (_, message) = self.waiting_actions.remove(i);
        if allowed && let Err(e) = s.send_action(message, now) {
            self.refused(format!("{}: {e}", wire_name(actions[0])));
        }
    }

    fn log(&mut self, now: Instant, event: &RecordedEvent) {
        if let Err(e) = self.viewer.log(now, event) {
            tracing::warn!(error = %e, "event log");
        }
    }

    fn emit(&self, e: ConsoleEvent) {
        let _ = self.events.send(e);
    }

    fn refused(&self, reason: String) {
        self.emit(ConsoleEvent::Refused {
            session_id: Some(self.session_id.clone()),
            reason,
        });
    }

    /// Runs one command; a refusal is an event, never the session's end.
    fn command(&mut self, s: &mut Session, c: Command, now: Instant) -> Result<(), AppError> {
        let action = |m: Message| -> Option<Message> { Some(m) };
        let input = match c {
            Command::Move { x, y, .. } => action(Message::PointerMove(pb::PointerMove { x, y })),
            Command::Click { x, y, button, .. } => {
                let button = button_named(button.as_deref()) as i32;
                for pressed in [true, false] {
                    let m = Message::PointerButton(pb::PointerButton {
                        button,
                        pressed,
                        x,
                        y,
                    });
                    if let Err(e) = s.send_action(m, now) {
                        self.refused(format!("click: {e}"));
                        return Ok(());
                    }
                }
                None
            }
            Command::Button {
                x,
                y,
                button,
                pressed,
                ..
            } => action(Message::PointerButton(pb::PointerButton {
                button: button_named(Some(&button)) as i32,
                pressed,
                x,
                y,
            })),
            Command::Draw {
                points, rgb, width, ..
            } => {
                self.strokes += 1;
                let stroke = Message::WhiteboardStroke(pb::WhiteboardStroke {
                    id: self.strokes,
                    points,
                    rgb: rgb.unwrap_or(0xe0_1b_24),
                    width: width.unwrap_or(4),
                });
                if let Err(e) = s.send_whiteboard(stroke, now) {
                    self.refused(format!("draw: {e}"));
                }
                None
            }
            Command::ClearDrawing { .. } => {
                let clear = Message::WhiteboardClear(pb::WhiteboardClear {});
                if let Err(e) = s.send_whiteboard(clear, now) {
                    self.refused(format!("clear the drawing: {e}"));
                }
                None
            }
            Command::Wheel { dx, dy, .. } => {
                action(Message::PointerWheel(pb::PointerWheel { dx, dy }))
            }
            Command::Key {
                keysym, pressed, ..
            } => action(Message::Key(pb::Key {
                keysym,
                scancode: 0,
                pressed,
                modifiers: 0,
            })),
            Command::Type { text, .. } => action(Message::Text(pb::Text { text })),
            Command::Chat { text, .. } => {
                match s.send_chat(&text, 0, now) {
                    Ok(_) => self.log(
                        now,
                        &RecordedEvent::Chat {
                            from: Side::Technician,
                            text,
                        },
                    ),
                    Err(e) => self.refused(format!("chat: {e}")),
                }
                None
            }
            Command::Request { permission: p, .. } => {
                match permission(&p) {
                    None => self.refused(format!("no permission called {p:?}")),
                    Some(perm) => match s.request(perm, "Your technician asks", now) {
                        Ok(Decision::Allowed) => self.emit(ConsoleEvent::Consent {
                            session_id: self.session_id.clone(),
                            allowed: true,
                            actions: vec![p],
                        }),
                        Ok(Decision::Pending(_)) => {}
                        Err(e) => self.refused(format!("{p}: {e}")),
                    },
                }
                None
            }
            Command::SendFile { path, .. } => {
                self.send_file(s, path, now);
                None
            }
            Command::Reboot { .. } => {
                let m = Message::RebootRequest(pb::RebootRequest {
                    mode: pb::RebootMode::Normal as i32,
                });
                self.act(s, "reboot", m, "restart your computer", now);
                None
            }
            Command::SystemInfo { .. } => {
                let id = self.next_request_id;
                self.next_request_id += 1;
                let m = Message::SystemInfoRequest(pb::SystemInfoRequest { id });
                self.act(
                    s,
                    "system information",
                    m,
                    "read your system information",
                    now,
                );
                None
            }
            Command::OpenUrl { url, .. } => {
                let detail = format!("open {url}");
                let m = Message::UrlPush(pb::UrlPush { url });
                self.act(s, "open URL", m, &detail, now);
                None
            }
            Command::Clipboard { text, image, .. } => {
                self.clipboard(s, text, image, now);
                None
            }
            Command::Record { on, dir, .. } => {
                self.record(s, on, dir, now);
                None
            }
            Command::Stats { .. } => {
                self.emit(ConsoleEvent::Stats {
                    session_id: self.session_id.clone(),
                    rtt_ms: self.stats.rtt.as_secs_f64() * 1e3,
                    ping_ms: self.ping.map(|d| d.as_secs_f64() * 1e3),
                    bytes_sent: self.stats.bytes_sent,
                    bytes_received: self.stats.bytes_received,
                    send_rate_bps: self.stats.send_rate_bps,
                    screen: self.viewer.counters,
                });
                None
            }
            Command::Stream { path, .. } => {
                match path {
                    Some(p) => {
                        if let Err(e) = self.viewer.start_stream(&p) {
                            self.refused(format!("stream: {e}"));
                        }
                    }
                    None => self.end_stream(),
                }
                None
            }
            c @ (Command::List { .. }
            | Command::Get { .. }
            | Command::Put { .. }
            | Command::Rename { .. }
            | Command::Delete { .. }) => {
                if let Some(e) = self.files.command(s, &mut self.desk, c, now) {
                    self.emit(e.into_event(&self.session_id));
                }
                None
            }
            Command::Snapshot { path, .. } => {
                match self.viewer.snapshot(&path) {
                    Ok((width, height)) => self.emit(ConsoleEvent::Snapshot {
                        session_id: self.session_id.clone(),
                        path,
                        width,
                        height,
                        decoded: self.viewer.counters.decoded,
                    }),
                    Err(e) => self.refused(format!("snapshot: {e}")),
                }
                None
            }
            Command::End { reason, .. } => {
                self.end(s, reason.as_deref(), now);
                None
            }
            Command::Quit => {
                self.end(s, None, now);
                None
            }
            other => {
                self.refused(format!("not a command for a running session: {other:?}"));
                None
            }
        };
        if let Some(m) = input
            && let Err(e) = s.send_action(m, now)
        {
            // Refused here, before sending: not granted, or no consent yet.
            self.refused(format!("input: {e}"));
        }
        Ok(())
    }

    fn end(&mut self, s: &mut Session, reason: Option<&str>, now: Instant) {
        if !self.ending {
            self.ending = true;
            let words = reason.unwrap_or("The technician ended the session");
            s.close(EndReason::ByTechnician, words, now);
        }
    }

    fn send_file(&mut self, s: &mut Session, path: PathBuf, now: Instant) {
        match s.request(Permission::SendFiles, &file_label(&path), now) {
            Ok(Decision::Allowed) => self.offer(s, &path, now),
            // Offered once the customer says yes.
            Ok(Decision::Pending(_)) => self.waiting_files.push(path),
            Err(e) => self.refused(format!("send file: {e}")),
        }
    }

    fn offer(&mut self, s: &mut Session, path: &std::path::Path, now: Instant) {
        if let Err(e) = self.desk.offer(s, path, now) {
            self.refused(format!("send file: {e}"));
        }
    }

    fn handle(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        let id = self.session_id.clone();
        match event {
            Event::Established(e) => {
                self.emit(ConsoleEvent::Established {
                    session_id: id,
                    sas: e.sas.to_string(),
                    permissions: e.permissions.granted().map(wire_name).collect(),
                });
                // Back after the applet's restart: interrupted files resume
                // from what the customer's side holds (asked again).
                for path in std::mem::take(&mut self.resend) {
                    self.send_file(s, path, now);
                }
            }
            Event::Consent(ConsentEvent::Granted { actions, .. }) => {
                self.answered(s, &actions, true, now);
                if actions.contains(&Permission::SendFiles) {
                    // One consent, one file (a one-shot action).
                    if !self.waiting_files.is_empty() {
                        let path = self.waiting_files.remove(0);
                        self.offer(s, &path, now);
                    }
                }
                self.emit(ConsoleEvent::Consent {
                    session_id: id,
                    allowed: true,
                    actions: actions.into_iter().map(wire_name).collect(),
                });
            }
            Event::Consent(ConsentEvent::Refused { actions, .. }) => {
                self.answered(s, &actions, false, now);
                if actions.contains(&Permission::SendFiles) && !self.waiting_files.is_empty() {
                    self.waiting_files.remove(0);
                }
                self.emit(ConsoleEvent::Consent {
                    session_id: id,
                    allowed: false,
                    actions: actions.into_iter().map(wire_name).collect(),
                });
            }
            Event::Message(Message::VideoFrame(v)) => match self.viewer.on_frame(&v) {
                Ok(Some(_)) if self.screens.is_some() && self.first_frame => self.share_picture(),
                Ok(Some((width, height))) if !self.first_frame => {
                    self.share_picture();
                    self.first_frame = true;
                    self.emit(ConsoleEvent::FirstFrame {
                        session_id: id,
                        width,
                        height,
                        ms_since_pickup: now.duration_since(self.picked_at).as_secs_f64() * 1e3,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    // A frame the decoder refuses (its references were
                    // dropped on a busy link): ask for a fresh start.
                    tracing::warn!(error = %e, "video frame refused");
                    let _ = s.send_reply(
                        Message::KeyframeRequest(pb::KeyframeRequest {
                            last_good_frame: v.frame_number.saturating_sub(1),
                        }),
                        now,
                    );
                }
            },
            Event::Message(m @ (Message::CursorShape(_) | Message::CursorPosition(_))) => {
                self.viewer.on_cursor(&m);
                if let Some(screens) = &self.screens {
                    screens.cursor(&self.session_id, &m);
                }
            }
            Event::Clipboard(content) => self.on_clipboard(content, now),
            Event::Message(m @ (Message::FileList(_) | Message::FileActionResult(_))) => {
                if let Some(e) = self.files.on_message(&m) {
                    self.emit(e.into_event(&id));
                }
            }
            Event::Message(Message::SystemInfo(info)) => self.emit(ConsoleEvent::SystemInfo {
                session_id: id,
                items: info
                    .items
                    .into_iter()
                    .map(|i| InfoItem {
                        section: i.section,
                        key: i.key,
                        value: i.value,
                    })
                    .collect(),
            }),
            Event::Rtt(rtt) => self.ping = Some(rtt),
            Event::Chat { text, .. } => {
                self.log(
                    now,
                    &RecordedEvent::Chat {
                        from: Side::Customer,
                        text: text.clone(),
                    },
                );
                self.emit(ConsoleEvent::Chat {
                    session_id: id,
                    text,
                });
            }
            Event::Transfer(t) => {
                let (sent, received) = (self.desk.sent.len(), self.desk.received.len());
                if let Err(e) = self.desk.on_event(s, &t, now) {
                    self.refused(format!("file: {e}"));
                }
                let done: Vec<_> = self.desk.sent[sent..]
                    .iter()
                    .map(|d| (Side::Technician, d.clone()))
                    .chain(
                        self.desk.received[received..]
                            .iter()
                            .map(|(d, _)| (Side::Customer, d.clone())),
                    )
                    .collect();
                for (from, d) in done {
                    self.log(
                        now,
                        &RecordedEvent::File {
                            from,
                            name: d.name,
                            size: d.size,
                            md5: hex::encode(d.md5),
                        },
                    );
                }
                for d in &self.desk.sent[sent..] {
                    self.emit(ConsoleEvent::File {
                        session_id: id.clone(),
                        direction: "sent".into(),
                        name: d.name.clone(),
                        size: d.size,
                        md5: hex::encode(d.md5),
                        verified: d.verified,
                        path: None,
                    });
                }
                for (d, p) in &self.desk.received[received..] {
                    self.emit(ConsoleEvent::File {
                        session_id: id.clone(),
                        direction: "received".into(),
                        name: d.name.clone(),
                        size: d.size,
                        md5: hex::encode(d.md5),
                        verified: d.verified,
                        path: Some(p.clone()),
                    });
                }
            }
            // The applet went silent: a lost link, not an end; the
            // session's task waits for the applet to come back.
            Event::Closed {
                error: Some(SessionError::IdleTimeout),
                ..
            } => {}
            Event::Closed { reason, error } => {
                self.log(
                    now,
                    &RecordedEvent::SessionEnd {
                        reason: format!("{reason:?}"),
                    },
                );
                self.finish_recording();
                self.end_stream();
                // Said by the session's task, with the path it ended on.
                self.closed = Some(match error {
                    Some(e) => format!("{reason:?}: {e}"),
                    None => format!("{reason:?}"),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

fn file_label(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl App for ConsoleApp {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        self.handle(s, event, now)
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        while let Ok(c) = self.commands.try_recv() {
            self.command(s, c, now)?;
        }
        self.desk.pump(s, now)?;
        self.report_progress(now);
        Ok(Some(now + Duration::from_millis(50)))
    }

    fn link_stats(&mut self, stats: &LinkStats) {
        self.stats = *stats;
    }
}

/// The permission an action message needs.
fn action_permission(m: &Message) -> Option<Permission> {
    Some(match m {
        Message::UrlPush(_) => Permission::SendUrl,
        Message::SystemInfoRequest(_) => Permission::SystemInfo,
        Message::RebootRequest(_) => Permission::Reboot,
        _ => return None,
    })
}

/// Where a session's received files go.
pub fn received_dir(base: &std::path::Path, session_id: &str) -> PathBuf {
    base.join(session_id)
}
