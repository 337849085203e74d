//! Resource limits under attack: slow clients (headers or body never
//! finished), a socket flood from one address, a message flood on one
//! WebSocket, oversized customer fields, a flood of channel joins, and a
//! queue push larger than a peer's frame. Each limit holds, and other users
//! keep being served meanwhile.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::common::*;

async fn tcp_from(ip: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    s.connect(to).await.unwrap()
}

/// What the server does next on `tcp`, within 10 s: the status of its
/// answer, or None when it closes the connection without one.
async fn answer(tcp: &mut TcpStream) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => panic!("the server neither answered nor closed within 10 s"),
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
}

async fn health(tcp: &mut TcpStream) -> Option<u16> {
    if tcp
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return None;
    }
    answer(tcp).await
}

/// A health request from another address, on a fresh connection.
async fn served(h: &Harness, from: &str) -> bool {
    let client = reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    client
        .get(format!("{}/api/v1/health", h.base))
        .send()
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let db = sqlite();
    let h = Harness::start_with(&db, |c| {
        c.header_read_timeout_ms = 300;
        c.request_timeout_ms = 500;
    })
    .await;
    let to = h.server.http_addr;
    // Headers never finished: closed without an answer.
    let mut slow = tcp_from("127.0.0.3", to).await;
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A body that never arrives: 408.
    let mut dribble = tcp_from("127.0.0.3", to).await;
    dribble
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\"",
        )
        .await
        .unwrap();
    assert!(served(&h, "127.0.0.2").await, "others are served meanwhile");
    assert_eq!(answer(&mut slow).await, None);
    assert_eq!(answer(&mut dribble).await, Some(408));
    assert!(served(&h, "127.0.0.2").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_socket() {
    let db = sqlite();
    let h = Harness::start_with(&db, |c| c.max_connections_per_address = 8).await;
    let to = h.server.http_addr;
    let mut open = Vec::new();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..20 {
        let mut tcp = tcp_from("127.0.0.3", to).await;
        match health(&mut tcp).await {
            Some(200) => ok += 1,
            None => refused += 1,
            Some(other) => panic!("{other}"),
        }
        open.push(tcp);
    }
    assert_eq!((ok, refused), (8, 12));
    assert!(served(&h, "127.0.0.2").await, "another address is served");
    // A closed socket gives its place back.
    open.clear();
    let mut again = tcp_from("127.0.0.3", to).await;
    let mut tries = 0;
    while health(&mut again).await != Some(200) {
        // The server notices the closes asynchronously.
        tries += 1;
        assert!(tries < 100, "the places were never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
        again = tcp_from("127.0.0.3", to).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_floods_close_the_flooding_socket_only() {
    let db = sqlite();
    let h = Harness::start(&db).await;
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "Support", &["chat"]).await;
    let (_, a) = h.user(&m, "technician", "a@acme.test", Some(g)).await;
    let (_, b) = h.user(&m, "technician", "b@acme.test", Some(g)).await;
    let mut flooder = ws_connect(&h.ws_url(&format!("/ws/console?token={a}"))).await;
    let mut other = ws_connect(&h.ws_url(&format!("/ws/console?token={b}"))).await;
    ws_expect(&mut other, "queue").await;
    let ping = Message::Text(json!({"type": "ping"}).to_string().into());
    for _ in 0..500 {
        if flooder.send(ping.clone()).await.is_err() {
            break;
        }
    }
    let mut pongs = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, flooder.next()).await {
            Err(_) => panic!("the flooding socket stayed open"),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(Message::Text(t)))) if t.contains("pong") => pongs += 1,
            Ok(Some(Ok(_))) => {}
        }
    }
    assert!(pongs < 500, "{pongs} pings were answered");
    ws_send(&mut other, json!({"type": "ping"})).await;
    ws_expect(&mut other, "pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_fields_joins_and_queue_pushes_are_bounded() {
    for db in backends().await {
        let h = Harness::start(&db).await;
        let m = h.master.clone();
        let g = h.tech_group(&m, None, "Support", &["chat"]).await;
        let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
        h.call(
            Method::PUT,
            "/api/v1/channels/{id}/groups",
            &["1"],
            Some(&m),
            Some(json!({"ids": [g]})),
        )
        .await;
        let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
        let code = chans[0]["link_code"].as_str().unwrap().to_owned();
        let join = |ip: String, body: serde_json::Value| {
            let (h, code) = (&h, code.clone());
            async move {
                h.call_from(
                    &ip,
                    Method::POST,
                    "/api/v1/join/channel/{code}",
                    &[&code],
                    None,
                    Some(body),
                )
                .await
            }
        };
        // 20 fields of 500 four-byte characters (40 KB, under the body
        // limit): each field is allowed, the session's total is not (a rule
        // the document states in prose: 422).
        let big: serde_json::Map<_, _> = (0..20)
            .map(|i| (format!("f{i}"), json!("\u{1F600}".repeat(500))))
            .collect();
        let (s, _) = join("198.51.100.1".into(), json!({"name": "C", "fields": big})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.name);
        // Successful joins per address are limited too.
        for i in 0..10 {
            let (s, v) = join("198.51.100.2".into(), json!({"name": format!("c{i}")})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let (s, _) = join("198.51.100.2".into(), json!({"name": "c11"})).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        // Twelve customers with fields at the limit (quotes double when
        // escaped): the queue no longer fits one frame, so it comes in pages.
        let mut applets = Vec::new();
        for i in 0..12 {
            let fields = json!({"a": "\"".repeat(1000), "b": "\"".repeat(1000)});
            let (s, joined) = join(
                format!("198.51.101.{i}"),
                json!({"name": "\"".repeat(100), "fields": fields}),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{joined}");
            applets.push(applet_ws(&h, &joined).await);
        }
        let strict = WebSocketConfig::default()
            .max_message_size(Some(16 * 1024))
            .max_frame_size(Some(16 * 1024));
        let (mut console, _) = tokio_tungstenite::connect_async_with_config(
            h.ws_url(&format!("/ws/console?token={tech}")),
            Some(strict),
            false,
        )
        .await
        .unwrap();
        let first = ws_expect(&mut console, "queue").await;
        let pages = first["pages"].as_u64().expect("paged queue");
        assert!(pages > 1);
        let mut seen = first["sessions"].as_array().unwrap().len();
        for _ in 1..pages {
            seen += ws_expect(&mut console, "queue").await["sessions"]
                .as_array()
                .unwrap()
                .len();
        }
        assert_eq!(seen, 12, "every waiting session arrived ({})", db.name);
        h.server.shutdown().await.unwrap();
    }
}
