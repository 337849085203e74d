//! Two drivers under a virtual clock, through an in-memory network with a
//! delay and optional loss: the whole of ICE, DTLS and SCTP, no sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use secours_protocol::Channel;
use secours_protocol::signaling::SignalPayload;

use super::driver::{Driver, Role};
use crate::LinkError;
use crate::identity::LocalIdentity;
use crate::link::LinkEvent;

struct Net {
    now: Instant,
    a: Driver,
    b: Driver,
    addr_a: SocketAddr,
    addr_b: SocketAddr,
    delay: Duration,
    /// In flight: (arrival, to_b, from, to, bytes).
    wire: VecDeque<(Instant, bool, SocketAddr, SocketAddr, Vec<u8>)>,
    /// Drop every datagram while set (a network change).
    cut: bool,
    /// Lose every n-th datagram (0: none).
    lose_every: usize,
    sent: usize,
    events_a: Vec<LinkEvent>,
    events_b: Vec<LinkEvent>,
    signal_errors: Vec<LinkError>,
    b_ufrag: String,
}

impl Net {
    fn new(fp_b_seen_by_a: Option<secours_protocol::Fingerprint>) -> Net {
        let now = Instant::now();
        let ia = LocalIdentity::generate().unwrap();
        let ib = LocalIdentity::generate().unwrap();
        let expected_by_a = fp_b_seen_by_a.unwrap_or(ib.fingerprint());
        let mut a = Driver::new(&ia, expected_by_a, Role::Offerer, now);
        let mut b = Driver::new(&ib, ia.fingerprint(), Role::Answerer, now);
        let addr_a: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let addr_b: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        a.add_local_candidate(str0m::Candidate::host(addr_a, "udp").unwrap(), now);
        b.add_local_candidate(str0m::Candidate::host(addr_b, "udp").unwrap(), now);
        a.start(now).unwrap();
        let b_ufrag = b.local_ufrag();
        Net {
            now,
            a,
            b,
            addr_a,
            addr_b,
            delay: Duration::from_millis(10),
            wire: VecDeque::new(),
            cut: false,
            lose_every: 0,
            sent: 0,
            events_a: vec![],
            events_b: vec![],
            signal_errors: vec![],
            b_ufrag,
        }
    }

