//! Length-delimited framing: `length: u32 big-endian` then `length` bytes of a
//! protobuf `Envelope`.
//!
//! The length is checked against the channel's limit before a single byte of
//! the body is buffered, so a peer claiming 4 GiB costs nothing. Decoding from
//! a `BytesMut` splits the frame off as `Bytes` and prost slices `bytes` fields
//! out of it: a video payload is never copied on the way in.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message as _;

use crate::pb;
use crate::wire::validate::{Violation, validate};
use crate::wire::{Channel, Message, message_name};

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// Why a frame could not be decoded (or encoded). Each closes the channel's
/// connection; none panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is above the channel's limit.
    #[error("{channel} frame of {claimed} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Channel the frame arrived on.
        channel: Channel,
        /// Length the header claimed.
        claimed: u64,
        /// The channel's limit.
        limit: u32,
    },
    /// The body is not a valid protobuf `Envelope`.
    #[error("malformed {channel} frame: {source}")]
    Malformed {
        /// Channel the frame arrived on.
        channel: Channel,
        /// What prost found wrong.
        source: prost::DecodeError,
    },
    /// A known message arrived on a channel that does not carry it.
    #[error("{message} is not allowed on the {channel} channel")]
    WrongChannel {
        /// Channel the frame arrived on.
        channel: Channel,
        /// The message's name.
        message: &'static str,
    },
    /// A field is outside its limits (PROTOCOL.md "Limits").
    #[error("invalid {message}.{}: {}", violation.field, violation.reason)]
    Invalid {
        /// The message's name.
        message: &'static str,
        /// The field and what is wrong with it.
        violation: Violation,
    },
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A message this version knows, valid and on its channel.
    Message(Message),
    /// A message type from a newer peer (or an empty frame): skipped.
    Unknown,
}

/// Encodes one message as a frame at the end of `dst`.
///
/// Refuses what the peer would refuse: a message over the channel limit or
/// outside the field limits is our bug, reported rather than sent.
pub fn encode(message: Message, dst: &mut BytesMut) -> Result<(), FrameError> {
    let channel = Channel::of(&message);
    validate(&message).map_err(|violation| FrameError::Invalid {
        message: message_name(&message),
        violation,
    })?;
    let envelope = pb::Envelope { msg: Some(message) };
    let len = envelope.encoded_len();
    if len > channel.max_frame() as usize {
        return Err(FrameError::TooLarge {
            channel,
            claimed: len as u64,
            limit: channel.max_frame(),
        });
    }
    dst.reserve(HEADER_LEN + len);
    // `len` fits: it is below the channel limit, itself below u32::MAX.
    dst.put_u32(len as u32);
    envelope.encode(dst).map_err(|_| FrameError::TooLarge {
        channel,
        claimed: len as u64,
        limit: channel.max_frame(),
    })
}

/// Encodes one message as a frame of its own.
pub fn encode_to_bytes(message: Message) -> Result<Bytes, FrameError> {
    let mut dst = BytesMut::new();
    encode(message, &mut dst)?;
    Ok(dst.freeze())
}

/// Decodes the next frame of `channel` from the front of `src`.
///
/// Returns `Ok(None)` when `src` does not hold a whole frame yet, having
/// reserved room for it (never more than the channel limit). Consumed bytes are
/// removed from `src`.
pub fn decode(channel: Channel, src: &mut BytesMut) -> Result<Option<Decoded>, FrameError> {
    if src.len() < HEADER_LEN {
        return Ok(None);
    }
    let claimed = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
    let limit = channel.max_frame();
    if claimed > limit {
        return Err(FrameError::TooLarge {
            channel,
            claimed: u64::from(claimed),
            limit,
        });
    }
    let total = HEADER_LEN + claimed as usize;
    if src.len() < total {
        src.reserve(total - src.len());
        return Ok(None);
    }
    src.advance(HEADER_LEN);
    let body = src.split_to(claimed as usize).freeze();
    decode_body(channel, body).map(Some)
}

/// Decodes one frame body (the bytes after the length prefix).
pub fn decode_body(channel: Channel, body: Bytes) -> Result<Decoded, FrameError> {
    if body.len() > channel.max_frame() as usize {
        return Err(FrameError::TooLarge {
            channel,
            claimed: body.len() as u64,
            limit: channel.max_frame(),
        });
    }
    let envelope =
        pb::Envelope::decode(body).map_err(|source| FrameError::Malformed { channel, source })?;
    let Some(message) = envelope.msg else {
        return Ok(Decoded::Unknown);
    };
    let name = message_name(&message);
    if Channel::of(&message) != channel {
        return Err(FrameError::WrongChannel {
            channel,
            message: name,
        });
    }
    validate(&message).map_err(|violation| FrameError::Invalid {
        message: name,
        violation,
    })?;
    Ok(Decoded::Message(message))
}

/// A per-channel receive buffer: push bytes as they arrive, pull messages.
#[derive(Debug)]
pub struct FrameReader {
    channel: Channel,
    buf: BytesMut,
}

impl FrameReader {
    /// A reader for one channel's byte stream.
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            buf: BytesMut::new(),
        }
    }

    /// The channel this reader decodes.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The receive buffer, for transports that read straight into it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next decoded frame, if a whole one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Decoded>, FrameError> {
        decode(self.channel, &mut self.buf)
    }
}
