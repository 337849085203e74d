//! The QUIC backend on loopback: every channel, ordering, wrong fingerprints
//! refused on both sides, and a client address change survived.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;

use secours_protocol::pb;
use secours_protocol::wire::Message;
use secours_transport::identity::LocalIdentity;
use secours_transport::quic::QuicEndpoint;
use secours_transport::{LinkError, PathKind};

async fn pair() -> (
    secours_transport::Link,
    secours_transport::Link,
    QuicEndpoint,
) {
    let console_id = LocalIdentity::generate().unwrap();
    let applet_id = LocalIdentity::generate().unwrap();
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = applet_ep.local_addr().unwrap();
    let (cfp, afp) = (console_id.fingerprint(), applet_id.fingerprint());
    let accept = tokio::spawn(async move { applet_ep.accept(&applet_id, cfp).await });
    let console = console_ep.connect(&console_id, afp, addr).await.unwrap();
    let applet = accept.await.unwrap().unwrap();
    (console, applet, console_ep)
}

#[tokio::test]
async fn every_channel_both_ways_in_order() {
    let (console, mut applet, _ep) = pair().await;
    assert_eq!(console.path().kind, PathKind::Direct);
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
    // Ordered channel: 2000 chat messages arrive in order.
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
    assert!(console.stats().rtt > std::time::Duration::ZERO);
    assert!(console.stats().bytes_received > 0);
}

#[tokio::test]
async fn wrong_fingerprint_is_refused_on_both_sides() {
    let console_id = LocalIdentity::generate().unwrap();
    let impostor = LocalIdentity::generate().unwrap();
    let applet_id = LocalIdentity::generate().unwrap();
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = applet_ep.local_addr().unwrap();
    let cfp = console_id.fingerprint();
    // The applet expects the console; an impostor connects.
    let accept = tokio::spawn(async move { applet_ep.accept(&applet_id, cfp).await });
    let afp = LocalIdentity::generate().unwrap().fingerprint(); // and expects someone else too
    let client = console_ep.connect(&impostor, afp, addr).await;
    assert!(
        matches!(client, Err(LinkError::FingerprintMismatch(_))),
        "{client:?}"
    );
    let server = accept.await.unwrap();
    assert!(
        matches!(
            server,
            Err(LinkError::RefusedByPeer | LinkError::Quic(_) | LinkError::Timeout(_))
        ),
        "{server:?}"
    );
}

#[tokio::test]
async fn applet_refuses_unknown_console() {
    let console_id = LocalIdentity::generate().unwrap();
    let applet_id = LocalIdentity::generate().unwrap();
    let stranger = LocalIdentity::generate().unwrap().fingerprint();
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = applet_ep.local_addr().unwrap();
    let afp = applet_id.fingerprint();
    // The applet was told to expect a stranger, not this console.
    let accept = tokio::spawn(async move { applet_ep.accept(&applet_id, stranger).await });
    let client = console_ep.connect(&console_id, afp, addr).await;
    let server = accept.await.unwrap();
    assert!(
        matches!(server, Err(LinkError::FingerprintMismatch(m)) if m.expected == stranger),
        "{server:?}"
    );
    // The console learns it was refused, at connect or as the link's end.
    match client {
        Err(e) => assert_eq!(e, LinkError::RefusedByPeer),
        Ok(mut link) => loop {
            match link.recv().await {
                Some(secours_transport::LinkEvent::Closed(e)) => {
                    assert_eq!(e, Some(LinkError::RefusedByPeer));
                    break;
                }
                Some(_) => continue,
                None => panic!("no close reported"),
            }
        },
    }
}

