//! Reflexive addresses (RFC 5389 Binding) with the stun_codec crate: the
//! responder the server runs on UDP, and the client the peers use to learn
//! their server-reflexive candidate from the socket they will punch with.

use std::net::SocketAddr;
use std::time::Duration;

use bytecodec::{DecodeExt, EncodeExt};
use rand::RngCore;
use stun_codec::rfc5389::attributes::{Software, XorMappedAddress};
use stun_codec::rfc5389::{Attribute, methods::BINDING};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};
use tokio::net::UdpSocket;

use crate::error::LinkError;

/// Answers one datagram if it is a Binding request: the response carries the
/// sender's address as XOR-MAPPED-ADDRESS. Anything else gets no answer.
pub fn answer(packet: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let mut decoder = MessageDecoder::<Attribute>::new();
    let request = decoder.decode_from_bytes(packet).ok()?.ok()?;
    if request.class() != MessageClass::Request || request.method() != BINDING {
        return None;
    }
    let mut response = Message::<Attribute>::new(
        MessageClass::SuccessResponse,
        BINDING,
        request.transaction_id(),
    );
    response.add_attribute(Attribute::XorMappedAddress(XorMappedAddress::new(from)));
    if let Ok(software) = Software::new(format!("secours/{}", env!("CARGO_PKG_VERSION"))) {
        response.add_attribute(Attribute::Software(software));
    }
    MessageEncoder::new().encode_into_bytes(response).ok()
}

/// Serves Binding requests on `socket` until it fails.
pub async fn serve(socket: UdpSocket) -> std::io::Result<()> {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        if let Some(reply) = answer(&buf[..n], from) {
            // A lost reply is retried by the client.
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// Asks `server` what address `socket` has as seen from outside.
pub async fn reflexive_address(
    socket: &UdpSocket,
    server: SocketAddr,
) -> Result<SocketAddr, LinkError> {
    let mut id = [0u8; 12];
    rand::rng().fill_bytes(&mut id);
    let tid = TransactionId::new(id);
    let request = Message::<Attribute>::new(MessageClass::Request, BINDING, tid);
    let bytes = MessageEncoder::new()
        .encode_into_bytes(request)
        .map_err(|e| LinkError::Io(format!("STUN encode: {e}")))?;
    let mut buf = vec![0u8; 2048];
    // RFC 5389 retransmission, shortened: 100, 200, 400, 800 ms.
    for attempt in 0..4u32 {
        socket
            .send_to(&bytes, server)
            .await
            .map_err(|e| LinkError::Io(e.to_string()))?;
        let wait = Duration::from_millis(100 << attempt);
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(got) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
            let (n, from) = got.map_err(|e| LinkError::Io(e.to_string()))?;
            if from != server {
                continue;
            }
            let mut decoder = MessageDecoder::<Attribute>::new();
            let Ok(Ok(message)) = decoder.decode_from_bytes(&buf[..n]) else {
                continue;
            };
            if message.transaction_id() != tid || message.class() != MessageClass::SuccessResponse {
                continue;
            }
            if let Some(x) = message.get_attribute::<XorMappedAddress>() {
                return Ok(x.address());
            }
        }
    }
    Err(LinkError::Timeout("STUN binding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_gets_no_answer() {
        let from: SocketAddr = "192.0.2.1:4000".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(answer(b"hello", from), None);
        assert_eq!(answer(&[0u8; 20], from), None);
        assert_eq!(answer(&[], from), None);
    }
}
