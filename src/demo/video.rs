//! The screen in the demo: the customer's applet captures a synthetic
//! screen (someone typing in an editor), encodes it with the screen
//! pipeline and sends `VideoFrame`s and the cursor apart; the console
//! decodes with dav1d, records the session to WebM with its event log, and
//! asks for a keyframe once, as it would after a loss.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use secours_applet::{Scene, ScreenCapture, SyntheticScreen};
use secours_codec::recording::{EventLog, RecordedEvent, RecordingSummary, WebmRecorder};
use secours_codec::selftest::Choice;
use secours_codec::{Backend, Decoder, PipelineSettings, ScreenEncoder};
use secours_protocol::CommandError;
use secours_protocol::pb;
use secours_protocol::{Message, Session};

/// The customer's (synthetic) screen.
pub const SCREEN: (u32, u32) = (1280, 720);

/// Frames the console wants before the technician is satisfied.
pub const FRAMES_WANTED: u64 = 30;
/// Bounds of the video's share of the link, kbit/s.
const MIN_KBPS: u64 = 150;
const MAX_KBPS: u64 = 8_000;
/// The console asks for a keyframe after this frame.
const KEYFRAME_AFTER: u64 = 10;

/// The applet's side: capture, encode, send.
pub struct ScreenSender {
    screen: SyntheticScreen,
    encoder: ScreenEncoder,
    started: Instant,
    next_at: Instant,
    interval: Duration,
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub bytes_sent: u64,
    pub keyframe_requests: u64,
    pub cursor_messages: u64,
    pub backend: Backend,
    /// A cursor shape not sent yet.
    cursor_shape: Option<Message>,
    pub link_estimate_bps: u64,
    pub rate_changes: u64,
}

impl ScreenSender {
    /// `choice`: the start-up self-test's backend and size.
    pub fn new(started: Instant, choice: Choice) -> Result<Self> {
        let backend = choice.backend;
        let mut settings = PipelineSettings::new(backend);
        settings.bitrate_kbps = 1_500;
        settings.fps = 30;
        settings.start_size = Some(choice.size);
        Ok(Self {
            screen: SyntheticScreen::new(Scene::Typing, SCREEN.0, SCREEN.1)?,
            encoder: ScreenEncoder::new(settings),
            started,
            next_at: started,
            interval: Duration::from_millis(33),
            frames_sent: 0,
            keyframes_sent: 0,
            bytes_sent: 0,
            keyframe_requests: 0,
            cursor_messages: 0,
            backend,
            cursor_shape: None,
            link_estimate_bps: 0,
            rate_changes: 0,
        })
    }

    /// When the next frame is due.
    pub fn next_at(&self) -> Instant {
        self.next_at
    }

    /// Follows the link's sending-rate estimate: the video may use most of
    /// it (files and input share the rest), within what screen content needs.
    pub fn follow_link(&mut self, send_rate_bps: u64) {
        if send_rate_bps == 0 {
            return;
        }
        let kbps = (send_rate_bps * 7 / 10 / 1000).clamp(MIN_KBPS, MAX_KBPS) as u32;
        let current = self.encoder.bitrate_kbps();
        // Ignore small wobbles: rav1e restarts its sequence on every change.
        if kbps.abs_diff(current) * 5 > current && self.encoder.set_bitrate(kbps).is_ok() {
            self.rate_changes += 1;
        }
        self.link_estimate_bps = send_rate_bps;
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.encoder.bitrate_kbps()
    }

    pub fn keyframe_requested(&mut self) {
        self.keyframe_requests += 1;
        self.encoder.request_keyframe();
    }

