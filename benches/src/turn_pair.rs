//! netbench's TURN path: QUIC end to end through a TURN relay (Debian's
//! coturn) on the packet link, as two symmetric NATs leave it. coturn
//! stands beside the applet in namespace B, as the WebSocket relay hub does
//! by default, so the console's leg crosses the emulated link and the two
//! relayed paths compare like for like.

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use secours_transport::identity::LocalIdentity;
use secours_transport::punch::{Candidates, Puncher, TurnRoute};
use secours_transport::{Link, secret::Secret};

use crate::packet_link::{ADDR_A, ADDR_B, PacketLink};
use crate::programs::Guard;

/// coturn's port on [`ADDR_B`].
const TURN_PORT: u16 = 3478;
/// How many times the applet tries to allocate while coturn starts.
const ALLOCATE_TRIES: usize = 20;

/// What keeps the pair up: coturn's process.
pub type Guards = Vec<Box<dyn std::any::Any + Send>>;

/// A console in A and an applet in B joined by QUIC through the applet's
/// relayed address on coturn. The applet is told only the console's IP
/// (for its TURN permission; the port it probes is the discard port), so
/// neither learns a direct address and every packet takes the relay.
pub async fn turn_pair_packet(link: &PacketLink) -> Result<(Link, Link, Guards)> {
    let secret = random_secret();
    let coturn = Guard(
        Command::new("ip")
            .args(["netns", "exec", link.b.name(), "turnserver"])
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay"])
            .args(["--listening-ip", &ADDR_B.to_string()])
            .args(["--relay-ip", &ADDR_B.to_string()])
            .args(["--listening-port", &TURN_PORT.to_string()])
            .args(["--realm", "secours.bench", "--use-auth-secret"])
            .args(["--static-auth-secret", secret.expose()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("turnserver (coturn: scripts/setup.sh installs it)")?,
    );
    let c = LocalIdentity::generate()?;
    let a = LocalIdentity::generate()?;
    let (cfp, afp) = (c.fingerprint(), a.fingerprint());
    let creds = secours_transport::turn::issue(
        &secret,
        "netbench",
        std::time::SystemTime::now(),
        Duration::from_secs(3600),
    );
    let route = TurnRoute {
        server: SocketAddr::new(IpAddr::V4(ADDR_B), TURN_PORT),
        username: creds.username,
        password: creds.password,
    };
    // The applet allocates (retrying while coturn starts), then hands its
    // relayed candidate over, as its signal would.
    let (relayed_tx, relayed_rx) = tokio::sync::oneshot::channel();
    let applet = link.b.spawn(async move {
        let mut last = None;
        for _ in 0..ALLOCATE_TRIES {
            let mut p = Puncher::bind((ADDR_B, 0).into(), &[IpAddr::V4(ADDR_B)]).await?;
            match p.allocate(&route).await {
                Ok(relayed) => {
                    let _ = relayed_tx.send(relayed);
                    let console = Candidates {
                        host: vec![SocketAddr::new(IpAddr::V4(ADDR_A), 9)],
                        ..Candidates::default()
                    };
                    return Ok(p.accept(&a, cfp, &console).await?);
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("no TURN allocation: {last:?}")
    });
    let relayed = relayed_rx
        .await
        .context("the applet made no TURN allocation")?;
    let console = link.a.spawn(async move {
        let p = Puncher::bind((ADDR_A, 0).into(), &[IpAddr::V4(ADDR_A)]).await?;
        let applet = Candidates {
            relayed: vec![relayed],
            ..Candidates::default()
        };
        anyhow::Ok(p.connect(&c, afp, &applet).await?)
    });
    let (cl, al) = (console.await??, applet.await??);
    Ok((cl, al, vec![Box::new(coturn)]))
}

fn random_secret() -> Secret {
    let mut b = [0u8; 16];
    // Without randomness the bench still runs: the secret stays inside
    // namespaces this process made.
    let _ = getrandom::fill(&mut b);
    let hex: String = b.iter().map(|b| format!("{b:02x}")).collect();
    Secret::from(hex.as_str())
}
