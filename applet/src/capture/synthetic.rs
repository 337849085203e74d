//! A synthetic screen with deterministic scenes: the same frame number
//! gives the same pixels on every machine, so tests can assert on them and
//! benchmarks compare runs.
//!
//! - `typing`: an editor window where text appears a character a frame and
//!   a caret blinks;
//! - `scrolling`: a terminal filling the screen, scrolling a line a frame;
//! - `video`: a moving picture playing in a window on a still desktop;
//! - `idle`: a desktop where nothing moves.

use std::str::FromStr;

use font8x8::UnicodeFonts;
use secours_codec::{BgraFrame, Rect};

use super::{Captured, CursorImage, CursorPosition, ScreenCapture};
use crate::error::AppletError;

/// Which scene the synthetic screen plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scene {
    Typing,
    Scrolling,
    Video,
    Idle,
}

impl Scene {
    pub const ALL: [Scene; 4] = [Scene::Typing, Scene::Scrolling, Scene::Video, Scene::Idle];

    pub fn name(self) -> &'static str {
        match self {
            Scene::Typing => "typing",
            Scene::Scrolling => "scrolling",
            Scene::Video => "video",
            Scene::Idle => "idle",
        }
    }
}

impl FromStr for Scene {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scene::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| format!("unknown scene {s:?} (typing, scrolling, video, idle)"))
    }
}

const DESKTOP: [u8; 4] = [120, 84, 40, 255];
const WINDOW: [u8; 4] = [250, 250, 250, 255];
const TITLE: [u8; 4] = [90, 60, 50, 255];
const INK: [u8; 4] = [30, 30, 30, 255];
const TERM_BG: [u8; 4] = [36, 28, 28, 255];
const TERM_INK: [u8; 4] = [200, 220, 200, 255];

/// Glyph cell: font8x8 doubled vertically.
const CW: u32 = 8;
const CH: u32 = 16;

const WORDS: [&str; 16] = [
    "the", "printer", "driver", "stopped", "after", "update", "please", "check", "network",
    "settings", "restart", "service", "ticket", "remote", "session", "logs",
];

/// The synthetic screen.
#[derive(Debug)]
pub struct SyntheticScreen {
    scene: Scene,
    canvas: BgraFrame,
    frame: u64,
    /// Area the scene draws in (editor, video window).
    window: Rect,
    cursor_sent: bool,
}

impl SyntheticScreen {
    pub fn new(scene: Scene, width: u32, height: u32) -> Result<Self, AppletError> {
        let mut canvas = BgraFrame::new(width, height)?;
        let window = match scene {
            Scene::Scrolling => Rect::new(0, 0, width, height),
            Scene::Video => Rect::new(width / 6, height / 6, width * 2 / 3, height * 2 / 3),
            Scene::Typing | Scene::Idle => {
                Rect::new(width / 8, height / 8, width * 3 / 4, height * 3 / 4)
            }
        };
        canvas.fill_rect(Rect::new(0, 0, width, height), DESKTOP);
        match scene {
            Scene::Scrolling => {
                canvas.fill_rect(window, TERM_BG);
                for row in 0..height / CH {
                    draw_line(
                        &mut canvas,
                        0,
                        row * CH,
                        width,
                        &line_text(u64::from(row)),
                        TERM_INK,
                        TERM_BG,
                    );
                }
            }
            _ => {
                canvas.fill_rect(
                    Rect::new(window.x, window.y - 24.min(window.y), window.width, 24),
                    TITLE,
                );
                canvas.fill_rect(window, WINDOW);
                if scene == Scene::Idle {
                    for row in 0..window.height / CH / 2 {
                        let y = window.y + 8 + row * CH * 2;
                        draw_line(
                            &mut canvas,
                            window.x + 8,
                            y,
                            window.width.saturating_sub(16),
                            &line_text(u64::from(row)),
                            INK,
                            WINDOW,
                        );
                    }
                }
            }
        }
        Ok(Self {
            scene,
            canvas,
            frame: 0,
            window,
            cursor_sent: false,
        })
    }

    pub fn scene(&self) -> Scene {
        self.scene
    }

    /// Frames produced so far.
    pub fn frame_number(&self) -> u64 {
        self.frame
    }

