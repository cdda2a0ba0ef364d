//! Server configuration: the raw serde structs read from the `[server]` part of the TOML file,
//! and [`ServerConfig::validate`], which checks every value, loads the PEM files and returns the
//! resolved [`ValidConfig`] the server runs on. Every limit is a named constant here (units
//! last) so the defaults are documented in one place.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ServerError;
use crate::identity::{ClientIdentity, ClientMatch, ConfiguredClient, Role};
use crate::tif::TifClient;
use crate::tls;
pub use crate::tls::TlsMaterial;

/// Default listen address: loopback only, so a fresh install is not exposed by accident.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:8443";
/// Default largest request body accepted (1 MiB); a settlement envelope is a few KiB, a big
/// 2204/2301 fee upload a few hundred KiB.
pub const BODY_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Default largest operator request body: monthly settlement uploads its CSV inputs.
pub const OPERATOR_BODY_BYTES_MAX_DEFAULT: usize = 32 * 1024 * 1024;
/// Default largest request head (request line + headers) over HTTP/1.1, and the largest header
/// list over HTTP/2.
pub const HEADER_BYTES_MAX_DEFAULT: usize = 16 * 1024;
/// hyper's HTTP/1 read buffer cannot be smaller than 8 KiB (it asserts), so neither can the
/// header limit.
pub const HEADER_BYTES_MAX_FLOOR: usize = 8 * 1024;
/// Default time a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Default time a client has to send a complete request head once the server waits for one
/// (defeats slowloris: a connection that dribbles header bytes is closed).
pub const HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Default time from a request's head to its answer (body upload + service work).
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Default number of simultaneously open client connections (TCP accepted, TLS or HTTP).
pub const CONNECTIONS_MAX_DEFAULT: usize = 1024;
/// Default number of simultaneously open connections presenting one client certificate
/// (counted by its SHA-256 fingerprint, registered or not). A large hospital's HIS keeps a few
/// dozen connections at most (one per billing window with keep-alive); 128 leaves room for
/// that while one certificate can take at most an eighth of [`CONNECTIONS_MAX_DEFAULT`].
pub const CONNECTIONS_PER_CERTIFICATE_MAX_DEFAULT: usize = 128;
/// Default number of simultaneously open connections from one source IP address, counted
/// from `accept` (bare TCP that has not finished TLS included). Larger than the
/// per-certificate cap because several institutions may reach the gateway through one NAT
/// of the medical-insurance private network; a quarter of [`CONNECTIONS_MAX_DEFAULT`].
pub const CONNECTIONS_PER_SOURCE_ADDRESS_MAX_DEFAULT: usize = 256;
/// Default number of concurrent HTTP/2 streams per connection.
pub const STREAMS_PER_CONNECTION_MAX_DEFAULT: u32 = 100;
/// Default sustained request rate per client identity (token-bucket refill), requests/second.
pub const RATE_PER_INSTITUTION_PER_SECOND_DEFAULT: u32 = 50;
/// Default token-bucket size per client identity, requests.
pub const RATE_BURST_DEFAULT: u32 = 100;
/// Default allowed distance between `x-tif-timestamp` and the server clock, seconds.
pub const TIF_CLOCK_SKEW_SECONDS_DEFAULT: u64 = 300;
/// Default number of remembered `x-tif-nonce` values (all clients together).
pub const TIF_NONCE_CACHE_MAX_DEFAULT: usize = 100_000;
/// Default longest accepted `x-tif-nonce` (a GUID is 36 bytes).
pub const TIF_NONCE_BYTES_MAX_DEFAULT: usize = 128;
/// Default time in-flight requests get to finish after shutdown starts.
pub const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 10_000;
/// Default number of distinct label sets per metric family; beyond it labels collapse to
/// `other` so a client cannot grow the metrics page without bound.
pub const METRIC_SERIES_MAX_DEFAULT: usize = 1_000;
/// Longest client name (it becomes a log field and a rate-limit key).
pub const CLIENT_NAME_BYTES_MAX: usize = 64;

