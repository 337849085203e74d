//! Secours transport: one [`Link`] between a console and an applet, over a
//! direct QUIC path, WebRTC (`webrtc`: what a browser can join) or the
//! server's HTTPS relay, always end-to-end TLS 1.3 (DTLS on WebRTC)
//! with both certificates pinned by the fingerprints the server announced
//! (SEC-1, SEC-2, STACK-3). See `link` for the delivery rules.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connector;
pub mod delivery_window;
pub mod error;
pub mod file_ack;
pub mod file_pacer;
pub mod file_rate;
pub mod identity;
pub mod input_copy;
pub mod link;
pub mod memory;
pub mod mux;
pub mod netsim;
pub mod punch;
pub mod quic;
pub mod relay;
pub mod secret;
pub mod stun;
pub mod turn;
pub mod webrtc;

pub use error::LinkError;
pub use identity::LocalIdentity;
pub use link::{Link, LinkEvent, LinkSender, LinkStats, PathInfo, PathKind};

/// Fuzzing entry of the `link_layer` target, and of the test that replays
/// its saved crashes: what the transport parses from the network itself
/// (the connector's frames, with the `fuzzing` feature; the relay's records
/// and input lane copies; the direct path's input copies and file
/// acknowledgements; STUN requests; a TURN server's datagrams; a peer's
/// candidates). The first byte picks variants.
#[doc(hidden)]
pub fn fuzz_link_layer(data: &[u8]) {
    let Some((&tag, rest)) = data.split_first() else {
        return;
    };
    #[cfg(feature = "fuzzing")]
    connector::fuzz_link_bytes(tag, rest);
    mux::fuzz_records(tag & 1 == 1, rest);
    mux::fuzz_lane(rest);
    input_copy::fuzz_input_copies(rest);
    file_ack::fuzz_file_acks(rest);
    let from = std::net::SocketAddr::from(([192, 0, 2, 1], 4000));
    let _ = stun::answer(rest, from);
    turn::fuzz_server_datagrams(rest);
    punch::fuzz_candidates(rest);
}
