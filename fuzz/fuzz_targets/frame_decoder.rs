//! Arbitrary bytes into the frame decoder of every channel, split at
//! arbitrary points: never a panic, never a reservation above the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secours_protocol::fuzzing::channel;
use secours_protocol::wire::{FrameReader, decode_body};

fuzz_target!(|data: &[u8]| {
    let Some((&tag, rest)) = data.split_first() else {
        return;
    };
    let ch = channel(tag);
    let _ = decode_body(ch, bytes::Bytes::copy_from_slice(rest));
    let mut reader = FrameReader::new(ch);
    let step = usize::from(tag >> 3) + 1;
    for piece in rest.chunks(step) {
        reader.push(piece);
        loop {
            match reader.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(reader.buffer_mut().capacity() <= ch.max_frame() as usize + 4 + rest.len() + 64);
    }
});