    /// Advances the scene by one frame and returns what changed.
    fn step(&mut self) -> Vec<Rect> {
        let n = self.frame;
        self.frame += 1;
        let (w, h) = (self.canvas.width(), self.canvas.height());
        match self.scene {
            Scene::Idle => Vec::new(),
            Scene::Typing => {
                // One character a frame, wrapping lines inside the window.
                let cols = u64::from((self.window.width.saturating_sub(16)) / CW).max(1);
                let rows = u64::from((self.window.height.saturating_sub(16)) / CH).max(1);
                let text = typed_text(n + 1);
                let ch = text.chars().last().unwrap_or(' ');
                let (row, col) = ((n / cols) % rows, n % cols);
                let x = self.window.x + 8 + col as u32 * CW;
                let y = self.window.y + 8 + row as u32 * CH;
                if col == 0 {
                    let line = Rect::new(
                        self.window.x + 8,
                        y,
                        self.window.width.saturating_sub(16),
                        CH,
                    );
                    self.canvas.fill_rect(line, WINDOW);
                }
                draw_glyph(&mut self.canvas, x, y, ch, INK, WINDOW);
                // The caret after the character, blinking every 15 frames.
                let caret = Rect::new(x + CW, y, 2, CH);
                let on = (n / 15) % 2 == 0;
                self.canvas.fill_rect(caret, if on { INK } else { WINDOW });
                vec![
                    Rect::new(x, y, CW + 2, CH),
                    Rect::new(self.window.x, y, self.window.width, CH),
                ]
            }
            Scene::Scrolling => {
                // Move everything up a line and write the new last line.
                let stride = self.canvas.stride();
                let shift = CH as usize * stride;
                let rows = (h / CH) * CH;
                if rows < CH {
                    return Vec::new(); // shorter than a line: nothing scrolls
                }
                let data = self.canvas.data_mut();
                data.copy_within(shift..rows as usize * stride, 0);
                let y = rows - CH;
                self.canvas.fill_rect(Rect::new(0, y, w, CH), TERM_BG);
                let line = line_text(n + u64::from(h / CH));
                draw_line(&mut self.canvas, 0, y, w, &line, TERM_INK, TERM_BG);
                vec![Rect::new(0, 0, w, h)]
            }
            Scene::Video => {
                let r = self.window;
                let t = n as u32;
                for y in 0..r.height {
                    let row = self.canvas.row_mut(r.y + y);
                    let px = &mut row[r.x as usize * 4..(r.x + r.width) as usize * 4];
                    for (x, p) in px.chunks_exact_mut(4).enumerate() {
                        let x = x as u32;
                        // A smooth, moving picture: two travelling waves and a
                        // drifting gradient, the kind of content video is.
                        let a = wave(x * 3 + t * 7) as u32;
                        let b = wave(y * 4 + t * 5 + x) as u32;
                        let c = wave((x + y) * 2 + t * 3) as u32;
                        p[0] = ((a + c) / 2) as u8;
                        p[1] = ((b + c) / 2) as u8;
                        p[2] = ((a + b) / 2) as u8;
                        p[3] = 255;
                    }
                }
                vec![r]
            }
        }
    }

    fn cursor_image(&self) -> CursorImage {
        // A 12x19 arrow, white with a black outline.
        let (w, h) = (12u32, 19u32);
        let mut rgba = vec![0u8; (w * h * 4) as usize];
        for y in 0..h {
            for x in 0..w {
                let inside = x <= y && x < w && y < 16 - x / 2;
                let edge = inside && (x == 0 || x == y || y + 1 >= 16 - x / 2);
                let i = ((y * w + x) * 4) as usize;
                if inside {
                    let v = if edge { 0 } else { 255 };
                    rgba[i..i + 4].copy_from_slice(&[v, v, v, 255]);
                }
            }
        }
        CursorImage {
            id: 1,
            width: w,
            height: h,
            hotspot_x: 0,
            hotspot_y: 0,
            rgba,
        }
    }
}

impl ScreenCapture for SyntheticScreen {
    fn size(&self) -> (u32, u32) {
        (self.canvas.width(), self.canvas.height())
    }

