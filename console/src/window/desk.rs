//! The technician's desk in the window: the status switch and the group's
//! maximum (SESS-9), the informational link and the create-session dialog
//! with its text and private-session fields (CONSOLE-16, FIELD-2), the
//! invitation to send; and in each session's tab its custom fields
//! (editable where PERM-20 allows), its notes (CONSOLE-10) and, once it
//! ended, the technician survey (SURVEY-1). The group's texts come from
//! its administrators; field values from the customer: both are shown as
//! plain text, sanitised and bounded.

use std::collections::BTreeMap;

use eframe::egui::{self, Color32, RichText};
use secours_protocol::signaling::{ConsoleTexts, Note, Question, QuestionType, TechStatus};

use super::shown;
use crate::commands::{Command, ConsoleEvent};

/// The colours a person (and a test looking at a screenshot) finds the
/// desk's controls by.
pub mod colours {
    use super::Color32;
    /// The status switch's three buttons.
    pub const AVAILABLE: Color32 = Color32::from_rgb(0x2e, 0x7d, 0x32);
    /// Busy.
    pub const BUSY: Color32 = Color32::from_rgb(0xb2, 0x6a, 0x00);
    /// Away.
    pub const AWAY: Color32 = Color32::from_rgb(0x5c, 0x4d, 0x7d);
    /// The note being written.
    pub const NOTE: Color32 = Color32::from_rgb(0xff, 0xf1, 0xb8);
    /// "Save note".
    pub const SAVE_NOTE: Color32 = Color32::from_rgb(0x00, 0x7a, 0x87);
    /// The survey's rating buttons.
    pub const RATING: Color32 = Color32::from_rgb(0xc8, 0x9b, 0x00);
    /// "New session (PIN code)".
    pub const NEW_SESSION: Color32 = Color32::from_rgb(0x8e, 0x24, 0xaa);
}

fn filled(text: &str, fill: Color32, selected: bool) -> egui::Button<'static> {
    let text = RichText::new(text).color(Color32::WHITE);
    let b = egui::Button::new(if selected { text.strong() } else { text }).fill(fill);
    if selected {
        b.stroke(egui::Stroke::new(2.0, Color32::WHITE))
    } else {
        b
    }
}

/// What the window knows of the technician's desk.
#[derive(Debug, Default)]
pub struct Desk {
    status: Option<TechStatus>,
    max_sessions: i64,
    fields: Vec<String>,
    texts: ConsoleTexts,
    /// The create-session dialog is open, with its values.
    creating: Option<BTreeMap<String, String>>,
    /// Focus its first field on the next frame.
    focus: bool,
    /// The last private session's invitation.
    invitation: Option<(String, String)>,
    /// SESS-10: a request to watch this console (id, administrator,
    /// state), while it is asked or watching.
    monitor: Option<(String, String, String)>,
}

impl Desk {
    /// Takes a desk event in; false when `e` is not one.
    pub fn on_event(&mut self, e: &ConsoleEvent) -> bool {
        match e {
            ConsoleEvent::ConsoleInfo {
                status,
                max_sessions,
                fields,
                texts,
            } => {
                self.status = Some(*status);
                self.max_sessions = *max_sessions;
                self.fields = fields.iter().take(10).cloned().collect();
                self.texts = texts.clone();
            }
            ConsoleEvent::Status { status } => self.status = Some(*status),
            ConsoleEvent::Monitor {
                monitor_id,
                admin,
                state,
                ..
            } => {
                self.monitor = matches!(state.as_str(), "asked" | "watching")
                    .then(|| (monitor_id.clone(), shown(admin), state.clone()));
            }
            ConsoleEvent::Pin {
                session_id, email, ..
            } => self.invitation = Some((session_id.clone(), email.clone())),
            _ => return false,
        }
        true
    }

    /// Whether an administrator asks to watch, or watches, this console.
    pub fn monitored(&self) -> bool {
        self.monitor.is_some()
    }

    /// SESS-10, on every tab: who asks to watch this console (allow or
    /// decline), or who watches it (stop).
    pub fn monitor_banner(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let Some((id, admin, state)) = &self.monitor else {
            return;
        };
        ui.horizontal(|ui| {
            let monitor_id = id.clone();
            if state == "asked" {
                ui.label(RichText::new(format!("{admin} asks to watch your console.")).strong());
                if ui.add(filled("Allow", colours::AVAILABLE, false)).clicked() {
                    out.push(Command::MonitorAnswer {
                        monitor_id: monitor_id.clone(),
                        accept: true,
                    });
                }
                if ui.add(filled("Decline", colours::BUSY, false)).clicked() {
                    out.push(Command::MonitorAnswer {
                        monitor_id,
                        accept: false,
                    });
                }
            } else {
                ui.label(
                    RichText::new(format!("● {admin} is watching your console."))
                        .color(Color32::from_rgb(0xc0, 0x1c, 0x28))
                        .strong(),
                );
                if ui.button("Stop").clicked() {
                    out.push(Command::MonitorEnd { monitor_id });
                }
            }
        });
    }

