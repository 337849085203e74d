//! `[turn] coturn` (`secours server --coturn`): the node starts Debian's
//! coturn beside it with the secret it issues each session's credentials
//! from, gives peers its URL, and stops it with itself. Credentials the node
//! grants allocate a relayed address; credentials from another secret are
//! refused. Skipped, saying why, where coturn is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use secours_signaling::Secret;
use secours_signaling::config::Turn;
use secours_transport::turn::{TurnClient, TurnEvent, issue};
use tokio::net::UdpSocket;

/// Allocates with these credentials; the first event (allocated or failed).
async fn allocate(server: SocketAddr, username: &str, password: Secret) -> TurnEvent {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut client = TurnClient::new(username, password, Instant::now());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(d) = client.poll_transmit() {
            socket.send_to(&d, server).await.unwrap();
        }
        if let Some(e) = client.poll_event() {
            return e;
        }
        assert!(Instant::now() < deadline, "no answer from coturn");
        let wake = client
            .poll_timeout()
            .unwrap_or(deadline)
            .min(Instant::now() + Duration::from_millis(100));
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, _) = r.unwrap();
                client.handle_input(&buf[..n], Instant::now());
            }
            () = tokio::time::sleep_until(wake.into()) => client.handle_timeout(Instant::now()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_runs_coturn_whose_credentials_it_grants() {
    if std::process::Command::new("turnserver")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: turnserver (coturn) is not installed; scripts/setup.sh installs it");
        return;
    }
    let db = backends().await.remove(0);
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let h = Harness::start_with(&db, |c| {
        c.turn = Some(Turn {
            urls: Vec::new(),
            secret: Secret::from("node-secret"),
            ttl_s: 600,
            coturn: Some(listen),
        });
    })
    .await;
    assert_eq!(h.server.coturn_addr(), Some(listen));
    let turn = h.server.state.config.turn.clone().unwrap();
    assert_eq!(turn.urls, [format!("turn:127.0.0.1:{port}?transport=udp")]);

    let grant = turn.grant("session-42");
    match allocate(listen, &grant.username, grant.credential).await {
        TurnEvent::Allocated { relayed } => assert_eq!(relayed.ip(), listen.ip()),
        other => panic!("the node's credentials were refused: {other:?}"),
    }
    let forged = issue(
        &Secret::from("another-secret"),
        "session-42",
        SystemTime::now(),
        Duration::from_secs(600),
    );
    let refused = allocate(listen, &forged.username, forged.password).await;
    assert!(
        matches!(refused, TurnEvent::Failed(_)),
        "a credential from another secret: {refused:?}"
    );

    // Stopped with the node: its port is free again.
    drop(h);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::UdpSocket::bind(listen).is_err() {
        assert!(Instant::now() < deadline, "coturn outlived the node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
