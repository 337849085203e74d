//! One session's tab: its state (what the console's events said), the side
//! panel (short authentication string, permissions, chat, files,
//! clipboard, system information, URL, reboot, recording, end), the status
//! bar, and the remote screen in the middle.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use eframe::egui::{self, RichText};

use super::desk::SessionDesk;
use super::screen::ScreenView;
use super::{MAX_LINES, shown};
use crate::commands::{Command, ConsoleEvent, InfoItem};
use crate::screens::Screens;

/// A file on its way or arrived.
#[derive(Debug, Clone)]
struct FileLine {
    sending: bool,
    name: String,
    bytes: u64,
    size: u64,
    md5: Option<(String, bool)>,
    path: Option<PathBuf>,
}

/// The figures of the status bar.
#[derive(Debug, Clone, Default)]
struct Figures {
    rtt_ms: f64,
    kbit_s: f64,
    /// Pictures decoded, and drawn in this window, per second.
    fps: f64,
    drawn_fps: f64,
    last: Option<(Instant, u64, u64, u64)>,
}

/// Permissions a technician asks for from the panel, with their labels.
const REQUESTS: [(&str, &str); 6] = [
    ("remote_control", "Remote control"),
    ("desktop_view", "View only"),
    ("send_files", "Send files"),
    ("receive_files", "Receive files"),
    ("file_manager", "File manager"),
    ("clipboard", "Clipboard"),
];

/// Predefined chat replies (CONSOLE-2), one click each.
const REPLIES: [&str; 5] = [
    "Hello, I am looking at your screen now.",
    "One moment please, I am checking.",
    "Could you describe what you see?",
    "Please do not touch your mouse or keyboard for a moment.",
    "The problem is solved. Is there anything else I can do for you?",
];

/// One session as the window shows it.
#[derive(Debug)]
pub struct SessionTab {
    /// Session id.
    pub id: String,
    customer: String,
    path: Option<String>,
    sas: Option<String>,
    granted: Vec<String>,
    allowed: Vec<String>,
    control: bool,
    /// Why it ended, once it has.
    pub closed: Option<String>,
    reconnecting: bool,
    lines: VecDeque<String>,
    chat: String,
    files: Vec<FileLine>,
    send_path: String,
    clipboard: String,
    url: String,
    info: Vec<InfoItem>,
    recording: bool,
    reason: String,
    transfer_to: String,
    figures: Figures,
    screen: ScreenView,
    desk: SessionDesk,
    /// The technician closed the ended tab.
    pub dismissed: bool,
}

impl SessionTab {
    /// A tab for `id`, the customer's name already safe to show.
    pub fn new(id: &str, customer: String) -> Self {
        Self {
            id: id.to_owned(),
            customer,
            path: None,
            sas: None,
            granted: Vec::new(),
            allowed: Vec::new(),
            control: false,
            closed: None,
            reconnecting: false,
            lines: VecDeque::new(),
            chat: String::new(),
            files: Vec::new(),
            send_path: String::new(),
            clipboard: String::new(),
            url: "https://".into(),
            info: Vec::new(),
            recording: false,
            reason: String::new(),
            transfer_to: String::new(),
            figures: Figures::default(),
            screen: ScreenView::default(),
            desk: SessionDesk::default(),
            dismissed: false,
        }
    }

    /// The tab's label.
    pub fn title(&self) -> String {
        if self.customer.is_empty() {
            format!("Session {}", &self.id[..self.id.len().min(6)])
        } else {
            self.customer.clone()
        }
    }

