//! The customer's screen in the session tab: the newest decoded picture as
//! a texture (uploaded only when it changed), scaled to fit or at 1:1 with
//! scrolling, the cursor drawn from its shape and position; with remote
//! control on, the pointer and (once the screen is clicked) the keyboard
//! go to the customer, positions mapped from the window to the video.

use eframe::egui::{self, Color32, Pos2, Rect, Sense, TextureOptions, Vec2};

use super::keys;
use crate::commands::Command;
use crate::screens::Screens;

/// The screen's view state.
#[derive(Default)]
pub struct ScreenView {
    texture: Option<egui::TextureHandle>,
    generation: u64,
    cursor: Option<(egui::TextureHandle, u64)>,
    /// 1:1 instead of scaled to fit.
    pub actual_size: bool,
    /// The keyboard goes to the customer.
    pub keyboard: bool,
    /// Pictures uploaded to the window (drawn at the next paint).
    pub uploaded: u64,
    last_pointer: Option<(i32, i32)>,
    /// The pen is on: dragging draws on the customer's screen.
    pen: bool,
    /// The line being drawn, and the lines drawn (video pixels).
    drawing: Vec<i32>,
    drawn: Vec<Vec<i32>>,
}

/// The pen's colour, on the button and on the customer's screen.
pub const PEN: Color32 = Color32::from_rgb(0xd0, 0x20, 0xd0);
/// Lines kept on the technician's side (the applet keeps its own).
const MAX_DRAWN: usize = 1_000;

impl std::fmt::Debug for ScreenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenView")
            .field("generation", &self.generation)
            .field("keyboard", &self.keyboard)
            .finish_non_exhaustive()
    }
}

impl ScreenView {
    /// The size of the picture shown, once there is one.
    pub fn picture_size(&self) -> Option<[usize; 2]> {
        self.texture.as_ref().map(egui::TextureHandle::size)
    }

