//! Screen capture behind one trait: X11 (x11rb: MIT-SHM for the image,
//! XDamage for what changed, XFixes for the cursor) and a synthetic screen
//! with deterministic scenes for tests and benchmarks.

pub mod synthetic;
pub mod x11;

mod shm;

use secours_codec::{BgraFrame, Rect};

use crate::error::AppletError;

/// A cursor image: straight-alpha RGBA, what `CursorShape` carries.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorImage {
    /// Changes whenever the shape does (X11's cursor serial).
    pub id: u64,
    pub width: u32,
    pub height: u32,
    pub hotspot_x: u32,
    pub hotspot_y: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for CursorImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CursorImage(id {}, {}x{}, hotspot {},{})",
            self.id, self.width, self.height, self.hotspot_x, self.hotspot_y
        )
    }
}

/// Largest cursor side sent (the protocol's limit).
pub const MAX_CURSOR_SIDE: u32 = 256;

/// Where the cursor is. The cursor never goes through the video: the
/// console draws it from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CursorPosition {
    pub shape_id: u64,
    pub x: i32,
    pub y: i32,
    pub visible: bool,
}

/// One capture.
#[derive(Debug, Clone)]
pub struct Captured {
    pub frame: BgraFrame,
    /// What the backend knows changed since the last capture; `None` when
    /// it cannot tell (the damage tracker then compares everything).
    pub damage_hints: Option<Vec<Rect>>,
    /// A new cursor shape, only when it changed.
    pub cursor_shape: Option<CursorImage>,
    pub cursor: CursorPosition,
}

/// A screen to capture.
pub trait ScreenCapture: Send {
    /// The screen's size now.
    fn size(&self) -> (u32, u32);

    /// Takes the screen as it is now.
    fn capture(&mut self) -> Result<Captured, AppletError>;
}
