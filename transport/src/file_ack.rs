//! File acknowledgements on the direct path (spec section 12): the datagram
//! a file receiver sends, and the receiver's side of a file stream read out
//! of order (what it counts and hands over in order).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::file_rate::{FileRate, MIN_BPS};

/// Kind byte of a file acknowledgement datagram:
/// `0x02 | delivered: u64 BE | received: u64 BE`.
pub const FILE_ACK: u8 = 2;
/// Length of a file acknowledgement datagram.
pub const FILE_ACK_LEN: usize = 17;

/// What the receiver of a file channel has: bytes delivered in order to its
/// application, and bytes received in all (in order or not: a retransmission
/// stall holds deliveries back, not arrivals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAck {
    /// Bytes delivered to the application, in order.
    pub delivered: u64,
    /// Bytes received, whatever their order (at least `delivered`).
    pub received: u64,
}

/// The datagram carrying `ack`.
pub fn encode_ack(ack: FileAck) -> Bytes {
    let mut d = BytesMut::with_capacity(FILE_ACK_LEN);
    d.put_u8(FILE_ACK);
    d.put_u64(ack.delivered);
    d.put_u64(ack.received);
    d.freeze()
}

/// The acknowledgement in a datagram; `None` for any other datagram
/// (another kind, or the wrong length).
pub fn decode_ack(datagram: &[u8]) -> Option<FileAck> {
    let [FILE_ACK, rest @ ..] = datagram else {
        return None;
    };
    let (delivered, received) = rest.split_at_checked(8)?;
    Some(FileAck {
        delivered: u64::from_be_bytes(delivered.try_into().ok()?),
        received: u64::from_be_bytes(received.try_into().ok()?),
    })
}

/// File bytes a receiver holds past a gap, at most: a peer that sends more
/// breaks the protocol.
pub const MAX_AHEAD: u64 = 32 * 1024 * 1024;

/// The receiving side of a file stream read out of order: counts what
/// arrives, and hands the bytes to the application in order.
#[derive(Debug, Default)]
pub struct FileReassembly {
    next: u64,
    received: u64,
    pending: BTreeMap<u64, Bytes>,
    pending_bytes: u64,
}

/// The peer sent more than [`MAX_AHEAD`] file bytes past a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} file bytes held past a gap: more than a sender may have in flight")]
pub struct TooFarAhead(pub u64);

impl FileReassembly {
    /// A reassembly at offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// What to acknowledge.
    pub fn ack(&self) -> FileAck {
        FileAck {
            delivered: self.next,
            received: self.received,
        }
    }

    /// `bytes` found at `offset` of the stream: what is now in order.
    pub fn push(&mut self, offset: u64, mut bytes: Bytes) -> Result<Vec<Bytes>, TooFarAhead> {
        let mut out = Vec::new();
        // Anything already delivered is dropped (the transport does not
        // repeat bytes, but a wrong one must not be able to confuse us).
        let end = offset + bytes.len() as u64;
        if end <= self.next || bytes.is_empty() {
            return Ok(out);
        }
        let offset = if offset < self.next {
            bytes = bytes.slice((self.next - offset) as usize..);
            self.next
        } else {
            offset
        };
        if offset > self.next {
            if self.pending.contains_key(&offset) {
                return Ok(out);
            }
            self.received += bytes.len() as u64;
            self.pending_bytes += bytes.len() as u64;
            if self.pending_bytes > MAX_AHEAD {
                return Err(TooFarAhead(self.pending_bytes));
            }
            self.pending.insert(offset, bytes);
            return Ok(out);
        }
        self.received += bytes.len() as u64;
        self.next += bytes.len() as u64;
        out.push(bytes);
        while let Some(entry) = self.pending.first_entry() {
            let at = *entry.key();
            if at > self.next {
                break;
            }
            let piece = entry.remove();
            self.pending_bytes -= piece.len() as u64;
            let end = at + piece.len() as u64;
            if end > self.next {
                out.push(piece.slice((self.next - at) as usize..));
                self.next = end;
            } else {
                // Covered already: it was counted as received twice.
                self.received -= piece.len() as u64;
            }
        }
        Ok(out)
    }
}

