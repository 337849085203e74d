//! File transfer through whole sessions: both ways, MD5 checked, resumable,
//! windowed, tampering detected.

use std::collections::HashMap;

use bytes::Bytes;
use md5::{Digest, Md5};

use super::pair::*;
use crate::consent::Decision;
use crate::error::SessionError;
use crate::pb::{self, Permission, Role};
use crate::permissions::PermissionSet;
use crate::session::{Event, Transmit};
use crate::transfer::{TransferEvent, WINDOW};
use crate::wire::{self, Channel, Message};

/// The application side of file transfer for one peer: answers offers,
/// supplies windows, writes chunks into memory.
#[derive(Default)]
struct Files {
    sources: HashMap<u64, Bytes>,
    sinks: HashMap<u64, Vec<u8>>,
    existing: Vec<u8>,
    received: Vec<(u64, [u8; 16], bool)>,
    sent: Vec<(u64, [u8; 16], bool)>,
    max_buffered: usize,
}

fn pump(p: &mut Pair, files: &mut [Files; 2]) {
    for _ in 0..100_000 {
        let traffic = p.traffic();
        let mut acted = false;
        for (i, role) in [Role::Console, Role::Applet].into_iter().enumerate() {
            let f = &mut files[i];
            for e in p.take_events(role) {
                let now = p.now;
                let s = p.side(role);
                match e {
                    Event::Transfer(TransferEvent::Offered { id, .. }) => {
                        let have = f.existing.len() as u64;
                        s.accept_file(id, have, now).expect("accept");
                        if have > 0 {
                            s.hash_existing(id, &f.existing, now).expect("prefix");
                        }
                        f.sinks.insert(id, f.existing.clone());
                    }
                    Event::Transfer(TransferEvent::Data { id, offset, data }) => {
                        let sink = f.sinks.entry(id).or_default();
                        assert_eq!(sink.len() as u64, offset);
                        sink.extend_from_slice(&data);
                        f.max_buffered = f.max_buffered.max(data.len());
                        s.file_written(id, data.len() as u64, now).expect("written");
                    }
                    Event::Transfer(TransferEvent::Received { id, md5, verified }) => {
                        f.received.push((id, md5, verified));
                        continue;
                    }
                    Event::Transfer(TransferEvent::Sent { id, md5, verified }) => {
                        f.sent.push((id, md5, verified));
                        continue;
                    }
                    _ => continue,
                }
                acted = true;
            }
            let ids: Vec<u64> = f.sources.keys().copied().collect();
            for id in ids {
                while let Some(w) = p.side(role).file_send_window(id) {
                    let src = &f.sources[&id];
                    let chunk = src.slice(w.offset as usize..(w.offset + w.max_len) as usize);
                    let now = p.now;
                    p.side(role).send_file_chunk(id, chunk, now).expect("chunk");
                    acted = true;
                }
            }
        }
        if !acted && !traffic {
            return;
        }
        p.step();
    }
    panic!("transfer did not settle");
}

