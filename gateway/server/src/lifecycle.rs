//! A connection's life around the HTTP layer: the per-source-address and per-certificate
//! connection caps, the idle timer (hyper's HTTP/2 server has none), the close after a
//! refusal, and the lingering TLS close that lets a client read an early answer (413) instead
//! of a reset.

use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio_rustls::server::TlsStream;

/// Time a connection told to close (GOAWAY, or `Connection: close` after the current
/// answer) gets, once it has no request open, to finish before it is dropped. A cooperating
/// client closes within a round trip or two; one that never answers the GOAWAY's PING, or
/// never reads, would otherwise keep its slot.
pub const CLOSE_GRACE_MS: u64 = 2_000;
/// Most bytes read and thrown away after the server has closed its side of a connection
/// (TLS close_notify sent): a client still sending a body the server will not read (413, an
/// unread body) must not be met by a TCP reset, which can destroy the answer before the
/// client reads it. Beyond this the socket is dropped anyway.
pub const LINGER_BYTES_MAX: usize = 1024 * 1024;
/// Longest time spent reading and discarding as in [`LINGER_BYTES_MAX`] (nginx's
/// `lingering_timeout` is 5 s; a client that is merely finishing an upload needs far less).
pub const LINGER_MS_MAX: u64 = 2_000;
/// Read buffer of the lingering close.
const LINGER_BUFFER_BYTES: usize = 16 * 1024;

/// Open connections per key (source address, certificate fingerprint), each key capped.
#[derive(Debug)]
pub(crate) struct PerKeyCap<K: Eq + Hash + Clone> {
    max: usize,
    open: Mutex<HashMap<K, usize>>,
}

