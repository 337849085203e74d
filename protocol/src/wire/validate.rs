//! Field-level limits checked on every decoded message.
//!
//! Protobuf bounds a message by the frame it arrived in, but not its fields:
//! a 256 KiB control frame could still carry a 200 KiB "nickname". Everything a
//! peer sends is hostile data, so each field gets a limit here, once, and the
//! state machines above can rely on it.

use crate::pb;
use crate::wire::Message;

/// Bytes of a certificate fingerprint (SHA-256).
pub const FINGERPRINT_LEN: usize = 32;
/// Bytes of a handshake nonce.
pub const NONCE_LEN: usize = 32;
/// Bytes of an authentication proof (HMAC-SHA256).
pub const PROOF_LEN: usize = 32;
/// Bytes of a session token issued by the server.
pub const SESSION_TOKEN_LEN: usize = 32;
/// Bytes of an MD5 digest.
pub const MD5_LEN: usize = 16;
/// Longest short string (names, ids, reasons), bytes.
pub const MAX_SHORT_STRING: usize = 256;
/// Longest descriptive string (messages shown to a person), bytes.
pub const MAX_TEXT: usize = 4096;
/// Longest chat message, bytes.
pub const MAX_CHAT: usize = 8 * 1024;
/// Longest URL, bytes.
pub const MAX_URL: usize = 2048;
/// Longest path, bytes.
pub const MAX_PATH: usize = 4096;
/// Longest typed text in one `Text` input message, bytes.
pub const MAX_INPUT_TEXT: usize = 1024;
/// Largest clipboard text, bytes.
pub const MAX_CLIPBOARD_TEXT: usize = 1024 * 1024;
/// Largest clipboard image (PNG), bytes.
pub const MAX_CLIPBOARD_IMAGE: usize = 8 * 1024 * 1024;
/// Largest data of one file chunk, bytes.
pub const MAX_FILE_CHUNK: usize = 512 * 1024;
/// Largest cursor side, pixels.
pub const MAX_CURSOR_SIDE: u32 = 256;
/// Points in one whiteboard stroke (a longer line is several strokes).
pub const MAX_WHITEBOARD_POINTS: usize = 512;
/// A whiteboard line's widest width, in pixels.
pub const MAX_WHITEBOARD_WIDTH: u32 = 32;
/// Largest video side, pixels.
pub const MAX_VIDEO_SIDE: u32 = 16384;
/// Most entries in one `FileList`.
pub const MAX_FILE_LIST_ENTRIES: usize = 2000;
/// Most items in one `SystemInfo`.
pub const MAX_SYSTEM_INFO_ITEMS: usize = 1000;
/// Most permissions in a list.
pub const MAX_PERMISSIONS: usize = 64;
/// Most custom fields on a PIN page.
pub const MAX_CUSTOM_FIELDS: usize = 16;

/// Why a decoded message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

type Check = Result<(), Violation>;

fn fail(field: &'static str, reason: &'static str) -> Check {
    Err(Violation { field, reason })
}

fn max_len(field: &'static str, len: usize, max: usize) -> Check {
    if len > max {
        return fail(field, "too long");
    }
    Ok(())
}

fn exact_len(field: &'static str, len: usize, want: usize) -> Check {
    if len != want {
        return fail(field, "wrong length");
    }
    Ok(())
}

