//! What the transport parses from the network itself: the connector's frame
//! reassembly and link-layer frames, the relay's records and acknowledgements
//! (fed to the file window) and input lane copies, the direct path's input copies and file
//! acknowledgements (fed to the file rate and reassembly), and STUN
//! requests to the responder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&tag, rest)) = data.split_first() else {
        return;
    };
    secours_transport::connector::fuzz_link_bytes(tag, rest);
    secours_transport::mux::fuzz_records(tag & 1 == 1, rest);
    secours_transport::mux::fuzz_lane(rest);
    secours_transport::input_copy::fuzz_input_copies(rest);
    secours_transport::file_ack::fuzz_file_acks(rest);
    let from = std::net::SocketAddr::from(([192, 0, 2, 1], 4000));
    let _ = secours_transport::stun::answer(rest, from);
});
