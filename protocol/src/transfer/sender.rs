//! The sending side of one file transfer.

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::error::{CommandError, SessionError};
use crate::pb;
use crate::wire::Message;

/// Largest chunk the sender cuts, bytes (the frame limit allows more; smaller
/// chunks let input and video overtake file data sooner).
pub const CHUNK: u64 = 128 * 1024;

/// The bytes the caller must supply next: read `max_len` bytes (fewer only at
/// the end of the file) at `offset` and give them to `send_file_chunk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileWindow {
    /// Where to read.
    pub offset: u64,
    /// How much to read.
    pub max_len: u64,
    /// The bytes are below the receiver's resume offset: they are hashed for
    /// the whole-file MD5 but not sent.
    pub hash_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offered,
    Sending,
    AwaitResult,
    Done,
}

/// One outgoing file: windowed by the receiver's credit, resumable, MD5
/// computed while streaming. Holds no file data.
#[derive(Debug)]
pub struct FileSender {
    id: u64,
    size: u64,
    state: State,
    resume: u64,
    next: u64,
    credit: u64,
    md5: Md5,
    digest: Option<[u8; 16]>,
}

impl FileSender {
    /// A new transfer and the offer to send.
    pub fn new(
        id: u64,
        name: String,
        size: u64,
        modified_unix: i64,
        target_dir: &str,
    ) -> (Self, Message) {
        let offer = Message::FileOffer(pb::FileOffer {
            id,
            name,
            size,
            modified_unix,
            target_dir: target_dir.to_owned(),
        });
        let s = Self {
            id,
            size,
            state: State::Offered,
            resume: 0,
            next: 0,
            credit: 0,
            md5: Md5::new(),
            digest: None,
        };
        (s, offer)
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes hashed or sent so far.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Whether the transfer has finished (verified or not).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The receiver's answer. Returns whether it accepted.
    pub fn handle_answer(&mut self, answer: &pb::FileAnswer) -> Result<bool, SessionError> {
        if self.state != State::Offered {
            return Err(SessionError::Violation(format!(
                "second answer for file {}",
                self.id
            )));
        }
        if !answer.accept {
            self.state = State::Done;
            return Ok(false);
        }
        if answer.resume_offset > self.size {
            return Err(SessionError::Violation(format!(
                "resume offset {} beyond the file's {} bytes",
                answer.resume_offset, self.size
            )));
        }
        self.resume = answer.resume_offset;
        self.credit = answer.credit;
        self.state = State::Sending;
        Ok(true)
    }

    /// More credit from the receiver.
    pub fn handle_credit(&mut self, bytes: u64) -> Result<(), SessionError> {
        if self.state != State::Sending && self.state != State::AwaitResult {
            return Err(SessionError::Violation(format!(
                "credit for idle file {}",
                self.id
            )));
        }
        self.credit = self.credit.saturating_add(bytes);
        Ok(())
    }

    /// What the caller should read next, if anything may be sent now.
    pub fn window(&self) -> Option<FileWindow> {
        if self.state != State::Sending || self.next >= self.size {
            return None;
        }
        let left = self.size - self.next;
        if self.next < self.resume {
            let max_len = (self.resume - self.next).min(CHUNK * 8);
            return Some(FileWindow {
                offset: self.next,
                max_len,
                hash_only: true,
            });
        }
        let max_len = left.min(CHUNK).min(self.credit);
        (max_len > 0).then_some(FileWindow {
            offset: self.next,
            max_len,
            hash_only: false,
        })
    }

    /// Whether the sender has nothing left to read but has not completed yet
    /// (an empty file, or the last bytes sent).
    pub fn ready_to_complete(&self) -> bool {
        self.state == State::Sending && self.next >= self.size
    }

    /// Takes the bytes the window asked for; returns the message to send
    /// (`None` for hash-only bytes).
    pub fn push(&mut self, data: Bytes) -> Result<Option<Message>, CommandError> {
        let Some(window) = self.window() else {
            return Err(CommandError::Invalid(format!(
                "file {} has no open window",
                self.id
            )));
        };
        let len = data.len() as u64;
        if len == 0 || len > window.max_len {
            return Err(CommandError::Invalid(format!(
                "chunk of {len} bytes, the window is {} bytes",
                window.max_len
            )));
        }
        self.md5.update(&data);
        self.next += len;
        if window.hash_only {
            return Ok(None);
        }
        self.credit -= len;
        Ok(Some(Message::FileChunk(pb::FileChunk {
            id: self.id,
            offset: window.offset,
            data,
        })))
    }

    /// The completion message, once every byte went out.
    pub fn complete(&mut self) -> Option<(Message, [u8; 16])> {
        if !self.ready_to_complete() {
            return None;
        }
        self.state = State::AwaitResult;
        let md5: [u8; 16] = self.md5.clone().finalize().into();
        self.digest = Some(md5);
        Some((
            Message::FileComplete(pb::FileComplete {
                id: self.id,
                md5: md5.to_vec().into(),
            }),
            md5,
        ))
    }

    /// The receiver's verdict: our MD5 and whether the receiver agrees.
    pub fn handle_result(
        &mut self,
        result: &pb::FileResult,
    ) -> Result<([u8; 16], bool), SessionError> {
        let (State::AwaitResult, Some(md5)) = (self.state, self.digest) else {
            return Err(SessionError::Violation(format!(
                "result for unfinished file {}",
                self.id
            )));
        };
        self.state = State::Done;
        Ok((md5, result.ok && result.md5.as_ref() == md5))
    }
}
