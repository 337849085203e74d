//! The TURN client against a real TURN server (Debian's coturn, installed
//! by scripts/setup.sh) on loopback, with credentials issued the way the
//! signaling server issues them: an allocation, a peer's datagrams both
//! ways through the relay (Send indication, then a channel), and refusals
//! for a wrong secret and for expired credentials. Skipped, saying why,
//! where coturn is not installed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use secours_transport::secret::Secret;
use secours_transport::turn::{Incoming, TurnClient, TurnError, TurnEvent, issue};
use tokio::net::UdpSocket;

const SECRET: &str = "turn-test-secret";

struct Coturn(Child, SocketAddr);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn coturn() -> Option<Coturn> {
    if Command::new("turnserver")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: turnserver (coturn) is not installed; scripts/setup.sh installs it");
        return None;
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("turnserver")
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .args([
            "--use-auth-secret",
            &format!("--static-auth-secret={SECRET}"),
        ])
        .args([
            "--realm=secours.test",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-tcp-relay",
        ])
        .args([
            "--allow-loopback-peers",
            "--log-file=stdout",
            "--simple-log",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver");
    Some(Coturn(child, SocketAddr::from(([127, 0, 0, 1], port))))
}

/// Drives `client` over `socket` until `done` says so (or `within` passes);
/// returns what came from peers meanwhile.
async fn drive(
    client: &mut TurnClient,
    socket: &UdpSocket,
    server: SocketAddr,
    within: Duration,
    mut done: impl FnMut(&mut TurnClient, &[TurnEvent], &[(SocketAddr, Vec<u8>)]) -> bool,
) -> (Vec<TurnEvent>, Vec<(SocketAddr, Vec<u8>)>) {
    let deadline = Instant::now() + within;
    let (mut events, mut data) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(d) = client.poll_transmit() {
            socket.send_to(&d, server).await.unwrap();
        }
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
        if done(client, &events, &data) || Instant::now() > deadline {
            return (events, data);
        }
        let wake = client
            .poll_timeout()
            .unwrap_or(deadline)
            .min(Instant::now() + Duration::from_millis(100));
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = r.unwrap();
                if from == server {
                    if let Incoming::Data { peer, data: d } = client.handle_input(&buf[..n], Instant::now()) {
                        data.push((peer, d));
                    }
                }
            }
            () = tokio::time::sleep_until(wake.into()) => client.handle_timeout(Instant::now()),
        }
    }
}

fn allocated(events: &[TurnEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, TurnEvent::Allocated { .. } | TurnEvent::Failed(_)))
}

#[tokio::test]
async fn a_peer_reaches_us_through_the_relay_both_ways() {
    let Some(turn) = coturn() else { return };
    let creds = issue(
        &Secret::new(SECRET),
        "session-1",
        SystemTime::now(),
        Duration::from_secs(600),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut client = TurnClient::new(&creds.username, creds.password.clone(), Instant::now());
    let (events, _) = drive(
        &mut client,
        &socket,
        turn.1,
        Duration::from_secs(20),
        |_, e, _| allocated(e),
    )
    .await;
    let relayed = match events.first() {
        Some(TurnEvent::Allocated { relayed }) => *relayed,
        other => panic!("no allocation: {other:?}"),
    };
    assert_eq!(client.relayed(), Some(relayed));

    // A peer elsewhere: let it in, and hear it.
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    client.permit(peer_addr.ip(), Instant::now()).unwrap();
    // The permission takes a round trip: the peer sends until heard.
    let mut heard = Vec::new();
    for _ in 0..20 {
        peer.send_to(b"from the peer", relayed).await.unwrap();
        let (_, d) = drive(
            &mut client,
            &socket,
            turn.1,
            Duration::from_millis(300),
            |_, _, d| !d.is_empty(),
        )
        .await;
        if !d.is_empty() {
            heard = d;
            break;
        }
    }
    assert_eq!(heard.first(), Some(&(peer_addr, b"from the peer".to_vec())));

    // Our answer, first as a Send indication, then on a channel.
    let mut buf = [0u8; 64];
    socket
        .send_to(&client.wrap(peer_addr, b"indication").unwrap(), turn.1)
        .await
        .unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"indication"[..], relayed));
    client.bind_channel(peer_addr, Instant::now()).unwrap();
    let bound = |c: &mut TurnClient, _: &[TurnEvent], _: &[(SocketAddr, Vec<u8>)]| {
        c.wrap(peer_addr, b"x").is_ok_and(|d| d.len() == 5)
    };
    drive(&mut client, &socket, turn.1, Duration::from_secs(20), bound).await;
    let framed = client.wrap(peer_addr, b"channel").unwrap();
    assert_eq!(framed.len(), 4 + 7, "channel data, not an indication");
    socket.send_to(&framed, turn.1).await.unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"channel"[..], relayed));
    // And the peer's datagrams now come as channel data.
    peer.send_to(b"again", relayed).await.unwrap();
    let (_, d) = drive(
        &mut client,
        &socket,
        turn.1,
        Duration::from_secs(20),
        |_, _, d| !d.is_empty(),
    )
    .await;
    assert_eq!(d.first(), Some(&(peer_addr, b"again".to_vec())));
}

#[tokio::test]
async fn wrong_or_expired_credentials_are_refused() {
    let Some(turn) = coturn() else { return };
    let forged = issue(
        &Secret::new("not-the-secret"),
        "s",
        SystemTime::now(),
        Duration::from_secs(600),
    );
    let expired = issue(
        &Secret::new(SECRET),
        "s",
        SystemTime::now() - Duration::from_secs(3600),
        Duration::from_secs(600),
    );
    for creds in [forged, expired] {
        // A fresh address each: an allocation is per 5-tuple.
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut client = TurnClient::new(&creds.username, creds.password.clone(), Instant::now());
        let (events, _) = drive(
            &mut client,
            &socket,
            turn.1,
            Duration::from_secs(20),
            |_, e, _| allocated(e),
        )
        .await;
        assert_eq!(
            events.first(),
            Some(&TurnEvent::Failed(TurnError::Unauthorized)),
            "{}",
            creds.username
        );
        assert_eq!(client.relayed(), None);
    }
}
