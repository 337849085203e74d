//! Input injection behind one trait: what the technician does, replayed on
//! the customer's screen. Positions are in the captured screen's pixels;
//! the applet checks the permission (PERM-2) before calling any of this.

pub mod x11;

use crate::error::AppletError;

/// Mouse buttons, numbered as the protocol's `Button`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
    Back,
    Forward,
}

/// Replays input on the customer's screen.
pub trait InputInjector: Send {
    fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), AppletError>;
    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), AppletError>;
    /// Wheel in 1/120 notches (the protocol's unit); positive dy scrolls down.
    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), AppletError>;
    /// A key by X11 keysym.
    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), AppletError>;
}
