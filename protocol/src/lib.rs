//! The Secours wire protocol: message types, framing, and the sans-IO state
//! machines of a session between a console (technician) and an applet
//! (customer).
//!
//! Nothing here touches a socket, a runtime or a clock: every call that needs
//! time takes `now: Instant`, every byte comes in through `handle_*` and goes
//! out through `poll_*`. See [`session`] for the run loop and
//! `spec/PROTOCOL.md` for the wire format.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clipboard;
pub mod consent;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod handshake;
pub mod identity;
pub mod permissions;
pub mod session;
pub mod signaling;
pub mod transfer;
pub mod wire;

/// Generated protobuf types of `spec/proto/secours.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/secours.v1.rs"));
}

pub use error::{CommandError, SessionError, VersionRange};
pub use identity::{Fingerprint, SessionToken, ShortAuthString};
pub use permissions::PermissionSet;
pub use session::{Event, Session, SessionConfig, Transmit};
pub use wire::{Channel, Message};

#[cfg(test)]
mod tests;
