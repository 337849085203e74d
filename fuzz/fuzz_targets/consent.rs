//! Arbitrary consent messages and local calls into both roles: an action is
//! authorised only when granted, and never panics.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secours_protocol::consent::Consent;
use secours_protocol::fuzzing::{channel, permissions, records};
use secours_protocol::pb::{Permission, Role};
use secours_protocol::wire::{Decoded, decode_body};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let perms = permissions(first & 2 != 0);
    let role = if first & 1 == 0 {
        Role::Console
    } else {
        Role::Applet
    };
    let mut c = Consent::new(role, perms.clone());
    let start = Instant::now();
    let mut now = start;
    c.start(now);
    for (tag, body) in records(rest) {
        now += Duration::from_secs(u64::from(tag % 8) * 20);
        let n = u64::from(body.first().copied().unwrap_or(0));
        let action = Permission::try_from(i32::from(tag % 24)).unwrap_or(Permission::Chat);
        match tag % 6 {
            0 => {
                let _ = c.request(action, "", now);
            }
            1 => {
                let _ = c.answer(n, n % 2 == 0);
            }
            2 => {
                if c.authorize(action).is_ok() {
                    assert!(perms.allows(action), "authorised {action:?} not granted");
                }
            }
            3 => c.revoke(action),
            4 => c.handle_timeout(now),
            _ => {
                if let Ok(Decoded::Message(m)) =
                    decode_body(channel(0), bytes::Bytes::copy_from_slice(body))
                {
                    c.handle_message(&m, now);
                }
            }
        }
        while c.poll_message().is_some() {}
        while c.poll_event().is_some() {}
    }
});
