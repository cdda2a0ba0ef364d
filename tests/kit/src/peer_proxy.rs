//! A fault-injecting proxy between two regions' gateways (`specs/interregion.md`): the place
//! of treatment's `[[peer]] upstream.url` points here instead of at the insured place, and the
//! proxy forwards each `POST /interregion/v1` to the **real** insured gateway — or misbehaves
//! as a peer does on a bad day, as told per transaction (`infno`) at run time:
//!
//! | fault | the far side does |
//! |---|---|
//! | [`Fault::Pass`] | forward, answer with the peer's answer |
//! | [`Fault::Late`] | forward (the peer applies it), hold the answer, then answer |
//! | [`Fault::Twice`] | forward the same bytes twice, one after the other, answer with the second answer |
//! | [`Fault::TwiceAtOnce`] | forward the same bytes twice at the same time, answer with the answer that came first |
//! | [`Fault::DropAfterForward`] | forward (the peer applies it), close the connection without an answer |
//! | [`Fault::Never`] | accept, never forward, never answer; hold until the client gives up |
//!
//! and, below the transactions, [`PeerProxy::down_for`]: the next n connections are closed
//! before any TLS byte (a peer that is down; the caller knows nothing was sent). A connection
//! carries no infno before its request is read, so "down" is per proxy, not per transaction.
//!
//! The proxy speaks mutual TLS on both sides: as a server with a development PKI of its own
//! (the caller pins its server certificate), accepting client certificates of the caller's peer
//! CA; as a client through [`UpstreamClient`] (`path_style = exact`) presenting a peer client
//! certificate the insured gateway recognises — the caller's own, so the peer sees the caller.
//! Each accepted connection serves one exchange (no keep-alive): a refused connection is a
//! refused exchange, and nothing stays pooled across a change of fault.
//!
//! Everything that passes is recorded as a [`Passage`]: the request bytes, its infno, msgid and
//! `input.omsgid`, the fault applied, every answer the peer gave to a forward, and what the
//! caller was answered.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use medsettle_server::ServerError;
use medsettle_server::config::TlsMaterial;
use medsettle_server::pki::generate_dev_pki;
use medsettle_server::tls;
use medsettle_server::upstream::{UpstreamClient, UpstreamConfig, UpstreamError, UpstreamReply};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// The peer protocol's one path (`specs/interregion.md` §2).
pub const PEER_PATH: &str = "/interregion/v1";
/// Longest a [`Fault::Never`] exchange is held before its connection is closed: far beyond
/// any caller's deadline, bounded so a forgotten connection does not live for ever.
pub const NEVER_HOLD_MAX: Duration = Duration::from_secs(120);
/// Pause after a failed `accept` before the next.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(10);
/// Largest request body the proxy reads (the protocol's messages are far smaller).
pub const REQUEST_BYTES_MAX: usize = 4 * 1024 * 1024;

/// How the proxy treats one transaction's exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward and answer with the peer's answer.
    Pass,
    /// Forward, then hold the peer's answer this long before answering (past the caller's
    /// deadline: the caller has given up by then).
    Late(Duration),
    /// Forward the same bytes twice, the second after the first was answered; answer with the
    /// second answer.
    Twice,
    /// Forward the same bytes twice at the same time; answer with the answer that came
    /// first. (A caller that resends after its timeout listens to the later copy only, and a
    /// later copy the peer turns away, without waiting for its journal, is answered first.)
    TwiceAtOnce,
    /// Forward (the peer applies it), then close the connection without an answer.
    DropAfterForward,
    /// Never forward, never answer: hold the connection until the caller gives up (at most
    /// [`NEVER_HOLD_MAX`]).
    Never,
}

/// One exchange that reached the proxy.
#[derive(Debug, Clone)]
pub struct Passage {
    /// Order of arrival, from 0.
    pub seq: usize,
    pub infno: String,
    pub msgid: String,
    /// `input.omsgid` of a reversal (XPRV02) or status query (XPRV03).
    pub omsgid: Option<String>,
    pub fault: Fault,
    /// The request body exactly as received.
    pub request: Bytes,
    /// The peer's answer to each forward that was answered, in the order they came.
    pub answers: Vec<(u16, Bytes)>,
    /// Forwards the peer did not answer, and why.
    pub forward_errors: Vec<String>,
    /// The HTTP status the proxy answered with (after a [`Fault::Late`] hold the caller may
    /// have gone); `None` when it closed the connection without an answer or holds it still.
    pub answered: Option<u16>,
}

impl Passage {
    /// Forwards made (answered or not).
    pub fn forwards(&self) -> usize {
        self.answers.len() + self.forward_errors.len()
    }

    /// The peer's answers as JSON (an answer that is not JSON is `Value::Null`).
    pub fn answers_json(&self) -> Vec<Value> {
        self.answers
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap_or(Value::Null))
            .collect()
    }
}

