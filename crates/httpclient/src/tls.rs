//! `tls_config`: CA, client certificate, `server_name`, `insecure_skip_verify` and TLS
//! versions, on rustls with the ring provider.

use std::sync::Arc;

use config::TlsConfig;
use config::http_config::TlsVersion;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::{Error, Result};

/// Where the system's CA bundle usually is (Go's crypto/x509 looks in the same places).
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn tls_err(message: String) -> Error {
    Error::Tls { message }
}

fn read(what: &str, inline: &str, file: &str) -> Result<Option<Vec<u8>>> {
    if !inline.is_empty() {
        return Ok(Some(inline.as_bytes().to_vec()));
    }
    if file.is_empty() {
        return Ok(None);
    }
    std::fs::read(file).map(Some).map_err(|e| {
        let e = crate::error::go_io_error("open", file, &e);
        tls_err(format!(
            "unable to read {what}: unable to read file {file}: {e}"
        ))
    })
}

fn certs(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_err(format!("unable to parse {what}: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(format!(
            "unable to use specified {what}: no certificate found"
        )));
    }
    Ok(certs)
}

/// The server name to verify instead of the URL's host, if configured.
pub(crate) fn server_name(tls: &TlsConfig) -> Result<Option<ServerName<'static>>> {
    if tls.server_name.is_empty() {
        return Ok(None);
    }
    ServerName::try_from(tls.server_name.clone())
        .map(Some)
        .map_err(|e| tls_err(format!("invalid server_name {:?}: {e}", tls.server_name)))
}

/// Builds the rustls client configuration for a `tls_config`.
///
/// # Errors
/// [`Error::Tls`] for unreadable or invalid certificates and keys and for TLS versions
/// rustls does not speak (below 1.2); [`Error::SecretRef`] for secret-manager references.
pub(crate) fn client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig> {
    for (reference, what) in [
        (&tls.ca_ref, "CA cert"),
        (&tls.cert_ref, "client cert"),
        (&tls.key_ref, "client key"),
    ] {
        if !reference.is_empty() {
            return Err(Error::SecretRef { what });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let min = tls.min_version.unwrap_or(TlsVersion::Tls12);
    let max = tls.max_version.unwrap_or(TlsVersion::Tls13);
    let mut versions = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(tls_err("TLS versions below 1.2 are not supported".into()));
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| tls_err(e.to_string()))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match read("CA cert", &tls.ca, &tls.ca_file)? {
            Some(pem) => {
                for c in certs("CA cert", &pem)? {
                    roots
                        .add(c)
                        .map_err(|e| tls_err(format!("unable to use specified CA cert: {e}")))?;
                }
            }
            None => {
                if let Some(pem) = SYSTEM_CA_BUNDLES.iter().find_map(|p| std::fs::read(p).ok()) {
                    for c in CertificateDer::pem_slice_iter(&pem).flatten() {
                        // Bundles hold some certificates webpki cannot use; skip those.
                        let _ = roots.add(c);
                    }
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let cert = read("specified client cert", &tls.cert, &tls.cert_file)?;
    let key = read("specified client key", tls.key.expose(), &tls.key_file)?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = certs("client cert", &cert)?;
            let key = PrivateKeyDer::from_pem_slice(&key)
                .map_err(|e| tls_err(format!("unable to parse client key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(format!("unable to use client certificate: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `insecure_skip_verify`: accepts any server certificate, but still checks handshake
/// signatures so the connection is at least consistent.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
