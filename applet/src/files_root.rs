//! The customer's shared folder for the file manager (CONSOLE-6): listing,
//! reading, creating, renaming and deleting under one root, and nothing
//! outside it.
//!
//! Paths come from the technician's console: hostile. A path is relative,
//! `/`-separated, and never names `..`; it is walked one component at a time
//! from a descriptor of the root with `openat(O_NOFOLLOW)`, so a symbolic
//! link is never followed (not even one that points inside) and a directory
//! swapped for a link between a check and its use is refused by the kernel,
//! not by a check that came too early (no canonicalize-then-open race).
//! Renames and deletions act on the entry itself, never on what a link
//! points to.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use secours_protocol::pb::FileEntry;
use secours_protocol::wire::validate::{MAX_FILE_LIST_ENTRIES, MAX_PATH, check_file_name};

/// Why a file-manager operation was refused. The message is sent to the
/// technician as is: it names the path as the technician wrote it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// An absolute path.
    #[error("{0:?} is an absolute path: paths are relative to the shared folder")]
    Absolute(String),
    /// A `..` component.
    #[error("{0:?} leaves the shared folder (\"..\" is refused)")]
    Parent(String),
    /// A component that is no file name (control characters, backslash).
    #[error("{0:?} is not a valid path")]
    Invalid(String),
    /// A symbolic link pointing outside the root.
    #[error("{0:?} escapes the shared folder through a symbolic link")]
    SymlinkEscape(String),
    /// A symbolic link pointing inside: not followed either.
    #[error("{0:?} is a symbolic link; the file manager does not follow links")]
    Symlink(String),
    /// Nothing there.
    #[error("{0:?} does not exist")]
    NotFound(String),
    /// A file where a directory is needed.
    #[error("{0:?} is not a directory")]
    NotADirectory(String),
    /// A directory or a device where a regular file is needed.
    #[error("{0:?} is not a regular file")]
    NotAFile(String),
    /// The target exists already (nothing is overwritten).
    #[error("{0:?} already exists")]
    Exists(String),
    /// The root itself cannot be renamed or deleted.
    #[error("the shared folder itself cannot be changed")]
    Root,
    /// Anything else the system refused.
    #[error("{path:?}: {source}")]
    Io {
        /// The path as asked.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A directory's entries, as the wire carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Sorted by name; names that are not valid UTF-8 file names are left
    /// out.
    pub entries: Vec<FileEntry>,
    /// More entries than one listing carries.
    pub truncated: bool,
}

/// The folder the file manager may touch.
#[derive(Debug)]
pub struct FilesRoot {
    root: PathBuf,
    fd: OwnedFd,
}