fn granted_pair() -> Pair {
    let mut p = Pair::established();
    let now = p.now;
    if let Ok(Decision::Pending(id)) = p.console.request(Permission::SendFiles, "report.pdf", now) {
        p.drive();
        let now = p.now;
        p.applet.answer_consent(id, true, now).expect("consent");
        p.drive();
    }
    p
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

#[test]
fn files_both_ways_with_md5() {
    let mut p = granted_pair();
    let mut rng = Rng::new(7);
    let down = rng.bytes(3 * 1024 * 1024 + 17);
    let up = rng.bytes(2 * 1024 * 1024 + 5);
    let mut files: [Files; 2] = Default::default();
    let now = p.now;
    let down_id = p
        .console
        .offer_file("tool.exe", down.len() as u64, 0, now)
        .expect("offer");
    let up_id = p
        .applet
        .offer_file("log.txt", up.len() as u64, 0, now)
        .expect("offer");
    files[0].sources.insert(down_id, down.clone());
    files[1].sources.insert(up_id, up.clone());
    pump(&mut p, &mut files);
    assert_eq!(files[1].sinks[&down_id], down.to_vec());
    assert_eq!(files[0].sinks[&up_id], up.to_vec());
    assert_eq!(files[1].received, vec![(down_id, md5_of(&down), true)]);
    assert_eq!(files[0].received, vec![(up_id, md5_of(&up), true)]);
    assert_eq!(files[0].sent, vec![(down_id, md5_of(&down), true)]);
    assert_eq!(files[1].sent, vec![(up_id, md5_of(&up), true)]);
    assert!(files[1].max_buffered <= crate::transfer::CHUNK as usize);
}

#[test]
fn tampered_chunk_is_detected() {
    let mut p = granted_pair();
    let data = Rng::new(3).bytes(600_000);
    p.filter = Some(Box::new(|_, t: Transmit| {
        if t.channel != Channel::File {
            return Some(t);
        }
        let mut buf = bytes::BytesMut::from(&t.data[..]);
        match wire::decode(Channel::File, &mut buf) {
            Ok(Some(wire::Decoded::Message(Message::FileChunk(mut c)))) if c.offset == 262_144 => {
                let mut d = c.data.to_vec();
                d[100] ^= 0x40; // one bit flipped by a hostile relay
                c.data = d.into();
                Some(Transmit {
                    channel: t.channel,
                    data: wire::encode_to_bytes(Message::FileChunk(c)).ok()?,
                })
            }
            _ => Some(t),
        }
    }));
    let mut files: [Files; 2] = Default::default();
    let now = p.now;
    let id = p
        .console
        .offer_file("setup.msi", data.len() as u64, 0, now)
        .expect("offer");
    files[0].sources.insert(id, data.clone());
    pump(&mut p, &mut files);
    assert_eq!(files[1].received.len(), 1);
    assert!(!files[1].received[0].2, "receiver must see the mismatch");
    assert_eq!(
        files[0].sent,
        vec![(id, md5_of(&data), false)],
        "sender is told"
    );
}

#[test]
fn resume_from_offset_hashes_the_whole_file() {
    let mut p = granted_pair();
    let data = Rng::new(11).bytes(1_500_000);
    let mut files: [Files; 2] = Default::default();
    files[1].existing = data[..700_001].to_vec();
    let now = p.now;
    let id = p
        .console
        .offer_file("big.iso", data.len() as u64, 0, now)
        .expect("offer");
    files[0].sources.insert(id, data.clone());
    pump(&mut p, &mut files);
    assert_eq!(files[1].sinks[&id], data.to_vec());
    assert_eq!(files[1].received, vec![(id, md5_of(&data), true)]);
    // Only the missing part crossed the wire (plus framing).
    let sent = p.bytes[0][Channel::File.id() as usize];
    assert!(sent < 900_000, "sent {sent} bytes");
}

#[test]
fn empty_file() {
    let mut p = granted_pair();
    let mut files: [Files; 2] = Default::default();
    let now = p.now;
    let id = p.console.offer_file("empty.txt", 0, 0, now).expect("offer");
    pump(&mut p, &mut files);
    assert_eq!(files[1].received, vec![(id, md5_of(b""), true)]);
}

#[test]
fn sender_beyond_credit_is_a_violation() {
    let mut p = granted_pair();
    let now = p.now;
    let id = p
        .console
        .offer_file("x.bin", 10 * WINDOW, 0, now)
        .expect("offer");
    let mut files: [Files; 2] = Default::default();
    pump(&mut p, &mut files); // accepted; the source is missing so nothing flows
    let chunk = |offset| {
        Message::FileChunk(pb::FileChunk {
            id,
            offset,
            data: vec![0; 500 * 1024].into(),
        })
    };
    for i in 0..3 {
        let frame = wire::encode_to_bytes(chunk(i * 500 * 1024)).expect("encodes");
        p.inject(Role::Applet, Channel::File, &frame);
        for e in p.take_events(Role::Applet) {
            if let Event::Closed { error, .. } = e {
                assert!(
                    matches!(error, Some(SessionError::Violation(_))),
                    "{error:?}"
                );
                return;
            }
        }
    }
    panic!("the applet accepted data past its window");
}

#[test]
fn out_of_order_chunk_is_a_violation() {
    let mut p = granted_pair();
    let now = p.now;
    let id = p.console.offer_file("x.bin", 1000, 0, now).expect("offer");
    let mut files: [Files; 2] = Default::default();
    pump(&mut p, &mut files);
    let frame = wire::encode_to_bytes(Message::FileChunk(pb::FileChunk {
        id,
        offset: 10,
        data: vec![1; 10].into(),
    }))
    .expect("encodes");
    p.inject(Role::Applet, Channel::File, &frame);
    assert!(matches!(
        p.closed_error(Role::Applet),
        Some(SessionError::Violation(_))
    ));
}

#[test]
fn offer_without_send_permission_is_refused_by_applet() {
    let perms = PermissionSet::new([Permission::Chat], []);
    let mut p = Pair::with(
        handshake_config(Role::Console, perms.clone()),
        handshake_config(Role::Applet, perms),
    );
    p.drive();
    let now = p.now;
    assert!(p.console.offer_file("a.txt", 1, 0, now).is_err());
    let offer = Message::FileOffer(pb::FileOffer {
        id: 1,
        name: "a.txt".into(),
        size: 1,
        ..Default::default()
    });
    p.inject(
        Role::Applet,
        Channel::File,
        &wire::encode_to_bytes(offer).expect("encodes"),
    );
    p.drive();
    assert!(
        !p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Transfer(TransferEvent::Offered { .. })))
    );
    assert!(p.events(Role::Applet).iter().any(|e| matches!(
        e,
        Event::Refused {
            action: Permission::SendFiles,
            ..
        }
    )));
}

#[test]
fn path_in_file_name_is_refused() {
    let mut p = granted_pair();
    let now = p.now;
    assert!(p.console.offer_file("../../etc/passwd", 1, 0, now).is_err());
    let offer = Message::FileOffer(pb::FileOffer {
        id: 1,
        name: "..\\boot.ini".into(),
        size: 1,
        ..Default::default()
    });
    // The encoder itself refuses it; craft the frame by hand.
    let body = prost::Message::encode_to_vec(&pb::Envelope { msg: Some(offer) });
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    p.inject(Role::Applet, Channel::File, &frame);
    assert!(matches!(
        p.closed_error(Role::Applet),
        Some(SessionError::Frame(_))
    ));
}

#[test]
fn stalled_transfer_is_cancelled() {
    let mut p = granted_pair();
    let now = p.now;
    let id = p
        .console
        .offer_file("slow.bin", 1_000_000, 0, now)
        .expect("offer");
    let mut files: [Files; 2] = Default::default();
    pump(&mut p, &mut files); // accepted; no source: no progress
    p.run_for(crate::transfer::TRANSFER_IDLE_TIMEOUT + std::time::Duration::from_secs(1));
    for role in [Role::Console, Role::Applet] {
        assert!(p.events(role).iter().any(|e| matches!(
            e,
            Event::Transfer(TransferEvent::Cancelled { id: x, reason: pb::CancelReason::Timeout, .. }) if *x == id
        )));
    }
    assert!(!p.console.is_closed(), "the session outlives the transfer");
}
