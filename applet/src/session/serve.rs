//! What the applet does in a session: asks the customer's consent as the
//! server's granted set says, sends the screen once allowed, injects the
//! technician's input (the session has already checked the permission and
//! the consent; positions map from the video back to the screen), chats,
//! receives files into the customer's folder, and ends.

use std::path::Path;
use std::time::{Duration, Instant};

use secours_peer::{App, AppError, FileDesk};
use secours_protocol::consent::ConsentEvent;
use secours_protocol::pb::{self, EndReason, Permission};
use secours_protocol::session::Event;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::{CommandError, Message, Session};
use secours_transport::LinkStats;

use super::file_manager::FileManager;
use super::screen::ScreenStream;
use super::terminal::{Reply, Terminal, sanitize};
use crate::input::{InputInjector, MouseButton, video_to_screen};

/// The applet's side of one session.
pub struct AppletApp {
    screen: ScreenStream,
    injector: Option<Box<dyn InputInjector>>,
    screen_size: (u32, u32),
    terminal: Terminal,
    desk: FileDesk,
    files: FileManager,
    /// How the session ended, once it has.
    pub end: Option<EndReason>,
    /// Input events injected.
    pub injected: u64,
    /// Input events dropped (outside the screen, no injector).
    pub dropped: u64,
    quit: bool,
}

impl std::fmt::Debug for AppletApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppletApp")
            .field("screen_size", &self.screen_size)
            .field("injected", &self.injected)
            .finish_non_exhaustive()
    }
}

impl AppletApp {
    /// `received`: where files from the technician land.
    pub fn new(
        screen: ScreenStream,
        injector: Option<Box<dyn InputInjector>>,
        screen_size: (u32, u32),
        terminal: Terminal,
        received: &Path,
    ) -> Self {
        Self {
            screen,
            injector,
            screen_size,
            terminal,
            desk: FileDesk::new(received),
            files: FileManager::new(None),
            end: None,
            injected: 0,
            dropped: 0,
            quit: false,
        }
    }

    /// The file manager's root (`None`: the home folder).
    pub fn with_files_root(mut self, root: Option<&Path>) -> Self {
        self.files = FileManager::new(root);
        self
    }

    fn update_screen(&self, s: &Session) {
        self.screen.allow(
            s.is_authorized(Permission::DesktopView) || s.is_authorized(Permission::RemoteControl),
        );
    }

    fn inject(&mut self, m: &Message) -> Result<(), crate::AppletError> {
        let Some(inj) = self.injector.as_mut() else {
            self.dropped += 1;
            return Ok(());
        };
        let video = self.screen.video_size();
        let video = if video.0 == 0 {
            self.screen_size
        } else {
            video
        };
        let at = |x: i32, y: i32| video_to_screen(x, y, video, self.screen_size);
        match m {
            Message::PointerMove(p) => match at(p.x, p.y) {
                Some((x, y)) => inj.pointer_move(x, y)?,
                None => {
                    self.dropped += 1;
                    return Ok(());
                }
            },
            Message::PointerButton(b) => {
                if let Some((x, y)) = at(b.x, b.y) {
                    inj.pointer_move(x, y)?;
                }
                let button = match pb::Button::try_from(b.button) {
                    Ok(pb::Button::Middle) => MouseButton::Middle,
                    Ok(pb::Button::Right) => MouseButton::Right,
                    Ok(pb::Button::Back) => MouseButton::Back,
                    Ok(pb::Button::Forward) => MouseButton::Forward,
                    _ => MouseButton::Left,
                };
                inj.button(button, b.pressed)?;
            }
            Message::PointerWheel(w) => inj.wheel(w.dx, w.dy)?,
            Message::Key(k) => inj.key(k.keysym, k.pressed)?,
            Message::Text(t) => inj.text(&t.text)?,
            _ => return Ok(()),
        }
        self.injected += 1;
        Ok(())
    }

