//! The customers' screens as a window draws them: each session's newest
//! decoded picture in RGBA, and its cursor (shape and position travel apart
//! from the video). The session tasks write, the window's thread reads; a
//! repaint callback tells the window something new arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secours_codec::Picture;
use secours_protocol::{Message, pb};

/// Cursor shapes kept per session (they are cached by id on the wire).
const MAX_CURSOR_SHAPES: usize = 32;
/// The largest cursor drawn, in pixels a side.
const MAX_CURSOR_SIDE: u32 = 256;

/// A cursor image.
#[derive(Debug, Clone)]
pub struct CursorImage {
    /// Size.
    pub size: [usize; 2],
    /// The hot spot, in the image.
    pub hotspot: (u32, u32),
    /// RGBA, straight alpha.
    pub rgba: Vec<u8>,
}

/// One session's screen.
#[derive(Debug, Default, Clone)]
pub struct RemoteScreen {
    /// Width and height of the picture.
    pub size: [usize; 2],
    /// RGBA rows, tight.
    pub rgba: Vec<u8>,
    /// Bumped on every new picture (a window uploads only what changed).
    pub generation: u64,
    /// Pictures decoded.
    pub pictures: u64,
    shapes: HashMap<u64, CursorImage>,
    /// Shape id and position (video pixels) of a visible cursor.
    pub cursor: Option<(u64, i32, i32)>,
}

impl RemoteScreen {
    /// The cursor's image and its hot spot's place in the video, when
    /// visible. The image is in the customer's screen pixels: a window
    /// draws it unscaled, its hot spot on that place.
    pub fn cursor(&self) -> Option<(&CursorImage, (i32, i32))> {
        let (id, x, y) = self.cursor?;
        let shape = self.shapes.get(&id)?;
        Some((shape, (x, y)))
    }
}

type Repaint = Arc<dyn Fn() + Send + Sync>;

/// The screens of every session, shared with a window.
#[derive(Clone, Default)]
pub struct Screens {
    screens: Arc<Mutex<HashMap<String, RemoteScreen>>>,
    repaint: Arc<Mutex<Option<Repaint>>>,
}

impl std::fmt::Debug for Screens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Screens")
    }
}

impl Screens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RemoteScreen>> {
        self.screens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Calls `repaint` whenever a screen changes.
    pub fn on_change(&self, repaint: impl Fn() + Send + Sync + 'static) {
        *self
            .repaint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(repaint));
    }

    fn changed(&self) {
        let r = self
            .repaint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(r) = r {
            r();
        }
    }

    /// Runs `f` on a session's screen, if it has one.
    pub fn with<R>(&self, session_id: &str, f: impl FnOnce(&RemoteScreen) -> R) -> Option<R> {
        self.lock().get(session_id).map(f)
    }

    /// A new picture of `session_id`.
    pub fn picture(&self, session_id: &str, p: &Picture) {
        {
            let mut all = self.lock();
            let screen = all.entry(session_id.to_owned()).or_default();
            if let Err(e) = p.to_rgba_into(&mut screen.rgba) {
                tracing::warn!(error = %e, "picture not converted for the window");
                return;
            }
            screen.size = [p.width() as usize, p.height() as usize];
            screen.generation += 1;
            screen.pictures += 1;
        }
        self.changed();
    }

    /// A cursor message of `session_id` (shape or position).
    pub fn cursor(&self, session_id: &str, m: &Message) {
        {
            let mut all = self.lock();
            let screen = all.entry(session_id.to_owned()).or_default();
            match m {
                Message::CursorShape(c) => {
                    if let Some(image) = cursor_image(c) {
                        if screen.shapes.len() >= MAX_CURSOR_SHAPES {
                            screen.shapes.clear();
                        }
                        screen.shapes.insert(c.id, image);
                    }
                }
                Message::CursorPosition(c) => {
                    screen.cursor = c.visible.then_some((c.shape_id, c.x, c.y));
                }
                _ => return,
            }
        }
        self.changed();
    }

    /// Forgets a session's screen (it ended).
    pub fn forget(&self, session_id: &str) {
        self.lock().remove(session_id);
    }
}

/// A shape as received, if its size and bytes agree and stay bounded.
fn cursor_image(c: &pb::CursorShape) -> Option<CursorImage> {
    if c.width == 0 || c.height == 0 || c.width > MAX_CURSOR_SIDE || c.height > MAX_CURSOR_SIDE {
        return None;
    }
    let len = c.width as usize * c.height as usize * 4;
    (c.rgba.len() == len).then(|| CursorImage {
        size: [c.width as usize, c.height as usize],
        hotspot: (c.hotspot_x.min(c.width - 1), c.hotspot_y.min(c.height - 1)),
        rgba: c.rgba.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_shapes_are_bounded_and_checked() {
        let screens = Screens::default();
        let shape = |id, w, h, len| {
            Message::CursorShape(pb::CursorShape {
                id,
                width: w,
                height: h,
                hotspot_x: 99,
                hotspot_y: 1,
                rgba: vec![255; len].into(),
            })
        };
        screens.cursor("s", &shape(1, 2, 2, 16));
        screens.cursor("s", &shape(2, 2, 2, 15));
        screens.cursor("s", &shape(3, 4096, 1, 4096 * 4));
        let position = |id| {
            Message::CursorPosition(pb::CursorPosition {
                shape_id: id,
                x: 10,
                y: 20,
                visible: true,
            })
        };
        screens.cursor("s", &position(1));
        let (image, at) = screens
            .with("s", |s| s.cursor().map(|(i, at)| (i.clone(), at)))
            .flatten()
            .unwrap_or_else(|| panic!("no cursor"));
        // The hot spot is clamped into the image.
        assert_eq!(image.hotspot, (1, 1));
        assert_eq!(at, (10, 20));
        for bad in [2, 3] {
            screens.cursor("s", &position(bad));
            assert!(screens.with("s", |s| s.cursor().is_none()) == Some(true));
        }
    }
}
