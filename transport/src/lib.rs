//! Secours transport: one [`Link`] between a console and an applet, over a
//! direct QUIC path or the server's HTTPS relay, always end-to-end TLS 1.3
//! with both certificates pinned by the fingerprints the server announced
//! (SEC-1, SEC-2, STACK-3). See `link` for the delivery rules.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connector;
pub mod error;
pub mod file_ack;
pub mod file_pacer;
pub mod file_rate;
pub mod identity;
pub mod input_copy;
pub mod link;
pub mod mux;
pub mod netsim;
pub mod punch;
pub mod quic;
pub mod relay;
pub mod stun;

pub use error::LinkError;
pub use identity::LocalIdentity;
pub use link::{Link, LinkEvent, LinkStats, PathInfo, PathKind};
