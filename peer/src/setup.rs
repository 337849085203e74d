//! A session's set-up from what the server said: the handshake's identity
//! and pairing, the granted permissions, the capabilities this side offers.

use secours_protocol::handshake::{DEFAULT_HANDSHAKE_TIMEOUT, Handshake, HandshakeConfig};
use secours_protocol::pb::{self, Role};
use secours_protocol::{Fingerprint, PermissionSet, SessionConfig, SessionToken};

/// `N` random bytes from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut b = [0; N];
    getrandom::fill(&mut b)?;
    Ok(b)
}

/// Who this side is and whom it expects, as the signaling established it.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// Console or applet.
    pub role: Role,
    /// The server's session id.
    pub session_id: String,
    /// This side's certificate fingerprint.
    pub local: Fingerprint,
    /// The peer's fingerprint as the server announced it.
    pub expected_peer: Fingerprint,
    /// The peer's fingerprint as the link's TLS handshake saw it.
    pub observed_peer: Fingerprint,
    /// Shared by both peers of this session (derived from the relay token
    /// both received: the server hands it to these two peers only).
    pub token: SessionToken,
}

/// The session token both peers bind their handshake to, derived from the
/// relay token the server handed to these two peers only (SIGNALING.md
/// section 3): neither a third party nor the peers of another session
/// hold it.
pub fn session_token_from_relay(relay_token: &str) -> SessionToken {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"secours session token v1\0");
    h.update(relay_token.as_bytes());
    SessionToken::from_bytes(h.finalize().into())
}

/// What this side can do, announced in the handshake.
pub fn capabilities(file_manager: bool, reboot: bool) -> pb::Capabilities {
    pb::Capabilities {
        video_codecs: vec![pb::VideoCodec::Av1 as i32],
        max_width: 3840,
        max_height: 2160,
        clipboard_text: true,
        clipboard_image: true,
        file_transfer: true,
        file_manager,
        system_info: true,
        reboot,
        max_file_window: 1 << 20,
    }
}

/// The session's configuration.
pub fn session_config(
    pairing: &Pairing,
    permissions: PermissionSet,
    capabilities: pb::Capabilities,
) -> Result<SessionConfig, getrandom::Error> {
    Ok(SessionConfig::new(HandshakeConfig {
        role: pairing.role,
        local_fingerprint: pairing.local,
        expected_peer_fingerprint: pairing.expected_peer,
        observed_peer_fingerprint: pairing.observed_peer,
        session_id: pairing.session_id.clone(),
        session_token: pairing.token.clone(),
        nonce: random()?,
        capabilities,
        permissions,
        software: format!("secours/{}", env!("CARGO_PKG_VERSION")),
        versions: Handshake::default_versions(),
        timeout: DEFAULT_HANDSHAKE_TIMEOUT,
    }))
}
