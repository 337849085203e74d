//! The file desk of one peer: reads outgoing files window by window and
//! writes incoming ones chunk by chunk, never holding a whole file; MD5s are
//! the protocol's (computed while streaming, checked by the receiver).
//!
//! An incoming file is written as `NAME.part` and renamed when it is whole.
//! When a session is resumed after its link went (a reboot, CONSOLE-9), the
//! sender offers its unfinished files again and the receiver resumes each
//! from the bytes its `.part` holds: the prefix is hashed first, so the MD5
//! still covers the whole file.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::{CommandError, Session};

/// Why a file could not be sent or received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileDeskError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] std::io::Error),
    /// The path has no usable file name.
    #[error("{path}: not a file name", path = .0.display())]
    Name(PathBuf),
    /// The session refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The peer refused the file.
    #[error("file refused: {0}")]
    Refused(String),
    /// The transfer was cancelled.
    #[error("file cancelled: {0}")]
    Cancelled(String),
}

/// A finished transfer, as the summary shows it.
#[derive(Debug, Clone)]
pub struct Done {
    /// The file's name.
    pub name: String,
    /// Its size, bytes.
    pub size: u64,
    /// Its MD5, as the sender computed it while reading.
    pub md5: [u8; 16],
    /// Whether the receiver's MD5 matched.
    pub verified: bool,
    /// Offer to result.
    pub seconds: f64,
}

#[derive(Debug)]
struct Outgoing {
    file: File,
    /// Where it was read from, when the desk opened it (a resumed session
    /// offers it again).
    path: Option<PathBuf>,
    name: String,
    size: u64,
    started: Instant,
    /// Bytes handed to the session so far.
    done: u64,
}

#[derive(Debug)]
struct Incoming {
    file: File,
    name: String,
    size: u64,
    started: Instant,
    /// Bytes on disk so far.
    done: u64,
    /// Where it goes when not into the desk's own folder (written there
    /// directly; the desk's own files are written as `NAME.part`).
    path: Option<PathBuf>,
}

impl Incoming {
    fn path(&self, dir: &Path) -> PathBuf {
        self.path.clone().unwrap_or_else(|| dir.join(&self.name))
    }

    /// Where its bytes go while it arrives.
    fn writing(&self, dir: &Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| dir.join(format!("{}.part", self.name)))
    }
}

/// Where a transfer in progress stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The transfer.
    pub id: u64,
    /// Outgoing (true) or incoming.
    pub sending: bool,
    /// The file's name.
    pub name: String,
    /// Bytes so far.
    pub done: u64,
    /// Bytes in all.
    pub size: u64,
}

/// Files of one peer: reads outgoing files window by window and writes
/// incoming ones chunk by chunk; never holds a whole file.
#[derive(Debug)]
pub struct FileDesk {
    dir: PathBuf,
    outgoing: HashMap<u64, Outgoing>,
    incoming: HashMap<u64, Incoming>,
    /// Files sent, in the order they finished.
    pub sent: Vec<Done>,
    /// Files received and where they are.
    pub received: Vec<(Done, PathBuf)>,
}

