//! secours-codec: what is on the customer's screen, as AV1 the console
//! decodes with the least delay, and recordings standard players open.
//!
//! The steps are separate and measured one by one (codecbench):
//! - `damage`: which tiles changed; nothing changed -> nothing encoded;
//! - `convert`: BGRA <-> I420 (SIMD, the `yuv` crate), scaling;
//! - `encoder`: one `Encoder` trait, libaom real-time and rav1e backends;
//! - `decoder`: dav1d;
//! - `adapt`: resolution adaptation; `selftest`: the start-up choice;
//! - `pipeline`: the applet's `ScreenEncoder` tying them together;
//! - `recording`: WebM + JSON-lines event log.

pub mod adapt;
pub mod convert;
pub mod damage;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod frame;
pub mod obu;
pub mod pipeline;
pub mod recording;
pub mod selftest;

pub use decoder::{DecodedFrame, Decoder, Picture, Plane};
pub use encoder::{Backend, Encoder, EncoderSettings, Packet, new_encoder};
pub use error::CodecError;
pub use frame::{BgraFrame, I420Frame, Rect};
pub use pipeline::{EncodedVideoFrame, FrameReport, PipelineSettings, ScreenEncoder};
