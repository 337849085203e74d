//! One X connection to one screen, shared by capture and injection.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{Screen, Window};
use x11rb::rust_connection::RustConnection;

use crate::error::AppletError;

pub(crate) struct X11Screen {
    pub conn: RustConnection,
    pub root: Window,
    pub width: u16,
    pub height: u16,
    pub depth: u8,
}

/// Connects to `display` (`None`: `$DISPLAY`) and finds its screen.
pub(crate) fn open(display: Option<&str>) -> Result<X11Screen, AppletError> {
    let (conn, screen_num) = x11rb::connect(display)?;
    let screen: &Screen = conn
        .setup()
        .roots
        .get(screen_num)
        .ok_or_else(|| AppletError::Format(format!("no screen {screen_num}")))?;
    let (root, width, height, depth) = (
        screen.root,
        screen.width_in_pixels,
        screen.height_in_pixels,
        screen.root_depth,
    );
    Ok(X11Screen {
        conn,
        root,
        width,
        height,
        depth,
    })
}
