//! The relay backend through a real hub on loopback: every channel, only
//! ciphertext at the hub, fingerprints pinned, tokens single-use, garbage and
//! stalled readers contained.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::SinkExt;
use secours_protocol::Channel;
use secours_protocol::wire::Message;
use secours_transport::identity::LocalIdentity;
use secours_transport::relay::{self, HubConfig, RelayHub, RelayToken, Side};
use secours_transport::{Link, LinkError, LinkEvent, PathKind};

async fn start_hub(config: HubConfig) -> (RelayHub, String) {
    let hub = RelayHub::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(hub.clone().serve(listener));
    (hub, base)
}

async fn pair(
    base: &str,
    token: &RelayToken,
) -> (Result<Link, LinkError>, Result<Link, LinkError>) {
    let c = LocalIdentity::generate().unwrap();
    let a = LocalIdentity::generate().unwrap();
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let (b1, t1, b2, t2) = (
        base.to_owned(),
        token.clone(),
        base.to_owned(),
        token.clone(),
    );
    let applet = tokio::spawn(async move { relay::connect(&b2, &t2, Side::Applet, &a, cfp).await });
    let console = relay::connect(&b1, &t1, Side::Console, &c, afp).await;
    (console, applet.await.unwrap())
}

#[tokio::test]
async fn every_channel_through_the_hub_sees_only_ciphertext() {
    let (hub, base) = start_hub(HubConfig::default()).await;
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let tap = seen.clone();
    hub.set_tap(move |b| tap.lock().unwrap().extend_from_slice(b));
    let token = hub.issue();
    let (console, applet) = pair(&base, &token).await;
    let (console, mut applet) = (console.unwrap(), applet.unwrap());
    assert_eq!(console.path().kind, PathKind::Relay);
    for (channel, frame) in common::one_of_each() {
        console.send(channel, frame).await.unwrap();
    }
    let got = common::receive(&mut applet, 6).await;
    assert!(
        got.iter()
            .any(|m| matches!(m, Message::ChatMessage(c) if c.text == "SECRET-PLAINTEXT-MARKER"))
    );
    assert!(
        got.iter()
            .any(|m| matches!(m, Message::FileChunk(c) if c.data.len() == 300_000))
    );
    for n in 0..1000 {
        applet.send(Channel::Chat, common::chat(n)).await.unwrap();
    }
    let mut console = console;
    let ids: Vec<u64> = common::receive(&mut console, 1000)
        .await
        .iter()
        .map(|m| {
            if let Message::ChatMessage(c) = m {
                c.id
            } else {
                u64::MAX
            }
        })
        .collect();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    // The applet acknowledged what it read before it wrote the chats: the
    // console knows the round trip through the peer and a rate.
    let stats = console.stats();
    assert!(stats.rtt > Duration::ZERO, "{stats:?}");
    assert!(stats.send_rate_bps > 0, "{stats:?}");
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() > 400_000,
        "the hub forwarded {} bytes",
        seen.len()
    );
    let marker = b"SECRET-PLAINTEXT-MARKER";
    assert!(
        !seen.windows(marker.len()).any(|w| w == marker),
        "plaintext crossed the hub"
    );
    // The file chunk was 300 KB of 0x07: no long run of it is visible either.
    assert!(!seen.windows(64).any(|w| w.iter().all(|b| *b == 7)));
    assert_eq!(hub.stats().paired.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let (hub, base) = start_hub(HubConfig::default()).await;
    let token = hub.issue();
    let c = LocalIdentity::generate().unwrap();
    let a = LocalIdentity::generate().unwrap();
    let stranger = LocalIdentity::generate().unwrap().fingerprint();
    let cfp = c.fingerprint();
    let (b2, t2) = (base.clone(), token.clone());
    let applet = tokio::spawn(async move { relay::connect(&b2, &t2, Side::Applet, &a, cfp).await });
    let console = relay::connect(&base, &token, Side::Console, &c, stranger).await;
    assert!(
        matches!(console, Err(LinkError::FingerprintMismatch(m)) if m.expected == stranger),
        "{console:?}"
    );
    let applet = applet.await.unwrap();
    assert!(
        applet.is_err(),
        "the applet must not get a link: {applet:?}"
    );
}

#[tokio::test]
async fn tokens_are_single_use_and_checked() {
    let (hub, base) = start_hub(HubConfig::default()).await;
    let token = hub.issue();
    let (c, a) = pair(&base, &token).await;
    let (_c, _a) = (c.unwrap(), a.unwrap());
    // Reused after pairing.
    let id = LocalIdentity::generate().unwrap();
    let fp = id.fingerprint();
    let again = relay::connect(&base, &token, Side::Console, &id, fp).await;
    assert!(matches!(again, Err(LinkError::Relay(_))), "{again:?}");
    // Never issued.
    let forged = RelayToken::from_string("ab".repeat(32));
    assert!(matches!(
        relay::connect(&base, &forged, Side::Applet, &id, fp).await,
        Err(LinkError::Relay(_))
    ));
    // Expired.
    let (hub2, base2) = start_hub(HubConfig {
        token_ttl: Duration::from_millis(50),
        ..HubConfig::default()
    })
    .await;
    let old = hub2.issue();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        relay::connect(&base2, &old, Side::Applet, &id, fp).await,
        Err(LinkError::Relay(_))
    ));
    assert!(hub.stats().refused.load(Ordering::Relaxed) >= 2);
}

