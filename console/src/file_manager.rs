//! The customer's file manager from the console (CONSOLE-6): requests go to
//! the applet once the session allows them (PERM-6 and the customer's
//! consent, checked here before sending and by the applet on receipt); its
//! answers become events. Everything the applet says is hostile text.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use secours_peer::FileDesk;
use secours_protocol::pb::{self, FileActionKind};
use secours_protocol::{Message, Session};
use serde::{Deserialize, Serialize};

use crate::commands::{Command, ConsoleEvent};

/// Requests without an answer kept at most (the oldest is forgotten).
const MAX_PENDING: usize = 64;

/// One entry of a listing, as the headless console prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// Name (hostile).
    pub name: String,
    /// A folder.
    pub directory: bool,
    /// A symbolic link (never followed by the applet).
    pub symlink: bool,
    /// Bytes (files).
    pub size: u64,
    /// Modification time, Unix seconds.
    pub modified_unix: i64,
}

/// What a command or an answer gives the technician.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A listing (or its refusal).
    List {
        /// As asked.
        path: String,
        /// Entries.
        entries: Vec<EntryView>,
        /// More than one listing carries.
        truncated: bool,
        /// Why not.
        error: Option<String>,
    },
    /// An action's result.
    Action {
        /// `get`, `put`, `rename`, `delete`.
        action: &'static str,
        /// As asked.
        path: String,
        /// Done.
        ok: bool,
        /// Why not.
        error: Option<String>,
    },
}

impl Outcome {
    /// The event for session `session_id`.
    pub fn into_event(self, session_id: &str) -> ConsoleEvent {
        let session_id = session_id.to_owned();
        match self {
            Outcome::List {
                path,
                entries,
                truncated,
                error,
            } => ConsoleEvent::FileList {
                session_id,
                path,
                entries,
                truncated,
                error,
            },
            Outcome::Action {
                action,
                path,
                ok,
                error,
            } => ConsoleEvent::FileAction {
                session_id,
                action: action.into(),
                path,
                ok,
                error,
            },
        }
    }
}

fn refused(action: &'static str, path: String, error: String) -> Outcome {
    Outcome::Action {
        action,
        path,
        ok: false,
        error: Some(error),
    }
}

/// The requests of one session's file manager.
#[derive(Debug, Default)]
pub struct FileManager {
    next_id: u64,
    pending: HashMap<u64, (&'static str, String)>,
}

impl FileManager {
    fn remember(&mut self, action: &'static str, path: &str) -> u64 {
        self.next_id += 1;
        if self.pending.len() >= MAX_PENDING
            && let Some(oldest) = self.pending.keys().min().copied()
        {
            self.pending.remove(&oldest);
        }
        self.pending.insert(self.next_id, (action, path.to_owned()));
        self.next_id
    }

    /// Runs a file-manager command: an immediate outcome when refused here
    /// (or a put offered), `None` while the applet's answer is awaited.
    pub fn command(
        &mut self,
        s: &mut Session,
        desk: &mut FileDesk,
        c: Command,
        now: Instant,
    ) -> Option<Outcome> {
        let (action, path, message) = match c {
            Command::List { path, .. } => {
                let id = self.remember("list", &path);
                let m = Message::FileListRequest(pb::FileListRequest {
                    id,
                    path: path.clone(),
                });
                ("list", path, m)
            }
            Command::Put { path, dir, .. } => return Some(put(s, desk, &path, &dir, now)),
            Command::Get { path, .. } => {
                let m = action_message(self.remember("get", &path), FileActionKind::Get, &path, "");
                ("get", path, m)
            }
            Command::Rename { path, new_path, .. } => {
                let id = self.remember("rename", &path);
                let m = action_message(id, FileActionKind::Rename, &path, &new_path);
                ("rename", path, m)
            }
            Command::Delete { path, .. } => {
                let id = self.remember("delete", &path);
                (
                    "delete",
                    path.clone(),
                    action_message(id, FileActionKind::Delete, &path, ""),
                )
            }
            _ => return None,
        };
        match s.send_action(message, now) {
            Ok(()) => None,
            Err(e) => {
                self.pending.remove(&self.next_id);
                Some(refused(action, path, e.to_string()))
            }
        }
    }

    /// The applet's answer to one of our requests.
    pub fn on_message(&mut self, m: &Message) -> Option<Outcome> {
        match m {
            Message::FileList(l) => {
                let (_, path) = self.pending.remove(&l.id)?;
                let entries = l
                    .entries
                    .iter()
                    .map(|e| EntryView {
                        name: e.name.clone(),
                        directory: e.directory,
                        symlink: e.symlink,
                        size: e.size,
                        modified_unix: e.modified_unix,
                    })
                    .collect();
                Some(Outcome::List {
                    path,
                    entries,
                    truncated: l.truncated,
                    error: (!l.error.is_empty()).then(|| l.error.clone()),
                })
            }
            Message::FileActionResult(r) => {
                let (action, path) = self.pending.remove(&r.id)?;
                Some(Outcome::Action {
                    action,
                    path,
                    ok: r.ok,
                    error: (!r.error.is_empty()).then(|| r.error.clone()),
                })
            }
            _ => None,
        }
    }
}

fn action_message(id: u64, kind: FileActionKind, path: &str, new_path: &str) -> Message {
    Message::FileAction(pb::FileAction {
        id,
        kind: kind as i32,
        path: path.into(),
        new_path: new_path.into(),
    })
}

/// Offers a local file into `dir` under the customer's root.
fn put(s: &mut Session, desk: &mut FileDesk, path: &Path, dir: &str, now: Instant) -> Outcome {
    let shown = path.display().to_string();
    let offered = std::fs::File::open(path)
        .and_then(|f| Ok((f.metadata()?.len(), f)))
        .map_err(|e| e.to_string())
        .and_then(|(size, file)| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| "not a file name".to_owned())?;
            // An empty folder is the root: "." keeps the offer targeted.
            let dir = if dir.is_empty() { "." } else { dir };
            desk.offer_open(s, file, name, size, dir, now)
                .map_err(|e| e.to_string())
        });
    match offered {
        Ok(_) => Outcome::Action {
            action: "put",
            path: shown,
            ok: true,
            error: None,
        },
        Err(e) => refused("put", shown, e),
    }
}
