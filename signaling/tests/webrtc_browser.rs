//! Issue 18's interop proof: Debian's headless Chromium opens a WebRTC
//! session with a Rust peer (transport::webrtc) through the real server's
//! signaling sockets: fingerprints announced as `fingerprint` signals and
//! checked both ways (the page checks the answer's, the Rust peer the
//! offer's, each DTLS stack the certificate against them), trickle ICE,
//! messages on several data channels both ways, and one of our AV1 frames
//! decoded by WebCodecs' `VideoDecoder` in the page. Then a page announcing
//! a certificate it does not use is refused with the typed mismatch and the
//! session stays as it was (on the relay).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::webdriver::{Browser, unavailable};
use common::*;
use futures_util::{SinkExt, StreamExt};
use secours_codec::{Backend, BgraFrame, EncoderSettings, Rect, convert, new_encoder};
use secours_protocol::signaling::{PeerMessage, SignalPayload};
use secours_protocol::{Channel, Fingerprint};
use secours_transport::identity::LocalIdentity;
use secours_transport::webrtc::{self, Attempt, Role, Signals};
use secours_transport::{Link, LinkError, LinkEvent};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const PAGE: &str = include_str!("webrtc/page.html");

/// Where the applet socket's signals go: the current attempt's queue.
type Route = Arc<Mutex<Option<mpsc::Sender<SignalPayload>>>>;

/// The applet's signaling socket as two queues: signals in (to `route`),
/// signals out; the server's errors to this socket are collected.
fn bridge(ws: Ws, route: Route, errors: Arc<Mutex<Vec<String>>>) -> mpsc::Sender<SignalPayload> {
    let (mut sink, mut stream) = ws.split();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let WsMessage::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "error" {
                errors.lock().unwrap().push(v["message"].to_string());
            }
            if v["type"] != "signal" {
                continue;
            }
            let payload: SignalPayload = serde_json::from_value(v["payload"].clone()).unwrap();
            let to = route.lock().unwrap().clone();
            if let Some(to) = to {
                let _ = to.send(payload).await;
            }
        }
    });
    let (out_tx, mut out_rx) = mpsc::channel::<SignalPayload>(256);
    tokio::spawn(async move {
        while let Some(payload) = out_rx.recv().await {
            let text = serde_json::to_string(&PeerMessage::Signal {
                session_id: None,
                payload,
            })
            .unwrap();
            if sink.send(WsMessage::Text(text.into())).await.is_err() {
                return;
            }
        }
    });
    out_tx
}

/// The queue of the next attempt's signals, routed before the page loads.
fn listen(route: &Route) -> mpsc::Receiver<SignalPayload> {
    let (tx, rx) = mpsc::channel(256);
    *route.lock().unwrap() = Some(tx);
    rx
}

/// One attempt of the applet side: waits for the page's fingerprint,
/// announces ours, answers the page's offer.
async fn applet_attempt(
    mut rx: mpsc::Receiver<SignalPayload>,
    out: &mpsc::Sender<SignalPayload>,
    me: &LocalIdentity,
) -> (Fingerprint, Result<Link, LinkError>) {
    let announced = loop {
        let p = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the page announces its fingerprint")
            .unwrap();
        if let SignalPayload::Fingerprint { sha256, .. } = p {
            let bytes = hex::decode(sha256).unwrap();
            break Fingerprint::from_slice(&bytes).unwrap();
        }
    };
    out.send(SignalPayload::Fingerprint {
        sha256: hex::encode(me.fingerprint().as_bytes()),
        candidates: vec![],
    })
    .await
    .unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let attempt = Attempt {
        identity: me.clone(),
        peer: announced,
        role: Role::Answerer,
        extra_candidates: vec![],
        timeout: Duration::from_secs(30),
    };
    let signals = Signals {
        out: out.clone(),
        incoming: rx,
    };
    (announced, webrtc::connect(socket, attempt, signals).await)
}

/// A 320×240 keyframe: red left half, blue right half.
fn av1_keyframe() -> Vec<u8> {
    let mut bgra = BgraFrame::new(320, 240).unwrap();
    bgra.fill_rect(Rect::new(0, 0, 160, 240), [0, 0, 255, 255]);
    bgra.fill_rect(Rect::new(160, 0, 160, 240), [255, 0, 0, 255]);
    let i420 = convert::to_i420(&bgra).unwrap();
    let backend = if Backend::Aom.available() {
        Backend::Aom
    } else {
        Backend::Rav1e
    };
    let mut enc = new_encoder(backend, EncoderSettings::new(320, 240)).unwrap();
    let mut packets = enc.encode(&i420, 0, true).unwrap();
    packets.extend(enc.flush().unwrap());
    packets.into_iter().find(|p| p.keyframe).unwrap().data
}

