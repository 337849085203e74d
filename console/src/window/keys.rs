//! The technician's keyboard as the customer's X server understands it:
//! egui keys to X11 keysyms. Printable characters travel as text (the
//! applet types them whatever the customer's layout); keys that type
//! nothing (arrows, Enter, function keys) and shortcuts travel as keysyms.

use eframe::egui::{Key, Modifiers};

/// X11 keysyms of the modifiers, pressed around a shortcut.
pub const CONTROL_L: u32 = 0xffe3;
/// Left Shift.
pub const SHIFT_L: u32 = 0xffe1;
/// Left Alt.
pub const ALT_L: u32 = 0xffe9;
/// Left Super.
pub const SUPER_L: u32 = 0xffeb;

/// The keysym of a key that types nothing by itself, or of a letter or
/// digit (for shortcuts).
pub fn keysym(key: Key) -> Option<u32> {
    use Key as K;
    let sym = match key {
        K::Enter => 0xff0d,
        K::Backspace => 0xff08,
        K::Tab => 0xff09,
        K::Escape => 0xff1b,
        K::Delete => 0xffff,
        K::Insert => 0xff63,
        K::Home => 0xff50,
        K::ArrowLeft => 0xff51,
        K::ArrowUp => 0xff52,
        K::ArrowRight => 0xff53,
        K::ArrowDown => 0xff54,
        K::PageUp => 0xff55,
        K::PageDown => 0xff56,
        K::End => 0xff57,
        K::Space => 0x20,
        K::F1 => 0xffbe,
        K::F2 => 0xffbf,
        K::F3 => 0xffc0,
        K::F4 => 0xffc1,
        K::F5 => 0xffc2,
        K::F6 => 0xffc3,
        K::F7 => 0xffc4,
        K::F8 => 0xffc5,
        K::F9 => 0xffc6,
        K::F10 => 0xffc7,
        K::F11 => 0xffc8,
        K::F12 => 0xffc9,
        other => {
            // Letters and digits: their lower-case ASCII is their keysym.
            let name = other.name();
            let mut chars = name.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphanumeric() => u32::from(c.to_ascii_lowercase()),
                _ => return None,
            }
        }
    };
    Some(sym)
}

/// Whether a key types a character by itself (then the text event carries
/// it): letters, digits and space without Ctrl, Alt or Super.
pub fn types_text(key: Key, modifiers: Modifiers) -> bool {
    let plain = !(modifiers.ctrl || modifiers.alt || modifiers.mac_cmd || modifiers.command);
    plain && (key == Key::Space || keysym(key).is_some_and(|s| s < 0x80))
}

/// The modifiers held, as keysyms to press before a shortcut's key.
pub fn held(modifiers: Modifiers) -> Vec<u32> {
    let mut v = Vec::new();
    if modifiers.ctrl {
        v.push(CONTROL_L);
    }
    if modifiers.shift {
        v.push(SHIFT_L);
    }
    if modifiers.alt {
        v.push(ALT_L);
    }
    if modifiers.mac_cmd {
        v.push(SUPER_L);
    }
    v
}

/// The combination that gives the keyboard back to this computer.
pub fn is_release(key: Key, modifiers: Modifiers) -> bool {
    key == Key::Escape && modifiers.ctrl && modifiers.alt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_x11_keysyms() {
        assert_eq!(keysym(Key::Enter), Some(0xff0d));
        assert_eq!(keysym(Key::A), Some(u32::from(b'a')));
        assert_eq!(keysym(Key::Num7), Some(u32::from(b'7')));
        assert_eq!(keysym(Key::F12), Some(0xffc9));
        assert!(types_text(Key::A, Modifiers::NONE));
        assert!(!types_text(Key::A, Modifiers::CTRL));
        assert!(!types_text(Key::Enter, Modifiers::NONE));
        assert_eq!(
            held(Modifiers::CTRL | Modifiers::SHIFT),
            vec![CONTROL_L, SHIFT_L]
        );
        assert!(is_release(Key::Escape, Modifiers::CTRL | Modifiers::ALT));
    }
}
