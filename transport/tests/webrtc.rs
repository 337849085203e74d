//! The WebRTC backend between two Rust peers on loopback, its signals
//! going through the server's own check (`PeerMessage::parse`): every
//! channel both ways, ordering, statistics and path; a fingerprint other
//! than the announced one and a malformed SDP end the attempt typed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use secours_protocol::Fingerprint;
use secours_protocol::signaling::{PeerMessage, SdpType, SignalPayload};
use secours_protocol::wire::Message;
use secours_transport::identity::LocalIdentity;
use secours_transport::webrtc::{self, Attempt, Role, Signals};
use secours_transport::{Link, LinkError, PathKind};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Carries signals one way as the server would: serialised, parsed and
/// checked, forwarded only if valid.
fn through_server(mut from: mpsc::Receiver<SignalPayload>, to: mpsc::Sender<SignalPayload>) {
    tokio::spawn(async move {
        while let Some(p) = from.recv().await {
            let text = serde_json::to_string(&PeerMessage::Signal {
                session_id: None,
                payload: p,
            })
            .unwrap();
            match PeerMessage::parse(&text) {
                Ok(PeerMessage::Signal { payload, .. }) => {
                    if to.send(payload).await.is_err() {
                        return;
                    }
                }
                other => panic!("the server refused a peer's signal: {other:?} {text}"),
            }
        }
    });
}

struct Side {
    attempt: Attempt,
    socket: UdpSocket,
    signals: Signals,
}

async fn sides(expect_b: Option<Fingerprint>) -> (Side, Side) {
    let ia = LocalIdentity::generate().unwrap();
    let ib = LocalIdentity::generate().unwrap();
    let (a_out, a_to_server) = mpsc::channel(64);
    let (b_out, b_to_server) = mpsc::channel(64);
    let (to_a, a_in) = mpsc::channel(64);
    let (to_b, b_in) = mpsc::channel(64);
    through_server(a_to_server, to_b);
    through_server(b_to_server, to_a);
    let side = |me: &LocalIdentity, peer, role, out, incoming| {
        Attempt {
            identity: me.clone(),
            peer,
            role,
            extra_candidates: vec![],
            timeout: Duration::from_secs(4),
        }
        .with(out, incoming)
    };
    let a = side(
        &ia,
        expect_b.unwrap_or(ib.fingerprint()),
        Role::Offerer,
        a_out,
        a_in,
    )
    .await;
    let b = side(&ib, ia.fingerprint(), Role::Answerer, b_out, b_in).await;
    (a, b)
}

trait With {
    async fn with(
        self,
        out: mpsc::Sender<SignalPayload>,
        incoming: mpsc::Receiver<SignalPayload>,
    ) -> Side;
}

impl With for Attempt {
    async fn with(
        self,
        out: mpsc::Sender<SignalPayload>,
        incoming: mpsc::Receiver<SignalPayload>,
    ) -> Side {
        Side {
            attempt: self,
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            signals: Signals { out, incoming },
        }
    }
}

async fn connect(s: Side) -> Result<Link, LinkError> {
    webrtc::connect(s.socket, s.attempt, s.signals).await
}

#[tokio::test]
async fn every_channel_both_ways_in_order() {
    let (a, b) = sides(None).await;
    let (a, b) = tokio::join!(connect(a), connect(b));
    let (console, mut applet) = (a.unwrap(), b.unwrap());
    assert_eq!(console.path().kind, PathKind::WebRtc);
    for (channel, frame) in common::one_of_each() {
        console.send(channel, frame).await.unwrap();
    }
    let got = common::receive(&mut applet, 6).await;
    assert!(
        got.iter()
            .any(|m| matches!(m, Message::VideoFrame(v) if v.payload.len() == 100_000))
    );
    assert!(
        got.iter()
            .any(|m| matches!(m, Message::FileChunk(c) if c.data.len() == 300_000))
    );
    for n in 0..2000 {
        applet
            .send(secours_protocol::Channel::Chat, common::chat(n))
            .await
            .unwrap();
    }
    let mut console = console;
    let got = common::receive(&mut console, 2000).await;
    let ids: Vec<u64> = got
        .iter()
        .map(|m| match m {
            Message::ChatMessage(c) => c.id,
            _ => u64::MAX,
        })
        .collect();
    assert_eq!(ids, (0..2000).collect::<Vec<_>>());
    // Statistics come every half second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let path = console.path();
    assert!(path.local.is_some_and(|a| a.ip().is_loopback()));
    assert!(path.remote.is_some_and(|a| a.ip().is_loopback()));
    assert!(console.stats().bytes_received > 0);
    assert!(applet.stats().bytes_sent > 0);
}

#[tokio::test]
async fn a_fingerprint_other_than_the_announced_one_ends_the_attempt() {
    let wrong = LocalIdentity::generate().unwrap().fingerprint();
    let (a, b) = sides(Some(wrong)).await;
    let (a, b) = tokio::join!(connect(a), connect(b));
    match a {
        Err(LinkError::FingerprintMismatch(m)) => assert_eq!(m.expected, wrong),
        other => panic!("{other:?}"),
    }
    // The answerer never gets a link either (no fallback).
    assert!(b.is_err());
}

#[tokio::test]
async fn a_malformed_sdp_ends_the_attempt_typed() {
    let id = LocalIdentity::generate().unwrap();
    let (out, _sent) = mpsc::channel(64);
    let (to_me, incoming) = mpsc::channel(64);
    let me = Attempt {
        identity: id,
        peer: Fingerprint::from_bytes([1; 32]),
        role: Role::Answerer,
        extra_candidates: vec![],
        timeout: Duration::from_secs(5),
    }
    .with(out, incoming)
    .await;
    to_me
        .send(SignalPayload::Sdp {
            sdp_type: SdpType::Offer,
            sdp: "v=0\r\nm=application nonsense\r\n".into(),
        })
        .await
        .unwrap();
    match connect(me).await {
        Err(LinkError::Violation(why)) => assert!(why.contains("sdp"), "{why}"),
        other => panic!("{other:?}"),
    }
}
