//! A console and an applet wired back to back with a virtual clock, like
//! quinn-proto's `Pair`: `step` delivers what is due or jumps to the next
//! wake-up, `drive` runs until nothing moves.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::handshake::{Handshake, HandshakeConfig};
use crate::identity::{Fingerprint, SessionToken};
use crate::pb::{self, Permission, Role};
use crate::permissions::PermissionSet;
use crate::session::{Event, Session, SessionConfig, Transmit};
use crate::wire::Channel;

/// Rewrites or drops a frame in flight: `(from, transmit) -> Some(frame)`.
pub type Filter = Box<dyn FnMut(Role, Transmit) -> Option<Transmit>>;

pub const CONSOLE_FP: Fingerprint = Fingerprint::from_bytes([0xC0; 32]);
pub const APPLET_FP: Fingerprint = Fingerprint::from_bytes([0xA9; 32]);
pub const TOKEN: [u8; 32] = [0x5E; 32];

pub fn caps() -> pb::Capabilities {
    pb::Capabilities {
        video_codecs: vec![pb::VideoCodec::Av1 as i32],
        max_width: 3840,
        max_height: 2160,
        clipboard_text: true,
        clipboard_image: true,
        file_transfer: true,
        file_manager: true,
        system_info: true,
        reboot: true,
        max_file_window: 1 << 20,
    }
}

/// Every permission a help desk usually grants, remote control prompted.
pub fn permissions() -> PermissionSet {
    PermissionSet::new(
        [
            Permission::Chat,
            Permission::RemoteControl,
            Permission::DesktopView,
            Permission::SendFiles,
            Permission::ReceiveFiles,
            Permission::SendUrl,
            Permission::SystemInfo,
            Permission::Clipboard,
        ],
        [
            Permission::RemoteControl,
            Permission::SendFiles,
            Permission::SendUrl,
        ],
    )
}

pub fn handshake_config(role: Role, permissions: PermissionSet) -> HandshakeConfig {
    let (local, peer, nonce) = match role {
        Role::Console => (CONSOLE_FP, APPLET_FP, [1; 32]),
        _ => (APPLET_FP, CONSOLE_FP, [2; 32]),
    };
    HandshakeConfig {
        role,
        local_fingerprint: local,
        expected_peer_fingerprint: peer,
        observed_peer_fingerprint: peer,
        session_id: "s-42".into(),
        session_token: SessionToken::from_bytes(TOKEN),
        nonce,
        capabilities: caps(),
        permissions,
        software: "secours-test".into(),
        versions: Handshake::default_versions(),
        timeout: Duration::from_secs(10),
    }
}

struct InFlight {
    at: Instant,
    to: Role,
    transmit: Transmit,
}

pub struct Pair {
    pub console: Session,
    pub applet: Session,
    pub now: Instant,
    pub latency: Duration,
    pub console_events: Vec<Event>,
    pub applet_events: Vec<Event>,
    pub filter: Option<Filter>,
    /// Bytes each channel carried, console->applet and applet->console.
    pub bytes: [[u64; 6]; 2],
    flight: VecDeque<InFlight>,
}

impl Pair {
    pub fn new() -> Self {
        Self::with(
            handshake_config(Role::Console, permissions()),
            handshake_config(Role::Applet, permissions()),
        )
    }

    #[allow(clippy::disallowed_methods)] // the virtual clock starts at a real instant
    pub fn with(console: HandshakeConfig, applet: HandshakeConfig) -> Self {
        let now = Instant::now();
        Self {
            console: Session::new(SessionConfig::new(console), now),
            applet: Session::new(SessionConfig::new(applet), now),
            now,
            latency: Duration::from_millis(20),
            console_events: Vec::new(),
            applet_events: Vec::new(),
            filter: None,
            bytes: [[0; 6]; 2],
            flight: VecDeque::new(),
        }
    }

