//! The console's window (`secours console` when a display is present): a
//! login form, the live queue, and a tab per session with the customer's
//! screen, remote control, and a side panel (chat, files, clipboard,
//! system information, URL, reboot, recording, the short authentication
//! string). egui on OpenGL (eframe with glow): it runs on X11 and under
//! Xvfb on Mesa's software renderer.
//!
//! The window is one more front end over the console's commands and
//! events (the same ones the headless mode speaks): it sends `Command`s
//! and draws what the `ConsoleEvent`s say. Decoded pictures come through
//! [`Screens`], written by the session tasks. Everything that came from
//! the customer's side is shown as plain text (egui labels never interpret
//! markup), sanitised and bounded.

mod desk;
mod keys;
mod panel;
mod queue;
mod screen;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eframe::egui;
use secours_protocol::signaling::{Secret, SessionView};
use tokio::sync::mpsc;

use crate::commands::{Command, ConsoleEvent};
use crate::run::{ConsoleConfig, run};
use crate::screens::Screens;

pub use panel::SessionTab;

/// Lines kept per log (chat, notices).
const MAX_LINES: usize = 500;
/// Characters shown of one line of hostile text.
const MAX_CHARS: usize = 2_000;

/// Hostile text made safe to show: no control or direction-changing
/// characters, bounded.
pub(crate) fn shown(text: &str) -> String {
    secours_peer::text::sanitize(text)
        .chars()
        .take(MAX_CHARS)
        .collect()
}

/// The colour of each window's main action, which a person (and a test
/// looking at a screenshot) finds at a glance.
pub mod colours {
    use eframe::egui::Color32;
    /// Pick a session up; ask for remote control.
    pub const PRIMARY: Color32 = Color32::from_rgb(0x1f, 0x5f, 0xd6);
}

/// A button in the main action's colour.
pub(crate) fn primary(text: &str) -> egui::Button<'static> {
    egui::Button::new(
        egui::RichText::new(text)
            .color(egui::Color32::WHITE)
            .strong(),
    )
    .fill(colours::PRIMARY)
}

/// Why the window could not be shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// No display, no OpenGL, or the toolkit failed.
    #[error("the console's window: {0}")]
    Toolkit(String),
}