    /// The status switch, the maximum and the informational link.
    pub fn status_bar(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let Some(now) = self.status else {
            return;
        };
        ui.horizontal(|ui| {
            ui.label("Status:");
            for (s, label, fill) in [
                (TechStatus::Available, "Available", colours::AVAILABLE),
                (TechStatus::Busy, "Busy", colours::BUSY),
                (TechStatus::Away, "Away", colours::AWAY),
            ] {
                if ui.add(filled(label, fill, s == now)).clicked() && s != now {
                    out.push(Command::Status { status: s });
                }
            }
            ui.label(format!("You are {}.", now.as_str()));
            ui.separator();
            ui.label(if self.max_sessions > 0 {
                format!("At most {} sessions assigned at once", self.max_sessions)
            } else {
                "No maximum of sessions".into()
            });
            let t = &self.texts;
            if !t.info_link_url.is_empty() {
                ui.separator();
                let label = if t.info_link_label.trim().is_empty() {
                    shown(&t.info_link_url)
                } else {
                    shown(&t.info_link_label)
                };
                ui.hyperlink_to(label, shown(&t.info_link_url));
            }
        });
    }

    /// The "new session" button, or the dialog it opens: the group's text,
    /// its private-session fields, and the last session's invitation.
    pub fn create_dialog(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let Some(mut values) = self.creating.take() else {
            if ui
                .add(filled(
                    "New session (PIN code)",
                    colours::NEW_SESSION,
                    false,
                ))
                .clicked()
            {
                self.creating = Some(
                    self.fields
                        .iter()
                        .map(|f| (f.clone(), String::new()))
                        .collect(),
                );
                self.focus = true;
            }
            if let Some((_, email)) = &self.invitation {
                egui::CollapsingHeader::new("Invitation to send the customer")
                    .default_open(true)
                    .show(ui, |ui| {
                        let mut text = email.clone();
                        ui.add(
                            egui::TextEdit::multiline(&mut text)
                                .desired_rows(4)
                                .desired_width(f32::INFINITY),
                        );
                    });
            }
            return;
        };
        let mut open = true;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.label(RichText::new("New private session").strong());
            if !self.texts.create_dialog.trim().is_empty() {
                ui.add(egui::Label::new(shown(&self.texts.create_dialog)).wrap());
            }
            egui::Grid::new("new-session-fields").show(ui, |ui| {
                for (i, name) in self.fields.iter().enumerate() {
                    ui.label(shown(name));
                    let value = values.entry(name.clone()).or_default();
                    let r = ui.add(
                        egui::TextEdit::singleline(value)
                            .char_limit(1000)
                            .desired_width(240.0),
                    );
                    if i == 0 && self.focus {
                        r.request_focus();
                        self.focus = false;
                    }
                    ui.end_row();
                }
            });
            ui.horizontal(|ui| {
                if ui.add(super::primary("Create")).clicked() {
                    out.push(Command::CreatePin {
                        fields: values.clone(),
                    });
                    open = false;
                } else if ui.button("Cancel").clicked() {
                    open = false;
                }
            });
        });
        if open {
            self.creating = Some(values);
        }
    }
}

/// The technician survey being answered.
#[derive(Debug)]
struct SurveyForm {
    rating: bool,
    questions: Vec<Question>,
    given: Option<i64>,
    answers: BTreeMap<String, String>,
    sent: bool,
}

/// One session's desk: fields, notes, survey.
#[derive(Debug, Default)]
pub struct SessionDesk {
    fields: BTreeMap<String, String>,
    editable: bool,
    edits: BTreeMap<String, String>,
    notes: Vec<Note>,
    draft: String,
    survey: Option<SurveyForm>,
}

impl SessionDesk {
    /// Takes a session's desk event in; false when `e` is not one.
    pub fn on_event(&mut self, e: &ConsoleEvent) -> bool {
        match e {
            ConsoleEvent::Fields {
                fields, editable, ..
            } => {
                self.fields = fields.clone();
                self.editable = *editable;
                self.edits = fields.clone();
            }
            ConsoleEvent::Note { note, .. } => {
                if !self.notes.iter().any(|n| n.id == note.id) {
                    self.notes.push(note.clone());
                }
            }
            ConsoleEvent::Notes { notes, .. } => self.notes = notes.clone(),
            ConsoleEvent::Survey {
                rating, questions, ..
            } => {
                self.survey = Some(SurveyForm {
                    rating: *rating,
                    questions: questions.iter().take(20).cloned().collect(),
                    given: None,
                    answers: BTreeMap::new(),
                    sent: false,
                });
            }
            ConsoleEvent::SurveySent { .. } => {
                if let Some(s) = &mut self.survey {
                    s.sent = true;
                }
            }
            _ => return false,
        }
        true
    }

