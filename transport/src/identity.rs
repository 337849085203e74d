//! Peer identity on the wire: an ephemeral certificate per session, and
//! rustls verifiers that accept exactly one certificate: the one whose
//! fingerprint the server announced. Used by every backend, so a wrong
//! fingerprint fails the same typed way everywhere; there is no fallback.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use secours_protocol::Fingerprint;

use crate::error::LinkError;

/// ALPN of the Secours session protocol, v1.
pub const ALPN: &[u8] = b"secours/1";
/// ALPN of v1 with delivery acknowledgements (spec section 12): Ack records
/// on the relay, file acknowledgement datagrams on QUIC. Peers offer it
/// first and fall back to [`ALPN`].
pub const ALPN_ACKS: &[u8] = b"secours/2";
/// ALPN of `secours/2` on the relay with input lanes (spec section 12):
/// copies of the input on two more connections through the hub.
pub const ALPN_LANES: &[u8] = b"secours/3";
/// ALPN of the TLS session on an input lane itself.
pub const ALPN_LANE: &[u8] = b"secours-lane/1";
/// ALPNs a peer offers, preferred first.
pub const OFFER: &[&[u8]] = &[ALPN_ACKS, ALPN];
/// ALPNs a peer offers on the relay, preferred first.
pub const RELAY_OFFER: &[&[u8]] = &[ALPN_LANES, ALPN_ACKS, ALPN];
/// What a peer from before acknowledgements offers (interoperability tests).
pub const OFFER_V1: &[&[u8]] = &[ALPN];

/// `offer` as rustls wants it.
pub(crate) fn alpns(offer: &[&[u8]]) -> Vec<Vec<u8>> {
    offer.iter().map(|a| a.to_vec()).collect()
}
/// The name peers put in their certificates and ask for (not checked: the
/// fingerprint is the identity).
pub const SERVER_NAME: &str = "peer.secours.invalid";

/// This side's ephemeral certificate and key, made for one session.
pub struct LocalIdentity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for LocalIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Clone for LocalIdentity {
    fn clone(&self) -> Self {
        Self {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint,
        }
    }
}

impl LocalIdentity {
    /// A fresh ECDSA P-256 key and self-signed certificate.
    pub fn generate() -> Result<Self, LinkError> {
        let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .map_err(|e| LinkError::Identity(e.to_string()))?;
        let cert = ck.cert.der().clone();
        let fingerprint = Fingerprint::of_certificate(&cert);
        Ok(Self {
            cert,
            key: PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()),
            fingerprint,
        })
    }

    /// What the server announces to the peer.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The certificate and key as DTLS wants them (WebRTC path): the same
    /// certificate, so the SDP's fingerprint is the announced one.
    pub(crate) fn dtls_cert(&self) -> str0m::config::DtlsCert {
        str0m::config::DtlsCert {
            certificate: self.cert.to_vec(),
            private_key: self.key.secret_pkcs8_der().to_vec(),
        }
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// The peer presented a certificate other than the announced one. Carried
/// inside the rustls error so every backend can report it as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the peer's certificate {presented} is not the announced {expected}")]
pub struct FingerprintMismatch {
    /// What the server announced.
    pub expected: Fingerprint,
    /// What the peer presented.
    pub presented: Fingerprint,
}

/// Finds a fingerprint mismatch inside a rustls error, if that is what it is.
pub fn mismatch_in(error: &rustls::Error) -> Option<FingerprintMismatch> {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => {
            e.downcast_ref::<FingerprintMismatch>().copied()
        }
        _ => None,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Remembers what our verifier refused, for backends (QUIC) whose errors
/// carry only the TLS alert, not the rustls error.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<FingerprintMismatch>>>);

impl Refusals {
    /// The mismatch our verifier refused, if any.
    pub fn take(&self) -> Option<FingerprintMismatch> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// Accepts exactly the certificate with the expected fingerprint.
#[derive(Debug)]
struct FingerprintVerifier {
    expected: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
    refusals: Refusals,
}

impl FingerprintVerifier {
    fn new(expected: Fingerprint, refusals: Refusals) -> Arc<Self> {
        Arc::new(Self {
            expected,
            algorithms: provider().signature_verification_algorithms,
            refusals,
        })
    }

    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let presented = Fingerprint::of_certificate(end_entity);
        if presented == self.expected {
            return Ok(());
        }
        tracing::warn!(expected = %self.expected, %presented, "peer certificate refused");
        let mismatch = FingerprintMismatch {
            expected: self.expected,
            presented,
        };
        if let Ok(mut slot) = self.refusals.0.lock() {
            *slot = Some(mismatch);
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(FingerprintMismatch {
                expected: self.expected,
                presented,
            })),
        )))
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for FingerprintVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// TLS 1.3 client config (the console's side): our certificate, and only the
/// applet's announced certificate accepted.
pub fn client_config(
    local: &LocalIdentity,
    peer: Fingerprint,
    refusals: &Refusals,
) -> Result<rustls::ClientConfig, LinkError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(LinkError::tls)?
        .dangerous()
        .with_custom_certificate_verifier(FingerprintVerifier::new(peer, refusals.clone()))
        .with_client_auth_cert(local.chain(), local.key())
        .map_err(LinkError::tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// TLS 1.3 server config (the applet's side): client certificates required,
/// only the console's announced one accepted.
pub fn server_config(
    local: &LocalIdentity,
    peer: Fingerprint,
    refusals: &Refusals,
) -> Result<rustls::ServerConfig, LinkError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(LinkError::tls)?
        .with_client_cert_verifier(FingerprintVerifier::new(peer, refusals.clone()))
        .with_single_cert(local.chain(), local.key())
        .map_err(LinkError::tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}
