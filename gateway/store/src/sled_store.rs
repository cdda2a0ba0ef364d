//! The sled backend. See the crate docs for the write order and why it is
//! crash-safe without transactions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{error, info, warn};

use crate::config::{Durability, StoreConfig};
use crate::error::StoreError;
use crate::record::{Idempotency, JournalRecord, StateWrite};
use crate::record_index::{self, RecordPage, RecordQuery, RecordTerms};
use crate::{
    Appended, DurableFuture, IdempotentEntry, IdempotentOutcome, JournalSummary, RecordIter,
    StateIter, Store, StoreStats, Ticket,
};

const TREE_JOURNAL: &str = "journal";
const TREE_IDEM: &str = "idem";
const TREE_META: &str = "meta";
/// State keyspace `x` lives in sled tree `state/x`.
const STATE_TREE_PREFIX: &str = "state/";
const META_APPLIED_THROUGH: &[u8] = b"applied_through";
/// Consumer `c` commits under meta key `consumer/c`.
const META_CONSUMER_PREFIX: &str = "consumer/";
/// sled's data file and blob directory inside the store directory (sled 0.34.7
/// layout: `conf`, `db`, `blobs/<lsn>`, `snap.<lsn>`; snapshots are already
/// `sync_all`ed by sled itself, blobs are not synced at all).
const SLED_DATA_FILE: &str = "db";
/// sled's parameter file, written once when the database is created (or found empty).
const SLED_CONF_FILE: &str = "conf";
const SLED_BLOB_DIR: &str = "blobs";

/// sled [`Store`] implementation. Dropping it stops the flusher after a final flush.
pub struct SledStore {
    inner: Arc<Inner>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// The background record indexer, when the index is written behind the appends.
    indexer: Mutex<Option<JoinHandle<()>>>,
}

/// A state keyspace's tree and the writes applied to it since the store was opened.
#[derive(Clone)]
struct StateSpace {
    tree: sled::Tree,
    writes: Arc<AtomicU64>,
}

/// The next store instance's number ([`Store::space_generation`]).
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

struct Inner {
    db: sled::Db,
    journal: sled::Tree,
    idem: sled::Tree,
    meta: sled::Tree,
    /// The record index's entries (`record_index.rs`), written only while
    /// `config.record_index` is on.
    index: sled::Tree,
    /// State keyspace name → its open tree. `Db::open_tree` takes sled's tenant lock and
    /// formats the tree name; every request reads and writes several keyspaces, so each is
    /// opened once and its handle (an `Arc` inside) cloned afterwards.
    state_trees: RwLock<HashMap<String, StateSpace>>,
    /// This store's number among those this process opened ([`Store::space_generation`]).
    instance: u64,
    config: StoreConfig,
    dir: PathBuf,
    /// Serialises what must happen in offset order: offset assignment and the journal insert
    /// (so the journal is a gap-free prefix after any crash: sled's log keeps insert order).
    /// The idempotency decision, the idempotency entry and the state writes happen outside
    /// it; see [`Inner::append_frame`].
    append: Mutex<AppendState>,
    /// Idempotency keys claimed by an append that has not decided yet, or whose record is
    /// journaled but whose index entry and state writes are not in yet: a concurrent append
    /// of the same key waits for it instead of deciding on what it cannot see yet.
    in_flight: Mutex<HashSet<Vec<u8>>>,
    /// Signalled when a key leaves `in_flight`.
    in_flight_done: Condvar,
    /// Same-key state writes of two records must land in offset order (the order replay
    /// uses). A record holds the stripes of its state keys from before its offset is
    /// assigned until its writes are in, so a later record writing the same key gets a later
    /// offset and writes after it. Records with disjoint keys write in parallel.
    key_stripes: Vec<Mutex<()>>,
    /// What has been written (generation and offset); the flusher snapshots it.
    progress: Mutex<Progress>,
    /// Wakes the flusher when `progress` changes or on shutdown.
    work_cv: Condvar,
    /// The background indexer's pause, cut short by shutdown (never `work_cv`: a writer's
    /// `notify_one` meant for the flusher must not wake the indexer instead).
    indexer_cv: Condvar,
    /// What has been made durable; blocking waiters sleep on `durable_cv`,
    /// async waiters are listed in `durable_waiters`.
    durable: Mutex<DurableView>,
    durable_cv: Condvar,
    /// Pending async waits, each with its ticket: a change of `durable` wakes exactly the ones
    /// it decides. (A broadcast woke every waiter on every group commit, and the writes made
    /// while that commit ran — about half — only went back to sleep.) Locked after `durable`.
    durable_waiters: Mutex<Vec<DurableWaiter>>,
    next_waiter_id: AtomicU64,
    /// Set when a state apply failed half-way: only a reopen (replay) repairs it.
    poisoned: Mutex<Option<String>>,
    flush_count: AtomicU64,
    /// Told about every successful group commit (for metrics); set by the embedding process.
    flush_observer: Mutex<Option<FlushObserver>>,
    /// The fsync failpoint ([`FAILPOINT_FSYNC_ENV`]); `None` (inert) unless set.
    fsync_failpoint: Option<FsyncFailpoint>,
    /// The free-space guard's last look at the file system (see [`Inner::check_space`]).
    space: Mutex<SpaceCheck>,
    #[cfg(test)]
    pub(crate) hooks: TestHooks,
}

/// Called after each successful group commit with the number of writes it made durable and
/// how long the flush (sled flush + fdatasync) took.
pub type FlushObserver = Arc<dyn Fn(u64, Duration) + Send + Sync>;

#[cfg(test)]
#[derive(Default)]
pub(crate) struct TestHooks {
    /// Next append stops right after its journal insert (simulated crash).
    pub crash_after_journal_insert: std::sync::atomic::AtomicBool,
    /// This many next flushes fail with an injected I/O error.
    pub fail_flushes: std::sync::atomic::AtomicU32,
    /// Flush attempts (successful or not) since open, including the one at open.
    pub flushes_started: AtomicU64,
    /// Times the flusher lingered for a larger batch.
    pub lingers: AtomicU64,
    /// The next append sleeps this many milliseconds after its journal insert and index
    /// entry, before its state writes (a slow writer, to expose ordering races).
    pub pause_before_state_writes_ms: AtomicU64,
    /// The next idempotent append sleeps this many milliseconds between its journal insert
    /// and its index entry.
    pub pause_before_index_entry_ms: AtomicU64,
    /// The background indexer does nothing while set.
    pub hold_indexer: std::sync::atomic::AtomicBool,
    /// The background indexer writes a chunk's entries but never moves its marker past them
    /// (as if stopped between the two) while set.
    pub hold_indexer_marker: std::sync::atomic::AtomicBool,
}

struct AppendState {
    next_offset: u64,
}

/// Environment variable of the store's fsync failpoint, read once by [`Store::open`]:
/// `after:N` makes the group commit after the first N successful ones (counted from the
/// open, whose own flush is not counted) fail at its sync step with an injected `EIO`, once —
/// as the kernel reports a writeback error once. Unset or empty: inert. Any other value: the
/// open fails. For fault tests of the real binary (`tests/faults.rs`); never set it in
/// production.
pub const FAILPOINT_FSYNC_ENV: &str = "MEDSETTLE_FAILPOINT_FSYNC";

