//! Every input in `fuzz/regressions/link_layer/` (crashes the fuzzer found,
//! once fixed) through what the `link_layer` fuzz target runs (but the
//! connector's part, behind the `fuzzing` feature), so that `cargo test`
//! catches their return without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

#[test]
fn link_layer_regressions_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/link_layer");
    let mut ran = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        secours_transport::fuzz_link_layer(&data);
        ran += 1;
    }
    assert!(ran >= 2, "{ran} regression inputs");
}

/// The WebRTC targets' seed corpora (and saved crashes, if any) through
/// their entries: the SDP and candidate checks never panic on them.
#[test]
fn webrtc_corpora_pass_through_the_fuzz_entries() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut ran = 0;
    for (target, entry) in [
        (
            "webrtc_sdp",
            secours_transport::webrtc::sdp::fuzz_sdp as fn(&[u8]),
        ),
        (
            "webrtc_candidates",
            secours_transport::webrtc::candidate::fuzz_candidates,
        ),
    ] {
        for dir in ["corpus", "regressions"] {
            let Ok(files) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for f in files {
                entry(&std::fs::read(f.unwrap().path()).unwrap());
                ran += 1;
            }
        }
    }
    assert!(ran >= 4, "{ran} inputs");
}
