//! The customer's desktop clipboard (X11, through arboard): a thread of its
//! own owns it (X11 serves a selection only while its owner lives), reads
//! it a few times a second for changes and writes what the technician
//! copied. It starts only once the clipboard is granted and allowed:
//! nothing is read before.
//!
//! What the thread wrote itself is remembered, so reading it back is not a
//! change (the session's clipboard sync suppresses echoes too, by hash).

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use secours_peer::clipboard::{Rgba, decode_png, encode_png};
use secours_protocol::clipboard::ClipboardContent;
use secours_protocol::wire::validate::MAX_CLIPBOARD_TEXT;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};

/// How often the clipboard is read for changes.
const POLL: Duration = Duration::from_millis(250);

/// What the clipboard thread reports.
#[derive(Debug)]
pub enum ClipboardNews {
    /// The customer copied something.
    Changed(ClipboardContent),
    /// Something could not be read, written or sent (said to the customer).
    Problem(String),
}

/// The clipboard thread's handle.
#[derive(Debug)]
pub struct DesktopClipboard {
    news: mpsc::UnboundedReceiver<ClipboardNews>,
    apply: std_mpsc::Sender<ClipboardContent>,
}

/// What was last seen or written, to tell a change from a read-back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Nothing,
    Text(String),
    Image([u8; 32]),
}

fn image_digest(width: usize, height: usize, bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((width as u64).to_be_bytes());
    h.update((height as u64).to_be_bytes());
    h.update(bytes);
    h.finalize().into()
}

impl DesktopClipboard {
    /// Opens the display's clipboard (`$DISPLAY`); `wake` wakes the driver
    /// when there is news.
    pub fn start(wake: Arc<Notify>) -> Result<Self, String> {
        let (news_tx, news) = mpsc::unbounded_channel();
        let (apply, apply_rx) = std_mpsc::channel::<ClipboardContent>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("secours-clipboard".into())
            .spawn(move || {
                let mut board = match arboard::Clipboard::new() {
                    Ok(b) => {
                        let _ = ready_tx.send(Ok(()));
                        b
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                // What is there already stays private: only changes go.
                let mut seen = read(&mut board).map_or(Seen::Nothing, |(s, _)| s);
                let tell = |n: ClipboardNews| {
                    let ok = news_tx.send(n).is_ok();
                    wake.notify_one();
                    ok
                };
                loop {
                    match apply_rx.recv_timeout(POLL) {
                        Ok(content) => match write(&mut board, content) {
                            Ok(s) => seen = s,
                            Err(e) => {
                                if !tell(ClipboardNews::Problem(e)) {
                                    return;
                                }
                            }
                        },
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {
                            let Some((now, content)) = read(&mut board) else {
                                continue;
                            };
                            if now == seen {
                                continue;
                            }
                            seen = now;
                            let news = match content {
                                Ok(c) => ClipboardNews::Changed(c),
                                Err(e) => ClipboardNews::Problem(e),
                            };
                            if !tell(news) {
                                return;
                            }
                        }
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        ready_rx
            .recv()
            .map_err(|_| "the clipboard thread stopped".to_owned())??;
        Ok(Self { news, apply })
    }

    /// News since the last call.
    pub fn try_news(&mut self) -> Option<ClipboardNews> {
        self.news.try_recv().ok()
    }

    /// Puts what the technician copied on the clipboard.
    pub fn apply(&self, content: ClipboardContent) {
        let _ = self.apply.send(content);
    }
}

/// The clipboard's value: what it is (for change detection) and the
/// content to send (or why it cannot go).
fn read(board: &mut arboard::Clipboard) -> Option<(Seen, Result<ClipboardContent, String>)> {
    if let Ok(text) = board.get_text() {
        if text.is_empty() {
            return None;
        }
        let content = if text.len() > MAX_CLIPBOARD_TEXT {
            Err(format!(
                "the copied text ({} bytes) is too long to share",
                text.len()
            ))
        } else {
            Ok(ClipboardContent::Text(text.clone()))
        };
        return Some((Seen::Text(text), content));
    }
    let image = board.get_image().ok()?;
    let digest = image_digest(image.width, image.height, &image.bytes);
    let content = (|| {
        let rgba = Rgba {
            width: u32::try_from(image.width).map_err(|e| e.to_string())?,
            height: u32::try_from(image.height).map_err(|e| e.to_string())?,
            data: image.bytes.into_owned(),
        };
        let png =
            encode_png(&rgba).map_err(|e| format!("the copied image cannot be shared: {e}"))?;
        Ok(ClipboardContent::Image {
            width: rgba.width,
            height: rgba.height,
            png,
        })
    })();
    Some((Seen::Image(digest), content))
}

fn write(board: &mut arboard::Clipboard, content: ClipboardContent) -> Result<Seen, String> {
    match content {
        ClipboardContent::Text(text) => {
            board
                .set_text(text.clone())
                .map_err(|e| format!("the clipboard refused the text: {e}"))?;
            Ok(Seen::Text(text))
        }
        ClipboardContent::Image { png, .. } => {
            // Decoded within bounds: the technician's side is not trusted
            // with this computer's memory either.
            let rgba = decode_png(&png)
                .map_err(|e| format!("a clipboard image from the technician was refused: {e}"))?;
            let (w, h) = (rgba.width as usize, rgba.height as usize);
            let digest = image_digest(w, h, &rgba.data);
            board
                .set_image(arboard::ImageData {
                    width: w,
                    height: h,
                    bytes: rgba.data.into(),
                })
                .map_err(|e| format!("the clipboard refused the image: {e}"))?;
            Ok(Seen::Image(digest))
        }
    }
}
