//! The server loop: accept under the connection cap and the per-source-address cap, TLS
//! handshake under a deadline, identify the client once per connection under the
//! per-certificate cap, serve HTTP/1.1 or HTTP/2 (by ALPN) until the connection is idle for
//! `header_read_timeout_ms` (both versions), close it after a refused client's first answer,
//! close TLS so that the client can read an early answer to its end, and shut down
//! gracefully. The connection-level pieces are in [`crate::lifecycle`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use medsettle_canonical::RuleId;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use crate::config::{Limits, ServerConfig};
use crate::error::ServerError;
use crate::identity::{CertificateFacts, ClientDirectory, ConnectionClient, Role, Unrecognised};
use crate::lifecycle::{
    Activity, CLOSE_GRACE_MS, CountedBody, PerKeyCap, PerKeySlot, Returnable, linger_close,
};
use crate::metrics::Metrics;
use crate::rate::{RateLimiter, retry_after_seconds};
use crate::routes::{self, Route, ServicePaths, national_error};
use crate::service::{
    CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT, OperatorRequest, Readiness, Service, ServiceRequest,
};
use crate::tif::{TifRejection, TifVerifier};
use crate::tls;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF_MS: u64 = 50;
/// `Content-Type` of the Prometheus text format.
const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Entry points.
pub struct Server;

impl Server {
    /// Validate the configuration, build TLS and bind the listener. The returned address is
    /// the one actually bound (useful with port 0).
    pub async fn bind(config: &ServerConfig) -> Result<(BoundServer, SocketAddr), ServerError> {
        let valid = config.validate()?;
        let tls_config = tls::server_config(&valid.tls)?;
        let listener =
            TcpListener::bind(valid.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: valid.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: valid.listen,
            source,
        })?;
        let metrics = Arc::new(Metrics::new(valid.limits.metric_series_max));
        Ok((
            BoundServer {
                listener,
                addr,
                acceptor: TlsAcceptor::from(tls_config),
                directory: ClientDirectory::new(valid.clients),
                prefixes: valid.path_prefixes,
                limits: valid.limits,
                metrics,
            },
            addr,
        ))
    }

    /// Bind and serve until `shutdown` completes, then drain (see [`BoundServer::serve`]).
    pub async fn run(
        config: &ServerConfig,
        service: Arc<dyn Service>,
        readiness: Arc<dyn Readiness>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<ShutdownReport, ServerError> {
        let (bound, addr) = Server::bind(config).await?;
        info!(%addr, "listening on https://{addr}");
        Ok(bound.serve(service, readiness, shutdown).await)
    }
}

/// A bound, not yet serving server.
pub struct BoundServer {
    listener: TcpListener,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
    directory: ClientDirectory,
    prefixes: Vec<String>,
    limits: Limits,
    metrics: Arc<Metrics>,
}

/// How shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every connection finished within `shutdown_grace_ms`.
    pub drained: bool,
    /// Requests still running when the grace period ended (their futures were dropped and
    /// answered 503 where the connection was still there).
    pub requests_cancelled: usize,
}

/// Requests currently being handled, and a way to wait until there are none.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    fn enter(&self) -> InFlightGuard<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self)
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before checking so a wake-up between check and await is not lost.
            notified.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Everything a connection task needs.
struct Shared {
    acceptor: TlsAcceptor,
    directory: ClientDirectory,
    prefixes: Vec<String>,
    /// The service's per-service paths, asked once at start.
    service_paths: ServicePaths,
    limits: Limits,
    metrics: Arc<Metrics>,
    tif: TifVerifier,
    rate: Option<RateLimiter>,
    service: Arc<dyn Service>,
    readiness: Arc<dyn Readiness>,
    http: auto::Builder<TokioExecutor>,
    /// Open connections per source IP address (from accept).
    per_source: Arc<PerKeyCap<IpAddr>>,
    /// Open connections per client certificate (SHA-256 of the leaf, from the handshake).
    per_certificate: Arc<PerKeyCap<[u8; 32]>>,
    shutting_down: AtomicBool,
    in_flight: InFlight,
    /// Becomes `true` when shutdown starts: abandons TLS handshakes in progress.
    soft_stop: watch::Receiver<bool>,
    /// Becomes `true` when the grace period ends: cancels requests still running.
    hard_stop: watch::Receiver<bool>,
}

