//! Every input in `fuzz/regressions/link_layer/` (crashes the fuzzer found,
//! once fixed) through what the `link_layer` fuzz target runs (but the
//! connector's entry, behind the `fuzzing` feature), so that `cargo test`
//! catches their return without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

#[test]
fn link_layer_regressions_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/link_layer");
    let mut ran = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((&tag, rest)) = data.split_first() else {
            continue;
        };
        secours_transport::mux::fuzz_records(tag & 1 == 1, rest);
        secours_transport::mux::fuzz_lane(rest);
        secours_transport::input_copy::fuzz_input_copies(rest);
        secours_transport::file_ack::fuzz_file_acks(rest);
        let from = std::net::SocketAddr::from(([192, 0, 2, 1], 4000));
        let _ = secours_transport::stun::answer(rest, from);
        ran += 1;
    }
    assert!(ran >= 2, "{ran} regression inputs");
}
