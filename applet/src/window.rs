//! The applet's window: a small window that says who is connected, shows
//! the short authentication string, asks before anything happens and ends
//! the session at any moment. egui (eframe on OpenGL through glow): it runs
//! on X11, and under Xvfb on Mesa's software renderer.
//!
//! The session runs on its own thread and writes what the customer should
//! see into a shared view; the window draws that view and sends the
//! customer's answers back, waking the session's driver. Everything shown
//! that came from the technician or the server is plain text (egui labels
//! never interpret markup), sanitised and bounded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eframe::egui::{self, Color32, RichText};
use tokio::sync::{Notify, mpsc};

use crate::session::customer::{Reply, Status, sanitize};

/// Lines the window keeps (older ones scroll away for good).
const MAX_LINES: usize = 500;
/// Characters of one line shown.
const MAX_LINE_CHARS: usize = 2_000;

/// The colours a person (and a test looking at a screenshot) tells the
/// buttons apart by.
pub mod colours {
    use super::Color32;
    /// "Allow".
    pub const ALLOW: Color32 = Color32::from_rgb(0x1b, 0x8a, 0x2f);
    /// "Deny".
    pub const DENY: Color32 = Color32::from_rgb(0xc0, 0x1c, 0x28);
    /// "End session".
    pub const END: Color32 = Color32::from_rgb(0xe0, 0x6c, 0x00);
    /// "Answer the survey".
    pub const SURVEY: Color32 = Color32::from_rgb(0x00, 0x66, 0xa1);
}

/// What the window shows.
#[derive(Debug, Default)]
struct View {
    organisation: Option<String>,
    title: Option<String>,
    welcome: Option<String>,
    technician: Option<String>,
    waiting: Option<String>,
    wait_s: Option<i64>,
    sas: Option<String>,
    recording: bool,
    questions: Vec<(u64, String)>,
    lines: VecDeque<String>,
    ended: Option<String>,
    /// The survey's address and its opener, once the session is over.
    survey: Option<(String, Vec<String>)>,
}

impl View {
    fn line(&mut self, line: &str) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines
            .push_back(sanitize(line).chars().take(MAX_LINE_CHARS).collect());
    }
}

#[derive(Debug, Default)]
struct Shared {
    view: Mutex<View>,
    repaint: Mutex<Option<egui::Context>>,
    replies: Mutex<Option<(mpsc::UnboundedSender<Reply>, Arc<Notify>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The session's end of the window (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct WindowLink(Arc<Shared>);

impl WindowLink {
    /// A window not shown yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the customer's replies go, and what wakes the session.
    pub(crate) fn connect(&self, tx: mpsc::UnboundedSender<Reply>, wake: Arc<Notify>) {
        *lock(&self.0.replies) = Some((tx, wake));
    }

    fn update(&self, f: impl FnOnce(&mut View)) {
        f(&mut lock(&self.0.view));
        if let Some(ctx) = lock(&self.0.repaint).as_ref() {
            ctx.request_repaint();
        }
    }

    pub(crate) fn say(&self, line: &str) {
        self.update(|v| v.line(line));
    }

    pub(crate) fn tell(&self, status: Status) {
        let sentence = status.sentence();
        self.update(|v| {
            match status {
                Status::HelpDesk {
                    organisation,
                    title,
                    welcome,
                } => {
                    let bounded = |t: &str| sanitize(t).chars().take(200).collect::<String>();
                    v.organisation = organisation.as_deref().map(bounded);
                    v.title = (!title.is_empty()).then(|| bounded(&title));
                    v.welcome = (!welcome.is_empty()).then(|| bounded(&welcome));
                }
                Status::Waiting(t) => {
                    v.waiting = Some(t.map_or_else(
                        || "Waiting for a technician...".into(),
                        |t| format!("Waiting for {}...", sanitize(&t)),
                    ));
                }
                Status::Wait(s) => v.wait_s = Some(s),
                Status::Technician(t) => {
                    v.waiting = None;
                    v.technician = Some(sanitize(&t));
                }
                Status::Secure(sas) => v.sas = Some(sas),
                Status::Recording(on) => v.recording = on,
                Status::Ended(text) => {
                    v.ended = Some(sanitize(&text));
                    v.questions.clear();
                }
                Status::Survey { url, opener } => v.survey = Some((url, opener)),
            }
            v.line(&sentence);
        });
    }

    pub(crate) fn ask(&self, id: u64, question: &str) {
        self.update(|v| {
            v.line(question);
            v.questions.push((id, sanitize(question)));
        });
    }

    fn reply(&self, r: Reply) -> bool {
        match lock(&self.0.replies).as_ref() {
            Some((tx, wake)) => {
                let sent = tx.send(r).is_ok();
                wake.notify_one();
                sent
            }
            None => false,
        }
    }

    /// Whether the session is over.
    pub fn ended(&self) -> bool {
        lock(&self.0.view).ended.is_some()
    }
}

/// Why the window could not be shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// No display, no OpenGL, or the toolkit failed.
    #[error("the applet's window: {0}")]
    Toolkit(String),
}

/// Shows the window until the customer closes it. Closing it while the
/// session runs ends the session.
pub fn run_window(link: WindowLink, title: &str) -> Result<(), WindowError> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_app_id("secours-applet")
            .with_inner_size([440.0, 600.0])
            .with_min_inner_size([360.0, 420.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let app_link = link.clone();
    eframe::run_native(
        title,
        options,
        Box::new(move |cc| {
            *lock(&app_link.0.repaint) = Some(cc.egui_ctx.clone());
            Ok(Box::new(AppletWindow {
                link: app_link,
                chat: String::new(),
            }))
        }),
    )
    .map_err(|e| WindowError::Toolkit(e.to_string()))
}

/// Opens `url` with the applet's opener (the browser); what to tell the
/// customer.
fn open(url: &str, opener: &[String]) -> String {
    let Some((program, args)) = opener.split_first() else {
        return format!("Open this address in your browser: {url}");
    };
    match std::process::Command::new(program)
        .args(args)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reaped on a thread: the browser may keep running.
            std::thread::spawn(move || child.wait());
            "The survey opened in your browser.".into()
        }
        Err(e) => format!("The browser did not open ({e}); the address is {url}"),
    }
}