/// A file name as the receiver will create it: one path component, nothing
/// that could climb out of the target directory.
pub fn check_file_name(name: &str) -> Result<(), Violation> {
    const F: &str = "name";
    max_len(F, name.len(), 255)?;
    if name.is_empty() || name == "." || name == ".." {
        return fail(F, "not a file name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control())
    {
        return fail(F, "contains a path separator or control character");
    }
    Ok(())
}

/// Checks the fields of one decoded message against the limits above.
pub fn validate(message: &Message) -> Result<(), Violation> {
    use Message as M;
    match message {
        M::Hello(m) => {
            exact_len("fingerprint", m.fingerprint.len(), FINGERPRINT_LEN)?;
            exact_len("nonce", m.nonce.len(), NONCE_LEN)?;
            max_len("software", m.software.len(), MAX_SHORT_STRING)
        }
        M::Auth(m) => {
            max_len("session_id", m.session_id.len(), MAX_SHORT_STRING)?;
            exact_len("proof", m.proof.len(), PROOF_LEN)
        }
        M::Capabilities(m) => max_len("video_codecs", m.video_codecs.len(), 8),
        M::Permissions(m) => permission_set(m),
        M::Ready(_) => Ok(()),
        M::ConsentRequest(m) => {
            max_len("actions", m.actions.len(), MAX_PERMISSIONS)?;
            max_len("detail", m.detail.len(), MAX_TEXT)
        }
        M::ConsentAnswer(m) => max_len("reason", m.reason.len(), MAX_TEXT),
        M::ConsentRevoke(_) | M::KeyframeRequest(_) | M::RecordingNotice(_) => Ok(()),
        M::UrlPush(m) => {
            max_len("url", m.url.len(), MAX_URL)?;
            let lower = m.url.get(..8).unwrap_or(&m.url).to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                return fail("url", "not an http or https URL");
            }
            Ok(())
        }
        M::SystemInfoRequest(_) => Ok(()),
        M::SystemInfo(m) => {
            max_len("items", m.items.len(), MAX_SYSTEM_INFO_ITEMS)?;
            for item in &m.items {
                max_len("section", item.section.len(), MAX_SHORT_STRING)?;
                max_len("key", item.key.len(), MAX_SHORT_STRING)?;
                max_len("value", item.value.len(), MAX_TEXT)?;
            }
            Ok(())
        }
        M::RebootRequest(_) => Ok(()),
        M::ReconnectToken(m) => max_len("token", m.token.len(), 64),
        M::SessionControl(m) => {
            max_len("target_group", m.target_group.len(), MAX_SHORT_STRING)?;
            max_len("message", m.message.len(), MAX_TEXT)
        }
        M::LinkStats(_) | M::Ping(_) | M::Pong(_) => Ok(()),
        M::Error(m) => max_len("message", m.message.len(), MAX_TEXT),
        M::FileListRequest(m) => max_len("path", m.path.len(), MAX_PATH),
        M::FileList(m) => {
            max_len("path", m.path.len(), MAX_PATH)?;
            max_len("error", m.error.len(), MAX_TEXT)?;
            max_len("entries", m.entries.len(), MAX_FILE_LIST_ENTRIES)?;
            for entry in &m.entries {
                check_file_name(&entry.name)?;
            }
            Ok(())
        }
        M::FileAction(m) => {
            max_len("path", m.path.len(), MAX_PATH)?;
            max_len("new_path", m.new_path.len(), MAX_PATH)
        }
        M::FileActionResult(m) => max_len("error", m.error.len(), MAX_TEXT),
        M::VideoFrame(m) => {
            if m.width > MAX_VIDEO_SIDE || m.height > MAX_VIDEO_SIDE {
                return fail("width", "frame larger than the maximum side");
            }
            Ok(())
        }
        M::CursorShape(m) => {
            if m.width > MAX_CURSOR_SIDE || m.height > MAX_CURSOR_SIDE {
                return fail("width", "cursor larger than the maximum side");
            }
            // Both sides are at most 256, so the product cannot overflow.
            let want = (m.width as usize) * (m.height as usize) * 4;
            exact_len("rgba", m.rgba.len(), want)
        }
        M::CursorPosition(_)
        | M::PointerMove(_)
        | M::PointerButton(_)
        | M::PointerWheel(_)
        | M::Key(_) => Ok(()),
        M::Text(m) => max_len("text", m.text.len(), MAX_INPUT_TEXT),
        M::WhiteboardStroke(m) => {
            if m.points.len() < 2 || m.points.len() % 2 != 0 {
                return fail("points", "not pairs of coordinates");
            }
            max_len("points", m.points.len(), MAX_WHITEBOARD_POINTS * 2)?;
            if m.rgb > 0xff_ffff {
                return fail("rgb", "not a 24-bit colour");
            }
            if !(1..=MAX_WHITEBOARD_WIDTH).contains(&m.width) {
                return fail("width", "not between 1 and 32 pixels");
            }
            Ok(())
        }
        M::WhiteboardClear(_) => Ok(()),
        M::ClipboardUpdate(m) => match &m.content {
            Some(pb::clipboard_update::Content::Text(t)) => {
                max_len("text", t.len(), MAX_CLIPBOARD_TEXT)
            }
            Some(pb::clipboard_update::Content::Image(i)) => {
                max_len("png", i.png.len(), MAX_CLIPBOARD_IMAGE)
            }
            None => fail("content", "missing"),
        },
        M::FileOffer(m) => {
            check_file_name(&m.name)?;
            max_len("target_dir", m.target_dir.len(), MAX_PATH)
        }
        M::FileAnswer(m) => max_len("reason", m.reason.len(), MAX_TEXT),
        M::FileChunk(m) => {
            max_len("data", m.data.len(), MAX_FILE_CHUNK)?;
            if m.offset.checked_add(m.data.len() as u64).is_none() {
                return fail("offset", "overflows");
            }
            Ok(())
        }
        M::FileCredit(_) => Ok(()),
        M::FileComplete(m) => exact_len("md5", m.md5.len(), MD5_LEN),
        M::FileResult(m) => {
            if !m.md5.is_empty() {
                exact_len("md5", m.md5.len(), MD5_LEN)?;
            }
            Ok(())
        }
        M::FileCancel(m) => max_len("detail", m.detail.len(), MAX_TEXT),
        M::ChatMessage(m) => max_len("text", m.text.len(), MAX_CHAT),
        M::ChatState(_) => Ok(()),
    }
}

fn permission_set(m: &pb::PermissionSet) -> Check {
    max_len("granted", m.granted.len(), MAX_PERMISSIONS)?;
    max_len("prompt", m.prompt.len(), MAX_PERMISSIONS)
}
