//! Remote ICE candidates, taken only within bounds: UDP, a specified
//! unicast address and port, of the ICE generation in force, at most
//! [`MAX_PER_GENERATION`] of them. A candidate pointing at this machine's
//! loopback is taken only when the session itself runs on loopback: a peer
//! must not aim our connectivity checks at our own services.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use secours_protocol::signaling::MAX_ICE_CANDIDATE_LEN;
use str0m::Candidate;
use str0m::net::Protocol;

/// Remote candidates taken per ICE generation; the rest are dropped.
pub const MAX_PER_GENERATION: usize = 32;

/// Why a remote candidate was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateError {
    /// Not a candidate attribute str0m reads (an mDNS name among others).
    #[error("unreadable candidate: {0}")]
    Unreadable(String),
    /// Longer than the signal's bound.
    #[error("candidate too long")]
    TooLong,
    /// TCP or another transport (ours are UDP only).
    #[error("not a UDP candidate")]
    NotUdp,
    /// Unspecified, multicast, broadcast or port 0.
    #[error("address {0} is not a peer's")]
    NotUnicast(SocketAddr),
    /// Loopback while the session is not on loopback.
    #[error("loopback address {0} outside a loopback session")]
    Loopback(SocketAddr),
    /// Of an ICE generation other than the one in force.
    #[error("candidate of another ICE generation")]
    OtherGeneration,
    /// The generation already has its share.
    #[error("too many candidates")]
    TooMany,
    /// Already taken.
    #[error("duplicate candidate")]
    Duplicate,
}

/// One candidate attribute, parsed and checked on its own.
pub fn parse(text: &str, loopback_session: bool) -> Result<Candidate, CandidateError> {
    if text.len() > MAX_ICE_CANDIDATE_LEN {
        return Err(CandidateError::TooLong);
    }
    // Browsers send the attribute with or without its `a=` prefix.
    let text = text.strip_prefix("a=").unwrap_or(text);
    let c =
        Candidate::from_sdp_string(text).map_err(|e| CandidateError::Unreadable(e.to_string()))?;
    if c.proto() != Protocol::Udp {
        return Err(CandidateError::NotUdp);
    }
    let addr = c.addr();
    if !unicast(addr) {
        return Err(CandidateError::NotUnicast(addr));
    }
    if addr.ip().is_loopback() && !loopback_session {
        return Err(CandidateError::Loopback(addr));
    }
    Ok(c)
}

fn unicast(addr: SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    match addr.ip() {
        IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast()),
        IpAddr::V6(ip) => !(ip.is_unspecified() || ip.is_multicast()),
    }
}

/// The remote candidates of a link: which generation is in force and what
/// it has taken.
#[derive(Debug, Default)]
pub struct Intake {
    ufrag: Option<String>,
    taken: HashSet<SocketAddr>,
    /// Candidates refused so far (logged, counted, never fatal).
    pub refused: u64,
}

impl Intake {
    /// A new generation (from the peer's SDP): its candidates start afresh.
    pub fn generation(&mut self, ufrag: &str) {
        if self.ufrag.as_deref() != Some(ufrag) {
            self.ufrag = Some(ufrag.to_owned());
            self.taken.clear();
        }
    }

    /// A trickled candidate of generation `ufrag`: the candidate to give
    /// str0m, or why not.
    pub fn take(
        &mut self,
        ufrag: &str,
        text: &str,
        loopback_session: bool,
    ) -> Result<Candidate, CandidateError> {
        let r = self.check(ufrag, text, loopback_session);
        if r.is_err() {
            self.refused += 1;
        }
        r
    }

    fn check(
        &mut self,
        ufrag: &str,
        text: &str,
        loopback_session: bool,
    ) -> Result<Candidate, CandidateError> {
        if self.ufrag.as_deref() != Some(ufrag) {
            return Err(CandidateError::OtherGeneration);
        }
        if self.taken.len() >= MAX_PER_GENERATION {
            return Err(CandidateError::TooMany);
        }
        let c = parse(text, loopback_session)?;
        if !self.taken.insert(c.addr()) {
            return Err(CandidateError::Duplicate);
        }
        Ok(c)
    }
}

/// Fuzzing entry: candidate attributes, one a line, through an intake.
#[doc(hidden)]
pub fn fuzz_candidates(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut intake = Intake::default();
    intake.generation("fuzz");
    for (i, line) in text.lines().enumerate() {
        if let Ok(c) = intake.take("fuzz", line, i % 2 == 0) {
            assert!(unicast(c.addr()));
        }
    }
    assert!(intake.taken.len() <= MAX_PER_GENERATION);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HOST: &str = "candidate:1 1 udp 2130706431 192.0.2.7 40000 typ host";

    #[test]
    fn a_browser_candidate_is_taken() {
        let c = parse(HOST, false).unwrap();
        assert_eq!(c.addr(), "192.0.2.7:40000".parse().unwrap());
        let srflx = "candidate:842163049 1 udp 1677729535 203.0.113.9 61000 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Gq3r network-cost 999";
        assert!(parse(srflx, false).is_ok());
        assert!(parse(&format!("a={HOST}"), false).is_ok());
    }

    #[test]
    fn hostile_candidates_are_refused() {
        for (text, loopback) in [
            ("candidate:1 1 udp 2130706431 0.0.0.0 40000 typ host", true),
            (
                "candidate:1 1 udp 2130706431 224.0.0.1 40000 typ host",
                true,
            ),
            (
                "candidate:1 1 udp 2130706431 255.255.255.255 40000 typ host",
                true,
            ),
            ("candidate:1 1 udp 2130706431 ff02::1 40000 typ host", true),
            ("candidate:1 1 udp 2130706431 :: 40000 typ host", true),
            ("candidate:1 1 udp 2130706431 192.0.2.7 0 typ host", true),
            ("candidate:1 1 udp 2130706431 127.0.0.1 22 typ host", false),
            (
                "candidate:1 1 tcp 2130706431 192.0.2.7 9 typ host tcptype active",
                true,
            ),
            (
                "candidate:1 1 udp 2130706431 3f1c2b9e-1111.local 40000 typ host",
                true,
            ),
            ("candidate:garbage", true),
            ("", true),
        ] {
            assert!(parse(text, loopback).is_err(), "{text}");
        }
        let long = format!("{HOST} {}", "x".repeat(300));
        assert_eq!(parse(&long, true), Err(CandidateError::TooLong));
        assert!(parse("candidate:1 1 udp 2130706431 127.0.0.1 4000 typ host", true).is_ok());
    }

    #[test]
    fn thousands_of_candidates_stop_at_the_bound() {
        let mut intake = Intake::default();
        assert_eq!(
            intake.take("abcd", HOST, false),
            Err(CandidateError::OtherGeneration),
            "nothing before the SDP names its generation"
        );
        intake.generation("abcd");
        let mut taken = 0;
        for i in 0..5000u32 {
            let text = format!(
                "candidate:{i} 1 udp 2130706431 10.{}.{}.{} 4000 typ host",
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff
            );
            if intake.take("abcd", &text, false).is_ok() {
                taken += 1;
            }
        }
        assert_eq!(taken, MAX_PER_GENERATION);
        assert_eq!(intake.refused, 5001 - MAX_PER_GENERATION as u64);
        assert_eq!(
            intake.take("zzzz", HOST, false),
            Err(CandidateError::OtherGeneration)
        );
        // An ICE restart opens a new generation with its own share.
        intake.generation("efgh");
        assert!(intake.take("efgh", HOST, false).is_ok());
        assert_eq!(
            intake.take("efgh", HOST, false),
            Err(CandidateError::Duplicate)
        );
    }
}