/// See [`FAILPOINT_FSYNC_ENV`].
struct FsyncFailpoint {
    /// Set once the open's own flush is done; group commits count from there.
    armed: std::sync::atomic::AtomicBool,
    successes_left: AtomicU64,
    fired: std::sync::atomic::AtomicBool,
}

impl FsyncFailpoint {
    fn from_env() -> Result<Option<FsyncFailpoint>, StoreError> {
        let value = match std::env::var(FAILPOINT_FSYNC_ENV) {
            Ok(v) if !v.trim().is_empty() => v,
            Ok(_) | Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(StoreError::Config(format!(
                    "{FAILPOINT_FSYNC_ENV} is not UTF-8"
                )));
            }
        };
        let n = parse_fsync_failpoint(&value)?;
        Ok(Some(FsyncFailpoint {
            armed: std::sync::atomic::AtomicBool::new(false),
            successes_left: AtomicU64::new(n),
            fired: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Whether this sync step fails (only the flusher thread asks).
    fn fires(&self) -> bool {
        if !self.armed.load(Ordering::SeqCst) || self.fired.load(Ordering::SeqCst) {
            return false;
        }
        let left = self.successes_left.load(Ordering::SeqCst);
        if left > 0 {
            self.successes_left.store(left - 1, Ordering::SeqCst);
            return false;
        }
        self.fired.store(true, Ordering::SeqCst);
        true
    }
}

/// The N of [`FAILPOINT_FSYNC_ENV`]`=after:N`.
pub(crate) fn parse_fsync_failpoint(value: &str) -> Result<u64, StoreError> {
    value
        .trim()
        .strip_prefix("after:")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            StoreError::Config(format!(
                "{FAILPOINT_FSYNC_ENV}={value:?}: expected `after:N` (N successful group commits, \
                 then one failing fsync)"
            ))
        })
}

/// How often the free-space guard looks at the file system while space is plentiful, ms.
/// Closer to the floor than twice `disk_free_bytes_min` it looks before every append.
pub const SPACE_CHECK_INTERVAL_MS: u64 = 200;

/// The free-space guard's view: what `statvfs` said, when, and what was appended since.
#[derive(Default)]
struct SpaceCheck {
    at: Option<std::time::Instant>,
    available_bytes: u64,
    appended_since_bytes: u64,
}

/// An idempotency key held in [`Inner::in_flight`] by one append; released (and the
/// appends waiting for it woken) when dropped, on every path out of the append.
struct Claim<'a> {
    inner: &'a Inner,
    key: Vec<u8>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.key);
        self.inner.in_flight_done.notify_all();
    }
}

/// Number of [`Inner::key_stripes`]: enough that two unrelated records rarely share one.
const KEY_STRIPES: usize = 1024;

struct Progress {
    /// Incremented after every completed write (append or offset commit).
    write_gen: u64,
    /// Highest offset such that it and every offset below it have their record and state
    /// writes in sled (appends complete out of order; consumers and the replay marker only
    /// ever see this prefix).
    last_offset: Option<u64>,
    /// Offsets assigned whose appends have not completed.
    incomplete: BTreeSet<u64>,
    /// Highest offset whose append completed.
    highest_done: Option<u64>,
    shutdown: bool,
    /// The `write_gen` at which the sleeping flusher wants to be woken (`None`: it is not
    /// sleeping). Writers notify only when they reach it, so a write does not cost a futex
    /// wake-up (and the flusher a context switch) when the flusher is busy flushing or is
    /// lingering for a larger batch.
    wake_at: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct DurableView {
    /// Highest generation covered by a successful flush.
    flushed_gen: u64,
    /// Highest offset covered by a successful flush.
    pub(crate) durable_offset: Option<u64>,
    /// Set by the first failed group commit and never cleared in this process (fsyncgate: a
    /// failed fsync may have dropped the dirty pages it was to write, and a later fsync that
    /// succeeds says nothing about them). Every ticket not already durable fails with it.
    failure: Option<Arc<str>>,
    /// Flusher has exited; waiters not yet satisfied will never be.
    closed: bool,
    /// An append failed part-way: the durable prefix will not grow past it.
    broken: bool,
}

/// One pending async wait for durability (see `Inner::durable_waiters`).
struct DurableWaiter {
    id: u64,
    ticket: Ticket,
    waker: Waker,
}

/// The future of [`Store::wait_durable`]: ready once the durable view decides its ticket,
/// woken only by the change that decides it.
struct DurableWait<'a> {
    inner: &'a Inner,
    ticket: Ticket,
    /// Its entry in `durable_waiters` while it waits.
    registered: Option<u64>,
}

impl Future for DurableWait<'_> {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner;
        let view = lock(&inner.durable);
        if let Some(result) = view.decide(self.ticket) {
            // Only `publish` changes the view, and it removes every waiter it decides.
            self.registered = None;
            return Poll::Ready(result);
        }
        // Registered while `durable` is held (see `publish`).
        let mut waiters = lock(&inner.durable_waiters);
        match self
            .registered
            .and_then(|id| waiters.iter_mut().find(|w| w.id == id))
        {
            Some(w) => w.waker.clone_from(cx.waker()),
            None => {
                let id = inner.next_waiter_id.fetch_add(1, Ordering::Relaxed);
                waiters.push(DurableWaiter {
                    id,
                    ticket: self.ticket,
                    waker: cx.waker().clone(),
                });
                self.registered = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for DurableWait<'_> {
    fn drop(&mut self) {
        // A wait given up (the request cancelled) leaves no entry behind.
        if let Some(id) = self.registered {
            lock(&self.inner.durable_waiters).retain(|w| w.id != id);
        }
    }
}

impl DurableView {
    /// `Some` once the ticket's fate is known.
    pub(crate) fn decide(&self, ticket: Ticket) -> Option<Result<(), StoreError>> {
        let in_prefix = ticket
            .offset
            .is_none_or(|o| self.durable_offset.is_some_and(|d| d >= o));
        if self.flushed_gen >= ticket.generation && in_prefix {
            Some(Ok(()))
        } else if self.broken && !in_prefix {
            Some(Err(StoreError::NotWritable(
                "an earlier append failed part-way; reopen the store".into(),
            )))
        } else if let Some(msg) = self.failure.as_deref() {
            // Final: nothing is made durable after a failed flush (see `failure`).
            Some(Err(StoreError::FlushFailed(msg.to_string())))
        } else if self.closed {
            Some(Err(StoreError::Closed))
        } else {
            None
        }
    }
    fn writable(&self) -> bool {
        self.failure.is_none()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain counters behind,
    // which remain meaningful; recover rather than cascade the panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn be_offset(offset: u64) -> [u8; 8] {
    offset.to_be_bytes()
}

fn parse_u64(what: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::CorruptIndex {
        what,
        reason: format!("expected 8 bytes, found {}", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// Sleep for the milliseconds a test hook asks for, once (a slow writer, to expose races).
#[cfg(test)]
fn test_pause(ms: &AtomicU64) {
    std::thread::sleep(Duration::from_millis(ms.swap(0, Ordering::SeqCst)));
}

/// The key stripe of a state write (FNV-1a over the keyspace and the key).
fn stripe_of(space: &str, key: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in space.as_bytes().iter().chain([0u8].iter()).chain(key) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % KEY_STRIPES as u64) as usize
}

/// Idempotency index key: `len(code):u16be code msgid`. The length prefix
/// keeps `("ab","c")` and `("a","bc")` apart.
fn idem_key(code: &str, msgid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + code.len() + msgid.len());
    // Callers validated code.len() <= id_bytes_max <= u16::MAX.
    let len = u16::try_from(code.len()).unwrap_or(u16::MAX);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(code.as_bytes());
    k.extend_from_slice(msgid.as_bytes());
    k
}

/// Index value: `offset:u64be body_sha256[32]`. The answer stays in the
/// journal record so it is stored once.
fn idem_value(offset: u64, sha: &[u8; 32]) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&offset.to_be_bytes());
    v[8..].copy_from_slice(sha);
    v
}

fn parse_idem_value(v: &[u8]) -> Result<(u64, [u8; 32]), StoreError> {
    if v.len() != 40 {
        return Err(StoreError::CorruptIndex {
            what: "idempotency index",
            reason: format!("expected 40 bytes, found {}", v.len()),
        });
    }
    let offset = parse_u64("idempotency index", &v[..8])?;
    let mut sha = [0u8; 32];
    sha.copy_from_slice(&v[8..]);
    Ok((offset, sha))
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(path, e))
}

