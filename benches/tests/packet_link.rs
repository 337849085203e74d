//! netbench's packet-level link between two namespaces: TCP crosses it
//! intact while it really drops and delays packets, and netbench's own
//! endpoints open their sockets on the right side.
//!
//! Needs root (CI is root): without it the test is ignored, and reported as
//! such, by `scripts/test.sh` which passes `--include-ignored` as root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use secours_benches::packet_link::{ADDR_B, PacketLink, unavailable};
use secours_transport::netsim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, network namespaces and TUN; scripts/test.sh runs it as root"]
async fn tcp_crosses_a_lossy_delayed_link_intact() {
    if let Some(why) = unavailable() {
        panic!("packet link unavailable: {why}");
    }
    let profile = netsim::profile("lossy-wifi").unwrap();
    let link = PacketLink::start(profile, 3).unwrap();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let sink = link.b.spawn(async move {
        let listener = tokio::net::TcpListener::bind((ADDR_B, 0)).await.unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        let (mut s, from) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        (got, from)
    });
    let to = addr_rx.await.unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let sent = data.clone();
    link.a
        .spawn(async move {
            let mut c = tokio::net::TcpStream::connect(to).await.unwrap();
            c.write_all(&sent).await.unwrap();
            c.shutdown().await.unwrap();
        })
        .await
        .unwrap();
    let (got, from) = tokio::time::timeout(Duration::from_secs(60), sink)
        .await
        .expect("the copy ends")
        .unwrap();
    assert!(
        got == data,
        "{} bytes arrived, {} sent",
        got.len(),
        data.len()
    );
    // The sender was in namespace A, behind the emulated link.
    assert_eq!(
        from.ip(),
        std::net::IpAddr::from(secours_benches::packet_link::ADDR_A)
    );
    let lost = link.stats.lost.load(std::sync::atomic::Ordering::Relaxed);
    let forwarded = link
        .stats
        .forwarded
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(forwarded > 1000, "{forwarded} packets forwarded");
    assert!(
        lost > 0,
        "a 3 % loss link dropped nothing in {forwarded} packets"
    );
}
