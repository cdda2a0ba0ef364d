//! medsettle-client: what talks to a running medsettle gateway from outside, over mutual TLS.
//!
//! - [`his`]: the hospital side of the national interface — envelopes, a keep-alive HTTP/1.1
//!   connection with retries, and whole visits (register → fees → pre-settle → settle). The
//!   demo, the ingest benchmark, the end-to-end tests and the conformance runner all drive the
//!   gateway through it, exactly as a hospital would.
//! - [`certify`]: a vendor's HIS running the certification scenarios, well-behaved or sloppy
//!   on purpose (`specs/certification.md`).
//! - [`legacy`]: the hospital side of the legacy provincial dialects (`specs/legacy.md`):
//!   GBK XML calls and the Guizhou two-phase commit, as a vendor's shim DLL makes them.
//! - [`operator`]: the operator API (`/ops/…`, JSON in and out) that the command line uses when
//!   a gateway is running on its configuration.

pub mod certify;
pub mod his;
pub mod legacy;
pub mod operator;
pub mod traffic;

/// The TLS client configuration the connections take (built by [`his::client_tls`]): named
/// here so that callers need not depend on the TLS library themselves.
pub type TlsConfig = rustls::ClientConfig;
