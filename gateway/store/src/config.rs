//! Store configuration: every limit and interval is named here with its unit
//! and default.

use std::str::FromStr;

use crate::error::StoreError;

/// Default for [`StoreConfig::record_bytes_max`]: 128 MiB per encoded record.
///
/// Sized for the bank file drop (issue 6), which journals a whole payment batch, and a whole
/// receipt file's payment-state moves, each in **one** record so that a crash leaves either
/// all of it or none (DESIGN.md §3 invariants 2, 4, 5) without sled transactions. Measured
/// with 100,000 payments (`filedrop-bench`, BENCHMARKS.md): `bank.batch.rendered` is about
/// 59 MB (the batch JSON as payload and as state), `bank.batch.dropped` and
/// `bank.receipt_file.applied` are smaller, so 128 MiB leaves a margin of about 2× (about
/// 200,000 payments per batch). sled 0.34.7 stores such values in blob files, which the store
/// fdatasyncs before acknowledging. Splitting the writes over several records was rejected
/// as needlessly complex while one record measures acceptably (about 1 s per 100,000 rows).
/// Records that come from requests (2207 with its fee lines, a few KiB to a few hundred KiB)
/// are bounded far below this by the server's own body limits, so the cap is a sanity bound,
/// not the guard against hostile input. Configurable as `[store] record_bytes_max`.
pub const RECORD_BYTES_MAX_DEFAULT: usize = 128 * 1024 * 1024;
/// Default for [`StoreConfig::id_bytes_max`]: 128 bytes for a
/// `fixmedins_code` or `msgid` (the national interface uses 12 and 30).
pub const ID_BYTES_MAX_DEFAULT: usize = 128;
/// Default for [`StoreConfig::space_name_bytes_max`]: 64 bytes.
pub const SPACE_NAME_BYTES_MAX_DEFAULT: usize = 64;
/// Default for [`StoreConfig::flush_retry_interval_ms`]: 100 ms. No longer used: a failed
/// flush is final until the store is reopened (fsyncgate; see the crate docs).
pub const FLUSH_RETRY_INTERVAL_MS_DEFAULT: u64 = 100;
/// Default for [`StoreConfig::flush_linger_us`]: 2 ms, a tenth of the 20 ms p99 budget. Measured
/// at 64 connections (BENCHMARKS.md): fewer, larger group commits cut the CPU per
/// acknowledgement; a lone writer never lingers.
pub const FLUSH_LINGER_US_DEFAULT: u64 = 2_000;
/// Default for [`StoreConfig::flush_batch_target`]: 64 writes.
pub const FLUSH_BATCH_TARGET_DEFAULT: u64 = 64;
/// Largest accepted [`StoreConfig::flush_linger_us`]: 20 ms, the gateway's p99 budget.
pub const FLUSH_LINGER_US_MAX: u64 = 20_000;
/// Default for [`StoreConfig::disk_free_bytes_min`]: 64 MiB. Appends are refused while the
/// journal's file system has less than this available, so that the disk never fills under
/// sled (its first failed write poisons the open database until a restart) and writes resume
/// by themselves once space is freed. Measured records are a few KiB (requests) up to about
/// 60 MB (a 100,000-payment batch, see [`RECORD_BYTES_MAX_DEFAULT`]); the floor also leaves
/// room for sled's own rewrites.
pub const DISK_FREE_BYTES_MIN_DEFAULT: u64 = 64 * 1024 * 1024;
/// Default for [`StoreConfig::cache_capacity_bytes`]: 256 MiB of sled page cache.
pub const CACHE_CAPACITY_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;

/// When an append counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// sled `flush()` then `fdatasync` of sled's data files (sled's flush ends
    /// in `sync_file_range`, which does not flush the drive cache or metadata).
    /// Survives process crash and power loss.
    #[default]
    Fsync,
    /// sled `flush()` only. Survives a process crash (`kill -9`), not
    /// necessarily a power loss.
    Flush,
    /// Acknowledge without waiting (the flusher still flushes in the
    /// background). For benchmarks only: a crash loses acknowledged records.
    None,
}

impl Durability {
    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::Flush => "flush",
            Durability::None => "none",
        }
    }
}

impl FromStr for Durability {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "flush" => Ok(Durability::Flush),
            "none" => Ok(Durability::None),
            other => Err(StoreError::Config(format!(
                "durability {other:?} is not one of fsync, flush, none"
            ))),
        }
    }
}

