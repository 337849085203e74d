//! One `Encoder` trait, two AV1 backends: libaom in real-time mode (the
//! interactive default) and rav1e (pure Rust).

#[cfg(feature = "aom")]
mod aom;
#[cfg(feature = "rav1e")]
mod rav1e;

use std::fmt;
use std::str::FromStr;

use crate::error::CodecError;
use crate::frame::I420Frame;

/// An AV1 encoder implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Aom,
    Rav1e,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Aom, Backend::Rav1e];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Aom => "aom",
            Backend::Rav1e => "rav1e",
        }
    }

    /// Whether this build carries the backend.
    pub fn available(self) -> bool {
        match self {
            Backend::Aom => cfg!(feature = "aom"),
            Backend::Rav1e => cfg!(feature = "rav1e"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "aom" | "libaom" => Ok(Backend::Aom),
            "rav1e" => Ok(Backend::Rav1e),
            other => Err(format!("unknown encoder {other:?} (aom or rav1e)")),
        }
    }
}

/// How an encoder is set up. Size changes make a new encoder (the first
/// frame after one is a keyframe anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    /// Target bitrate, kbit/s; changed at run time with `set_bitrate`.
    pub bitrate_kbps: u32,
    /// Nominal frame rate (rate control's budget per frame; frames are
    /// still sent only on change, with their true timestamps).
    pub fps: u32,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
}

impl EncoderSettings {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            bitrate_kbps: 2_000,
            fps: 30,
            threads: 0,
        }
    }

    #[cfg(any(feature = "aom", feature = "rav1e"))]
    pub(crate) fn thread_count(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// One AV1 temporal unit out of an encoder.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    /// OBUs in the low-overhead format (what `VideoFrame.payload` carries).
    pub data: Vec<u8>,
    pub keyframe: bool,
    /// The timestamp given with the input frame this packet encodes.
    pub pts_us: u64,
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Packet({} bytes, pts {} us{})",
            self.data.len(),
            self.pts_us,
            if self.keyframe { ", key" } else { "" }
        )
    }
}

/// An AV1 encoder fed I420 frames.
pub trait Encoder: Send {
    fn backend(&self) -> Backend;

    /// The size frames must have.
    fn size(&self) -> (u32, u32);

    /// Encodes one frame captured at `pts_us`; `keyframe` forces the frame
    /// to be a keyframe. Returns the packets that came out, which for a
    /// backend holding frames may belong to earlier inputs.
    fn encode(
        &mut self,
        frame: &I420Frame,
        pts_us: u64,
        keyframe: bool,
    ) -> Result<Vec<Packet>, CodecError>;

    /// New target bitrate, effective from the next frame.
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError>;

    fn bitrate_kbps(&self) -> u32;

    /// Frames given to `encode` whose packet has not come out yet.
    fn held_frames(&self) -> usize;

    /// Emits every held frame.
    fn flush(&mut self) -> Result<Vec<Packet>, CodecError>;
}

/// Makes an encoder of `backend`.
pub fn new_encoder(
    backend: Backend,
    settings: EncoderSettings,
) -> Result<Box<dyn Encoder>, CodecError> {
    if settings.width == 0 || settings.height == 0 {
        return Err(CodecError::BadSize {
            width: settings.width,
            height: settings.height,
        });
    }
    match backend {
        #[cfg(feature = "aom")]
        Backend::Aom => Ok(Box::new(aom::AomEncoder::new(settings)?)),
        #[cfg(feature = "rav1e")]
        Backend::Rav1e => Ok(Box::new(rav1e::Rav1eEncoder::new(settings)?)),
        #[allow(unreachable_patterns)]
        other => Err(CodecError::BackendMissing(other.name())),
    }
}

#[cfg(any(feature = "aom", feature = "rav1e"))]
pub(crate) fn check_frame(settings: &EncoderSettings, frame: &I420Frame) -> Result<(), CodecError> {
    if (frame.width(), frame.height()) != (settings.width, settings.height) {
        return Err(CodecError::SizeMismatch {
            want_w: settings.width,
            want_h: settings.height,
            got_w: frame.width(),
            got_h: frame.height(),
        });
    }
    Ok(())
}
