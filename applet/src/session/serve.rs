//! What the applet does in a session: asks the customer's consent as the
//! server's granted set says, sends the screen once allowed, injects the
//! technician's input (the session has already checked the permission and
//! the consent; positions map from the video back to the screen), shares
//! the clipboard, chats, receives files into the customer's folder, sends
//! the files the customer chooses, and ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use secours_peer::{App, AppError, FileDesk};
use secours_protocol::consent::ConsentEvent;
use secours_protocol::pb::{self, EndReason, Permission};
use secours_protocol::session::Event;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::{CommandError, Message, Session};
use secours_transport::LinkStats;

use super::clipboard::{ClipboardNews, DesktopClipboard};
use super::customer::{Customer, Reply, Status, sanitize};
use super::file_manager::FileManager;
use super::screen::ScreenStream;
use crate::input::priority::{ActivityProbe, CustomerFirst, Priority};
use crate::input::{InputInjector, MouseButton, video_to_screen};

/// The applet's side of one session.
pub struct AppletApp {
    screen: ScreenStream,
    injector: Option<Box<dyn InputInjector>>,
    screen_size: (u32, u32),
    customer: Customer,
    desk: FileDesk,
    clipboard: Clipboard,
    /// System information being gathered (off the driver's thread).
    info: Option<std_mpsc::Receiver<pb::SystemInfo>>,
    options: ServeOptions,
    /// The computer restarts: the session is left to resume, not ended.
    pub rebooting: bool,
    /// The customer's own input, watched for APPLET-3.
    activity: Option<(Box<dyn ActivityProbe>, CustomerFirst)>,
    priority_said: Option<Instant>,
    /// When each refused action was last reported to the customer.
    blocked_said: std::collections::HashMap<Permission, Instant>,
    files: FileManager,
    whiteboard: Whiteboard,
    /// How the session ended, once it has.
    pub end: Option<EndReason>,
    /// Input events injected.
    pub injected: u64,
    /// Input events dropped (outside the screen, no injector).
    pub dropped: u64,
    quit: bool,
}

/// How the applet serves a session.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where files from the technician land.
    pub received: PathBuf,
    /// Whether there is a desktop clipboard to share ($DISPLAY's).
    pub clipboard: bool,
    /// Wakes the session's driver (clipboard news, system information).
    pub wake: Arc<Notify>,
    /// Opens a web page the technician pushed: the program, then its
    /// arguments; the URL is added as the last argument (never a shell).
    pub url_opener: Vec<String>,
    /// Restarts the computer (CONSOLE-9): the program, then its arguments.
    pub reboot_command: Vec<String>,
    /// Who has the mouse and keyboard when both act (APPLET-3).
    pub priority: Priority,
}

/// The technician's drawings over the screen (CONSOLE-4), opened at the
/// first stroke.
#[derive(Debug)]
enum Whiteboard {
    /// No desktop to draw on (a synthetic screen).
    None,
    /// Not opened yet: the display.
    Closed(Option<String>),
    Open(crate::overlay::Overlay),
}