/// The server section of the configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `ip:port` to listen on. Default `127.0.0.1:8443`; port 0 picks a free port.
    #[serde(default = "listen_default")]
    pub listen: String,
    /// PEM file with the server certificate followed by its intermediates. Required.
    pub server_cert_chain: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1). Required.
    pub server_key: PathBuf,
    /// PEM files with the CA certificates that issue client certificates. Required, at least
    /// one. Only certificates chaining to one of these are accepted.
    pub client_ca_bundles: Vec<PathBuf>,
    /// Extra path prefixes under which the national paths are also served, e.g.
    /// `/ebus/rio_fsi` (`/ebus/rio_fsi/fsi/api/hospSettService/settV2`). Default: none (the
    /// bare `/fsi/api/...` paths are always served). Each starts with `/`, no trailing `/`.
    #[serde(default)]
    pub path_prefixes: Vec<String>,
    /// The clients allowed in, matched by their certificate. A verified certificate that
    /// matches no entry is refused. Required, at least one.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Limits and timeouts; every field has a default.
    #[serde(default)]
    pub limits: LimitsConfig,
}

fn listen_default() -> String {
    LISTEN_DEFAULT.to_owned()
}

/// One client: how to recognise its certificate, and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Name used in logs, metrics and rate limiting. Required; unique; ASCII letters, digits,
    /// `-`, `_`, `.`; at most 64 bytes.
    pub name: String,
    /// `institution` (a HIS), `peer` (another region's gateway) or `operator`. Required.
    pub role: Role,
    /// Institution codes (`fixmedins_code`) this certificate may speak for. Required (non-empty)
    /// for `institution`; default empty.
    #[serde(default)]
    pub fixmedins_codes: Vec<String>,
    /// Regions a `peer` (another region's gateway) may speak for: 2 to 6 digits, a code or
    /// its prefix (`"44"` = a province, `"440100"` = a city). Only for `peer`; a peer listing
    /// none may send no cross-region message (e.g. the gateway's own client at a national
    /// platform). Default empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// SHA-256 fingerprint of the DER certificate, hex (colons allowed). Pins one exact
    /// certificate. Default: not used. At least one of `fingerprint_sha256`, `subject_cn`,
    /// `san` is required; all given must match.
    #[serde(default)]
    pub fingerprint_sha256: Option<String>,
    /// Exact subject common name. Default: not used.
    #[serde(default)]
    pub subject_cn: Option<String>,
    /// Exact subjectAltName value (DNS name, e-mail or URI). Default: not used.
    #[serde(default)]
    pub san: Option<String>,
    /// x-tif gateway signature settings (nhsa-interface.md §1.4 item 1). Default: none (the
    /// headers are ignored).
    #[serde(default)]
    pub tif: Option<TifConfig>,
}

/// Per-client x-tif signature settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TifConfig {
    /// Expected `x-tif-paasid`. Required.
    pub paasid: String,
    /// The shared paas secret (`token`) in the signature. Required, non-empty.
    pub token: String,
    /// `true`: every national request must carry valid x-tif headers. `false`: requests
    /// without the headers pass, requests with them are checked. Default `true`.
    #[serde(default = "tif_required_default")]
    pub required: bool,
}

fn tif_required_default() -> bool {
    true
}

impl std::fmt::Debug for TifConfig {
    // The token is a secret: never print it, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TifConfig")
            .field("paasid", &self.paasid)
            .field("token", &"<redacted>")
            .field("required", &self.required)
            .finish()
    }
}

