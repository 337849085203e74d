//! TURN (RFC 8656): a relayed UDP address for the direct path when both
//! NATs map every destination to a new port (symmetric), where hole punching
//! cannot work. The client is a sans-IO state machine (`client`); the
//! credentials are issued per session by the signaling server
//! (`credentials`); `wire` is the message set and ChannelData framing. The
//! punched socket carries the allocation under QUIC (`punch::socket`).

pub mod client;
pub mod credentials;
pub mod wire;

pub use client::{Incoming, TurnClient, TurnError, TurnEvent};
pub use credentials::{TurnCredentials, issue};

/// Fuzzing: datagrams from a TURN server, answers carrying the transaction
/// id of a request the client sent (so the fuzzer reaches their handling),
/// interleaved with time passing. Any outcome but a panic is fine.
#[doc(hidden)]
pub fn fuzz_server_datagrams(data: &[u8]) {
    use std::time::{Duration, Instant};
    let mut now = Instant::now();
    let mut client = TurnClient::new("1:s", crate::secret::Secret::new("p"), now);
    let peer = std::net::SocketAddr::from(([192, 0, 2, 7], 5000));
    let _ = client.permit(peer.ip(), now);
    let _ = client.bind_channel(peer, now);
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let mut datagram = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        if let Some(sent) = client.poll_transmit()
            && datagram.len() >= 20
            && sent.len() >= 20
            && !wire::is_channel_data(&datagram)
        {
            // The magic cookie and transaction id of what we asked.
            datagram[4..20].copy_from_slice(&sent[4..20]);
        }
        let _ = client.handle_input(&datagram, now);
        let _ = client.wrap(peer, &datagram);
        now += Duration::from_millis(300);
        client.handle_timeout(now);
        while client.poll_event().is_some() {}
    }
}
