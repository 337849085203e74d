//! The connector: relay first, then direct QUIC, then back to the relay when
//! the direct path is cut, under a steady stream both ways: nothing lost,
//! duplicated or reordered.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use secours_protocol::Channel;
use secours_protocol::wire::Message;
use secours_transport::connector::{self, PathReport, Reports};
use secours_transport::identity::LocalIdentity;
use secours_transport::netsim::{self, UdpProxy};
use secours_transport::quic::QuicEndpoint;
use secours_transport::relay::{self, HubConfig, RelayHub, Side};
use secours_transport::{Link, PathKind};

const N: u64 = 3000;

async fn setup() -> (Link, Reports, Link, Reports, UdpProxy) {
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
    let idle = Duration::from_millis(800);
    let applet_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_idle_timeout(idle);
    let console_ep = QuicEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_idle_timeout(idle);
    let proxy = UdpProxy::start(
        applet_ep.local_addr().unwrap(),
        netsim::profile("lan").unwrap(),
        1,
    )
    .await
    .unwrap();
    let via = proxy.addr();
    let console_direct = Box::pin(async move {
        // Let the relay carry traffic first, as in real life.
        tokio::time::sleep(Duration::from_millis(300)).await;
        console_ep.connect(&c, afp, via).await
    });
    let applet_direct = Box::pin(async move { applet_ep.accept(&a, cfp).await });
    let (console, creports) = connector::start(cr.unwrap(), console_direct);
    let (applet, areports) = connector::start(ar.unwrap(), applet_direct);
    (console, creports, applet, areports, proxy)
}

async fn wait_for(reports: &Reports, what: fn(&PathReport) -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !reports.all().iter().any(what) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("path change in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_to_direct_and_back_loses_nothing() {
    let (console, creports, mut applet, areports, proxy) = setup().await;
    assert_eq!(console.path().kind, PathKind::Relay);
    let sender = tokio::spawn(async move {
        for n in 0..N {
            console.send(Channel::Chat, common::chat(n)).await.unwrap();
            if n % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        console
    });
    // The receiver checks order as it goes; the paths change under it.
    let receiver = tokio::spawn(async move {
        let got = common::receive(&mut applet, N as usize).await;
        (got, applet)
    });
    wait_for(&creports, |r| *r == PathReport::Direct).await;
    wait_for(&areports, |r| *r == PathReport::Direct).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set_cut(true); // the direct path dies mid-stream
    wait_for(&creports, |r| matches!(r, PathReport::FellBack(_))).await;
    let console = sender.await.unwrap();
    let (got, _applet) = receiver.await.unwrap();
    let ids: Vec<u64> = got
        .iter()
        .map(|m| {
            if let Message::ChatMessage(c) = m {
                c.id
            } else {
                u64::MAX
            }
        })
        .collect();
    assert_eq!(ids.len() as u64, N);
    let first_bad = ids.iter().enumerate().find(|(i, id)| *i as u64 != **id);
    assert_eq!(first_bad, None, "lost, duplicated or reordered");
    assert_eq!(console.path().kind, PathKind::Relay);
    assert!(proxy.stats().cut.load(std::sync::atomic::Ordering::Relaxed) > 0);
}