/// Shows the console's window until it is closed. `config` holds the
/// server and the e-mail; its password is asked in the window unless
/// given (`SECOURS_PASSWORD`), then the console logs in.
pub fn run_window(
    config: ConsoleConfig,
    runtime: tokio::runtime::Handle,
) -> Result<(), WindowError> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Secours console")
            .with_app_id("secours-console")
            .with_inner_size([1024.0, 720.0])
            .with_min_inner_size([800.0, 500.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "Secours console",
        options,
        Box::new(move |cc| {
            let screens = Screens::default();
            let ctx = cc.egui_ctx.clone();
            screens.on_change(move || ctx.request_repaint());
            let mut app = ConsoleWindow::new(config, runtime, screens, cc.egui_ctx.clone());
            if !app.config.password.expose().is_empty() {
                app.log_in();
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| WindowError::Toolkit(e.to_string()))
}

/// Where the window stands.
enum Stage {
    /// The login form.
    Login { error: Option<String> },
    /// Logging in.
    Connecting,
    /// Logged in.
    Ready,
}

/// Which tab is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tab {
    Queue,
    Session(String),
}

struct ConsoleWindow {
    config: ConsoleConfig,
    runtime: tokio::runtime::Handle,
    screens: Screens,
    ctx: egui::Context,
    stage: Stage,
    password: String,
    commands: Option<mpsc::UnboundedSender<Command>>,
    events: Option<mpsc::UnboundedReceiver<ConsoleEvent>>,
    /// The console's task ended (with its error, if any).
    ended: Option<tokio::sync::oneshot::Receiver<Option<String>>>,
    queue: Vec<SessionView>,
    pins: Vec<(String, String, String)>,
    tabs: BTreeMap<String, SessionTab>,
    tab: Tab,
    notices: Vec<String>,
    desk: desk::Desk,
    stats_at: Instant,
}

impl ConsoleWindow {
    fn new(
        config: ConsoleConfig,
        runtime: tokio::runtime::Handle,
        screens: Screens,
        ctx: egui::Context,
    ) -> Self {
        Self {
            config,
            runtime,
            screens,
            ctx,
            stage: Stage::Login { error: None },
            password: String::new(),
            commands: None,
            events: None,
            ended: None,
            queue: Vec::new(),
            pins: Vec::new(),
            tabs: BTreeMap::new(),
            tab: Tab::Queue,
            notices: Vec::new(),
            desk: desk::Desk::default(),
            stats_at: Instant::now(),
        }
    }

    /// Starts the console's task with the credentials in hand.
    fn log_in(&mut self) {
        if !self.password.is_empty() {
            self.config.password = Secret::new(std::mem::take(&mut self.password));
        }
        let mut config = self.config.clone();
        config.screens = Some(self.screens.clone());
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (end_tx, end_rx) = tokio::sync::oneshot::channel();
        let ctx = self.ctx.clone();
        // Every event repaints the window.
        let (relay_tx, relay_rx) = mpsc::unbounded_channel();
        self.runtime.spawn(async move {
            let mut ev_rx: mpsc::UnboundedReceiver<ConsoleEvent> = ev_rx;
            while let Some(e) = ev_rx.recv().await {
                if relay_tx.send(e).is_err() {
                    break;
                }
                ctx.request_repaint();
            }
        });
        let ctx = self.ctx.clone();
        self.runtime.spawn(async move {
            let result = run(config, cmd_rx, ev_tx).await;
            let _ = end_tx.send(result.err().map(|e| e.to_string()));
            ctx.request_repaint();
        });
        self.commands = Some(cmd_tx);
        self.events = Some(relay_rx);
        self.ended = Some(end_rx);
        self.stage = Stage::Connecting;
    }

    fn send(&self, c: Command) {
        tracing::debug!(command = ?c, "from the window");
        if let Some(tx) = &self.commands {
            let _ = tx.send(c);
        }
    }

    fn notice(&mut self, line: String) {
        if self.notices.len() == MAX_LINES {
            self.notices.remove(0);
        }
        self.notices.push(line);
    }

    /// Takes in what the console said since the last frame.
    fn pump(&mut self) {
        if let Some(ended) = &mut self.ended {
            if let Ok(error) = ended.try_recv() {
                self.ended = None;
                self.commands = None;
                self.stage = Stage::Login {
                    error: Some(error.unwrap_or_else(|| "the console stopped".into())),
                };
            }
        }
        let mut events = Vec::new();
        if let Some(rx) = &mut self.events {
            while let Ok(e) = rx.try_recv() {
                events.push(e);
            }
        }
        for e in events {
            self.on_event(e);
        }
        if self.stats_at.elapsed() >= Duration::from_secs(1) {
            self.stats_at = Instant::now();
            let live: Vec<String> = self
                .tabs
                .values()
                .filter(|t| t.closed.is_none())
                .map(|t| t.id.clone())
                .collect();
            for session_id in live {
                self.send(Command::Stats { session_id });
            }
        }
    }

    fn tab_of(&mut self, session_id: &str) -> &mut SessionTab {
        let customer = self
            .queue
            .iter()
            .find(|v| v.id == session_id)
            .map(|v| shown(&v.customer_name))
            .unwrap_or_default();
        self.tabs
            .entry(session_id.to_owned())
            .or_insert_with(|| SessionTab::new(session_id, customer))
    }

    fn on_event(&mut self, e: ConsoleEvent) {
        self.desk.on_event(&e);
        match e {
            ConsoleEvent::Ready { .. } => self.stage = Stage::Ready,
            ConsoleEvent::Queue { sessions } => self.queue = sessions,
            ConsoleEvent::Pin {
                session_id,
                pin,
                link,
                ..
            } => self.pins.push((session_id, pin, link)),
            ConsoleEvent::ConsoleInfo { .. }
            | ConsoleEvent::Status { .. }
            | ConsoleEvent::Monitor { .. } => {}
            ConsoleEvent::Refused {
                session_id: Some(id),
                reason,
            } if self.tabs.contains_key(&id) => self.tab_of(&id).line(format!("Refused: {reason}")),
            ConsoleEvent::Refused { reason, .. } => self.notice(format!("Refused: {reason}")),
            ConsoleEvent::Error { message } => self.notice(message),
            ConsoleEvent::Connected { session_id, path } => {
                self.tab = Tab::Session(session_id.clone());
                self.tab_of(&session_id)
                    .on_event(ConsoleEvent::Connected { session_id, path });
            }
            other => {
                let Some(id) = other.session_id().map(str::to_owned) else {
                    return;
                };
                if let ConsoleEvent::Closed { .. } = &other {
                    self.screens.forget(&id);
                }
                self.tab_of(&id).on_event(other);
            }
        }
    }
}

impl eframe::App for ConsoleWindow {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.pump();
        if ui.ctx().input(|i| i.viewport().close_requested()) {
            self.send(Command::Quit);
        }
        match &self.stage {
            Stage::Login { error } => {
                let error = error.clone();
                self.login_form(ui, error.as_deref());
            }
            Stage::Connecting => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.centered_and_justified(|ui| ui.label("Logging in..."));
                });
            }
            Stage::Ready => self.main(ui),
        }
        // Timers (waiting times, figures) stay fresh.
        ui.ctx().request_repaint_after(Duration::from_millis(500));
    }
}

