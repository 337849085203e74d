//! A whole session, established or not, fed raw channel bytes (framing
//! included), timeouts and local commands. Nothing may panic.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secours_protocol::clipboard::ClipboardContent;
use secours_protocol::fuzzing::{channel, established_pair, handshake_config, records};
use secours_protocol::pb::{self, Permission, Role};
use secours_protocol::{Message, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let start = Instant::now();
    let mut now = start;
    let (mut console, mut applet) = if mode & 1 == 0 {
        established_pair(start, mode & 2 != 0)
    } else {
        (
            Session::new(
                SessionConfig::new(handshake_config(Role::Console, false)),
                start,
            ),
            Session::new(
                SessionConfig::new(handshake_config(Role::Applet, false)),
                start,
            ),
        )
    };
    for (tag, body) in records(rest) {
        let target = if tag & 0x80 == 0 {
            &mut applet
        } else {
            &mut console
        };
        match tag & 0x70 {
            0x70 => {
                now += Duration::from_millis(u64::from(body.first().copied().unwrap_or(0)) * 500);
                target.handle_timeout(now);
            }
            0x60 => {
                // Local commands with fuzz-chosen arguments.
                let n = u64::from(body.first().copied().unwrap_or(0));
                let _ = target.send_chat(&String::from_utf8_lossy(body), 0, now);
                let _ = target.clipboard_changed(
                    ClipboardContent::Text(String::from_utf8_lossy(body).into()),
                    now,
                );
                let _ = target.request(Permission::RemoteControl, "", now);
                let _ = target.answer_consent(n, n % 2 == 0, now);
                let _ =
                    target.send_action(Message::PointerMove(pb::PointerMove { x: 1, y: 2 }), now);
                let _ = target.offer_file("f.bin", n * 1000, 0, now);
                let _ = target.accept_file(n, n % 7, now);
                if let Some(w) = target.file_send_window(n) {
                    let len = w.max_len.min(4096) as usize;
                    let _ = target.send_file_chunk(n, vec![0; len].into(), now);
                }
                let _ = target.file_written(n, n * 100, now);
            }
            _ => target.handle_data(channel(tag), body, now),
        }
        for s in [&mut console, &mut applet] {
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
            let _ = s.poll_timeout();
        }
    }
});
