//! The seam between transport and business: the server authenticates, limits and routes;
//! a [`Service`] answers national-interface requests. [`Readiness`] tells the server whether
//! the service can take writes at all (e.g. the store is writable).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::identity::ClientIdentity;
use crate::routes::ServicePaths;

/// A boxed, sendable future: keeps [`Service`] object-safe without `async_trait`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `Content-Type` of national JSON answers.
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";
/// `Content-Type` of plain-text answers (operational and operator endpoints).
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";

/// One national-interface request, authenticated and within limits, body fully read.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    /// Who sent it (from the client certificate).
    pub identity: Arc<ClientIdentity>,
    pub method: Method,
    /// The path as received (including any configured prefix).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The transaction the path names (per-service paths, by the service's
    /// [`Service::national_paths`]), or `None` for the single `callService` endpoint where
    /// `infno` is in the body.
    pub infno_from_path: Option<String>,
}

/// The service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
    /// Metrics `outcome` label: a short, fixed word (`ok`, `rejected`, `conflict`, …). Keep
    /// the set small; labels are capped at `metric_series_max` per family.
    pub outcome: &'static str,
    /// Metrics `infno` label: only a transaction number the service recognised (never raw
    /// client text), or `None`.
    pub infno: Option<String>,
    /// Further response headers (name, value), e.g. the out-of-band values of a legacy
    /// dialect; a pair that is not a valid header is dropped with a warning.
    pub headers: Vec<(String, String)>,
    /// Send no answer at all and end the connection: how a certification session loses an
    /// answer on purpose (the request was processed; the client must retry or resolve it).
    pub abort: bool,
}

impl ServiceResponse {
    /// A JSON answer with [`CONTENT_TYPE_JSON`].
    pub fn json(status: u16, body: impl Into<Bytes>, outcome: &'static str) -> Self {
        ServiceResponse {
            status,
            content_type: CONTENT_TYPE_JSON.to_owned(),
            body: body.into(),
            outcome,
            infno: None,
            headers: Vec::new(),
            abort: false,
        }
    }

    pub fn with_infno(mut self, infno: impl Into<String>) -> Self {
        self.infno = Some(infno.into());
        self
    }
}

/// One operator request (a path under `/ops/`), from a client whose certificate has the
/// operator role, body fully read (at most `operator_body_bytes_max`).
#[derive(Debug, Clone)]
pub struct OperatorRequest {
    pub identity: Arc<ClientIdentity>,
    pub method: Method,
    /// The path after `/ops/`, e.g. `settle/month`.
    pub path: String,
    /// The query string as received (without `?`), if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Answers national-interface requests. Must be cancel-safe: a future may be dropped when
/// the client goes away, the request deadline passes, or shutdown's grace period ends.
pub trait Service: Send + Sync + 'static {
    fn call(&self, req: ServiceRequest) -> BoxFuture<'_, ServiceResponse>;

    /// The per-service paths under `/fsi/api/` this service answers and the transaction each
    /// names; asked once, when the server starts serving. By default none: only the single
    /// endpoints (`callService`, `callFsiService`) are national paths.
    fn national_paths(&self) -> ServicePaths {
        ServicePaths::default()
    }

    /// Answer an operator endpoint; by default there is none (404).
    fn operator(&self, req: OperatorRequest) -> BoxFuture<'_, ServiceResponse> {
        let _ = req;
        Box::pin(async {
            ServiceResponse {
                status: 404,
                content_type: CONTENT_TYPE_TEXT.to_owned(),
                body: Bytes::from_static(b"this service has no operator endpoints\n"),
                outcome: "route",
                infno: None,
                headers: Vec::new(),
                abort: false,
            }
        })
    }
}

/// Whether the service can take requests now; asked on every national request and every
/// `/readyz`, so it must be cheap (read a flag, not do I/O).
pub trait Readiness: Send + Sync + 'static {
    fn is_ready(&self) -> bool;
}

impl<F> Readiness for F
where
    F: Fn() -> bool + Send + Sync + 'static,
{
    fn is_ready(&self) -> bool {
        self()
    }
}

/// A settable readiness flag, for callers without a probe of their own (and for tests).
#[derive(Debug)]
pub struct ReadyFlag(AtomicBool);

impl ReadyFlag {
    pub fn new(ready: bool) -> Arc<Self> {
        Arc::new(ReadyFlag(AtomicBool::new(ready)))
    }
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
}

impl Readiness for ReadyFlag {
    fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
