//! What paces the file channel on the relay, sans IO.
//!
//! Under `secours/2` the LEDBAT window (`window`): it stops the file when the
//! round trip grows, which keeps input (on the same TCP connection) out of
//! the queue, but it reads every TCP retransmission stall (a round trip
//! without acknowledgements) as queue: 0.1 to 0.4 of TCP on lossy paths.
//! With input lanes (`secours/3`) input no longer waits behind the file's
//! retransmissions, so the file follows the direct path's rate
//! (`file_rate`), whose samples come from the newest bytes acknowledged and
//! so do not grow in a stall.

use std::time::{Duration, Instant};

use super::window::{AckError, FileGate, FileWindow, check_ack};
use crate::file_ack::FileAck;
use crate::file_rate::FileRate;

/// The file channel's sending control of one relay link.
#[derive(Debug)]
pub enum FileControl {
    /// LEDBAT window (`secours/2`).
    Window(FileWindow),
    /// The direct path's rate (`secours/3`).
    Rate(RelayRate),
}

impl FileControl {
    /// The control for a link with (`lanes`) or without input lanes.
    pub fn new(lanes: bool) -> Self {
        if lanes {
            Self::Rate(RelayRate {
                rate: FileRate::in_order(),
                sent: 0,
                acked: 0,
            })
        } else {
            Self::Window(FileWindow::new())
        }
    }

    /// A record of `bytes` payload bytes went out; `file` ones are paced.
    pub fn on_sent(&mut self, bytes: usize, file: bool, now: Instant) {
        match self {
            Self::Window(w) => w.on_sent(bytes, file, now),
            Self::Rate(r) => r.on_sent(bytes, now),
        }
    }

    /// The peer has read `total` payload bytes in all.
    pub fn on_ack(&mut self, total: u64, now: Instant) -> Result<(), AckError> {
        match self {
            Self::Window(w) => w.on_ack(total, now),
            Self::Rate(r) => r.on_ack(total, now),
        }
    }

    /// Whether a file record may go out at `now`.
    pub fn file_gate(&self, now: Instant) -> FileGate {
        match self {
            Self::Window(w) => w.file_gate(now),
            // Acknowledgements come over TCP: none is lost, so a full
            // flight waits for them (no stall probe: a peer that stopped
            // reading gets nothing more, and the hub closes the idle pair).
            Self::Rate(r) if r.rate.flight_full() => FileGate::Closed,
            Self::Rate(r) => match r.rate.wait(now) {
                wait if wait.is_zero() => FileGate::Open,
                wait => FileGate::At(now + wait),
            },
        }
    }

    /// The sender has no file data queued.
    pub fn on_idle(&mut self) {
        if let Self::Rate(r) = self {
            r.rate.on_idle();
        }
    }

    /// How long the writer cuts file records.
    pub fn record_size(&self) -> usize {
        match self {
            Self::Window(w) => w.record_size(),
            Self::Rate(r) => r.rate.piece_len(),
        }
    }

    /// Payload bytes sent and not yet acknowledged.
    pub fn in_flight(&self) -> u64 {
        match self {
            Self::Window(w) => w.in_flight(),
            Self::Rate(r) => r.sent - r.acked,
        }
    }

    /// Round trip through the peer, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        match self {
            Self::Window(w) => w.srtt(),
            Self::Rate(r) => r.rate.rtt(),
        }
    }

    /// The sending rate estimate, bits per second.
    pub fn rate_bps(&self) -> Option<u64> {
        match self {
            Self::Window(w) => w.rate_bps(),
            Self::Rate(r) => Some(r.rate.rate_bps() as u64),
        }
    }
}

/// [`FileRate`] over the relay's acknowledgements: every channel's payload
/// counts (the acknowledgements count them all, and video or input sent
/// takes the file's share of the path), and TCP delivers in order, so what
/// was received is what was delivered.
#[derive(Debug)]
pub struct RelayRate {
    rate: FileRate,
    sent: u64,
    acked: u64,
}

impl RelayRate {
    fn on_sent(&mut self, bytes: usize, now: Instant) {
        self.sent += bytes as u64;
        self.rate.on_sent(bytes, now);
    }

    fn on_ack(&mut self, total: u64, now: Instant) -> Result<(), AckError> {
        check_ack(total, self.acked, self.sent)?;
        self.acked = total;
        let ack = FileAck {
            delivered: total,
            received: total,
        };
        // Checked above: the rate has been told of every byte sent.
        self.rate.on_ack(ack, now).map_err(|_| AckError::Beyond {
            acked: total,
            sent: self.sent,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_rate_refuses_acknowledgements_like_the_window() {
        let t = Instant::now();
        let mut c = FileControl::new(true);
        c.on_sent(1000, true, t);
        assert!(c.on_ack(600, t).is_ok());
        assert_eq!(c.in_flight(), 400);
        assert_eq!(
            c.on_ack(500, t),
            Err(AckError::Regressed { was: 600, now: 500 })
        );
        assert_eq!(
            c.on_ack(1001, t),
            Err(AckError::Beyond {
                acked: 1001,
                sent: 1000
            })
        );
        assert!(c.rate_bps().is_some());
    }

    /// TCP loses no acknowledgement: a full flight waits for one, however
    /// long (a peer that stopped reading must not be fed a piece every
    /// quarter second into the kernel's buffers).
    #[test]
    fn a_full_flight_waits_for_an_acknowledgement() {
        let mut now = Instant::now();
        let mut c = FileControl::new(true);
        let mut sent = 0;
        for _ in 0..100_000 {
            match c.file_gate(now) {
                FileGate::Open => {
                    let n = c.record_size();
                    c.on_sent(n, true, now);
                    sent += n;
                }
                FileGate::At(t) => now = t,
                FileGate::Closed => break,
            }
        }
        let later = now + Duration::from_secs(10);
        assert_eq!(c.file_gate(later), FileGate::Closed);
        c.on_ack(sent as u64, later).unwrap();
        assert_ne!(c.file_gate(later), FileGate::Closed);
    }
}
