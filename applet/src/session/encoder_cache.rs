//! The start-up self-test's answer, remembered: the first run on a machine
//! times the encoders (seconds on a busy machine); later runs for the same
//! screen size, build (version, release or not) and core count reuse the answer for a week, so the
//! first picture does not wait for trials.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secours_codec::Backend;
use serde::{Deserialize, Serialize};

/// Whether this is a release build (debug builds encode far slower).
const RELEASE: bool = !cfg!(debug_assertions);

/// How long an answer stays good.
const VALID: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    version: String,
    /// Release and debug builds encode at different speeds.
    release: bool,
    cores: usize,
    native: (u32, u32),
    backend: String,
    size: (u32, u32),
    at_unix: u64,
}

fn file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("secours").join("encoder.json"))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A remembered choice for this screen, if one is still good.
pub fn recall(native: (u32, u32), forced: Option<Backend>) -> Option<(Backend, (u32, u32))> {
    let text = std::fs::read(file()?).ok()?;
    let e: Entry = serde_json::from_slice(&text).ok()?;
    let backend: Backend = e.backend.parse().ok()?;
    let fresh = now_unix().saturating_sub(e.at_unix) < VALID.as_secs();
    let same = e.version == env!("CARGO_PKG_VERSION")
        && e.release == RELEASE
        && e.cores == cores()
        && e.native == native;
    let allowed = forced.is_none_or(|f| f == backend) && backend.available();
    (fresh && same && allowed).then_some((backend, e.size))
}

/// Remembers the self-test's choice (best effort: a cache).
pub fn remember(native: (u32, u32), backend: Backend, size: (u32, u32)) {
    let Some(path) = file() else { return };
    let entry = Entry {
        version: env!("CARGO_PKG_VERSION").into(),
        release: RELEASE,
        cores: cores(),
        native,
        backend: backend.name().into(),
        size,
        at_unix: now_unix(),
    };
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
        && let Ok(text) = serde_json::to_vec(&entry)
    {
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(tmp, path);
        }
    }
}
