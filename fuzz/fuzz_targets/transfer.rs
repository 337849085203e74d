//! Arbitrary file-transfer messages and local actions into the transfers of
//! one side: the window, order and size rules hold, nothing panics.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secours_protocol::fuzzing::{channel, records};
use secours_protocol::pb::{CancelReason, Role};
use secours_protocol::transfer::{TransferEvent, Transfers};
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
    let mut t = Transfers::new(role, 64 * 1024);
    let start = Instant::now();
    let mut now = start;
    let mut received: u64 = 0;
    for (tag, body) in records(rest) {
        now += Duration::from_millis(u64::from(tag));
        let n = u64::from(body.first().copied().unwrap_or(0));
        match tag % 8 {
            0 => {
                let _ = t.offer("a.bin", n * 777, 0, "", now);
            }
            1 => {
                let _ = t.accept(n, n % 3, now);
                let _ = t.hash_existing(n, &body[..body.len().min(2)]);
            }
            2 => {
                if let Some(w) = t.send_window(n) {
                    let _ = t.push(n, vec![7; w.max_len.min(9000) as usize].into(), now);
                }
            }
            3 => {
                let _ = t.written(n, received);
            }
            4 => {
                let _ = t.cancel(n, CancelReason::User);
            }
            5 => t.handle_timeout(now),
            _ => {
                if let Ok(Decoded::Message(m)) =
                    decode_body(channel(4), bytes::Bytes::copy_from_slice(body))
                {
                    if Transfers::handles(&m) && t.handle_message(m, now).is_err() {
                        return;
                    }
                }
            }
        }
        while t.poll_message().is_some() {}
        while let Some(e) = t.poll_event() {
            if let TransferEvent::Data { data, .. } = e {
                received = data.len() as u64;
                assert!(data.len() <= 512 * 1024);
            }
        }
        let _ = t.poll_timeout();
    }
    let _ = channel;
});