    fn capture(&mut self) -> Result<Captured, AppletError> {
        let damage = self.step();
        let cursor_shape = (!self.cursor_sent).then(|| self.cursor_image());
        self.cursor_sent = true;
        // The pointer drifts across the window: position messages only.
        let n = self.frame as i64;
        let cursor = CursorPosition {
            shape_id: 1,
            x: (i64::from(self.window.x) + (n * 3) % i64::from(self.window.width.max(1))) as i32,
            y: (i64::from(self.window.y) + (n * 2) % i64::from(self.window.height.max(1))) as i32,
            visible: true,
        };
        Ok(Captured {
            frame: self.canvas.clone(),
            damage_hints: Some(damage),
            cursor_shape,
            cursor,
        })
    }
}

fn wave(v: u32) -> u8 {
    // A triangle wave 0..255 with period 512.
    let v = v % 512;
    if v < 256 { v as u8 } else { (511 - v) as u8 }
}

fn hash(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Line `n` of the terminal: a prompt or log-like words, deterministic.
fn line_text(n: u64) -> String {
    let mut s = format!("[{:05}] ", n % 100_000);
    let words = 3 + hash(n) % 14;
    for i in 0..words {
        s.push_str(WORDS[(hash(n * 31 + i) % WORDS.len() as u64) as usize]);
        s.push(' ');
    }
    s
}

/// The first `n` characters the typing scene types.
fn typed_text(n: u64) -> String {
    let mut s = String::new();
    let mut i = 0;
    while (s.len() as u64) < n {
        s.push_str(WORDS[(hash(i) % WORDS.len() as u64) as usize]);
        s.push(' ');
        i += 1;
    }
    s.truncate(n as usize);
    s
}

fn draw_line(
    canvas: &mut BgraFrame,
    x: u32,
    y: u32,
    width: u32,
    text: &str,
    ink: [u8; 4],
    bg: [u8; 4],
) {
    for (i, ch) in text.chars().enumerate() {
        let gx = x + i as u32 * CW;
        if gx + CW > x + width {
            break;
        }
        draw_glyph(canvas, gx, y, ch, ink, bg);
    }
}

fn draw_glyph(canvas: &mut BgraFrame, x: u32, y: u32, ch: char, ink: [u8; 4], bg: [u8; 4]) {
    if x + CW > canvas.width() || y + CH > canvas.height() {
        return;
    }
    let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
    for (gy, bits) in glyph.iter().enumerate() {
        for dy in 0..2 {
            let row = canvas.row_mut(y + gy as u32 * 2 + dy);
            for gx in 0..8u32 {
                let on = bits & (1 << gx) != 0;
                let i = ((x + gx) * 4) as usize;
                row[i..i + 4].copy_from_slice(if on { &ink } else { &bg });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_deterministic() {
        for scene in Scene::ALL {
            let mut a = SyntheticScreen::new(scene, 320, 240).unwrap();
            let mut b = SyntheticScreen::new(scene, 320, 240).unwrap();
            for _ in 0..5 {
                assert_eq!(
                    a.capture().unwrap().frame,
                    b.capture().unwrap().frame,
                    "{scene:?}"
                );
            }
        }
    }

    #[test]
    fn idle_does_not_change_and_the_others_do() {
        for scene in Scene::ALL {
            let mut s = SyntheticScreen::new(scene, 320, 240).unwrap();
            let first = s.capture().unwrap().frame;
            let second = s.capture().unwrap().frame;
            assert_eq!(first == second, scene == Scene::Idle, "{scene:?}");
        }
    }

    #[test]
    fn tiny_screens_do_not_panic() {
        for scene in Scene::ALL {
            for (w, h) in [(1, 1), (16, 16), (33, 17)] {
                let mut s = SyntheticScreen::new(scene, w, h).unwrap();
                for _ in 0..3 {
                    s.capture().unwrap();
                }
            }
        }
    }

    #[test]
    fn cursor_shape_is_sent_once() {
        let mut s = SyntheticScreen::new(Scene::Typing, 320, 240).unwrap();
        let first = s.capture().unwrap();
        let shape = first.cursor_shape.unwrap();
        assert_eq!(shape.rgba.len() as u32, shape.width * shape.height * 4);
        assert!(s.capture().unwrap().cursor_shape.is_none());
    }
}
