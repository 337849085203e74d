//! What the transport parses from the network itself
//! (`secours_transport::fuzz_link_layer`): the connector's frame reassembly
//! and link-layer frames, the relay's records and acknowledgements (fed to
//! the file window) and input lane copies, the direct path's input copies and
//! file acknowledgements (fed to the file rate and reassembly), and STUN
//! requests to the responder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    secours_transport::fuzz_link_layer(data);
});