/// Options for [`crate::Store::open`]. `StoreConfig::default()` is the
/// production setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// When an append is acknowledged as durable. Default `fsync`.
    pub durability: Durability,
    /// Largest encoded journal record accepted, bytes. Default 128 MiB.
    pub record_bytes_max: usize,
    /// Largest `fixmedins_code` / `msgid`, bytes. Default 128.
    pub id_bytes_max: usize,
    /// Largest state keyspace or consumer name, bytes. Default 64.
    pub space_name_bytes_max: usize,
    /// Formerly the pause before retrying a failed flush, milliseconds. Default 100. Unused: a
    /// failed flush is final until reopen (kept so that existing settings still validate).
    pub flush_retry_interval_ms: u64,
    /// Appends are refused ([`crate::StoreError::DiskFull`]) while the journal's file system
    /// has less than this many bytes available; 0 = no guard. Default 64 MiB.
    pub disk_free_bytes_min: u64,
    /// sled page-cache size, bytes. Default 256 MiB.
    pub cache_capacity_bytes: u64,
    /// Group-commit linger, microseconds: when the previous flush covered more than one
    /// write (so writers are concurrent), the flusher waits up to this long for more writes
    /// before it starts the next flush, unless [`Self::flush_batch_target`] writes are
    /// already waiting. Fewer, larger flushes cost less CPU per write; a lone writer never
    /// waits (its previous flush covered only itself). 0 = flush as soon as anything waits.
    pub flush_linger_us: u64,
    /// Pending writes at which a lingering flusher stops waiting and flushes.
    pub flush_batch_target: u64,
    /// Keep the record index (`record_index.rs`): every append also writes the entries the
    /// console's message browser finds records by, and [`crate::Store::find_records`] reads
    /// them. Default on. Off saves that work on the write path (measured in BENCHMARKS.md,
    /// "Message browser") and makes `find_records` an error; the next open with it on builds
    /// the entries of the records appended meanwhile.
    pub record_index: bool,
    /// With the record index on: write a record's entries inside its append, before it is
    /// acknowledged (the index always current, about 50–65 µs more CPU per append), instead of
    /// behind it. Default off: a background indexer writes them after the record is durable,
    /// taking at most [`Self::record_index_busy_share_percent`] of a core while appends arrive
    /// and catching up when they pause; [`crate::Store::find_records`] reads the records it has
    /// not reached yet directly (the newest [`crate::TAIL_READ_MAX`]).
    pub record_index_inline: bool,
    /// The background indexer's share of its time while appends arrive, percent (1–100).
    /// Default [`crate::INDEXER_BUSY_SHARE_PERCENT_DEFAULT`]: less leaves more CPU to
    /// acknowledgements at a peak and lets the index fall further behind until the peak ends.
    pub record_index_busy_share_percent: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            durability: Durability::default(),
            record_bytes_max: RECORD_BYTES_MAX_DEFAULT,
            id_bytes_max: ID_BYTES_MAX_DEFAULT,
            space_name_bytes_max: SPACE_NAME_BYTES_MAX_DEFAULT,
            flush_retry_interval_ms: FLUSH_RETRY_INTERVAL_MS_DEFAULT,
            disk_free_bytes_min: DISK_FREE_BYTES_MIN_DEFAULT,
            cache_capacity_bytes: CACHE_CAPACITY_BYTES_DEFAULT,
            flush_linger_us: FLUSH_LINGER_US_DEFAULT,
            flush_batch_target: FLUSH_BATCH_TARGET_DEFAULT,
            record_index: true,
            record_index_inline: false,
            record_index_busy_share_percent: crate::INDEXER_BUSY_SHARE_PERCENT_DEFAULT,
        }
    }
}

impl StoreConfig {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: &str| Err(StoreError::Config(m.to_string()));
        if self.record_bytes_max < 1024 {
            return bad("record_bytes_max must be at least 1024 bytes");
        }
        if self.record_bytes_max > u32::MAX as usize {
            return bad("record_bytes_max must fit in 32 bits");
        }
        if self.id_bytes_max == 0 || self.id_bytes_max > usize::from(u16::MAX) {
            return bad("id_bytes_max must be 1..=65535");
        }
        if self.space_name_bytes_max == 0 || self.space_name_bytes_max > 1024 {
            return bad("space_name_bytes_max must be 1..=1024");
        }
        if self.flush_retry_interval_ms == 0 || self.flush_retry_interval_ms > 60_000 {
            return bad("flush_retry_interval_ms must be 1..=60000");
        }
        if self.flush_linger_us > FLUSH_LINGER_US_MAX {
            return bad("flush_linger_us must be 0..=20000");
        }
        if !(1..=100).contains(&self.record_index_busy_share_percent) {
            return bad("record_index_busy_share_percent must be 1 to 100");
        }
        if self.flush_batch_target == 0 {
            return bad("flush_batch_target must be at least 1");
        }
        if self.cache_capacity_bytes < 1024 * 1024 {
            return bad("cache_capacity_bytes must be at least 1 MiB");
        }
        Ok(())
    }
}