impl BoundServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics registry; hand it to the service so it can register its own metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serve until `shutdown` completes. Then: stop accepting (the listener is closed, so
    /// new connections are refused by the OS), tell connections to finish (HTTP/1.1 closes
    /// after the current response, HTTP/2 sends GOAWAY), wait up to `shutdown_grace_ms`,
    /// cancel what is left, and return — the caller then does its final store flush knowing
    /// no request is still running.
    pub async fn serve(
        self,
        service: Arc<dyn Service>,
        readiness: Arc<dyn Readiness>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> ShutdownReport {
        let (soft_tx, soft_rx) = watch::channel(false);
        let (hard_tx, hard_rx) = watch::channel(false);
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(self.limits.header_bytes_max);
        // hyper's HTTP/2 server has no idle timeout: the connection task closes an HTTP/2
        // connection idle for `header_read_timeout` (see `serve_http`); the keep-alive PING finds
        // a client that vanished while a request runs.
        http.http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(self.limits.header_read_timeout))
            .keep_alive_timeout(self.limits.header_read_timeout)
            .max_concurrent_streams(self.limits.streams_per_connection_max)
            .max_header_list_size(
                u32::try_from(self.limits.header_bytes_max).expect("validated to fit u32"),
            );
        let limits = self.limits.clone();
        let service_paths = service.national_paths();
        info!(
            per_service_paths = service_paths.len(),
            "national paths: the single endpoints and the service's per-service paths"
        );
        let shared = Arc::new(Shared {
            acceptor: self.acceptor,
            directory: self.directory,
            prefixes: self.prefixes,
            service_paths,
            tif: TifVerifier::new(
                limits.tif_clock_skew_seconds,
                limits.tif_nonce_bytes_max,
                limits.tif_nonce_cache_max,
            ),
            rate: limits.rate.map(RateLimiter::new),
            per_source: PerKeyCap::new(limits.connections_per_source_address_max),
            per_certificate: PerKeyCap::new(limits.connections_per_certificate_max),
            limits,
            metrics: self.metrics,
            service,
            readiness,
            http,
            shutting_down: AtomicBool::new(false),
            in_flight: InFlight::default(),
            soft_stop: soft_rx,
            hard_stop: hard_rx,
        });
        let listener = self.listener;
        let connections = Arc::new(Semaphore::new(shared.limits.connections_max));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);

        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done
                        && e.is_panic()
                    {
                        warn!(error = %e, "connection task panicked");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        if let Some(slots) = admit(&shared, &connections, peer) {
                            tasks.spawn(connection(shared.clone(), tcp, peer, slots));
                        }
                        // else `tcp` is dropped here: closed before any TLS byte
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)).await;
                    }
                },
            }
        }

        drop(listener);
        shared.shutting_down.store(true, Ordering::SeqCst);
        let _ = soft_tx.send(true);
        info!(
            connections = tasks.len(),
            grace_ms = shared.limits.shutdown_grace.as_millis(),
            "shutting down: no new connections; letting requests finish"
        );
        // Each connection task sees `soft_stop` and closes its connection gracefully
        // (HTTP/1.1: after the current answer; HTTP/2: GOAWAY).
        let drain = async {
            while tasks.join_next().await.is_some() {}
            shared.in_flight.wait_idle().await;
        };
        let drained = tokio::time::timeout(shared.limits.shutdown_grace, drain)
            .await
            .is_ok();
        let requests_cancelled = shared.in_flight.count.load(Ordering::SeqCst);
        if !drained {
            warn!(
                requests_cancelled,
                "grace period over: cancelling requests still running"
            );
            let _ = hard_tx.send(true);
            // Handlers race their work against `hard_stop`, so they end promptly; HTTP/2
            // streams run on their own tasks, hence the explicit wait.
            shared.in_flight.wait_idle().await;
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        info!(drained, "server stopped");
        ShutdownReport {
            drained,
            requests_cancelled,
        }
    }
}