/// Limits and timeouts. Every field is optional in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes. Default 1 MiB (1048576). Larger → 413 `GW-LIMIT`.
    pub body_bytes_max: usize,
    /// Largest operator request body (`/ops/…`, operator certificates only), bytes: a monthly
    /// settlement uploads its declaration CSVs in it. Default 32 MiB (33554432).
    pub operator_body_bytes_max: usize,
    /// Largest request head, bytes (HTTP/1.1 head; HTTP/2 header list). Default 16384; at
    /// least 8192. Larger → 431 (HTTP/1.1) or stream reset (HTTP/2).
    pub header_bytes_max: usize,
    /// TLS handshake deadline, milliseconds. Default 10000.
    pub handshake_timeout_ms: u64,
    /// Deadline for a complete HTTP/1.1 request head, milliseconds, which is also how long
    /// an HTTP/1.1 connection may wait idle for its next request. Default 10000. The same
    /// value is the idle time of an HTTP/2 connection (no request open for this long →
    /// GOAWAY and close) and its keep-alive: a PING after this long without a frame from the
    /// client, the connection closed if the PING is not answered within this long again.
    pub header_read_timeout_ms: u64,
    /// Deadline from request head to answer (body upload + service), milliseconds. Default
    /// 30000. Exceeded → 503 `GW-UNAVAILABLE`.
    pub request_timeout_ms: u64,
    /// Open connections at most; more are closed right after accept. Default 1024.
    pub connections_max: usize,
    /// Open connections per client certificate (SHA-256 fingerprint, whether or not it matches
    /// a configured client) at most; one more is closed right after its TLS handshake, when
    /// the certificate is known. Default 128, or `connections_max` if that is lower; at least
    /// 1 and at most `connections_max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_per_certificate_max: Option<usize>,
    /// Open connections per source IP address at most, counted from accept (TCP connections
    /// still in or before their TLS handshake included); one more is closed right after
    /// accept, before the handshake. Default 256, or `connections_max` if that is lower; at
    /// least 1 and at most `connections_max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_per_source_address_max: Option<usize>,
    /// Concurrent HTTP/2 streams per connection. Default 100.
    pub streams_per_connection_max: u32,
    /// Sustained national requests per second per client identity; 0 disables rate
    /// limiting. Default 50. Exceeded → 429 `GW-RATE` with `Retry-After`.
    pub rate_per_institution_per_second: u32,
    /// Requests a client may send at once above the sustained rate (token-bucket size).
    /// Default 100; at least 1 when rate limiting is on.
    pub rate_burst: u32,
    /// Largest accepted distance between `x-tif-timestamp` and the server clock, seconds.
    /// Default 300. Nonces are remembered for this long after their timestamp, which is
    /// exactly the time a replay could still pass the clock check (the replay window).
    pub tif_clock_skew_seconds: u64,
    /// Remembered nonces at most (all clients). Default 100000. When full of unexpired
    /// nonces, signed requests are answered 503 rather than forgetting a nonce early.
    pub tif_nonce_cache_max: usize,
    /// Longest accepted `x-tif-nonce`, bytes. Default 128.
    pub tif_nonce_bytes_max: usize,
    /// Time in-flight requests get after shutdown starts, milliseconds. Default 10000.
    pub shutdown_grace_ms: u64,
    /// Distinct label sets per metric family before labels collapse to `other`. Default 1000.
    pub metric_series_max: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
            operator_body_bytes_max: OPERATOR_BODY_BYTES_MAX_DEFAULT,
            header_bytes_max: HEADER_BYTES_MAX_DEFAULT,
            handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS_DEFAULT,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS_DEFAULT,
            request_timeout_ms: REQUEST_TIMEOUT_MS_DEFAULT,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            connections_per_certificate_max: None,
            connections_per_source_address_max: None,
            streams_per_connection_max: STREAMS_PER_CONNECTION_MAX_DEFAULT,
            rate_per_institution_per_second: RATE_PER_INSTITUTION_PER_SECOND_DEFAULT,
            rate_burst: RATE_BURST_DEFAULT,
            tif_clock_skew_seconds: TIF_CLOCK_SKEW_SECONDS_DEFAULT,
            tif_nonce_cache_max: TIF_NONCE_CACHE_MAX_DEFAULT,
            tif_nonce_bytes_max: TIF_NONCE_BYTES_MAX_DEFAULT,
            shutdown_grace_ms: SHUTDOWN_GRACE_MS_DEFAULT,
            metric_series_max: METRIC_SERIES_MAX_DEFAULT,
        }
    }
}

/// Limits after validation, with durations as [`Duration`].
#[derive(Debug, Clone)]
pub struct Limits {
    pub body_bytes_max: usize,
    pub operator_body_bytes_max: usize,
    pub header_bytes_max: usize,
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub connections_max: usize,
    pub connections_per_certificate_max: usize,
    pub connections_per_source_address_max: usize,
    pub streams_per_connection_max: u32,
    /// `None` when rate limiting is off.
    pub rate: Option<RateSettings>,
    pub tif_clock_skew_seconds: u64,
    pub tif_nonce_cache_max: usize,
    pub tif_nonce_bytes_max: usize,
    pub shutdown_grace: Duration,
    pub metric_series_max: usize,
}

/// Token-bucket parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    pub per_second: u32,
    pub burst: u32,
}

/// The configuration the server runs on: checked, files loaded.
#[derive(Debug)]
pub struct ValidConfig {
    pub listen: SocketAddr,
    pub tls: TlsMaterial,
    pub path_prefixes: Vec<String>,
    pub clients: Vec<ConfiguredClient>,
    pub limits: Limits,
}