/// The proxy's shared state: faults in force and what passed.
pub struct ProxyState {
    faults: Mutex<HashMap<String, Fault>>,
    down_left: AtomicU32,
    connections: AtomicU32,
    refused: AtomicU32,
    passages: Mutex<Vec<Passage>>,
}

impl ProxyState {
    fn fault_for(&self, infno: &str) -> Fault {
        lock(&self.faults)
            .get(infno)
            .copied()
            .unwrap_or(Fault::Pass)
    }

    fn record(&self, p: Passage) -> usize {
        let mut passages = lock(&self.passages);
        let seq = passages.len();
        passages.push(Passage { seq, ..p });
        seq
    }

    fn update(&self, seq: usize, f: impl FnOnce(&mut Passage)) {
        f(&mut lock(&self.passages)[seq]);
    }
}

/// A poisoned lock still holds the record: a test that panicked elsewhere should see it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running proxy; stopped (every connection with it) on drop.
pub struct PeerProxy {
    pub addr: SocketAddr,
    pub state: Arc<ProxyState>,
    /// The proxy's server certificate (pin it) and the CA that issued it.
    pub server_cert: PathBuf,
    pub ca_cert: PathBuf,
    upstream: UpstreamClient,
    task: JoinHandle<()>,
}

impl Drop for PeerProxy {
    fn drop(&mut self) {
        // the accept task owns the connections' JoinSet: aborting it aborts them all
        self.task.abort();
    }
}

impl PeerProxy {
    /// Start on 127.0.0.1:0: a development PKI of the proxy's own is written to `dir`
    /// (server certificate for `localhost`/`127.0.0.1`), client certificates issued by
    /// `client_ca` are required, and every exchange is forwarded by a client built from
    /// `upstream` (give it `path_style = exact`, the peer's `/interregion/v1` URL, a peer
    /// client certificate the peer recognises and its pinned server certificate).
    pub async fn start(
        dir: &Path,
        client_ca: &Path,
        upstream: &UpstreamConfig,
    ) -> Result<PeerProxy, ServerError> {
        let pki = generate_dev_pki(dir, &["localhost", "127.0.0.1"], &[])?;
        let material = TlsMaterial {
            server_chain: tls::load_certificates(&pki.server_cert)?,
            server_key: tls::load_private_key(&pki.server_key)?,
            client_roots: tls::load_certificates(client_ca)?,
        };
        let acceptor = TlsAcceptor::from(tls::server_config(&material)?);
        let client = UpstreamClient::new(upstream)?;
        let state = Arc::new(ProxyState {
            faults: Mutex::new(HashMap::new()),
            down_left: AtomicU32::new(0),
            connections: AtomicU32::new(0),
            refused: AtomicU32::new(0),
            passages: Mutex::new(Vec::new()),
        });
        let listener =
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| ServerError::Io {
                    context: "binding",
                    path: PathBuf::from("127.0.0.1:0"),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Io {
            context: "reading the address of",
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })?;
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            state.clone(),
            client.clone(),
        ));
        Ok(PeerProxy {
            addr,
            state,
            server_cert: pki.server_cert,
            ca_cert: pki.ca_cert,
            upstream: client,
            task,
        })
    }

    /// The URL a caller's `[[peer]] upstream.url` names.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}{PEER_PATH}", self.addr.port())
    }

    /// Treat `infno`'s exchanges (e.g. `"XPRV01"`) so from now on; exchanges already under
    /// way keep the fault they arrived under.
    pub fn set(&self, infno: &str, fault: Fault) {
        lock(&self.state.faults).insert(infno.to_owned(), fault);
    }

    /// Every transaction passes again (connections refused by [`PeerProxy::down_for`] too).
    pub fn clear(&self) {
        lock(&self.state.faults).clear();
        self.up();
    }

    /// Close the next `n` connections before TLS: the peer is down for them.
    pub fn down_for(&self, n: u32) {
        self.state.down_left.store(n, Ordering::SeqCst);
    }

    /// Accept connections again, however many [`PeerProxy::down_for`] had left.
    pub fn up(&self) {
        self.state.down_left.store(0, Ordering::SeqCst);
    }

    /// Connections accepted at the TCP level (refused ones included).
    pub fn connections(&self) -> u32 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Connections closed before TLS because the peer was down.
    pub fn refused_connections(&self) -> u32 {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// Every exchange so far, in order of arrival.
    pub fn passages(&self) -> Vec<Passage> {
        lock(&self.state.passages).clone()
    }

    /// The exchanges of `infno` with message id `msgid`.
    pub fn of(&self, infno: &str, msgid: &str) -> Vec<Passage> {
        self.passages()
            .into_iter()
            .filter(|p| p.infno == infno && p.msgid == msgid)
            .collect()
    }

    /// The exchanges of `infno` about message `omsgid` (reversals, status queries).
    pub fn about(&self, infno: &str, omsgid: &str) -> Vec<Passage> {
        self.passages()
            .into_iter()
            .filter(|p| p.infno == infno && p.omsgid.as_deref() == Some(omsgid))
            .collect()
    }

    /// Exchanges of `infno` so far.
    pub fn count(&self, infno: &str) -> usize {
        lock(&self.state.passages)
            .iter()
            .filter(|p| p.infno == infno)
            .count()
    }

    /// Send `body` to the peer directly, as the proxy forwards (a late original sent by
    /// hand); not recorded.
    pub async fn send_direct(
        &self,
        infno: &str,
        body: Bytes,
    ) -> Result<UpstreamReply, UpstreamError> {
        self.upstream.call(infno, body).await
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<ProxyState>,
    upstream: UpstreamClient,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // out of descriptors or the like: do not spin
            tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
            continue;
        };
        // reap the finished ones so the set stays small
        while connections.try_join_next().is_some() {}
        state.connections.fetch_add(1, Ordering::SeqCst);
        let down = state
            .down_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if down {
            state.refused.fetch_add(1, Ordering::SeqCst);
            drop(tcp); // closed before any TLS byte: the caller knows nothing was sent
            continue;
        }
        let (state, acceptor, upstream) = (state.clone(), acceptor.clone(), upstream.clone());
        connections.spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let kill = Arc::new(Notify::new());
            let k = kill.clone();
            let svc =
                service_fn(move |req| handle(state.clone(), upstream.clone(), k.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(tls), svc);
            // dropping the connection future closes the socket without an answer
            tokio::select! {
                _ = conn => {}
                () = kill.notified() => {}
            }
        });
    }
}

