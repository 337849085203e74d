//! Helpers for the fuzz targets and benchmarks (feature `fuzzing`); not a
//! public API.

use std::time::{Duration, Instant};

use crate::handshake::{Handshake, HandshakeConfig};
use crate::identity::{Fingerprint, SessionToken};
use crate::pb::{self, Permission, Role};
use crate::permissions::PermissionSet;
use crate::session::{Session, SessionConfig};
use crate::wire::Channel;

/// A permission set granting everything the fuzzers exercise, some prompted.
pub fn permissions(single_prompt: bool) -> PermissionSet {
    let mut p = PermissionSet::new(
        [
            Permission::Chat,
            Permission::RemoteControl,
            Permission::DesktopView,
            Permission::SendFiles,
            Permission::ReceiveFiles,
            Permission::FileManager,
            Permission::SendUrl,
            Permission::SystemInfo,
            Permission::Reboot,
            Permission::Record,
            Permission::Clipboard,
        ],
        [
            Permission::RemoteControl,
            Permission::SendFiles,
            Permission::SendUrl,
            Permission::Reboot,
        ],
    );
    p.single_prompt = single_prompt;
    p
}

/// The handshake configuration of one side of a fixed test session.
pub fn handshake_config(role: Role, single_prompt: bool) -> HandshakeConfig {
    let console = Fingerprint::from_bytes([0xC0; 32]);
    let applet = Fingerprint::from_bytes([0xA9; 32]);
    let (local, peer, nonce) = if role == Role::Console {
        (console, applet, [1; 32])
    } else {
        (applet, console, [2; 32])
    };
    HandshakeConfig {
        role,
        local_fingerprint: local,
        expected_peer_fingerprint: peer,
        observed_peer_fingerprint: peer,
        session_id: "fuzz".into(),
        session_token: SessionToken::from_bytes([0x5E; 32]),
        nonce,
        capabilities: pb::Capabilities::default(),
        permissions: permissions(single_prompt),
        software: "fuzz".into(),
        versions: Handshake::default_versions(),
        timeout: Duration::from_secs(10),
    }
}

/// A console and an applet, handshake done, at `now`.
pub fn established_pair(now: Instant, single_prompt: bool) -> (Session, Session) {
    let mut c = Session::new(
        SessionConfig::new(handshake_config(Role::Console, single_prompt)),
        now,
    );
    let mut a = Session::new(
        SessionConfig::new(handshake_config(Role::Applet, single_prompt)),
        now,
    );
    for _ in 0..16 {
        let mut moved = false;
        while let Some(t) = c.poll_transmit() {
            a.handle_data(t.channel, &t.data, now);
            moved = true;
        }
        while let Some(t) = a.poll_transmit() {
            c.handle_data(t.channel, &t.data, now);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    while c.poll_event().is_some() {}
    while a.poll_event().is_some() {}
    (c, a)
}

/// Splits fuzz input into records `[channel: u8][len: u16 le][bytes]`.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 3 {
            return None;
        }
        let tag = data[0];
        let len = usize::from(u16::from_le_bytes([data[1], data[2]])).min(data.len() - 3);
        let body = &data[3..3 + len];
        data = &data[3 + len..];
        Some((tag, body))
    })
}

/// The channel a record tag names.
pub fn channel(tag: u8) -> Channel {
    Channel::ALL[usize::from(tag) % Channel::ALL.len()]
}