    /// Captures and sends a frame when one is due and the customer allows
    /// the technician to see the screen.
    pub fn tick(&mut self, s: &mut Session, now: Instant) -> Result<()> {
        if now < self.next_at || !s.is_established() {
            return Ok(());
        }
        self.next_at = now + self.interval;
        let cap = self.screen.capture()?;
        let capture_us = now.duration_since(self.started).as_micros() as u64;
        let (frames, _) = self
            .encoder
            .push(&cap.frame, capture_us, cap.damage_hints.as_deref())?;
        if let Some(shape) = cap.cursor_shape {
            self.cursor_shape = Some(Message::CursorShape(pb::CursorShape {
                id: shape.id,
                width: shape.width,
                height: shape.height,
                hotspot_x: shape.hotspot_x,
                hotspot_y: shape.hotspot_y,
                rgba: Bytes::from(shape.rgba),
            }));
        }
        // The shape goes first and stays pending until it is out.
        let mut messages: Vec<Message> = self.cursor_shape.iter().cloned().collect();
        for f in frames {
            messages.push(Message::VideoFrame(pb::VideoFrame {
                frame_number: f.frame_number,
                capture_time_us: f.capture_us,
                keyframe: f.keyframe,
                width: f.width,
                height: f.height,
                codec: pb::VideoCodec::Av1.into(),
                payload: Bytes::from(f.data),
            }));
        }
        messages.push(Message::CursorPosition(pb::CursorPosition {
            shape_id: cap.cursor.shape_id,
            x: cap.cursor.x,
            y: cap.cursor.y,
            visible: cap.cursor.visible,
        }));
        for m in messages {
            let sent = match &m {
                Message::VideoFrame(v) => Some((v.keyframe, v.payload.len() as u64)),
                _ => None,
            };
            let shape = matches!(m, Message::CursorShape(_));
            match s.send_video(m, now) {
                Ok(()) => match sent {
                    Some((key, len)) => {
                        self.frames_sent += 1;
                        self.keyframes_sent += u64::from(key);
                        self.bytes_sent += len;
                    }
                    None => {
                        self.cursor_messages += 1;
                        if shape {
                            self.cursor_shape = None;
                        }
                    }
                },
                // Not allowed (yet): the screen stays private; the encoder
                // starts again with a keyframe once it is.
                Err(CommandError::NoConsent(_)) => {
                    self.encoder.request_keyframe();
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// The console's side: decode, record, ask for a keyframe once.
pub struct ScreenViewer {
    decoder: Decoder,
    recorder: Option<WebmRecorder>,
    events: Option<EventLog>,
    session_id: String,
    started: Instant,
    pub decoded: u64,
    pub size: (u32, u32),
    pub bytes: u64,
    pub first_frame_ms: Option<f64>,
    requested_at: Option<u64>,
    pub keyframe_after_request: bool,
    pub cursor_shapes: u64,
    pub cursor_positions: u64,
    pub summary: Option<RecordingSummary>,
    pub event_lines: u64,
    /// Frames the decoder refused (each answered by a keyframe request).
    pub decode_errors: u64,
}

impl ScreenViewer {
    pub fn new(dir: &Path, session_id: &str, started: Instant) -> Result<Self> {
        let mut events = EventLog::create(dir.join("session.events.jsonl"))?;
        events.set_origin(0);
        Ok(Self {
            decoder: Decoder::new(0)?,
            recorder: Some(WebmRecorder::create(dir.join("session.webm"))?),
            events: Some(events),
            session_id: session_id.to_owned(),
            started,
            decoded: 0,
            size: (0, 0),
            bytes: 0,
            first_frame_ms: None,
            requested_at: None,
            keyframe_after_request: false,
            cursor_shapes: 0,
            cursor_positions: 0,
            summary: None,
            event_lines: 0,
            decode_errors: 0,
        })
    }

    /// Enough seen, and the keyframe request answered.
    pub fn satisfied(&self) -> bool {
        self.decoded >= FRAMES_WANTED && self.keyframe_after_request
    }

    /// The session's first line in the log.
    pub fn log_start(&mut self, now: Instant) -> Result<()> {
        let session = self.session_id.clone();
        self.log(now, RecordedEvent::SessionStart { session })
    }

    /// Adds a line to the session's event log (chat, files, control...).
    pub fn log(&mut self, now: Instant, event: RecordedEvent) -> Result<()> {
        let at = now.duration_since(self.started).as_micros() as u64;
        if let Some(events) = &mut self.events {
            events.log(at, &event)?;
        }
        Ok(())
    }

    pub fn on_message(&mut self, s: &mut Session, m: &Message, now: Instant) -> Result<bool> {
        match m {
            Message::VideoFrame(v) => {
                self.bytes += v.payload.len() as u64;
                if let Some(rec) = &mut self.recorder {
                    rec.write(&v.payload, v.keyframe, v.width, v.height, v.capture_time_us)?;
                }
                let pictures = match self.decoder.decode(v.payload.clone(), v.capture_time_us) {
                    Ok(p) => p,
                    Err(e) => {
                        // A frame whose references were dropped on a busy
                        // link: start again from a keyframe.
                        tracing::warn!(error = %e, frame = v.frame_number, "video frame refused");
                        self.decode_errors += 1;
                        s.send_reply(
                            Message::KeyframeRequest(pb::KeyframeRequest {
                                last_good_frame: v.frame_number.saturating_sub(1),
                            }),
                            now,
                        )?;
                        return Ok(true);
                    }
                };
                for p in pictures {
                    self.decoded += 1;
                    self.size = (p.frame.width(), p.frame.height());
                    self.first_frame_ms
                        .get_or_insert(now.duration_since(self.started).as_secs_f64() * 1e3);
                }
                if self.requested_at.is_some_and(|at| v.frame_number > at) && v.keyframe {
                    self.keyframe_after_request = true;
                }
                if self.requested_at.is_none() && v.frame_number >= KEYFRAME_AFTER {
                    // As after a lost frame: everything after this one waits
                    // for a keyframe.
                    self.requested_at = Some(v.frame_number);
                    s.send_reply(
                        Message::KeyframeRequest(pb::KeyframeRequest {
                            last_good_frame: v.frame_number,
                        }),
                        now,
                    )?;
                    self.log(
                        now,
                        RecordedEvent::Control {
                            action: "keyframe_request".into(),
                            state: format!("after frame {}", v.frame_number),
                        },
                    )?;
                }
                Ok(true)
            }
            Message::CursorShape(_) => {
                self.cursor_shapes += 1;
                Ok(true)
            }
            Message::CursorPosition(_) => {
                self.cursor_positions += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Closes the recording and its event log.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(rec) = self.recorder.take() {
            self.summary = Some(rec.finish()?);
        }
        if let Some(events) = self.events.take() {
            self.event_lines = events.finish()?;
        }
        Ok(())
    }
}
