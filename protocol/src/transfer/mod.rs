//! File transfer (CONSOLE-6, SEC-7, STACK-6): every transfer of a session.
//!
//! ```text
//!  sender                                   receiver
//!  FileOffer{id, name, size}        ->
//!                                   <-      FileAnswer{accept, resume_offset, credit}
//!  (hash [0, resume) without sending)
//!  FileChunk{offset, data} ...      ->      (write, then) FileCredit{bytes}
//!  FileComplete{md5 of whole file}  ->
//!                                   <-      FileResult{ok, md5}
//!  either side, any time: FileCancel{reason}
//! ```
//!
//! Neither side holds the file: the sender asks the caller for each window of
//! bytes, the receiver hands each chunk over and grants credit as the caller
//! reports it written. Ids are odd when the console chose them, even for the
//! applet, so both can start transfers without colliding.

mod receiver;
mod sender;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use receiver::{FileReceiver, Verdict, WINDOW};
pub use sender::{CHUNK, FileSender, FileWindow};

use crate::error::{CommandError, SessionError};
use crate::pb::{self, CancelReason, Role};
use crate::wire::Message;
use crate::wire::validate::check_file_name;

/// Most transfers alive at once in each direction.
pub const MAX_TRANSFERS: usize = 8;
/// A transfer with no progress for this long is cancelled.
pub const TRANSFER_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What file transfer tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// The peer offers a file: answer with `accept_file` or `refuse_file`.
    Offered {
        /// Transfer id.
        id: u64,
        /// Base name (validated: no separators; still peer data).
        name: String,
        /// Announced size.
        size: u64,
        /// Modification time, Unix seconds.
        modified_unix: i64,
        /// The folder under the applet's root it is for (file manager;
        /// empty: the received folder). Peer data, unchecked.
        target_dir: String,
    },
    /// Our offer was accepted.
    Accepted {
        /// Transfer id.
        id: u64,
        /// Bytes the receiver already holds.
        resume_offset: u64,
    },
    /// Our offer was refused.
    Refused {
        /// Transfer id.
        id: u64,
        /// Why (peer data).
        reason: String,
    },
    /// The sender may push more bytes: see `file_send_window`.
    ReadyToSend {
        /// Transfer id.
        id: u64,
    },
    /// Received bytes to write at `offset`; report them with `file_written`.
    Data {
        /// Transfer id.
        id: u64,
        /// Where they go.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
    /// A file arrived whole; `verified` says whether the MD5 matched.
    Received {
        /// Transfer id.
        id: u64,
        /// MD5 we computed.
        md5: [u8; 16],
        /// Whether the sender's MD5 matched.
        verified: bool,
    },
    /// Our file arrived; the receiver's verdict on the MD5.
    Sent {
        /// Transfer id.
        id: u64,
        /// MD5 we computed.
        md5: [u8; 16],
        /// Whether the receiver computed the same.
        verified: bool,
    },
    /// The transfer stopped before the end.
    Cancelled {
        /// Transfer id.
        id: u64,
        /// Why.
        reason: CancelReason,
        /// Whether the peer cancelled it.
        by_peer: bool,
    },
}

#[derive(Debug)]
enum Transfer {
    Out(FileSender),
    In(FileReceiver),
}

#[derive(Debug)]
struct Entry {
    transfer: Transfer,
    last_progress: Instant,
}

/// All the transfers of one session side.
#[derive(Debug)]
pub struct Transfers {
    role: Role,
    next_id: u64,
    window: u64,
    entries: BTreeMap<u64, Entry>,
    out: VecDeque<Message>,
    events: VecDeque<TransferEvent>,
}

