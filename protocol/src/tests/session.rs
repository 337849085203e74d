//! Clipboard, chat, keepalive and closing through whole sessions.

use std::time::Duration;

use super::pair::*;
use crate::clipboard::ClipboardContent;
use crate::error::{CommandError, SessionError};
use crate::pb::{self, EndReason, Permission, Role};
use crate::permissions::{ChatMode, PermissionSet};
use crate::session::Event;
use crate::wire::{self, Channel, Message};

#[test]
fn clipboard_both_ways_without_echo() {
    let mut p = Pair::established();
    let now = p.now;
    assert_eq!(
        p.console
            .clipboard_changed(ClipboardContent::Text("ticket #4521".into()), now),
        Ok(true)
    );
    p.drive();
    let got: Vec<_> = p
        .take_events(Role::Applet)
        .into_iter()
        .filter_map(|e| match e {
            Event::Clipboard(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![ClipboardContent::Text("ticket #4521".into())]);
    // The applet's OS echoes the value back: nothing is sent.
    let now = p.now;
    assert_eq!(
        p.applet
            .clipboard_changed(ClipboardContent::Text("ticket #4521".into()), now),
        Ok(false)
    );
    let png = bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\nfake");
    let image = ClipboardContent::Image {
        width: 2,
        height: 2,
        png,
    };
    assert_eq!(p.applet.clipboard_changed(image.clone(), now), Ok(true));
    p.drive();
    assert!(
        p.events(Role::Console)
            .iter()
            .any(|e| e == &Event::Clipboard(image.clone()))
    );
    assert!(p.bytes[1][Channel::Clipboard.id() as usize] > 0);
}

#[test]
fn clipboard_needs_permission_on_both_sides() {
    let perms = PermissionSet::new([Permission::Chat], []);
    let mut p = Pair::with(
        handshake_config(Role::Console, perms.clone()),
        handshake_config(Role::Applet, perms),
    );
    p.drive();
    let now = p.now;
    assert_eq!(
        p.console
            .clipboard_changed(ClipboardContent::Text("x".into()), now),
        Err(CommandError::NotPermitted(Permission::Clipboard))
    );
    let upd = Message::ClipboardUpdate(pb::ClipboardUpdate {
        seq: 1,
        origin: Role::Console as i32,
        content: Some(pb::clipboard_update::Content::Text("secret".into())),
    });
    p.inject(
        Role::Applet,
        Channel::Clipboard,
        &wire::encode_to_bytes(upd).expect("encodes"),
    );
    assert!(
        !p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Clipboard(_)))
    );
}

#[test]
fn chat_both_ways() {
    let mut p = Pair::established();
    let now = p.now;
    p.console
        .send_chat("Hello, I am Alex from the help desk.", 1, now)
        .expect("chat");
    p.applet
        .send_chat("Hi! My printer is <b>stuck</b>.", 2, now)
        .expect("chat");
    p.drive();
    assert!(
        p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Chat { text, .. } if text.starts_with("Hello")))
    );
    assert!(
        p.events(Role::Console)
            .iter()
            .any(|e| matches!(e, Event::Chat { text, .. } if text.contains("<b>")))
    );
}

#[test]
fn chat_off_until_the_technician_switches_it_on() {
    let mut perms = permissions();
    perms.chat_mode = ChatMode::OffToggle;
    let mut p = Pair::with(
        handshake_config(Role::Console, perms.clone()),
        handshake_config(Role::Applet, perms),
    );
    p.drive();
    let now = p.now;
    assert_eq!(
        p.applet.send_chat("anyone?", 0, now),
        Err(CommandError::ChatOff)
    );
    p.console.set_chat_enabled(true, now).expect("toggle");
    p.drive();
    assert!(p.events(Role::Applet).contains(&Event::ChatEnabled(true)));
    let now = p.now;
    p.applet.send_chat("anyone?", 0, now).expect("on now");
}

#[test]
fn keepalive_measures_rtt_and_keeps_the_session() {
    let mut p = Pair::established();
    p.run_for(Duration::from_secs(60));
    assert!(p.console.is_established() && p.applet.is_established());
    let rtt = p.events(Role::Console).iter().find_map(|e| match e {
        Event::Rtt(d) => Some(*d),
        _ => None,
    });
    assert_eq!(rtt, Some(Duration::from_millis(40)));
}

#[test]
fn silent_peer_is_dropped() {
    let mut p = Pair::established();
    p.filter = Some(Box::new(|from, t| (from != Role::Applet).then_some(t)));
    p.run_for(Duration::from_secs(31));
    assert_eq!(
        p.closed_error(Role::Console),
        Some(&SessionError::IdleTimeout)
    );
}

#[test]
fn close_tells_the_peer_and_revokes_everything() {
    let mut p = Pair::established();
    let now = p.now;
    p.console.close(EndReason::ByTechnician, "done", now);
    p.drive();
    assert!(p.events(Role::Applet).contains(&Event::Closed {
        reason: EndReason::ByTechnician,
        error: None
    }));
    let now = p.now;
    assert_eq!(
        p.console.send_chat("x", 0, now),
        Err(CommandError::NotEstablished)
    );
    assert_eq!(
        p.applet
            .clipboard_changed(ClipboardContent::Text("x".into()), now),
        Err(CommandError::NotEstablished)
    );
}

#[test]
fn unknown_message_from_newer_peer_is_skipped() {
    let mut p = Pair::established();
    // Envelope field 1000 (a message this version does not know), length-delimited.
    let body = [0xC2, 0x3E, 0x03, 0x08, 0x01, 0x10];
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    p.inject(Role::Console, Channel::Control, &frame);
    assert!(p.console.is_established());
    assert_eq!(p.console.stats().unknown_skipped, 1);
}

#[test]
fn applet_may_not_send_input() {
    let mut p = Pair::established();
    let frame = wire::encode_to_bytes(Message::PointerMove(pb::PointerMove { x: 1, y: 1 }))
        .expect("encodes");
    p.inject(Role::Console, Channel::Input, &frame);
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::Unexpected { .. })
    ));
}

#[test]
fn video_reaches_console_once_viewing_is_allowed() {
    let mut p = Pair::established(); // desktop view granted without prompt
    let payload = bytes::Bytes::from(vec![0x12; 70_000]);
    let frame = Message::VideoFrame(pb::VideoFrame {
        frame_number: 1,
        keyframe: true,
        width: 1920,
        height: 1080,
        codec: pb::VideoCodec::Av1 as i32,
        payload: payload.clone(),
        capture_time_us: 5,
    });
    let now = p.now;
    p.applet.send_video(frame, now).expect("allowed");
    p.drive();
    assert!(p.events(Role::Console).iter().any(|e| matches!(
        e, Event::Message(Message::VideoFrame(f)) if f.payload == payload
    )));
}

#[test]
fn last_words_arrive_before_the_end() {
    let mut p = Pair::established();
    let now = p.now;
    p.console
        .send_chat("All fixed. Goodbye!", 0, now)
        .expect("chat");
    p.console.close(EndReason::ByTechnician, "", now);
    p.drive();
    let chat = p
        .events(Role::Applet)
        .iter()
        .position(|e| matches!(e, Event::Chat { .. }));
    let end = p
        .events(Role::Applet)
        .iter()
        .position(|e| matches!(e, Event::Closed { .. }));
    assert!(
        chat.is_some() && end.is_some() && chat < end,
        "{:?}",
        p.events(Role::Applet)
    );
}
