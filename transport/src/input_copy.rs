//! Input copies on the direct path, sans IO.
//!
//! A lost QUIC packet holding an input event is resent only once loss is
//! detected, about a round trip later (or after a probe timeout when nothing
//! follows it): at 1 % loss that is the input delay's 99th percentile. So each
//! input frame also travels, a few milliseconds after it was written to the
//! input stream, as a QUIC datagram `0x01 | offset: u64 BE | bytes`, `offset`
//! counting the input channel's bytes. The receiver delivers every byte of
//! the channel once and in order, from whichever copy arrives first.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

/// Kind byte of an input copy datagram.
pub const INPUT_COPY: u8 = 1;
/// Header of an input copy: kind and offset.
pub const HEADER: usize = 9;
/// Copies ahead of the delivered point held, at most (bytes).
const MAX_PENDING_BYTES: usize = 64 * 1024;
/// and pieces.
const MAX_PENDING: usize = 256;

/// The datagram carrying `bytes` found at `offset` of the input channel.
pub fn encode(offset: u64, bytes: &[u8]) -> Bytes {
    let mut d = BytesMut::with_capacity(HEADER + bytes.len());
    d.put_u8(INPUT_COPY);
    d.put_u64(offset);
    d.extend_from_slice(bytes);
    d.freeze()
}

/// An input copy's offset and bytes; `None` for a datagram of another kind
/// (ignored: a later version may use them) or too short.
pub fn decode(datagram: &Bytes) -> Option<(u64, Bytes)> {
    let header = datagram.get(..HEADER)?;
    if header[0] != INPUT_COPY {
        return None;
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&header[1..]);
    Some((u64::from_be_bytes(o), datagram.slice(HEADER..)))
}

/// Merges the input stream and its copies into one ordered byte stream.
#[derive(Debug, Default)]
pub struct InputAssembler {
    delivered: u64,
    pending: BTreeMap<u64, Bytes>,
    pending_bytes: usize,
}

impl InputAssembler {
    /// An assembler at offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of the channel delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// A chunk of the (ordered) stream at `offset`: what is new in it, and
    /// any held copies it makes contiguous.
    pub fn from_stream(&mut self, offset: u64, bytes: Bytes) -> Vec<Bytes> {
        let mut out = Vec::new();
        out.extend(self.take(offset, bytes));
        self.drain(&mut out);
        out
    }

    /// A copy at `offset`: delivered now if it is next, held if it is ahead
    /// (within bounds), dropped if already delivered.
    pub fn from_copy(&mut self, offset: u64, bytes: Bytes) -> Vec<Bytes> {
        let mut out = Vec::new();
        if bytes.is_empty() {
            return out;
        }
        if offset > self.delivered {
            let room = self.pending_bytes + bytes.len() <= MAX_PENDING_BYTES
                && self.pending.len() < MAX_PENDING;
            if room && !self.pending.contains_key(&offset) {
                self.pending_bytes += bytes.len();
                self.pending.insert(offset, bytes);
            }
            return out;
        }
        out.extend(self.take(offset, bytes));
        self.drain(&mut out);
        out
    }

    /// The part of `bytes` (at `offset`) past the delivered point, if it
    /// starts at or before it.
    fn take(&mut self, offset: u64, bytes: Bytes) -> Option<Bytes> {
        let end = offset.checked_add(bytes.len() as u64)?;
        if end <= self.delivered || offset > self.delivered {
            return None;
        }
        let skip = (self.delivered - offset) as usize;
        self.delivered = end;
        Some(bytes.slice(skip..))
    }

    fn drain(&mut self, out: &mut Vec<Bytes>) {
        while let Some((&offset, _)) = self.pending.first_key_value() {
            if offset > self.delivered {
                break;
            }
            if let Some(bytes) = self.pending.remove(&offset) {
                self.pending_bytes -= bytes.len();
                out.extend(self.take(offset, bytes));
            }
        }
    }
}

/// Fuzzing entry: `bytes` cut into datagrams and stream chunks, fed to an
/// assembler; what comes out is checked to be one ordered stream.
#[doc(hidden)]
pub fn fuzz_input_copies(bytes: &[u8]) {
    let mut a = InputAssembler::new();
    let mut delivered = 0u64;
    for piece in bytes.chunks(23) {
        let data = Bytes::copy_from_slice(piece);
        let out = if piece.first().is_some_and(|b| b & 1 == 0) {
            match decode(&data) {
                Some((offset, copy)) => a.from_copy(offset % 4096, copy),
                None => Vec::new(),
            }
        } else {
            let offset = u64::from(piece.get(1).copied().unwrap_or(0));
            a.from_stream(offset.min(a.delivered()), data)
        };
        delivered += out.iter().map(|b| b.len() as u64).sum::<u64>();
        assert_eq!(delivered, a.delivered());
        assert!(a.pending_bytes <= MAX_PENDING_BYTES && a.pending.len() <= MAX_PENDING);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn join(v: Vec<Bytes>) -> Vec<u8> {
        v.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn every_byte_once_in_order_whichever_copy_comes_first() {
        let mut a = InputAssembler::new();
        // Frame 1 (offset 0, 3 bytes) comes by the stream, frame 2 (offset 3)
        // by its copy first, then the stream repeats both.
        assert_eq!(join(a.from_stream(0, Bytes::from_static(b"abc"))), b"abc");
        let d = encode(3, b"de");
        let (off, copy) = decode(&d).unwrap();
        assert_eq!(join(a.from_copy(off, copy)), b"de");
        assert_eq!(join(a.from_stream(3, Bytes::from_static(b"de"))), b"");
        // A stream chunk overlapping what copies delivered gives only the rest.
        assert_eq!(join(a.from_copy(5, Bytes::from_static(b"f"))), b"f");
        assert_eq!(join(a.from_stream(5, Bytes::from_static(b"fgh"))), b"gh");
        // A copy ahead waits for the gap to close, then comes out.
        assert_eq!(join(a.from_copy(10, Bytes::from_static(b"k"))), b"");
        assert_eq!(join(a.from_copy(8, Bytes::from_static(b"ij"))), b"ijk");
        assert_eq!(a.delivered(), 11);
        // Late copies are dropped.
        assert_eq!(join(a.from_copy(0, Bytes::from_static(b"abc"))), b"");
    }

    #[test]
    fn held_copies_are_bounded_and_other_kinds_ignored() {
        let mut a = InputAssembler::new();
        for i in 0..10_000u64 {
            a.from_copy(1_000 + i * 1_000, Bytes::from(vec![0u8; 900]));
        }
        assert!(a.pending_bytes <= MAX_PENDING_BYTES);
        assert!(a.pending.len() <= MAX_PENDING);
        assert_eq!(
            decode(&Bytes::from_static(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
            None
        );
        assert_eq!(decode(&Bytes::from_static(&[1, 0, 0])), None);
        assert_eq!(a.from_stream(0, Bytes::new()), Vec::<Bytes>::new());
    }
}