impl ConsoleWindow {
    fn login_form(&mut self, ui: &mut egui::Ui, error: Option<&str>) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(120.0);
                ui.heading("Secours console");
                ui.label(format!("Server: {}", self.config.server));
                ui.add_space(12.0);
                ui.horizontal(|ui| {
                    ui.label("E-mail");
                    ui.text_edit_singleline(&mut self.config.email);
                });
                let mut submit = false;
                ui.horizontal(|ui| {
                    ui.label("Password");
                    let r = ui.add(egui::TextEdit::singleline(&mut self.password).password(true));
                    submit = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if self.password.is_empty() && !r.has_focus() {
                        r.request_focus();
                    }
                });
                if ui.button("Log in").clicked() || submit {
                    self.log_in();
                }
                if let Some(e) = error {
                    ui.colored_label(egui::Color32::from_rgb(0xc0, 0x1c, 0x28), e);
                }
            });
        });
    }

    fn main(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                let waiting = self.queue.iter().filter(|v| v.state == "waiting").count();
                ui.selectable_value(&mut self.tab, Tab::Queue, format!("Queue ({waiting})"));
                for (id, t) in &self.tabs {
                    let label = if t.closed.is_some() {
                        format!("{} (ended)", t.title())
                    } else {
                        t.title()
                    };
                    ui.selectable_value(&mut self.tab, Tab::Session(id.clone()), label);
                }
            });
        });
        let mut commands = Vec::new();
        if self.desk.monitored() {
            egui::Panel::top("monitor").show(ui, |ui| self.desk.monitor_banner(ui, &mut commands));
        }
        match self.tab.clone() {
            Tab::Queue => queue::show(
                ui,
                &self.queue,
                &self.pins,
                &self.notices,
                &mut self.desk,
                &mut commands,
            ),
            Tab::Session(id) => match self.tabs.get_mut(&id) {
                Some(t) => t.show(ui, &self.screens, &mut commands),
                None => self.tab = Tab::Queue,
            },
        }
        for c in commands {
            if let Command::Pickup { session_id } = &c {
                self.tab = Tab::Session(session_id.clone());
                self.tab_of(&session_id.clone());
            }
            self.send(c);
        }
        if let Tab::Session(id) = &self.tab {
            if self.tabs.get(id).is_some_and(|t| t.dismissed) {
                self.tabs.remove(id);
                self.tab = Tab::Queue;
            }
        }
    }
}
