//! One session on the technician's side: the commands for it go to the
//! protocol session (which refuses what the permission set or the
//! customer's consent does not allow, before anything is sent), and what
//! the applet sends becomes events.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use secours_peer::{App, AppError, FileDesk};
use secours_protocol::consent::{ConsentEvent, Decision};
use secours_protocol::pb::{self, EndReason, Permission};
use secours_protocol::session::Event;
use secours_protocol::signaling::Perm;
use secours_protocol::{Message, Session};
use tokio::sync::mpsc;

use crate::commands::{Command, ConsoleEvent};
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
    files: crate::file_manager::FileManager,
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
            files: Default::default(),
        })
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
                let button = match button.as_deref() {
                    Some("middle") => pb::Button::Middle,
                    Some("right") => pb::Button::Right,
                    _ => pb::Button::Left,
                } as i32;
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
                if let Err(e) = s.send_chat(&text, 0, now) {
                    self.refused(format!("chat: {e}"));
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
                match s.request(Permission::SendFiles, &file_label(&path), now) {
                    Ok(Decision::Allowed) => self.offer(s, &path, now),
                    // Offered once the customer says yes.
                    Ok(Decision::Pending(_)) => self.waiting_files.push(path),
                    Err(e) => self.refused(format!("send file: {e}")),
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
                        decoded: self.viewer.decoded,
                    }),
                    Err(e) => self.refused(format!("snapshot: {e}")),
                }
                None
            }
            Command::End { .. } | Command::Quit => {
                if !self.ending {
                    self.ending = true;
                    s.close(
                        EndReason::ByTechnician,
                        "The technician ended the session",
                        now,
                    );
                }
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

    fn offer(&mut self, s: &mut Session, path: &std::path::Path, now: Instant) {
        if let Err(e) = self.desk.offer(s, path, now) {
            self.refused(format!("send file: {e}"));
        }
    }

    fn handle(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        let id = self.session_id.clone();
        match event {
            Event::Established(e) => self.emit(ConsoleEvent::Established {
                session_id: id,
                sas: e.sas.to_string(),
                permissions: e.permissions.granted().map(wire_name).collect(),
            }),
            Event::Consent(ConsentEvent::Granted { actions, .. }) => {
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
                Ok(Some((width, height))) if !self.first_frame => {
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
                    // A frame the decoder refuses: ask for a fresh start.
                    tracing::warn!(error = %e, "video frame refused");
                    let _ = s.send_reply(
                        Message::KeyframeRequest(pb::KeyframeRequest {
                            last_good_frame: v.frame_number.saturating_sub(1),
                        }),
                        now,
                    );
                }
            },
            Event::Message(m @ (Message::FileList(_) | Message::FileActionResult(_))) => {
                if let Some(e) = self.files.on_message(&m) {
                    self.emit(e.into_event(&id));
                }
            }
            Event::Chat { text, .. } => self.emit(ConsoleEvent::Chat {
                session_id: id,
                text,
            }),
            Event::Transfer(t) => {
                let (sent, received) = (self.desk.sent.len(), self.desk.received.len());
                if let Err(e) = self.desk.on_event(s, &t, now) {
                    self.refused(format!("file: {e}"));
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
            Event::Closed { reason, error } => {
                let reason = match error {
                    Some(e) => format!("{reason:?}: {e}"),
                    None => format!("{reason:?}"),
                };
                self.emit(ConsoleEvent::Closed {
                    session_id: id,
                    reason,
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
        Ok(Some(now + Duration::from_millis(50)))
    }
}

/// Where a session's received files go.
pub fn received_dir(base: &std::path::Path, session_id: &str) -> PathBuf {
    base.join(session_id)
}