impl Transfers {
    /// Transfers for one side; `window` is the receive window in bytes.
    pub fn new(role: Role, window: u64) -> Self {
        let next_id = if role == Role::Console { 1 } else { 2 };
        Self {
            role,
            next_id,
            window,
            entries: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn ours(&self, id: u64) -> bool {
        (id % 2 == 1) == (self.role == Role::Console)
    }

    fn count(&self, outgoing: bool) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.transfer, Transfer::Out(_)) == outgoing)
            .count()
    }

    /// Offers a file to the peer; returns its id.
    pub fn offer(
        &mut self,
        name: &str,
        size: u64,
        modified_unix: i64,
        target_dir: &str,
        now: Instant,
    ) -> Result<u64, CommandError> {
        check_file_name(name)
            .map_err(|v| CommandError::Invalid(format!("file name {}", v.reason)))?;
        if self.count(true) >= MAX_TRANSFERS {
            return Err(CommandError::Limit("outgoing transfers"));
        }
        let id = self.next_id;
        self.next_id += 2;
        if target_dir.len() > crate::wire::validate::MAX_PATH {
            return Err(CommandError::Invalid("target folder too long".into()));
        }
        let (sender, offer) = FileSender::new(id, name.to_owned(), size, modified_unix, target_dir);
        self.out.push_back(offer);
        self.entries.insert(
            id,
            Entry {
                transfer: Transfer::Out(sender),
                last_progress: now,
            },
        );
        Ok(id)
    }

    fn receiver(&mut self, id: u64) -> Result<&mut Entry, CommandError> {
        match self.entries.get_mut(&id) {
            Some(e) if matches!(e.transfer, Transfer::In(_)) => Ok(e),
            _ => Err(CommandError::UnknownId(id)),
        }
    }

    fn sender(&mut self, id: u64) -> Result<&mut FileSender, CommandError> {
        match self.entries.get_mut(&id).map(|e| &mut e.transfer) {
            Some(Transfer::Out(s)) => Ok(s),
            _ => Err(CommandError::UnknownId(id)),
        }
    }

    /// Accepts an offered file, resuming after `existing` bytes (see
    /// [`FileReceiver::accept`]).
    pub fn accept(&mut self, id: u64, existing: u64, now: Instant) -> Result<(), CommandError> {
        let entry = self.receiver(id)?;
        entry.last_progress = now;
        let Transfer::In(r) = &mut entry.transfer else {
            return Err(CommandError::UnknownId(id));
        };
        if let Some(msg) = r.accept(existing)? {
            self.out.push_back(msg);
        }
        Ok(())
    }

    /// Feeds the prefix of a resumed file, in order.
    pub fn hash_existing(&mut self, id: u64, data: &[u8]) -> Result<(), CommandError> {
        let entry = self.receiver(id)?;
        let Transfer::In(r) = &mut entry.transfer else {
            return Err(CommandError::UnknownId(id));
        };
        if let Some(msg) = r.hash_existing(data)? {
            self.out.push_back(msg);
        }
        Ok(())
    }

    /// Refuses an offered file.
    pub fn refuse(&mut self, id: u64, reason: &str) -> Result<(), CommandError> {
        let entry = self.receiver(id)?;
        let Transfer::In(r) = &mut entry.transfer else {
            return Err(CommandError::UnknownId(id));
        };
        let msg = r.refuse(reason)?;
        self.out.push_back(msg);
        self.entries.remove(&id);
        Ok(())
    }

    /// What to read next for an outgoing file.
    pub fn send_window(&self, id: u64) -> Option<FileWindow> {
        match self.entries.get(&id).map(|e| &e.transfer) {
            Some(Transfer::Out(s)) => s.window(),
            _ => None,
        }
    }

    /// Bytes for an outgoing file, as the window asked.
    pub fn push(&mut self, id: u64, data: Bytes, now: Instant) -> Result<(), CommandError> {
        let sender = self.sender(id)?;
        let msg = sender.push(data)?;
        let done = sender.complete();
        if let Some(msg) = msg {
            self.out.push_back(msg);
        }
        if let Some((msg, _)) = done {
            self.out.push_back(msg);
        }
        if let Some(e) = self.entries.get_mut(&id) {
            e.last_progress = now;
        }
        Ok(())
    }

    /// The caller wrote `len` received bytes. Writes reported after the
    /// transfer ended (its last chunks, or after a cancel) are fine.
    pub fn written(&mut self, id: u64, len: u64) -> Result<(), CommandError> {
        let Ok(entry) = self.receiver(id) else {
            return Ok(());
        };
        let Transfer::In(r) = &mut entry.transfer else {
            return Err(CommandError::UnknownId(id));
        };
        if let Some(msg) = r.written(len) {
            self.out.push_back(msg);
        }
        Ok(())
    }

    /// Cancels a transfer in either direction.
    pub fn cancel(&mut self, id: u64, reason: CancelReason) -> Result<(), CommandError> {
        self.entries
            .remove(&id)
            .ok_or(CommandError::UnknownId(id))?;
        self.out.push_back(Message::FileCancel(pb::FileCancel {
            id,
            reason: reason as i32,
            detail: String::new(),
        }));
        self.events.push_back(TransferEvent::Cancelled {
            id,
            reason,
            by_peer: false,
        });
        Ok(())
    }

    /// Whether this message belongs to file transfer.
    pub fn handles(message: &Message) -> bool {
        matches!(
            message,
            Message::FileOffer(_)
                | Message::FileAnswer(_)
                | Message::FileChunk(_)
                | Message::FileCredit(_)
                | Message::FileComplete(_)
                | Message::FileResult(_)
                | Message::FileCancel(_)
        )
    }

    /// Feeds a file message from the peer. Permission checks are the
    /// caller's (the session's) job before an offer gets here.
    pub fn handle_message(&mut self, message: Message, now: Instant) -> Result<(), SessionError> {
        let violation = |s: String| Err(SessionError::Violation(s));
        match message {
            Message::FileOffer(offer) => {
                if self.ours(offer.id) || self.entries.contains_key(&offer.id) {
                    return violation(format!("file offer with a bad id {}", offer.id));
                }
                if self.count(false) >= MAX_TRANSFERS {
                    self.out.push_back(Message::FileAnswer(pb::FileAnswer {
                        id: offer.id,
                        accept: false,
                        reason: "too many transfers at once".into(),
                        ..Default::default()
                    }));
                    return Ok(());
                }
                let r = FileReceiver::new(&offer, self.window);
                self.entries.insert(
                    offer.id,
                    Entry {
                        transfer: Transfer::In(r),
                        last_progress: now,
                    },
                );
                self.events.push_back(TransferEvent::Offered {
                    id: offer.id,
                    name: offer.name,
                    size: offer.size,
                    modified_unix: offer.modified_unix,
                    target_dir: offer.target_dir,
                });
            }
            Message::FileAnswer(answer) => {
                let id = answer.id;
                let Ok(sender) = self.sender(id) else {
                    return self.stale(id);
                };
                if sender.handle_answer(&answer)? {
                    let complete = sender.complete();
                    self.events.push_back(TransferEvent::Accepted {
                        id,
                        resume_offset: answer.resume_offset,
                    });
                    match complete {
                        Some((msg, _)) => self.out.push_back(msg),
                        None => self.events.push_back(TransferEvent::ReadyToSend { id }),
                    }
                    self.touch(id, now);
                } else {
                    self.entries.remove(&id);
                    self.events.push_back(TransferEvent::Refused {
                        id,
                        reason: answer.reason,
                    });
                }
            }
            Message::FileCredit(credit) => {
                let id = credit.id;
                let Ok(sender) = self.sender(id) else {
                    return self.stale(id);
                };
                let was_blocked = sender.window().is_none();
                sender.handle_credit(credit.bytes)?;
                if was_blocked && sender.window().is_some() {
                    self.events.push_back(TransferEvent::ReadyToSend { id });
                }
                self.touch(id, now);
            }
            Message::FileChunk(chunk) => {
                let id = chunk.id;
                let offset = chunk.offset;
                let Ok(entry) = self.receiver(id) else {
                    return self.stale(id);
                };
                let Transfer::In(r) = &mut entry.transfer else {
                    return self.stale(id);
                };
                let data = r.handle_chunk(chunk)?;
                entry.last_progress = now;
                self.events
                    .push_back(TransferEvent::Data { id, offset, data });
            }
            Message::FileComplete(complete) => {
                let id = complete.id;
                let Ok(entry) = self.receiver(id) else {
                    return self.stale(id);
                };
                let Transfer::In(r) = &mut entry.transfer else {
                    return self.stale(id);
                };
                let (msg, verdict) = r.handle_complete(&complete)?;
                self.entries.remove(&id);
                self.out.push_back(msg);
                self.events.push_back(TransferEvent::Received {
                    id,
                    md5: verdict.md5,
                    verified: verdict.verified,
                });
            }
            Message::FileResult(result) => {
                let id = result.id;
                let Ok(sender) = self.sender(id) else {
                    return self.stale(id);
                };
                let (md5, verified) = sender.handle_result(&result)?;
                self.entries.remove(&id);
                self.events
                    .push_back(TransferEvent::Sent { id, md5, verified });
            }
            Message::FileCancel(cancel) => {
                if self.entries.remove(&cancel.id).is_some() {
                    let reason =
                        CancelReason::try_from(cancel.reason).unwrap_or(CancelReason::Unspecified);
                    self.events.push_back(TransferEvent::Cancelled {
                        id: cancel.id,
                        reason,
                        by_peer: true,
                    });
                }
            }
            other => {
                return violation(format!(
                    "{} is not a file transfer message",
                    crate::wire::message_name(&other)
                ));
            }
        }
        Ok(())
    }

    /// A message for a transfer we no longer hold: after our cancel, messages
    /// already in flight still arrive. Ignored, unless the id was never ours
    /// to know, which is still harmless.
    fn stale(&mut self, id: u64) -> Result<(), SessionError> {
        tracing::debug!(id, "file message for an unknown or finished transfer");
        Ok(())
    }

    fn touch(&mut self, id: u64, now: Instant) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.last_progress = now;
        }
    }

    /// When the oldest idle transfer times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .map(|e| e.last_progress + TRANSFER_IDLE_TIMEOUT)
            .min()
    }

    /// Cancels transfers without progress for too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.last_progress + TRANSFER_IDLE_TIMEOUT <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let _ = self.cancel(id, CancelReason::Timeout);
        }
    }

    /// The next message to send.
    pub fn poll_message(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TransferEvent> {
        self.events.pop_front()
    }
}