/// The desktop clipboard, opened once the customer allows sharing it.
enum Clipboard {
    /// No desktop (a synthetic screen).
    None,
    /// Not opened yet; `wake` wakes the driver when it has news.
    Closed(Arc<Notify>),
    Open(DesktopClipboard, Arc<Notify>),
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
    /// The applet's side of a session on this screen and input.
    pub fn new(
        screen: ScreenStream,
        injector: Option<Box<dyn InputInjector>>,
        screen_size: (u32, u32),
        customer: Customer,
        options: ServeOptions,
    ) -> Self {
        let clipboard = if options.clipboard {
            Clipboard::Closed(options.wake.clone())
        } else {
            Clipboard::None
        };
        Self {
            screen,
            injector,
            screen_size,
            customer,
            desk: FileDesk::new(&options.received),
            clipboard,
            info: None,
            options,
            rebooting: false,
            activity: None,
            priority_said: None,
            blocked_said: std::collections::HashMap::new(),
            files: FileManager::new(None),
            whiteboard: Whiteboard::None,
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

    /// Shows the technician's whiteboard strokes on `display`'s screen.
    #[must_use]
    pub fn with_whiteboard(mut self, display: Option<String>) -> Self {
        self.whiteboard = Whiteboard::Closed(display);
        self
    }

    /// A stroke or a clear from the technician (the session checked that
    /// the customer allows viewing).
    fn draw(&mut self, m: &Message) {
        if let Whiteboard::Closed(display) = &self.whiteboard {
            match crate::overlay::Overlay::open(display.as_deref()) {
                Ok(o) => self.whiteboard = Whiteboard::Open(o),
                Err(e) => {
                    tracing::warn!(error = %e, "no whiteboard");
                    self.customer
                        .say("Your technician's drawings cannot be shown on this screen.");
                    self.whiteboard = Whiteboard::None;
                }
            }
        }
        let Whiteboard::Open(overlay) = &self.whiteboard else {
            return;
        };
        let video = match self.screen.video_size() {
            (0, _) | (_, 0) => self.screen_size,
            v => v,
        };
        match m {
            Message::WhiteboardStroke(s) => {
                let points = s
                    .points
                    .chunks_exact(2)
                    .filter_map(|p| video_to_screen(p[0], p[1], video, self.screen_size))
                    .filter_map(|(x, y)| Some((i16::try_from(x).ok()?, i16::try_from(y).ok()?)))
                    .collect();
                overlay.stroke(crate::overlay::Stroke {
                    points,
                    rgb: s.rgb,
                    width: u16::try_from(s.width).unwrap_or(4),
                });
            }
            Message::WhiteboardClear(_) => overlay.clear(),
            _ => {}
        }
    }

    /// Watches the customer's own mouse and keyboard through `probe`.
    #[must_use]
    pub fn with_activity(mut self, probe: Box<dyn ActivityProbe>) -> Self {
        self.activity = Some((probe, CustomerFirst::new(self.options.priority)));
        self
    }

    /// The session is over: unfinished incoming files are deleted.
    pub fn abandon_files(&mut self) {
        self.desk.abandon();
    }

    /// Opens, feeds or closes the desktop clipboard as the session's
    /// consent says; what the customer copies goes to the technician.
    fn share_clipboard(&mut self, s: &mut Session, now: Instant) -> Result<(), AppError> {
        let allowed = s.is_authorized(Permission::Clipboard);
        self.clipboard = match std::mem::replace(&mut self.clipboard, Clipboard::None) {
            Clipboard::Closed(wake) if allowed => match DesktopClipboard::start(wake.clone()) {
                Ok(board) => Clipboard::Open(board, wake),
                Err(e) => {
                    self.customer
                        .say(&format!("The clipboard cannot be shared: {e}"));
                    Clipboard::None
                }
            },
            // Withdrawn: the thread stops reading.
            Clipboard::Open(_, wake) if !allowed => Clipboard::Closed(wake),
            other => other,
        };
        if let Clipboard::Open(board, _) = &mut self.clipboard {
            while let Some(news) = board.try_news() {
                match news {
                    ClipboardNews::Changed(content) => match s.clipboard_changed(content, now) {
                        Ok(_) => {}
                        Err(e @ CommandError::Invalid(_)) => {
                            self.customer.say(&format!("Your copy was not shared: {e}"))
                        }
                        Err(e) => return Err(e.into()),
                    },
                    ClipboardNews::Problem(p) => self.customer.say(&p),
                }
            }
        }
        Ok(())
    }

    /// Gathers the system information on a thread of its own (it measures
    /// CPU usage over an interval); one request at a time.
    fn gather_info(&mut self, id: u64) {
        if self.info.is_some() {
            return;
        }
        let (tx, rx) = std_mpsc::channel();
        let wake = self.options.wake.clone();
        let spawned = std::thread::Builder::new()
            .name("secours-sysinfo".into())
            .spawn(move || {
                let items = crate::sysinfo::collect();
                let _ = tx.send(pb::SystemInfo { id, items });
                wake.notify_one();
            });
        match spawned {
            Ok(_) => {
                self.info = Some(rx);
                self.customer
                    .say("Your technician reads this computer's system information.");
            }
            Err(e) => tracing::warn!(error = %e, "no system information thread"),
        }
    }

    /// Opens a pushed web page with the desktop's opener (the session has
    /// checked it is http or https).
    fn open_url(&mut self, url: &str) {
        let shown = sanitize(url);
        let Some((program, args)) = self.options.url_opener.split_first() else {
            return;
        };
        let started = std::process::Command::new(program)
            .args(args)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match started {
            Ok(mut child) => {
                // Reaped on a thread: the opener may keep running.
                std::thread::spawn(move || child.wait());
                self.customer
                    .say(&format!("Your technician opened {shown} in your browser."));
            }
            Err(e) => self.customer.say(&format!("Could not open {shown}: {e}")),
        }
    }

    /// Restarts the computer after the customer's yes: the reconnection
    /// file is kept and an autostart entry brings the applet back at login;
    /// the session is left to resume (the server waits for the applet).
    fn reboot(&mut self) {
        if let Err(e) = super::resume::autostart_after_reboot() {
            tracing::warn!(error = %e, "no autostart entry");
        }
        self.customer.say(
            "Your technician restarts this computer. Secours reconnects after it \
             (or run `secours applet --reconnect`).",
        );
        let Some((program, args)) = self.options.reboot_command.split_first() else {
            return;
        };
        match std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .status()
        {
            Ok(status) if status.success() => self.rebooting = true,
            Ok(status) => self.customer.say(&format!(
                "The restart failed ({status}); the session goes on."
            )),
            Err(e) => self
                .customer
                .say(&format!("The restart failed ({e}); the session goes on.")),
        }
    }

    /// APPLET-3: samples the customer's own mouse and keyboard; with
    /// "customer first", their activity holds the technician's input back.
    fn watch_customer(&mut self, s: &Session, now: Instant) {
        let Some((probe, judge)) = self.activity.as_mut() else {
            return;
        };
        if !s.is_authorized(Permission::RemoteControl) {
            return;
        }
        match probe.sample() {
            Ok(sample) => {
                let was_free = judge.technician_may(now);
                if judge.observe(sample, now)
                    && was_free
                    && self.options.priority == Priority::Customer
                    && self
                        .priority_said
                        .is_none_or(|t| now.duration_since(t) >= BLOCKED_NOTICE_EVERY * 6)
                {
                    self.priority_said = Some(now);
                    self.customer.say(
                        "You are using your mouse or keyboard: your technician's input waits \
                         until you stop for a moment.",
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "no input sample"),
        }
    }

    fn inject(&mut self, m: &Message, now: Instant) -> Result<(), crate::AppletError> {
        if let Some((_, judge)) = &self.activity
            && !judge.technician_may(now)
        {
            self.dropped += 1;
            return Ok(());
        }
        let Some(inj) = self.injector.as_mut() else {
            self.dropped += 1;
            return Ok(());
        };
        let mut moved_to = None;
        let video = self.screen.video_size();
        let video = if video.0 == 0 {
            self.screen_size
        } else {
            video
        };
        let at = |x: i32, y: i32| video_to_screen(x, y, video, self.screen_size);
        match m {
            Message::PointerMove(p) => match at(p.x, p.y) {
                Some((x, y)) => {
                    inj.pointer_move(x, y)?;
                    moved_to = Some((x, y));
                }
                None => {
                    self.dropped += 1;
                    return Ok(());
                }
            },
            Message::PointerButton(b) => {
                if let Some((x, y)) = at(b.x, b.y) {
                    inj.pointer_move(x, y)?;
                    moved_to = Some((x, y));
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
        if let Some((_, judge)) = &mut self.activity {
            match moved_to {
                Some(p) => judge.injected_pointer(p, now),
                None => judge.injected_key(now),
            }
        }
        self.injected += 1;
        Ok(())
    }

    fn handle(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        match event {
            Event::Established(e) => {
                self.customer.tell(Status::Secure(e.sas.to_string()));
                self.update_screen(s);
            }
            Event::Consent(ConsentEvent::Prompt {
                id,
                actions,
                detail,
            }) => {
                let names: Vec<&str> = actions.iter().map(|a| describe(*a)).collect();
                self.customer.ask(
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
            Event::Message(m @ (Message::WhiteboardStroke(_) | Message::WhiteboardClear(_))) => {
                self.draw(&m);
            }
            // The session checked the permission and the customer's consent.
            Event::Message(Message::SystemInfoRequest(r)) => self.gather_info(r.id),
            Event::Message(Message::UrlPush(u)) => self.open_url(&u.url),
            Event::Message(Message::RebootRequest(_)) => self.reboot(),
            Event::Message(Message::RecordingNotice(r)) => {
                self.customer.tell(Status::Recording(r.recording));
            }
            Event::Message(m @ (Message::FileListRequest(_) | Message::FileAction(_))) => {
                self.files
                    .on_message(s, &mut self.desk, &self.customer, &m, now)?;
            }
            Event::Message(m) => {
                if let Err(e) = self.inject(&m, now) {
                    // A key without a key code, a position off screen: that
                    // event is lost, the session goes on.
                    tracing::debug!(error = %e, "input not injected");
                    self.dropped += 1;
                }
            }
            Event::Clipboard(content) => {
                self.share_clipboard(s, now)?;
                match &self.clipboard {
                    Clipboard::Open(board, _) => board.apply(content),
                    _ => self
                        .customer
                        .say("The technician's copy was not applied: no clipboard is shared."),
                }
            }
            Event::Farewell { message } => self.customer.say(&format!(
                "Your technician ended the session: {}",
                sanitize(&message)
            )),
            Event::Refused { action, .. } => {
                // Said once per action every few seconds: a flood of
                // refused input is not a flood of lines.
                let last = self.blocked_said.insert(action, now);
                if last.is_none_or(|t| now.duration_since(t) >= BLOCKED_NOTICE_EVERY) {
                    self.customer.say(&format!(
                        "Blocked: your technician tried to {} without your permission.",
                        describe(action)
                    ));
                } else if let Some(t) = last {
                    self.blocked_said.insert(action, t);
                }
            }
            Event::Chat { text, .. } => self
                .customer
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
                    &self.customer,
                    id,
                    &name,
                    size,
                    &target_dir,
                    now,
                )?;
            }
            Event::Transfer(t) => {
                if let TransferEvent::Offered { name, size, .. } = &t {
                    self.customer.say(&format!(
                        "Receiving {} ({size} bytes) from your technician.",
                        sanitize(name)
                    ));
                }
                let received = self.desk.received.len();
                self.desk.on_event(s, &t, now)?;
                for (d, path) in &self.desk.received[received..] {
                    self.customer.say(&format!(
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

/// How often a refused action is reported to the customer.
const BLOCKED_NOTICE_EVERY: Duration = Duration::from_secs(5);

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
        if self.rebooting {
            // Leave without ending the session: it resumes after the restart.
            return Err("the computer restarts".into());
        }
        while let Some(reply) = self.customer.try_reply() {
            match reply {
                Reply::Consent { id, allow } => s.answer_consent(id, allow, now)?,
                Reply::Chat(text) => {
                    s.send_chat(&text, 0, now)?;
                }
                Reply::SendFile(path) => match self.desk.offer(s, &path, now) {
                    Ok(_) => self
                        .customer
                        .say(&format!("Sending {} to your technician.", path.display())),
                    Err(e) => self.customer.say(&format!("Not sent: {e}")),
                },
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
        if s.is_established() {
            self.share_clipboard(s, now)?;
            self.watch_customer(s, now);
        }
        if let Some(rx) = &self.info {
            match rx.try_recv() {
                Ok(info) => {
                    self.info = None;
                    s.send_reply(Message::SystemInfo(info), now)?;
                }
                Err(std_mpsc::TryRecvError::Empty) => {}
                Err(std_mpsc::TryRecvError::Disconnected) => self.info = None,
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
