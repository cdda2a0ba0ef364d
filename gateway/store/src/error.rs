//! The crate's one error type.

use std::path::PathBuf;

/// Everything the store can fail with. [`StoreError::is_caller_error`] says
/// whose fault it was: the caller's (a bad record or name; retrying the same
/// call will fail again) or the store's (I/O, corruption; an operator matter).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O underneath, or its own corruption check).
    #[error("storage engine error (internal): {0}")]
    Sled(#[from] sled::Error),
    /// A filesystem operation of our own (fdatasync, directory sync) failed.
    #[error("I/O error on {path} (internal): {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A journal record failed its checksum or did not decode. Never skipped.
    #[error("journal record at offset {offset} is corrupt (internal): {reason}")]
    Corrupt { offset: u64, reason: String },
    /// An index or metadata entry (not a journal record) has an impossible shape.
    #[error("{what} entry is corrupt (internal): {reason}")]
    CorruptIndex { what: &'static str, reason: String },
    /// A group-commit flush failed: the writes covered by the waited ticket are
    /// NOT known to be durable and must not be acknowledged.
    #[error("flush failed, writes not durable (internal): {0}")]
    FlushFailed(String),
    /// The store refuses writes: a flush failed and none has succeeded since,
    /// or applying state writes failed and the store must be reopened (replay).
    #[error("store is not writable (internal): {0}")]
    NotWritable(String),
    /// The journal's file system has less free space than `disk_free_bytes_min`: writes are
    /// refused (nothing was written) until space is freed; they then resume by themselves.
    #[error(
        "disk nearly full (internal): {available_bytes} bytes available on the file system of \
         {dir}, below disk_free_bytes_min {min_bytes}; writes refused until space is freed"
    )]
    DiskFull {
        dir: PathBuf,
        available_bytes: u64,
        min_bytes: u64,
    },
    /// The record or argument is unacceptable (too large, bad name, …).
    #[error("invalid record (caller): {0}")]
    InvalidRecord(String),
    /// The configuration does not validate.
    #[error("invalid store configuration (caller): {0}")]
    Config(String),
    /// The store has been shut down.
    #[error("store is closed")]
    Closed,
    /// Test hook: the append stopped right after the journal insert.
    #[cfg(test)]
    #[error("simulated crash after journal insert (test hook)")]
    SimulatedCrash,
}

impl StoreError {
    /// True when the caller's input caused the error (fix the input, not the store).
    pub fn is_caller_error(&self) -> bool {
        matches!(self, StoreError::InvalidRecord(_) | StoreError::Config(_))
    }
}
