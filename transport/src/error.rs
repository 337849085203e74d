//! Typed transport errors.

use crate::identity::FingerprintMismatch;

/// Why a link could not be made or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The peer presented a certificate other than the announced one.
    #[error(transparent)]
    FingerprintMismatch(#[from] FingerprintMismatch),
    /// The peer refused our certificate (it expected another fingerprint).
    #[error("the peer refused our certificate")]
    RefusedByPeer,
    /// Making our ephemeral certificate failed.
    #[error("could not make a certificate: {0}")]
    Identity(String),
    /// TLS failed for another reason.
    #[error("TLS: {0}")]
    Tls(String),
    /// QUIC connection error.
    #[error("QUIC: {0}")]
    Quic(String),
    /// WebRTC (ICE, SCTP or str0m) failed.
    #[error("WebRTC: {0}")]
    WebRtc(String),
    /// The relay refused or dropped us.
    #[error("relay: {0}")]
    Relay(String),
    /// The peer broke the link framing (mux record, stream header).
    #[error("link protocol violation: {0}")]
    Violation(String),
    /// Socket error.
    #[error("I/O: {0}")]
    Io(String),
    /// Nothing worked in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The link is closed.
    #[error("the link is closed")]
    Closed,
    /// No direct path could be made: why each attempt of the race failed.
    #[error("no direct path ({0})")]
    NoDirectPath(String),
}

impl LinkError {
    pub(crate) fn tls(e: rustls::Error) -> Self {
        Self::from_rustls(&e)
    }

    /// Classifies a rustls error: our verifier's refusal, the peer's, or other.
    pub(crate) fn from_rustls(e: &rustls::Error) -> Self {
        if let Some(m) = crate::identity::mismatch_in(e) {
            return LinkError::FingerprintMismatch(m);
        }
        match e {
            rustls::Error::AlertReceived(
                rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::CertificateUnknown
                | rustls::AlertDescription::DecryptError
                | rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::AccessDenied,
            ) => LinkError::RefusedByPeer,
            other => LinkError::Tls(other.to_string()),
        }
    }

    /// From an I/O error, which may wrap a rustls error (tokio-rustls does).
    pub(crate) fn from_io(e: &std::io::Error) -> Self {
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Self::from_rustls(inner);
        }
        LinkError::Io(e.to_string())
    }
}