    /// A pair already past the handshake.
    pub fn established() -> Self {
        let mut p = Self::new();
        p.drive();
        assert!(p.console.is_established() && p.applet.is_established());
        p
    }

    pub fn side(&mut self, role: Role) -> &mut Session {
        if role == Role::Console {
            &mut self.console
        } else {
            &mut self.applet
        }
    }

    fn collect(&mut self) -> bool {
        let mut moved = false;
        for from in [Role::Console, Role::Applet] {
            let to = if from == Role::Console {
                Role::Applet
            } else {
                Role::Console
            };
            while let Some(t) = self.side(from).poll_transmit() {
                moved = true;
                let t = match self.filter.as_mut() {
                    Some(f) => match f(from, t) {
                        Some(t) => t,
                        None => continue,
                    },
                    None => t,
                };
                self.bytes[usize::from(from == Role::Applet)][t.channel.id() as usize] +=
                    t.data.len() as u64;
                self.flight.push_back(InFlight {
                    at: self.now + self.latency,
                    to,
                    transmit: t,
                });
            }
            while let Some(e) = self.side(from).poll_event() {
                if from == Role::Console {
                    self.console_events.push(e);
                } else {
                    self.applet_events.push(e);
                }
            }
        }
        moved
    }

    /// One step: deliver what is due, or advance the clock to the next
    /// delivery or timer. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        if self.collect() {
            return true;
        }
        if self.flight.is_empty() && (self.console.is_closed() && self.applet.is_closed()) {
            return false;
        }
        let due = self.flight.front().map(|f| f.at);
        let timer = [self.console.poll_timeout(), self.applet.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let next = match (due, timer) {
            (Some(d), Some(t)) => d.min(t),
            (Some(d), None) => d,
            (None, Some(t)) => t,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        while self.flight.front().is_some_and(|f| f.at <= self.now) {
            let Some(f) = self.flight.pop_front() else {
                break;
            };
            let now = self.now;
            self.side(f.to)
                .handle_data(f.transmit.channel, &f.transmit.data, now);
        }
        for role in [Role::Console, Role::Applet] {
            let now = self.now;
            if self.side(role).poll_timeout().is_some_and(|t| t <= now) {
                self.side(role).handle_timeout(now);
            }
        }
        true
    }

    /// Runs until both sides are quiet (no traffic in flight); timers that
    /// are merely pending (keepalive) do not keep it going.
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.collect() && self.flight.is_empty() {
                return;
            }
            self.step();
        }
        panic!("pair did not settle");
    }

    /// Collects what both sides queued; whether any traffic is under way.
    pub fn traffic(&mut self) -> bool {
        self.collect() || !self.flight.is_empty()
    }

    /// Runs for `d` of virtual time, timers included.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1_000_000 {
            self.collect();
            let due = self.flight.front().map(|f| f.at);
            let timer = [self.console.poll_timeout(), self.applet.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let next = [due, timer].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }

    /// Sends raw bytes to one side as if from the other.
    pub fn inject(&mut self, to: Role, channel: Channel, data: &[u8]) {
        let now = self.now;
        self.side(to).handle_data(channel, data, now);
        self.collect();
    }

    pub fn events(&self, role: Role) -> &[Event] {
        if role == Role::Console {
            &self.console_events
        } else {
            &self.applet_events
        }
    }

    pub fn take_events(&mut self, role: Role) -> Vec<Event> {
        std::mem::take(if role == Role::Console {
            &mut self.console_events
        } else {
            &mut self.applet_events
        })
    }

    pub fn closed_error(&self, role: Role) -> Option<&crate::error::SessionError> {
        self.events(role).iter().find_map(|e| match e {
            Event::Closed { error, .. } => error.as_ref(),
            _ => None,
        })
    }
}

/// A deterministic generator for test data (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64() as u8;
        }
    }
    pub fn bytes(&mut self, len: usize) -> Bytes {
        let mut v = vec![0; len];
        self.fill(&mut v);
        v.into()
    }
}
