//! The WebRTC backend of [`Link`](crate::Link): a direct path negotiated
//! as a browser negotiates it (SDP offer and answer, trickle ICE through
//! the signaling socket, DTLS, SCTP data channels), so a browser can be
//! a peer. Built on str0m (sans IO, like our protocol core).
//!
//! - `sdp`, `candidate`: what the peer signals, bounded and checked; the
//!   DTLS fingerprint must be the announced one (the typed
//!   [`FingerprintMismatch`](crate::identity::FingerprintMismatch)).
//! - `lanes`: a data channel per logical channel with its delivery rule
//!   (input reliable and ordered plus unordered copies that never
//!   retransmit; video unordered with a 200 ms lifetime; the rest reliable
//!   and ordered; file data gated to what the path drains).
//! - `driver`: the state machine, sans IO.
//! - `edge`: the tokio task around it.

pub mod candidate;
pub mod driver;
pub mod edge;
pub mod lanes;
pub mod sdp;

pub use driver::{Datagram, Driver, Role};
pub use edge::{Attempt, Signals, connect};
pub use str0m::Candidate;

#[cfg(test)]
mod tests;
