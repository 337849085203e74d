//! The codec crate's one error type.

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("frame size {width}x{height} is outside 1..=16384 a side")]
    BadSize { width: u32, height: u32 },
    #[error("pixel buffer too short: {got} bytes, {expected} needed")]
    BadBuffer { expected: usize, got: usize },
    #[error("frame is {got_w}x{got_h}, the encoder was set up for {want_w}x{want_h}")]
    SizeMismatch {
        want_w: u32,
        want_h: u32,
        got_w: u32,
        got_h: u32,
    },
    #[error("colour conversion failed: {0}")]
    Convert(String),
    #[error("scaling failed: {0}")]
    Scale(String),
    #[error("encoder backend {0} is not built in")]
    BackendMissing(&'static str),
    #[error("{backend} encoder: {message}")]
    Encoder {
        backend: &'static str,
        message: String,
    },
    #[error("AV1 decoder: {0}")]
    Decoder(String),
    #[error("the AV1 payload is malformed: {0}")]
    Malformed(&'static str),
    #[error("decoded picture is not 8-bit 4:2:0 ({0})")]
    UnsupportedPicture(String),
    #[error("recording: {0}")]
    Recording(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