    /// Moves everything that is due, then time to the next thing due.
    fn step(&mut self) {
        // Signals go at once, in order (the signaling socket).
        while let Some(s) = self.a.poll_signal() {
            if let Err(e) = self.b.handle_signal(&s, self.now) {
                self.signal_errors.push(e);
            }
        }
        while let Some(s) = self.b.poll_signal() {
            if let Err(e) = self.a.handle_signal(&s, self.now) {
                self.signal_errors.push(e);
            }
        }
        for to_b in [true, false] {
            let drv = if to_b { &mut self.a } else { &mut self.b };
            let mut out = vec![];
            while let Some(t) = drv.poll_transmit() {
                out.push(t);
            }
            for t in out {
                self.sent += 1;
                let lost = self.cut || (self.lose_every > 0 && self.sent % self.lose_every == 0);
                if !lost {
                    self.wire.push_back((
                        self.now + self.delay,
                        to_b,
                        t.source,
                        t.destination,
                        t.contents,
                    ));
                }
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push(e);
        }
        let next_packet = self.wire.front().map(|w| w.0);
        let next = [
            Some(self.a.poll_timeout()),
            Some(self.b.poll_timeout()),
            next_packet,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap();
        self.now = self.now.max(next);
        while self.wire.front().is_some_and(|w| w.0 <= self.now) {
            let (_, to_b, from, to, bytes) = self.wire.pop_front().unwrap();
            let drv = if to_b { &mut self.b } else { &mut self.a };
            drv.handle_datagram(from, to, &bytes, self.now);
        }
        if self.a.poll_timeout() <= self.now {
            self.a.handle_timeout(self.now);
        }
        if self.b.poll_timeout() <= self.now {
            self.b.handle_timeout(self.now);
        }
    }

    fn run_until(&mut self, what: &str, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(
                self.now < end,
                "{what}: not within {limit:?} of virtual time"
            );
            self.step();
        }
    }

    fn data_b(&self, channel: Channel) -> Vec<u8> {
        data_of(&self.events_b, channel)
    }
}

fn data_of(events: &[LinkEvent], channel: Channel) -> Vec<u8> {
    let mut out = vec![];
    for e in events {
        if let LinkEvent::Data { channel: c, data } = e
            && *c == channel
        {
            out.extend_from_slice(data);
        }
    }
    out
}

#[test]
fn two_peers_open_every_channel_and_exchange_on_each() {
    let mut net = Net::new(None);
    net.run_until("open", Duration::from_secs(10), |n| {
        n.a.is_open() && n.b.is_open()
    });
    assert!(net.signal_errors.is_empty(), "{:?}", net.signal_errors);
    let now = net.now;
    for (i, c) in [
        Channel::Control,
        Channel::Input,
        Channel::Chat,
        Channel::Clipboard,
    ]
    .into_iter()
    .enumerate()
    {
        net.a.send(c, Bytes::from(vec![i as u8; 100]), now);
        net.b.send(c, Bytes::from(vec![0x40 + i as u8; 50]), now);
    }
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
    net.a.send(Channel::File, Bytes::from(file.clone()), now);
    let frame: Vec<u8> = (0..150_000u32).map(|i| (i * 13) as u8).collect();
    net.a.send(Channel::Video, Bytes::from(frame.clone()), now);
    net.run_until("delivered", Duration::from_secs(20), |n| {
        n.data_b(Channel::File).len() == file.len()
            && data_of(&n.events_a, Channel::Clipboard).len() == 50
    });
    assert_eq!(net.data_b(Channel::File), file);
    assert_eq!(net.data_b(Channel::Video), frame);
    for (i, c) in [
        Channel::Control,
        Channel::Input,
        Channel::Chat,
        Channel::Clipboard,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(net.data_b(c), vec![i as u8; 100], "{c:?}");
        assert_eq!(data_of(&net.events_a, c), vec![0x40 + i as u8; 50], "{c:?}");
    }
    // The input arrived once, although it travelled twice (copies).
    net.run_until("statistics", Duration::from_secs(2), |n| {
        n.a.path().remote.is_some()
    });
    let stats = net.a.stats();
    assert!(stats.bytes_sent >= 300_000);
    assert!(net.b.stats().bytes_received >= 300_000);
    let path = net.a.path();
    assert_eq!(path.kind, crate::PathKind::WebRtc);
    assert_eq!(path.remote, Some(net.addr_b));
    assert_eq!(path.local, Some(net.addr_a));
    assert!(stats.rtt >= Duration::from_millis(20), "{:?}", stats.rtt);
}

#[test]
fn input_gets_through_loss_in_order_and_once() {
    let mut net = Net::new(None);
    net.run_until("open", Duration::from_secs(10), |n| {
        n.a.is_open() && n.b.is_open()
    });
    net.lose_every = 5;
    let mut want = vec![];
    for i in 0..200u32 {
        let ev = i.to_be_bytes();
        want.extend_from_slice(&ev);
        let now = net.now;
        net.a.send(Channel::Input, Bytes::copy_from_slice(&ev), now);
        let until = net.now + Duration::from_millis(5);
        net.run_until("tick", Duration::from_secs(1), |n| n.now >= until);
    }
    net.run_until("all input", Duration::from_secs(30), |n| {
        n.data_b(Channel::Input).len() == want.len()
    });
    assert_eq!(net.data_b(Channel::Input), want);
}

#[test]
fn a_wrong_announced_fingerprint_ends_the_attempt_typed() {
    let wrong = secours_protocol::Fingerprint::from_bytes([7; 32]);
    let mut net = Net::new(Some(wrong));
    net.run_until("the answer", Duration::from_secs(5), |n| {
        !n.signal_errors.is_empty()
    });
    match &net.signal_errors[0] {
        LinkError::FingerprintMismatch(m) => assert_eq!(m.expected, wrong),
        other => panic!("{other:?}"),
    }
    assert!(!net.a.is_open());
}

#[test]
fn an_ice_restart_brings_the_link_back_after_the_network_changes() {
    let mut net = Net::new(None);
    net.run_until("open", Duration::from_secs(10), |n| {
        n.a.is_open() && n.b.is_open()
    });
    // The path goes dark long enough for ICE to see it (str0m keeps a
    // pair that the peer checked in the last 15 s).
    net.cut = true;
    let until = net.now + Duration::from_secs(25);
    net.run_until("dark", Duration::from_secs(26), |n| n.now >= until);
    net.cut = false;
    assert!(net.a.restarts >= 1, "the offerer restarted ICE");
    let now = net.now;
    net.a.send(Channel::Chat, Bytes::from_static(b"back"), now);
    net.run_until("after the restart", Duration::from_secs(60), |n| {
        n.data_b(Channel::Chat) == b"back"
    });
    assert!(net.signal_errors.is_empty(), "{:?}", net.signal_errors);
    assert!(!net.a.is_closed() && !net.b.is_closed());
}

#[test]
fn hostile_candidates_are_counted_not_taken() {
    let mut net = Net::new(None);
    net.run_until("open", Duration::from_secs(10), |n| {
        n.a.is_open() && n.b.is_open()
    });
    // Of a generation that is not in force, then hostile in one that is.
    let bad = SignalPayload::Ice {
        ufrag: "nope".into(),
        candidates: vec!["candidate:1 1 udp 1 224.0.0.1 4000 typ host".into()],
    };
    let now = net.now;
    net.a.handle_signal(&bad, now).unwrap();
    assert_eq!(net.a.refused_candidates, 1);
    let sdp_ufrag = net.b_ufrag.clone();
    let many: Vec<String> = (0..8)
        .map(|i| format!("candidate:{i} 1 udp 1 0.0.0.0 {} typ host", 4000 + i))
        .collect();
    for _ in 0..500 {
        let hostile = SignalPayload::Ice {
            ufrag: sdp_ufrag.clone(),
            candidates: many.clone(),
        };
        net.a.handle_signal(&hostile, now).unwrap();
    }
    assert_eq!(net.a.refused_candidates, 1 + 500 * 8);
    assert!(net.a.is_open());
}
