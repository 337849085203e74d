//! `spec/vectors/relay_records.txt`: the relay's record layer, byte-exact.
//! Every vector decodes to its records (and re-encodes to the same bytes)
//! or is refused with its error; so does every input lane vector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use secours_transport::mux::{
    LaneDecoder, Record, RecordDecoder, ack_record, data_header, encode_copy,
};

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
        let bytes = unhex(&v["bytes"]);
        let (rendered, encoded, result, buffered) = match v["alpn"].as_str() {
            "secours/3" | "secours/2" => main_records(true, &bytes),
            "secours/1" => main_records(false, &bytes),
            "secours-lane/1" => lane_records(&bytes),
            other => panic!("{name}: alpn {other}"),
        };
        match (v.get("records"), v.get("error")) {
            (Some(records), None) => {
                assert_eq!(result, Ok(()), "{name}");
                assert_eq!(rendered.join(" "), *records, "{name}");
                assert_eq!(encoded, bytes, "{name}: re-encoding");
                assert_eq!(buffered, 0, "{name}");
            }
            (None, Some(error)) => assert_eq!(result, Err(error.clone()), "{name}"),
            _ => panic!("{name}: wants records or error"),
        }
    }
}

type Decoded = (Vec<String>, Vec<u8>, Result<(), String>, usize);

/// The main connection's records, rendered and re-encoded.
fn main_records(acks: bool, bytes: &[u8]) -> Decoded {
    let mut decoder = RecordDecoder::new(acks);
    decoder.push(bytes);
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
    (rendered, encoded, result, decoder.buffered())
}

/// An input lane's copies, rendered and re-encoded.
fn lane_records(bytes: &[u8]) -> Decoded {
    let mut decoder = LaneDecoder::new();
    decoder.push(bytes);
    let mut rendered = Vec::new();
    let mut encoded = Vec::new();
    let result = loop {
        match decoder.next_copy() {
            Ok(Some((offset, payload))) => {
                rendered.push(format!("Copy({offset}, {})", hex(&payload)));
                encoded.extend_from_slice(&encode_copy(offset, &payload).unwrap());
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        }
    };
    (rendered, encoded, result, decoder.buffered())
}
