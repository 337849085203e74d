//! The applet's screen encoder: damage -> scale -> BGRA to I420 -> AV1, with
//! keyframe requests, run-time bitrate, resolution adaptation, and a report
//! for every frame (what it cost, what came out, what is still held).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::adapt::ResolutionAdapter;
use crate::convert::{Scaler, bgra_to_i420};
use crate::damage::{DEFAULT_TILE, DamageTracker};
use crate::encoder::{Backend, Encoder, EncoderSettings, new_encoder};
use crate::error::CodecError;
use crate::frame::{BgraFrame, I420Frame, Rect};

/// How the screen encoder is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineSettings {
    pub backend: Backend,
    pub bitrate_kbps: u32,
    /// Capture rate: the frame interval is each frame's time budget.
    pub fps: u32,
    pub threads: usize,
    /// Scale down when the encoder cannot keep up.
    pub adapt_resolution: bool,
    /// Size to start at (from the self-test); `None` = the screen's.
    pub start_size: Option<(u32, u32)>,
}

impl PipelineSettings {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            bitrate_kbps: 2_500,
            fps: 30,
            threads: 0,
            adapt_resolution: true,
            start_size: None,
        }
    }

    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.fps.max(1)))
    }
}

/// One AV1 temporal unit ready for a `VideoFrame` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideoFrame {
    pub frame_number: u64,
    pub capture_us: u64,
    pub keyframe: bool,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// What one captured frame cost and gave.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameReport {
    /// Nothing changed (and no keyframe was due): nothing was encoded.
    pub skipped: bool,
    /// Changed pixels.
    pub damaged_pixels: u64,
    pub damage_time: Duration,
    /// Scaling and colour conversion.
    pub convert_time: Duration,
    /// The encoder call alone.
    pub encode_time: Duration,
    /// Bytes of every packet that came out.
    pub bytes: usize,
    /// Frames inside the encoder without a packet yet.
    pub held: usize,
    /// This frame was encoded as a keyframe (requested or a new size).
    pub keyframe: bool,
    pub size: (u32, u32),
}

impl FrameReport {
    /// Time this frame spent in the pipeline.
    pub fn total(&self) -> Duration {
        self.damage_time + self.convert_time + self.encode_time
    }
}

/// Screen frames in, AV1 temporal units out.
pub struct ScreenEncoder {
    settings: PipelineSettings,
    encoder: Option<Box<dyn Encoder>>,
    damage: DamageTracker,
    scaler: Scaler,
    adapter: ResolutionAdapter,
    yuv: Option<I420Frame>,
    keyframe_due: bool,
    frame_number: u64,
    bitrate_kbps: u32,
    /// Capture sizes of frames inside the encoder, oldest first.
    in_flight: VecDeque<(u64, (u32, u32))>,
}

impl std::fmt::Debug for ScreenEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ScreenEncoder({:?}, frame {})",
            self.settings, self.frame_number
        )
    }
}

impl ScreenEncoder {
    pub fn new(settings: PipelineSettings) -> Self {
        Self {
            settings,
            encoder: None,
            damage: DamageTracker::new(DEFAULT_TILE),
            scaler: Scaler::default(),
            adapter: ResolutionAdapter::new((0, 0), settings.budget(), settings.adapt_resolution),
            yuv: None,
            keyframe_due: true,
            frame_number: 0,
            bitrate_kbps: settings.bitrate_kbps,
            in_flight: VecDeque::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.settings.backend
    }

    /// The next frame is encoded as a keyframe, changed or not.
    pub fn request_keyframe(&mut self) {
        self.keyframe_due = true;
    }

    /// Follows the transport's rate estimate from the next frame on.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        self.bitrate_kbps = kbps.max(1);
        if let Some(enc) = &mut self.encoder {
            enc.set_bitrate(self.bitrate_kbps)?;
        }
        Ok(())
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps
    }

    /// The size frames are encoded at now.
    pub fn encoded_size(&self) -> Option<(u32, u32)> {
        self.encoder.as_ref().map(|e| e.size())
    }

