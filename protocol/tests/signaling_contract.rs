//! The signaling contract against its vectors (`spec/vectors/signaling.json`):
//! each example decodes into the Rust types and re-encodes to the same JSON;
//! what a peer may not send is refused.
#![allow(clippy::unwrap_used)]

use secours_protocol::signaling::{ContractError, PeerMessage, ServerMessage, SignalPayload};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec/vectors/signaling.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_vector_decodes_and_reencodes_to_the_same_json() {
    let vectors = vectors();
    assert!(vectors.len() >= 15);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let msg = &v["message"];
        let again = match v["from"].as_str().unwrap() {
            "server" => {
                let m: ServerMessage =
                    serde_json::from_value(msg.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
                serde_json::to_value(&m).unwrap()
            }
            _ => {
                let m =
                    PeerMessage::parse(&msg.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
                serde_json::to_value(&m).unwrap()
            }
        };
        assert_eq!(&again, msg, "{name}");
    }
}

#[test]
fn a_peer_cannot_send_what_only_the_server_emits() {
    let forged = r#"{"type":"signal","session_id":"x","payload":{"kind":"relay","url":"wss://evil.example/relay/v1/ws","token":"t"}}"#;
    assert_eq!(
        PeerMessage::parse(forged),
        Err(ContractError::ServerOnlyKind("relay"))
    );
}

#[test]
fn unknown_kinds_fields_and_oversized_payloads_are_refused() {
    for bad in [
        r#"{"type":"signal","payload":{"kind":"x"}}"#,
        r#"{"type":"signal","payload":{"kind":"candidates","list":[],"extra":1}}"#,
        r#"{"type":"signal","payload":{"kind":"fingerprint","sha256":"aa"}}"#,
        r#"{"type":"signal","payload":{"kind":"fingerprint","sha256":"zz"}}"#,
        r#"{"type":"hello"}"#,
        "not json",
    ] {
        assert!(PeerMessage::parse(bad).is_err(), "{bad}");
    }
    let many: Vec<String> = (0..17).map(|i| format!("10.0.0.{i}:1")).collect();
    let payload = SignalPayload::Candidates { list: many };
    assert!(payload.check_from_peer().is_err());
    let long = format!(
        r#"{{"type":"signal","payload":{{"kind":"candidates","list":["{}"]}}}}"#,
        "1".repeat(5000)
    );
    assert_eq!(PeerMessage::parse(&long), Err(ContractError::TooLarge));
}

#[test]
fn secrets_stay_out_of_debug() {
    let text = r#"{"type":"signal","session_id":"s","to":"applet","payload":{"kind":"relay","url":"wss://h/relay/v1/ws","token":"tok-very-secret"}}"#;
    let m: ServerMessage = serde_json::from_str(text).unwrap();
    assert!(!format!("{m:?}").contains("tok-very-secret"));
    let login: secours_protocol::signaling::LoginRequest =
        serde_json::from_str(r#"{"email":"a@b.example","password":"pw-very-secret"}"#).unwrap();
    assert!(!format!("{login:?}").contains("pw-very-secret"));
}

/// The WebRTC kinds are bounded and shaped before the server forwards them.
#[test]
fn sdp_and_ice_signals_are_bounded_and_shaped() {
    let ok_sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    let sdp = |t: &str| SignalPayload::Sdp {
        sdp_type: secours_protocol::signaling::SdpType::Offer,
        sdp: t.to_owned(),
    };
    assert_eq!(sdp(ok_sdp).check_from_peer(), Ok(()));
    let many_lines = format!("v=0\r\n{}", "a=x\r\n".repeat(70));
    let long_line = format!("v=0\r\na={}\r\n", "x".repeat(300));
    for bad in [
        "",
        "x=0\r\n",
        "v=0\r\nnot a line\r\n",
        "v=0\r\na=\u{7}bell\r\n",
        "v=0\r\na=caf\u{e9}\r\n",
        many_lines.as_str(),
        long_line.as_str(),
    ] {
        assert!(sdp(bad).check_from_peer().is_err(), "{bad:?}");
    }
    let ice = |ufrag: &str, list: Vec<String>| SignalPayload::Ice {
        ufrag: ufrag.to_owned(),
        candidates: list,
    };
    let host = "candidate:1 1 udp 2130706431 127.0.0.1 4000 typ host".to_owned();
    assert_eq!(ice("abcd", vec![host.clone()]).check_from_peer(), Ok(()));
    assert!(ice("", vec![host.clone()]).check_from_peer().is_err());
    assert!(ice("a b", vec![host.clone()]).check_from_peer().is_err());
    assert!(ice("abcd", vec![]).check_from_peer().is_err());
    assert!(
        ice("abcd", vec![host.clone(); 9])
            .check_from_peer()
            .is_err()
    );
    assert!(
        ice("abcd", vec!["1 1 udp 1 127.0.0.1 4000 typ host".into()])
            .check_from_peer()
            .is_err()
    );
    assert!(
        ice("abcd", vec![format!("candidate:{}", "9".repeat(300))])
            .check_from_peer()
            .is_err()
    );
    // Through the parser the server runs: an unknown field is refused too.
    let text = r#"{"type":"signal","payload":{"kind":"ice","ufrag":"abcd","candidates":["candidate:1 1 udp 1 127.0.0.1 4000 typ host"],"mid":"0"}}"#;
    assert!(PeerMessage::parse(text).is_err());
}
