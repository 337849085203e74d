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
//!   direct path, exchanges messages before and after, then runs a whole
//!   protocol session over the link (handshake binding both fingerprints,
//!   chat both ways, the technician's close), and prints
//!   `RESULT <path> <remote> session=ok sas=<digits> chats=<n>` (`direct`
//!   or `relay`) or `RESULT failed <why>`. The session token comes from the
//!   environment (`LAB_SESSION_TOKEN`, hex), as the server would hand it out.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;

use std::time::{Duration, Instant};

use secours_protocol::handshake::{DEFAULT_HANDSHAKE_TIMEOUT, Handshake, HandshakeConfig};
use secours_protocol::pb::{EndReason, Permission, Role};
use secours_protocol::session::Event;
use secours_protocol::wire::{self, Channel, Message};
use secours_protocol::{Fingerprint, PermissionSet, Session, SessionConfig, SessionToken, pb};
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
    let local_fp = me.fingerprint();
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
    let session = match run_session(&mut link, console, local_fp, fp).await {
        Ok(s) => s,
        Err(e) => {
            println!("RESULT failed in the session: {e}");
            return;
        }
    };
    let path = link.path();
    println!(
        "RESULT {} {} {session}",
        path.kind,
        path.remote.map(|a| a.to_string()).unwrap_or_default()
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

/// A whole protocol session over `link`: handshake, chat both ways (the
/// customer answers each line), the technician closes after two answers.
/// Returns `session=ok sas=<digits> chats=<n>`.
async fn run_session(
    link: &mut secours_transport::Link,
    console: bool,
    local: Fingerprint,
    expected: Fingerprint,
) -> Result<String, String> {
    let token = std::env::var("LAB_SESSION_TOKEN").map_err(|_| "no LAB_SESSION_TOKEN")?;
    let token = SessionToken::from_slice(&unhex(&token)).ok_or("bad LAB_SESSION_TOKEN")?;
    let nonce: [u8; 32] = rand::random();
    let config = SessionConfig::new(HandshakeConfig {
        role: if console { Role::Console } else { Role::Applet },
        local_fingerprint: local,
        expected_peer_fingerprint: expected,
        observed_peer_fingerprint: link.peer_fingerprint(),
        session_id: "natlab".into(),
        session_token: token,
        nonce,
        capabilities: pb::Capabilities::default(),
        permissions: PermissionSet::new([Permission::Chat], []),
        software: "natpeer".into(),
        versions: Handshake::default_versions(),
        timeout: DEFAULT_HANDSHAKE_TIMEOUT,
    });
    let mut session = Session::new(config, Instant::now());
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut sas, mut chats) = (String::new(), 0u32);
    loop {
        if Instant::now() > deadline {
            return Err("the session did not end in 20 s".into());
        }
        while let Some(event) = session.poll_event() {
            let now = Instant::now();
            match event {
                Event::Established(e) => {
                    sas = e.sas.to_string().replace(' ', "");
                    if console {
                        send_chat(&mut session, "line 1 from the technician", now)?;
                    }
                }
                Event::Chat { text, .. } => {
                    chats += 1;
                    if console {
                        if chats == 2 {
                            session.close(EndReason::ByTechnician, "done", now);
                        } else {
                            send_chat(&mut session, "line 2 from the technician", now)?;
                        }
                    } else {
                        send_chat(&mut session, &format!("got: {text}"), now)?;
                    }
                }
                Event::Closed { error: Some(e), .. } => return Err(e.to_string()),
                Event::Closed { .. } => {
                    flush(&mut session, link).await?;
                    return Ok(format!("session=ok sas={sas} chats={chats}"));
                }
                _ => {}
            }
        }
        flush(&mut session, link).await?;
        let wake = session
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(20));
        tokio::select! {
            event = link.recv() => match event {
                Some(LinkEvent::Data { channel, data }) => session.handle_data(channel, &data, Instant::now()),
                Some(LinkEvent::VideoDropped { .. }) => {}
                Some(LinkEvent::Closed(e)) => return Err(format!("link closed: {e:?}")),
                None => return Err("link gone".into()),
            },
            () = tokio::time::sleep(wake) => {}
        }
        let now = Instant::now();
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now);
        }
    }
}

fn send_chat(session: &mut Session, text: &str, now: Instant) -> Result<(), String> {
    session
        .send_chat(text, 0, now)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn flush(session: &mut Session, link: &secours_transport::Link) -> Result<(), String> {
    while let Some(t) = session.poll_transmit() {
        link.send(t.channel, t.data)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