/// What an admitted connection holds until it ends: its place under `connections_max` and
/// under its source address's cap.
struct Slots {
    _connection: OwnedSemaphorePermit,
    _source: PerKeySlot<IpAddr>,
}

/// Admit a just-accepted connection under `connections_max`, then under the
/// per-source-address cap, or refuse it (counted by reason) before its TLS handshake. A
/// connection over both caps is counted under `connections_max`: a full server is the
/// bigger news.
fn admit(shared: &Shared, connections: &Arc<Semaphore>, peer: SocketAddr) -> Option<Slots> {
    let Ok(permit) = connections.clone().try_acquire_owned() else {
        warn!(%peer, connections_max = shared.limits.connections_max,
            "connection refused: connections_max reached");
        shared.metrics.connection_refused("connections_max");
        return None;
    };
    let Some(source) = shared.per_source.try_enter(peer.ip().to_canonical()) else {
        warn!(%peer, connections_per_source_address_max =
            shared.limits.connections_per_source_address_max,
            "connection refused: connections_per_source_address_max reached for this address");
        shared
            .metrics
            .connection_refused("connections_per_source_address_max");
        return None;
    };
    Some(Slots {
        _connection: permit,
        _source: source,
    })
}

/// Decrements the open-connections gauge however the task ends.
struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

async fn connection(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, slots: Slots) {
    let _slots = slots;
    shared.metrics.connection_opened();
    let _open = OpenConnection(shared.metrics.clone());
    let _ = tcp.set_nodelay(true);
    let Some(tls) = handshake(&shared, tcp, peer).await else {
        return;
    };
    let (_, session) = tls.get_ref();
    let h2 = session.alpn_protocol() == Some(tls::ALPN_H2);
    let (client, fingerprint) = identify(&shared, session, peer, h2);
    // Counted by certificate whether it is registered or not: a certificate of the client CA
    // that matches no client must not be able to fill `connections_max` either.
    let _certificate = match fingerprint.map(|fp| (fp, shared.per_certificate.try_enter(fp))) {
        None => None,
        Some((_, Some(slot))) => Some(slot),
        Some((fp, None)) => {
            warn!(%peer, fingerprint_sha256 = %hex::encode(fp),
                connections_per_certificate_max = shared.limits.connections_per_certificate_max,
                "connection closed: connections_per_certificate_max reached for this certificate");
            shared
                .metrics
                .connection_refused("connections_per_certificate_max");
            linger_close(tls).await;
            return;
        }
    };
    if client.is_err() {
        shared.metrics.connection_refused("unknown_client");
    }
    serve_http(&shared, tls, peer, client, h2).await;
}

/// The TLS handshake under `handshake_timeout`; `None` (logged and counted) if it failed,
/// timed out or shutdown began.
async fn handshake(
    shared: &Shared,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let mut soft_stop = shared.soft_stop.clone();
    let handshake =
        tokio::time::timeout(shared.limits.handshake_timeout, shared.acceptor.accept(tcp));
    tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                // The authoritative record of a refused client: with TLS 1.3 the client
                // may believe the handshake succeeded and only sees a closed connection.
                warn!(%peer, error = %e, "TLS handshake refused");
                shared.metrics.connection_refused("tls_handshake");
                None
            }
            Err(_) => {
                warn!(%peer, timeout_ms = shared.limits.handshake_timeout.as_millis(),
                    "TLS handshake timed out");
                shared.metrics.connection_refused("handshake_timeout");
                None
            }
        },
        _ = soft_stop.wait_for(|stop| *stop) => None,
    }
}

