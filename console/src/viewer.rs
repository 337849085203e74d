//! The customer's screen on the technician's side: dav1d decodes every
//! frame (everything in it came from the network and is bounded by the
//! decoder), the newest picture is kept as dav1d gave it (no copy), a
//! snapshot writes it as PNG, and a recording (when on) keeps every frame
//! in WebM beside a JSON-lines event log.

use std::path::{Path, PathBuf};
use std::time::Instant;

use secours_codec::recording::{EventLog, RecordedEvent, RecordingSummary, WebmRecorder};
use secours_codec::{CodecError, Decoder, Picture};
use secours_protocol::pb;

/// Why a picture could not be shown or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewerError {
    /// The decoder refused a frame.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Nothing was decoded yet.
    #[error("no picture decoded yet")]
    NoPicture,
    /// Writing the PNG failed.
    #[error("writing the snapshot: {0}")]
    Png(String),
    /// A recording is already running (or none is, to stop).
    #[error("{0}")]
    Recording(&'static str),
    /// The Y4M stream could not be written.
    #[error("stream: {0}")]
    Stream(String),
}

/// A recording in progress: the video and its event log.
#[derive(Debug)]
struct Recording {
    video: WebmRecorder,
    events: EventLog,
    started: Instant,
    dir: PathBuf,
}

/// What a finished recording holds.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The WebM file.
    pub video: PathBuf,
    /// The event log.
    pub events: PathBuf,
    /// Frames, keyframes, span.
    pub summary: RecordingSummary,
    /// Lines in the event log.
    pub event_lines: u64,
}

/// Counters of one session's screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScreenCounters {
    /// Pictures decoded.
    pub decoded: u64,
    /// Frames the decoder refused (each answered by a keyframe request).
    pub decode_errors: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Bytes of video received.
    pub bytes: u64,
    /// Cursor shapes received (the cursor travels apart from the video).
    pub cursor_shapes: u64,
    /// Cursor positions received.
    pub cursor_positions: u64,
}

/// Decoded pictures written as they come, as a Y4M stream.
struct Stream {
    out: y4m::Encoder<std::io::BufWriter<std::fs::File>>,
    size: (u32, u32),
    path: PathBuf,
    frames: u64,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream({}, {} frames)", self.path.display(), self.frames)
    }
}

/// Decoder, newest picture and recording of one session.
#[derive(Debug)]
pub struct Viewer {
    decoder: Decoder,
    newest: Option<Picture>,
    recording: Option<Recording>,
    stream: Option<Stream>,
    /// What arrived so far.
    pub counters: ScreenCounters,
}

impl Viewer {
    /// A viewer with dav1d on `threads` threads (0: one per core).
    pub fn new(threads: u32) -> Result<Self, ViewerError> {
        Ok(Self {
            decoder: Decoder::new(threads)?,
            newest: None,
            recording: None,
            stream: None,
            counters: ScreenCounters::default(),
        })
    }

    /// Decodes one video frame (and records it); the size of the picture it
    /// made, if any.
    pub fn on_frame(&mut self, v: &pb::VideoFrame) -> Result<Option<(u32, u32)>, ViewerError> {
        self.counters.bytes += v.payload.len() as u64;
        self.counters.keyframes += u64::from(v.keyframe);
        if let Some(r) = &mut self.recording {
            r.video
                .write(&v.payload, v.keyframe, v.width, v.height, v.capture_time_us)?;
        }
        let pictures = match self
            .decoder
            .decode_pictures(v.payload.clone(), v.capture_time_us)
        {
            Ok(p) => p,
            Err(e) => {
                self.counters.decode_errors += 1;
                return Err(e.into());
            }
        };
        let mut size = None;
        for p in pictures {
            self.counters.decoded += 1;
            size = Some((p.width(), p.height()));
            self.stream_picture(&p)?;
            self.newest = Some(p);
        }
        Ok(size)
    }

    /// Starts writing every decoded picture to `path` as Y4M (the size of
    /// the newest picture; a stream ends when the size changes).
    pub fn start_stream(&mut self, path: &Path) -> Result<(), ViewerError> {
        let (w, h) = self.size().ok_or(ViewerError::NoPicture)?;
        let file = std::fs::File::create(path).map_err(CodecError::from)?;
        let out = y4m::encode(w as usize, h as usize, y4m::Ratio::new(30, 1))
            .with_colorspace(y4m::Colorspace::C420jpeg)
            .write_header(std::io::BufWriter::new(file))
            .map_err(|e| ViewerError::Stream(e.to_string()))?;
        self.stream = Some(Stream {
            out,
            size: (w, h),
            path: path.to_owned(),
            frames: 0,
        });
        Ok(())
    }

