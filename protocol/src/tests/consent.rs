//! Consent: granted permissions that need a prompt wait for the customer;
//! refused actions never start.

use super::pair::*;
use crate::consent::{ConsentEvent, Decision};
use crate::error::CommandError;
use crate::pb::{self, Permission, Role};
use crate::permissions::PermissionSet;
use crate::session::Event;
use crate::wire::{self, Channel, Message};

fn prompt_id(p: &Pair) -> Option<u64> {
    p.events(Role::Applet).iter().rev().find_map(|e| match e {
        Event::Consent(ConsentEvent::Prompt { id, .. }) => Some(*id),
        _ => None,
    })
}

fn moves(p: &Pair) -> usize {
    p.events(Role::Applet)
        .iter()
        .filter(|e| matches!(e, Event::Message(Message::PointerMove(_))))
        .count()
}

fn pointer(x: i32) -> Message {
    Message::PointerMove(pb::PointerMove { x, y: 1 })
}

#[test]
fn prompted_action_waits_for_the_customer() {
    let mut p = Pair::established();
    let now = p.now;
    // Before the answer, input is refused on the console side.
    let d = p
        .console
        .request(Permission::RemoteControl, "", now)
        .expect("granted");
    let Decision::Pending(id) = d else {
        panic!("should prompt")
    };
    assert_eq!(
        p.console.send_action(pointer(1), now),
        Err(CommandError::NoConsent(Permission::RemoteControl))
    );
    p.drive();
    assert_eq!(prompt_id(&p), Some(id));
    let now = p.now;
    p.applet.answer_consent(id, true, now).expect("answer");
    p.drive();
    assert!(p.events(Role::Console).iter().any(|e| matches!(
        e,
        Event::Consent(ConsentEvent::Granted { actions, .. }) if actions == &[Permission::RemoteControl]
    )));
    let now = p.now;
    p.console.send_action(pointer(5), now).expect("allowed now");
    p.console
        .send_action(pointer(6), now)
        .expect("lasting consent");
    p.drive();
    assert_eq!(moves(&p), 2);
}

#[test]
fn refused_action_never_starts() {
    let mut p = Pair::established();
    let now = p.now;
    let Ok(Decision::Pending(id)) = p.console.request(Permission::RemoteControl, "", now) else {
        panic!("should prompt")
    };
    p.drive();
    let now = p.now;
    p.applet.answer_consent(id, false, now).expect("answer");
    p.drive();
    assert!(
        p.events(Role::Console)
            .iter()
            .any(|e| matches!(e, Event::Consent(ConsentEvent::Refused { .. })))
    );
    let now = p.now;
    assert!(p.console.send_action(pointer(1), now).is_err());
    // A console that sends anyway (bug or hostile): the applet drops it.
    let frame = wire::encode_to_bytes(pointer(2)).expect("encodes");
    p.inject(Role::Applet, Channel::Input, &frame);
    assert_eq!(moves(&p), 0);
    assert!(p.events(Role::Applet).iter().any(|e| matches!(
        e,
        Event::Refused {
            action: Permission::RemoteControl,
            ..
        }
    )));
    assert_eq!(p.applet.stats().refused, 1);
    assert!(!p.applet.is_closed(), "a refused action is not fatal");
}

#[test]
fn permission_not_granted_is_refused_without_asking() {
    let mut p = Pair::established();
    let now = p.now;
    assert_eq!(
        p.console.request(Permission::Reboot, "", now),
        Err(CommandError::NotPermitted(Permission::Reboot))
    );
    let reboot = Message::RebootRequest(pb::RebootRequest {
        mode: pb::RebootMode::Normal as i32,
    });
    assert_eq!(
        p.console.send_action(reboot.clone(), now),
        Err(CommandError::NotPermitted(Permission::Reboot))
    );
    // Sent anyway: refused by the applet, never surfaced.
    p.inject(
        Role::Applet,
        Channel::Control,
        &wire::encode_to_bytes(reboot).expect("encodes"),
    );
    assert!(
        !p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Message(Message::RebootRequest(_))))
    );
    // Asking for it with a hand-made request: auto-denied.
    let req = Message::ConsentRequest(pb::ConsentRequest {
        id: 99,
        actions: vec![Permission::Reboot as i32],
        detail: String::new(),
    });
    p.inject(
        Role::Applet,
        Channel::Control,
        &wire::encode_to_bytes(req).expect("encodes"),
    );
    assert!(prompt_id(&p).is_none(), "the customer is not even asked");
}

