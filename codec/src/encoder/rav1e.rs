//! rav1e: pure Rust, no system library. Low-latency mode, speed 10, tiles,
//! scene detection off. It holds a few frames before the first packet
//! whatever the settings (see DESIGN.md), which `held_frames` reports.
//!
//! rav1e has no run-time rate change: a new bitrate flushes the context and
//! starts another, whose first frame is a keyframe.

use rav1e::prelude::{
    ColorDescription, ColorPrimaries, Config, Context, EncoderConfig, EncoderStatus,
    FrameParameters, FrameType, FrameTypeOverride, MatrixCoefficients, Opaque, PixelRange,
    Rational, SceneDetectionSpeed, TransferCharacteristics,
};

use super::{Backend, Encoder, EncoderSettings, Packet, check_frame};
use crate::error::CodecError;
use crate::frame::I420Frame;

const SPEED: u8 = 10;

pub(crate) struct Rav1eEncoder {
    ctx: Context<u8>,
    settings: EncoderSettings,
    sent: u64,
    received: u64,
    /// Packets flushed out of a replaced context, handed out next call.
    flushed: Vec<Packet>,
}

impl std::fmt::Debug for Rav1eEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rav1eEncoder({:?})", self.settings)
    }
}

fn err(message: impl Into<String>) -> CodecError {
    CodecError::Encoder {
        backend: "rav1e",
        message: message.into(),
    }
}

fn make_context(settings: &EncoderSettings) -> Result<Context<u8>, CodecError> {
    let mut enc = EncoderConfig::with_speed_preset(SPEED);
    enc.width = settings.width as usize;
    enc.height = settings.height as usize;
    enc.bit_depth = 8;
    enc.time_base = Rational::new(1, u64::from(settings.fps.max(1)));
    enc.pixel_range = PixelRange::Limited;
    enc.color_description = Some(ColorDescription {
        color_primaries: ColorPrimaries::BT709,
        transfer_characteristics: TransferCharacteristics::BT709,
        matrix_coefficients: MatrixCoefficients::BT709,
    });
    enc.low_latency = true;
    // In bitrate mode `quantizer` caps the quantizer: rav1e's default (100)
    // keeps low targets out of reach, no cap (255) lets the frames after a
    // keyframe fall to unreadable quality; 200 does neither.
    enc.quantizer = 200;
    // Never lossless: when the budget is ample rate control reaches
    // quantizer 0, and rav1e 0.8.1's lossless frames in low-latency bitrate
    // mode are streams dav1d and libaom both refuse ("failed to decode tile
    // data"; test every_frame_of_a_long_clip_decodes). 20 is still far
    // above what the eye can tell on screen content.
    enc.min_quantizer = 20;
    enc.bitrate = i32::try_from(u64::from(settings.bitrate_kbps.max(1)) * 1000).unwrap_or(i32::MAX);
    enc.min_key_frame_interval = 0;
    enc.max_key_frame_interval = 3000;
    enc.speed_settings.scene_detection_mode = SceneDetectionSpeed::None;
    enc.speed_settings.rdo_lookahead_frames = 1;
    // Tiles are left to rav1e (0 = by size).
    let threads = settings.thread_count();
    Config::new()
        .with_encoder_config(enc)
        .with_threads(threads)
        .new_context()
        .map_err(|e| err(e.to_string()))
}

impl Rav1eEncoder {
    pub(crate) fn new(settings: EncoderSettings) -> Result<Self, CodecError> {
        Ok(Self {
            ctx: make_context(&settings)?,
            settings,
            sent: 0,
            received: 0,
            flushed: Vec::new(),
        })
    }

    fn receive(&mut self, out: &mut Vec<Packet>) -> Result<(), CodecError> {
        loop {
            match self.ctx.receive_packet() {
                Ok(p) => {
                    self.received += 1;
                    let pts_us = p
                        .opaque
                        .and_then(|o| o.downcast::<u64>().ok())
                        .map_or(0, |b| *b);
                    out.push(Packet {
                        data: p.data,
                        keyframe: p.frame_type == FrameType::KEY,
                        pts_us,
                    });
                }
                Err(EncoderStatus::Encoded) => continue,
                Err(EncoderStatus::NeedMoreData | EncoderStatus::LimitReached) => return Ok(()),
                Err(e) => return Err(err(e.to_string())),
            }
        }
    }
}

impl Encoder for Rav1eEncoder {
    fn backend(&self) -> Backend {
        Backend::Rav1e
    }

    fn size(&self) -> (u32, u32) {
        (self.settings.width, self.settings.height)
    }

    fn encode(
        &mut self,
        frame: &I420Frame,
        pts_us: u64,
        keyframe: bool,
    ) -> Result<Vec<Packet>, CodecError> {
        check_frame(&self.settings, frame)?;
        let mut f = self.ctx.new_frame();
        f.planes[0].copy_from_raw_u8(&frame.y, frame.y_stride(), 1);
        f.planes[1].copy_from_raw_u8(&frame.u, frame.chroma_stride(), 1);
        f.planes[2].copy_from_raw_u8(&frame.v, frame.chroma_stride(), 1);
        let params = FrameParameters {
            frame_type_override: if keyframe {
                FrameTypeOverride::Key
            } else {
                FrameTypeOverride::No
            },
            opaque: Some(Opaque::new(pts_us)),
            ..Default::default()
        };
        let mut out = std::mem::take(&mut self.flushed);
        match self.ctx.send_frame((f, params)) {
            Ok(()) => self.sent += 1,
            Err(e) => return Err(err(format!("send_frame: {e}"))),
        }
        self.receive(&mut out)?;
        Ok(out)
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        if kbps.max(1) == self.settings.bitrate_kbps {
            return Ok(());
        }
        let mut out = self.flush()?;
        self.flushed.append(&mut out);
        self.settings.bitrate_kbps = kbps.max(1);
        self.ctx = make_context(&self.settings)?;
        self.sent = 0;
        self.received = 0;
        Ok(())
    }

    fn bitrate_kbps(&self) -> u32 {
        self.settings.bitrate_kbps
    }

    fn held_frames(&self) -> usize {
        (self.sent - self.received) as usize
    }

    fn flush(&mut self) -> Result<Vec<Packet>, CodecError> {
        let mut out = std::mem::take(&mut self.flushed);
        if self.sent == self.received {
            return Ok(out);
        }
        // Sending "no frame" ends the stream; the context is replaced after.
        match self.ctx.send_frame(None) {
            Ok(()) | Err(EncoderStatus::EnoughData) => {}
            Err(e) => return Err(err(format!("flush: {e}"))),
        }
        self.receive(&mut out)?;
        self.ctx = make_context(&self.settings)?;
        self.sent = 0;
        self.received = 0;
        Ok(out)
    }
}