/// The configured client of the connection's certificate (`Err` when it is unreadable or
/// matches no single client: logged here, refused per request), and the certificate's
/// SHA-256 fingerprint when there is one.
fn identify(
    shared: &Shared,
    session: &rustls::ServerConnection,
    peer: SocketAddr,
    h2: bool,
) -> (Result<ConnectionClient, ()>, Option<[u8; 32]>) {
    let Some(leaf) = session.peer_certificates().and_then(|chain| chain.first()) else {
        // The verifier requires a certificate; reaching here would be a rustls bug.
        warn!(%peer, "no client certificate after handshake; refusing");
        return (Err(()), None);
    };
    let facts = match CertificateFacts::from_der(leaf.as_ref()) {
        Ok(facts) => facts,
        Err(reason) => {
            warn!(%peer, %reason, "client certificate unreadable; refusing");
            return (Err(()), None);
        }
    };
    let client = match shared.directory.identify(&facts) {
        Ok(client) => {
            debug!(%peer, client = %client.identity.name, h2, "client identified");
            Ok(client)
        }
        Err(why) => {
            let ambiguous = match &why {
                Unrecognised::NoMatch => Vec::new(),
                Unrecognised::Ambiguous(names) => names.clone(),
            };
            warn!(%peer, fingerprint_sha256 = %facts.fingerprint_hex(),
                subject_cn = ?facts.subject_cn, san = ?facts.san, ?ambiguous,
                "verified certificate matches no single configured client; refusing");
            Err(())
        }
    };
    (client, Some(facts.fingerprint_sha256))
}

/// Serve HTTP on a connection until it ends, then close its TLS so the client can read to
/// the end ([`linger_close`]). The connection is told to close (HTTP/1.1: after the current
/// answer; HTTP/2: GOAWAY) when shutdown begins, after a refused client's first answer, or
/// when no request has been open on it for `header_read_timeout` (hyper closes idle
/// HTTP/1.1 connections itself at that time; its HTTP/2 server never would). Once told, it
/// gets [`CLOSE_GRACE_MS`] without open requests to finish before it is dropped.
async fn serve_http(
    shared: &Arc<Shared>,
    tls: TlsStream<TcpStream>,
    peer: SocketAddr,
    client: Result<ConnectionClient, ()>,
    h2: bool,
) {
    let builder = if h2 {
        shared.http.clone().http2_only()
    } else {
        // Without ALPN the client speaks HTTP/1.1 (HTTP/2 over TLS requires ALPN); fixing
        // the version also keeps the header-read timeout in force from the first byte.
        shared.http.clone().http1_only()
    };
    let activity = Arc::new(Activity::default());
    let refused = client.is_err();
    let (handler_shared, handler_activity) = (shared.clone(), activity.clone());
    let client = Arc::new(client);
    let svc = service_fn(move |req: Request<Incoming>| {
        let (shared, client) = (handler_shared.clone(), client.clone());
        let activity = handler_activity.clone();
        // Counted from the moment hyper hands the request over, before its task first runs.
        let open = activity.enter();
        async move {
            let response = handle(&shared, &client, req).await;
            if refused {
                // One refusal per connection: HTTP/1.1 already says `Connection: close`.
                activity.want_close();
            }
            match response {
                Some(r) => Ok(r.map(|body| CountedBody::new(body, open))),
                // The service withheld its answer: ending the connection is what the client
                // sees of an answer lost on the way.
                None => Err(std::io::Error::other("answer withheld by the service")),
            }
        }
    });
    let (io, mut returned) = Returnable::new(tls);
    let mut conn = Box::pin(builder.serve_connection(TokioIo::new(io), svc).into_owned());
    let (mut soft_stop, mut hard_stop) = (shared.soft_stop.clone(), shared.hard_stop.clone());
    let idle = shared.limits.header_read_timeout;
    let mut closing = false;
    loop {
        let period = if closing {
            Duration::from_millis(CLOSE_GRACE_MS)
        } else {
            idle
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = soft_stop.wait_for(|stop| *stop), if !closing => {}
            () = activity.close_wanted(), if !closing => {
                debug!(%peer, "closing the connection of a refused client");
            }
            () = activity.idle_for(period) => {
                if closing {
                    debug!(%peer, grace_ms = CLOSE_GRACE_MS, "connection did not close in time; dropped");
                    break;
                }
                debug!(%peer, idle_ms = idle.as_millis(), "idle connection closed");
            }
            _ = hard_stop.wait_for(|stop| *stop) => return,
        }
        if !closing {
            closing = true;
            conn.as_mut().graceful_shutdown();
        }
    }
    drop(conn);
    if let Ok(tls) = returned.try_recv() {
        linger_close(tls).await;
    }
}