/// The page's `state`, polled until `done` or 30 s.
async fn page_state(b: &Browser, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = b.js("return window.state || null", json!([])).await;
        if done(&s) {
            return s;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what}: page state {s}\nconsole: {:?}", b.console().await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_a_rust_peer_talk_webrtc_through_our_signaling() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    // The page's own origin, allowed to open the console socket.
    let pages = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", pages.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { axum::response::Html(PAGE) }),
        );
        axum::serve(pages, app).await.unwrap();
    });
    let db = sqlite();
    let allowed = origin.clone();
    let h = Harness::start_with(&db, move |c| c.allowed_origins.push(allowed)).await;

    // A technician's PIN session, picked up; the customer's applet socket.
    let m = h.master.clone();
    let group = h
        .tech_group(
            &m,
            None,
            "Web",
            &["chat", "remote_control", "private_sessions"],
        )
        .await;
    let (_, tech) = h.user(&m, "technician", "web@acme.test", Some(group)).await;
    let (_, v) = h
        .post("/api/v1/sessions", &[], Some(&tech), json!({}))
        .await;
    let (joined, applet) = customer_joins_pin(&h, v["pin"].as_str().unwrap()).await;
    let sid = joined["session_id"].as_str().unwrap().to_owned();
    let (s, _) = h
        .post(
            "/api/v1/sessions/{id}/pickup",
            &[&sid],
            Some(&tech),
            json!({}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    let route: Route = Arc::new(Mutex::new(None));
    let server_errors = Arc::new(Mutex::new(Vec::new()));
    let out = bridge(applet, route.clone(), server_errors.clone());
    let me = LocalIdentity::generate().unwrap();
    let frame = av1_keyframe();

    let b = Browser::start_with(&[
        // Loopback is this test's whole network; host candidates as addresses.
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ])
    .await;
    let page = |extra: &str| {
        format!(
            "{origin}/?ws={}&token={tech}&session={sid}{extra}",
            h.ws_url("/ws/console")
        )
    };
    let rx = listen(&route);
    b.goto(&page("")).await;
    let (announced, link) = applet_attempt(rx, &out, &me).await;
    let mut link = link.unwrap_or_else(|e| panic!("no WebRTC link with Chromium: {e}"));
    let st = page_state(&b, "open", |s| s["phase"] == "open").await;
    assert_eq!(
        st["fingerprint"].as_str().unwrap(),
        hex::encode(announced.as_bytes()),
        "the DTLS peer is the announced one"
    );
    assert_eq!(link.peer_fingerprint(), announced);

    // Rust to Chromium: two channels' messages and the AV1 frame.
    link.send(
        Channel::Chat,
        bytes::Bytes::from_static(b"from rust on chat"),
    )
    .await
    .unwrap();
    link.send(
        Channel::Control,
        bytes::Bytes::from_static(b"from rust on control"),
    )
    .await
    .unwrap();
    link.send(Channel::Video, bytes::Bytes::from(frame.clone()))
        .await
        .unwrap();
    // Chromium to Rust: four channels.
    let mut got: std::collections::BTreeMap<String, String> = Default::default();
    while got.len() < 4 {
        let ev = tokio::time::timeout(Duration::from_secs(20), link.recv())
            .await
            .expect("Chromium's messages arrive")
            .expect("the link stays up");
        match ev {
            LinkEvent::Data { channel, data } => {
                got.entry(format!("{channel:?}"))
                    .or_default()
                    .push_str(std::str::from_utf8(&data).unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
    for (channel, label) in [
        ("Control", "control"),
        ("Chat", "chat"),
        ("Clipboard", "clipboard"),
        ("Input", "input"),
    ] {
        assert_eq!(got[channel], format!("from chromium on {label}"));
    }
    let st = page_state(&b, "decoded", |s| {
        !s["decoded"].is_null() || !s["errors"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(st["errors"], json!([]), "{st}");
    assert_eq!(st["got"]["chat"], json!(["from rust on chat"]));
    assert_eq!(st["got"]["control"], json!(["from rust on control"]));
    assert_eq!(st["videoBytes"], json!(frame.len()));
    let d = &st["decoded"];
    assert_eq!(
        (d["width"].as_u64(), d["height"].as_u64()),
        (Some(320), Some(240))
    );
    let rgb = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect()
    };
    let (left, right) = (rgb(&d["left"]), rgb(&d["right"]));
    assert!(
        left[0] > 180 && left[1] < 80 && left[2] < 80,
        "left is red: {left:?}"
    );
    assert!(
        right[0] < 80 && right[1] < 80 && right[2] > 180,
        "right is blue: {right:?}"
    );
    let stats = link.stats();
    assert!(stats.bytes_received > 0 && stats.bytes_sent as usize >= frame.len());
    link.close();
    drop(link);

    // An impostor page: it announces a certificate it does not use. The
    // Rust peer refuses its offer with the typed mismatch; the session is
    // untouched (the relay carries it).
    let impostor = LocalIdentity::generate().unwrap().fingerprint();
    let rx = listen(&route);
    b.goto(&page(&format!(
        "&announce={}",
        hex::encode(impostor.as_bytes())
    )))
    .await;
    let (announced, refused) = applet_attempt(rx, &out, &me).await;
    assert_eq!(announced, impostor);
    let st = b.js("return window.state", json!([])).await;
    match refused {
        Err(LinkError::FingerprintMismatch(m)) => {
            assert_eq!(m.expected, impostor);
            assert_eq!(
                hex::encode(m.presented.as_bytes()),
                st["fingerprint"].as_str().unwrap()
            );
        }
        other => panic!("the impostor was not refused: {other:?}"),
    }
    let (_, s) = h.get("/api/v1/sessions/{id}", &[&sid], &tech).await;
    assert_eq!(s["state"], "active", "{s}");
    assert!(
        server_errors.lock().unwrap().is_empty(),
        "{server_errors:?}"
    );
    b.screenshot("webrtc-interop").await;
}