impl FileDesk {
    /// A desk that writes incoming files into `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            sent: vec![],
            received: vec![],
        }
    }

    /// Offers `path` to the peer.
    pub fn offer(
        &mut self,
        session: &mut Session,
        path: &Path,
        now: Instant,
    ) -> Result<u64, FileDeskError> {
        let io = |e| FileDeskError::Io(path.to_owned(), e);
        let file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| FileDeskError::Name(path.to_owned()))?
            .to_owned();
        let id = self.offer_open(session, file, &name, size, "", now)?;
        if let Some(out) = self.outgoing.get_mut(&id) {
            out.path = Some(path.to_owned());
        }
        Ok(id)
    }

    /// Offers a file the caller opened (the applet's file manager opens
    /// under its root), into `target_dir` under the peer's root when not
    /// empty.
    pub fn offer_open(
        &mut self,
        session: &mut Session,
        file: File,
        name: &str,
        size: u64,
        target_dir: &str,
        now: Instant,
    ) -> Result<u64, FileDeskError> {
        let id = session.offer_file_to(name, size, 0, target_dir, now)?;
        self.outgoing.insert(
            id,
            Outgoing {
                file,
                path: None,
                name: name.to_owned(),
                size,
                started: now,
                done: 0,
            },
        );
        Ok(id)
    }

    fn part_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.part"))
    }

    /// The transfers in progress.
    pub fn progress(&self) -> Vec<Progress> {
        let out = self.outgoing.iter().map(|(id, o)| Progress {
            id: *id,
            sending: true,
            name: o.name.clone(),
            done: o.done,
            size: o.size,
        });
        let inc = self.incoming.iter().map(|(id, i)| Progress {
            id: *id,
            sending: false,
            name: i.name.clone(),
            done: i.done,
            size: i.size,
        });
        out.chain(inc).collect()
    }

    /// The session under the desk is gone (its link dropped): transfers
    /// stop; returns the files still to send, to offer again on the next
    /// session. Incoming `.part` files stay, to be resumed.
    pub fn interrupted(&mut self) -> Vec<PathBuf> {
        self.incoming.clear();
        self.outgoing
            .drain()
            .filter_map(|(_, out)| out.path)
            .collect()
    }

    /// The session ended for good: unfinished incoming files are deleted.
    pub fn abandon(&mut self) {
        for (_, inc) in self.incoming.drain() {
            let _ = std::fs::remove_file(inc.writing(&self.dir));
        }
        self.outgoing.clear();
    }

    /// Accepts an offered file into a file the caller created (at `path`).
    pub fn accept_into(
        &mut self,
        session: &mut Session,
        id: u64,
        file: File,
        path: PathBuf,
        size: u64,
        now: Instant,
    ) -> Result<(), FileDeskError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.incoming.insert(
            id,
            Incoming {
                file,
                name,
                size,
                started: now,
                path: Some(path),
                done: 0,
            },
        );
        session.accept_file(id, 0, now)?;
        Ok(())
    }

    /// Pushes every window the session opens.
    pub fn pump(&mut self, session: &mut Session, now: Instant) -> Result<(), FileDeskError> {
        for (id, out) in &mut self.outgoing {
            while let Some(w) = session.file_send_window(*id) {
                let mut buf = vec![0; w.max_len as usize];
                out.file
                    .read_exact_at(&mut buf, w.offset)
                    .map_err(|e| FileDeskError::Io(PathBuf::from(&out.name), e))?;
                session.send_file_chunk(*id, Bytes::from(buf), now)?;
                out.done = out.done.max(w.offset + w.max_len);
                if session.queued_frames() > 64 {
                    return Ok(()); // let the loop write before reading more
                }
            }
        }
        Ok(())
    }

    /// Handles a transfer event.
    pub fn on_event(
        &mut self,
        session: &mut Session,
        event: &TransferEvent,
        now: Instant,
    ) -> Result<(), FileDeskError> {
        match event {
            TransferEvent::Offered { id, name, size, .. } => {
                // The name is validated by the protocol (one path component);
                // it is still joined under our own directory only.
                let path = self.part_path(name);
                let io = |e| FileDeskError::Io(path.clone(), e);
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(io)?;
                // What an interrupted transfer of this file left, if it fits.
                let mut held = file.metadata().map_err(io)?.len();
                if held > *size {
                    file.set_len(0).map_err(io)?;
                    held = 0;
                }
                session.accept_file(*id, held, now)?;
                let mut buf = vec![0; 1 << 20];
                let mut at = 0;
                while at < held {
                    let n = (held - at).min(buf.len() as u64) as usize;
                    file.read_exact_at(&mut buf[..n], at).map_err(io)?;
                    session.hash_existing(*id, &buf[..n], now)?;
                    at += n as u64;
                }
                self.incoming.insert(
                    *id,
                    Incoming {
                        file,
                        name: name.clone(),
                        size: *size,
                        started: now,
                        done: held,
                        path: None,
                    },
                );
            }
            TransferEvent::Data { id, offset, data } => {
                if let Some(inc) = self.incoming.get_mut(id) {
                    inc.done = inc.done.max(offset + data.len() as u64);
                    inc.file
                        .write_all_at(data, *offset)
                        .map_err(|e| FileDeskError::Io(inc.writing(&self.dir), e))?;
                    session.file_written(*id, data.len() as u64, now)?;
                }
            }
            TransferEvent::Received { id, md5, verified } => {
                if let Some(inc) = self.incoming.remove(id) {
                    inc.file
                        .sync_all()
                        .map_err(|e| FileDeskError::Io(inc.writing(&self.dir), e))?;
                    if inc.path.is_none() {
                        std::fs::rename(inc.writing(&self.dir), inc.path(&self.dir))
                            .map_err(|e| FileDeskError::Io(inc.path(&self.dir), e))?;
                    }
                    let done = Done {
                        name: inc.name.clone(),
                        size: inc.size,
                        md5: *md5,
                        verified: *verified,
                        seconds: now.duration_since(inc.started).as_secs_f64(),
                    };
                    self.received.push((done, inc.path(&self.dir)));
                }
            }
            TransferEvent::Sent { id, md5, verified } => {
                if let Some(out) = self.outgoing.remove(id) {
                    self.sent.push(Done {
                        name: out.name,
                        size: out.size,
                        md5: *md5,
                        verified: *verified,
                        seconds: now.duration_since(out.started).as_secs_f64(),
                    });
                }
            }
            TransferEvent::Refused { reason, .. } => {
                return Err(FileDeskError::Refused(reason.clone()));
            }
            TransferEvent::Cancelled { reason, .. } => {
                return Err(FileDeskError::Cancelled(format!("{reason:?}")));
            }
            // A window opened (an answer, credit): fill it now, in this
            // turn of the loop, not at the next poll.
            TransferEvent::ReadyToSend { .. } => self.pump(session, now)?,
            TransferEvent::Accepted { .. } => {}
        }
        Ok(())
    }
}
