//! Arbitrary clipboard updates and local changes: converges, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secours_protocol::Message;
use secours_protocol::clipboard::{ClipboardContent, ClipboardSync};
use secours_protocol::fuzzing::{channel, records};
use secours_protocol::pb::Role;
use secours_protocol::wire::{Decoded, decode_body};

fuzz_target!(|data: &[u8]| {
    let mut c = ClipboardSync::new(Role::Console);
    let mut a = ClipboardSync::new(Role::Applet);
    for (tag, body) in records(data) {
        let side = if tag & 1 == 0 { &mut c } else { &mut a };
        if tag & 2 == 0 {
            let _ =
                side.local_changed(ClipboardContent::Text(String::from_utf8_lossy(body).into()));
        } else if let Ok(Decoded::Message(Message::ClipboardUpdate(u))) =
            decode_body(channel(3), bytes::Bytes::copy_from_slice(body))
        {
            let _ = side.handle_update(u);
        }
        // Deliver honestly between the two as well.
        while let Some(Message::ClipboardUpdate(u)) = c.poll_message() {
            let _ = a.handle_update(u);
        }
        while let Some(Message::ClipboardUpdate(u)) = a.poll_message() {
            let _ = c.handle_update(u);
        }
        while c.poll_apply().is_some() {}
        while a.poll_apply().is_some() {}
    }
});