impl Inner {
    fn validate_name(&self, what: &str, name: &str) -> Result<(), StoreError> {
        let ok_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if name.is_empty() || name.len() > self.config.space_name_bytes_max || !ok_chars {
            return Err(StoreError::InvalidRecord(format!(
                "{what} name {name:?} must be 1..={} bytes of [A-Za-z0-9._-]",
                self.config.space_name_bytes_max
            )));
        }
        Ok(())
    }

    fn validate_record(&self, record: &JournalRecord) -> Result<(), StoreError> {
        if let Some((code, msgid)) = &record.key {
            for (what, id) in [("fixmedins_code", code), ("msgid", msgid)] {
                if id.is_empty() || id.len() > self.config.id_bytes_max {
                    return Err(StoreError::InvalidRecord(format!(
                        "{what} must be 1..={} bytes, got {}",
                        self.config.id_bytes_max,
                        id.len()
                    )));
                }
            }
        }
        for write in &record.state_writes {
            self.validate_name("state keyspace", write.space())?;
        }
        Ok(())
    }

    fn encode_checked(&self, record: &JournalRecord) -> Result<Vec<u8>, StoreError> {
        self.validate_record(record)?;
        // The limit bounds the record as decoded (what a reader holds in memory), whatever
        // it compresses to on disk.
        let body = record.encode_body()?;
        if body.len() > self.config.record_bytes_max {
            return Err(StoreError::InvalidRecord(format!(
                "record of {} bytes exceeds record_bytes_max {}",
                body.len(),
                self.config.record_bytes_max
            )));
        }
        Ok(crate::record::frame_of(body))
    }

    /// The record index terms of `record`, when the index is on. Derived before the append
    /// lock is taken: reading the payload's JSON is the index's main cost on the write path.
    fn index_terms(&self, record: &JournalRecord) -> Option<RecordTerms> {
        self.index_inline().then(|| RecordTerms::of(record))
    }

    /// Appends (and replay) write the record index's entries themselves.
    fn index_inline(&self) -> bool {
        self.config.record_index && self.config.record_index_inline
    }

    /// A background indexer writes them behind the appends.
    fn index_behind(&self) -> bool {
        self.config.record_index && !self.config.record_index_inline
    }

    /// The background indexer (`record_index.rs`, "Written behind the acknowledgement"):
    /// indexes the durable records after the marker, a chunk at a time, pausing after each
    /// chunk while appends arrive so that it takes at most
    /// [`StoreConfig::record_index_busy_share_percent`] of its time; stops at shutdown. An error
    /// (a store being closed, a failing disk) is logged and tried again after a pause.
    fn indexer_loop(self: Arc<Inner>) {
        let idle = Duration::from_millis(record_index::INDEXER_IDLE_POLL_MS);
        loop {
            let (shutdown, gen_before) = {
                let p = lock(&self.progress);
                (p.shutdown, p.write_gen)
            };
            if shutdown {
                return;
            }
            let started = std::time::Instant::now();
            let step = (|| -> Result<bool, StoreError> {
                #[cfg(test)]
                if self.hooks.hold_indexer.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                let below = record_index::indexed_below(&self.meta)?;
                let Some(through) = self.readable_through().filter(|t| *t >= below) else {
                    return Ok(false);
                };
                let to = through.min(below + record_index::INDEXER_CHUNK_RECORDS - 1);
                record_index::index_records(&self.journal, &self.index, below, to)?;
                #[cfg(test)]
                if self.hooks.hold_indexer_marker.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                // after the entries, in sled's one log: a marker that survives a crash never
                // names a record whose entries did not
                self.meta
                    .insert(record_index::META_INDEXED_BELOW, &be_offset(to + 1))?;
                Ok(true)
            })();
            let pause = match step {
                Ok(false) => idle,
                Ok(true) if lock(&self.progress).write_gen != gen_before => {
                    // validated 1..=100
                    let share = self.config.record_index_busy_share_percent.clamp(1, 100);
                    started.elapsed() * (100 - share) / share
                }
                Ok(true) => Duration::ZERO,
                Err(e) => {
                    warn!(error = %e, "record index: the background indexer will try again");
                    idle * 10
                }
            };
            if !pause.is_zero() {
                let p = lock(&self.progress);
                if p.shutdown {
                    return;
                }
                // woken early by shutdown
                let _ = self.indexer_cv.wait_timeout(p, pause);
            }
        }
    }

    /// The last offset readers may see: the durable prefix (in `none` mode, the completed one).
    fn readable_through(&self) -> Option<u64> {
        match self.config.durability {
            Durability::None => lock(&self.progress).last_offset,
            _ => lock(&self.durable).durable_offset,
        }
    }

    fn state_space(&self, space: &str) -> Result<StateSpace, StoreError> {
        if let Some(s) = self
            .state_trees
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(space)
        {
            return Ok(s.clone());
        }
        let s = StateSpace {
            tree: self.db.open_tree(format!("{STATE_TREE_PREFIX}{space}"))?,
            writes: Arc::new(AtomicU64::new(0)),
        };
        Ok(self
            .state_trees
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(space.to_owned())
            .or_insert(s)
            .clone())
    }

