//! TLS: PEM loading and the rustls server configuration (client certificate required,
//! TLS 1.2/1.3, ALPN h2 + http/1.1, aws-lc-rs provider).

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ServerError;

/// TLS material loaded from the configured files.
#[derive(Debug)]
pub struct TlsMaterial {
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    pub client_roots: Vec<CertificateDer<'static>>,
}

/// ALPN id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// All certificates of a PEM file, in order. An empty file is an error: a chain or bundle
/// that silently holds nothing would only surface as confusing handshake failures.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let pem_err = |reason: String| ServerError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| ServerError::Pem {
        path: path.to_owned(),
        reason: format!("no usable private key: {e}"),
    })
}

/// The crypto provider used everywhere in this crate; passed explicitly so nothing depends
/// on a process-wide default being installed.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Build the rustls server configuration. Client certificates are mandatory: the verifier
/// refuses anonymous clients (`WebPkiClientVerifier` without `allow_unauthenticated`).
pub fn server_config(material: &TlsMaterial) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for (i, ca) in material.client_roots.iter().enumerate() {
        roots.add(ca.clone()).map_err(|source| ServerError::Tls {
            context: if i == 0 {
                "client CA certificate"
            } else {
                "client CA certificate (bundle entry)"
            },
            source,
        })?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| ServerError::Tls {
            context: "protocol versions",
            source,
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            material.server_chain.clone(),
            material.server_key.clone_key(),
        )
        .map_err(|source| ServerError::Tls {
            context: "server certificate and key",
            source,
        })?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}
