//! `spec/vectors/relay_records.txt`: the relay's record layer, byte-exact.
//! Every vector decodes to its records (and re-encodes to the same bytes)
//! or is refused with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use secours_transport::mux::{Record, RecordDecoder, ack_record, data_header};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors() -> Vec<HashMap<String, String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/relay_records.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut cur = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let (k, v) = line
            .split_once(": ")
            .unwrap_or((line.trim_end_matches(':'), ""));
        cur.insert(k.to_owned(), v.to_owned());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn every_relay_record_vector_decodes_or_is_refused_as_written() {
    let all = vectors();
    assert!(all.len() >= 8, "{} vectors", all.len());
    for v in all {
        let name = &v["name"];
        let acks = match v["alpn"].as_str() {
            "secours/2" => true,
            "secours/1" => false,
            other => panic!("{name}: alpn {other}"),
        };
        let bytes = unhex(&v["bytes"]);
        let mut decoder = RecordDecoder::new(acks);
        decoder.push(&bytes);
        let mut rendered = Vec::new();
        let mut encoded = Vec::new();
        let result = loop {
            match decoder.next_record() {
                Ok(Some(Record::Data { channel, payload })) => {
                    rendered.push(format!("Data({channel}, {})", hex(&payload)));
                    encoded.extend(data_header(channel, payload.len()));
                    encoded.extend_from_slice(&payload);
                }
                Ok(Some(Record::Ack(n))) => {
                    rendered.push(format!("Ack({n})"));
                    encoded.extend(ack_record(n));
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e.to_string()),
            }
        };
        match (v.get("records"), v.get("error")) {
            (Some(records), None) => {
                assert_eq!(result, Ok(()), "{name}");
                assert_eq!(rendered.join(" "), *records, "{name}");
                assert_eq!(encoded, bytes, "{name}: re-encoding");
                assert_eq!(decoder.buffered(), 0, "{name}");
            }
            (None, Some(error)) => assert_eq!(result, Err(error.clone()), "{name}"),
            _ => panic!("{name}: wants records or error"),
        }
    }
}
