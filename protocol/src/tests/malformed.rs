//! str0m-style malformed input: garbage into every state machine, at every
//! phase, on every channel. Nothing may panic; every failure is typed.

use super::pair::*;
use crate::error::SessionError;
use crate::pb::Role;
use crate::session::Event;
use crate::wire::{self, Channel, Decoded, Message};

fn assert_typed_or_alive(p: &Pair, role: Role) {
    for e in p.events(role) {
        if let Event::Closed {
            error: Some(err), ..
        } = e
        {
            // Every error renders; none is a catch-all.
            assert!(!err.to_string().is_empty());
        }
    }
}

#[test]
fn random_bytes_on_every_channel_in_every_phase() {
    let mut rng = Rng::new(0x5ec0_0125);
    for round in 0..400 {
        let mut p = if round % 2 == 0 {
            Pair::new()
        } else {
            Pair::established()
        };
        for _ in 0..8 {
            let channel = Channel::ALL[(rng.next_u64() % 6) as usize];
            let len = (rng.next_u64() % 64) as usize;
            let mut data = vec![0; len];
            rng.fill(&mut data);
            if rng.next_u64() % 2 == 0 && len >= 4 {
                // A plausible length prefix so the body reaches prost.
                data[..4].copy_from_slice(&((len - 4) as u32).to_be_bytes());
            }
            let to = if rng.next_u64() % 2 == 0 {
                Role::Console
            } else {
                Role::Applet
            };
            p.inject(to, channel, &data);
        }
        p.drive();
        assert_typed_or_alive(&p, Role::Console);
        assert_typed_or_alive(&p, Role::Applet);
    }
}

#[test]
fn mutated_valid_frames_never_panic() {
    let mut rng = Rng::new(99);
    // Record a real session's frames, then replay them mutated.
    let mut frames = Vec::new();
    let mut p = Pair::new();
    p.filter = Some(Box::new(move |_, t| Some(t)));
    p.drive();
    let mut recorder = Pair::new();
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = log.clone();
    recorder.filter = Some(Box::new(move |from, t| {
        sink.borrow_mut().push((from, t.clone()));
        Some(t)
    }));
    recorder.drive();
    let now = recorder.now;
    recorder.console.send_chat("hi", 0, now).ok();
    recorder.drive();
    frames.extend(log.borrow().iter().cloned());
    assert!(frames.len() > 8);
    for _ in 0..300 {
        let mut p = Pair::new();
        for (from, t) in &frames {
            let to = if *from == Role::Console {
                Role::Applet
            } else {
                Role::Console
            };
            let mut data = t.data.to_vec();
            if rng.next_u64() % 3 == 0 && !data.is_empty() {
                let i = (rng.next_u64() as usize) % data.len();
                data[i] ^= 1 << (rng.next_u64() % 8);
            }
            p.inject(to, t.channel, &data);
        }
        p.drive();
    }
}

#[test]
fn header_claiming_4_gib_is_refused_without_allocating() {
    let mut buf = bytes::BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0][..]);
    let err = wire::decode(Channel::Video, &mut buf).expect_err("too large");
    assert_eq!(
        err,
        wire::FrameError::TooLarge {
            channel: Channel::Video,
            claimed: 0xFFFF_FFFF,
            limit: Channel::Video.max_frame()
        }
    );
    assert!(buf.capacity() < 1024, "reserved {} bytes", buf.capacity());
    let mut p = Pair::established();
    p.inject(Role::Console, Channel::File, &[0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::Frame(wire::FrameError::TooLarge { .. }))
    ));
}

#[test]
fn partial_frame_reserves_at_most_the_channel_limit() {
    let mut buf = bytes::BytesMut::new();
    let limit = Channel::Input.max_frame();
    buf.extend_from_slice(&limit.to_be_bytes());
    buf.extend_from_slice(&[0; 10]);
    assert_eq!(wire::decode(Channel::Input, &mut buf), Ok(None));
    assert!(buf.capacity() <= limit as usize + 64);
}

#[test]
fn video_payload_is_not_copied_on_decode() {
    let payload = vec![0xAB; 256 * 1024];
    let frame = wire::encode_to_bytes(Message::VideoFrame(crate::pb::VideoFrame {
        frame_number: 9,
        payload: payload.into(),
        ..Default::default()
    }))
    .expect("encodes");
    let mut buf = bytes::BytesMut::from(&frame[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Ok(Some(Decoded::Message(Message::VideoFrame(v)))) = wire::decode(Channel::Video, &mut buf)
    else {
        panic!("decodes")
    };
    let p = v.payload.as_ptr() as usize;
    assert!(
        p >= start && p + v.payload.len() <= end,
        "payload was copied"
    );
}

#[test]
fn message_on_the_wrong_channel_is_refused() {
    let frame = wire::encode_to_bytes(Message::PointerMove(crate::pb::PointerMove { x: 1, y: 2 }))
        .expect("encodes");
    let mut buf = bytes::BytesMut::from(&frame[..]);
    assert_eq!(
        wire::decode(Channel::File, &mut buf),
        Err(wire::FrameError::WrongChannel {
            channel: Channel::File,
            message: "PointerMove"
        })
    );
}
