//! The server's parsers of untrusted text: signaling WebSocket messages,
//! passwords, e-mail addresses, free-text fields, IP ranges.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secours_signaling::fuzzing::text_inputs(data);
});