/// A finished answer plus what metrics need to know about it.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Bytes,
    outcome: &'static str,
    infno: Option<String>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// Count in `medsettle_requests_total` (operational endpoints are not).
    counted: bool,
    /// End the HTTP/1.1 connection after this answer (the request body was not consumed, so
    /// the connection is not in a state worth reusing).
    close: bool,
    /// Send nothing: end the connection instead (a lost answer a certification session
    /// asked for, [`crate::ServiceResponse::abort`]).
    abort: bool,
}

impl Answer {
    fn text_owned(status: StatusCode, body: String) -> Self {
        let mut a = Answer::text(status, "");
        a.body = Bytes::from(body);
        a
    }

    fn text(status: StatusCode, body: &'static str) -> Self {
        Answer {
            status,
            content_type: CONTENT_TYPE_TEXT.to_owned(),
            body: Bytes::from_static(body.as_bytes()),
            outcome: "operational",
            infno: None,
            headers: Vec::new(),
            counted: false,
            close: false,
            abort: false,
        }
    }

    fn national(
        status: StatusCode,
        rule: RuleId,
        message: &str,
        outcome: &'static str,
        infno: Option<&str>,
        received: OffsetDateTime,
    ) -> Self {
        Answer {
            status,
            content_type: CONTENT_TYPE_JSON.to_owned(),
            body: national_error(rule, message, received),
            outcome,
            infno: infno.map(str::to_owned),
            headers: Vec::new(),
            counted: true,
            close: false,
            abort: false,
        }
    }

    fn close(mut self) -> Self {
        self.close = true;
        self
    }

    fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

async fn handle(
    shared: &Shared,
    client: &Result<ConnectionClient, ()>,
    req: Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let started = Instant::now();
    let received = OffsetDateTime::now_utc();
    let version = req.version();
    let _in_flight = shared.in_flight.enter();
    let mut hard_stop = shared.hard_stop.clone();
    let answer = tokio::select! {
        a = dispatch(shared, client, req, started, received) => a,
        _ = hard_stop.wait_for(|stop| *stop) => Answer::national(
            StatusCode::SERVICE_UNAVAILABLE,
            RuleId::GW_UNAVAILABLE,
            "the gateway is shutting down; retry with the same msgid",
            "shutdown",
            None,
            received,
        ),
    };
    if answer.counted {
        shared.metrics.record_request(
            answer.infno.as_deref().unwrap_or("none"),
            answer.outcome,
            started.elapsed(),
        );
    }
    if answer.abort {
        return None;
    }
    let mut builder = Response::builder()
        .status(answer.status)
        .header(header::CONTENT_TYPE, answer.content_type.as_str());
    for (k, v) in answer.headers {
        builder = builder.header(k, v);
    }
    if (client.is_err() || answer.close) && version <= Version::HTTP_11 {
        // A refused client has no business keeping the connection; neither has one whose
        // body was left unread.
        builder = builder.header(header::CONNECTION, "close");
    }
    Some(builder.body(Full::new(answer.body)).unwrap_or_else(|e| {
        // Only a service-supplied content type can be invalid here.
        warn!(error = %e, "answer could not be built");
        let mut r = Response::new(Full::new(national_error(
            RuleId::GW_INTERNAL,
            "the answer could not be built; nothing was acknowledged",
            received,
        )));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE_JSON),
        );
        r
    }))
}

