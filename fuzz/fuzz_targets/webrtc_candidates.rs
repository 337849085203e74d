//! The WebRTC path's trickled ICE candidates
//! (`secours_transport::webrtc::candidate`): one attribute a line through
//! the intake (parser, address checks, per-generation bound). Nothing may
//! panic and nothing outside the bounds may be taken.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secours_transport::webrtc::candidate::fuzz_candidates(data);
});
