//! # medsettle-store — the durable journal
//!
//! The only crate that touches sled. It keeps:
//!
//! * the **journal**: append-only [`JournalRecord`]s under gap-free,
//!   big-endian `u64` offsets, each framed with a CRC-32 that is verified on
//!   every read (a corrupt record is [`StoreError::Corrupt`] naming its offset,
//!   never skipped); frames of 256 bytes or more are LZ4-compressed when that
//!   makes them smaller (sled rewrites stored bytes several times as it
//!   consolidates, splits and cleans its nodes; see `record.rs`);
//! * the **idempotency index** `(fixmedins_code, msgid) → (offset, body_sha256)`,
//!   whose answer bytes live in the journal record itself — once: when the
//!   payload contains the answer (as the gateway's exchange records do), the
//!   frame keeps only its offset and length in the payload;
//! * **consumer offsets** (the next offset each consumer will read);
//! * named **state keyspaces** (accumulators, visit state, ledger, batch
//!   states…), readable with [`Store::get`] / [`Store::scan_prefix`] and
//!   written **only** through [`StateWrite`]s carried inside journal records;
//! * the **record index** (`record_index.rs`): entries derived from each record
//!   (its key, and its payload's `infno`, `psn_no`, `mdtrt_id`, `setl_id` and
//!   receive time) that [`Store::find_records`] pages through newest first, so
//!   the console's message browser never scans the journal.
//!
//! ## Why atomicity comes from replay
//! sled transactions and `apply_batch` hang under concurrent flushing
//! (`shared/reference/rust-stack.md`), so this crate uses neither. An append
//! instead does plain inserts in this order:
//!
//! 1. the journal record (which *contains* its state writes, its key and, for
//!    idempotent appends, the body hash and the answer) — under the one append
//!    lock, with the idempotency decision and the offset, so records enter sled
//!    in offset order and the journal is gap-free;
//! 2. the idempotency index entry and the record index entries (derived from
//!    the record alone, so replay can derive them again);
//! 3. the state writes, in record order.
//!
//! Steps 2–3 run outside the append lock, so appends with different state keys
//! overlap (the lock was the gateway's convoy on 2 cores). Order is kept where
//! it matters: a repeat of a key still in steps 2–3 waits for them; records
//! writing the same state key hold that key's stripe lock from before their
//! offset is assigned, so same-key writes land in offset order (replay's
//! order); and an append is acknowledged only once every lower offset has
//! completed too, so consumers and the marker below only see a complete
//! prefix.
//!
//! A marker `applied_through` in the `meta` tree records an offset whose state
//! writes are known to be durable. It is advanced lazily by the flusher, one
//! flush behind (it writes the offset covered by the *previous* successful
//! flush), so it never claims more than is on disk. On [`Store::open`] every
//! record after the marker is re-read, checksummed, and its state writes, its
//! idempotency entry and its record index entries are applied again. State
//! writes are absolute (`Put`/`Delete`, never "add") and index entries are
//! value-less keys, so re-applying them is harmless. Hence a crash can leave
//! neither a journal record without its state nor state without its record:
//! the state is applied only after the record exists, and a record without its
//! state is completed on the next open.
//!
//! ## Durability: group commit
//! Exactly one flusher thread calls sled `flush()` (sled's own periodic flusher
//! is disabled), followed in [`Durability::Fsync`] mode by `fdatasync` of
//! sled's data file `<dir>/db` and any new blob files under `<dir>/blobs`,
//! because sled's flush ends in `sync_file_range`, which flushes neither the
//! drive cache nor file metadata. Each write returns a [`Ticket`]; waiting on
//! it ([`Store::wait_durable`], [`Store::wait_durable_blocking`]) returns once
//! a flush that **began after** the write has completed. If a flush fails,
//! waiters get [`StoreError::FlushFailed`] (never a false "durable") and
//! [`Store::is_writable`] is false **until the store is reopened**: a failed
//! fsync may have dropped the very pages it was to write while the kernel
//! marks them clean, so a later fsync that succeeds proves nothing about them
//! ("fsyncgate", PostgreSQL 2018). The flusher therefore never retries: every
//! write not durable before the failure fails, nothing more is acknowledged,
//! and consumers never read past the last good flush. The operator's action is
//! a restart of the process once the disk is checked; the reopen replays the
//! journal from what is on disk. The environment variable
//! [`FAILPOINT_FSYNC_ENV`] injects such a failure for fault tests.
//!
//! ## Disk space
//! Appends are refused with [`StoreError::DiskFull`] (and [`Store::is_writable`]
//! is false) while the journal's file system has less than
//! [`StoreConfig::disk_free_bytes_min`] available, so the disk never fills
//! under sled (whose first failed write poisons the open database); writes
//! resume by themselves once space is freed.
//!
//! Readers ([`Store::read_from`]) see only durable records, so a consumer can
//! never act on a record a crash could still take back.

