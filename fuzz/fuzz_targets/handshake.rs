//! Arbitrary message sequences into both roles' handshake.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secours_protocol::fuzzing::{channel, handshake_config, records};
use secours_protocol::handshake::Handshake;
use secours_protocol::pb::Role;
use secours_protocol::wire::{Decoded, decode_body};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let role = if first & 1 == 0 {
        Role::Console
    } else {
        Role::Applet
    };
    let start = Instant::now();
    let mut hs = Handshake::new(handshake_config(role, false), start);
    let mut now = start;
    for (tag, body) in records(rest) {
        now += Duration::from_millis(u64::from(tag) * 40);
        if hs.handle_timeout(now).is_err() {
            return;
        }
        if let Ok(Decoded::Message(m)) =
            decode_body(channel(tag), bytes::Bytes::copy_from_slice(body))
        {
            if hs.handle_message(m).is_err() {
                return;
            }
        }
        while hs.poll_message().is_some() {}
        if hs.is_established() {
            assert!(hs.take_established().is_some() || hs.take_established().is_none());
        }
    }
});