#[tokio::test]
async fn garbage_from_one_pair_does_not_harm_another() {
    let (hub, base) = start_hub(HubConfig::default()).await;
    // A healthy session first.
    let good = hub.issue();
    let (c, a) = pair(&base, &good).await;
    let (console, mut applet) = (c.unwrap(), a.unwrap());
    // A hostile "console" pairs with a real applet and sends junk.
    let bad = hub.issue();
    let a_id = LocalIdentity::generate().unwrap();
    let some = LocalIdentity::generate().unwrap().fingerprint();
    let (b2, t2) = (base.clone(), bad.clone());
    let victim =
        tokio::spawn(async move { relay::connect(&b2, &t2, Side::Applet, &a_id, some).await });
    let url = format!("{base}/relay/v1/{}?side=console", bad.as_str());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        vec![0x16, 3, 3, 0xFF, 0xFF, 1, 2, 3].into(),
    ))
    .await
    .unwrap();
    let victim = tokio::time::timeout(Duration::from_secs(10), victim)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(victim, Err(LinkError::Tls(_) | LinkError::Io(_))),
        "{victim:?}"
    );
    // The healthy pair carries on.
    console.send(Channel::Chat, common::chat(5)).await.unwrap();
    let got = common::receive(&mut applet, 1).await;
    assert!(matches!(&got[0], Message::ChatMessage(c) if c.id == 5));
}

#[tokio::test]
async fn stalled_reader_is_bounded_and_timed_out() {
    let idle = Duration::from_millis(600);
    let (hub, base) = start_hub(HubConfig {
        idle_timeout: idle,
        ..HubConfig::default()
    })
    .await;
    let token = hub.issue();
    let (c, a) = pair(&base, &token).await;
    let (console, applet) = (c.unwrap(), a.unwrap());
    // The applet never reads again; the console pushes 64 MB of file data.
    let sender = tokio::spawn(async move {
        let frame = secours_protocol::wire::encode_to_bytes(Message::FileChunk(
            secours_protocol::pb::FileChunk {
                id: 1,
                offset: 0,
                data: vec![1; 256 * 1024].into(),
            },
        ))
        .unwrap();
        for _ in 0..256 {
            if tokio::time::timeout(
                Duration::from_secs(5),
                console.send(Channel::File, frame.clone()),
            )
            .await
            .is_err()
            {
                break; // backpressure reached us: good
            }
        }
        console
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let max = hub.stats().max_in_flight.load(Ordering::Relaxed);
    assert!(
        max <= 2 * relay::hub::MAX_MESSAGE as u64,
        "hub buffered {max} bytes"
    );
    assert_eq!(
        hub.stats().active.load(Ordering::Relaxed),
        0,
        "idle pair not closed"
    );
    let mut console = sender.await.unwrap();
    drop(applet);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match console.recv().await {
                Some(LinkEvent::Closed(_)) | None => return true,
                Some(_) => {}
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true));
}

#[tokio::test]
async fn standalone_relay_issues_tokens_only_with_the_secret() {
    let (_hub, base) = start_hub(HubConfig {
        issue_secret: Some("s3cret-value".into()),
        ..HubConfig::default()
    })
    .await;
    let http = base.replace("ws://", "");
    let post = |auth: &'static str| {
        let http = http.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(&http).await.unwrap();
            let req = format!(
                "POST /relay/v1/tokens HTTP/1.1\r\nHost: {http}\r\nAuthorization: {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
                .await
                .unwrap();
            out
        }
    };
    assert!(post("Bearer wrong").await.starts_with("HTTP/1.1 401"));
    let ok = post("Bearer s3cret-value").await;
    assert!(ok.starts_with("HTTP/1.1 201"), "{ok}");
    let token = ok
        .split("\"token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (c, a) = pair(&base, &RelayToken::from_string(token)).await;
    assert!(c.is_ok() && a.is_ok());
}

/// `secours/3` peers open two input lanes beside the main connection; each
/// lane pairs once, only for an issued token, and ends with its session; input
/// arriving by both routes comes out once and in order.
#[tokio::test]
async fn input_lanes_pair_once_and_end_with_their_session() {
    let (hub, base) = start_hub(HubConfig::default()).await;
    let token = hub.issue();
    let (c, a) = pair(&base, &token).await;
    let (console, mut applet) = (c.unwrap(), a.unwrap());
    let lanes = || hub.stats().lanes.load(Ordering::Relaxed);
    for _ in 0..200 {
        if lanes() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lanes(), 2, "both input lanes paired");
    // A lane is paired once; there are two; a lane needs a forwarding session.
    let refused = |lane: u8, token: &RelayToken| {
        let url = format!(
            "{base}/relay/v1/{}?side=console&lane={lane}",
            token.as_str()
        );
        async move { tokio_tungstenite::connect_async(url).await.is_err() }
    };
    assert!(refused(1, &token).await, "a used lane");
    assert!(refused(3, &token).await, "no third lane");
    let forged = RelayToken::from_string("cd".repeat(32));
    assert!(refused(1, &forged).await, "no such token");
    // Every pointer move arrives once, in order.
    let moves = 500;
    for n in 0..moves {
        let m = Message::PointerMove(secours_protocol::pb::PointerMove { x: n, y: 0 });
        console
            .send(
                Channel::Input,
                secours_protocol::wire::encode_to_bytes(m).unwrap(),
            )
            .await
            .unwrap();
    }
    let xs: Vec<i32> = common::receive(&mut applet, moves as usize)
        .await
        .iter()
        .map(|m| match m {
            Message::PointerMove(p) => p.x,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(xs, (0..moves).collect::<Vec<_>>());
    // The lanes end with their session.
    console.close();
    drop(applet);
    for _ in 0..200 {
        if lanes() == 0 && hub.stats().active.load(Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lanes(), 0);
}
