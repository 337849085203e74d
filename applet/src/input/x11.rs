//! Input injection through XTest: the server sees the events as if they came
//! from real devices, so every client receives them as usual.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT, ConnectionExt as _, KEY_PRESS_EVENT,
    KEY_RELEASE_EVENT, MOTION_NOTIFY_EVENT, Window,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::{InputInjector, MouseButton};
use crate::error::AppletError;

/// XTest on one X screen.
pub struct X11Injector {
    conn: RustConnection,
    root: Window,
    width: u32,
    height: u32,
    min_keycode: u8,
    keysyms_per_keycode: u8,
    keysyms: Vec<u32>,
    /// Sub-notch wheel motion carried between calls.
    wheel_rest: (i32, i32),
}

impl std::fmt::Debug for X11Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X11Injector({}x{})", self.width, self.height)
    }
}

impl X11Injector {
    pub fn connect(display: Option<&str>) -> Result<Self, AppletError> {
        let screen = crate::x11_screen::open(display)?;
        let (conn, root) = (screen.conn, screen.root);
        let (width, height) = (u32::from(screen.width), u32::from(screen.height));
        let setup = conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        conn.xtest_get_version(2, 2)?
            .reply()
            .map_err(|_| AppletError::MissingExtension("XTEST"))?;
        let mapping = conn.get_keyboard_mapping(min, max - min + 1)?.reply()?;
        Ok(Self {
            conn,
            root,
            width,
            height,
            min_keycode: min,
            keysyms_per_keycode: mapping.keysyms_per_keycode,
            keysyms: mapping.keysyms,
            wheel_rest: (0, 0),
        })
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), AppletError> {
        self.conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0)?;
        self.conn.flush()?;
        Ok(())
    }

    fn keycode(&self, keysym: u32) -> Option<u8> {
        self.keycode_level(keysym).map(|(code, _)| code)
    }

    /// The key code making `keysym`, and whether it needs Shift (the
    /// keysym is in the key's second column).
    fn keycode_level(&self, keysym: u32) -> Option<(u8, bool)> {
        let per = usize::from(self.keysyms_per_keycode.max(1));
        self.keysyms.chunks(per).enumerate().find_map(|(i, syms)| {
            let level = syms.iter().position(|s| *s == keysym)?;
            let code = u8::try_from(usize::from(self.min_keycode) + i).ok()?;
            Some((code, level % 2 == 1))
        })
    }

    fn click(&self, button: u8, times: i32) -> Result<(), AppletError> {
        for _ in 0..times {
            self.fake(BUTTON_PRESS_EVENT, button, 0, 0)?;
            self.fake(BUTTON_RELEASE_EVENT, button, 0, 0)?;
        }
        Ok(())
    }
}

impl InputInjector for X11Injector {
    fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), AppletError> {
        if x < 0 || y < 0 || x as u32 >= self.width || y as u32 >= self.height {
            return Err(AppletError::OutOfScreen {
                x,
                y,
                width: self.width,
                height: self.height,
            });
        }
        self.fake(MOTION_NOTIFY_EVENT, 0, x as i16, y as i16)
    }

    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), AppletError> {
        let detail = match button {
            MouseButton::Left => 1,
            MouseButton::Middle => 2,
            MouseButton::Right => 3,
            MouseButton::Back => 8,
            MouseButton::Forward => 9,
        };
        let kind = if pressed {
            BUTTON_PRESS_EVENT
        } else {
            BUTTON_RELEASE_EVENT
        };
        self.fake(kind, detail, 0, 0)
    }

    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), AppletError> {
        // X11 scrolls by whole notches: buttons 4/5 (vertical), 6/7.
        let (rx, ry) = (self.wheel_rest.0 + dx, self.wheel_rest.1 + dy);
        let (nx, ny) = (rx / 120, ry / 120);
        self.wheel_rest = (rx % 120, ry % 120);
        self.click(if ny > 0 { 5 } else { 4 }, ny.abs().min(100))?;
        self.click(if nx > 0 { 7 } else { 6 }, nx.abs().min(100))
    }

    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), AppletError> {
        let code = self.keycode(keysym).ok_or(AppletError::NoKeycode(keysym))?;
        let kind = if pressed {
            KEY_PRESS_EVENT
        } else {
            KEY_RELEASE_EVENT
        };
        self.fake(kind, code, 0, 0)
    }

    fn text(&mut self, text: &str) -> Result<(), AppletError> {
        const SHIFT_L: u32 = 0xFFE1;
        for c in text.chars() {
            let sym = super::keysym_of(c);
            let (code, shift) = self.keycode_level(sym).ok_or(AppletError::NoKeycode(sym))?;
            if shift {
                self.key(SHIFT_L, true)?;
            }
            self.fake(KEY_PRESS_EVENT, code, 0, 0)?;
            self.fake(KEY_RELEASE_EVENT, code, 0, 0)?;
            if shift {
                self.key(SHIFT_L, false)?;
            }
        }
        Ok(())
    }
}

/// The desktop's pointer and keyboard, read on a connection of its own
/// (for APPLET-3's "customer first").
pub struct X11Activity {
    conn: RustConnection,
    root: Window,
}

impl std::fmt::Debug for X11Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X11Activity")
    }
}

impl X11Activity {
    pub fn connect(display: Option<&str>) -> Result<Self, AppletError> {
        let screen = crate::x11_screen::open(display)?;
        Ok(Self {
            conn: screen.conn,
            root: screen.root,
        })
    }
}

impl super::priority::ActivityProbe for X11Activity {
    fn sample(&mut self) -> Result<super::priority::Sample, AppletError> {
        let pointer = self.conn.query_pointer(self.root)?.reply()?;
        let keys = self.conn.query_keymap()?.reply()?;
        Ok(super::priority::Sample {
            pointer: (i32::from(pointer.root_x), i32::from(pointer.root_y)),
            any_key: keys.keys.iter().any(|b| *b != 0),
        })
    }
}
