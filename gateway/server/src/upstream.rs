//! The HTTPS client to the national platform (or a province's front end): the gateway as the
//! agency's front-end processor forwards national-interface requests to one upstream per pool
//! region.
//!
//! hyper's HTTP/1.1 client connection over tokio-rustls, with a small keep-alive pool of our
//! own (hyper-util's pooled client would need a `tower` connector type this workspace does not
//! carry). HTTP/1.1 only: the national endpoints are plain HTTP/1.1 services, and one request
//! per connection at a time keeps "was this request written?" answerable per connection.
//!
//! The one question the forwarder must answer after a failure is *could upstream have
//! processed the request?* — [`UpstreamError::may_have_been_processed`]. A failure before any
//! request byte left (TCP connect, TLS handshake, a pooled connection hyper refused before
//! writing) is "no"; anything after the request was handed to the connection (timeout, lost or
//! truncated answer) is "maybe", and a settling transaction then needs a 2601 reversal.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::{debug, warn};

use crate::error::ServerError;
use crate::routes::{PATH_CALL_SERVICE, PATH_NATIONAL_PREFIX, ServicePaths};
use crate::tif::{HEADER_NONCE, HEADER_PAASID, HEADER_SIGNATURE, HEADER_TIMESTAMP, tif_signature};
use crate::tls;

/// Default deadline for one whole exchange (connect + send + complete answer). The platform
/// answers a settlement in well under a second normally; 15 s tolerates a slow day while
/// leaving room, inside the HIS's own timeout, for the 2601 that follows a timeout.
pub const UPSTREAM_TIMEOUT_MS_DEFAULT: u64 = 15_000;
/// Default deadline for TCP connect + TLS handshake (inside the exchange deadline).
pub const UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT: u64 = 3_000;
/// Largest accepted exchange deadline: beyond 5 minutes a caller has long given up.
pub const UPSTREAM_TIMEOUT_MS_MAX: u64 = 300_000;
/// Default largest answer body read from upstream. A settlement answer is a few KiB; the
/// bound keeps a misbehaving upstream from filling memory, and 2 MiB fits (with the request)
/// in one journal record (the store's default record limit is 4 MiB).
pub const UPSTREAM_RESPONSE_BYTES_MAX_DEFAULT: usize = 2 * 1024 * 1024;
/// Default number of idle keep-alive connections kept per upstream.
pub const UPSTREAM_POOL_IDLE_MAX_DEFAULT: usize = 8;
/// Default time an idle pooled connection is reused. Below Tomcat's 20 s keep-alive default,
/// so we rarely write into a connection the server is just closing (that race turns a
/// harmless request into an in-doubt one).
pub const UPSTREAM_POOL_IDLE_TIMEOUT_MS_DEFAULT: u64 = 15_000;
/// How long a connection that just answered may take to become reusable before it is
/// dropped instead of pooled (hyper marks it ready once the answer is fully read).
pub const POOL_RETURN_READY_WAIT_MS: u64 = 1_000;
/// `Content-Type` of forwarded requests (§1.3: JSON, UTF-8).
pub const UPSTREAM_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
/// Length of the random `x-tif-nonce`, bytes before hex encoding (32 hex characters, the
/// size of a GUID without dashes).
const TIF_NONCE_BYTES: usize = 16;
/// Default HTTPS port.
const HTTPS_PORT: u16 = 443;

/// How the request path is chosen (nhsa-interface.md §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathStyle {
    /// `url` is a base; every transaction goes to `<base>/fsi/api/rsfComIfsService/callService`.
    #[default]
    Single,
    /// `url` is a base; each transaction goes to its own service path,
    /// `<base>/fsi/api/outpatientSettleService/saveSettletmentV2` for 2207 etc., from the
    /// table given to [`UpstreamClient::with_service_paths`].
    PerService,
    /// `url` is the complete endpoint for every transaction (e.g. Jilin's
    /// `/mbs/fmi/fsi/api/callFsiService/callService`).
    Exact,
}