#[test]
fn unprompted_permission_is_allowed_at_once() {
    let mut p = Pair::established();
    let now = p.now;
    assert_eq!(
        p.console.request(Permission::SystemInfo, "", now),
        Ok(Decision::Allowed)
    );
    p.console
        .send_action(
            Message::SystemInfoRequest(pb::SystemInfoRequest { id: 1 }),
            now,
        )
        .expect("allowed");
    p.drive();
    assert!(
        p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Message(Message::SystemInfoRequest(_))))
    );
}

#[test]
fn one_shot_consent_is_used_once() {
    let mut p = Pair::established();
    let now = p.now;
    let Ok(Decision::Pending(id)) =
        p.console
            .request(Permission::SendUrl, "https://example.org/", now)
    else {
        panic!("should prompt")
    };
    p.drive();
    let now = p.now;
    p.applet.answer_consent(id, true, now).expect("answer");
    p.drive();
    let url = |u: &str| Message::UrlPush(pb::UrlPush { url: u.into() });
    let now = p.now;
    p.console
        .send_action(url("https://example.org/"), now)
        .expect("first");
    assert!(
        p.console
            .send_action(url("https://example.org/2"), now)
            .is_err()
    );
    p.drive();
    // A second push forced onto the wire is refused by the applet.
    p.inject(
        Role::Applet,
        Channel::Control,
        &wire::encode_to_bytes(url("https://evil.test/")).expect("encodes"),
    );
    let pushed: Vec<_> = p
        .events(Role::Applet)
        .iter()
        .filter_map(|e| match e {
            Event::Message(Message::UrlPush(u)) => Some(u.url.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(pushed, vec!["https://example.org/".to_string()]);
}

#[test]
fn single_prompt_covers_the_whole_session() {
    let mut perms = permissions();
    perms.single_prompt = true;
    let mut p = Pair::with(
        handshake_config(Role::Console, perms.clone()),
        handshake_config(Role::Applet, perms),
    );
    p.drive();
    let id = prompt_id(&p).expect("asked once at start");
    let asked = p.events(Role::Applet).iter().find_map(|e| match e {
        Event::Consent(ConsentEvent::Prompt { actions, .. }) => Some(actions.clone()),
        _ => None,
    });
    assert_eq!(
        asked,
        Some(vec![
            Permission::RemoteControl,
            Permission::SendFiles,
            Permission::SendUrl
        ])
    );
    let now = p.now;
    p.applet.answer_consent(id, true, now).expect("answer");
    p.drive();
    let now = p.now;
    for action in [
        Permission::RemoteControl,
        Permission::SendUrl,
        Permission::SendFiles,
    ] {
        assert_eq!(p.console.request(action, "", now), Ok(Decision::Allowed));
    }
    let url = Message::UrlPush(pb::UrlPush {
        url: "https://a.test/".into(),
    });
    p.console.send_action(url.clone(), now).expect("one");
    p.console
        .send_action(url, now)
        .expect("two: single prompt is not one-shot");
    p.drive();
    let prompts = p
        .events(Role::Applet)
        .iter()
        .filter(|e| matches!(e, Event::Consent(ConsentEvent::Prompt { .. })))
        .count();
    assert_eq!(prompts, 1);
}

#[test]
fn a_console_claiming_single_prompt_cannot_widen_consent() {
    // The server gave the applet per-action prompts; a modified console
    // announces PERM-12 anyway.
    let mut claimed = permissions();
    claimed.single_prompt = true;
    let mut p = Pair::with(
        handshake_config(Role::Console, claimed),
        handshake_config(Role::Applet, permissions()),
    );
    p.drive();
    assert!(prompt_id(&p).is_none(), "no blanket prompt at start");
    let now = p.now;
    let Ok(Decision::Pending(id)) = p.console.request(Permission::RemoteControl, "", now) else {
        panic!("remote control still needs its own consent")
    };
    p.drive();
    let now = p.now;
    p.applet.answer_consent(id, true, now).expect("answer");
    p.drive();
    let now = p.now;
    // One consent stays one: the URL push needs its own.
    assert!(matches!(
        p.console.request(Permission::SendUrl, "", now),
        Ok(Decision::Pending(_))
    ));
}

#[test]
fn customer_revokes_control() {
    let mut p = Pair::established();
    let now = p.now;
    let Ok(Decision::Pending(id)) = p.console.request(Permission::RemoteControl, "", now) else {
        panic!()
    };
    p.drive();
    let now = p.now;
    p.applet.answer_consent(id, true, now).expect("answer");
    p.drive();
    let now = p.now;
    p.applet
        .revoke_consent(Permission::RemoteControl, now)
        .expect("revoke");
    p.drive();
    assert!(p.events(Role::Console).iter().any(|e| matches!(
        e,
        Event::Consent(ConsentEvent::Revoked(Permission::RemoteControl))
    )));
    let now = p.now;
    assert!(p.console.send_action(pointer(1), now).is_err());
}

#[test]
fn unanswered_prompt_is_refused_after_the_timeout() {
    let mut p = Pair::established();
    let now = p.now;
    p.console
        .request(Permission::RemoteControl, "", now)
        .expect("pending");
    p.run_for(crate::consent::CONSENT_TIMEOUT + std::time::Duration::from_secs(1));
    assert!(
        p.events(Role::Console)
            .iter()
            .any(|e| matches!(e, Event::Consent(ConsentEvent::Refused { .. })))
    );
    assert!(!p.console.is_closed(), "keepalive held the session");
}

#[test]
fn applet_cannot_send_video_without_viewing_consent() {
    let perms = PermissionSet::new(
        [Permission::Chat, Permission::DesktopView],
        [Permission::DesktopView],
    );
    let mut p = Pair::with(
        handshake_config(Role::Console, perms.clone()),
        handshake_config(Role::Applet, perms),
    );
    p.drive();
    let frame = Message::VideoFrame(pb::VideoFrame {
        frame_number: 1,
        ..Default::default()
    });
    let now = p.now;
    assert_eq!(
        p.applet.send_video(frame, now),
        Err(CommandError::NoConsent(Permission::DesktopView))
    );
}

#[test]
fn transfer_needs_its_permission() {
    let mut p = Pair::established(); // PERM-13 not granted
    let transfer = Message::SessionControl(pb::SessionControl {
        action: pb::ControlAction::Transfer as i32,
        reason: 0,
        target_group: "Level 2".into(),
        message: String::new(),
    });
    let now = p.now;
    assert_eq!(
        p.console.send_reply(transfer.clone(), now),
        Err(CommandError::NotPermitted(Permission::Transfer))
    );
    p.inject(
        Role::Applet,
        Channel::Control,
        &wire::encode_to_bytes(transfer).expect("encodes"),
    );
    assert!(p.events(Role::Applet).iter().any(|e| matches!(
        e,
        Event::Refused {
            action: Permission::Transfer,
            ..
        }
    )));
    let hold = Message::SessionControl(pb::SessionControl {
        action: pb::ControlAction::Hold as i32,
        ..Default::default()
    });
    p.console
        .send_reply(hold, now)
        .expect("hold needs no permission");
}

#[test]
fn file_manager_requests_without_the_permission_are_refused_on_receipt() {
    let mut p = Pair::established();
    let now = p.now;
    let action = Message::FileAction(pb::FileAction {
        id: 1,
        kind: pb::FileActionKind::Delete as i32,
        path: "important.txt".into(),
        new_path: String::new(),
    });
    assert_eq!(
        p.console.send_action(action.clone(), now),
        Err(CommandError::NotPermitted(Permission::FileManager))
    );
    assert_eq!(
        p.console.offer_file_to("x.txt", 1, 0, "Documents", now),
        Err(CommandError::NotPermitted(Permission::FileManager))
    );
    // A console that skips its own check: the applet refuses each.
    let list = Message::FileListRequest(pb::FileListRequest {
        id: 2,
        path: String::new(),
    });
    // Sending files is granted (with a prompt): a targeted offer still
    // needs the file manager.
    let offer = Message::FileOffer(pb::FileOffer {
        id: 3,
        name: "x.txt".into(),
        size: 1,
        modified_unix: 0,
        target_dir: "Documents".into(),
    });
    for m in [action, list, offer] {
        p.inject(
            Role::Applet,
            Channel::File,
            &wire::encode_to_bytes(m).expect("encodes"),
        );
    }
    let events = p.events(Role::Applet);
    assert!(!events.iter().any(|e| matches!(
        e,
        Event::Message(Message::FileAction(_) | Message::FileListRequest(_)) | Event::Transfer(_)
    )));
    let refused = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Refused {
                    action: Permission::FileManager,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 3);
    assert!(!p.side(Role::Applet).is_closed());
}

#[test]
fn whiteboard_strokes_go_with_viewing_consent() {
    let perms = PermissionSet::new(
        [Permission::Chat, Permission::DesktopView],
        [Permission::DesktopView],
    );
    let mut p = Pair::with(
        handshake_config(Role::Console, perms.clone()),
        handshake_config(Role::Applet, perms),
    );
    p.drive();
    let stroke = Message::WhiteboardStroke(pb::WhiteboardStroke {
        id: 1,
        points: vec![0, 0, 40, 40],
        rgb: 0xff0000,
        width: 4,
    });
    let now = p.now;
    assert_eq!(
        p.console.send_whiteboard(stroke.clone(), now),
        Err(CommandError::NoConsent(Permission::DesktopView))
    );
    // A console that skips its own check: the applet drops the stroke.
    p.inject(
        Role::Applet,
        Channel::Input,
        &wire::encode_to_bytes(stroke.clone()).expect("encodes"),
    );
    assert!(
        !p.events(Role::Applet)
            .iter()
            .any(|e| matches!(e, Event::Message(Message::WhiteboardStroke(_))))
    );
    // Once the customer allows viewing, strokes and clears arrive.
    p.console
        .request(Permission::DesktopView, "", now)
        .expect("asked");
    p.drive();
    let id = p
        .events(Role::Applet)
        .iter()
        .find_map(|e| match e {
            Event::Consent(ConsentEvent::Prompt { id, .. }) => Some(*id),
            _ => None,
        })
        .expect("a prompt");
    let now = p.now;
    p.applet.answer_consent(id, true, now).expect("answered");
    p.drive();
    let now = p.now;
    p.console.send_whiteboard(stroke, now).expect("allowed");
    p.console
        .send_whiteboard(Message::WhiteboardClear(pb::WhiteboardClear {}), now)
        .expect("allowed");
    // Bounds: an odd number of coordinates is refused before sending.
    let odd = Message::WhiteboardStroke(pb::WhiteboardStroke {
        id: 2,
        points: vec![1, 2, 3],
        rgb: 0,
        width: 4,
    });
    assert!(p.console.send_whiteboard(odd, now).is_err());
    p.drive();
    let events = p.events(Role::Applet);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Message(Message::WhiteboardStroke(_))))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Message(Message::WhiteboardClear(_))))
    );
}