impl ServerConfig {
    /// A configuration with the required files and every other value at its default.
    pub fn new(
        server_cert_chain: impl Into<PathBuf>,
        server_key: impl Into<PathBuf>,
        client_ca_bundles: Vec<PathBuf>,
    ) -> Self {
        ServerConfig {
            listen: LISTEN_DEFAULT.to_owned(),
            server_cert_chain: server_cert_chain.into(),
            server_key: server_key.into(),
            client_ca_bundles,
            path_prefixes: Vec::new(),
            clients: Vec::new(),
            limits: LimitsConfig::default(),
        }
    }

    /// Check every value and load the certificate files. The error names the field and says
    /// what would be acceptable.
    pub fn validate(&self) -> Result<ValidConfig, ServerError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            ServerError::config(
                "listen",
                format!(
                    "`{}` is not an ip:port address (host names are not resolved; e.g. 0.0.0.0:8443)",
                    self.listen
                ),
            )
        })?;

        let server_chain = tls::load_certificates(&self.server_cert_chain)?;
        let server_key = tls::load_private_key(&self.server_key)?;
        if self.client_ca_bundles.is_empty() {
            return Err(ServerError::config(
                "client_ca_bundles",
                "at least one CA bundle is required: client certificates are mandatory",
            ));
        }
        let mut client_roots = Vec::new();
        for path in &self.client_ca_bundles {
            client_roots.extend(tls::load_certificates(path)?);
        }

        let mut path_prefixes = Vec::new();
        for (i, p) in self.path_prefixes.iter().enumerate() {
            if !p.starts_with('/') || p.ends_with('/') || p.contains("//") || p.contains('?') {
                return Err(ServerError::config(
                    format!("path_prefixes[{i}]"),
                    format!("`{p}` must start with `/`, not end with `/`, e.g. `/ebus/rio_fsi`"),
                ));
            }
            path_prefixes.push(p.clone());
        }

        let clients = self.validate_clients()?;
        let limits = self.limits.validate()?;
        Ok(ValidConfig {
            listen,
            tls: TlsMaterial {
                server_chain,
                server_key,
                client_roots,
            },
            path_prefixes,
            clients,
            limits,
        })
    }

    fn validate_clients(&self) -> Result<Vec<ConfiguredClient>, ServerError> {
        if self.clients.is_empty() {
            return Err(ServerError::config(
                "clients",
                "no client is configured: every connection would be refused",
            ));
        }
        let mut names = HashSet::new();
        let mut fingerprints = HashSet::new();
        let mut out = Vec::with_capacity(self.clients.len());
        for (i, c) in self.clients.iter().enumerate() {
            let field = |f: &str| format!("clients[{i}].{f}");
            if c.name.is_empty()
                || c.name.len() > CLIENT_NAME_BYTES_MAX
                || !c
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(ServerError::config(
                    field("name"),
                    format!(
                        "`{}`: 1 to {CLIENT_NAME_BYTES_MAX} of ASCII letters, digits, `-`, `_`, `.`",
                        c.name
                    ),
                ));
            }
            if !names.insert(c.name.clone()) {
                return Err(ServerError::config(
                    field("name"),
                    format!("`{}` is used by two clients", c.name),
                ));
            }
            if c.role == Role::Institution && c.fixmedins_codes.is_empty() {
                return Err(ServerError::config(
                    field("fixmedins_codes"),
                    "an institution client must list the fixmedins_code(s) it speaks for",
                ));
            }
            if c.role != Role::Peer && !c.regions.is_empty() {
                return Err(ServerError::config(
                    field("regions"),
                    "only a peer client speaks for regions",
                ));
            }
            if let Some(r) = c
                .regions
                .iter()
                .find(|r| !(2..=6).contains(&r.len()) || !r.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(ServerError::config(
                    field("regions"),
                    format!("`{r}`: a region is 2 to 6 digits (a code or its prefix)"),
                ));
            }
            if let Some(code) = c
                .fixmedins_codes
                .iter()
                .find(|code| code.is_empty() || code.len() > 30)
            {
                return Err(ServerError::config(
                    field("fixmedins_codes"),
                    format!("`{code}`: a fixmedins_code is 1 to 30 characters"),
                ));
            }
            let fingerprint = match &c.fingerprint_sha256 {
                None => None,
                Some(text) => {
                    let fp = parse_fingerprint(text).ok_or_else(|| {
                        ServerError::config(
                            field("fingerprint_sha256"),
                            format!("`{text}` is not 64 hex digits (colons allowed)"),
                        )
                    })?;
                    if !fingerprints.insert(fp) {
                        return Err(ServerError::config(
                            field("fingerprint_sha256"),
                            "the same certificate is pinned by two clients",
                        ));
                    }
                    Some(fp)
                }
            };
            let nonempty = |v: &Option<String>, f: &str| -> Result<Option<String>, ServerError> {
                match v {
                    Some(s) if s.is_empty() => {
                        Err(ServerError::config(field(f), "empty; omit it instead"))
                    }
                    other => Ok(other.clone()),
                }
            };
            let subject_cn = nonempty(&c.subject_cn, "subject_cn")?;
            let san = nonempty(&c.san, "san")?;
            if fingerprint.is_none() && subject_cn.is_none() && san.is_none() {
                return Err(ServerError::config(
                    field("fingerprint_sha256"),
                    "give at least one of fingerprint_sha256, subject_cn, san to recognise the certificate",
                ));
            }
            let tif = match &c.tif {
                None => None,
                Some(t) => {
                    if t.paasid.is_empty() {
                        return Err(ServerError::config(field("tif.paasid"), "empty"));
                    }
                    if t.token.is_empty() {
                        return Err(ServerError::config(
                            field("tif.token"),
                            "empty: a signature with an empty secret proves nothing",
                        ));
                    }
                    Some(Arc::new(TifClient {
                        paasid: t.paasid.clone(),
                        token: t.token.clone(),
                        required: t.required,
                    }))
                }
            };
            out.push(ConfiguredClient {
                template: ClientIdentity {
                    name: c.name.clone(),
                    role: c.role,
                    fixmedins_codes: c.fixmedins_codes.clone(),
                    regions: c.regions.clone(),
                    fingerprint_sha256: String::new(),
                },
                matcher: ClientMatch {
                    fingerprint_sha256: fingerprint,
                    subject_cn,
                    san,
                },
                tif,
            });
        }
        Ok(out)
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<Limits, ServerError> {
        fn positive(v: u64, field: &str) -> Result<Duration, ServerError> {
            if v == 0 {
                Err(ServerError::config(
                    format!("limits.{field}"),
                    "must be greater than 0",
                ))
            } else {
                Ok(Duration::from_millis(v))
            }
        }
        let field = |f: &str| format!("limits.{f}");
        if self.body_bytes_max == 0 {
            return Err(ServerError::config(
                field("body_bytes_max"),
                "must be greater than 0",
            ));
        }
        if self.operator_body_bytes_max == 0 {
            return Err(ServerError::config(
                field("operator_body_bytes_max"),
                "must be greater than 0",
            ));
        }
        if self.header_bytes_max < HEADER_BYTES_MAX_FLOOR
            || u32::try_from(self.header_bytes_max).is_err()
        {
            return Err(ServerError::config(
                field("header_bytes_max"),
                format!(
                    "{} is below the HTTP/1 floor of {HEADER_BYTES_MAX_FLOOR} bytes or above 4 GiB",
                    self.header_bytes_max
                ),
            ));
        }
        if self.connections_max == 0 {
            return Err(ServerError::config(
                field("connections_max"),
                "must be at least 1",
            ));
        }
        let connections_per_certificate_max = per_connection_cap(
            self.connections_per_certificate_max,
            CONNECTIONS_PER_CERTIFICATE_MAX_DEFAULT,
            self.connections_max,
            "connections_per_certificate_max",
        )?;
        let connections_per_source_address_max = per_connection_cap(
            self.connections_per_source_address_max,
            CONNECTIONS_PER_SOURCE_ADDRESS_MAX_DEFAULT,
            self.connections_max,
            "connections_per_source_address_max",
        )?;
        if self.streams_per_connection_max == 0 {
            return Err(ServerError::config(
                field("streams_per_connection_max"),
                "must be at least 1",
            ));
        }
        let rate = match self.rate_per_institution_per_second {
            0 => None,
            per_second => {
                if self.rate_burst == 0 {
                    return Err(ServerError::config(
                        field("rate_burst"),
                        "must be at least 1 while rate_per_institution_per_second > 0 (0 would refuse everything)",
                    ));
                }
                Some(RateSettings {
                    per_second,
                    burst: self.rate_burst,
                })
            }
        };
        if self.tif_clock_skew_seconds == 0 {
            return Err(ServerError::config(
                field("tif_clock_skew_seconds"),
                "must be at least 1 (clocks are never exactly equal)",
            ));
        }
        if self.tif_nonce_cache_max == 0 || self.tif_nonce_bytes_max == 0 {
            return Err(ServerError::config(
                field("tif_nonce_cache_max"),
                "tif_nonce_cache_max and tif_nonce_bytes_max must be at least 1",
            ));
        }
        if self.metric_series_max == 0 {
            return Err(ServerError::config(
                field("metric_series_max"),
                "must be at least 1",
            ));
        }
        Ok(Limits {
            body_bytes_max: self.body_bytes_max,
            operator_body_bytes_max: self.operator_body_bytes_max,
            header_bytes_max: self.header_bytes_max,
            handshake_timeout: positive(self.handshake_timeout_ms, "handshake_timeout_ms")?,
            header_read_timeout: positive(self.header_read_timeout_ms, "header_read_timeout_ms")?,
            request_timeout: positive(self.request_timeout_ms, "request_timeout_ms")?,
            connections_max: self.connections_max,
            connections_per_certificate_max,
            connections_per_source_address_max,
            streams_per_connection_max: self.streams_per_connection_max,
            rate,
            tif_clock_skew_seconds: self.tif_clock_skew_seconds,
            tif_nonce_cache_max: self.tif_nonce_cache_max,
            tif_nonce_bytes_max: self.tif_nonce_bytes_max,
            // 0 is allowed: shut down without waiting.
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            metric_series_max: self.metric_series_max,
        })
    }
}