type Answer = Result<Response<Full<Bytes>>, Infallible>;

fn respond(status: u16, body: Bytes) -> Answer {
    Ok(Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
        .header("content-type", "application/json;charset=UTF-8")
        .body(Full::new(body))
        .expect("a response with a valid status and header"))
}

/// Close this connection without an answer and never complete.
async fn drop_connection(kill: &Notify) -> Answer {
    kill.notify_one();
    std::future::pending().await
}

async fn handle(
    state: Arc<ProxyState>,
    upstream: UpstreamClient,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Answer {
    if req.uri().path() != PEER_PATH {
        return respond(404, Bytes::from_static(b"{}"));
    }
    let limited = http_body_util::Limited::new(req.into_body(), REQUEST_BYTES_MAX);
    let Ok(body) = limited.collect().await.map(|c| c.to_bytes()) else {
        return drop_connection(&kill).await;
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let infno = text(&v["infno"]).unwrap_or_default();
    let fault = state.fault_for(&infno);
    let seq = state.record(Passage {
        seq: 0,
        msgid: text(&v["msgid"]).unwrap_or_default(),
        omsgid: text(&v["input"]["omsgid"]),
        infno: infno.clone(),
        fault,
        request: body.clone(),
        answers: Vec::new(),
        forward_errors: Vec::new(),
        answered: None,
    });
    let forward = || forward(&state, &upstream, seq, &infno, body.clone());
    let answer = match fault {
        Fault::Never => {
            tokio::time::sleep(NEVER_HOLD_MAX).await;
            return drop_connection(&kill).await;
        }
        Fault::Pass => forward().await,
        Fault::Late(hold) => {
            let answer = forward().await;
            tokio::time::sleep(hold).await;
            answer
        }
        Fault::Twice => {
            let _first = forward().await;
            forward().await
        }
        Fault::TwiceAtOnce => {
            let (_, _) = tokio::join!(forward(), forward());
            // answers are recorded as they come
            lock(&state.passages)[seq].answers.first().cloned()
        }
        Fault::DropAfterForward => {
            let _applied = forward().await;
            return drop_connection(&kill).await;
        }
    };
    match answer {
        Some((status, body)) => {
            state.update(seq, |p| p.answered = Some(status));
            respond(status, body)
        }
        // the peer did not answer the proxy: the caller gets no answer either
        None => drop_connection(&kill).await,
    }
}

/// One forward to the peer, recorded on passage `seq`.
async fn forward(
    state: &ProxyState,
    upstream: &UpstreamClient,
    seq: usize,
    infno: &str,
    body: Bytes,
) -> Option<(u16, Bytes)> {
    match upstream.call(infno, body).await {
        Ok(reply) => {
            let answer = (reply.status, reply.body);
            state.update(seq, |p| p.answers.push(answer.clone()));
            Some(answer)
        }
        Err(e) => {
            state.update(seq, |p| p.forward_errors.push(e.to_string()));
            None
        }
    }
}
