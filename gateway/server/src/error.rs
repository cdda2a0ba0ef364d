//! The one error type of this crate. Every variant is the operator's (configuration, files,
//! ports) or internal; bad input from clients never becomes a `ServerError` — it becomes an
//! HTTP answer (see [`crate::routes`]).

use std::path::PathBuf;

/// Why the server could not be configured, bound, or could not generate its development PKI.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A configuration value is wrong; `field` is its path in the TOML file.
    #[error("configuration `{field}`: {reason}")]
    Config { field: String, reason: String },

    /// A PEM file could not be read or holds no usable item.
    #[error("PEM file {path}: {reason}")]
    Pem { path: PathBuf, reason: String },

    /// rustls refused the certificates or keys (e.g. key does not match the certificate).
    #[error("TLS setup ({context}): {source}")]
    Tls {
        context: &'static str,
        #[source]
        source: rustls::Error,
    },

    /// The client-certificate verifier could not be built (e.g. empty CA bundle).
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),

    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// File-system error outside PEM parsing (writing the development PKI, …).
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// rcgen could not generate a key or certificate.
    #[error("certificate generation ({context}): {source}")]
    Pki {
        context: String,
        #[source]
        source: rcgen::Error,
    },
}

impl ServerError {
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServerError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