    /// A line in the session's log.
    pub fn line(&mut self, line: String) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(shown(&line));
    }

    /// What the console said about this session.
    pub fn on_event(&mut self, e: ConsoleEvent) {
        if self.desk.on_event(&e) {
            return;
        }
        match e {
            ConsoleEvent::Connected { path, .. } => {
                self.reconnecting = false;
                if !path.is_empty() {
                    self.path = Some(path);
                }
                self.line("Connecting to the customer...".into());
            }
            ConsoleEvent::Path {
                path,
                remote,
                reason,
                ..
            } => {
                let whither = remote.map(|r| format!(" ({r})")).unwrap_or_default();
                let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
                self.line(format!("Path: {path}{whither}{why}"));
                self.path = Some(path);
            }
            ConsoleEvent::Reconnecting { .. } => {
                self.reconnecting = true;
                self.line("The customer's computer went away; waiting for it to come back.".into());
            }
            ConsoleEvent::Established {
                sas, permissions, ..
            } => {
                self.reconnecting = false;
                self.line(format!(
                    "Secure. Ask the customer to read their code: {sas}"
                ));
                self.sas = Some(sas);
                self.granted = permissions;
            }
            ConsoleEvent::Consent {
                allowed, actions, ..
            } => {
                let word = if allowed { "allowed" } else { "refused" };
                self.line(format!("The customer {word}: {}", actions.join(", ")));
                if allowed {
                    self.control |= actions.iter().any(|a| a == "remote_control");
                    self.allowed.extend(actions);
                }
            }
            ConsoleEvent::FirstFrame { width, height, .. } => {
                self.line(format!("The customer's screen: {width}x{height}."));
            }
            ConsoleEvent::Chat { text, .. } => self.line(format!("Customer: {text}")),
            ConsoleEvent::Progress {
                direction,
                name,
                bytes,
                size,
                ..
            } => {
                let sending = direction == "sending";
                let name = shown(&name);
                match self
                    .files
                    .iter_mut()
                    .find(|f| f.sending == sending && f.name == name && f.md5.is_none())
                {
                    Some(f) => f.bytes = bytes,
                    None => self.files.push(FileLine {
                        sending,
                        name,
                        bytes,
                        size,
                        md5: None,
                        path: None,
                    }),
                }
            }
            ConsoleEvent::File {
                direction,
                name,
                size,
                md5,
                verified,
                path,
                ..
            } => {
                let sending = direction == "sent";
                let name = shown(&name);
                let line = FileLine {
                    sending,
                    name: name.clone(),
                    bytes: size,
                    size,
                    md5: Some((md5, verified)),
                    path,
                };
                match self
                    .files
                    .iter_mut()
                    .find(|f| f.sending == sending && f.name == name && f.md5.is_none())
                {
                    Some(f) => *f = line,
                    None => self.files.push(line),
                }
            }
            ConsoleEvent::Clipboard { text, image, .. } => {
                if let Some(t) = text {
                    self.line(format!("The customer copied: {t}"));
                }
                if let Some(p) = image {
                    self.line(format!("The customer copied an image: {}", p.display()));
                }
            }
            ConsoleEvent::SystemInfo { items, .. } => self.info = items,
            ConsoleEvent::Recording {
                recording, video, ..
            } => {
                self.recording = recording;
                let verb = if recording {
                    "Recording into"
                } else {
                    "Recorded"
                };
                self.line(format!("{verb} {}", video.display()));
            }
            ConsoleEvent::Stats {
                rtt_ms,
                bytes_received,
                screen,
                ..
            } => self.figures(rtt_ms, bytes_received, screen.decoded),
            ConsoleEvent::FileAction {
                action,
                path,
                ok,
                error,
                ..
            } => self.line(match (ok, error) {
                (true, _) => format!("{action} {path}: done"),
                (false, e) => format!("{action} {path}: {}", e.unwrap_or_default()),
            }),
            ConsoleEvent::FileList {
                path,
                entries,
                error,
                ..
            } => {
                self.line(match error {
                    Some(e) => format!("Listing {path}: {e}"),
                    None => format!(
                        "{}: {} entries",
                        if path.is_empty() { "/" } else { &path },
                        entries.len()
                    ),
                });
                for e in entries.iter().take(50) {
                    self.line(format!("  {}", e.name));
                }
            }
            ConsoleEvent::Closed { reason, .. } => {
                self.line(format!("The session ended: {reason}"));
                self.closed = Some(reason);
                self.control = false;
            }
            _ => {}
        }
    }

    fn figures(&mut self, rtt_ms: f64, bytes: u64, decoded: u64) {
        let now = Instant::now();
        let drawn = self.screen.uploaded;
        let f = &mut self.figures;
        f.rtt_ms = rtt_ms;
        if let Some((at, b, d, w)) = f.last {
            let dt = now.duration_since(at).as_secs_f64().max(1e-3);
            f.kbit_s = bytes.saturating_sub(b) as f64 * 8.0 / dt / 1e3;
            f.fps = decoded.saturating_sub(d) as f64 / dt;
            f.drawn_fps = drawn.saturating_sub(w) as f64 / dt;
            // For whoever reads the log (windowbench does).
            tracing::debug!(
                session = %self.id,
                decoded_per_s = f.fps,
                drawn_per_s = f.drawn_fps,
                picture = ?self.screen.picture_size(),
                "window figures"
            );
        }
        f.last = Some((now, bytes, decoded, drawn));
    }

    /// Draws the tab; what the technician asked for goes to `out`.
    pub fn show(&mut self, ui: &mut egui::Ui, screens: &Screens, out: &mut Vec<Command>) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                let f = &self.figures;
                ui.label(format!("{:.0} frames/s ({:.0} drawn)", f.fps, f.drawn_fps));
                ui.separator();
                ui.label(format!("path: {}", self.path.as_deref().unwrap_or("-")));
                ui.separator();
                ui.label(format!("RTT {:.1} ms", f.rtt_ms));
                ui.separator();
                ui.label(format!("{:.0} kbit/s", f.kbit_s));
                if self.recording {
                    ui.separator();
                    ui.colored_label(egui::Color32::from_rgb(0xc0, 0x1c, 0x28), "● recording");
                }
                if self.screen.keyboard {
                    ui.separator();
                    ui.label("keyboard captured (Ctrl+Alt+Esc releases it)");
                }
            });
        });
        egui::Panel::right("side")
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side(ui, out));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let live = self.closed.is_none();
            self.screen
                .show(ui, &self.id, screens, live && self.control, out);
        });
    }

    fn side(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let id = self.id.clone();
        let sid = || id.clone();
        ui.heading(self.title());
        if let Some(sas) = &self.sas {
            ui.horizontal(|ui| {
                ui.label("Security code:");
                ui.label(RichText::new(sas).monospace().size(20.0).strong());
            });
        }
        if self.reconnecting {
            ui.label("Waiting for the customer's computer to come back...");
        }
        if let Some(reason) = &self.closed {
            ui.label(RichText::new(format!("Ended: {reason}")).strong());
            if ui.button("Close tab").clicked() {
                self.dismissed = true;
            }
            ui.separator();
            // Notes and the survey come after the session too.
            self.desk.show(ui, &id, false, out);
            return;
        }
        ui.separator();
        ui.label(RichText::new("Ask the customer").strong());
        ui.horizontal_wrapped(|ui| {
            for (name, label) in REQUESTS {
                if !self.granted.iter().any(|g| g == name) {
                    continue;
                }
                let done = self.allowed.iter().any(|a| a == name);
                let button = if name == "remote_control" && !done {
                    super::primary(label)
                } else {
                    egui::Button::new(label)
                };
                if ui.add_enabled(!done, button).clicked() {
                    out.push(Command::Request {
                        session_id: sid(),
                        permission: name.into(),
                    });
                }
            }
        });
        ui.separator();
        ui.label(RichText::new("Chat").strong());
        egui::ScrollArea::vertical()
            .id_salt("log")
            .max_height(220.0)
            .stick_to_bottom(true)
            .show(ui, |ui| {
                for l in &self.lines {
                    ui.add(egui::Label::new(l.as_str()).wrap());
                }
            });
        egui::ComboBox::from_id_salt("replies")
            .selected_text("Predefined replies")
            .show_ui(ui, |ui| {
                for reply in REPLIES {
                    if ui.selectable_label(false, reply).clicked() {
                        self.chat = reply.to_owned();
                    }
                }
            });
        ui.horizontal(|ui| {
            let r = ui.add(egui::TextEdit::singleline(&mut self.chat).hint_text("Message"));
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Send").clicked() || enter) && !self.chat.trim().is_empty() {
                let text = std::mem::take(&mut self.chat);
                self.line(format!("You: {}", text.trim()));
                out.push(Command::Chat {
                    session_id: sid(),
                    text: text.trim().to_owned(),
                });
            }
        });
        ui.separator();
        self.desk.show(ui, &id, true, out);
        ui.separator();
        self.files_section(ui, out);
        ui.separator();
        self.tools(ui, out);
    }

    fn files_section(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        ui.label(RichText::new("Files").strong());
        for f in &self.files {
            let arrow = if f.sending { "→" } else { "←" };
            ui.label(format!("{arrow} {}", f.name));
            match &f.md5 {
                None => {
                    let done = if f.size == 0 {
                        1.0
                    } else {
                        f.bytes as f32 / f.size as f32
                    };
                    ui.add(egui::ProgressBar::new(done).show_percentage());
                }
                Some((md5, verified)) => {
                    let check = if *verified { "verified" } else { "MISMATCH" };
                    ui.label(
                        RichText::new(format!("MD5 {md5} ({check})"))
                            .monospace()
                            .small(),
                    );
                    if let Some(p) = &f.path {
                        ui.label(RichText::new(p.display().to_string()).small());
                    }
                }
            }
        }
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.send_path).hint_text("File to send"));
            if ui.button("Send file").clicked() && !self.send_path.trim().is_empty() {
                out.push(Command::SendFile {
                    session_id: self.id.clone(),
                    path: PathBuf::from(self.send_path.trim()),
                });
            }
        });
        if ui.button("Customer's files (list the root)").clicked() {
            out.push(Command::List {
                session_id: self.id.clone(),
                path: String::new(),
            });
        }
    }

    fn tools(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let sid = self.id.clone();
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.clipboard)
                    .hint_text("Text for their clipboard"),
            );
            if ui.button("Copy to customer").clicked() {
                out.push(Command::Clipboard {
                    session_id: sid.clone(),
                    text: Some(self.clipboard.clone()),
                    image: None,
                });
            }
        });
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.url));
            if ui.button("Open web page").clicked() {
                out.push(Command::OpenUrl {
                    session_id: sid.clone(),
                    url: self.url.clone(),
                });
            }
        });
        ui.horizontal_wrapped(|ui| {
            if ui.button("System information").clicked() {
                out.push(Command::SystemInfo {
                    session_id: sid.clone(),
                });
            }
            let record = if self.recording {
                "Stop recording"
            } else {
                "Record"
            };
            if ui.button(record).clicked() {
                out.push(Command::Record {
                    session_id: sid.clone(),
                    on: !self.recording,
                    dir: None,
                });
            }
            if ui.button("Restart their computer").clicked() {
                out.push(Command::Reboot {
                    session_id: sid.clone(),
                });
            }
        });
        if !self.info.is_empty() {
            egui::CollapsingHeader::new("System information").show(ui, |ui| {
                egui::Grid::new("info").striped(true).show(ui, |ui| {
                    for i in &self.info {
                        ui.label(shown(&i.section));
                        ui.label(shown(&i.key));
                        ui.add(egui::Label::new(shown(&i.value)).wrap());
                        ui.end_row();
                    }
                });
            });
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.transfer_to)
                    .hint_text("Technician or group id")
                    .desired_width(150.0),
            );
            let id = self.transfer_to.trim().parse::<i64>().ok();
            let to = |tech_id, group_id| Command::Transfer {
                session_id: sid.clone(),
                tech_id,
                group_id,
            };
            if ui
                .add_enabled(id.is_some(), egui::Button::new("To technician"))
                .clicked()
            {
                out.push(to(id, None));
            }
            if ui
                .add_enabled(id.is_some(), egui::Button::new("To group"))
                .clicked()
            {
                out.push(to(None, id));
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Hold").clicked() {
                out.push(Command::Hold {
                    session_id: sid.clone(),
                });
            }
            if ui.button("Resume").clicked() {
                out.push(Command::Resume {
                    session_id: sid.clone(),
                });
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.reason).hint_text("Words for the customer"),
            );
            if ui.button("End session").clicked() {
                out.push(Command::End {
                    session_id: sid,
                    reason: (!self.reason.trim().is_empty()).then(|| self.reason.trim().to_owned()),
                });
            }
        });
    }
}
