//! The other peer's session description, checked before str0m sees it:
//! bounded text, and a DTLS fingerprint that is the one the server
//! announced (SEC-1). A mismatch is the typed error every backend gives;
//! there is no fallback to anything unauthenticated.

use secours_protocol::Fingerprint;
use secours_protocol::signaling::check_sdp_text;
use str0m::change::{SdpAnswer, SdpOffer};

use crate::error::LinkError;
use crate::identity::FingerprintMismatch;

use super::candidate::MAX_PER_GENERATION;

/// What the peer's SDP says that we act on before str0m takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its ICE username fragment (the generation its candidates name).
    pub ufrag: String,
}

/// Checks an SDP text: its bounds (those the server checks too), one
/// ICE ufrag, every `a=fingerprint` a SHA-256 equal to `expected`, and
/// every candidate inside it one the trickled ones could be
/// (`candidate::parse`, with `loopback_session`).
pub fn check(
    sdp: &str,
    expected: Fingerprint,
    loopback_session: bool,
) -> Result<Checked, LinkError> {
    check_sdp_text(sdp).map_err(|e| LinkError::Violation(format!("sdp: {e}")))?;
    let mut ufrag: Option<&str> = None;
    let mut fingerprints = 0;
    let mut candidates = 0;
    for line in sdp.split("\r\n") {
        if let Some(f) = line.strip_prefix("a=fingerprint:") {
            let presented = parse_fingerprint(f)?;
            if presented != expected {
                return Err(FingerprintMismatch {
                    expected,
                    presented,
                }
                .into());
            }
            fingerprints += 1;
        } else if let Some(u) = line.strip_prefix("a=ice-ufrag:") {
            if ufrag.is_some_and(|seen| seen != u) {
                return Err(LinkError::Violation("sdp: two ICE ufrags".into()));
            }
            ufrag = Some(u);
        } else if line.starts_with("a=candidate:") {
            candidates += 1;
            if candidates > MAX_PER_GENERATION {
                return Err(LinkError::Violation("sdp: too many candidates".into()));
            }
            super::candidate::parse(line, loopback_session)
                .map_err(|e| LinkError::Violation(format!("sdp: {e}")))?;
        }
    }
    if fingerprints == 0 {
        return Err(LinkError::Violation("sdp: no a=fingerprint".into()));
    }
    let ufrag = ufrag.ok_or_else(|| LinkError::Violation("sdp: no a=ice-ufrag".into()))?;
    if ufrag.len() < 4 || ufrag.len() > 32 || !ufrag.bytes().all(ice_char) {
        return Err(LinkError::Violation(
            "sdp: the ICE ufrag is 4..32 ICE characters".into(),
        ));
    }
    Ok(Checked {
        ufrag: ufrag.to_owned(),
    })
}

fn ice_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// `sha-256 AB:CD:...` (the hash name in any case, as RFC 8122 allows).
fn parse_fingerprint(text: &str) -> Result<Fingerprint, LinkError> {
    let bad = || LinkError::Violation("sdp: a fingerprint is sha-256 and 32 hex bytes".into());
    let (hash, hex) = text.split_once(' ').ok_or_else(bad)?;
    if !hash.eq_ignore_ascii_case("sha-256") {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    let mut parts = hex.trim_end().split(':');
    for b in &mut bytes {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Fingerprint::from_bytes(bytes))
}

/// An offer, checked and parsed.
pub fn offer(
    sdp: &str,
    expected: Fingerprint,
    loopback_session: bool,
) -> Result<(Checked, SdpOffer), LinkError> {
    let checked = check(sdp, expected, loopback_session)?;
    let offer = SdpOffer::from_sdp_string(sdp)
        .map_err(|e| LinkError::Violation(format!("sdp offer: {e}")))?;
    Ok((checked, offer))
}

/// An answer, checked and parsed.
pub fn answer(
    sdp: &str,
    expected: Fingerprint,
    loopback_session: bool,
) -> Result<(Checked, SdpAnswer), LinkError> {
    let checked = check(sdp, expected, loopback_session)?;
    let answer = SdpAnswer::from_sdp_string(sdp)
        .map_err(|e| LinkError::Violation(format!("sdp answer: {e}")))?;
    Ok((checked, answer))
}

/// Fuzzing entry: the checks and both parsers on arbitrary text, against a
/// fixed fingerprint; nothing may panic.
#[doc(hidden)]
pub fn fuzz_sdp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fp = Fingerprint::from_bytes([0xA9; 32]);
    let _ = offer(text, fp, false);
    let _ = answer(text, fp, true);
    // The parsers alone, past the bounds the checks put on them.
    if text.len() <= 8192 {
        let _ = SdpOffer::from_sdp_string(text);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// What Debian's Chromium offers for data channels only (trimmed ids).
    pub(crate) const CHROMIUM_OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Gq3r\r\na=ice-pwd:3hKo2dTOeA4qH8Qd9rB1xW7y\r\na=ice-options:trickle\r\na=fingerprint:sha-256 A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

    #[test]
    fn a_browser_offer_with_the_announced_fingerprint_is_taken() {
        let fp = Fingerprint::from_bytes([0xA9; 32]);
        let (c, _) = offer(CHROMIUM_OFFER, fp, false).unwrap();
        assert_eq!(c.ufrag, "Gq3r");
    }

    #[test]
    fn another_fingerprint_is_the_typed_mismatch() {
        let announced = Fingerprint::from_bytes([0xC0; 32]);
        match offer(CHROMIUM_OFFER, announced, false) {
            Err(LinkError::FingerprintMismatch(m)) => {
                assert_eq!(m.expected, announced);
                assert_eq!(m.presented, Fingerprint::from_bytes([0xA9; 32]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_sdp_is_a_violation_not_a_panic() {
        let fp = Fingerprint::from_bytes([0xA9; 32]);
        let no_fp = CHROMIUM_OFFER.replace("a=fingerprint:", "a=x-fingerprint:");
        let sha1 = CHROMIUM_OFFER.replace("sha-256 A9", "sha-1 A9");
        let short = CHROMIUM_OFFER.replace(":A9\r\n", "\r\n");
        let two_ufrags = CHROMIUM_OFFER.replace("a=mid:0", "a=ice-ufrag:Zzzz\r\na=mid:0");
        let no_ufrag = CHROMIUM_OFFER.replace("a=ice-ufrag:Gq3r\r\n", "");
        let huge = format!("{CHROMIUM_OFFER}{}", "a=x:y\r\n".repeat(500));
        for bad in [
            "",
            "v=0\r\n",
            "garbage",
            no_fp.as_str(),
            sha1.as_str(),
            short.as_str(),
            two_ufrags.as_str(),
            no_ufrag.as_str(),
            huge.as_str(),
        ] {
            match offer(bad, fp, false) {
                Err(LinkError::Violation(_)) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // Well-formed lines that are not an SDP str0m can use.
        let not_sdp = "v=0\r\na=fingerprint:sha-256 A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9:A9\r\na=ice-ufrag:abcd\r\n";
        assert!(matches!(
            offer(not_sdp, fp, false),
            Err(LinkError::Violation(_))
        ));
        // Candidates inside the SDP are held to the trickled ones' rules.
        let hostile = CHROMIUM_OFFER.replace(
            "a=mid:0\r\n",
            "a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 22 typ host\r\n",
        );
        assert!(matches!(
            offer(&hostile, fp, false),
            Err(LinkError::Violation(_))
        ));
        assert!(offer(&hostile, fp, true).is_ok());
    }
}
