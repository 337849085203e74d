//! Input lanes of the relay, sans IO (spec section 12, ALPN `secours/3`).
//!
//! TCP delivers in order: behind one lost packet of file data, every input
//! record of the main connection waits for the retransmission, a round trip
//! or more. So each input piece also travels on two more connections (lanes)
//! through the hub, as a record `0x81 | length: u16 BE | offset: u64 BE |
//! bytes`, `offset` counting the input channel's bytes; the receiver delivers
//! each byte once and in order from whichever copy arrives first
//! (`input_copy::InputAssembler`). A copy without bytes keeps an idle lane
//! open through proxies and the hub's idle timeout.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::record::HEADER;

/// Kind byte of an input copy record.
pub const COPY: u8 = 0x81;
/// Largest input piece copied onto the lanes; bigger ones travel on the main
/// connection only.
pub const MAX_COPY: usize = 1200;
/// Offset field length.
const OFFSET: usize = 8;

/// Why a lane's byte stream is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    /// A record of another kind.
    #[error("lane record of kind {0:#04x}")]
    Kind(u8),
    /// A record shorter than its offset or longer than a copy may be.
    #[error("lane record of {0} bytes (8..={max})", max = OFFSET + MAX_COPY)]
    Length(usize),
}

/// The lane record of the input piece `bytes` found at `offset`; `None`
/// when the piece is over [`MAX_COPY`].
pub fn encode_copy(offset: u64, bytes: &[u8]) -> Option<Bytes> {
    if bytes.len() > MAX_COPY {
        return None;
    }
    let len = OFFSET + bytes.len();
    let mut r = BytesMut::with_capacity(HEADER + len);
    r.put_u8(COPY);
    r.put_u16(len as u16);
    r.put_u64(offset);
    r.extend_from_slice(bytes);
    Some(r.freeze())
}

/// Cuts a lane's byte stream into input copies; holds at most one partial
/// record plus what was pushed since the last drain.
#[derive(Debug, Default)]
pub struct LaneDecoder {
    buf: BytesMut,
}

impl LaneDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole copy (offset, bytes), `None` until one is complete.
    pub fn next_copy(&mut self) -> Result<Option<(u64, Bytes)>, LaneError> {
        let Some(header) = self.buf.get(..HEADER) else {
            return Ok(None);
        };
        if header[0] != COPY {
            return Err(LaneError::Kind(header[0]));
        }
        let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        if !(OFFSET..=OFFSET + MAX_COPY).contains(&len) {
            return Err(LaneError::Length(len));
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        self.buf.advance(HEADER);
        let offset = self.buf.get_u64();
        Ok(Some((offset, self.buf.split_to(len - OFFSET).freeze())))
    }
}

/// Fuzzing entry: `bytes` as a lane's stream, its copies fed to an input
/// assembler whose own stream has delivered nothing: it stays bounded.
#[doc(hidden)]
pub fn fuzz_lane(bytes: &[u8]) {
    let mut decoder = LaneDecoder::new();
    let mut input = crate::input_copy::InputAssembler::new();
    for chunk in bytes.chunks(5) {
        decoder.push(chunk);
        loop {
            match decoder.next_copy() {
                Ok(Some((offset, copy))) => {
                    assert!(copy.len() <= MAX_COPY);
                    let before = input.delivered();
                    let out: usize = input.from_copy(offset, copy).iter().map(|b| b.len()).sum();
                    assert_eq!(before + out as u64, input.delivered());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(decoder.buffered() <= HEADER + OFFSET + MAX_COPY + 5);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn copies_split_anywhere_come_out_whole() {
        let mut bytes = encode_copy(7, b"abc").unwrap().to_vec();
        bytes.extend_from_slice(&encode_copy(10, b"").unwrap());
        assert_eq!(encode_copy(0, &[0; MAX_COPY + 1]), None);
        assert_eq!(&bytes[..3], &[COPY, 0, 11]);
        for cut in 0..bytes.len() {
            let mut d = LaneDecoder::new();
            d.push(&bytes[..cut]);
            let mut got = Vec::new();
            while let Some(c) = d.next_copy().unwrap() {
                got.push(c);
            }
            d.push(&bytes[cut..]);
            while let Some(c) = d.next_copy().unwrap() {
                got.push(c);
            }
            assert_eq!(
                got,
                vec![(7, Bytes::from_static(b"abc")), (10, Bytes::new())],
                "cut at {cut}"
            );
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn other_kinds_and_lengths_are_refused_before_the_payload() {
        let mut d = LaneDecoder::new();
        d.push(&[0x01, 0, 2]);
        assert_eq!(d.next_copy(), Err(LaneError::Kind(1)));
        let mut d = LaneDecoder::new();
        d.push(&[COPY, 0, 7]);
        assert_eq!(d.next_copy(), Err(LaneError::Length(7)));
        let mut d = LaneDecoder::new();
        d.push(&[COPY, 0xFF, 0xFF]);
        assert_eq!(d.next_copy(), Err(LaneError::Length(65535)));
    }
}