/// A per-certificate or per-source connection cap: the configured value, which must be
/// 1..=`connections_max`, or the default lowered to `connections_max`.
fn per_connection_cap(
    configured: Option<usize>,
    default: usize,
    connections_max: usize,
    field: &str,
) -> Result<usize, ServerError> {
    match configured {
        None => Ok(default.min(connections_max)),
        Some(n) if n == 0 || n > connections_max => Err(ServerError::config(
            format!("limits.{field}"),
            format!(
                "{n} must be at least 1 and at most connections_max ({connections_max}); \
                 omit it for the default ({default}, or connections_max if lower)"
            ),
        )),
        Some(n) => Ok(n),
    }
}

/// Parse a SHA-256 fingerprint written as hex, with or without `:` separators.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex_only: String = text.chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&hex_only, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig::default()
    }

    #[test]
    fn defaults_are_the_documented_constants() {
        let l = limits().validate().expect("defaults are valid");
        assert_eq!(l.body_bytes_max, 1_048_576);
        assert_eq!(l.header_bytes_max, 16_384);
        assert_eq!(l.handshake_timeout, Duration::from_secs(10));
        assert_eq!(l.header_read_timeout, Duration::from_secs(10));
        assert_eq!(l.connections_max, 1024);
        assert_eq!(l.connections_per_certificate_max, 128);
        assert_eq!(l.connections_per_source_address_max, 256);
        assert_eq!(l.streams_per_connection_max, 100);
        assert_eq!(l.tif_clock_skew_seconds, 300);
    }

    #[test]
    fn bad_limits_are_refused_with_the_field_named() {
        let mut l = limits();
        l.header_bytes_max = 4096;
        let e = l.validate().unwrap_err().to_string();
        assert!(e.contains("limits.header_bytes_max"), "{e}");

        let mut l = limits();
        l.rate_burst = 0;
        let e = l.validate().unwrap_err().to_string();
        assert!(e.contains("limits.rate_burst"), "{e}");

        // rate 0 turns rate limiting off, and then burst does not matter
        let mut l = limits();
        l.rate_per_institution_per_second = 0;
        l.rate_burst = 0;
        assert_eq!(l.validate().unwrap().rate, None);

        // the per-certificate and per-source caps: 1..=connections_max, defaults lowered
        for bad in [0, 1025] {
            let mut l = limits();
            l.connections_per_certificate_max = Some(bad);
            let e = l.validate().unwrap_err().to_string();
            assert!(e.contains("limits.connections_per_certificate_max"), "{e}");
            let mut l = limits();
            l.connections_per_source_address_max = Some(bad);
            let e = l.validate().unwrap_err().to_string();
            assert!(
                e.contains("limits.connections_per_source_address_max"),
                "{e}"
            );
        }
        let mut l = limits();
        l.connections_max = 100;
        let v = l.validate().unwrap();
        assert_eq!(
            (
                v.connections_per_certificate_max,
                v.connections_per_source_address_max
            ),
            (100, 100)
        );
        l.connections_per_certificate_max = Some(100);
        l.connections_per_source_address_max = Some(1);
        assert!(l.validate().is_ok());

        let mut l = limits();
        l.handshake_timeout_ms = 0;
        let e = l.validate().unwrap_err().to_string();
        assert!(e.contains("limits.handshake_timeout_ms"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"
            server_cert_chain = "s.pem"
            server_key = "s.key"
            client_ca_bundles = ["ca.pem"]
            [limits]
            body_bytes_maximum = 5
        "#;
        let e = toml::from_str::<ServerConfig>(text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("body_bytes_maximum"), "{e}");
    }

    #[test]
    fn a_minimal_file_parses_with_defaults() {
        let text = r#"
            server_cert_chain = "s.pem"
            server_key = "s.key"
            client_ca_bundles = ["ca.pem"]
            [[clients]]
            name = "his-a"
            role = "institution"
            fixmedins_codes = ["H13110200026"]
            fingerprint_sha256 = "AB:cd"
            tif = { paasid = "p", token = "secret" }
        "#;
        let c: ServerConfig = toml::from_str(text).expect("parses");
        assert_eq!(c.listen, LISTEN_DEFAULT);
        assert_eq!(c.limits.body_bytes_max, BODY_BYTES_MAX_DEFAULT);
        let tif = c.clients[0].tif.as_ref().expect("tif");
        assert!(tif.required, "tif.required defaults to true");
        assert!(!format!("{tif:?}").contains("secret"), "token is redacted");
    }

    fn client(name: &str) -> ClientConfig {
        ClientConfig {
            name: name.into(),
            role: Role::Institution,
            fixmedins_codes: vec!["H13110200026".into()],
            regions: Vec::new(),
            fingerprint_sha256: None,
            subject_cn: Some(name.into()),
            san: None,
            tif: None,
        }
    }

    fn clients_error(clients: Vec<ClientConfig>) -> String {
        let mut c = ServerConfig::new("s.pem", "s.key", vec!["ca.pem".into()]);
        c.clients = clients;
        c.validate_clients().unwrap_err().to_string()
    }

    #[test]
    fn client_entries_are_checked() {
        let mut c = ServerConfig::new("s.pem", "s.key", vec!["ca.pem".into()]);
        c.clients = vec![client("his-a"), client("his-b")];
        assert_eq!(c.validate_clients().unwrap().len(), 2);

        let e = clients_error(vec![client("his-a"), client("his-a")]);
        assert!(
            e.contains("clients[1].name") && e.contains("two clients"),
            "{e}"
        );
        let mut no_codes = client("his-a");
        no_codes.fixmedins_codes.clear();
        assert!(clients_error(vec![no_codes]).contains("clients[0].fixmedins_codes"));
        let mut no_match = client("his-a");
        no_match.subject_cn = None;
        assert!(clients_error(vec![no_match]).contains("at least one of"));
        let mut bad_name = client("his a");
        bad_name.subject_cn = Some("x".into());
        assert!(clients_error(vec![bad_name]).contains("clients[0].name"));
        let mut empty_token = client("his-a");
        empty_token.tif = Some(TifConfig {
            paasid: "p".into(),
            token: String::new(),
            required: true,
        });
        assert!(clients_error(vec![empty_token]).contains("clients[0].tif.token"));
        let fp = "ab".repeat(32);
        let mut p1 = client("p1");
        p1.fingerprint_sha256 = Some(fp.clone());
        let mut p2 = client("p2");
        p2.fingerprint_sha256 = Some(fp.to_uppercase());
        assert!(clients_error(vec![p1, p2]).contains("pinned by two clients"));
        assert!(clients_error(vec![]).contains("no client is configured"));
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let plain = "00".repeat(31) + "ff";
        let colons = plain
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(parse_fingerprint(&plain), parse_fingerprint(&colons));
        assert_eq!(parse_fingerprint(&plain).unwrap()[31], 0xff);
        assert_eq!(parse_fingerprint("abcd"), None);
    }
}