/// x-tif credentials the gateway signs its upstream requests with (§1.4 item 1).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTif {
    /// `x-tif-paasid`. Required, non-empty.
    pub paasid: String,
    /// The paas secret in the signature. Required, non-empty.
    pub token: String,
}

impl std::fmt::Debug for UpstreamTif {
    // The token is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTif")
            .field("paasid", &self.paasid)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// One upstream (one pool region's national endpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `https://host[:port][/prefix]`. Required; `https` only (settlement data never travels
    /// in clear); no query.
    pub url: String,
    /// PEM bundle of the CAs that may issue the upstream's server certificate. Required.
    pub ca_bundle: PathBuf,
    /// PEM client certificate chain presented to upstream. Default none; give `client_key`
    /// with it.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`. Default none.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// x-tif signing credentials. Default none (no x-tif headers sent).
    #[serde(default)]
    pub tif: Option<UpstreamTif>,
    /// Deadline for one whole exchange, milliseconds. Default 15000; 1..=300000.
    #[serde(default = "timeout_ms_default")]
    pub timeout_ms: u64,
    /// Deadline for TCP connect + TLS handshake, milliseconds. Default 3000; at most
    /// `timeout_ms`.
    #[serde(default = "connect_timeout_ms_default")]
    pub connect_timeout_ms: u64,
    /// `single` (default), `per_service` or `exact`; see [`PathStyle`].
    #[serde(default)]
    pub path_style: PathStyle,
    /// Largest answer body, bytes. Default 2 MiB.
    #[serde(default = "response_bytes_max_default")]
    pub response_bytes_max: usize,
    /// Idle keep-alive connections kept. Default 8; 0 disables reuse.
    #[serde(default = "pool_idle_max_default")]
    pub pool_idle_max: usize,
    /// Reuse an idle connection only this long, milliseconds. Default 15000.
    #[serde(default = "pool_idle_timeout_ms_default")]
    pub pool_idle_timeout_ms: u64,
    /// SHA-256 of the one server certificate (DER, hex, colons allowed) accepted, on top of
    /// the CA check: a peer region's gateway is pinned, so a certificate the CA issued to
    /// someone else does not pass. Default: not pinned.
    #[serde(default)]
    pub server_fingerprint_sha256: Option<String>,
}

fn timeout_ms_default() -> u64 {
    UPSTREAM_TIMEOUT_MS_DEFAULT
}
fn connect_timeout_ms_default() -> u64 {
    UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT
}
fn response_bytes_max_default() -> usize {
    UPSTREAM_RESPONSE_BYTES_MAX_DEFAULT
}
fn pool_idle_max_default() -> usize {
    UPSTREAM_POOL_IDLE_MAX_DEFAULT
}
fn pool_idle_timeout_ms_default() -> u64 {
    UPSTREAM_POOL_IDLE_TIMEOUT_MS_DEFAULT
}

/// The parts of a checked `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    /// Path without a trailing `/` (empty for the root).
    path: String,
}

impl UpstreamConfig {
    /// A configuration with every optional field at its default.
    pub fn new(url: impl Into<String>, ca_bundle: impl Into<PathBuf>) -> Self {
        UpstreamConfig {
            url: url.into(),
            ca_bundle: ca_bundle.into(),
            client_cert: None,
            client_key: None,
            tif: None,
            timeout_ms: UPSTREAM_TIMEOUT_MS_DEFAULT,
            connect_timeout_ms: UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT,
            path_style: PathStyle::default(),
            response_bytes_max: UPSTREAM_RESPONSE_BYTES_MAX_DEFAULT,
            pool_idle_max: UPSTREAM_POOL_IDLE_MAX_DEFAULT,
            pool_idle_timeout_ms: UPSTREAM_POOL_IDLE_TIMEOUT_MS_DEFAULT,
            server_fingerprint_sha256: None,
        }
    }