    /// Feeds one captured frame. `hints`: what the capture backend knows
    /// changed (XDamage), or `None`.
    pub fn push(
        &mut self,
        frame: &BgraFrame,
        capture_us: u64,
        hints: Option<&[Rect]>,
    ) -> Result<(Vec<EncodedVideoFrame>, FrameReport), CodecError> {
        let mut report = FrameReport::default();
        let t0 = Instant::now();
        let damage = self.damage.update(frame, hints);
        report.damage_time = t0.elapsed();
        report.damaged_pixels = damage.area();
        if damage.is_empty() && !self.keyframe_due {
            // Nothing new. A backend holding frames (rav1e) would keep the
            // last change from the viewer until the next one: flush it out.
            let out = if self.held() > 0 {
                self.flush()?
            } else {
                Vec::new()
            };
            report.skipped = true;
            report.bytes = out.iter().map(|f| f.data.len()).sum();
            report.held = self.held();
            report.size = self.encoded_size().unwrap_or((0, 0));
            return Ok((out, report));
        }
        let native = (frame.width(), frame.height());
        let mut out = Vec::new();
        self.adapter.set_native(native);
        if self.encoder.is_none() {
            if let Some(size) = self.settings.start_size {
                self.adapter.start_at(size);
            }
        }
        let target = self.adapter.target();
        if self.encoder.as_ref().map(|e| e.size()) != Some(target) {
            self.replace_encoder(target, &mut out)?;
        }

        let t1 = Instant::now();
        let scaled;
        let source = if target == native {
            frame
        } else {
            scaled = self.scaler.scale(frame, target.0, target.1)?;
            &scaled
        };
        let yuv = match &mut self.yuv {
            Some(y) if (y.width(), y.height()) == target => y,
            slot => slot.insert(I420Frame::new(target.0, target.1)?),
        };
        bgra_to_i420(source, yuv)?;
        report.convert_time = t1.elapsed();

        let encoder = self
            .encoder
            .as_mut()
            .ok_or(CodecError::BackendMissing(self.settings.backend.name()))?;
        let t2 = Instant::now();
        let packets = encoder.encode(yuv, capture_us, self.keyframe_due)?;
        report.encode_time = t2.elapsed();
        report.keyframe = self.keyframe_due;
        self.keyframe_due = false;
        self.in_flight.push_back((capture_us, target));
        self.collect(packets, &mut out);
        report.bytes = out.iter().map(|f| f.data.len()).sum();
        report.held = self.held();
        report.size = target;
        // A keyframe costs several inter frames: it says nothing about
        // whether the encoder keeps up.
        if !report.keyframe {
            self.adapter.observe(report.total());
        }
        Ok((out, report))
    }

    /// Emits every frame the encoder still holds.
    pub fn flush(&mut self) -> Result<Vec<EncodedVideoFrame>, CodecError> {
        let mut out = Vec::new();
        if let Some(enc) = &mut self.encoder {
            let packets = enc.flush()?;
            self.collect(packets, &mut out);
        }
        Ok(out)
    }

    fn held(&self) -> usize {
        self.encoder.as_ref().map_or(0, |e| e.held_frames())
    }

    fn replace_encoder(
        &mut self,
        size: (u32, u32),
        out: &mut Vec<EncodedVideoFrame>,
    ) -> Result<(), CodecError> {
        if let Some(mut old) = self.encoder.take() {
            let packets = old.flush()?;
            self.collect(packets, out);
        }
        tracing::debug!(backend = %self.settings.backend, w = size.0, h = size.1, "encoder (re)created");
        let mut es = EncoderSettings::new(size.0, size.1);
        es.bitrate_kbps = self.bitrate_kbps;
        es.fps = self.settings.fps;
        es.threads = self.settings.threads;
        self.encoder = Some(new_encoder(self.settings.backend, es)?);
        self.keyframe_due = true;
        Ok(())
    }

    fn collect(&mut self, packets: Vec<crate::encoder::Packet>, out: &mut Vec<EncodedVideoFrame>) {
        for p in packets {
            // Packets come out in input order; the oldest in flight is this one.
            let size = match self.in_flight.pop_front() {
                Some((_, size)) => size,
                None => self.encoded_size().unwrap_or((0, 0)),
            };
            self.frame_number += 1;
            out.push(EncodedVideoFrame {
                frame_number: self.frame_number,
                capture_us: p.pts_us,
                keyframe: p.keyframe,
                width: size.0,
                height: size.1,
                data: p.data,
            });
        }
    }
}
