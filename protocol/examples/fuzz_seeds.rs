//! Writes the fuzz seed corpus (`fuzz/corpus/<target>/seed-*`) from a real
//! recorded session and the spec vectors, so the fuzzers start deep in each
//! state machine (a valid `Auth` proof cannot be guessed).
//!
//! `cargo run -p secours-protocol --features fuzzing --example fuzz_seeds`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use secours_protocol::clipboard::ClipboardContent;
use secours_protocol::fuzzing::handshake_config;
use secours_protocol::pb::{Permission, Role};
use secours_protocol::session::Event;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::wire::HEADER_LEN;
use secours_protocol::{Channel, Session, SessionConfig};

/// (to console?, channel, whole frame)
type Log = Vec<(bool, Channel, Bytes)>;

fn exchange(c: &mut Session, a: &mut Session, now: Instant, log: &mut Log) {
    for _ in 0..64 {
        let mut moved = false;
        while let Some(t) = c.poll_transmit() {
            log.push((false, t.channel, t.data.clone()));
            a.handle_data(t.channel, &t.data, now);
            moved = true;
        }
        while let Some(t) = a.poll_transmit() {
            log.push((true, t.channel, t.data.clone()));
            c.handle_data(t.channel, &t.data, now);
            moved = true;
        }
        while let Some(e) = a.poll_event() {
            match e {
                Event::Consent(secours_protocol::consent::ConsentEvent::Prompt { id, .. }) => {
                    a.answer_consent(id, true, now).unwrap();
                }
                Event::Transfer(TransferEvent::Offered { id, .. }) => {
                    a.accept_file(id, 0, now).unwrap()
                }
                Event::Transfer(TransferEvent::Data { id, data, .. }) => {
                    a.file_written(id, data.len() as u64, now).unwrap();
                }
                _ => {}
            }
            moved = true;
        }
        while c.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fn record(single_prompt: bool) -> Log {
    let now = Instant::now();
    let mut c = Session::new(
        SessionConfig::new(handshake_config(Role::Console, single_prompt)),
        now,
    );
    let mut a = Session::new(
        SessionConfig::new(handshake_config(Role::Applet, single_prompt)),
        now,
    );
    let mut log = Log::new();
    exchange(&mut c, &mut a, now, &mut log);
    c.request(Permission::RemoteControl, "control", now)
        .unwrap();
    c.request(Permission::SendFiles, "file", now).unwrap();
    exchange(&mut c, &mut a, now, &mut log);
    c.send_chat("hello", 1, now).unwrap();
    a.send_chat("hi", 2, now).unwrap();
    c.clipboard_changed(ClipboardContent::Text("copied".into()), now)
        .unwrap();
    let id = c.offer_file("seed.bin", 3000, 0, now).unwrap();
    exchange(&mut c, &mut a, now, &mut log);
    while let Some(w) = c.file_send_window(id) {
        c.send_file_chunk(id, vec![0x5A; w.max_len as usize].into(), now)
            .unwrap();
    }
    exchange(&mut c, &mut a, now, &mut log);
    log
}

fn records<'a>(frames: impl Iterator<Item = (u8, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, body) in frames {
        out.push(tag);
        out.extend_from_slice(&(body.len().min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend_from_slice(&body[..body.len().min(u16::MAX as usize)]);
    }
    out
}

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(format!("seed-{name}")), data).unwrap();
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for single in [false, true] {
        let log = record(single);
        let tag = if single { "single" } else { "per-action" };
        let body = |f: &Bytes| f.slice(HEADER_LEN..);
        // handshake: what the console receives, as message records.
        let to_console: Vec<_> = log.iter().filter(|(c, ..)| *c).collect();
        let to_applet: Vec<_> = log.iter().filter(|(c, ..)| !*c).collect();
        for (role, msgs) in [(0u8, &to_console), (1u8, &to_applet)] {
            let bodies: Vec<(u8, Bytes)> =
                msgs.iter().map(|(_, ch, f)| (ch.id(), body(f))).collect();
            let mut seed = vec![role | if single { 2 } else { 0 }];
            seed.extend(records(bodies.iter().map(|(t, b)| (*t, b.as_ref()))));
            write(&root, "handshake", &format!("{tag}-{role}"), &seed);
            // The other targets read a record's tag as an action; these tags
            // deliver the message (see each target).
            let only = |want: Channel, rec_tag: u8| -> Vec<u8> {
                let mut seed = vec![role | if single { 2 } else { 0 }];
                seed.extend(records(
                    bodies
                        .iter()
                        .filter(|(t, _)| *t == want.id())
                        .map(|(_, b)| (rec_tag, b.as_ref())),
                ));
                seed
            };
            write(
                &root,
                "consent",
                &format!("{tag}-{role}"),
                &only(Channel::Control, 5),
            );
            write(
                &root,
                "transfer",
                &format!("{tag}-{role}"),
                &only(Channel::File, 6),
            );
            write(
                &root,
                "clipboard",
                &format!("{tag}-{role}"),
                &only(Channel::Clipboard, 2 | role)[1..],
            );
            // session: raw frames (with length prefix) to the fresh pair.
            let frames: Vec<(u8, Bytes)> = log
                .iter()
                .map(|(c, ch, f)| (ch.id() | if *c { 0x80 } else { 0 }, f.clone()))
                .collect();
            let mut seed = vec![1u8];
            seed.extend(records(frames.iter().map(|(t, b)| (*t, b.as_ref()))));
            write(&root, "session", &format!("{tag}-handshake"), &seed);
        }
        for (i, (_, ch, f)) in log.iter().enumerate().step_by(3) {
            let mut seed = vec![ch.id()];
            seed.extend_from_slice(f);
            write(&root, "frame_decoder", &format!("{tag}-{i}"), &seed);
        }
    }
    println!("seeds written under {}", root.display());
}
