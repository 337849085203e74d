//! A peer for the NAT lab (`tests/natlab.rs`), run inside a network
//! namespace. Talks to the test on stdin/stdout, one line at a time.
//!
//! `natpeer stun ADDR`: a STUN responder.
//! `natpeer hub ADDR`: a relay hub; prints `ready <token>`.
//! `natpeer console|applet BIND HOST_IP STUN [RELAY_URL TOKEN]`: prints
//! `ME <fp> <candidates>`, reads `PEER <fp> <candidates>`, then:
//! - without a relay: punches, exchanges a message over the direct QUIC link
//!   and prints `RESULT direct <remote>` or `RESULT failed <why>`;
//! - with a relay: connects through it, lets the connector race the punched
//!   direct path, exchanges messages before and after, and prints
//!   `RESULT <path> <remote>` (`direct` or `relay`) or `RESULT failed <why>`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;

use secours_protocol::wire::{self, Channel, Message};
use secours_protocol::{Fingerprint, pb};
use secours_transport::LinkEvent;
use secours_transport::connector::{self, PathReport};
use secours_transport::identity::LocalIdentity;
use secours_transport::punch::{Candidates, Puncher};
use secours_transport::relay::{self, HubConfig, RelayHub, RelayToken, Side};
use tokio::io::{AsyncBufReadExt, BufReader};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn parse_candidates(s: &str) -> Candidates {
    let mut c = Candidates::default();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        if let Some(r) = part.strip_prefix("srflx=") {
            c.reflexive = r.parse().ok();
        } else if let Ok(a) = part.parse::<SocketAddr>() {
            c.host.push(a);
        }
    }
    c
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("stun") {
        let socket = tokio::net::UdpSocket::bind(args[2].as_str()).await.unwrap();
        println!("ready");
        secours_transport::stun::serve(socket).await.unwrap();
        return;
    }
    if args.get(1).map(String::as_str) == Some("hub") {
        let hub = RelayHub::new(HubConfig::default());
        let listener = tokio::net::TcpListener::bind(args[2].as_str())
            .await
            .unwrap();
        println!("ready {}", hub.issue().as_str());
        hub.serve(listener).await.unwrap();
        return;
    }
    let role = args[1].clone();
    let relay = args
        .get(5)
        .zip(args.get(6))
        .map(|(u, t)| (u.clone(), RelayToken::from_string(t.clone())));
    let bind: SocketAddr = args[2].parse().unwrap();
    let host_ip = args[3].parse().unwrap();
    let stun: SocketAddr = args[4].parse().unwrap();
    let me = LocalIdentity::generate().unwrap();
    let puncher = Puncher::gather(bind, &[host_ip], Some(stun)).await.unwrap();
    let c = puncher.candidates().clone();
    let mut list: Vec<String> = c.host.iter().map(ToString::to_string).collect();
    if let Some(r) = c.reflexive {
        list.push(format!("srflx={r}"));
    }
    println!("ME {} {}", hex(me.fingerprint().as_bytes()), list.join(","));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("PEER"));
    let fp = Fingerprint::from_slice(&unhex(parts.next().unwrap())).unwrap();
    let theirs = parse_candidates(parts.next().unwrap_or(""));
    if let Some((url, token)) = relay {
        return with_relay(&role, &url, &token, me, fp, puncher, theirs).await;
    }
    let link = if role == "console" {
        puncher.connect(&me, fp, &theirs).await
    } else {
        puncher.accept(&me, fp, &theirs).await
    };
    let mut link = match link {
        Ok(l) => l,
        Err(e) => {
            println!("RESULT failed {e}");
            return;
        }
    };
    if let Err(e) = exchange(&mut link, 42).await {
        println!("RESULT failed {e}");
        return;
    }
    println!(
        "RESULT direct {}",
        link.path()
            .remote
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    // Let the peer read ours before the link closes.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

/// Sends a ping and waits for the peer's.
async fn exchange(link: &mut secours_transport::Link, id: u64) -> Result<(), String> {
    let hello = wire::encode_to_bytes(Message::Ping(pb::Ping { id })).unwrap();
    link.send(Channel::Control, hello)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), link.recv()).await {
            Ok(Some(LinkEvent::Data {
                channel: Channel::Control,
                ..
            })) => return Ok(()),
            Ok(Some(LinkEvent::Data { .. } | LinkEvent::VideoDropped { .. })) => {}
            other => return Err(format!("no message: {other:?}")),
        }
    }
}

async fn with_relay(
    role: &str,
    url: &str,
    token: &RelayToken,
    me: LocalIdentity,
    fp: Fingerprint,
    puncher: Puncher,
    theirs: Candidates,
) {
    let side = if role == "console" {
        Side::Console
    } else {
        Side::Applet
    };
    let relay = match relay::connect(url, token, side, &me, fp).await {
        Ok(l) => l,
        Err(e) => {
            println!("RESULT failed relay: {e}");
            return;
        }
    };
    let console = role == "console";
    let attempt = Box::pin(async move {
        if console {
            puncher.connect(&me, fp, &theirs).await
        } else {
            puncher.accept(&me, fp, &theirs).await
        }
    });
    let (mut link, reports) = connector::start(relay, attempt);
    if let Err(e) = exchange(&mut link, 1).await {
        println!("RESULT failed before the race: {e}");
        return;
    }
    // Wait for the race to end one way or the other.
    for _ in 0..200 {
        if reports
            .all()
            .iter()
            .any(|r| matches!(r, PathReport::Direct | PathReport::DirectFailed(_)))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    if let Err(e) = exchange(&mut link, 2).await {
        println!("RESULT failed after the race: {e}");
        return;
    }
    let path = link.path();
    println!(
        "RESULT {} {}",
        path.kind,
        path.remote.map(|a| a.to_string()).unwrap_or_default()
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}
