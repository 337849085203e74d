//! The receiving side of one file transfer.

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::error::{CommandError, SessionError};
use crate::pb;
use crate::wire::Message;

/// Default receive window: bytes in flight or not yet written by the caller.
pub const WINDOW: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offered,
    HashingPrefix,
    Receiving,
    Done,
}

/// One incoming file. The caller writes each chunk it is given and reports it
/// written; credit follows, so at most one window is ever buffered.
#[derive(Debug)]
pub struct FileReceiver {
    id: u64,
    size: u64,
    state: State,
    resume: u64,
    next: u64,
    /// Credit granted to the sender and not used yet.
    outstanding: u64,
    /// Bytes handed to the caller and not reported written yet.
    unwritten: u64,
    window: u64,
    md5: Md5,
}

/// What a completed transfer gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// MD5 the receiver computed.
    pub md5: [u8; 16],
    /// Whether it matches the sender's.
    pub verified: bool,
}

impl FileReceiver {
    /// A transfer offered by the peer.
    pub fn new(offer: &pb::FileOffer, window: u64) -> Self {
        Self {
            id: offer.id,
            size: offer.size,
            state: State::Offered,
            resume: 0,
            next: 0,
            outstanding: 0,
            unwritten: 0,
            window: window.max(1),
            md5: Md5::new(),
        }
    }

    /// The announced size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes received so far (including a resumed prefix).
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Whether the transfer has finished.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the caller answered yet.
    pub fn is_offered(&self) -> bool {
        self.state == State::Offered
    }

    /// Accepts, resuming after `existing` bytes the caller already holds.
    /// With `existing > 0` the caller must then feed those bytes to
    /// [`FileReceiver::hash_existing`]; the answer goes out when they are in.
    pub fn accept(&mut self, existing: u64) -> Result<Option<Message>, CommandError> {
        if self.state != State::Offered {
            return Err(CommandError::Invalid(format!(
                "file {} already answered",
                self.id
            )));
        }
        if existing > self.size {
            return Err(CommandError::Invalid(format!(
                "{existing} bytes held, the file has only {}",
                self.size
            )));
        }
        self.resume = existing;
        if existing == 0 {
            return Ok(Some(self.answer()));
        }
        self.state = State::HashingPrefix;
        Ok(None)
    }

    /// How many prefix bytes are still to be hashed before the answer.
    pub fn prefix_needed(&self) -> Option<(u64, u64)> {
        (self.state == State::HashingPrefix).then(|| (self.next, self.resume - self.next))
    }

    /// Feeds bytes of the prefix already held (in order).
    pub fn hash_existing(&mut self, data: &[u8]) -> Result<Option<Message>, CommandError> {
        let Some((_, left)) = self.prefix_needed() else {
            return Err(CommandError::Invalid(format!(
                "file {} needs no prefix",
                self.id
            )));
        };
        if data.len() as u64 > left {
            return Err(CommandError::Invalid(format!(
                "{} prefix bytes too many",
                data.len() as u64 - left
            )));
        }
        self.md5.update(data);
        self.next += data.len() as u64;
        Ok((self.next == self.resume).then(|| self.answer()))
    }

    fn answer(&mut self) -> Message {
        self.state = State::Receiving;
        self.outstanding = self.window.min(self.size - self.next);
        Message::FileAnswer(pb::FileAnswer {
            id: self.id,
            accept: true,
            resume_offset: self.resume,
            credit: self.outstanding,
            reason: String::new(),
        })
    }

    /// Refuses the offer.
    pub fn refuse(&mut self, reason: &str) -> Result<Message, CommandError> {
        if self.state != State::Offered {
            return Err(CommandError::Invalid(format!(
                "file {} already answered",
                self.id
            )));
        }
        self.state = State::Done;
        Ok(Message::FileAnswer(pb::FileAnswer {
            id: self.id,
            accept: false,
            resume_offset: 0,
            credit: 0,
            reason: reason.chars().take(512).collect(),
        }))
    }

    /// A chunk from the sender: checked against order, credit and size, then
    /// hashed. Returns the data for the caller to write at the chunk's offset.
    pub fn handle_chunk(&mut self, chunk: pb::FileChunk) -> Result<Bytes, SessionError> {
        let len = chunk.data.len() as u64;
        let violation = if self.state != State::Receiving {
            Some("chunk before the answer or after the end")
        } else if chunk.offset != self.next {
            Some("chunk out of order")
        } else if len > self.outstanding {
            Some("chunk beyond the granted credit")
        } else if self.next + len > self.size {
            Some("chunk beyond the announced size")
        } else {
            None
        };
        if let Some(v) = violation {
            return Err(SessionError::Violation(format!("file {}: {v}", self.id)));
        }
        self.md5.update(&chunk.data);
        self.next += len;
        self.outstanding -= len;
        self.unwritten += len;
        Ok(chunk.data)
    }

    /// The caller wrote `len` bytes; returns new credit to send, batched by a
    /// quarter window so credit costs few messages.
    pub fn written(&mut self, len: u64) -> Option<Message> {
        self.unwritten = self.unwritten.saturating_sub(len);
        if self.state != State::Receiving {
            return None;
        }
        let not_granted = self.size - self.next - self.outstanding;
        let room = self
            .window
            .saturating_sub(self.outstanding + self.unwritten)
            .min(not_granted);
        if room == 0 || (room < self.window / 4 && room < not_granted) {
            return None;
        }
        self.outstanding += room;
        Some(Message::FileCredit(pb::FileCredit {
            id: self.id,
            bytes: room,
        }))
    }

    /// The sender's completion: compares the MD5 and returns the result
    /// message and the verdict.
    pub fn handle_complete(
        &mut self,
        complete: &pb::FileComplete,
    ) -> Result<(Message, Verdict), SessionError> {
        if self.state != State::Receiving || self.next != self.size {
            return Err(SessionError::Violation(format!(
                "file {} completed at {} of {} bytes",
                self.id, self.next, self.size
            )));
        }
        self.state = State::Done;
        let md5: [u8; 16] = self.md5.clone().finalize().into();
        let verified = complete.md5.as_ref() == md5;
        let msg = Message::FileResult(pb::FileResult {
            id: self.id,
            ok: verified,
            md5: md5.to_vec().into(),
        });
        Ok((msg, Verdict { md5, verified }))
    }
}
