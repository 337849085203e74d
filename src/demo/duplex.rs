//! The in-memory link between the two peers of the demo: one ordered byte
//! stream per channel, each way. A later issue puts the transport's `Link`
//! here; the peers' run loops do not change.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use bytes::Bytes;
use secours_protocol::{Channel, Fingerprint};

/// One end of the duplex.
#[derive(Debug)]
pub struct DuplexEnd {
    tx: Sender<(Channel, Bytes)>,
    rx: Receiver<(Channel, Bytes)>,
    /// The peer's certificate fingerprint as this end's "TLS" saw it.
    pub peer_fingerprint: Fingerprint,
    /// Bytes written per channel (indexed by `Channel::id`).
    pub bytes_out: [u64; 6],
}

/// What a read gave.
pub enum Read {
    Data(Channel, Bytes),
    TimedOut,
    Closed,
}

impl DuplexEnd {
    pub fn send(&mut self, channel: Channel, data: Bytes) {
        self.bytes_out[channel.id() as usize] += data.len() as u64;
        // The peer may have gone: it then reads nothing more, as with TCP.
        let _ = self.tx.send((channel, data));
    }

    pub fn recv(&self, timeout: Duration) -> Read {
        match self.rx.recv_timeout(timeout) {
            Ok((c, d)) => Read::Data(c, d),
            Err(RecvTimeoutError::Timeout) => Read::TimedOut,
            Err(RecvTimeoutError::Disconnected) => Read::Closed,
        }
    }
}

/// Two connected ends, each knowing the other's certificate.
pub fn pair(a_cert: Fingerprint, b_cert: Fingerprint) -> (DuplexEnd, DuplexEnd) {
    let (a_tx, b_rx) = channel();
    let (b_tx, a_rx) = channel();
    (
        DuplexEnd {
            tx: a_tx,
            rx: a_rx,
            peer_fingerprint: b_cert,
            bytes_out: [0; 6],
        },
        DuplexEnd {
            tx: b_tx,
            rx: b_rx,
            peer_fingerprint: a_cert,
            bytes_out: [0; 6],
        },
    )
}