struct AppletWindow {
    link: WindowLink,
    chat: String,
}

fn coloured(text: &str, fill: Color32) -> egui::Button<'static> {
    egui::Button::new(
        RichText::new(text)
            .color(Color32::WHITE)
            .strong()
            .size(16.0),
    )
    .fill(fill)
    .min_size(egui::vec2(110.0, 34.0))
}

impl AppletWindow {
    fn status(&self, ui: &mut egui::Ui, v: &View) {
        ui.heading(v.title.as_deref().unwrap_or("Secours remote support"));
        if let Some(o) = &v.organisation {
            ui.label(RichText::new(o).strong());
        }
        if let Some(w) = &v.welcome {
            ui.label(w);
        }
        ui.add_space(6.0);
        if let Some(t) = &v.technician {
            ui.label(RichText::new(format!("Technician: {t}")).size(16.0));
        } else if let Some(w) = &v.waiting {
            ui.label(RichText::new(w).size(16.0));
            if let Some(s) = v.wait_s {
                ui.label(format!("Estimated wait: about {} min", (s + 59) / 60));
            }
        } else {
            ui.label("Connecting to the help desk...");
        }
        if let Some(sas) = &v.sas {
            ui.horizontal(|ui| {
                ui.label("Security code:");
                ui.label(RichText::new(sas).monospace().size(22.0).strong());
            });
            ui.label(
                RichText::new("Your technician sees the same digits.")
                    .small()
                    .weak(),
            );
        }
        if v.recording {
            ui.label(
                RichText::new("● This session is being recorded")
                    .color(colours::DENY)
                    .strong(),
            );
        }
    }

    fn questions(&self, ui: &mut egui::Ui, v: &mut View) {
        let mut answered = None;
        for (id, question) in &v.questions {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.label(RichText::new(question).size(15.0));
                ui.horizontal(|ui| {
                    if ui.add(coloured("Allow", colours::ALLOW)).clicked() {
                        answered = Some((*id, true));
                    }
                    if ui.add(coloured("Deny", colours::DENY)).clicked() {
                        answered = Some((*id, false));
                    }
                });
            });
        }
        if let Some((id, allow)) = answered {
            v.questions.retain(|(q, _)| *q != id);
            let word = if allow { "Allowed." } else { "Denied." };
            v.line(word);
            self.link.reply(Reply::Consent { id, allow });
        }
    }
}

impl eframe::App for AppletWindow {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let closing = ui.ctx().input(|i| i.viewport().close_requested());
        let link = self.link.clone();
        let mut v = lock(&link.0.view);
        if closing && v.ended.is_none() {
            // Closing the window ends the session.
            self.link.reply(Reply::Quit);
        }
        egui::Panel::bottom("end").show(ui, |ui| {
            ui.add_space(6.0);
            match &v.ended {
                None => {
                    if ui.add(coloured("End session", colours::END)).clicked() {
                        v.line("Ending the session...");
                        self.link.reply(Reply::Quit);
                    }
                }
                Some(text) => {
                    ui.label(RichText::new(text).strong());
                    if let Some((url, opener)) = &v.survey {
                        ui.label("Please tell us how it went.");
                        if ui
                            .add(coloured("Answer the survey", colours::SURVEY))
                            .clicked()
                        {
                            let said = open(url, opener);
                            v.line(&said);
                        }
                    }
                    if ui.button("Close").clicked() {
                        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                }
            }
            ui.add_space(6.0);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            self.status(ui, &v);
            ui.separator();
            self.questions(ui, &mut v);
            ui.label(RichText::new("Messages").strong());
            let chat_height = 44.0;
            egui::ScrollArea::vertical()
                .stick_to_bottom(true)
                .auto_shrink([false, false])
                .max_height((ui.available_height() - chat_height).max(60.0))
                .show(ui, |ui| {
                    for line in &v.lines {
                        ui.add(egui::Label::new(line.as_str()).wrap());
                    }
                });
            if v.ended.is_none() && v.technician.is_some() {
                ui.horizontal(|ui| {
                    let edit = ui.add(
                        egui::TextEdit::singleline(&mut self.chat)
                            .hint_text("Write to your technician")
                            .desired_width(ui.available_width() - 70.0),
                    );
                    let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if (ui.button("Send").clicked() || enter) && !self.chat.trim().is_empty() {
                        let text = std::mem::take(&mut self.chat);
                        v.line(&format!("You: {}", text.trim()));
                        self.link.reply(Reply::Chat(text.trim().to_owned()));
                        edit.request_focus();
                    }
                });
            }
        });
        drop(v);
        // The view changes from the session's thread, which asks for a
        // repaint; a slow tick keeps the wait and timers fresh regardless.
        ui.ctx().request_repaint_after(Duration::from_secs(1));
    }
}