    fn handle(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        match event {
            Event::Established(e) => {
                self.terminal.say(&format!(
                    "Secure connection established. Short authentication string: {} \
                     (your technician sees the same digits)",
                    e.sas
                ));
                self.update_screen(s);
            }
            Event::Consent(ConsentEvent::Prompt {
                id,
                actions,
                detail,
            }) => {
                let names: Vec<&str> = actions.iter().map(|a| describe(*a)).collect();
                self.terminal.ask(
                    id,
                    &format!(
                        "Your technician asks to {} ({}). Allow?",
                        names.join(", "),
                        sanitize(&detail)
                    ),
                );
            }
            Event::Consent(_) => self.update_screen(s),
            Event::Message(Message::KeyframeRequest(_)) => self.screen.keyframe(),
            Event::Message(Message::RecordingNotice(r)) => self.terminal.say(if r.recording {
                "This session is being recorded."
            } else {
                "Recording stopped."
            }),
            Event::Message(m @ (Message::FileListRequest(_) | Message::FileAction(_))) => {
                self.files
                    .on_message(s, &mut self.desk, &self.terminal, &m, now)?;
            }
            Event::Message(m) => {
                if let Err(e) = self.inject(&m) {
                    // A key without a key code, a position off screen: that
                    // event is lost, the session goes on.
                    tracing::debug!(error = %e, "input not injected");
                    self.dropped += 1;
                }
            }
            Event::Refused { action, .. } => self.terminal.say(&format!(
                "Blocked: your technician tried to {} without your permission.",
                describe(action)
            )),
            Event::Chat { text, .. } => self
                .terminal
                .say(&format!("Technician: {}", sanitize(&text))),
            Event::Transfer(TransferEvent::Offered {
                id,
                name,
                size,
                target_dir,
                ..
            }) if !target_dir.is_empty() => {
                self.files.on_offer(
                    s,
                    &mut self.desk,
                    &self.terminal,
                    id,
                    &name,
                    size,
                    &target_dir,
                    now,
                )?;
            }
            Event::Transfer(t) => {
                if let TransferEvent::Offered { name, size, .. } = &t {
                    self.terminal.say(&format!(
                        "Receiving {} ({size} bytes) from your technician.",
                        sanitize(name)
                    ));
                }
                let received = self.desk.received.len();
                self.desk.on_event(s, &t, now)?;
                for (d, path) in &self.desk.received[received..] {
                    self.terminal.say(&format!(
                        "Received {} into {} (MD5 {}, {}).",
                        sanitize(&d.name),
                        path.display(),
                        hex::encode(d.md5),
                        if d.verified { "verified" } else { "MISMATCH" }
                    ));
                }
            }
            Event::Closed { reason, error } => {
                self.screen.allow(false);
                self.end = Some(reason);
                if let Some(e) = error {
                    return Err(format!("the session failed: {e}").into());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// How an action reads in a consent question.
fn describe(p: Permission) -> &'static str {
    match p {
        Permission::RemoteControl => "control your screen",
        Permission::DesktopView => "view your screen",
        Permission::SendFiles => "send you a file",
        Permission::ReceiveFiles => "receive your files",
        Permission::FileManager => "browse your files",
        Permission::SendUrl => "open a web page",
        Permission::SystemInfo => "read your system information",
        Permission::Reboot => "restart your computer",
        Permission::Record => "record this session",
        Permission::Clipboard => "share the clipboard",
        _ => "act on your computer",
    }
}

impl App for AppletApp {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        self.handle(s, event, now)
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        while let Some(reply) = self.terminal.try_reply() {
            match reply {
                Reply::Consent { id, allow } => s.answer_consent(id, allow, now)?,
                Reply::Chat(text) => {
                    s.send_chat(&text, 0, now)?;
                }
                Reply::Quit if !self.quit => {
                    self.quit = true;
                    s.close(EndReason::ByCustomer, "The customer ended the session", now);
                }
                Reply::Quit => {}
            }
        }
        if s.is_established() {
            // Consent answered here, revoked, or granted without a prompt:
            // the screen follows the session's own view.
            self.update_screen(s);
            while let Some(messages) = self.screen.try_next()? {
                for m in messages {
                    match s.send_video(m, now) {
                        Ok(()) => {}
                        // Withdrawn meanwhile: stop, restart from a keyframe.
                        Err(CommandError::NoConsent(_)) => {
                            self.update_screen(s);
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        self.desk.pump(s, now)?;
        // The screen thread and the terminal wake the driver; the file
        // desk is pumped at least this often.
        Ok(Some(now + Duration::from_millis(50)))
    }

    fn link_stats(&mut self, stats: &LinkStats) {
        self.screen.follow_link(stats.send_rate_bps);
    }

    fn video_dropped(&mut self, _frames: u64) {
        self.screen.keyframe();
    }
}
