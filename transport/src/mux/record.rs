//! Relay records, sans IO: `kind: u8 | length: u16 BE | payload`.
//!
//! A kind below 6 is a channel (section 3 of the spec) and the payload the
//! next bytes of that channel's frame stream. Kind 0x80 (relay ALPN
//! `secours/2` only) acknowledges: its payload is the u64 BE count of channel
//! payload bytes the sender of the record has read so far.

use bytes::{Buf, Bytes, BytesMut};
use secours_protocol::Channel;

/// Largest record payload.
pub const RECORD: usize = 16 * 1024;
/// Kind byte of an acknowledgement record.
pub const ACK: u8 = 0x80;
/// Header length.
pub const HEADER: usize = 3;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Bytes of a channel's frame stream.
    Data {
        /// The channel.
        channel: Channel,
        /// The bytes.
        payload: Bytes,
    },
    /// The peer has read this many channel payload bytes in all.
    Ack(u64),
}

/// Why a record stream is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A kind byte that is neither a channel nor (when negotiated) an ack.
    #[error("record for unknown channel {0}")]
    UnknownKind(u8),
    /// A payload above [`RECORD`].
    #[error("record of {0} bytes (limit {RECORD})")]
    TooLong(usize),
    /// An acknowledgement whose payload is not 8 bytes.
    #[error("acknowledgement record of {0} bytes (must be 8)")]
    AckLength(usize),
}

/// Cuts a byte stream into records. Holds at most one partial record plus
/// what the caller pushed since it last drained the decoder.
#[derive(Debug)]
pub struct RecordDecoder {
    buf: BytesMut,
    acks: bool,
}

impl RecordDecoder {
    /// A decoder; `acks` when the link negotiated acknowledgement records.
    pub fn new(acks: bool) -> Self {
        Self {
            buf: BytesMut::with_capacity(HEADER + RECORD),
            acks,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole record, `None` until one is complete.
    pub fn next_record(&mut self) -> Result<Option<Record>, RecordError> {
        let Some(header) = self.buf.get(..HEADER) else {
            return Ok(None);
        };
        let kind = header[0];
        let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        let ack = self.acks && kind == ACK;
        if !ack && Channel::from_id(kind).is_none() {
            return Err(RecordError::UnknownKind(kind));
        }
        if len > RECORD {
            return Err(RecordError::TooLong(len));
        }
        if ack && len != 8 {
            return Err(RecordError::AckLength(len));
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        self.buf.advance(HEADER);
        let payload = self.buf.split_to(len).freeze();
        if ack {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload);
            return Ok(Some(Record::Ack(u64::from_be_bytes(b))));
        }
        match Channel::from_id(kind) {
            Some(channel) => Ok(Some(Record::Data { channel, payload })),
            None => Err(RecordError::UnknownKind(kind)),
        }
    }
}

/// The header of a data record (`len <= RECORD`, checked by the caller).
pub fn data_header(channel: Channel, len: usize) -> [u8; HEADER] {
    let l = (len.min(RECORD) as u16).to_be_bytes();
    [channel.id(), l[0], l[1]]
}

/// A whole acknowledgement record.
pub fn ack_record(received: u64) -> [u8; HEADER + 8] {
    let mut r = [0u8; HEADER + 8];
    r[0] = ACK;
    r[2] = 8;
    r[HEADER..].copy_from_slice(&received.to_be_bytes());
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(d: &mut RecordDecoder) -> Result<Vec<Record>, RecordError> {
        let mut out = Vec::new();
        while let Some(r) = d.next_record()? {
            out.push(r);
        }
        Ok(out)
    }

    #[test]
    fn records_split_anywhere_come_out_whole() {
        let mut bytes = data_header(Channel::Input, 2).to_vec();
        bytes.extend([0xAA, 0xBB]);
        bytes.extend(ack_record(42));
        bytes.extend(data_header(Channel::Chat, 0));
        for cut in 0..bytes.len() {
            let mut d = RecordDecoder::new(true);
            d.push(&bytes[..cut]);
            let mut got = all(&mut d).unwrap();
            d.push(&bytes[cut..]);
            got.extend(all(&mut d).unwrap());
            assert_eq!(
                got,
                vec![
                    Record::Data {
                        channel: Channel::Input,
                        payload: Bytes::from_static(&[0xAA, 0xBB])
                    },
                    Record::Ack(42),
                    Record::Data {
                        channel: Channel::Chat,
                        payload: Bytes::new()
                    },
                ],
                "cut at {cut}"
            );
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn broken_records_are_refused_before_their_payload_arrives() {
        let mut d = RecordDecoder::new(true);
        d.push(&[Channel::File.id(), 0xFF, 0xFF]);
        assert_eq!(d.next_record(), Err(RecordError::TooLong(65535)));
        let mut d = RecordDecoder::new(true);
        d.push(&[9, 0, 1]);
        assert_eq!(d.next_record(), Err(RecordError::UnknownKind(9)));
        let mut d = RecordDecoder::new(true);
        d.push(&[ACK, 0, 4]);
        assert_eq!(d.next_record(), Err(RecordError::AckLength(4)));
    }

    #[test]
    fn an_ack_is_unknown_when_not_negotiated() {
        let mut d = RecordDecoder::new(false);
        d.push(&ack_record(1));
        assert_eq!(d.next_record(), Err(RecordError::UnknownKind(ACK)));
    }
}
