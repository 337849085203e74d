//! The handshake through the pair harness.

use super::pair::*;
use crate::VersionRange;
use crate::error::SessionError;
use crate::identity::{Fingerprint, SessionToken};
use crate::pb::{self, Permission, Role};
use crate::permissions::PermissionSet;
use crate::session::Event;
use crate::wire::{self, Channel, Message};

fn established(p: &Pair, role: Role) -> Option<crate::handshake::Established> {
    p.events(role).iter().find_map(|e| match e {
        Event::Established(x) => Some(x.clone()),
        _ => None,
    })
}

#[test]
fn both_sides_agree_on_sas_and_permissions() {
    let mut console_perms = permissions();
    console_perms = console_perms.intersect(&PermissionSet::new(
        permissions().granted().chain([Permission::Reboot]),
        permissions().prompted(),
    ));
    let mut p = Pair::with(
        handshake_config(Role::Console, console_perms),
        handshake_config(Role::Applet, permissions()),
    );
    p.drive();
    let c = established(&p, Role::Console).expect("console established");
    let a = established(&p, Role::Applet).expect("applet established");
    assert_eq!(c.sas, a.sas);
    assert_eq!(c.version, 1);
    assert_eq!(c.permissions, a.permissions);
    assert!(!c.permissions.allows(Permission::Reboot));
    assert_eq!(c.peer_software, "secours-test");
    assert_eq!(a.peer_capabilities, caps());
}

#[test]
fn console_claiming_more_than_the_applet_was_told_gets_the_intersection() {
    let wide = PermissionSet::new(
        permissions()
            .granted()
            .chain([Permission::Reboot, Permission::Scripts]),
        [],
    );
    let mut p = Pair::with(
        handshake_config(Role::Console, wide),
        handshake_config(Role::Applet, permissions()),
    );
    p.drive();
    let c = established(&p, Role::Console).expect("established");
    assert!(!c.permissions.allows(Permission::Reboot));
    assert!(!c.permissions.allows(Permission::Scripts));
    // The applet's prompts survive the console's set without prompts.
    assert!(c.permissions.needs_prompt(Permission::RemoteControl));
}

#[test]
fn fingerprint_not_announced_by_server_is_refused() {
    let mut applet = handshake_config(Role::Applet, permissions());
    applet.local_fingerprint = Fingerprint::from_bytes([0xEE; 32]); // a stranger's certificate
    let mut p = Pair::with(handshake_config(Role::Console, permissions()), applet);
    p.drive();
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::FingerprintMismatch { .. })
    ));
    // The applet is told why and closes too; neither is established.
    assert!(matches!(
        p.closed_error(Role::Applet),
        Some(SessionError::Peer {
            code: pb::ErrorCode::FingerprintMismatch,
            ..
        }) | Some(SessionError::FingerprintMismatch { .. })
    ));
    assert!(!p.console.is_established() && !p.applet.is_established());
}

#[test]
fn tampered_fingerprint_in_flight_is_detected() {
    let mut p = Pair::new();
    p.filter = Some(Box::new(|from, t| {
        if from != Role::Applet || t.channel != Channel::Control {
            return Some(t);
        }
        let mut buf = bytes::BytesMut::from(&t.data[..]);
        match wire::decode(Channel::Control, &mut buf) {
            Ok(Some(wire::Decoded::Message(Message::Hello(mut h)))) => {
                let mut fp = h.fingerprint.to_vec();
                fp[0] ^= 1;
                h.fingerprint = fp.into();
                let data = wire::encode_to_bytes(Message::Hello(h)).ok()?;
                Some(crate::session::Transmit {
                    channel: t.channel,
                    data,
                })
            }
            _ => Some(t),
        }
    }));
    p.drive();
    let err = p.closed_error(Role::Console).expect("console failed");
    assert!(
        matches!(err, SessionError::FingerprintMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("fingerprint mismatch"));
}

#[test]
fn tls_peer_certificate_must_match_too() {
    let mut console = handshake_config(Role::Console, permissions());
    console.observed_peer_fingerprint = Fingerprint::from_bytes([0x11; 32]);
    let mut p = Pair::with(console, handshake_config(Role::Applet, permissions()));
    p.drive();
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::FingerprintMismatch { .. })
    ));
}

#[test]
fn wrong_session_token_fails_auth() {
    let mut applet = handshake_config(Role::Applet, permissions());
    applet.session_token = SessionToken::from_bytes([0x77; 32]);
    let mut p = Pair::with(handshake_config(Role::Console, permissions()), applet);
    p.drive();
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::AuthFailed(_))
    ));
    assert!(!p.console.is_established());
}

#[test]
fn wrong_session_id_fails_auth() {
    let mut applet = handshake_config(Role::Applet, permissions());
    applet.session_id = "s-43".into();
    let mut p = Pair::with(handshake_config(Role::Console, permissions()), applet);
    p.drive();
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::AuthFailed(_))
    ));
}

