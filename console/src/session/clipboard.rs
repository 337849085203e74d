//! The clipboard of one session (CONSOLE-7), technician's side: what the
//! technician puts on the customer's clipboard, and what the customer's
//! clipboard brings back (logged in the recording's event log).

use std::path::PathBuf;
use std::time::Instant;

use secours_codec::recording::{RecordedEvent, Side};
use secours_protocol::Session;
use secours_protocol::clipboard::ClipboardContent;

use super::ConsoleApp;
use crate::commands::ConsoleEvent;

impl ConsoleApp {
    /// Puts the technician's text or PNG on the customer's clipboard.
    pub(super) fn clipboard(
        &mut self,
        s: &mut Session,
        text: Option<String>,
        image: Option<PathBuf>,
        now: Instant,
    ) {
        let content = match (text, image) {
            (Some(t), None) => ClipboardContent::Text(t),
            (None, Some(path)) => match secours_peer::clipboard::content_from_png_file(&path) {
                Ok(c) => c,
                Err(e) => {
                    self.refused(format!("clipboard: {e}"));
                    return;
                }
            },
            _ => {
                self.refused("clipboard: give text or image".into());
                return;
            }
        };
        let (kind, bytes) = kind_of(&content);
        match s.clipboard_changed(content, now) {
            Ok(_) => self.log(
                now,
                &RecordedEvent::Clipboard {
                    from: Side::Technician,
                    kind,
                    bytes,
                },
            ),
            Err(e) => self.refused(format!("clipboard: {e}")),
        }
    }

    /// The customer's clipboard changed: an event (an image is decoded,
    /// bounded, and kept as PNG in the session's folder).
    pub(super) fn on_clipboard(&mut self, content: ClipboardContent, now: Instant) {
        let (kind, bytes) = kind_of(&content);
        self.log(
            now,
            &RecordedEvent::Clipboard {
                from: Side::Customer,
                kind,
                bytes,
            },
        );
        let session_id = self.session_id.clone();
        match content {
            ClipboardContent::Text(text) => self.emit(ConsoleEvent::Clipboard {
                session_id,
                text: Some(text),
                image: None,
                width: None,
                height: None,
            }),
            ClipboardContent::Image { png, .. } => {
                self.clipboard_images += 1;
                let path = self
                    .dir
                    .join(format!("clipboard-{}.png", self.clipboard_images));
                // Decoded (bounded) before it is kept: what the customer's
                // side claims about the image is not trusted.
                match secours_peer::clipboard::save_png(&png, &path) {
                    Ok((w, h)) => self.emit(ConsoleEvent::Clipboard {
                        session_id,
                        text: None,
                        image: Some(path),
                        width: Some(w),
                        height: Some(h),
                    }),
                    Err(e) => self.refused(format!("clipboard image: {e}")),
                }
            }
        }
    }
}

fn kind_of(c: &ClipboardContent) -> (String, u64) {
    let kind = match c {
        ClipboardContent::Text(_) => "text",
        ClipboardContent::Image { .. } => "image",
    };
    (kind.into(), c.len() as u64)
}