mod config;
mod error;
mod record;
mod record_index;
mod sled_store;

#[cfg(test)]
mod record_index_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

pub use config::{
    CACHE_CAPACITY_BYTES_DEFAULT, DISK_FREE_BYTES_MIN_DEFAULT, Durability,
    FLUSH_BATCH_TARGET_DEFAULT, FLUSH_LINGER_US_DEFAULT, FLUSH_LINGER_US_MAX,
    FLUSH_RETRY_INTERVAL_MS_DEFAULT, ID_BYTES_MAX_DEFAULT, RECORD_BYTES_MAX_DEFAULT,
    SPACE_NAME_BYTES_MAX_DEFAULT, StoreConfig,
};
pub use error::StoreError;
pub use record::{Idempotency, JournalRecord, StateWrite};
pub use record_index::{
    BACKFILL_STEP_RECORDS, INDEX_PAYLOAD_BYTES_MAX, INDEXER_BUSY_SHARE_PERCENT_DEFAULT,
    INDEXER_CHUNK_RECORDS, INDEXER_IDLE_POLL_MS, IndexField, RecordPage, RecordQuery,
    TAIL_READ_MAX, TERM_BYTES_MAX, TERMS_PER_FIELD_MAX, rfc3339_ms,
};
pub use sled_store::{FAILPOINT_FSYNC_ENV, FlushObserver, SPACE_CHECK_INTERVAL_MS, SledStore};

/// A write's place in the group-commit order. Wait on it to learn that the
/// write is durable: a flush that began after the write completed has
/// succeeded and, for a journal record, every offset up to it is in the
/// durable prefix consumers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// Write generation the covering flush must have reached.
    pub(crate) generation: u64,
    /// Journal offset the durable prefix must have reached.
    pub(crate) offset: Option<u64>,
}

/// A record appended with [`Store::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Journal offset of the new record.
    pub offset: u64,
    /// Wait on this before acknowledging.
    pub ticket: Ticket,
}

/// The decision of [`Store::append_idempotent`]. Every variant carries a
/// ticket: a duplicate may arrive before the original record is durable, so
/// its stored answer must not be sent before the ticket is durable either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome {
    /// First time this `(fixmedins_code, msgid)` was seen; the record is at `offset`.
    Appended { offset: u64, ticket: Ticket },
    /// Same key and same body hash: send `answer` (byte-for-byte the first answer).
    Duplicate {
        offset: u64,
        answer: Vec<u8>,
        ticket: Ticket,
    },
    /// Same key, different body: a conflict error for the sender. Nothing was written.
    Conflict { offset: u64, ticket: Ticket },
}

/// An idempotency index entry joined with its journal record's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentEntry {
    /// Offset of the record that first used the key.
    pub offset: u64,
    /// SHA-256 of that request's body.
    pub body_sha256: [u8; 32],
    /// The answer stored with it.
    pub answer: Vec<u8>,
}

/// Operator view for `journal stats`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Records in the journal (including corrupt ones, listed separately).
    pub record_count: u64,
    /// Highest journal offset, if any record exists.
    pub last_offset: Option<u64>,
    /// Highest offset known durable (what consumers may read up to).
    pub durable_offset: Option<u64>,
    /// Record count per `kind`.
    pub per_kind: BTreeMap<String, u64>,
    /// Offsets whose record failed its checksum or decode.
    pub corrupt_offsets: Vec<u64>,
    /// sled's reported on-disk size, bytes.
    pub disk_bytes: u64,
    /// Committed (next-to-read) offset per consumer.
    pub consumer_offsets: BTreeMap<String, u64>,
    /// Successful group-commit flushes since open.
    pub flush_count: u64,
    /// Whether the store currently accepts writes.
    pub writable: bool,
    /// Configured durability mode.
    pub durability: Durability,
}

/// The journal's size and health as the console's overview shows them, read without touching a
/// record: [`Store::stats`] decodes every record (seconds over a million), this costs the same
/// at any journal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JournalSummary {
    /// Records in the journal. Offsets are gap-free from 0, so this is the last offset + 1.
    pub record_count: u64,
    /// Highest journal offset, if any record exists.
    pub last_offset: Option<u64>,
    /// Highest offset known durable.
    pub durable_offset: Option<u64>,
    /// sled's reported on-disk size, bytes.
    pub disk_bytes: u64,
    /// Whether the store currently accepts writes.
    pub writable: bool,
}

