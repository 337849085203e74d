//! The connector's race of direct paths on loopback: real QUIC and real
//! WebRTC attempts beside a real relay. Both sides end on the same path:
//! QUIC when both are up, WebRTC when QUIC cannot get through, the relay
//! when neither can; a stream both ways loses, duplicates and reorders
//! nothing across the move, and the reports say why the others lost.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use secours_protocol::Channel;
use secours_protocol::signaling::SignalPayload;
use secours_protocol::wire::Message;
use secours_transport::connector::{self, Contender, DirectAttempt, Judge, PathReport, Race};
use secours_transport::identity::LocalIdentity;
use secours_transport::quic::QuicEndpoint;
use secours_transport::relay::{self, HubConfig, RelayHub, Side};
use secours_transport::webrtc::{self, Attempt, Role, Signals};
use secours_transport::{Link, LinkError, PathKind};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const N: u64 = 1000;

/// What each side's QUIC attempt gets.
#[derive(Clone, Copy)]
enum Quic {
    /// A QUIC path between the two.
    Works,
    /// The console's packets go nowhere (a firewall drops QUIC).
    Dropped,
}

struct Pair {
    console: Link,
    creports: connector::Reports,
    applet: Link,
    areports: connector::Reports,
}

async fn pair(quic: Quic, with_webrtc: bool) -> Pair {
    let hub = RelayHub::new(HubConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(hub.clone().serve(listener));
    let token = hub.issue();
    let c = LocalIdentity::generate().unwrap();
    let a = LocalIdentity::generate().unwrap();
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let (cr, ar) = tokio::join!(
        relay::connect(&base, &token, Side::Console, &c, afp),
        relay::connect(&base, &token, Side::Applet, &a, cfp),
    );

    let idle = Duration::from_millis(1500);
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_idle_timeout(idle);
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_idle_timeout(idle);
    // A socket that reads nothing: QUIC's packets are lost there.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to: SocketAddr = match quic {
        Quic::Works => applet_ep.local_addr().unwrap(),
        Quic::Dropped => sink.local_addr().unwrap(),
    };
    let (c2, a2) = (c.clone(), a.clone());
    let console_quic: DirectAttempt = Box::pin(async move {
        let _sink = sink;
        console_ep.connect(&c2, afp, to).await
    });
    let applet_quic: DirectAttempt = Box::pin(async move {
        tokio::time::timeout(Duration::from_secs(3), applet_ep.accept(&a2, cfp))
            .await
            .unwrap_or(Err(LinkError::Timeout("hole punching")))
    });
    let mut console_race = vec![(Contender::Quic, console_quic)];
    let mut applet_race = vec![(Contender::Quic, applet_quic)];
    if with_webrtc {
        let (c_out, c_to_a) = mpsc::channel::<SignalPayload>(64);
        let (a_out, a_to_c) = mpsc::channel::<SignalPayload>(64);
        let attempt = |me: &LocalIdentity, peer, role| Attempt {
            identity: me.clone(),
            peer,
            role,
            extra_candidates: vec![],
            timeout: Duration::from_secs(5),
        };
        let (ca, aa) = (
            attempt(&c, afp, Role::Offerer),
            attempt(&a, cfp, Role::Answerer),
        );
        let (cs, as_) = (
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        );
        console_race.push((
            Contender::WebRtc,
            Box::pin(webrtc::connect(
                cs,
                ca,
                Signals {
                    out: c_out,
                    incoming: a_to_c,
                },
            )),
        ));
        applet_race.push((
            Contender::WebRtc,
            Box::pin(webrtc::connect(
                as_,
                aa,
                Signals {
                    out: a_out,
                    incoming: c_to_a,
                },
            )),
        ));
    }
    let (console, creports) = connector::start_race(
        cr.unwrap(),
        Race {
            contenders: console_race,
            judge: Judge::Picks,
        },
    );
    let (applet, areports) = connector::start_race(
        ar.unwrap(),
        Race {
            contenders: applet_race,
            judge: Judge::Follows,
        },
    );
    Pair {
        console,
        creports,
        applet,
        areports,
    }
}

async fn settled(reports: &connector::Reports) -> PathReport {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(r) = reports.all().into_iter().next() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the race ends")
}

/// A stream of chat both ways, across the move: each side checks the
/// other's arrives whole and in order.
async fn stream_both_ways(p: Pair) -> (Link, Link) {
    let Pair {
        console,
        mut applet,
        ..
    } = p;
    let (mut console, applet_sender) = (console, applet.sender());
    let console_sender = console.sender();
    let send = |s: secours_transport::LinkSender| {
        tokio::spawn(async move {
            for n in 0..N {
                s.send(Channel::Chat, common::chat(n)).await.unwrap();
                // About 2.5 s: the move happens mid-stream.
                if n % 2 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    let (s1, s2) = (send(console_sender), send(applet_sender));
    let (got_a, got_c) = tokio::join!(
        common::receive(&mut applet, N as usize),
        common::receive(&mut console, N as usize)
    );
    s1.await.unwrap();
    s2.await.unwrap();
    for got in [got_a, got_c] {
        let ids: Vec<u64> = got
            .iter()
            .map(|m| match m {
                Message::ChatMessage(c) => c.id,
                _ => u64::MAX,
            })
            .collect();
        assert_eq!(
            ids,
            (0..N).collect::<Vec<_>>(),
            "lost, duplicated or reordered"
        );
    }
    (console, applet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_wins_where_quic_cannot_get_through() {
    let p = pair(Quic::Dropped, true).await;
    let (creports, areports) = (p.creports.clone(), p.areports.clone());
    let (console, applet) = stream_both_ways(p).await;
    assert_eq!(settled(&creports).await, PathReport::Direct);
    assert_eq!(settled(&areports).await, PathReport::Direct);
    assert_eq!(console.path().kind, PathKind::WebRtc);
    assert_eq!(applet.path().kind, PathKind::WebRtc);
    let why = creports.losers().join("; ");
    assert!(why.starts_with("QUIC: "), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_is_preferred_when_both_are_up() {
    let p = pair(Quic::Works, true).await;
    let (creports, areports) = (p.creports.clone(), p.areports.clone());
    let (console, applet) = stream_both_ways(p).await;
    assert_eq!(settled(&creports).await, PathReport::Direct);
    assert_eq!(settled(&areports).await, PathReport::Direct);
    assert_eq!(console.path().kind, PathKind::Direct);
    assert_eq!(applet.path().kind, PathKind::Direct);
    let why = creports.losers().join("; ");
    assert!(why.starts_with("WebRTC: "), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_up_stays_on_the_relay_saying_why() {
    let p = pair(Quic::Dropped, false).await;
    let (creports, areports) = (p.creports.clone(), p.areports.clone());
    let (console, applet) = stream_both_ways(p).await;
    for r in [&creports, &areports] {
        match settled(r).await {
            PathReport::DirectFailed(LinkError::NoDirectPath(why)) => {
                assert!(why.starts_with("QUIC: "), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(console.path().kind, PathKind::Relay);
    assert_eq!(applet.path().kind, PathKind::Relay);
}