    fn state_tree(&self, space: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.state_space(space)?.tree)
    }

    fn apply_writes(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        for write in writes {
            let (space, key) = match write {
                StateWrite::Put { space, key, .. } | StateWrite::Delete { space, key } => {
                    (space, key)
                }
            };
            let s = self.state_space(space)?;
            match write {
                StateWrite::Put { value, .. } => {
                    s.tree.insert(key.as_slice(), value.as_slice())?;
                }
                StateWrite::Delete { .. } => {
                    s.tree.remove(key.as_slice())?;
                }
            }
            // After the write: a reader that saw the old count may have read the new value
            // and cached it under the old count, which only costs it one recomputation.
            s.writes.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }

    fn read_record(&self, offset: u64) -> Result<Option<JournalRecord>, StoreError> {
        match self.journal.get(be_offset(offset))? {
            None => Ok(None),
            Some(frame) => JournalRecord::decode(offset, &frame).map(Some),
        }
    }

    /// The free-space guard: refuses a write of `adding` bytes that would leave less than
    /// `disk_free_bytes_min` available on the journal's file system, so that the disk never
    /// fills under sled — whose first failed write poisons the open database for good — and
    /// writes resume by themselves once space is freed. The estimate (last `statvfs` minus
    /// what was appended since) is refreshed every [`SPACE_CHECK_INTERVAL_MS`], and before
    /// every write once it is within twice the floor. A failing `statvfs` is logged and does
    /// not refuse anything.
    fn check_space(&self, adding: usize) -> Result<(), StoreError> {
        let min = self.config.disk_free_bytes_min;
        if min == 0 {
            return Ok(());
        }
        let adding = adding as u64;
        let mut c = lock(&self.space);
        let estimate = |c: &SpaceCheck| {
            c.available_bytes
                .saturating_sub(c.appended_since_bytes)
                .saturating_sub(adding)
        };
        let stale =
            c.at.is_none_or(|at| at.elapsed() >= Duration::from_millis(SPACE_CHECK_INTERVAL_MS))
                || estimate(&c) < min.saturating_mul(2);
        if stale {
            match fs2::available_space(&self.dir) {
                Ok(bytes) => c.available_bytes = bytes,
                Err(e) => {
                    warn!(dir = %self.dir.display(), error = %e, "cannot read the free space of the journal's file system");
                    c.available_bytes = u64::MAX;
                }
            }
            c.at = Some(std::time::Instant::now());
            c.appended_since_bytes = 0;
        }
        let left = estimate(&c);
        if left < min {
            return Err(StoreError::DiskFull {
                dir: self.dir.clone(),
                available_bytes: c.available_bytes.saturating_sub(c.appended_since_bytes),
                min_bytes: min,
            });
        }
        c.appended_since_bytes = c.appended_since_bytes.saturating_add(adding);
        Ok(())
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if let Some(reason) = lock(&self.poisoned).as_ref() {
            return Err(StoreError::NotWritable(reason.clone()));
        }
        let view = lock(&self.durable);
        if !view.writable() {
            let msg = view.failure.as_deref().unwrap_or("flush failed");
            return Err(StoreError::NotWritable(format!(
                "a flush failed ({msg}); nothing is acknowledged until the store is reopened \
                 (restart the gateway once the disk is checked)"
            )));
        }
        if view.closed {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    fn poison(&self, err: &StoreError) {
        error!(error = %err, "append failed part-way; store refuses writes until reopened (replay completes the record)");
        *lock(&self.poisoned) = Some(format!("append failed part-way: {err}; reopen the store"));
        // Waiters for offsets past this one would wait for the prefix forever.
        self.publish(|v| v.broken = true);
    }

    /// Publishes a completed write and wakes the flusher. Appends complete out of order:
    /// `last_offset` is the end of the completed prefix, and an append's ticket also names
    /// its offset, so it is durable only once a flush has covered the prefix up to it
    /// ("durable" implies "readable by consumers"), without blocking this thread on the
    /// appends before it.
    fn note_write(&self, offset: Option<u64>) -> Ticket {
        let mut p = lock(&self.progress);
        p.write_gen += 1;
        if let Some(done) = offset {
            p.incomplete.remove(&done);
            p.highest_done = p.highest_done.max(Some(done));
            p.last_offset = match p.incomplete.first() {
                // Everything below the oldest incomplete append is complete.
                Some(&oldest) => oldest.checked_sub(1).max(p.last_offset),
                None => p.highest_done,
            };
        }
        let ticket = Ticket {
            generation: p.write_gen,
            offset,
        };
        let wake = p.wake_at.is_some_and(|at| p.write_gen >= at);
        if wake {
            p.wake_at = None;
        }
        drop(p);
        if wake {
            self.work_cv.notify_one();
        }
        ticket
    }

    /// The append path shared by plain and idempotent appends.
    ///
    /// Under the append lock: the offset and the journal insert, nothing else, because every
    /// append in the process queues on it. An idempotent append first claims its key in
    /// `in_flight` (a repeat of a key already claimed waits there), then looks the key up in
    /// the index without the lock: while the claim is held no other append of the key can
    /// journal it, so what the lookup finds stays true until this append decides. After the
    /// journal insert, still claimed: the idempotency entry and the state writes. The record is
    /// the write-ahead log of both (replay after a crash redoes them from it), and it is in
    /// sled before them, so no flush can persist either without it. Records writing the same
    /// state keys are ordered by the key stripes.
    fn append_frame(
        &self,
        record: &JournalRecord,
        frame: &[u8],
        idem: Option<(Vec<u8>, [u8; 32])>,
        terms: Option<RecordTerms>,
    ) -> Result<IdempotentOutcome, StoreError> {
        let mut stripes: Vec<usize> = record
            .state_writes
            .iter()
            .map(|w| match w {
                StateWrite::Put { space, key, .. } | StateWrite::Delete { space, key } => {
                    stripe_of(space, key)
                }
            })
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let _stripes: Vec<MutexGuard<'_, ()>> = stripes
            .iter()
            .map(|&i| lock(&self.key_stripes[i]))
            .collect();

        let claim = match &idem {
            Some((key, sha)) => {
                let claim = self.claim(key)?;
                if let Some(existing) = self.idem.get(key)? {
                    let (offset, stored_sha) = parse_idem_value(&existing)?;
                    // Covers the original's completion even if it is not durable yet.
                    let ticket = Ticket {
                        generation: lock(&self.progress).write_gen,
                        offset: Some(offset),
                    };
                    if stored_sha != *sha {
                        return Ok(IdempotentOutcome::Conflict { offset, ticket });
                    }
                    let answer = self.stored_answer(offset)?;
                    return Ok(IdempotentOutcome::Duplicate {
                        offset,
                        answer,
                        ticket,
                    });
                }
                Some(claim)
            }
            None => None,
        };

        self.check_space(frame.len())?;
        let mut state = lock(&self.append);
        self.check_writable()?;
        let offset = state.next_offset;
        // The offset is used even if what follows fails: never reuse it, and
        // never overwrite a record whose insert may have half-happened.
        state.next_offset = offset + 1;
        lock(&self.progress).incomplete.insert(offset);
        if let Err(e) = self.journal.insert(be_offset(offset), frame) {
            let e = StoreError::from(e);
            self.poison(&e);
            return Err(e);
        }

        #[cfg(test)]
        if self
            .hooks
            .crash_after_journal_insert
            .swap(false, Ordering::SeqCst)
        {
            let err = StoreError::SimulatedCrash;
            self.poison(&err);
            return Err(err);
        }
        drop(state);

        let rest = (|| {
            if let Some((key, sha)) = &idem {
                #[cfg(test)]
                test_pause(&self.hooks.pause_before_index_entry_ms);
                self.idem
                    .insert(key.as_slice(), &idem_value(offset, sha)[..])?;
            }
            if let Some(terms) = &terms {
                record_index::write_entries(&self.index, terms, offset)?;
            }
            #[cfg(test)]
            test_pause(&self.hooks.pause_before_state_writes_ms);
            self.apply_writes(&record.state_writes)
        })();
        // A repeat waiting for the key now finds its index entry.
        drop(claim);
        if let Err(e) = rest {
            self.poison(&e);
            return Err(e);
        }
        let ticket = self.note_write(Some(offset));
        Ok(IdempotentOutcome::Appended { offset, ticket })
    }

    /// Claim an idempotency key for one append, waiting while another append holds it.
    fn claim(&self, key: &[u8]) -> Result<Claim<'_>, StoreError> {
        self.check_writable()?;
        let mut claimed = lock(&self.in_flight);
        while claimed.contains(key) {
            claimed = self
                .in_flight_done
                .wait(claimed)
                .unwrap_or_else(|e| e.into_inner());
        }
        claimed.insert(key.to_vec());
        Ok(Claim {
            inner: self,
            key: key.to_vec(),
        })
    }

    fn stored_answer(&self, offset: u64) -> Result<Vec<u8>, StoreError> {
        let record = self
            .read_record(offset)?
            .ok_or_else(|| StoreError::CorruptIndex {
                what: "idempotency index",
                reason: format!("points at missing journal offset {offset}"),
            })?;
        record
            .idempotency
            .map(|i| i.answer)
            .ok_or_else(|| StoreError::Corrupt {
                offset,
                reason: "indexed record carries no idempotency data".into(),
            })
    }

    /// One group-commit flush: sled flush, then (fsync mode) fdatasync of the
    /// data file and of blob files not synced before.
    fn flush_once(
        &self,
        data_file: &File,
        synced_blobs: &mut HashSet<PathBuf>,
    ) -> Result<(), StoreError> {
        #[cfg(test)]
        {
            self.hooks.flushes_started.fetch_add(1, Ordering::SeqCst);
            let failing = self.hooks.fail_flushes.load(Ordering::SeqCst);
            if failing > 0 {
                self.hooks.fail_flushes.store(failing - 1, Ordering::SeqCst);
                return Err(io_err(
                    &self.dir,
                    std::io::Error::other("injected flush failure (test hook)"),
                ));
            }
        }
        self.db.flush()?;
        let db_path = self.dir.join(SLED_DATA_FILE);
        if let Some(failpoint) = &self.fsync_failpoint
            && failpoint.fires()
        {
            error!("{FAILPOINT_FSYNC_ENV}: injecting an fsync failure (EIO)");
            return Err(io_err(&db_path, std::io::Error::from_raw_os_error(5)));
        }
        if self.config.durability != Durability::Fsync {
            return Ok(());
        }
        data_file.sync_data().map_err(|e| io_err(&db_path, e))?;
        let blob_dir = self.dir.join(SLED_BLOB_DIR);
        let mut present = HashSet::new();
        let mut new_blob = false;
        for entry in std::fs::read_dir(&blob_dir).map_err(|e| io_err(&blob_dir, e))? {
            let path = entry.map_err(|e| io_err(&blob_dir, e))?.path();
            if !synced_blobs.contains(&path) {
                match File::open(&path) {
                    Ok(f) => f.sync_data().map_err(|e| io_err(&path, e))?,
                    // sled's blob GC may remove a blob between listing and opening.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&path, e)),
                }
                new_blob = true;
            }
            present.insert(path);
        }
        if new_blob {
            sync_dir(&blob_dir)?;
        }
        // Forget blobs sled has garbage-collected so the set does not grow forever.
        *synced_blobs = present;
        Ok(())
    }

    fn publish(&self, f: impl FnOnce(&mut DurableView)) {
        let mut view = lock(&self.durable);
        f(&mut view);
        // Under `durable`, which a waiter holds from its check to its registration: no waiter
        // can miss this change.
        let decided: Vec<Waker> = lock(&self.durable_waiters)
            .extract_if(.., |w| view.decide(w.ticket).is_some())
            .map(|w| w.waker)
            .collect();
        drop(view);
        self.durable_cv.notify_all();
        for waker in decided {
            waker.wake();
        }
    }

    /// The flusher thread: the only caller of `db.flush()` after open.
    fn flusher_loop(self: Arc<Self>, data_file: File, mut synced_blobs: HashSet<PathBuf>) {
        let mut marker_written: Option<u64> = lock(&self.durable).durable_offset;
        let linger = Duration::from_micros(self.config.flush_linger_us);
        // Writes covered by the previous flush: more than one means writers are concurrent
        // and lingering can gather a larger batch; a lone writer never waits for company.
        let mut last_batch: u64 = 0;
        loop {
            let (target_gen, target_offset, shutting_down) = {
                let mut p = lock(&self.progress);
                let flushed = loop {
                    let flushed = lock(&self.durable).flushed_gen;
                    if p.write_gen > flushed || p.shutdown {
                        break flushed;
                    }
                    p.wake_at = Some(flushed + 1);
                    p = self.work_cv.wait(p).unwrap_or_else(|e| e.into_inner());
                    p.wake_at = None;
                };
                if !linger.is_zero() && last_batch > 1 {
                    // As many writes as the previous flush covered is the best estimate of
                    // how many writers are active: once they are all in, waiting longer only
                    // adds latency.
                    let target = last_batch.min(self.config.flush_batch_target);
                    let deadline = std::time::Instant::now() + linger;
                    #[cfg(test)]
                    self.hooks.lingers.fetch_add(1, Ordering::SeqCst);
                    while !p.shutdown && p.write_gen - flushed < target {
                        let now = std::time::Instant::now();
                        if now >= deadline {
                            break;
                        }
                        p.wake_at = Some(flushed + target);
                        p = self
                            .work_cv
                            .wait_timeout(p, deadline - now)
                            .map(|(p, _)| p)
                            .unwrap_or_else(|e| e.into_inner().0);
                        p.wake_at = None;
                    }
                }
                (p.write_gen, p.last_offset, p.shutdown)
            };
            // Lazy replay marker, one flush behind: the offset covered by the
            // previous successful flush has its state writes on disk.
            let durable_before = lock(&self.durable).durable_offset;
            if durable_before != marker_written
                && let Some(off) = durable_before
            {
                match self.meta.insert(META_APPLIED_THROUGH, &be_offset(off)) {
                    Ok(_) => marker_written = durable_before,
                    Err(e) => warn!(error = %e, "could not advance applied_through marker"),
                }
            }
            let already = lock(&self.durable).flushed_gen;
            if target_gen > already {
                let started = std::time::Instant::now();
                match self.flush_once(&data_file, &mut synced_blobs) {
                    Ok(()) => {
                        self.flush_count.fetch_add(1, Ordering::Relaxed);
                        let observer = lock(&self.flush_observer).clone();
                        if let Some(observe) = observer {
                            observe(target_gen - already, started.elapsed());
                        }
                        last_batch = target_gen - already;
                        self.publish(|v| {
                            v.flushed_gen = target_gen;
                            if target_offset.is_some() {
                                v.durable_offset = target_offset;
                            }
                            if v.failure.is_some() {
                                info!("flush succeeded again; store writable");
                                v.failure = None;
                            }
                        });
                    }
                    Err(e) => {
                        error!(
                            error = %e,
                            "group-commit flush failed: nothing written since the last good flush \
                             is acknowledged, and the store refuses writes until it is reopened \
                             (restart the gateway once the disk is checked)"
                        );
                        let msg: Arc<str> = Arc::from(e.to_string());
                        self.publish(|v| v.failure = Some(msg));
                        // No retry: a retried fsync that succeeds does not bring back pages the
                        // failed one dropped (fsyncgate), so it proves nothing. Wait for the end.
                        let mut p = lock(&self.progress);
                        while !p.shutdown {
                            p = self.work_cv.wait(p).unwrap_or_else(|e| e.into_inner());
                        }
                        drop(p);
                        self.publish(|v| v.closed = true);
                        return;
                    }
                }
            }
            if shutting_down {
                self.publish(|v| v.closed = true);
                return;
            }
        }
    }
}

impl SledStore {
    fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The directory the store was opened on.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    #[cfg(test)]
    pub(crate) fn hooks(&self) -> &TestHooks {
        &self.inner.hooks
    }

    /// Generation of the last group commit.
    #[cfg(test)]
    pub(crate) fn flushed_gen_for_test(&self) -> u64 {
        lock(&self.inner.durable).flushed_gen
    }

    /// Records a group commit of generation `flushed_gen` in the durable view as the flusher
    /// does (waking the waits it decides).
    #[cfg(test)]
    pub(crate) fn publish_flushed_gen_for_test(&self, flushed_gen: u64) {
        self.inner.publish(|v| v.flushed_gen = flushed_gen)
    }

    /// Async waits registered for a wake.
    #[cfg(test)]
    pub(crate) fn durable_waiters_for_test(&self) -> usize {
        lock(&self.inner.durable_waiters).len()
    }

    /// Durable records the background record indexer has not reached yet (0 with the index
    /// written inline, or off): how far the index is behind the journal.
    pub fn record_index_lag(&self) -> Result<u64, StoreError> {
        let inner = self.inner();
        if !inner.index_behind() {
            return Ok(0);
        }
        let below = record_index::indexed_below(&inner.meta)?;
        Ok(inner
            .readable_through()
            .map_or(0, |t| (t + 1).saturating_sub(below)))
    }

    /// Where the record index's marker is ([`record_index::INDEXED_LIVE`]: every record).
    #[cfg(test)]
    pub(crate) fn indexed_below_for_test(&self) -> u64 {
        record_index::indexed_below(&self.inner.meta).unwrap()
    }

    /// Waits until the background indexer has indexed every record appended so far.
    #[cfg(test)]
    pub(crate) fn wait_indexed_for_test(&self) {
        let end = lock(&self.inner.append).next_offset;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.indexed_below_for_test() < end {
            assert!(
                std::time::Instant::now() < deadline,
                "the background indexer is stuck at {}",
                self.indexed_below_for_test()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every record index key, in order.
    #[cfg(test)]
    pub(crate) fn index_keys_for_test(&self) -> Vec<Vec<u8>> {
        self.inner
            .index
            .iter()
            .keys()
            .map(|k| k.unwrap().to_vec())
            .collect()
    }

    /// Makes the (closed) store at `dir` look as if it predated the record index: no entries,
    /// no marker.
    #[cfg(test)]
    pub(crate) fn forget_record_index_for_test(dir: &Path) {
        let db = open_sled(dir, crate::CACHE_CAPACITY_BYTES_DEFAULT).unwrap();
        assert!(db.drop_tree(record_index::TREE_INDEX).unwrap());
        db.open_tree(TREE_META)
            .unwrap()
            .remove(record_index::META_INDEXED_BELOW)
            .unwrap()
            .expect("the store had an index marker");
        db.flush().unwrap();
    }

    /// Test access: overwrite a stored journal frame with arbitrary bytes.
    #[cfg(test)]
    pub(crate) fn overwrite_frame_for_test(&self, offset: u64, frame: &[u8]) {
        self.inner.journal.insert(be_offset(offset), frame).unwrap();
    }

    /// Test access: the raw stored journal frame.
    #[cfg(test)]
    pub(crate) fn raw_frame_for_test(&self, offset: u64) -> Vec<u8> {
        self.inner
            .journal
            .get(be_offset(offset))
            .unwrap()
            .unwrap()
            .to_vec()
    }

    /// Re-applies records after the marker; returns how many were replayed.
    fn replay(inner: &Inner) -> Result<u64, StoreError> {
        let start = match inner.meta.get(META_APPLIED_THROUGH)? {
            Some(v) => parse_u64("applied_through marker", &v)?.saturating_add(1),
            None => 0,
        };
        let mut replayed = 0u64;
        for item in inner.journal.range(be_offset(start)..) {
            let (k, frame) = item?;
            let offset = parse_u64("journal key", &k)?;
            let record = JournalRecord::decode(offset, &frame)?;
            if let (Some((code, msgid)), Some(idem)) = (&record.key, &record.idempotency) {
                let key = idem_key(code, msgid);
                // Insert only if absent: the first record with a key owns it.
                let _ = inner.idem.compare_and_swap(
                    key,
                    None as Option<&[u8]>,
                    Some(&idem_value(offset, &idem.body_sha256)[..]),
                )?;
            }
            if inner.index_inline() {
                record_index::write_entries(&inner.index, &RecordTerms::of(&record), offset)?;
            }
            inner.apply_writes(&record.state_writes)?;
            replayed += 1;
        }
        Ok(replayed)
    }

    /// Brings the record index up to the journal at open (see `record_index.rs`, "Built
    /// once"): with the index on, writes the entries of the records not indexed yet and marks
    /// it live; with it off, records where the indexed prefix ends, so that turning it on
    /// again builds only what was appended meanwhile. Runs before the open's flush, so the
    /// marker is durable before anything is appended on top.
    fn prepare_index(inner: &Inner, marker_at_open: Option<u64>) -> Result<(), StoreError> {
        let below = record_index::indexed_below(&inner.meta)?;
        if inner.index_behind() {
            if below == record_index::INDEXED_LIVE {
                // Appends wrote their entries up to the replay marker; the background indexer
                // goes on from there.
                let next = marker_at_open.map_or(0, |m| m + 1);
                inner
                    .meta
                    .insert(record_index::META_INDEXED_BELOW, &be_offset(next))?;
            }
        } else if inner.config.record_index {
            if below != record_index::INDEXED_LIVE {
                record_index::backfill(
                    &inner.db,
                    &inner.journal,
                    &inner.index,
                    &inner.meta,
                    below,
                )?;
            }
        } else if below == record_index::INDEXED_LIVE {
            // Entries of records up to the replay marker are known to be in (they were
            // written before those appends completed); later ones may not be.
            let next = marker_at_open.map_or(0, |m| m + 1);
            warn!(
                indexed_below = next,
                "record index off: appends are not indexed; the next open with it on indexes them"
            );
            inner
                .meta
                .insert(record_index::META_INDEXED_BELOW, &be_offset(next))?;
        }
        Ok(())
    }

    /// Report every successful group commit to `observer` (batch size, flush latency).
    pub fn set_flush_observer(&self, observer: FlushObserver) {
        *lock(&self.inner.flush_observer) = Some(observer);
    }

    /// Blocks until every write made so far is durable (e.g. before shutdown).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.wait_durable_blocking(self.current_ticket())
    }
}

/// How long `open` waits for sled's file lock to be released, ms.
///
/// sled releases its lock only when its background threads have let go of the database, a
/// moment *after* the last handle is dropped; a reopen in that moment (a restart right after a
/// clean stop, a test reopening its store) would fail. A lock still held after this long
/// belongs to another live process, and `open` says so.
pub const LOCK_WAIT_MS_MAX: u64 = 3_000;
const LOCK_RETRY_STEP_MS: u64 = 20;

fn open_sled(dir: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + Duration::from_millis(LOCK_WAIT_MS_MAX);
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            // Our flusher is the only one: sled's periodic flusher would be a
            // second concurrent flush caller (see rust-stack.md).
            .flush_every_ms(None)
            .open();
        match opened {
            // sled 0.34.7 reports a held lock as Io(Other, "could not acquire lock …").
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(LOCK_RETRY_STEP_MS));
            }
            other => return Ok(other?),
        }
    }
}