#[tokio::test]
async fn survives_client_address_change() {
    let (console, mut applet, ep) = pair().await;
    console
        .send(secours_protocol::Channel::Chat, common::chat(1))
        .await
        .unwrap();
    common::receive(&mut applet, 1).await;
    let before = console.path().local.unwrap();
    // Wi-Fi to 4G: the console's socket changes under the connection.
    ep.rebind(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let after = console.path().local.unwrap();
    assert_ne!(before.port(), after.port());
    for n in 2..50 {
        console
            .send(secours_protocol::Channel::Chat, common::chat(n))
            .await
            .unwrap();
    }
    let got = common::receive(&mut applet, 48).await;
    assert!(matches!(
        got.last(),
        Some(Message::ChatMessage(pb::ChatMessage { id: 49, .. }))
    ));
    // And the applet now sees the new address.
    let mut console = console;
    applet
        .send(secours_protocol::Channel::Chat, common::chat(99))
        .await
        .unwrap();
    common::receive(&mut console, 1).await;
    assert_eq!(applet.path().remote.map(|a| a.port()), Some(after.port()));
}

/// Input frames travel twice (stream and datagram copy) over a path losing
/// 10 % of packets each way: each arrives exactly once and in order, both
/// ways (the applet's stream offsets start after the channel byte, the
/// console's do not).
#[tokio::test]
async fn input_arrives_once_and_in_order_over_a_lossy_path() {
    use secours_protocol::Channel;
    use secours_protocol::wire::{Decoded, FrameReader};
    use secours_transport::netsim::{Direction, Profile, UdpProxy};
    use std::time::Duration;

    let lossy = Direction {
        rate_bps: 0,
        delay: Duration::from_millis(5),
        jitter: Duration::ZERO,
        loss: 0.10,
        queue_bytes: 1 << 20,
    };
    let profile = Profile {
        name: "lossy-test",
        down: lossy,
        up: lossy,
    };
    let console_id = LocalIdentity::generate().unwrap();
    let applet_id = LocalIdentity::generate().unwrap();
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let proxy = UdpProxy::start(applet_ep.local_addr().unwrap(), profile, 5)
        .await
        .unwrap();
    let (cfp, afp) = (console_id.fingerprint(), applet_id.fingerprint());
    let accept = tokio::spawn(async move { applet_ep.accept(&applet_id, cfp).await });
    let mut console = console_ep
        .connect(&console_id, afp, proxy.addr())
        .await
        .unwrap();
    let mut applet = accept.await.unwrap().unwrap();

    async fn exchange(from: &secours_transport::Link, to: &mut secours_transport::Link, n: i32) {
        send_moves(from, n, Duration::from_millis(2)).await;
        let mut reader = FrameReader::new(Channel::Input);
        let mut seen = Vec::new();
        while seen.len() < n as usize {
            reader.push(&next_data(to, Channel::Input).await);
            while let Ok(Some(Decoded::Message(Message::PointerMove(p)))) = reader.next_frame() {
                seen.push(p.x);
            }
        }
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }
    exchange(&console, &mut applet, 300).await;
    exchange(&applet, &mut console, 100).await;
    assert!(
        proxy
            .stats()
            .lost
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

/// A file of `chunks` x 64 KiB from console to applet over a lossy,
/// rate-limited path arrives whole and in order, whether both peers
/// acknowledge deliveries (`secours/2`) or the applet predates them.
async fn file_over_a_lossy_path(applet_offer: &'static [&'static [u8]], chunks: u64) {
    use secours_protocol::Channel;
    use secours_protocol::wire::{self, Decoded, FrameReader};
    use secours_transport::LinkEvent;
    use secours_transport::netsim::{Direction, Profile, UdpProxy};
    use std::time::Duration;

    let lossy = Direction {
        rate_bps: 20_000_000,
        delay: Duration::from_millis(5),
        jitter: Duration::ZERO,
        loss: 0.03,
        queue_bytes: 256 * 1024,
    };
    let profile = Profile {
        name: "lossy-file-test",
        down: lossy,
        up: lossy,
    };
    let console_id = LocalIdentity::generate().unwrap();
    let applet_id = LocalIdentity::generate().unwrap();
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_offer(applet_offer);
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let proxy = UdpProxy::start(applet_ep.local_addr().unwrap(), profile, 9)
        .await
        .unwrap();
    let (cfp, afp) = (console_id.fingerprint(), applet_id.fingerprint());
    let accept = tokio::spawn(async move { applet_ep.accept(&applet_id, cfp).await });
    let console = console_ep
        .connect(&console_id, afp, proxy.addr())
        .await
        .unwrap();
    let mut applet = accept.await.unwrap().unwrap();
    let sender = tokio::spawn(async move {
        for n in 0..chunks {
            let chunk = pb::FileChunk {
                id: 7,
                offset: n * 65_536,
                data: vec![(n % 251) as u8; 65_536].into(),
            };
            let frame = wire::encode_to_bytes(Message::FileChunk(chunk)).unwrap();
            console.send(Channel::File, frame).await.unwrap();
        }
        console
    });
    let mut reader = FrameReader::new(Channel::File);
    let mut next = 0u64;
    while next < chunks {
        let ev = tokio::time::timeout(Duration::from_secs(60), applet.recv())
            .await
            .expect("file data keeps coming");
        if let Some(LinkEvent::Data {
            channel: Channel::File,
            data,
        }) = ev
        {
            reader.push(&data);
            while let Ok(Some(Decoded::Message(Message::FileChunk(c)))) = reader.next_frame() {
                assert_eq!(c.offset, next * 65_536);
                assert!(c.data.iter().all(|b| *b == (next % 251) as u8));
                next += 1;
            }
        }
    }
    let _console = sender.await.unwrap();
    assert!(
        proxy
            .stats()
            .lost
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

#[tokio::test]
async fn acknowledged_file_crosses_a_lossy_path_whole_and_in_order() {
    file_over_a_lossy_path(secours_transport::identity::OFFER, 48).await;
}

#[tokio::test]
async fn a_peer_without_acknowledgements_still_gets_files() {
    file_over_a_lossy_path(secours_transport::identity::OFFER_V1, 48).await;
}

/// The applet sends a file while it reads none of its events (the console's
/// input piles up in them): the console's acknowledgements must still reach
/// its file sender, or the file would crawl at one piece per stall probe.
#[tokio::test]
async fn a_file_flows_while_its_sender_reads_no_events() {
    use secours_protocol::Channel;
    use std::time::Duration;

    let (mut console, applet, _ep) = pair().await;
    // One event each (more than the applet's event queue holds).
    send_moves(&console, 1500, Duration::from_micros(500)).await;
    let file = bytes::Bytes::from(vec![7u8; 4 << 20]);
    let sender = tokio::spawn(async move {
        applet.send(Channel::File, file).await.unwrap();
        applet
    });
    let mut got = 0;
    while got < 4 << 20 {
        // Liveness, not speed: on loopback this takes well under a second;
        // without acknowledgements it takes minutes.
        got += next_data(&mut console, Channel::File).await.len();
    }
    let _applet = sender.await.unwrap();
}

/// Pointer moves `x = 0..n` on the input channel, `pause` apart.
async fn send_moves(from: &secours_transport::Link, n: i32, pause: std::time::Duration) {
    for x in 0..n {
        let moved = Message::PointerMove(pb::PointerMove { x, y: 0 });
        let frame = secours_protocol::wire::encode_to_bytes(moved).unwrap();
        from.send(secours_protocol::Channel::Input, frame)
            .await
            .unwrap();
        tokio::time::sleep(pause).await;
    }
}

/// The next bytes `on` brings on `channel` (other events skipped), within a
/// liveness timeout.
async fn next_data(
    on: &mut secours_transport::Link,
    channel: secours_protocol::Channel,
) -> bytes::Bytes {
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(30), on.recv())
            .await
            .expect("data keeps coming");
        match ev {
            Some(secours_transport::LinkEvent::Data { channel: c, data }) if c == channel => {
                return data;
            }
            Some(_) => {}
            None => panic!("the link ended before {channel:?} data came"),
        }
    }
}