/// Future returned by [`Store::wait_durable`] (boxed so the trait stays object-safe).
pub type DurableFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;
/// Iterator over journal records from [`Store::export`].
pub type RecordIter<'a> =
    Box<dyn Iterator<Item = Result<(u64, JournalRecord), StoreError>> + Send + 'a>;
/// Iterator over `(key, value)` pairs from [`Store::scan_prefix`].
pub type StateIter<'a> =
    Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + Send + 'a>;

/// The storage interface the gateway uses. Object-safe (`dyn Store`) except
/// for [`Store::open`], so a second backend can be added without touching
/// callers.
pub trait Store: Send + Sync {
    /// Opens (creating if needed) the store in `dir`, replaying the state
    /// writes of records after the `applied_through` marker.
    fn open(dir: &Path, config: StoreConfig) -> Result<Self, StoreError>
    where
        Self: Sized;

    /// Appends a record (whose `idempotency` must be `None`). Its state
    /// writes are applied before this returns; durability is the ticket's.
    fn append(&self, record: JournalRecord) -> Result<Appended, StoreError>;

    /// Appends `record` unless its key (required) was already used, deciding
    /// under the append lock so two identical concurrent requests cannot both
    /// append. Stores `body_sha256` and `answer` in the record.
    fn append_idempotent(
        &self,
        record: JournalRecord,
        body_sha256: [u8; 32],
        answer: Vec<u8>,
    ) -> Result<IdempotentOutcome, StoreError>;

    /// The index entry for `(fixmedins_code, msgid)`, if the key was used.
    /// The entry may not be durable yet; wait on [`Store::current_ticket`]
    /// before sending its answer.
    fn lookup_idempotent(
        &self,
        fixmedins_code: &str,
        msgid: &str,
    ) -> Result<Option<IdempotentEntry>, StoreError>;

    /// Up to `max` durable records with offset `>= offset`, in offset order.
    /// A corrupt record is an error (the consumer must stop, not skip it).
    fn read_from(&self, offset: u64, max: usize) -> Result<Vec<(u64, JournalRecord)>, StoreError>;

    /// Records that `consumer` will next read from `next_offset` (i.e. has
    /// durably processed everything below it). Durable once the ticket is.
    fn commit_offset(&self, consumer: &str, next_offset: u64) -> Result<Ticket, StoreError>;

    /// The committed next-to-read offset of `consumer`; 0 if it never committed.
    fn committed_offset(&self, consumer: &str) -> Result<u64, StoreError>;

    /// Value of `key` in state keyspace `space`.
    fn get(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// All `(key, value)` pairs of `space` whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, space: &str, prefix: &[u8]) -> Result<StateIter<'_>, StoreError>;

    /// A ticket covering every write made so far.
    fn current_ticket(&self) -> Ticket;

    /// Resolves once a flush that began after the ticket's write has
    /// completed, or with [`StoreError::FlushFailed`] if such a flush failed.
    fn wait_durable(&self, ticket: Ticket) -> DurableFuture<'_>;

    /// Blocking form of [`Store::wait_durable`] (for threads, not async tasks).
    fn wait_durable_blocking(&self, ticket: Ticket) -> Result<(), StoreError>;

    /// False after a failed flush or a failed state apply (both until reopen),
    /// and while the journal's file system is below its free-space floor.
    /// `/readyz` reports it.
    fn is_writable(&self) -> bool;

    /// Highest offset known durable.
    fn durable_offset(&self) -> Option<u64>;

    /// Counts for `journal stats` (scans the journal).
    fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Record count, last and durable offsets, disk size and writability, without reading
    /// any record (the cost does not grow with the journal).
    fn summary(&self) -> Result<JournalSummary, StoreError>;

    /// Which version of state keyspace `space` readers see: (this store instance's number in
    /// the process, the state writes applied to `space` since it was opened). It changes
    /// whenever a write to `space` is applied (after the write), so what a reader derived from
    /// `space` under one generation is still exact while the generation is the same — the
    /// console keeps its figures that way instead of rereading the keyspace on every page.
    fn space_generation(&self, space: &str) -> Result<(u64, u64), StoreError>;

    /// Every record from `from_offset` on (durable or not), checksum-verified;
    /// a corrupt record yields an `Err` item and iteration continues.
    fn export(&self, from_offset: u64) -> RecordIter<'_>;

    /// One page of the durable records that satisfy `query`, through the record index,
    /// newest first (receive time, then offset; without any condition, by offset from the
    /// journal's end). Looks at no more than `query.examine_max` index entries and reads only
    /// the records it returns. A `StoreError::Config` when the store was opened with
    /// [`StoreConfig::record_index`] off; `InvalidRecord` for a condition on
    /// [`IndexField::Time`] (use the range), an empty or over-long term, or a `before` that
    /// names no record.
    fn find_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError>;
}
