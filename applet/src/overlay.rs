//! The whiteboard over the customer's screen (CONSOLE-4): the technician's
//! strokes drawn on top of everything, in a window that is only as big as
//! the strokes (the SHAPE extension's bounding mask) and takes no input at
//! all (an empty input shape), so the customer clicks through it. Override-
//! redirect: no window manager frames, moves or hides it. It lives on a
//! thread of its own with its own X connection; the session sends it
//! strokes (in screen pixels) and clears.

use std::sync::mpsc;
use std::time::Duration;

use x11rb::COPY_DEPTH_FROM_PARENT;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::shape::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    CapStyle, ChangeGCAux, ClipOrdering, ConfigureWindowAux, ConnectionExt as _, CoordMode,
    CreateGCAux, CreateWindowAux, EventMask, JoinStyle, Point, Rectangle, StackMode, WindowClass,
};

use crate::error::AppletError;

/// Strokes kept on screen; the oldest go first.
const MAX_STROKES: usize = 1_000;

/// One line, in screen pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stroke {
    /// The points, in order.
    pub points: Vec<(i16, i16)>,
    /// 0xRRGGBB.
    pub rgb: u32,
    /// Width in pixels.
    pub width: u16,
}

enum Order {
    Stroke(Stroke),
    Clear,
}

/// The whiteboard's window; dropping it removes the window.
#[derive(Debug)]
pub struct Overlay {
    orders: mpsc::Sender<Order>,
}

impl Overlay {
    /// Opens the whiteboard on `display` (`None`: `$DISPLAY`); nothing is
    /// shown until the first stroke.
    pub fn open(display: Option<&str>) -> Result<Self, AppletError> {
        let screen = crate::x11_screen::open(display)?;
        screen
            .conn
            .shape_query_version()?
            .reply()
            .map_err(|_| AppletError::MissingExtension("SHAPE"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("secours-whiteboard".into())
            .spawn(move || {
                if let Err(e) = run(&screen, &rx) {
                    tracing::warn!(error = %e, "the whiteboard stopped");
                }
            })
            .map_err(AppletError::Io)?;
        Ok(Self { orders: tx })
    }

    /// Draws a stroke.
    pub fn stroke(&self, stroke: Stroke) {
        let _ = self.orders.send(Order::Stroke(stroke));
    }

    /// Removes every stroke.
    pub fn clear(&self) {
        let _ = self.orders.send(Order::Clear);
    }
}

fn run(
    screen: &crate::x11_screen::X11Screen,
    orders: &mpsc::Receiver<Order>,
) -> Result<(), AppletError> {
    let conn = &screen.conn;
    let (w, h) = (screen.width, screen.height);
    let win = conn.generate_id()?;
    conn.create_window(
        COPY_DEPTH_FROM_PARENT,
        win,
        screen.root,
        0,
        0,
        w,
        h,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new()
            .override_redirect(1)
            .background_pixel(0)
            .event_mask(EventMask::EXPOSURE),
    )?;
    // Clicks and keys go through to whatever is underneath.
    conn.shape_rectangles(
        shape::SO::SET,
        shape::SK::INPUT,
        ClipOrdering::UNSORTED,
        win,
        0,
        0,
        &[],
    )?;
    let mask = conn.generate_id()?;
    conn.create_pixmap(1, mask, win, w, h)?;
    let mask_gc = conn.generate_id()?;
    let pen = CreateGCAux::new()
        .cap_style(CapStyle::ROUND)
        .join_style(JoinStyle::ROUND);
    conn.create_gc(mask_gc, mask, &pen.foreground(0))?;
    let gc = conn.generate_id()?;
    conn.create_gc(gc, win, &pen)?;

    let mut strokes: Vec<Stroke> = Vec::new();
    let mut mapped = false;
    loop {
        let mut changed = false;
        loop {
            match orders.recv_timeout(Duration::from_millis(50)) {
                Ok(Order::Stroke(s)) => {
                    if strokes.len() == MAX_STROKES {
                        strokes.remove(0);
                    }
                    strokes.push(s);
                    changed = true;
                }
                Ok(Order::Clear) => {
                    strokes.clear();
                    changed = true;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                // The session ended: the window goes with the connection.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
        let mut exposed = false;
        while let Some(event) = conn.poll_for_event()? {
            exposed |= matches!(event, Event::Expose(_));
        }
        if changed {
            // The mask: where the strokes are, the window shows.
            conn.change_gc(mask_gc, &ChangeGCAux::new().foreground(0))?;
            conn.poly_fill_rectangle(
                mask,
                mask_gc,
                &[Rectangle {
                    x: 0,
                    y: 0,
                    width: w,
                    height: h,
                }],
            )?;
            conn.change_gc(mask_gc, &ChangeGCAux::new().foreground(1))?;
            for s in &strokes {
                conn.change_gc(mask_gc, &ChangeGCAux::new().line_width(u32::from(s.width)))?;
                conn.poly_line(CoordMode::ORIGIN, mask, mask_gc, &points(s))?;
            }
            conn.shape_mask(shape::SO::SET, shape::SK::BOUNDING, win, 0, 0, mask)?;
            match (strokes.is_empty(), mapped) {
                (false, false) => {
                    conn.map_window(win)?;
                    mapped = true;
                }
                (true, true) => {
                    conn.unmap_window(win)?;
                    mapped = false;
                }
                _ => {}
            }
        }
        if mapped && (changed || exposed) {
            // On top of what opened since.
            conn.configure_window(win, &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE))?;
            for s in &strokes {
                conn.change_gc(
                    gc,
                    &ChangeGCAux::new()
                        .foreground(s.rgb)
                        .line_width(u32::from(s.width)),
                )?;
                conn.poly_line(CoordMode::ORIGIN, win, gc, &points(s))?;
            }
        }
        conn.flush()?;
    }
}

fn points(s: &Stroke) -> Vec<Point> {
    s.points.iter().map(|&(x, y)| Point { x, y }).collect()
}