    /// Check every value (files are read by [`UpstreamClient::new`]).
    pub fn validate(&self) -> Result<(), ServerError> {
        self.endpoint()?;
        if self.timeout_ms == 0 || self.timeout_ms > UPSTREAM_TIMEOUT_MS_MAX {
            return Err(ServerError::config(
                "upstream.timeout_ms",
                format!("must be 1..={UPSTREAM_TIMEOUT_MS_MAX}"),
            ));
        }
        if self.connect_timeout_ms == 0 || self.connect_timeout_ms > self.timeout_ms {
            return Err(ServerError::config(
                "upstream.connect_timeout_ms",
                "must be at least 1 and at most timeout_ms (the exchange deadline covers it)",
            ));
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(ServerError::config(
                "upstream.client_cert",
                "client_cert and client_key go together",
            ));
        }
        if let Some(t) = &self.tif
            && (t.paasid.is_empty() || t.token.is_empty())
        {
            return Err(ServerError::config(
                "upstream.tif",
                "paasid and token must not be empty",
            ));
        }
        if self.response_bytes_max < 1024 {
            return Err(ServerError::config(
                "upstream.response_bytes_max",
                "must be at least 1024 bytes",
            ));
        }
        if let Some(f) = &self.server_fingerprint_sha256
            && crate::config::parse_fingerprint(f).is_none()
        {
            return Err(ServerError::config(
                "upstream.server_fingerprint_sha256",
                "64 hex digits (colons allowed)",
            ));
        }
        if self.pool_idle_timeout_ms == 0 {
            return Err(ServerError::config(
                "upstream.pool_idle_timeout_ms",
                "must be at least 1 (use pool_idle_max = 0 to disable reuse)",
            ));
        }
        Ok(())
    }

