//! The wire format: messages, channels, framing and field limits.

mod channel;
mod frame;
pub mod validate;

pub use channel::{Channel, message_name};
pub use frame::{
    Decoded, FrameError, FrameReader, HEADER_LEN, decode, decode_body, encode, encode_to_bytes,
};

/// One protocol message: the `msg` member of an `Envelope`.
pub type Message = crate::pb::envelope::Msg;

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this implementation still speaks.
pub const PROTOCOL_VERSION_MIN: u32 = 1;