async fn dispatch(
    shared: &Shared,
    client: &Result<ConnectionClient, ()>,
    req: Request<Incoming>,
    started: Instant,
    received: OffsetDateTime,
) -> Answer {
    let route = routes::route(req.uri().path(), &shared.prefixes, &shared.service_paths);
    let infno_from_path = match route {
        Route::National { infno } => infno,
        _ => None,
    };
    let Ok(client) = client else {
        return Answer::national(
            StatusCode::FORBIDDEN,
            RuleId::GW_AUTH,
            "the client certificate is valid but not registered with this gateway",
            "auth",
            infno_from_path,
            received,
        );
    };
    let read_only = req.method() == Method::GET || req.method() == Method::HEAD;
    let not_allowed = || {
        Answer::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
    };
    let get_only = |answer: Answer| if read_only { answer } else { not_allowed() };
    match route {
        Route::Healthz => get_only(Answer::text(StatusCode::OK, "ok\n")),
        Route::Readyz => get_only(if is_ready(shared) {
            Answer::text(StatusCode::OK, "ready\n")
        } else {
            Answer::text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }),
        Route::Metrics => {
            let mut a = Answer::text(StatusCode::OK, "");
            a.content_type = CONTENT_TYPE_METRICS.to_owned();
            a.body = Bytes::from(shared.metrics.render());
            get_only(a)
        }
        Route::Operator => {
            if client.identity.role != Role::Operator {
                return Answer::text(
                    StatusCode::FORBIDDEN,
                    "operator endpoints need an operator certificate\n",
                );
            }
            operator(shared, client, req, started).await
        }
        Route::NotFound => Answer::national(
            StatusCode::NOT_FOUND,
            RuleId::GW_ROUTE,
            &format!("no national-interface endpoint at {}", req.uri().path()),
            "route",
            None,
            received,
        ),
        Route::National { infno } => national(shared, client, req, infno, started, received).await,
    }
}

/// An operator request: the body is read within `operator_body_bytes_max` and the request
/// deadline, then the service answers with no deadline of its own (a monthly settlement may
/// take longer than a national request; shutdown's grace still bounds it).
async fn operator(
    shared: &Shared,
    client: &ConnectionClient,
    req: Request<Incoming>,
    started: Instant,
) -> Answer {
    let body_bytes_max = shared.limits.operator_body_bytes_max;
    let deadline = tokio::time::Instant::from_std(started + shared.limits.request_timeout);
    let (parts, body) = match read_body(req, body_bytes_max, deadline).await {
        Ok(read) => read,
        Err(BodyRefused::TooLarge) => {
            return Answer::text_owned(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "operator request body exceeds operator_body_bytes_max = {body_bytes_max} bytes\n"
                ),
            )
            .close();
        }
        Err(BodyRefused::Late) => {
            return Answer::text(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            )
            .close();
        }
        Err(BodyRefused::Unreadable(_)) => {
            return Answer::text(StatusCode::BAD_REQUEST, "request body unreadable\n").close();
        }
    };
    let path = parts.uri.path();
    let request = OperatorRequest {
        identity: client.identity.clone(),
        method: parts.method.clone(),
        path: path
            .strip_prefix(routes::PATH_OPS_PREFIX)
            .unwrap_or(path)
            .to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    let r = shared.service.operator(request).await;
    Answer {
        status: StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        content_type: r.content_type,
        body: r.body,
        outcome: "operational",
        infno: None,
        headers: Vec::new(),
        // Like /metrics: operator requests are not national requests.
        counted: false,
        close: false,
        abort: false,
    }
}

/// Why a request body was not read.
enum BodyRefused {
    /// Over the limit: declared so (refused before reading a byte) or found so while reading.
    TooLarge,
    /// Not received by the request deadline.
    Late,
    /// The connection failed mid-body.
    Unreadable(String),
}

/// The whole body of `req`, at most `bytes_max` bytes, by `deadline`.
async fn read_body(
    req: Request<Incoming>,
    bytes_max: usize,
    deadline: tokio::time::Instant,
) -> Result<(http::request::Parts, Bytes), BodyRefused> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > bytes_max as u64) {
        return Err(BodyRefused::TooLarge);
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout_at(deadline, Limited::new(body, bytes_max).collect()).await {
        Err(_) => Err(BodyRefused::Late),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(BodyRefused::TooLarge),
        Ok(Err(e)) => Err(BodyRefused::Unreadable(e.to_string())),
        Ok(Ok(collected)) => Ok((parts, collected.to_bytes())),
    }
}