    /// The survey (once the session ended), the fields and the notes.
    pub fn show(&mut self, ui: &mut egui::Ui, id: &str, live: bool, out: &mut Vec<Command>) {
        if let Some(s) = &mut self.survey {
            survey(ui, id, s, out);
            ui.separator();
        }
        if !self.fields.is_empty() || self.editable {
            self.fields_section(ui, id, live, out);
            ui.separator();
        }
        ui.label(RichText::new("Notes").strong());
        for n in &self.notes {
            ui.add(egui::Label::new(format!("{}: {}", shown(&n.author), shown(&n.body))).wrap());
        }
        ui.add(
            egui::TextEdit::multiline(&mut self.draft)
                .hint_text("A note on this session")
                .background_color(colours::NOTE)
                .text_color(Color32::BLACK)
                .char_limit(4000)
                .desired_rows(3)
                .desired_width(f32::INFINITY),
        );
        if ui
            .add(filled("Save note", colours::SAVE_NOTE, false))
            .clicked()
            && !self.draft.trim().is_empty()
        {
            out.push(Command::Note {
                session_id: id.to_owned(),
                text: std::mem::take(&mut self.draft).trim().to_owned(),
            });
        }
    }

    fn fields_section(&mut self, ui: &mut egui::Ui, id: &str, live: bool, out: &mut Vec<Command>) {
        ui.label(RichText::new("Custom fields").strong());
        let editable = self.editable && live;
        egui::Grid::new("session-fields").show(ui, |ui| {
            for (name, value) in &self.fields {
                ui.label(shown(name));
                if editable {
                    let edit = self.edits.entry(name.clone()).or_default();
                    ui.add(egui::TextEdit::singleline(edit).char_limit(1000));
                } else {
                    ui.add(egui::Label::new(shown(value)).wrap());
                }
                ui.end_row();
            }
        });
        if editable && self.edits != self.fields && ui.button("Save fields").clicked() {
            out.push(Command::Fields {
                session_id: id.to_owned(),
                fields: self.edits.clone(),
            });
        }
    }
}

fn survey(ui: &mut egui::Ui, id: &str, s: &mut SurveyForm, out: &mut Vec<Command>) {
    ui.label(RichText::new("Technician survey").strong());
    if s.sent {
        ui.label("Sent. Thank you.");
        return;
    }
    if s.rating {
        ui.horizontal(|ui| {
            ui.label("Rating:");
            for r in 1..=5 {
                let b = filled(&r.to_string(), colours::RATING, s.given == Some(r));
                if ui.add(b).clicked() {
                    s.given = Some(r);
                }
            }
        });
    }
    for q in &s.questions {
        let answer = s.answers.entry(q.id.clone()).or_default();
        let star = if q.required { " *" } else { "" };
        ui.label(format!("{}{star}", shown(&q.label)));
        match q.kind {
            QuestionType::Text => {
                ui.add(
                    egui::TextEdit::multiline(answer)
                        .desired_rows(2)
                        .char_limit(2000),
                );
            }
            QuestionType::Rating => {
                ui.horizontal(|ui| {
                    for r in ["1", "2", "3", "4", "5"] {
                        if ui.selectable_label(answer == r, r).clicked() {
                            r.clone_into(answer);
                        }
                    }
                });
            }
            QuestionType::YesNo => {
                ui.horizontal(|ui| {
                    for (v, label) in [("yes", "Yes"), ("no", "No")] {
                        if ui.selectable_label(answer == v, label).clicked() {
                            v.clone_into(answer);
                        }
                    }
                });
            }
            QuestionType::Choice => {
                ui.horizontal_wrapped(|ui| {
                    for c in q.choices.iter().take(10) {
                        if ui.selectable_label(answer == c, shown(c)).clicked() {
                            c.clone_into(answer);
                        }
                    }
                });
            }
        }
    }
    let ready = !s.rating || s.given.is_some();
    if ui
        .add_enabled(ready, super::primary("Send survey"))
        .clicked()
    {
        out.push(Command::Survey {
            session_id: id.to_owned(),
            rating: s.given,
            answers: s
                .answers
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
    }
}