/// Fuzzing entry: file acknowledgement datagrams (fed to a controller that
/// has sent some pieces) and out-of-order file stream pieces (fed to a
/// reassembly): nothing panics, counts stay consistent, memory stays bounded.
#[doc(hidden)]
pub fn fuzz_file_acks(bytes: &[u8]) {
    let t0 = Instant::now();
    let mut rate = FileRate::new();
    let mut reassembly = FileReassembly::new();
    let mut delivered = 0u64;
    for (i, piece) in bytes.chunks(FILE_ACK_LEN).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        rate.on_sent(rate.piece_len(), now);
        if let Some(ack) = decode_ack(piece) {
            let _ = rate.on_ack(ack, now);
        }
        let _ = rate.wait(now);
        assert!(rate.rate_bps() >= MIN_BPS && rate.rate_bps().is_finite());
        let offset = piece
            .get(..8)
            .and_then(|o| o.try_into().ok())
            .map_or(0, |o| u64::from_be_bytes(o) % (1 << 20));
        match reassembly.push(offset, Bytes::copy_from_slice(piece)) {
            Ok(out) => delivered += out.iter().map(|b| b.len() as u64).sum::<u64>(),
            Err(_) => return,
        }
        let ack = reassembly.ack();
        assert_eq!(ack.delivered, delivered);
        assert!(ack.received >= ack.delivered);
        assert!(reassembly.pending_bytes <= MAX_AHEAD);
    }
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    #[test]
    fn ack_datagrams_round_trip() {
        let ack = FileAck {
            delivered: 123_456,
            received: 200_000,
        };
        assert_eq!(decode_ack(&encode_ack(ack)), Some(ack));
        // The vector of spec section 12.
        let vector = [2, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0];
        let ack = FileAck {
            delivered: 4096,
            received: 8192,
        };
        assert_eq!(encode_ack(ack).as_ref(), vector);
        assert_eq!(decode_ack(&vector[..9]), None);
        assert_eq!(decode_ack(&encode_ack(ack)[..16]), None);
        assert_eq!(decode_ack(&[FILE_ACK, 0, 0]), None);
        assert_eq!(decode_ack(&[1; 17]), None);
        assert_eq!(decode_ack(&[]), None);
        let mut long = encode_ack(ack).to_vec();
        long.push(0);
        assert_eq!(decode_ack(&long), None);
    }

    #[test]
    fn reassembly_delivers_in_order_and_counts_arrivals() {
        let mut r = FileReassembly::new();
        let b = |n: usize, v: u8| Bytes::from(vec![v; n]);
        assert!(r.push(10, b(5, 2)).unwrap().is_empty());
        assert_eq!(
            r.ack(),
            FileAck {
                delivered: 0,
                received: 5
            }
        );
        let out = r.push(0, b(10, 1)).unwrap();
        assert_eq!(out.iter().map(Bytes::len).sum::<usize>(), 15);
        assert_eq!(
            r.ack(),
            FileAck {
                delivered: 15,
                received: 15
            }
        );
        // Repeats and overlaps deliver nothing twice.
        assert!(r.push(0, b(15, 9)).unwrap().is_empty());
        let out = r.push(12, b(6, 3)).unwrap();
        assert_eq!(out, vec![b(3, 3)]);
        assert_eq!(
            r.ack(),
            FileAck {
                delivered: 18,
                received: 18
            }
        );
        // Too much held past a gap is a violation.
        let mut r = FileReassembly::new();
        let big = Bytes::from(vec![0u8; 1 << 20]);
        let mut offset = 1;
        let err = loop {
            match r.push(offset, big.clone()) {
                Ok(_) => offset += 1 << 20,
                Err(e) => break e,
            }
        };
        assert!(err.0 > MAX_AHEAD);
    }

    #[test]
    fn the_fuzz_entry_holds_on_arbitrary_bytes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let bytes: Vec<u8> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fuzz_file_acks(&bytes);
        let acks: Vec<u8> = (0..200u64)
            .flat_map(|i| {
                encode_ack(FileAck {
                    delivered: i * 1000,
                    received: i * 1500,
                })
                .to_vec()
            })
            .collect();
        fuzz_file_acks(&acks);
    }
}