/// Remove snapshots a kill left half-written.
///
/// sled 0.34.7 writes a snapshot to `snap.<lsn>.generating` and renames it to `snap.<lsn>`
/// only once it is complete and synced. A process killed in between leaves the partial file,
/// which sled's next open takes for the newest snapshot and rejects as corrupt — for good
/// (sled issues #1527, #1533). A `.generating` file is by construction incomplete, and the
/// log it summarizes is still on disk, so removing it loses nothing.
fn remove_partial_snapshots(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let path = entry.map_err(|e| io_err(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            warn!(file = %path.display(), "removing a snapshot left half-written by a crash");
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
    }
    Ok(())
}

impl Store for SledStore {
    fn open(dir: &Path, config: StoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        remove_partial_snapshots(dir)?;
        let db = open_sled(dir, config.cache_capacity_bytes)?;
        let journal = db.open_tree(TREE_JOURNAL)?;
        let idem = db.open_tree(TREE_IDEM)?;
        let meta = db.open_tree(TREE_META)?;
        let index = db.open_tree(record_index::TREE_INDEX)?;
        let db_path = dir.join(SLED_DATA_FILE);
        let data_file = File::open(&db_path).map_err(|e| io_err(&db_path, e))?;
        let inner = Inner {
            db,
            journal,
            idem,
            meta,
            index,
            state_trees: RwLock::new(HashMap::new()),
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            config,
            dir: dir.to_path_buf(),
            append: Mutex::new(AppendState { next_offset: 0 }),
            in_flight: Mutex::new(HashSet::new()),
            in_flight_done: Condvar::new(),
            key_stripes: (0..KEY_STRIPES).map(|_| Mutex::new(())).collect(),
            progress: Mutex::new(Progress {
                write_gen: 0,
                last_offset: None,
                incomplete: BTreeSet::new(),
                highest_done: None,
                shutdown: false,
                wake_at: None,
            }),
            work_cv: Condvar::new(),
            indexer_cv: Condvar::new(),
            durable: Mutex::new(DurableView::default()),
            durable_cv: Condvar::new(),
            durable_waiters: Mutex::new(Vec::new()),
            next_waiter_id: AtomicU64::new(0),
            poisoned: Mutex::new(None),
            flush_count: AtomicU64::new(0),
            flush_observer: Mutex::new(None),
            fsync_failpoint: FsyncFailpoint::from_env()?,
            space: Mutex::new(SpaceCheck::default()),
            #[cfg(test)]
            hooks: TestHooks::default(),
        };

        let marker_at_open = match inner.meta.get(META_APPLIED_THROUGH)? {
            Some(v) => Some(parse_u64("applied_through marker", &v)?),
            None => None,
        };
        let replayed = Self::replay(&inner)?;
        Self::prepare_index(&inner, marker_at_open)?;
        let last_offset = match inner.journal.last()? {
            Some((k, _)) => Some(parse_u64("journal key", &k)?),
            None => None,
        };
        // Make the replayed state (and sled's freshly created files and
        // directory entries) durable before anything is acknowledged on top.
        let mut synced_blobs = HashSet::new();
        inner.flush_once(&data_file, &mut synced_blobs)?;
        if inner.config.durability == Durability::Fsync {
            // sled writes `conf` (its parameters, then their checksum) and never syncs it: a
            // power cut could leave the parameters without the checksum, and sled would then
            // refuse to open a journal whose records are all intact (RELIABILITY.md, "Power
            // loss", finding 1). Synced here, before anything is acknowledged.
            let conf = dir.join(SLED_CONF_FILE);
            if conf.exists() {
                File::open(&conf)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io_err(&conf, e))?;
            }
            sync_dir(dir)?;
            let blob_dir = dir.join(SLED_BLOB_DIR);
            if blob_dir.exists() {
                sync_dir(&blob_dir)?;
            }
        }
        lock(&inner.append).next_offset = last_offset.map_or(0, |o| o + 1);
        {
            let mut p = lock(&inner.progress);
            p.last_offset = last_offset;
            p.highest_done = last_offset;
        }
        lock(&inner.durable).durable_offset = last_offset;
        if let Some(failpoint) = &inner.fsync_failpoint {
            warn!(
                "{FAILPOINT_FSYNC_ENV} is set: after {} group commits one fsync will fail (fault test)",
                failpoint.successes_left.load(Ordering::SeqCst)
            );
            failpoint.armed.store(true, Ordering::SeqCst);
        }

        info!(
            dir = %dir.display(),
            durability = inner.config.durability.as_str(),
            replayed_records = replayed,
            last_offset = ?last_offset,
            "store opened"
        );
        if inner.config.durability == Durability::None {
            warn!(
                "durability = none: acknowledgements do not wait for disk; a crash loses acknowledged records (benchmarks only)"
            );
        }

        let inner = Arc::new(inner);
        let flusher_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flusher_inner.flusher_loop(data_file, synced_blobs))
            .map_err(|e| io_err(dir, e))?;
        let indexer = if inner.index_behind() {
            let indexer_inner = Arc::clone(&inner);
            Some(
                std::thread::Builder::new()
                    .name("store-indexer".into())
                    .spawn(move || indexer_inner.indexer_loop())
                    .map_err(|e| io_err(dir, e))?,
            )
        } else {
            None
        };
        Ok(SledStore {
            inner,
            flusher: Mutex::new(Some(handle)),
            indexer: Mutex::new(indexer),
        })
    }

    fn append(&self, record: JournalRecord) -> Result<Appended, StoreError> {
        if record.idempotency.is_some() {
            return Err(StoreError::InvalidRecord(
                "records with idempotency data must go through append_idempotent".into(),
            ));
        }
        let frame = self.inner().encode_checked(&record)?;
        let terms = self.inner().index_terms(&record);
        match self.inner().append_frame(&record, &frame, None, terms)? {
            IdempotentOutcome::Appended { offset, ticket } => Ok(Appended { offset, ticket }),
            other => unreachable!("plain append cannot be deduplicated: {other:?}"),
        }
    }

    fn append_idempotent(
        &self,
        mut record: JournalRecord,
        body_sha256: [u8; 32],
        answer: Vec<u8>,
    ) -> Result<IdempotentOutcome, StoreError> {
        let Some((code, msgid)) = record.key.clone() else {
            return Err(StoreError::InvalidRecord(
                "append_idempotent needs a (fixmedins_code, msgid) key".into(),
            ));
        };
        record.idempotency = Some(Idempotency {
            body_sha256,
            answer,
        });
        // Encoding happens outside the append lock to keep the critical section short.
        let frame = self.inner().encode_checked(&record)?;
        let terms = self.inner().index_terms(&record);
        let key = idem_key(&code, &msgid);
        self.inner()
            .append_frame(&record, &frame, Some((key, body_sha256)), terms)
    }

    fn lookup_idempotent(
        &self,
        fixmedins_code: &str,
        msgid: &str,
    ) -> Result<Option<IdempotentEntry>, StoreError> {
        let Some(v) = self.inner().idem.get(idem_key(fixmedins_code, msgid))? else {
            return Ok(None);
        };
        let (offset, body_sha256) = parse_idem_value(&v)?;
        let answer = self.inner().stored_answer(offset)?;
        Ok(Some(IdempotentEntry {
            offset,
            body_sha256,
            answer,
        }))
    }

    fn read_from(&self, offset: u64, max: usize) -> Result<Vec<(u64, JournalRecord)>, StoreError> {
        let Some(limit) = self.inner().readable_through() else {
            return Ok(Vec::new());
        };
        if offset > limit {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for item in self
            .inner()
            .journal
            .range(be_offset(offset)..=be_offset(limit))
            .take(max)
        {
            let (k, frame) = item?;
            let off = parse_u64("journal key", &k)?;
            out.push((off, JournalRecord::decode(off, &frame)?));
        }
        Ok(out)
    }

    fn commit_offset(&self, consumer: &str, next_offset: u64) -> Result<Ticket, StoreError> {
        let inner = self.inner();
        inner.validate_name("consumer", consumer)?;
        inner.check_writable()?;
        inner.check_space(64)?;
        inner.meta.insert(
            format!("{META_CONSUMER_PREFIX}{consumer}"),
            &be_offset(next_offset),
        )?;
        Ok(inner.note_write(None))
    }

    fn committed_offset(&self, consumer: &str) -> Result<u64, StoreError> {
        self.inner().validate_name("consumer", consumer)?;
        match self
            .inner()
            .meta
            .get(format!("{META_CONSUMER_PREFIX}{consumer}"))?
        {
            Some(v) => parse_u64("consumer offset", &v),
            None => Ok(0),
        }
    }

    fn get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner().validate_name("state keyspace", space)?;
        Ok(self
            .inner()
            .state_tree(space)?
            .get(key)?
            .map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, space: &str, prefix: &[u8]) -> Result<StateIter<'_>, StoreError> {
        self.inner().validate_name("state keyspace", space)?;
        let tree = self.inner().state_tree(space)?;
        Ok(Box::new(tree.scan_prefix(prefix).map(|item| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::from)
        })))
    }

    fn current_ticket(&self) -> Ticket {
        // Everything assigned an offset so far, complete or still finishing: an idempotency
        // entry read outside the append lock may belong to an append whose completion has
        // not been counted yet.
        let assigned = lock(&self.inner().append).next_offset.checked_sub(1);
        Ticket {
            generation: lock(&self.inner().progress).write_gen,
            offset: assigned,
        }
    }

    fn wait_durable(&self, ticket: Ticket) -> DurableFuture<'_> {
        if self.inner().config.durability == Durability::None {
            return Box::pin(std::future::ready(Ok(())));
        }
        Box::pin(DurableWait {
            inner: self.inner(),
            ticket,
            registered: None,
        })
    }

    fn wait_durable_blocking(&self, ticket: Ticket) -> Result<(), StoreError> {
        if self.inner().config.durability == Durability::None {
            return Ok(());
        }
        let mut view = lock(&self.inner().durable);
        loop {
            if let Some(result) = view.decide(ticket) {
                return result;
            }
            view = self
                .inner()
                .durable_cv
                .wait(view)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn is_writable(&self) -> bool {
        lock(&self.inner().poisoned).is_none()
            && {
                let v = lock(&self.inner().durable);
                v.writable() && !v.closed
            }
            && self.inner().check_space(0).is_ok()
    }

    fn durable_offset(&self) -> Option<u64> {
        lock(&self.inner().durable).durable_offset
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let inner = self.inner();
        let mut record_count = 0u64;
        let mut last_offset = None;
        let mut per_kind = BTreeMap::new();
        let mut corrupt_offsets = Vec::new();
        for item in inner.journal.iter() {
            let (k, frame) = item?;
            let offset = parse_u64("journal key", &k)?;
            record_count += 1;
            last_offset = Some(offset);
            match JournalRecord::decode(offset, &frame) {
                Ok(r) => *per_kind.entry(r.kind).or_insert(0u64) += 1,
                Err(_) => corrupt_offsets.push(offset),
            }
        }
        let mut consumer_offsets = BTreeMap::new();
        for item in inner.meta.scan_prefix(META_CONSUMER_PREFIX) {
            let (k, v) = item?;
            let name = String::from_utf8_lossy(&k[META_CONSUMER_PREFIX.len()..]).into_owned();
            consumer_offsets.insert(name, parse_u64("consumer offset", &v)?);
        }
        Ok(StoreStats {
            record_count,
            last_offset,
            durable_offset: self.durable_offset(),
            per_kind,
            corrupt_offsets,
            disk_bytes: inner.db.size_on_disk()?,
            consumer_offsets,
            flush_count: inner.flush_count.load(Ordering::Relaxed),
            writable: self.is_writable(),
            durability: inner.config.durability,
        })
    }

    fn space_generation(&self, space: &str) -> Result<(u64, u64), StoreError> {
        let inner = self.inner();
        inner.validate_name("state keyspace", space)?;
        let writes = inner.state_space(space)?.writes.load(Ordering::Acquire);
        Ok((inner.instance, writes))
    }

    fn summary(&self) -> Result<JournalSummary, StoreError> {
        let inner = self.inner();
        // The last key alone: sled finds it by descending the tree, O(log n).
        let last_offset = match inner.journal.last()? {
            Some((k, _)) => Some(parse_u64("journal key", &k)?),
            None => None,
        };
        Ok(JournalSummary {
            record_count: last_offset.map_or(0, |o| o + 1),
            last_offset,
            durable_offset: self.durable_offset(),
            disk_bytes: inner.db.size_on_disk()?,
            writable: self.is_writable(),
        })
    }

    fn find_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError> {
        let inner = self.inner();
        if !inner.config.record_index {
            return Err(StoreError::Config(
                "the record index is off (StoreConfig::record_index = false): records can be \
                 found only by reading the journal"
                    .into(),
            ));
        }
        record_index::find(
            &inner.index,
            &inner.journal,
            inner.readable_through(),
            record_index::indexed_below(&inner.meta)?,
            query,
        )
    }

    fn export(&self, from_offset: u64) -> RecordIter<'_> {
        Box::new(
            self.inner()
                .journal
                .range(be_offset(from_offset)..)
                .map(|item| {
                    let (k, frame) = item?;
                    let offset = parse_u64("journal key", &k)?;
                    JournalRecord::decode(offset, &frame).map(|r| (offset, r))
                }),
        )
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        lock(&self.inner.progress).shutdown = true;
        self.inner.work_cv.notify_all();
        self.inner.indexer_cv.notify_all();
        if let Some(handle) = lock(&self.indexer).take()
            && handle.join().is_err()
        {
            error!("store indexer thread panicked");
        }
        if let Some(handle) = lock(&self.flusher).take()
            && handle.join().is_err()
        {
            error!("store flusher thread panicked");
        }
    }
}
