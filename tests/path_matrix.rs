//! The path matrix (issue 18): for every pair of networks of the NAT lab
//! (RFC 4787's kinds, and a network that lets only TCP to 443 out), a real
//! session between the real programs: the applet in one LAN, the console in
//! the other, the server with its STUN responder and a TURN server (coturn)
//! on the public segment. Every pair completes a session (first picture, chat
//! both ways, a clean end) and ends direct exactly where punching can work,
//! through TURN where only a relayed address can be reached (both NATs
//! symmetric, or symmetric and port-restricted), and on the WebSocket relay
//! where UDP cannot leave; the table is
//! printed and written to `$CARGO_TARGET_TMPDIR/nat-matrix.md`
//! (`natmatrix` writes the release figures to benches/results/).
//!
//! Needs root (CI is root): without it the test is ignored, and reported as
//! such, by `scripts/test.sh`, which passes `--include-ignored` as root.

use std::path::PathBuf;
use std::sync::Mutex;

use secours_benches::natlab::{Network, is_root};
use secours_benches::path_matrix::{Outcome, prepare, reasons, run_pair, table};

/// One lab at a time: its namespaces have fixed names.
static LAB: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "needs root and network namespaces; scripts/test.sh runs it as root"]
fn every_pair_of_networks_completes_a_session_on_the_path_it_can_have() {
    let _lab = LAB
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(is_root(), "the NAT lab needs root");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_secours"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = prepare(&bin, dir.path()).expect("the server's database");
    let mut outcomes: Vec<Outcome> = Vec::new();
    for a in Network::ALL {
        for c in Network::ALL {
            let o = run_pair(&bin, &database, dir.path(), a, c)
                .unwrap_or_else(|e| panic!("applet {a} / console {c}: {e:#}"));
            outcomes.push(o);
        }
    }
    let doc = format!("{}\n{}", table(&outcomes), reasons(&outcomes));
    println!("{doc}");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nat-matrix.md");
    std::fs::write(&out, &doc).expect("write the table");
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.as_expected())
        .map(|o| format!("applet {} / console {}: {}", o.applet, o.console, o.path))
        .collect();
    assert!(
        wrong.is_empty(),
        "not on the path they can have:\n{}",
        wrong.join("\n")
    );
}

/// The connector's race where QUIC cannot get through: a firewall that
/// passes only STUN- and DTLS-looking UDP (by the first payload byte), as
/// some corporate ones do. With the console behind it, WebRTC wins
/// wherever ICE can make a direct path; with only the applet behind it,
/// QUIC still goes through the applet's TURN allocation (STUN-framed
/// indications pass) and the race prefers it; where neither can (a
/// symmetric NAT opposite), the session stays on the WebSocket relay.
#[test]
#[ignore = "needs root and network namespaces; scripts/test.sh runs it as root"]
fn a_firewall_passing_only_stun_and_dtls_ends_on_webrtc() {
    use Network::*;
    let _lab = LAB
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(is_root(), "the NAT lab needs root");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_secours"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = prepare(&bin, dir.path()).expect("the server's database");
    let pairs = [
        (StunDtlsOnly, Open),
        (FullCone, StunDtlsOnly),
        (StunDtlsOnly, PortRestricted),
        (StunDtlsOnly, StunDtlsOnly),
        (Symmetric, StunDtlsOnly),
    ];
    let mut lines = Vec::new();
    let mut wrong = Vec::new();
    for (a, c) in pairs {
        let o = run_pair(&bin, &database, dir.path(), a, c)
            .unwrap_or_else(|e| panic!("applet {a} / console {c}: {e:#}"));
        let line = format!(
            "- applet {a} / console {c}: {} (expected {}), first picture {:.0} ms, \
             direct at {}: {}",
            o.path,
            a.expected_path(c),
            o.first_frame_ms,
            o.direct_ms.map_or("-".to_owned(), |d| format!("{d:.0} ms")),
            o.reason.as_deref().unwrap_or("")
        );
        println!("{line}");
        if !o.as_expected() {
            wrong.push(line.clone());
        }
        lines.push(line);
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nat-webrtc.md");
    std::fs::write(&out, lines.join("\n") + "\n").expect("write the list");
    assert!(
        wrong.is_empty(),
        "not on the path they can have:\n{}",
        wrong.join("\n")
    );
}
