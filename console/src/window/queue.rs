//! The queue tab (CONSOLE-1): waiting, active and held sessions with the
//! customer's name, channel, form fields and waiting time; pick up, hold,
//! resume, end; new PIN sessions with their code and link.

use eframe::egui::{self, RichText};
use secours_protocol::signaling::SessionView;

use super::shown;
use crate::commands::Command;

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// "3 min 20 s".
fn since(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return String::new();
    };
    let s = (now_ms() - ms).max(0) / 1000;
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// The customer's form fields, one line (hostile text).
fn fields(json: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(m) => m
            .iter()
            .map(|(k, v)| format!("{}: {}", shown(k), shown(v.as_str().unwrap_or_default())))
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => String::new(),
    }
}

/// Draws the queue; what the technician asked for goes to `out`.
pub fn show(
    ui: &mut egui::Ui,
    queue: &[SessionView],
    pins: &[(String, String, String)],
    notices: &[String],
    desk: &mut super::desk::Desk,
    out: &mut Vec<Command>,
) {
    egui::Panel::bottom("notices").show(ui, |ui| {
        for n in notices.iter().rev().take(3) {
            ui.label(RichText::new(shown(n)).weak());
        }
    });
    egui::CentralPanel::default().show(ui, |ui| {
        desk.status_bar(ui, out);
        ui.horizontal(|ui| {
            ui.heading("Sessions");
            if ui.button("Refresh").clicked() {
                out.push(Command::Queue);
            }
        });
        desk.create_dialog(ui, out);
        for (session_id, pin, link) in pins.iter().rev().take(3) {
            if queue
                .iter()
                .any(|v| &v.id == session_id && v.state != "pending")
            {
                continue;
            }
            ui.horizontal(|ui| {
                ui.label("Give the customer this code:");
                ui.label(RichText::new(pin).monospace().size(20.0).strong());
                ui.label("or the link:");
                ui.label(RichText::new(link).monospace());
            });
        }
        ui.separator();
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("queue")
                .striped(true)
                .num_columns(6)
                .min_col_width(80.0)
                .show(ui, |ui| {
                    for h in ["Customer", "State", "Kind", "Waiting", "Details", ""] {
                        ui.label(RichText::new(h).strong());
                    }
                    ui.end_row();
                    for v in queue {
                        row(ui, v, out);
                    }
                });
            if queue.is_empty() {
                ui.label("No session in your queue.");
            }
        });
    });
}

fn row(ui: &mut egui::Ui, v: &SessionView, out: &mut Vec<Command>) {
    let name = shown(&v.customer_name);
    ui.label(if name.is_empty() {
        "(no name)".into()
    } else {
        name
    });
    ui.label(&v.state);
    ui.label(match v.channel_id {
        Some(c) => format!("channel {c}"),
        None => v.kind.clone(),
    });
    ui.label(since(v.waiting_since.filter(|_| v.state == "waiting")));
    ui.label(fields(&v.customer_fields));
    ui.horizontal(|ui| {
        let id = || v.id.clone();
        let action = match v.state.as_str() {
            "waiting" => Some((
                super::primary("Pick up"),
                Command::Pickup { session_id: id() },
            )),
            "active" => Some((
                egui::Button::new("Hold"),
                Command::Hold { session_id: id() },
            )),
            "on_hold" => Some((
                egui::Button::new("Resume"),
                Command::Resume { session_id: id() },
            )),
            _ => None,
        };
        if let Some((button, command)) = action {
            if ui.add(button).clicked() {
                out.push(command);
            }
        }
        if v.state != "closed" && ui.button("End").clicked() {
            out.push(Command::End {
                session_id: id(),
                reason: None,
            });
        }
    });
    ui.end_row();
}
