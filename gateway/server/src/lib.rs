//! medsettle-server: the HTTPS transport of the medsettle gateway.
//!
//! Mutual TLS (rustls, aws-lc-rs) on hyper 1 / tokio; the client is identified once per
//! connection from its certificate; limits (body, headers, timeouts, the idle time of both
//! HTTP versions, connections — in all, per source address and per certificate —, streams),
//! x-tif signatures and per-client rate limits are enforced before a request reaches the
//! [`Service`] that the national-interface handling implements. `/healthz`, `/readyz` and
//! `/metrics` are served alongside. [`pki`] makes a development CA and certificates.
//!
//! Modules, one job each: [`config`] (file format, validation), [`tls`] (rustls setup),
//! [`identity`] (certificate → client), [`tif`] (x-tif signatures), [`rate`] (token buckets),
//! [`metrics`] (registry, text exposition), [`routes`] (paths, national error envelope),
//! [`service`] (the seam), [`server`] (accept loop, limits, shutdown), [`lifecycle`]
//! (per-source and per-certificate caps, idle timer, close after a refusal, lingering TLS
//! close), [`pki`];
//! [`upstream`] (HTTPS client to the national platform). What is done with a request —
//! decoding, journaling, forwarding with in-doubt resolution — is the service's business
//! (`medsettle-service`), not the transport's.

pub mod config;
pub mod error;
pub mod identity;
pub mod lifecycle;
pub mod metrics;
pub mod pki;
pub mod rate;
pub mod routes;
pub mod server;
pub mod service;
pub mod tif;
pub mod tls;
pub mod upstream;

pub use config::{ClientConfig, LimitsConfig, ServerConfig, TifConfig, ValidConfig};
pub use error::ServerError;
pub use identity::{ClientIdentity, Role};
pub use metrics::{Counter, Gauge, Histogram, Metrics};
pub use routes::{PATH_OPS_PREFIX, ServicePaths};
pub use server::{BoundServer, Server, ShutdownReport};
pub use service::{
    BoxFuture, CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT, OperatorRequest, Readiness, ReadyFlag,
    Service, ServiceRequest, ServiceResponse,
};
pub use tif::tif_signature;
pub use upstream::{
    PathStyle, UpstreamClient, UpstreamConfig, UpstreamError, UpstreamReply, UpstreamTif,
};
