//! Clipboard sync (CONSOLE-7, STACK-5): last writer wins by a Lamport
//! sequence, with no echo loops and bounded sizes.
//!
//! Each side keeps a clock: a local change is stamped `max seen + 1` and sent;
//! an update from the peer wins if its stamp `(seq, origin)` is above the
//! current one (equal sequence numbers mean concurrent copies: the console's
//! wins on both sides, so they converge). Content applied from the peer is
//! remembered by hash, so when the operating system reports it back as a local
//! change it is not sent again.

use std::collections::VecDeque;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::{CommandError, SessionError};
use crate::pb::{self, Role, clipboard_update::Content};
use crate::wire::Message;
use crate::wire::validate::{MAX_CLIPBOARD_IMAGE, MAX_CLIPBOARD_TEXT};

/// Clipboard content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipboardContent {
    /// UTF-8 text.
    Text(String),
    /// An image as PNG.
    Image {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// PNG bytes.
        png: Bytes,
    },
}

impl ClipboardContent {
    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        match self {
            ClipboardContent::Text(t) => {
                h.update(b"t");
                h.update(t.as_bytes());
            }
            ClipboardContent::Image { width, height, png } => {
                h.update(b"i");
                h.update(width.to_be_bytes());
                h.update(height.to_be_bytes());
                h.update(png);
            }
        }
        h.finalize().into()
    }

    /// Size on the wire, bytes.
    pub fn len(&self) -> usize {
        match self {
            ClipboardContent::Text(t) => t.len(),
            ClipboardContent::Image { png, .. } => png.len(),
        }
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_size(&self) -> Result<(), CommandError> {
        let (len, max) = match self {
            ClipboardContent::Text(t) => (t.len(), MAX_CLIPBOARD_TEXT),
            ClipboardContent::Image { png, .. } => (png.len(), MAX_CLIPBOARD_IMAGE),
        };
        if len > max {
            return Err(CommandError::Invalid(format!(
                "clipboard content of {len} bytes exceeds the {max}-byte limit"
            )));
        }
        Ok(())
    }
}

/// Stamp of a clipboard value: higher wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp {
    seq: u64,
    /// 1 for the console, 0 for the applet: the console wins ties.
    rank: u8,
}

fn rank(role: Role) -> u8 {
    u8::from(role == Role::Console)
}

/// One side's clipboard sync.
#[derive(Debug)]
pub struct ClipboardSync {
    role: Role,
    clock: u64,
    current: Option<Stamp>,
    applied: Option<[u8; 32]>,
    sent: Option<[u8; 32]>,
    out: VecDeque<Message>,
    apply: VecDeque<ClipboardContent>,
}

