//! The recording's event log: one JSON object a line, each with its time in
//! microseconds on the same clock as the video's capture timestamps, so a
//! player can put chat, files, clipboard and control changes beside the
//! picture. Text from the customer's machine is hostile: it is stored as
//! JSON strings (escaped by serde_json), never interpreted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::CodecError;

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Technician,
    Customer,
}

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RecordedEvent {
    SessionStart {
        session: String,
    },
    SessionEnd {
        reason: String,
    },
    Chat {
        from: Side,
        text: String,
    },
    File {
        from: Side,
        name: String,
        size: u64,
        md5: String,
    },
    Clipboard {
        from: Side,
        kind: String,
        bytes: u64,
    },
    /// A permission granted, refused or revoked (remote control, view...).
    Control {
        action: String,
        state: String,
    },
    Resolution {
        width: u32,
        height: u32,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    t_us: u64,
    #[serde(flatten)]
    event: &'a RecordedEvent,
}

/// Appends events to a JSON-lines file.
pub struct EventLog {
    out: BufWriter<File>,
    first_us: Option<u64>,
    lines: u64,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventLog({} lines)", self.lines)
    }
}

impl EventLog {
    pub fn create(path: impl AsRef<Path>) -> Result<Self, CodecError> {
        Ok(Self {
            out: BufWriter::new(File::create(path)?),
            first_us: None,
            lines: 0,
        })
    }

    /// Times are made relative to `origin_us` (the video's first capture
    /// time) when it is set; otherwise to the first event's.
    pub fn set_origin(&mut self, origin_us: u64) {
        self.first_us = Some(origin_us);
    }

    pub fn log(&mut self, at_us: u64, event: &RecordedEvent) -> Result<(), CodecError> {
        let origin = *self.first_us.get_or_insert(at_us);
        let line = Line {
            t_us: at_us.saturating_sub(origin),
            event,
        };
        serde_json::to_writer(&mut self.out, &line)
            .map_err(|e| CodecError::Recording(e.to_string()))?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<u64, CodecError> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(self.lines)
    }
}