/// A relative path split into checked components (empty: the root).
fn components(path: &str) -> Result<Vec<&str>, RootError> {
    if path.len() > MAX_PATH {
        return Err(RootError::Invalid(path.chars().take(64).collect()));
    }
    if path.starts_with('/') {
        return Err(RootError::Absolute(path.into()));
    }
    let mut out = vec![];
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(RootError::Parent(path.into())),
            c => {
                check_file_name(c).map_err(|_| RootError::Invalid(path.into()))?;
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Opens a directory relative to `dir`, following no link.
fn open_dir_at(dir: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl FilesRoot {
    /// The folder at `root` (resolved once, now: the root itself may be
    /// reached through links, nothing under it).
    pub fn open(root: &Path) -> Result<Self, RootError> {
        let shown = root.display().to_string();
        let io = |source| RootError::Io {
            path: shown.clone(),
            source,
        };
        let root = root.canonicalize().map_err(io)?;
        let fd = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(e.into()))?;
        Ok(Self { root, fd })
    }

    /// The root, canonical.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Explains why opening `name` in `dir` failed: a link (pointing where),
    /// a missing entry, a file where a directory was wanted.
    fn why(&self, dir: &OwnedFd, dir_path: &Path, name: &str, asked: &str, e: Errno) -> RootError {
        let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW);
        match stat {
            Err(Errno::NOENT) => RootError::NotFound(asked.into()),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                // Where it points, for the message only: it is never followed.
                let inside = rustix::fs::readlinkat(dir, name, Vec::new())
                    .ok()
                    .map(|t| dir_path.join(OsStr::from_bytes(t.as_bytes())))
                    .and_then(|t| t.canonicalize().ok())
                    .is_some_and(|t| t.starts_with(&self.root));
                if inside {
                    RootError::Symlink(asked.into())
                } else {
                    RootError::SymlinkEscape(asked.into())
                }
            }
            Ok(_) if e == Errno::NOTDIR => RootError::NotADirectory(asked.into()),
            _ => RootError::Io {
                path: asked.into(),
                source: e.into(),
            },
        }
    }

    /// Walks to the directory made of `parts`, following no link.
    fn walk(&self, parts: &[&str], asked: &str) -> Result<OwnedFd, RootError> {
        let mut fd = self.fd.try_clone().map_err(|source| RootError::Io {
            path: asked.into(),
            source,
        })?;
        let mut at = self.root.clone();
        for part in parts {
            fd = match open_dir_at(&fd, part) {
                Ok(next) => next,
                Err(e) => return Err(self.why(&fd, &at, part, asked, e)),
            };
            at.push(part);
        }
        Ok(fd)
    }

    /// The directory and the last component of `path` (not the root).
    fn parent_of<'a>(&self, path: &'a str) -> Result<(OwnedFd, PathBuf, &'a str), RootError> {
        let parts = components(path)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(RootError::Root);
        };
        let dir = self.walk(dirs, path)?;
        let at = dirs.iter().fold(self.root.clone(), |p, d| p.join(d));
        Ok((dir, at, name))
    }

    /// Lists the directory at `path` (`""`: the root).
    pub fn list(&self, path: &str) -> Result<Listing, RootError> {
        let parts = components(path)?;
        let dir = self.walk(&parts, path)?;
        let io = |e: Errno| RootError::Io {
            path: path.into(),
            source: e.into(),
        };
        let mut entries = vec![];
        let mut truncated = false;
        for entry in rustix::fs::Dir::read_from(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." || check_file_name(name).is_err() {
                continue;
            }
            if entries.len() >= MAX_FILE_LIST_ENTRIES {
                truncated = true;
                break;
            }
            let Ok(st) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue; // gone meanwhile
            };
            let kind = FileType::from_raw_mode(st.st_mode);
            entries.push(FileEntry {
                name: name.to_owned(),
                directory: kind == FileType::Directory,
                size: if kind == FileType::RegularFile {
                    st.st_size as u64
                } else {
                    0
                },
                modified_unix: st.st_mtime,
                symlink: kind == FileType::Symlink,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Listing { entries, truncated })
    }

    /// Opens the regular file at `path` for reading: the file, its name and
    /// its size.
    pub fn open_file(&self, path: &str) -> Result<(File, String, u64), RootError> {
        let (dir, at, name) = self.parent_of(path)?;
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.why(&dir, &at, name, path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| RootError::Io {
            path: path.into(),
            source: e.into(),
        })?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(RootError::NotAFile(path.into()));
        }
        Ok((File::from(fd), name.to_owned(), st.st_size as u64))
    }

    /// Creates the new file `name` in the directory `dir` (never over an
    /// existing entry); returns it and where it is.
    pub fn create_file(&self, dir: &str, name: &str) -> Result<(File, PathBuf), RootError> {
        let shown = format!("{}/{name}", dir.trim_end_matches('/'));
        check_file_name(name).map_err(|_| RootError::Invalid(shown.clone()))?;
        let parts = components(dir)?;
        let fd = self.walk(&parts, dir)?;
        let file = rustix::fs::openat(
            &fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| match e {
            Errno::EXIST => RootError::Exists(shown.clone()),
            e => RootError::Io {
                path: shown.clone(),
                source: e.into(),
            },
        })?;
        let at = parts
            .iter()
            .fold(self.root.clone(), |p, d| p.join(d))
            .join(name);
        Ok((File::from(file), at))
    }

    /// Renames (or moves) `from` to `to`, both under the root; never
    /// replaces an existing entry.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), RootError> {
        let (from_dir, _, from_name) = self.parent_of(from)?;
        let (to_dir, _, to_name) = self.parent_of(to)?;
        rustix::fs::renameat_with(
            &from_dir,
            from_name,
            &to_dir,
            to_name,
            RenameFlags::NOREPLACE,
        )
        .map_err(|e| match e {
            Errno::NOENT => RootError::NotFound(from.into()),
            Errno::EXIST => RootError::Exists(to.into()),
            e => RootError::Io {
                path: from.into(),
                source: e.into(),
            },
        })
    }

    /// Deletes the file, link or empty directory at `path`.
    pub fn delete(&self, path: &str) -> Result<(), RootError> {
        let (dir, _, name) = self.parent_of(path)?;
        let io = |e: Errno| match e {
            Errno::NOENT => RootError::NotFound(path.into()),
            e => RootError::Io {
                path: path.into(),
                source: e.into(),
            },
        };
        let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io)?;
        let flags = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(&dir, name, flags).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    /// A root with `a.txt`, `sub/b.txt`, and next to the root a secret.
    fn setup() -> (tempfile::TempDir, FilesRoot) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"hello").unwrap();
        std::fs::write(root.join("sub/b.txt"), b"bee").unwrap();
        std::fs::write(t.path().join("secret"), b"secret").unwrap();
        let r = FilesRoot::open(&root).unwrap();
        (t, r)
    }

    #[test]
    fn lists_sorted_with_kinds_and_sizes() {
        let (_t, r) = setup();
        let l = r.list("").unwrap();
        let names: Vec<_> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.txt", "sub"]);
        assert_eq!(l.entries[0].size, 5);
        assert!(l.entries[1].directory);
        assert_eq!(r.list("sub/").unwrap().entries[0].name, "b.txt");
        assert_eq!(r.list("./sub").unwrap().entries.len(), 1);
    }

    #[test]
    fn parent_and_absolute_paths_are_refused() {
        let (_t, r) = setup();
        for p in ["..", "../secret", "sub/../../secret", "sub/.."] {
            assert!(matches!(r.list(p), Err(RootError::Parent(_))), "{p}");
            assert!(matches!(r.open_file(p), Err(RootError::Parent(_))), "{p}");
        }
        assert!(matches!(r.list("/etc"), Err(RootError::Absolute(_))));
        assert!(matches!(
            r.open_file("/etc/passwd"),
            Err(RootError::Absolute(_))
        ));
        assert!(matches!(r.open_file("a\\b"), Err(RootError::Invalid(_))));
        assert!(matches!(r.delete(""), Err(RootError::Root)));
        let e = r.open_file("../secret").unwrap_err().to_string();
        assert!(e.contains("leaves the shared folder"), "{e}");
    }

    #[test]
    fn symlinks_out_are_refused_and_never_followed() {
        let (t, r) = setup();
        symlink(t.path().join("secret"), r.path().join("out")).unwrap();
        symlink(t.path(), r.path().join("outdir")).unwrap();
        symlink(r.path().join("a.txt"), r.path().join("in")).unwrap();
        assert!(matches!(
            r.open_file("out"),
            Err(RootError::SymlinkEscape(_))
        ));
        assert!(matches!(r.list("outdir"), Err(RootError::SymlinkEscape(_))));
        assert!(matches!(
            r.open_file("outdir/secret"),
            Err(RootError::SymlinkEscape(_))
        ));
        assert!(matches!(
            r.create_file("outdir", "x"),
            Err(RootError::SymlinkEscape(_))
        ));
        assert!(matches!(r.open_file("in"), Err(RootError::Symlink(_))));
        let e = r.open_file("out").unwrap_err().to_string();
        assert!(e.contains("escapes the shared folder"), "{e}");
        // Listed as links, without following them.
        let l = r.list("").unwrap();
        let out = l.entries.iter().find(|e| e.name == "outdir").unwrap();
        assert!(out.symlink && !out.directory);
        // Deleting the link deletes the link, not its target.
        r.delete("outdir").unwrap();
        assert!(t.path().join("secret").exists());
        // Renaming a link out of the root is impossible: `to` is walked too.
        assert!(matches!(r.rename("out", "../x"), Err(RootError::Parent(_))));
    }

    #[test]
    fn reads_creates_renames_and_deletes() {
        let (_t, r) = setup();
        let (mut f, name, size) = r.open_file("sub/b.txt").unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), name.as_str(), size), ("bee", "b.txt", 3));
        assert!(matches!(r.open_file("sub"), Err(RootError::NotAFile(_))));
        assert!(matches!(r.open_file("nope"), Err(RootError::NotFound(_))));
        assert!(matches!(r.list("a.txt"), Err(RootError::NotADirectory(_))));

        let (mut f, at) = r.create_file("sub", "new.txt").unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(at, r.path().join("sub/new.txt"));
        assert!(matches!(
            r.create_file("sub", "new.txt"),
            Err(RootError::Exists(_))
        ));
        assert!(matches!(
            r.create_file("sub", ".."),
            Err(RootError::Invalid(_))
        ));

        r.rename("sub/new.txt", "moved.txt").unwrap();
        assert_eq!(std::fs::read(r.path().join("moved.txt")).unwrap(), b"new");
        assert!(matches!(
            r.rename("moved.txt", "a.txt"),
            Err(RootError::Exists(_))
        ));
        r.delete("moved.txt").unwrap();
        assert!(matches!(r.delete("moved.txt"), Err(RootError::NotFound(_))));
        // A directory goes only when empty.
        assert!(r.delete("sub").is_err());
        r.delete("sub/b.txt").unwrap();
        r.delete("sub").unwrap();
    }
}