    fn endpoint(&self) -> Result<Endpoint, ServerError> {
        let bad = |reason: &str| ServerError::config("upstream.url", reason.to_owned());
        let uri = Uri::from_str(&self.url).map_err(|e| bad(&format!("not a URL: {e}")))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad(
                "must start with https:// (settlement data is never sent in clear)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not carry user information"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        ServerName::try_from(host.clone())
            .map_err(|_| bad("host is neither a DNS name nor an IP address"))?;
        Ok(Endpoint {
            host,
            port: authority.port_u16().unwrap_or(HTTPS_PORT),
            path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// What upstream answered: its HTTP status and the body exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamReply {
    pub status: u16,
    pub body: Bytes,
    /// The answer's `Content-Type`, if it sent one as text.
    pub content_type: Option<String>,
}

/// Why a call produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The transaction has no service path (per-service style). Nothing was sent.
    #[error("no upstream path for infno `{infno}` (path_style = per_service)")]
    NoRoute { infno: String },
    /// TCP connect failed or timed out. Nothing was sent.
    #[error("cannot connect to upstream {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The TLS handshake failed. Nothing was sent.
    #[error("TLS handshake with upstream {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    /// The connection refused the request before writing it. Nothing was sent.
    #[error("upstream connection could not take the request: {reason}")]
    NotSent { reason: String },
    /// The request was handed over but no complete answer came within the deadline.
    #[error("no complete answer from upstream within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// The request was handed over, then the connection failed or closed before a complete
    /// answer (lost response, reset, malformed HTTP).
    #[error("upstream exchange failed after the request was sent: {reason}")]
    Protocol { reason: String },
    /// An answer came but is larger than `response_bytes_max`; its content is unknown.
    #[error("upstream answer exceeds response_bytes_max = {limit} bytes")]
    TooLarge { limit: usize },
}

impl UpstreamError {
    /// Whether upstream could have received (and acted on) the request. `false` only when it
    /// is certain that no request byte was written.
    pub fn may_have_been_processed(&self) -> bool {
        !matches!(
            self,
            UpstreamError::NoRoute { .. }
                | UpstreamError::Connect { .. }
                | UpstreamError::Tls { .. }
                | UpstreamError::NotSent { .. }
        )
    }

    /// Whether the failure is a deadline (the caller answers 504 rather than 502).
    pub fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::Timeout { .. })
    }
}

/// An idle keep-alive connection.
struct Pooled {
    sender: SendRequest<Full<Bytes>>,
    idle_since: Instant,
}

struct Inner {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    endpoint: Endpoint,
    /// `Host` header value.
    authority: String,
    path_style: PathStyle,
    tif: Option<UpstreamTif>,
    timeout: Duration,
    connect_timeout: Duration,
    response_bytes_max: usize,
    pool_idle_max: usize,
    pool_idle_timeout: Duration,
    pool: Mutex<Vec<Pooled>>,
}

/// The HTTPS client of one upstream. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
    /// Where [`PathStyle::PerService`] sends each transaction; empty until
    /// [`UpstreamClient::with_service_paths`].
    service_paths: Arc<ServicePaths>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("host", &self.inner.endpoint.host)
            .field("port", &self.inner.endpoint.port)
            .field("path", &self.inner.endpoint.path)
            .field("path_style", &self.inner.path_style)
            .field("service_paths", &self.service_paths.len())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// Validate the configuration, load the CA bundle and client certificate, build the
    /// rustls client configuration (TLS 1.2/1.3, ALPN http/1.1, aws-lc-rs).
    pub fn new(config: &UpstreamConfig) -> Result<UpstreamClient, ServerError> {
        config.validate()?;
        let endpoint = config.endpoint()?;
        let provider = tls::provider();
        let mut roots = RootCertStore::empty();
        for ca in tls::load_certificates(&config.ca_bundle)? {
            roots.add(ca).map_err(|source| ServerError::Tls {
                context: "upstream CA certificate",
                source,
            })?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|source| ServerError::Tls {
                context: "upstream protocol versions",
                source,
            })?
            .with_root_certificates(roots.clone());
        let mut client_config = match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(tls::load_certificates(cert)?, tls::load_private_key(key)?)
                .map_err(|source| ServerError::Tls {
                    context: "upstream client certificate and key",
                    source,
                })?,
            _ => builder.with_no_client_auth(),
        };
        client_config.alpn_protocols = vec![tls::ALPN_HTTP1.to_vec()];
        if let Some(pin) = config
            .server_fingerprint_sha256
            .as_deref()
            .and_then(crate::config::parse_fingerprint)
        {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                tls::provider(),
            )
            .build()
            .map_err(|e| ServerError::config("upstream.ca_bundle", e.to_string()))?;
            client_config
                .dangerous()
                .set_certificate_verifier(Arc::new(PinnedServer { webpki, pin }));
        }
        let server_name = ServerName::try_from(endpoint.host.clone())
            .map_err(|_| ServerError::config("upstream.url", "host is not a valid server name"))?;
        let authority = if endpoint.port == HTTPS_PORT {
            bracket_ipv6(&endpoint.host)
        } else {
            format!("{}:{}", bracket_ipv6(&endpoint.host), endpoint.port)
        };
        Ok(UpstreamClient {
            inner: Arc::new(Inner {
                connector: TlsConnector::from(Arc::new(client_config)),
                server_name,
                endpoint,
                authority,
                path_style: config.path_style,
                tif: config.tif.clone(),
                timeout: Duration::from_millis(config.timeout_ms),
                connect_timeout: Duration::from_millis(config.connect_timeout_ms),
                response_bytes_max: config.response_bytes_max,
                pool_idle_max: config.pool_idle_max,
                pool_idle_timeout: Duration::from_millis(config.pool_idle_timeout_ms),
                pool: Mutex::new(Vec::new()),
            }),
            service_paths: Arc::default(),
        })
    }

    /// The per-service paths [`PathStyle::PerService`] sends by (the transport knows no
    /// transactions; the service that forwards supplies them).
    pub fn with_service_paths(mut self, paths: ServicePaths) -> UpstreamClient {
        self.service_paths = Arc::new(paths);
        self
    }

    /// The exchange deadline this client applies.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The request path for `infno`.
    pub fn path_for(&self, infno: &str) -> Result<String, UpstreamError> {
        let base = &self.inner.endpoint.path;
        match self.inner.path_style {
            PathStyle::Single => Ok(format!("{base}{PATH_CALL_SERVICE}")),
            PathStyle::Exact => Ok(if base.is_empty() {
                "/".to_owned()
            } else {
                base.clone()
            }),
            PathStyle::PerService => self
                .service_paths
                .path(infno)
                .map(|p| format!("{base}{PATH_NATIONAL_PREFIX}{p}"))
                .ok_or_else(|| UpstreamError::NoRoute {
                    infno: infno.to_owned(),
                }),
        }
    }

    /// POST `body` for transaction `infno` and return upstream's answer as received. The
    /// client's deadline covers the whole exchange: connect, TLS, send, and reading the
    /// complete answer.
    pub async fn call(&self, infno: &str, body: Bytes) -> Result<UpstreamReply, UpstreamError> {
        let path = self.path_for(infno)?;
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let mut request = self.request(&path, body)?;
        // A pooled connection may have been closed by the server while idle; hyper hands the
        // request back if it was not written, and then one fresh connection is tried.
        let mut fresh_tried = false;
        loop {
            let mut sender = match self.checkout() {
                Some(s) => s,
                None => {
                    fresh_tried = true;
                    self.connect(deadline).await?
                }
            };
            let sent = tokio::time::timeout_at(deadline, sender.try_send_request(request)).await;
            let response = match sent {
                // Dropping the send future closes the connection (hyper), so a late answer
                // cannot be mistaken for the answer to a later request.
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        timeout_ms: millis(self.inner.timeout),
                    });
                }
                Ok(Err(mut e)) => match e.take_message() {
                    Some(back) if !fresh_tried => {
                        debug!(error = %e.error(), "pooled upstream connection unusable; reconnecting");
                        request = back;
                        continue;
                    }
                    Some(_) => {
                        return Err(UpstreamError::NotSent {
                            reason: e.into_error().to_string(),
                        });
                    }
                    None => {
                        return Err(UpstreamError::Protocol {
                            reason: e.into_error().to_string(),
                        });
                    }
                },
                Ok(Ok(r)) => r,
            };
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let limited = Limited::new(response.into_body(), self.inner.response_bytes_max);
            let body = match tokio::time::timeout_at(deadline, limited.collect()).await {
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        timeout_ms: millis(self.inner.timeout),
                    });
                }
                Ok(Err(e)) => {
                    return Err(
                        if e.downcast_ref::<http_body_util::LengthLimitError>()
                            .is_some()
                        {
                            UpstreamError::TooLarge {
                                limit: self.inner.response_bytes_max,
                            }
                        } else {
                            UpstreamError::Protocol {
                                reason: format!("reading the answer: {e}"),
                            }
                        },
                    );
                }
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            self.checkin(sender);
            return Ok(UpstreamReply {
                status,
                body,
                content_type,
            });
        }
    }

    fn request(&self, path: &str, body: Bytes) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, &self.inner.authority)
            .header(CONTENT_TYPE, UPSTREAM_CONTENT_TYPE)
            .header(ACCEPT, "application/json");
        if let Some(tif) = &self.inner.tif {
            // Fresh timestamp and nonce per request: upstream refuses a reused nonce.
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .to_string();
            let mut nonce = [0u8; TIF_NONCE_BYTES];
            // The TLS stack's own CSPRNG (aws-lc-rs), already in the process.
            rustls::crypto::aws_lc_rs::default_provider()
                .secure_random
                .fill(&mut nonce)
                .map_err(|_| UpstreamError::NotSent {
                    reason: "no random bytes for the x-tif nonce".to_owned(),
                })?;
            let nonce = hex::encode(nonce);
            let signature = tif_signature(&timestamp, &tif.token, &nonce);
            b = b
                .header(HEADER_PAASID, &tif.paasid)
                .header(HEADER_TIMESTAMP, timestamp)
                .header(HEADER_NONCE, nonce)
                .header(HEADER_SIGNATURE, signature);
        }
        b.body(Full::new(body)).map_err(|e| UpstreamError::NotSent {
            reason: format!("request could not be built: {e}"),
        })
    }

    /// An idle connection that is still usable, if any.
    fn checkout(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(p) = pool.pop() {
            if p.idle_since.elapsed() < self.inner.pool_idle_timeout
                && !p.sender.is_closed()
                && p.sender.is_ready()
            {
                return Some(p.sender);
            }
        }
        None
    }

    /// Pool a connection once hyper reports it ready for the next request (after the answer
    /// was fully read). Done in a task so the caller does not wait for it.
    fn checkin(&self, mut sender: SendRequest<Full<Bytes>>) {
        if self.inner.pool_idle_max == 0 {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let ready = tokio::time::timeout(
                Duration::from_millis(POOL_RETURN_READY_WAIT_MS),
                sender.ready(),
            )
            .await;
            if matches!(ready, Ok(Ok(()))) {
                let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < inner.pool_idle_max {
                    pool.push(Pooled {
                        sender,
                        idle_since: Instant::now(),
                    });
                }
            }
        });
    }

    async fn connect(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<SendRequest<Full<Bytes>>, UpstreamError> {
        let inner = &self.inner;
        let addr = format!("{}:{}", inner.endpoint.host, inner.endpoint.port);
        let connect_deadline = deadline.min(tokio::time::Instant::now() + inner.connect_timeout);
        let timed_out = || UpstreamError::Connect {
            addr: addr.clone(),
            reason: format!(
                "connect + TLS handshake did not finish within {} ms",
                millis(inner.connect_timeout.min(inner.timeout))
            ),
        };
        let tcp = tokio::time::timeout_at(
            connect_deadline,
            TcpStream::connect((inner.endpoint.host.as_str(), inner.endpoint.port)),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| UpstreamError::Connect {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout_at(
            connect_deadline,
            inner.connector.connect(inner.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| UpstreamError::Tls {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        let (sender, conn) =
            http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| UpstreamError::Tls {
                    addr: addr.clone(),
                    reason: format!("HTTP/1.1 setup: {e}"),
                })?;
        // The connection task drives the socket; it ends when the sender is dropped or the
        // peer closes.
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Log helper for callers: one line per failed exchange, with whether it is in doubt.
pub fn log_failure(infno: &str, msgid: &str, e: &UpstreamError) {
    warn!(infno, msgid, error = %e, in_doubt = e.may_have_been_processed(), "upstream exchange failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> UpstreamConfig {
        UpstreamConfig::new(url, "/nonexistent/ca.pem")
    }

    #[test]
    fn only_https_urls_without_query_or_userinfo() {
        assert!(
            cfg("https://fsi.example.cn/ebus/rio_fsi")
                .validate()
                .is_ok()
        );
        assert!(cfg("https://127.0.0.1:8443").validate().is_ok());
        for bad in [
            "http://fsi.example.cn",
            "https://fsi.example.cn/x?y=1",
            "https://u:p@fsi.example.cn",
            "fsi.example.cn",
            "",
        ] {
            assert!(cfg(bad).validate().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn timeouts_and_credentials_are_checked() {
        let mut c = cfg("https://h.example");
        c.timeout_ms = 0;
        assert!(c.validate().is_err());
        let mut c = cfg("https://h.example");
        c.connect_timeout_ms = c.timeout_ms + 1;
        assert!(c.validate().is_err());
        let mut c = cfg("https://h.example");
        c.client_cert = Some("/x.pem".into());
        assert!(c.validate().is_err(), "cert without key");
        let mut c = cfg("https://h.example");
        c.tif = Some(UpstreamTif {
            paasid: "p".into(),
            token: String::new(),
        });
        assert!(c.validate().is_err());
        assert!(
            !format!(
                "{:?}",
                UpstreamTif {
                    paasid: "p".into(),
                    token: "s3cret".into()
                }
            )
            .contains("s3cret")
        );
    }

    /// Per-service paths are the table the service gave; without one no transaction has a
    /// path and nothing is sent.
    #[test]
    fn per_service_paths_come_from_the_table_given() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::generate_dev_pki(dir.path(), &["localhost"], &[]).unwrap();
        let mut c = UpstreamConfig::new("https://fsi.example.cn/ebus/rio_fsi/", &pki.ca_cert);
        c.path_style = PathStyle::PerService;
        let bare = UpstreamClient::new(&c).unwrap();
        assert_eq!(
            bare.path_for("2207"),
            Err(UpstreamError::NoRoute {
                infno: "2207".into()
            })
        );
        let client = bare.with_service_paths(ServicePaths::new([("a/b", "2207")]));
        assert_eq!(
            client.path_for("2207").unwrap(),
            "/ebus/rio_fsi/fsi/api/a/b"
        );
        assert!(client.path_for("2208").is_err());
        // the other styles do not look at the table
        c.path_style = PathStyle::Single;
        let single = UpstreamClient::new(&c).unwrap();
        assert_eq!(
            single.path_for("2207").unwrap(),
            format!("/ebus/rio_fsi{PATH_CALL_SERVICE}")
        );
    }

    #[test]
    fn config_file_shape_is_strict_with_named_defaults() {
        let c: UpstreamConfig = toml::from_str(
            r#"url = "https://fsi.example.cn"
               ca_bundle = "/etc/ca.pem"
               path_style = "per_service""#,
        )
        .unwrap();
        assert_eq!(c.timeout_ms, UPSTREAM_TIMEOUT_MS_DEFAULT);
        assert_eq!(c.connect_timeout_ms, UPSTREAM_CONNECT_TIMEOUT_MS_DEFAULT);
        assert_eq!(c.path_style, PathStyle::PerService);
        assert!(
            toml::from_str::<UpstreamConfig>(
                "url = \"https://x\"\nca_bundle = \"/c\"\ntimeout = 5"
            )
            .is_err(),
            "unknown field accepted"
        );
    }

    #[test]
    fn in_doubt_classification() {
        let sent = [
            UpstreamError::Timeout { timeout_ms: 1 },
            UpstreamError::Protocol {
                reason: "closed".into(),
            },
            UpstreamError::TooLarge { limit: 1 },
        ];
        let unsent = [
            UpstreamError::Connect {
                addr: "a".into(),
                reason: "refused".into(),
            },
            UpstreamError::Tls {
                addr: "a".into(),
                reason: "bad cert".into(),
            },
            UpstreamError::NotSent {
                reason: "closed".into(),
            },
            UpstreamError::NoRoute {
                infno: "9999".into(),
            },
        ];
        assert!(sent.iter().all(UpstreamError::may_have_been_processed));
        assert!(!unsent.iter().any(UpstreamError::may_have_been_processed));
    }
}

/// The CA's verdict, then the pinned fingerprint: both must accept the server's certificate.
#[derive(Debug)]
struct PinnedServer {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pin: [u8; 32],
}

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use sha2::Digest;
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let seen: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
        if seen != self.pin {
            return Err(rustls::Error::General(format!(
                "server certificate sha256 {} is not the pinned one",
                hex::encode(seen)
            )));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
