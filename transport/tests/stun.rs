//! The STUN responder and client on loopback, and the responder against a
//! standard client: coturn's `turnutils_stunclient` (`.ci/run` installs it).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use tokio::net::UdpSocket;

use secours_transport::stun;

#[tokio::test]
async fn binding_gives_the_reflexive_address() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(stun::serve(server));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mapped = stun::reflexive_address(&client, addr).await.unwrap();
    assert_eq!(mapped, client.local_addr().unwrap());
}

#[tokio::test]
async fn standard_client_understands_the_responder() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(stun::serve(server));
    let out = tokio::process::Command::new("turnutils_stunclient")
        .args(["-p", &port.to_string(), "127.0.0.1"])
        .output()
        .await
        .expect("turnutils_stunclient (Debian coturn) must be installed: scripts/setup.sh does it");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("UDP reflexive addr: 127.0.0.1:"), "{text}");
}
