//! Coming back to a session after a reboot or a crash (CONSOLE-9): once a
//! technician has picked the session up, the applet keeps what it needs to
//! reconnect (the server, the session, its customer token) in a file only
//! the customer can read; `secours applet --reconnect` uses it. The token is
//! worth nothing once the session is closed, and the file is deleted when
//! the session ends. Before a reboot the applet also leaves an autostart
//! entry so that the desktop starts `secours applet --reconnect` at login.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use secours_protocol::signaling::{Joined, Secret, TurnGrant};
use serde::{Deserialize, Serialize};

/// What a reconnection needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResumeState {
    /// The server.
    pub server: String,
    /// The session.
    pub session_id: String,
    /// The applet's customer token (valid while the session lives).
    pub customer_token: Secret,
    /// The customer's name.
    pub name: String,
    /// The session's TURN credentials (a reboot keeps the relayed path).
    #[serde(default)]
    pub turn: Option<TurnGrant>,
}

/// Why the state could not be kept or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// No state directory ($XDG_STATE_HOME or $HOME).
    #[error("no place for the reconnection file: set XDG_STATE_HOME or HOME")]
    NoStateDir,
    /// No session to resume.
    #[error("no session to resume ({0})")]
    Nothing(String),
    /// Reading or writing failed.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] std::io::Error),
    /// The file is not ours.
    #[error("{path}: unreadable: {source}", path = .0.display(), source = .1)]
    Format(PathBuf, #[source] serde_json::Error),
}

/// `$XDG_STATE_HOME/secours`, or `~/.local/state/secours`.
pub fn state_dir() -> Result<PathBuf, ResumeError> {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("secours"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".local/state/secours"))
        .ok_or(ResumeError::NoStateDir)
}

fn file() -> Result<PathBuf, ResumeError> {
    Ok(state_dir()?.join("reconnect.json"))
}

impl ResumeState {
    /// The joined session this state resumes.
    pub fn joined(&self) -> Joined {
        Joined {
            session_id: self.session_id.clone(),
            customer_token: self.customer_token.clone(),
            technician: None,
            estimated_wait_s: None,
            turn: self.turn.clone(),
        }
    }

    /// Writes the state, readable by the customer alone.
    pub fn save(&self) -> Result<PathBuf, ResumeError> {
        let path = file()?;
        let io = |e| ResumeError::Io(path.clone(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_vec(self).map_err(|e| ResumeError::Format(path.clone(), e))?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    /// Reads the state left by an earlier run.
    pub fn load() -> Result<Self, ResumeError> {
        let path = file()?;
        let text = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ResumeError::Nothing(format!("{} does not exist", path.display()))
            } else {
                ResumeError::Io(path.clone(), e)
            }
        })?;
        serde_json::from_slice(&text).map_err(|e| ResumeError::Format(path, e))
    }

    /// Forgets the session: the file and the autostart entry go.
    pub fn forget() {
        if let Ok(path) = file() {
            let _ = std::fs::remove_file(path);
        }
        if let Some(entry) = autostart_entry() {
            let _ = std::fs::remove_file(entry);
        }
    }
}

fn autostart_entry() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(config.join("autostart").join("secours-reconnect.desktop"))
}

/// Leaves a desktop autostart entry that runs `secours applet --reconnect`
/// at the next login (XDG autostart), in its window.
pub fn autostart_after_reboot() -> Result<PathBuf, ResumeError> {
    let entry = autostart_entry().ok_or(ResumeError::NoStateDir)?;
    let io = |e| ResumeError::Io(entry.clone(), e);
    let exe = std::env::current_exe().map_err(io)?;
    if let Some(dir) = entry.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = format!(
        "[Desktop Entry]\nType=Application\nName=Secours (reconnect to your technician)\n\
         Exec=\"{}\" applet --reconnect\nX-GNOME-Autostart-enabled=true\n",
        exe.display()
    );
    std::fs::write(&entry, text).map_err(io)?;
    Ok(entry)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_hidden_from_debug() {
        let s = ResumeState {
            server: "https://s".into(),
            session_id: "abc".into(),
            customer_token: Secret::from("very-secret-token"),
            name: "Sam".into(),
            turn: Some(TurnGrant {
                urls: vec!["turn:10.0.0.2:3478?transport=udp".into()],
                username: "1:abc".into(),
                credential: Secret::from("turn-password"),
                expires_at: 1,
            }),
        };
        assert!(!format!("{s:?}").contains("very-secret-token"));
        assert!(!format!("{s:?}").contains("turn-password"));
        let back: ResumeState = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back.customer_token.expose(), "very-secret-token");
    }
}