#[test]
fn two_consoles_are_refused() {
    let mut p = Pair::with(
        handshake_config(Role::Console, permissions()),
        handshake_config(Role::Console, permissions()),
    );
    p.drive();
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::WrongRole(Role::Console))
    ));
}

#[test]
fn version_mismatch_names_both_versions() {
    let mut applet = handshake_config(Role::Applet, permissions());
    applet.versions = VersionRange { min: 2, max: 3 };
    let mut p = Pair::with(handshake_config(Role::Console, permissions()), applet);
    p.drive();
    let err = p.closed_error(Role::Console).expect("failed");
    assert_eq!(
        err,
        &SessionError::VersionMismatch {
            ours: VersionRange { min: 1, max: 1 },
            theirs: VersionRange { min: 2, max: 3 }
        }
    );
    assert_eq!(
        err.to_string(),
        "protocol version mismatch: we speak v1, the peer speaks v2..v3"
    );
}

#[test]
fn newer_peer_speaking_a_range_agrees_on_ours() {
    let mut applet = handshake_config(Role::Applet, permissions());
    applet.versions = VersionRange { min: 1, max: 4 };
    let mut p = Pair::with(handshake_config(Role::Console, permissions()), applet);
    p.drive();
    assert!(p.console.is_established());
    assert_eq!(established(&p, Role::Console).map(|e| e.version), Some(1));
}

#[test]
fn silent_peer_times_out() {
    let mut p = Pair::new();
    p.filter = Some(Box::new(|from, t| (from != Role::Applet).then_some(t)));
    p.run_for(std::time::Duration::from_secs(11));
    assert_eq!(
        p.closed_error(Role::Console),
        Some(&SessionError::HandshakeTimeout)
    );
}

#[test]
fn data_before_handshake_is_refused() {
    let mut p = Pair::new();
    let frame = wire::encode_to_bytes(Message::ChatMessage(pb::ChatMessage {
        id: 1,
        text: "early".into(),
        sent_unix_ms: 0,
    }))
    .expect("encodes");
    p.inject(Role::Console, Channel::Chat, &frame);
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::Unexpected { .. })
    ));
}

#[test]
fn second_hello_after_established_is_refused() {
    let mut p = Pair::established();
    let hello = Message::Hello(pb::Hello {
        version_min: 1,
        version_max: 1,
        role: Role::Applet as i32,
        fingerprint: APPLET_FP.as_bytes().to_vec().into(),
        nonce: vec![9; 32].into(),
        software: String::new(),
    });
    let frame = wire::encode_to_bytes(hello).expect("encodes");
    p.inject(Role::Console, Channel::Control, &frame);
    assert!(matches!(
        p.closed_error(Role::Console),
        Some(SessionError::Unexpected { .. })
    ));
}

#[test]
fn chat_overtaking_ready_waits_for_it() {
    // On a multi-stream transport the console's first chat (chat stream) can
    // arrive before its Ready (control stream).
    let mut p = Pair::new();
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let hold = held.clone();
    p.filter = Some(Box::new(move |from, t| {
        let mut buf = bytes::BytesMut::from(&t.data[..]);
        if from == Role::Console
            && matches!(
                wire::decode(t.channel, &mut buf),
                Ok(Some(wire::Decoded::Message(Message::Ready(_))))
            )
        {
            hold.borrow_mut().push(t);
            return None;
        }
        Some(t)
    }));
    p.drive();
    assert!(p.console.is_established() && !p.applet.is_established());
    let now = p.now;
    p.console.send_chat("first words", 0, now).expect("chat");
    p.drive();
    assert!(!p.applet.is_closed(), "{:?}", p.closed_error(Role::Applet));
    let ready = held.borrow_mut().pop().expect("held Ready");
    p.inject(Role::Applet, ready.channel, &ready.data);
    p.drive();
    assert!(p.applet.is_established());
    assert!(
        p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Chat { text, .. } if text == "first words"))
    );
}

#[test]
fn data_before_authentication_is_still_refused() {
    let mut p = Pair::new();
    p.filter = Some(Box::new(|from, t| {
        (from != Role::Console || t.channel != Channel::Control).then_some(t)
    }));
    for _ in 0..3 {
        p.step(); // the applet's Hello goes out; the console's answers are lost
    }
    let frame = wire::encode_to_bytes(Message::PointerMove(pb::PointerMove { x: 0, y: 0 }))
        .expect("encodes");
    p.inject(Role::Applet, Channel::Input, &frame);
    assert!(
        matches!(
            p.closed_error(Role::Applet),
            Some(SessionError::Unexpected { .. })
        ),
        "{:?}",
        p.events(Role::Applet)
    );
}
