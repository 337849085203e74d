//! Peer identity: certificate fingerprints, the server-issued session token,
//! and the short authentication string both people can compare.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::wire::validate::{FINGERPRINT_LEN, SESSION_TOKEN_LEN};

/// SHA-256 of a peer's DER certificate. The transport checks the peer's TLS
/// certificate against it; the handshake binds both into the session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_certificate(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// From raw bytes received on the wire; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// From a fixed array.
    pub const fn from_bytes(bytes: [u8; FINGERPRINT_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_LEN] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// Colon-separated hex, as browsers and `openssl x509 -fingerprint` print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02X}")?;
        }
        write!(f, "..)")
    }
}

/// The per-session secret the server gives both peers. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken([u8; SESSION_TOKEN_LEN]);

impl SessionToken {
    /// From raw bytes; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// From a fixed array.
    pub const fn from_bytes(bytes: [u8; SESSION_TOKEN_LEN]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// Six digits both the customer and the technician see. They match only if
/// each side's view of both certificates and both nonces is the same, so a
/// party in the middle (even the server) cannot go unseen.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortAuthString(u32);

impl ShortAuthString {
    /// Derives the string from what both peers saw (PROTOCOL.md "Short
    /// authentication string").
    pub fn derive(
        console_fingerprint: &Fingerprint,
        applet_fingerprint: &Fingerprint,
        console_nonce: &[u8],
        applet_nonce: &[u8],
    ) -> Self {
        let mut h = Sha256::new();
        h.update(b"secours-sas-v1");
        h.update(console_fingerprint.as_bytes());
        h.update(applet_fingerprint.as_bytes());
        h.update(console_nonce);
        h.update(applet_nonce);
        let d = h.finalize();
        Self(u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000)
    }

    /// The six digits as a number (0..=999_999).
    pub fn value(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for ShortAuthString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} {:03}", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Debug for ShortAuthString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortAuthString({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sas_depends_on_every_input() {
        let a = Fingerprint::from_bytes([1; 32]);
        let b = Fingerprint::from_bytes([2; 32]);
        let base = ShortAuthString::derive(&a, &b, &[3; 32], &[4; 32]);
        assert_eq!(base, ShortAuthString::derive(&a, &b, &[3; 32], &[4; 32]));
        assert_ne!(base, ShortAuthString::derive(&b, &a, &[3; 32], &[4; 32]));
        assert_ne!(base, ShortAuthString::derive(&a, &b, &[4; 32], &[4; 32]));
        assert_eq!(base.to_string().len(), 7);
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = SessionToken::from_bytes([7; 32]);
        assert!(!format!("{t:?}").contains('7'));
    }

    #[test]
    fn fingerprint_from_slice_checks_length() {
        assert!(Fingerprint::from_slice(&[0; 31]).is_none());
        assert!(Fingerprint::from_slice(&[0; 32]).is_some());
    }
}
