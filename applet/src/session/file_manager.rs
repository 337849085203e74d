//! The file manager's requests (CONSOLE-6), served from the shared root:
//! listings, gets (offered back as ordinary files), renames, deletions, and
//! files put into a folder of the root. The session has checked PERM-6 and
//! the customer's consent before any of these reaches here; the root
//! refuses whatever would leave it.

use std::time::Instant;

use secours_peer::FileDesk;
use secours_protocol::pb::{self, FileActionKind};
use secours_protocol::{Message, Session};

use super::customer::{Customer, sanitize};
use crate::files_root::{FilesRoot, RootError};

/// The root, or why there is none (refused requests say so).
#[derive(Debug)]
pub struct FileManager {
    root: Result<FilesRoot, String>,
}

impl FileManager {
    /// Serves `root` (the customer's home when `None`).
    pub fn new(root: Option<&std::path::Path>) -> Self {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let root = match root.map(ToOwned::to_owned).or(home) {
            Some(path) => FilesRoot::open(&path).map_err(|e| e.to_string()),
            None => Err("no shared folder on this computer".into()),
        };
        Self { root }
    }

    fn root(&self) -> Result<&FilesRoot, String> {
        self.root.as_ref().map_err(Clone::clone)
    }

    /// A `FileListRequest` or a `FileAction`; `false` for other messages.
    pub fn on_message(
        &mut self,
        s: &mut Session,
        desk: &mut FileDesk,
        customer: &Customer,
        m: &Message,
        now: Instant,
    ) -> Result<bool, secours_protocol::CommandError> {
        match m {
            Message::FileListRequest(r) => {
                let reply = match self.root().and_then(|root| list(root, &r.path)) {
                    Ok(l) => pb::FileList {
                        id: r.id,
                        path: r.path.clone(),
                        entries: l.entries,
                        truncated: l.truncated,
                        error: String::new(),
                    },
                    Err(error) => pb::FileList {
                        id: r.id,
                        path: r.path.clone(),
                        error,
                        ..Default::default()
                    },
                };
                s.send_reply(Message::FileList(reply), now)?;
            }
            Message::FileAction(a) => {
                let result = self.act(s, desk, a, now);
                let shown = sanitize(&a.path);
                let (ok, error, transfer_id) = match result {
                    Ok(id) => {
                        customer.say(&format!(
                            "Your technician's file manager: {} {shown}.",
                            verb(a.kind)
                        ));
                        (true, String::new(), id.unwrap_or(0))
                    }
                    Err(e) => (false, e, 0),
                };
                let reply = pb::FileActionResult {
                    id: a.id,
                    ok,
                    error,
                    transfer_id,
                };
                s.send_reply(Message::FileActionResult(reply), now)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Runs one action: the transfer id for a get.
    fn act(
        &self,
        s: &mut Session,
        desk: &mut FileDesk,
        a: &pb::FileAction,
        now: Instant,
    ) -> Result<Option<u64>, String> {
        let root = self.root()?;
        let e = |e: RootError| e.to_string();
        match FileActionKind::try_from(a.kind) {
            Ok(FileActionKind::Get) => {
                let (file, name, size) = root.open_file(&a.path).map_err(e)?;
                desk.offer_open(s, file, &name, size, "", now)
                    .map(Some)
                    .map_err(|e| e.to_string())
            }
            Ok(FileActionKind::Rename) => {
                root.rename(&a.path, &a.new_path).map(|()| None).map_err(e)
            }
            Ok(FileActionKind::Delete) => root.delete(&a.path).map(|()| None).map_err(e),
            _ => Err("unknown file action".into()),
        }
    }

    /// A file offered into `target_dir` under the root: created there (never
    /// over an existing file) and accepted, or refused with the reason.
    #[allow(clippy::too_many_arguments)]
    pub fn on_offer(
        &mut self,
        s: &mut Session,
        desk: &mut FileDesk,
        customer: &Customer,
        id: u64,
        name: &str,
        size: u64,
        target_dir: &str,
        now: Instant,
    ) -> Result<(), secours_protocol::CommandError> {
        let created = self.root().and_then(|root| {
            root.create_file(target_dir, name)
                .map_err(|e| e.to_string())
        });
        match created {
            Ok((file, path)) => {
                customer.say(&format!(
                    "Receiving {} ({size} bytes) into {}.",
                    sanitize(name),
                    path.display()
                ));
                if let Err(e) = desk.accept_into(s, id, file, path, size, now) {
                    tracing::warn!(error = %e, "file not accepted");
                }
                Ok(())
            }
            Err(reason) => s.refuse_file(id, &reason, now),
        }
    }
}

fn list(root: &FilesRoot, path: &str) -> Result<crate::files_root::Listing, String> {
    root.list(path).map_err(|e| e.to_string())
}

fn verb(kind: i32) -> &'static str {
    match FileActionKind::try_from(kind) {
        Ok(FileActionKind::Get) => "sending",
        Ok(FileActionKind::Rename) => "renamed",
        Ok(FileActionKind::Delete) => "deleted",
        _ => "acted on",
    }
}