    /// Ends the stream; where it went and how many pictures it holds.
    pub fn stop_stream(&mut self) -> Option<(PathBuf, u64)> {
        // Dropping the writer flushes it.
        let s = self.stream.take()?;
        Some((s.path, s.frames))
    }

    fn stream_picture(&mut self, p: &Picture) -> Result<(), ViewerError> {
        let Some(s) = &mut self.stream else {
            return Ok(());
        };
        if s.size != (p.width(), p.height()) {
            self.stream = None;
            return Err(ViewerError::Stream(
                "the picture's size changed: the stream ended (start a new one)".into(),
            ));
        }
        let tight = |plane: secours_codec::Plane<'_>| -> Vec<u8> {
            (0..plane.height)
                .flat_map(|y| plane.row(y).iter().copied())
                .collect()
        };
        let (y, u, v) = (tight(p.y()), tight(p.u()), tight(p.v()));
        s.out
            .write_frame(&y4m::Frame::new([&y, &u, &v], None))
            .map_err(|e| ViewerError::Stream(e.to_string()))?;
        s.frames += 1;
        Ok(())
    }

    /// Counts the cursor's messages.
    pub fn on_cursor(&mut self, m: &secours_protocol::Message) {
        match m {
            secours_protocol::Message::CursorShape(_) => self.counters.cursor_shapes += 1,
            secours_protocol::Message::CursorPosition(_) => self.counters.cursor_positions += 1,
            _ => {}
        }
    }

    /// The newest picture's size.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.newest.as_ref().map(|p| (p.width(), p.height()))
    }

    /// The newest picture.
    pub fn newest(&self) -> Option<&Picture> {
        self.newest.as_ref()
    }

    /// Writes the newest picture as an RGBA PNG.
    pub fn snapshot(&self, path: &Path) -> Result<(u32, u32), ViewerError> {
        let picture = self.newest.as_ref().ok_or(ViewerError::NoPicture)?;
        let bgra = picture.to_bgra()?;
        let (w, h) = (bgra.width(), bgra.height());
        let mut rgba = Vec::with_capacity(w as usize * h as usize * 4);
        for row in bgra.data().chunks(bgra.stride()).take(h as usize) {
            for px in row[..w as usize * 4].chunks_exact(4) {
                rgba.extend_from_slice(&[px[2], px[1], px[0], 255]);
            }
        }
        let png_error = |e: &dyn std::fmt::Display| ViewerError::Png(e.to_string());
        let file = std::fs::File::create(path).map_err(|e| png_error(&e))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| png_error(&e))?;
        writer.write_image_data(&rgba).map_err(|e| png_error(&e))?;
        Ok((w, h))
    }

    /// Starts recording into `dir` (`session.webm`, `session.events.jsonl`):
    /// the video from the next keyframe on.
    pub fn start_recording(
        &mut self,
        dir: &Path,
        session_id: &str,
        now: Instant,
    ) -> Result<(), ViewerError> {
        if self.recording.is_some() {
            return Err(ViewerError::Recording("already recording"));
        }
        std::fs::create_dir_all(dir).map_err(CodecError::from)?;
        let mut events = EventLog::create(dir.join("session.events.jsonl"))?;
        events.set_origin(0);
        self.recording = Some(Recording {
            video: WebmRecorder::create(dir.join("session.webm"))?,
            events,
            started: now,
            dir: dir.to_owned(),
        });
        self.log(
            now,
            &RecordedEvent::SessionStart {
                session: session_id.to_owned(),
            },
        )
    }

    /// Whether a recording runs.
    pub fn recording(&self) -> bool {
        self.recording.is_some()
    }

    /// Adds a line to the event log, when recording.
    pub fn log(&mut self, now: Instant, event: &RecordedEvent) -> Result<(), ViewerError> {
        if let Some(r) = &mut self.recording {
            let at = now.duration_since(r.started).as_micros();
            r.events.log(u64::try_from(at).unwrap_or(u64::MAX), event)?;
        }
        Ok(())
    }

    /// Closes the recording and its event log.
    pub fn stop_recording(&mut self) -> Result<Recorded, ViewerError> {
        let r = self
            .recording
            .take()
            .ok_or(ViewerError::Recording("not recording"))?;
        Ok(Recorded {
            video: r.video.path().to_owned(),
            events: r.dir.join("session.events.jsonl"),
            summary: r.video.finish()?,
            event_lines: r.events.finish()?,
        })
    }
}
