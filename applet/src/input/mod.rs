//! Input injection behind one trait: what the technician does, replayed on
//! the customer's screen. Positions are in the captured screen's pixels;
//! the applet checks the permission (PERM-2) before calling any of this.

pub mod priority;
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

/// A pointer position in the video's pixels (what the console sends) ->
/// the screen's pixels (what injection takes). The video may be coded
/// smaller than the screen (resolution adaptation). `None` outside.
pub fn video_to_screen(
    x: i32,
    y: i32,
    video: (u32, u32),
    screen: (u32, u32),
) -> Option<(i32, i32)> {
    if x < 0 || y < 0 || video.0 == 0 || video.1 == 0 || x as u32 >= video.0 || y as u32 >= video.1
    {
        return None;
    }
    // Pixel centres map to pixel centres.
    let scale = |v: i32, from: u32, to: u32| {
        (((2 * i64::from(v) + 1) * i64::from(to) / i64::from(from) - 1) / 2)
            .clamp(0, i64::from(to) - 1) as i32
    };
    Some((scale(x, video.0, screen.0), scale(y, video.1, screen.1)))
}

/// Replays input on the customer's screen.
pub trait InputInjector: Send {
    fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), AppletError>;
    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), AppletError>;
    /// Wheel in 1/120 notches (the protocol's unit); positive dy scrolls down.
    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), AppletError>;
    /// A key by X11 keysym.
    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), AppletError>;
    /// Types text (the protocol's `Text`): each character as the key that
    /// makes it, shifted when it needs to be; a newline is Return.
    fn text(&mut self, text: &str) -> Result<(), AppletError>;
}

/// The X11 keysym of a character: Latin-1 as itself, the rest in the
/// Unicode keysym range; newline and tab as their keys.
pub fn keysym_of(c: char) -> u32 {
    match c {
        '\n' | '\r' => 0xFF0D,
        '\t' => 0xFF09,
        c if (0x20..=0x7E).contains(&(c as u32)) || (0xA0..=0xFF).contains(&(c as u32)) => c as u32,
        c => 0x0100_0000 + c as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_positions_scale_to_the_screen() {
        let (video, screen) = ((960, 540), (1920, 1080));
        assert_eq!(video_to_screen(0, 0, video, screen), Some((0, 0)));
        assert_eq!(video_to_screen(480, 270, video, screen), Some((960, 540)));
        assert_eq!(video_to_screen(959, 539, video, screen), Some((1918, 1078)));
        assert_eq!(video_to_screen(10, 10, screen, screen), Some((10, 10)));
        assert_eq!(video_to_screen(960, 0, video, screen), None);
        assert_eq!(video_to_screen(-1, 0, video, screen), None);
    }
}
