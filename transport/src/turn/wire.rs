//! TURN's messages: the STUN attributes a TURN client meets (RFC 5389's and
//! RFC 5766's in one set, stun_codec's types), and ChannelData framing.

use stun_codec::define_attribute_enums;
use stun_codec::rfc5389::attributes::{
    ErrorCode, Fingerprint, MessageIntegrity, Nonce, Realm, Software, UnknownAttributes, Username,
    XorMappedAddress,
};
use stun_codec::rfc5766::attributes::{
    ChannelNumber, Data, Lifetime, RequestedTransport, XorPeerAddress, XorRelayAddress,
};

define_attribute_enums!(
    TurnAttribute,
    TurnAttributeDecoder,
    TurnAttributeEncoder,
    [
        Username,
        MessageIntegrity,
        ErrorCode,
        UnknownAttributes,
        Realm,
        Nonce,
        XorMappedAddress,
        Software,
        Fingerprint,
        ChannelNumber,
        Lifetime,
        XorPeerAddress,
        Data,
        XorRelayAddress,
        RequestedTransport
    ]
);

/// Whether a datagram is ChannelData (its first two bits are 01; STUN's
/// are 00).
pub fn is_channel_data(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0xc0 == 0x40)
}

/// ChannelData for `number` carrying `data` (unpadded: over UDP the
/// length field says where it ends).
pub fn channel_data(number: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + data.len());
    v.extend_from_slice(&number.to_be_bytes());
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// The channel number and data of a ChannelData datagram; `None` if its
/// length field claims more than it holds, or the number is not a
/// channel's.
pub fn parse_channel_data(datagram: &[u8]) -> Option<(u16, &[u8])> {
    let number = u16::from_be_bytes([*datagram.first()?, *datagram.get(1)?]);
    let len = usize::from(u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]));
    if !(ChannelNumber::MIN..=ChannelNumber::MAX).contains(&number) {
        return None;
    }
    Some((number, datagram.get(4..4 + len)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_round_trips_and_refuses_lies() {
        let d = channel_data(0x4001, b"hello");
        assert!(is_channel_data(&d));
        assert_eq!(parse_channel_data(&d), Some((0x4001, &b"hello"[..])));
        // Padding after the data is allowed.
        let mut padded = d.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(parse_channel_data(&padded), Some((0x4001, &b"hello"[..])));
        // A length beyond the datagram, a number outside the channels.
        assert_eq!(parse_channel_data(&d[..6]), None);
        assert_eq!(parse_channel_data(&channel_data(0x5000, b"x")), None);
        assert_eq!(parse_channel_data(&[0x40]), None);
    }
}