/// One counted connection; counted down when dropped.
#[derive(Debug)]
pub(crate) struct PerKeySlot<K: Eq + Hash + Clone> {
    cap: Arc<PerKeyCap<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> PerKeyCap<K> {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        assert!(max >= 1, "a connection cap of 0 is refused by the config");
        Arc::new(PerKeyCap {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection of `key`, or `None` if `key` has `max` open.
    pub(crate) fn try_enter(self: &Arc<Self>, key: K) -> Option<PerKeySlot<K>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PerKeySlot {
            cap: self.clone(),
            key,
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for PerKeySlot<K> {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open
            .get_mut(&self.key)
            .expect("a slot's key is counted while the slot lives");
        assert!(*n >= 1, "a slot's key is counted while the slot lives");
        *n -= 1;
        if *n == 0 {
            // Keys with no connection are forgotten: the map holds open connections only.
            open.remove(&self.key);
        }
    }
}

/// The requests open on one connection (HTTP/1.1: at most one; HTTP/2: its streams), for
/// its idle timer, and whether the connection should close after the current answers.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    open: AtomicUsize,
    close_wanted: AtomicBool,
    changed: Notify,
}

/// One open request; counted down when dropped (with the answer's body, so a request is
/// open until its answer has been handed to the connection in full).
#[derive(Debug)]
pub(crate) struct RequestOpen(Arc<Activity>);

impl Activity {
    pub(crate) fn enter(self: &Arc<Self>) -> RequestOpen {
        self.open.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        RequestOpen(self.clone())
    }

    /// Ask for the connection to be closed once its open requests are answered.
    pub(crate) fn want_close(&self) {
        self.close_wanted.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Resolves when a close has been asked for with [`Activity::want_close`].
    pub(crate) async fn close_wanted(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register before checking so a change between check and await is not lost.
            notified.as_mut().enable();
            if self.close_wanted.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once no request has been open for `period` without a break.
    pub(crate) async fn idle_for(&self, period: Duration) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                tokio::select! {
                    () = tokio::time::sleep(period) => return,
                    () = &mut notified => {}
                }
            } else {
                notified.await;
            }
        }
    }
}

impl Drop for RequestOpen {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// An answer's body that keeps its request counted as open until the body is dropped
/// (sent in full, or abandoned with its stream).
#[derive(Debug)]
pub(crate) struct CountedBody {
    inner: Full<Bytes>,
    _open: RequestOpen,
}

impl CountedBody {
    pub(crate) fn new(inner: Full<Bytes>, open: RequestOpen) -> Self {
        CountedBody { inner, _open: open }
    }
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

type Tls = TlsStream<TcpStream>;

/// The connection's TLS stream as handed to hyper. When hyper drops it (the connection
/// ended), the stream goes back to the connection task through `back` instead of being
/// closed, so the task can close it with [`linger_close`].
pub(crate) struct Returnable {
    stream: Option<Tls>,
    back: Option<oneshot::Sender<Tls>>,
}

impl Returnable {
    pub(crate) fn new(stream: Tls) -> (Self, oneshot::Receiver<Tls>) {
        let (tx, rx) = oneshot::channel();
        (
            Returnable {
                stream: Some(stream),
                back: Some(tx),
            },
            rx,
        )
    }

    fn stream(&mut self) -> &mut Tls {
        self.stream
            .as_mut()
            .expect("the stream is only taken when dropped")
    }
}

impl Drop for Returnable {
    fn drop(&mut self) {
        if let (Some(stream), Some(back)) = (self.stream.take(), self.back.take()) {
            // The receiver is gone only if the connection task was cancelled; the stream
            // is then simply closed.
            let _ = back.send(stream);
        }
    }
}

impl AsyncRead for Returnable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Returnable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_shutdown(cx)
    }
}

/// Close a TLS connection the way a client can read to its end: send close_notify and FIN
/// (again, if the HTTP layer already did: harmless), then read and discard what the client
/// still sends, at most [`LINGER_BYTES_MAX`] bytes within [`LINGER_MS_MAX`], until it
/// closes too. Dropping a socket with unread data makes the kernel send a reset instead of
/// a FIN, and a reset can destroy the answer before the client has read it. Returns the
/// bytes discarded.
pub(crate) async fn linger_close(mut tls: Tls) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(LINGER_MS_MAX);
    let mut discarded = 0usize;
    let drain = async {
        let _ = tls.shutdown().await;
        let mut buf = vec![0u8; LINGER_BUFFER_BYTES];
        while discarded < LINGER_BYTES_MAX {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, drain).await;
    discarded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_counts_per_key_and_forgets_keys_without_connections() {
        let cap = PerKeyCap::new(2);
        let a1 = cap.try_enter("a").unwrap();
        let a2 = cap.try_enter("a").unwrap();
        assert!(cap.try_enter("a").is_none(), "a third for one key");
        let b = cap.try_enter("b").expect("another key has its own count");
        assert_eq!(cap.open.lock().unwrap()[&"a"], 2);
        drop(a1);
        let a3 = cap.try_enter("a").expect("a freed slot comes back");
        drop((a2, a3, b));
        assert!(cap.open.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn idle_means_no_request_open_for_the_whole_period() {
        let activity = Arc::new(Activity::default());
        let period = Duration::from_millis(100);
        let open = activity.enter();
        // a request open longer than the period: not idle
        let idle = tokio::time::timeout(period * 3, activity.idle_for(period)).await;
        assert!(idle.is_err(), "idle while a request was open");
        drop(open);
        let started = tokio::time::Instant::now();
        activity.idle_for(period).await;
        assert!(started.elapsed() >= period);

        // a request in the middle of the period starts it again
        let a = activity.clone();
        let started = tokio::time::Instant::now();
        let waiter = tokio::spawn(async move { a.idle_for(period).await });
        tokio::time::sleep(period / 2).await;
        drop(activity.enter());
        waiter.await.unwrap();
        assert!(started.elapsed() >= period + period / 2);
    }

    #[tokio::test]
    async fn a_close_wish_is_not_lost() {
        let activity = Activity::default();
        activity.want_close();
        activity.close_wanted().await;
    }
}