fn is_ready(shared: &Shared) -> bool {
    !shared.shutting_down.load(Ordering::SeqCst) && shared.readiness.is_ready()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A national request: the checks in order of cost, then the service.
async fn national(
    shared: &Shared,
    client: &ConnectionClient,
    req: Request<Incoming>,
    infno: Option<&str>,
    started: Instant,
    received: OffsetDateTime,
) -> Answer {
    let refuse = |status, rule, message: &str, outcome| {
        Answer::national(status, rule, message, outcome, infno, received)
    };
    if req.method() != Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            RuleId::GW_ROUTE,
            &format!(
                "{} is not allowed here; the national interface uses POST",
                req.method()
            ),
            "route",
        )
        .header(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if !is_ready(shared) {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            RuleId::GW_UNAVAILABLE,
            "the gateway cannot record settlements now; nothing was done, retry later with the same msgid",
            "unavailable",
        );
    }
    let identity = &client.identity;
    // Rate before signature: a refused request then does not use up the client's nonce.
    if let Some(rate) = &shared.rate
        && let Err(wait) = rate.check(&identity.name, Instant::now())
    {
        let secs = retry_after_seconds(wait);
        debug!(client = %identity.name, "rate limited");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            RuleId::GW_RATE,
            &format!(
                "more than {} requests per second from this client; retry after {secs} s",
                shared.limits.rate.map_or(0, |r| r.per_second)
            ),
            "rate",
        )
        .header(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(tif) = &client.tif
        && let Err(why) = shared
            .tif
            .check(&identity.name, tif, req.headers(), unix_now())
    {
        warn!(client = %identity.name, reason = %why, "x-tif signature refused");
        let status = if why == TifRejection::CacheFull {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::UNAUTHORIZED
        };
        return refuse(status, RuleId::GW_SIGNATURE, &why.to_string(), "signature");
    }

    let body_bytes_max = shared.limits.body_bytes_max;
    let deadline = tokio::time::Instant::from_std(started + shared.limits.request_timeout);
    let timeout_ms = shared.limits.request_timeout.as_millis();
    let (parts, body) = match read_body(req, body_bytes_max, deadline).await {
        Ok(read) => read,
        Err(BodyRefused::TooLarge) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                RuleId::GW_LIMIT,
                &format!("request body exceeds body_bytes_max = {body_bytes_max} bytes"),
                "limit",
            )
            .close();
        }
        Err(BodyRefused::Late) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                RuleId::GW_LIMIT,
                &format!("request body not received within request_timeout_ms = {timeout_ms}"),
                "timeout",
            )
            .close();
        }
        Err(BodyRefused::Unreadable(e)) => {
            debug!(client = %identity.name, error = %e, "request body unreadable");
            return refuse(
                StatusCode::BAD_REQUEST,
                RuleId::GW_LIMIT,
                "the request body could not be read completely",
                "limit",
            )
            .close();
        }
    };

    let request = ServiceRequest {
        identity: identity.clone(),
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        infno_from_path: infno.map(str::to_owned),
    };
    match tokio::time::timeout_at(deadline, shared.service.call(request)).await {
        Err(_) => {
            warn!(client = %identity.name, ?infno, timeout_ms, "service did not answer in time");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                RuleId::GW_UNAVAILABLE,
                &format!(
                    "not answered within request_timeout_ms = {timeout_ms}; retry with the same msgid"
                ),
                "timeout",
            )
        }
        Ok(resp) => match StatusCode::from_u16(resp.status) {
            Ok(status) => Answer {
                status,
                content_type: resp.content_type,
                body: resp.body,
                outcome: resp.outcome,
                infno: resp.infno.or_else(|| infno.map(str::to_owned)),
                headers: service_headers(resp.headers),
                counted: true,
                close: false,
                abort: resp.abort,
            },
            Err(_) => {
                warn!(
                    status = resp.status,
                    "service answered an invalid HTTP status"
                );
                refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    RuleId::GW_INTERNAL,
                    "internal error; the operator has the log line",
                    "internal",
                )
            }
        },
    }
}

/// A service's extra headers as header pairs; a pair that is not a valid header is dropped
/// (logged): the service's answer still goes out.
fn service_headers(pairs: Vec<(String, String)>) -> Vec<(header::HeaderName, HeaderValue)> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| {
            match (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                (Ok(k), Ok(v)) => Some((k, v)),
                _ => {
                    warn!(header = %k, "a service header is not a valid header: dropped");
                    None
                }
            }
        })
        .collect()
}