impl ClipboardSync {
    /// Clipboard sync for one side.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            clock: 0,
            current: None,
            applied: None,
            sent: None,
            out: VecDeque::new(),
            apply: VecDeque::new(),
        }
    }

    /// The local clipboard changed. Returns whether an update was sent
    /// (`false` for an echo of what the peer set, or no change).
    pub fn local_changed(&mut self, content: ClipboardContent) -> Result<bool, CommandError> {
        content.check_size()?;
        let digest = content.digest();
        if self.applied == Some(digest) || self.sent == Some(digest) {
            return Ok(false);
        }
        self.clock = self.clock.saturating_add(1);
        self.current = Some(Stamp {
            seq: self.clock,
            rank: rank(self.role),
        });
        self.sent = Some(digest);
        self.applied = None;
        let content = match content {
            ClipboardContent::Text(t) => Content::Text(t),
            ClipboardContent::Image { width, height, png } => {
                Content::Image(pb::ClipboardImage { width, height, png })
            }
        };
        self.out
            .push_back(Message::ClipboardUpdate(pb::ClipboardUpdate {
                seq: self.clock,
                origin: self.role as i32,
                content: Some(content),
            }));
        Ok(true)
    }

    /// An update from the peer (sizes already checked by the frame decoder).
    pub fn handle_update(&mut self, update: pb::ClipboardUpdate) -> Result<(), SessionError> {
        let origin = Role::try_from(update.origin).unwrap_or(Role::Unspecified);
        if origin == self.role || !matches!(origin, Role::Console | Role::Applet) {
            return Err(SessionError::Violation(
                "clipboard update with the wrong origin".into(),
            ));
        }
        self.clock = self.clock.max(update.seq);
        let stamp = Stamp {
            seq: update.seq,
            rank: rank(origin),
        };
        if self.current.is_some_and(|c| stamp <= c) {
            return Ok(()); // stale: we hold a newer value already
        }
        let content = match update.content {
            Some(Content::Text(t)) => ClipboardContent::Text(t),
            Some(Content::Image(i)) => ClipboardContent::Image {
                width: i.width,
                height: i.height,
                png: i.png,
            },
            None => {
                return Err(SessionError::Violation(
                    "clipboard update without content".into(),
                ));
            }
        };
        self.current = Some(stamp);
        self.applied = Some(content.digest());
        self.sent = None;
        self.apply.push_back(content);
        Ok(())
    }

    /// The next message to send.
    pub fn poll_message(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next content to put on the local clipboard.
    pub fn poll_apply(&mut self) -> Option<ClipboardContent> {
        self.apply.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(from: &mut ClipboardSync, to: &mut ClipboardSync) {
        while let Some(Message::ClipboardUpdate(u)) = from.poll_message() {
            to.handle_update(u).ok();
        }
    }

    #[test]
    fn no_echo_loop() {
        let mut c = ClipboardSync::new(Role::Console);
        let mut a = ClipboardSync::new(Role::Applet);
        assert_eq!(
            c.local_changed(ClipboardContent::Text("hi".into())),
            Ok(true)
        );
        deliver(&mut c, &mut a);
        let got = a.poll_apply();
        assert_eq!(got, Some(ClipboardContent::Text("hi".into())));
        // The applet's OS reports the value we just set: nothing goes back.
        assert_eq!(
            a.local_changed(ClipboardContent::Text("hi".into())),
            Ok(false)
        );
        assert!(a.poll_message().is_none());
    }

    #[test]
    fn concurrent_copies_converge_on_console() {
        let mut c = ClipboardSync::new(Role::Console);
        let mut a = ClipboardSync::new(Role::Applet);
        c.local_changed(ClipboardContent::Text("console".into()))
            .ok();
        a.local_changed(ClipboardContent::Text("applet".into()))
            .ok();
        deliver(&mut c, &mut a);
        deliver(&mut a, &mut c);
        assert_eq!(
            a.poll_apply(),
            Some(ClipboardContent::Text("console".into()))
        );
        assert_eq!(c.poll_apply(), None);
    }

    #[test]
    fn later_copy_wins() {
        let mut c = ClipboardSync::new(Role::Console);
        let mut a = ClipboardSync::new(Role::Applet);
        c.local_changed(ClipboardContent::Text("one".into())).ok();
        deliver(&mut c, &mut a);
        a.poll_apply();
        a.local_changed(ClipboardContent::Text("two".into())).ok();
        deliver(&mut a, &mut c);
        assert_eq!(c.poll_apply(), Some(ClipboardContent::Text("two".into())));
    }

    #[test]
    fn oversize_refused_locally() {
        let mut c = ClipboardSync::new(Role::Console);
        let big = "x".repeat(MAX_CLIPBOARD_TEXT + 1);
        assert!(c.local_changed(ClipboardContent::Text(big)).is_err());
        assert!(c.poll_message().is_none());
    }

    #[test]
    fn own_origin_from_peer_is_violation() {
        let mut c = ClipboardSync::new(Role::Console);
        let bad = pb::ClipboardUpdate {
            seq: 1,
            origin: Role::Console as i32,
            content: Some(Content::Text("x".into())),
        };
        assert!(c.handle_update(bad).is_err());
    }
}
