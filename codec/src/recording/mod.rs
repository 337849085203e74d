//! Session recording (SEC-6, CONSOLE-11): the AV1 stream as sent, in WebM
//! (libwebm through the `webm` crate) with the true capture timestamps, so
//! the variable frame rate of "only on change" is kept; and a JSON-lines
//! event log beside it (events.rs).
//!
//! The file starts at the first keyframe (nothing before it can be
//! decoded). A size change mid-session arrives as a keyframe with a new
//! sequence header; the track keeps its first size in the header and
//! players follow the stream's own sequence headers.

mod events;

pub use events::{EventLog, RecordedEvent, Side};

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use webm::mux::{SegmentBuilder, SegmentMode, VideoCodecId, VideoTrack, Writer};

use crate::error::CodecError;
use crate::obu;

type Segment = webm::mux::Segment<BufWriter<File>>;

fn werr(what: &str, e: impl std::fmt::Debug) -> CodecError {
    CodecError::Recording(format!("{what}: {e:?}"))
}

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    pub frames: u64,
    pub keyframes: u64,
    /// Last frame's timestamp minus the first's.
    pub span_us: u64,
    pub bytes: u64,
}

/// Writes AV1 temporal units into a WebM file.
pub struct WebmRecorder {
    path: PathBuf,
    state: State,
    first_us: u64,
    last_ns: Option<u64>,
    summary: RecordingSummary,
}

enum State {
    /// No keyframe yet: the segment needs the first one's size and header.
    Waiting(Option<File>),
    Writing(Segment, VideoTrack),
    Done,
}

impl std::fmt::Debug for WebmRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebmRecorder({})", self.path.display())
    }
}

impl WebmRecorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, CodecError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path)?;
        Ok(Self {
            path,
            state: State::Waiting(Some(file)),
            first_us: 0,
            last_ns: None,
            summary: RecordingSummary {
                frames: 0,
                keyframes: 0,
                span_us: 0,
                bytes: 0,
            },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one temporal unit captured at `capture_us` (any monotonic
    /// clock). Units before the first keyframe are skipped; returns whether
    /// this one was written.
    pub fn write(
        &mut self,
        payload: &[u8],
        keyframe: bool,
        width: u32,
        height: u32,
        capture_us: u64,
    ) -> Result<bool, CodecError> {
        if let State::Waiting(file) = &mut self.state {
            if !keyframe {
                return Ok(false);
            }
            let header = obu::sequence_header(payload)?
                .ok_or(CodecError::Malformed("keyframe without a sequence header"))?;
            let private = obu::av1c(&header)?;
            let file = file
                .take()
                .ok_or_else(|| CodecError::Recording("file lost".into()))?;
            let builder = SegmentBuilder::new(Writer::new(BufWriter::new(file)))
                .map_err(|e| werr("segment", e))?
                .set_mode(SegmentMode::File)
                .map_err(|e| werr("mode", e))?
                .set_writing_app("secours")
                .map_err(|e| werr("writing app", e))?;
            let (builder, track) = builder
                .add_video_track(width, height, VideoCodecId::AV1, None)
                .map_err(|e| werr("video track", e))?;
            let builder = builder
                .set_codec_private(track, &private)
                .map_err(|e| werr("codec private", e))?;
            self.state = State::Writing(builder.build(), track);
            self.first_us = capture_us;
        }
        let State::Writing(segment, track) = &mut self.state else {
            return Err(CodecError::Recording("recording already finished".into()));
        };
        let body = obu::strip_temporal_delimiters(payload)?;
        // Timestamps must grow; a clock that repeats is nudged by 1 us.
        let mut ns = capture_us
            .saturating_sub(self.first_us)
            .saturating_mul(1000);
        if let Some(last) = self.last_ns {
            ns = ns.max(last + 1000);
        }
        segment
            .add_frame(*track, &body, ns, keyframe)
            .map_err(|e| werr("frame", e))?;
        self.last_ns = Some(ns);
        self.summary.frames += 1;
        self.summary.keyframes += u64::from(keyframe);
        self.summary.span_us = ns / 1000;
        self.summary.bytes += body.len() as u64;
        Ok(true)
    }

    /// Writes the index and closes the file. A recording without a single
    /// keyframe is removed (there is nothing to play).
    pub fn finish(mut self) -> Result<RecordingSummary, CodecError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Waiting(file) => {
                drop(file);
                std::fs::remove_file(&self.path)?;
            }
            State::Writing(segment, _) => {
                let writer = segment
                    .finalize(None)
                    .map_err(|_| CodecError::Recording("finalising the segment failed".into()))?;
                let mut file = writer.into_inner();
                std::io::Write::flush(&mut file)?;
            }
            State::Done => {}
        }
        Ok(self.summary)
    }
}