    /// Draws the screen; with `control`, input becomes commands in `out`.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        session_id: &str,
        screens: &Screens,
        control: bool,
        out: &mut Vec<Command>,
    ) {
        let size = self.upload(ui.ctx(), session_id, screens);
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.actual_size, "Actual size");
            let pen = if self.pen {
                egui::Button::new("Drawing (click to stop)").selected(true)
            } else {
                egui::Button::new(egui::RichText::new("Draw").color(Color32::WHITE)).fill(PEN)
            };
            if size.is_some() && ui.add(pen).clicked() {
                self.pen = !self.pen;
                self.drawing.clear();
            }
            if !self.drawn.is_empty() && ui.button("Clear drawing").clicked() {
                self.drawn.clear();
                out.push(Command::ClearDrawing {
                    session_id: session_id.to_owned(),
                });
            }
            if !control {
                ui.label("Remote control is off: ask the customer for it.");
            }
        });
        let (Some(texture), Some(video)) = (self.texture.clone(), size) else {
            ui.centered_and_justified(|ui| ui.label("Waiting for the customer's screen..."));
            return;
        };
        let video_v = Vec2::new(video[0] as f32, video[1] as f32);
        if self.actual_size {
            egui::ScrollArea::both().show(ui, |ui| {
                let (rect, response) = ui.allocate_exact_size(video_v, Sense::click_and_drag());
                self.paint(ui, rect, &texture, video, session_id, screens);
                if self.pen {
                    self.draw(ui, rect, video, session_id, out);
                } else if control {
                    self.input(ui, &response, rect, video, session_id, out);
                }
            });
        } else {
            let room = ui.available_size();
            let scale = (room.x / video_v.x).min(room.y / video_v.y).max(0.01);
            let (rect, response) = ui.allocate_exact_size(video_v * scale, Sense::click_and_drag());
            self.paint(ui, rect, &texture, video, session_id, screens);
            if self.pen {
                self.draw(ui, rect, video, session_id, out);
            } else if control {
                self.input(ui, &response, rect, video, session_id, out);
            }
        }
        if !control {
            self.keyboard = false;
        }
    }

    /// Uploads the newest picture and cursor if they changed; the video's
    /// size.
    fn upload(
        &mut self,
        ctx: &egui::Context,
        session_id: &str,
        screens: &Screens,
    ) -> Option<[usize; 2]> {
        screens
            .with(session_id, |s| {
                if s.generation != self.generation && s.size[0] > 0 {
                    let image = egui::ColorImage::from_rgba_premultiplied(s.size, &s.rgba);
                    match &mut self.texture {
                        Some(t) => t.set(image, TextureOptions::LINEAR),
                        None => {
                            self.texture = Some(ctx.load_texture(
                                "remote-screen",
                                image,
                                TextureOptions::LINEAR,
                            ));
                        }
                    }
                    self.generation = s.generation;
                    self.uploaded += 1;
                }
                if let Some((c, _)) = s.cursor() {
                    let key = c.rgba.len() as u64 ^ ((c.size[0] as u64) << 32) ^ c.hotspot.0 as u64;
                    if self.cursor.as_ref().is_none_or(|(_, k)| *k != key) {
                        let image = egui::ColorImage::from_rgba_unmultiplied(c.size, &c.rgba);
                        self.cursor = Some((
                            ctx.load_texture("remote-cursor", image, TextureOptions::NEAREST),
                            key,
                        ));
                    }
                }
                (s.size[0] > 0).then_some(s.size)
            })
            .flatten()
    }

    fn paint(
        &self,
        ui: &egui::Ui,
        rect: Rect,
        texture: &egui::TextureHandle,
        video: [usize; 2],
        session_id: &str,
        screens: &Screens,
    ) {
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        ui.painter().image(texture.id(), rect, uv, Color32::WHITE);
        let scale = rect.width() / video[0] as f32;
        // The lines drawn, as the customer sees them (the video shows them
        // too, once it catches up).
        let at = |p: &[i32]| rect.min + Vec2::new(p[0] as f32, p[1] as f32) * scale;
        for line in self.drawn.iter().chain(std::iter::once(&self.drawing)) {
            let points: Vec<Pos2> = line.chunks_exact(2).map(at).collect();
            if points.len() >= 2 {
                ui.painter()
                    .add(egui::Shape::line(points, egui::Stroke::new(2.0, PEN)));
            }
        }
        let at = screens
            .with(session_id, |s| {
                s.cursor().map(|(c, at)| (c.size, c.hotspot, at))
            })
            .flatten();
        if let (Some((size, hotspot, (x, y))), Some((cursor, _))) = (at, &self.cursor) {
            let hot = rect.min + Vec2::new(x as f32, y as f32) * scale;
            let min = hot - Vec2::new(hotspot.0 as f32, hotspot.1 as f32);
            let r = Rect::from_min_size(min, Vec2::new(size[0] as f32, size[1] as f32));
            ui.painter().image(cursor.id(), r, uv, Color32::WHITE);
        }
    }

    /// The pen: a drag over the screen is a line, sent when the button is
    /// released (in pieces of at most 512 points).
    fn draw(
        &mut self,
        ui: &egui::Ui,
        rect: Rect,
        video: [usize; 2],
        session_id: &str,
        out: &mut Vec<Command>,
    ) {
        let events = ui.input(|i| i.events.clone());
        for e in events {
            match e {
                egui::Event::PointerButton {
                    pos,
                    button: egui::PointerButton::Primary,
                    pressed: true,
                    ..
                } if rect.contains(pos) => {
                    let (x, y) = Self::to_video(pos, rect, video);
                    self.drawing = vec![x, y];
                }
                egui::Event::PointerMoved(pos) if !self.drawing.is_empty() => {
                    let (x, y) = Self::to_video(pos, rect, video);
                    if self.drawing[self.drawing.len() - 2..] != [x, y] {
                        self.drawing.extend([x, y]);
                    }
                }
                egui::Event::PointerButton {
                    button: egui::PointerButton::Primary,
                    pressed: false,
                    ..
                } if !self.drawing.is_empty() => {
                    let mut line = std::mem::take(&mut self.drawing);
                    if line.len() == 2 {
                        // A dot.
                        line.extend([line[0], line[1]]);
                    }
                    // Pieces share their ends, so the line stays whole.
                    let mut start = 0;
                    while start + 2 < line.len() {
                        let end = (start + 1024).min(line.len());
                        out.push(Command::Draw {
                            session_id: session_id.to_owned(),
                            points: line[start..end].to_vec(),
                            rgb: Some(u32::from_be_bytes([0, PEN.r(), PEN.g(), PEN.b()])),
                            width: Some(4),
                        });
                        start = end - 2;
                    }
                    if self.drawn.len() == MAX_DRAWN {
                        self.drawn.remove(0);
                    }
                    self.drawn.push(line);
                }
                _ => {}
            }
        }
    }

    /// The window's pointer over `rect`, in video pixels.
    fn to_video(pos: Pos2, rect: Rect, video: [usize; 2]) -> (i32, i32) {
        let x = (pos.x - rect.min.x) / rect.width() * video[0] as f32;
        let y = (pos.y - rect.min.y) / rect.height() * video[1] as f32;
        (
            (x as i32).clamp(0, video[0] as i32 - 1),
            (y as i32).clamp(0, video[1] as i32 - 1),
        )
    }

    fn input(
        &mut self,
        ui: &egui::Ui,
        response: &egui::Response,
        rect: Rect,
        video: [usize; 2],
        session_id: &str,
        out: &mut Vec<Command>,
    ) {
        let sid = || session_id.to_owned();
        if response.clicked() || response.drag_started() {
            response.request_focus();
            self.keyboard = true;
        }
        if self.keyboard {
            // Tab, arrows and Escape go to the customer, not to egui's focus.
            ui.memory_mut(|m| {
                m.set_focus_lock_filter(
                    response.id,
                    egui::EventFilter {
                        tab: true,
                        horizontal_arrows: true,
                        vertical_arrows: true,
                        escape: true,
                    },
                );
            });
            if !response.has_focus() {
                response.request_focus();
            }
        }
        let events = ui.input(|i| i.events.clone());
        for e in events {
            match e {
                egui::Event::PointerMoved(pos) if rect.contains(pos) => {
                    let (x, y) = Self::to_video(pos, rect, video);
                    if self.last_pointer != Some((x, y)) {
                        self.last_pointer = Some((x, y));
                        out.push(Command::Move {
                            session_id: sid(),
                            x,
                            y,
                        });
                    }
                }
                egui::Event::PointerButton {
                    pos,
                    button,
                    pressed,
                    ..
                } if rect.contains(pos) || !pressed => {
                    let (x, y) = Self::to_video(pos, rect, video);
                    let name = match button {
                        egui::PointerButton::Primary => "left",
                        egui::PointerButton::Secondary => "right",
                        egui::PointerButton::Middle => "middle",
                        _ => continue,
                    };
                    out.push(Command::Button {
                        session_id: sid(),
                        x,
                        y,
                        button: name.into(),
                        pressed,
                    });
                }
                egui::Event::MouseWheel { unit, delta, .. } if response.hovered() => {
                    let notch = match unit {
                        egui::MouseWheelUnit::Line => 120.0,
                        egui::MouseWheelUnit::Page => 360.0,
                        egui::MouseWheelUnit::Point => 120.0 / 50.0,
                    };
                    out.push(Command::Wheel {
                        session_id: sid(),
                        dx: (delta.x * notch) as i32,
                        dy: (-delta.y * notch) as i32,
                    });
                }
                _ if !self.keyboard => {}
                egui::Event::Text(text) => out.push(Command::Type {
                    session_id: sid(),
                    text,
                }),
                egui::Event::Paste(text) => out.push(Command::Type {
                    session_id: sid(),
                    text,
                }),
                egui::Event::Copy => shortcut(out, session_id, &[keys::CONTROL_L], u32::from(b'c')),
                egui::Event::Cut => shortcut(out, session_id, &[keys::CONTROL_L], u32::from(b'x')),
                egui::Event::Key {
                    key,
                    pressed,
                    modifiers,
                    ..
                } => {
                    if keys::is_release(key, modifiers) {
                        self.keyboard = false;
                        response.surrender_focus();
                        continue;
                    }
                    if keys::types_text(key, modifiers) {
                        continue;
                    }
                    let Some(keysym) = keys::keysym(key) else {
                        continue;
                    };
                    let held = keys::held(modifiers);
                    if pressed && !held.is_empty() {
                        // A shortcut: the modifiers around the key.
                        shortcut(out, session_id, &held, keysym);
                    } else if held.is_empty() {
                        out.push(Command::Key {
                            session_id: sid(),
                            keysym,
                            pressed,
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

/// Presses `held`, taps `keysym`, releases `held`.
fn shortcut(out: &mut Vec<Command>, session_id: &str, held: &[u32], keysym: u32) {
    let key = |keysym, pressed| Command::Key {
        session_id: session_id.to_owned(),
        keysym,
        pressed,
    };
    out.extend(held.iter().map(|&k| key(k, true)));
    out.push(key(keysym, true));
    out.push(key(keysym, false));
    out.extend(held.iter().rev().map(|&k| key(k, false)));
}
