//! The WebRTC path's SDP from the peer (`secours_transport::webrtc::sdp`):
//! the bounds and fingerprint checks, then str0m's offer and answer
//! parsers, on arbitrary text. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secours_transport::webrtc::sdp::fuzz_sdp(data);
});
