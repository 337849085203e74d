//! TURN credentials issued per session: RFC 8489 long-term credentials
//! derived from a secret the signaling server shares with its TURN server
//! (the "TURN REST API" scheme coturn implements as `use-auth-secret`): the
//! username is `expiry:label`, the password the base64 of
//! HMAC-SHA1(secret, username). The TURN server recomputes the password
//! and refuses it after the expiry; nothing is stored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::secret::Secret;

/// Credentials for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// `expiry:label`.
    pub username: String,
    /// The derived password.
    pub password: Secret,
    /// Seconds since the Unix epoch after which the TURN server refuses them.
    pub expires_at: u64,
}

/// Derives credentials for `label` (a session id) valid for `ttl` from `now`.
pub fn issue(secret: &Secret, label: &str, now: SystemTime, ttl: Duration) -> TurnCredentials {
    let expires_at = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(ttl)
        .as_secs();
    let username = format!("{expires_at}:{label}");
    TurnCredentials {
        password: password_for(secret, &username),
        username,
        expires_at,
    }
}

/// The password a TURN server derives for `username`.
pub fn password_for(secret: &Secret, username: &str) -> Secret {
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        secret.expose().as_bytes(),
    );
    let tag = ring::hmac::sign(&key, username.as_bytes());
    Secret::new(base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_turn_rest_api_vector() {
        // coturn's own check: HMAC-SHA1 of the username with the secret.
        let c = issue(
            &Secret::new("north"),
            "session",
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Duration::from_secs(3600),
        );
        assert_eq!(c.username, "1700003600:session");
        assert_eq!(c.expires_at, 1_700_003_600);
        // `echo -n 1700003600:session | openssl dgst -sha1 -hmac north -binary | base64`
        assert_eq!(c.password.expose(), "4+PJqeFbEiyB3a3pvpB4JL04mWE=");
    }
}
