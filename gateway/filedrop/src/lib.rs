//! # medsettle-filedrop — the bank file drop
//!
//! * [`Outbox::drop_batch`]: an approved [`PaymentBatch`](medsettle_canonical::PaymentBatch)
//!   becomes one payment file and its `.ok` trigger in the outbox directory, written
//!   atomically (temp → fsync → rename → directory fsync), journaled `rendered` before any
//!   file exists and `dropped` after. A crash anywhere, then a re-run, yields the identical
//!   single file; never two different files for one batch (DESIGN.md §3 invariant 5).
//! * [`Inbox::scan_once`]: complete receipt files (trigger `.ok` present and matching) are
//!   decoded, recorded by (name, SHA-256), applied in one durable journal record, and only
//!   then archived: at least once, never twice (invariants 2–4). Statuses only move forward.
//!   The applied receipts are returned for the settlement engine, which applies the region's
//!   IS-D-6 policy (`no_retry` / `carry_forward`) and feeds IS-M-3; a `pending` payment is
//!   listed for a status query, never re-paid.
//! * [`alerts()`] / [`acknowledge_alert`]: what an operator must look at — a different file
//!   under a receipt name already applied, and every receipt row not applied except exact
//!   repeats (unknown payment, wrong batch, amount mismatch, backward status) — journaled
//!   with the file, listed, acknowledged durably.
//! * [`admit_to_inbox`]: an operator-named receipt file brought into the inbox intact.
//! * [`status`]: batches and payments per status for `medsettle bank status`.
//! * [`simulate_loop`]: the simulated bank over the same directories, for tests and the demo.
//!
//! State lives in store keyspaces prefixed `bank.` (see [`state`]) and changes only through
//! the state writes of journal records. One process drives one outbox/inbox at a time.

mod admit;
pub mod alerts;
mod config;
mod error;
mod fsio;
mod inbox;
mod outbox;
mod simulate;
pub mod state;
mod status;

pub use admit::{Admitted, admit_to_inbox};
pub use alerts::{AlertKind, AlertRecord, acknowledge_alert, alerts};
pub use config::{
    FILES_PER_SCAN_MAX_DEFAULT, FileDropConfig, FormatConfig, POLL_INTERVAL_MS_DEFAULT,
    RECEIPT_BYTES_MAX_DEFAULT, RECEIPT_ROWS_MAX_DEFAULT, SIMULATOR_DIR_NAME_DEFAULT,
};
pub use error::{FileDropError, rule};
pub use inbox::{
    Alert, AmountDifference, DUPLICATE_FILE_REASONS, IgnoredReceipt, Inbox, IngestReport,
    REASON_SUFFIX, RejectedFile,
};
pub use outbox::{DELIMITED_SEQ_MAX, DropReport, FILE_NAME_BYTES_MAX, Outbox};
pub use simulate::{SimReport, simulate_loop, simulate_pass};
pub use state::{BatchState, IgnoreReason, PaymentStatus};
pub use status::{BankStatus, BatchStatus, StatusTotals, status};

/// A durable step of the outbox or inbox, reported to a [`Hook`] right after it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// `bank.batch.rendered` is durable (or was already).
    RenderedJournaled,
    /// The payment file's temp file is written and fsynced, not yet renamed.
    DataTmpWritten,
    /// The payment file is in place under its final name.
    DataRenamed,
    /// The trigger's temp file is written and fsynced, not yet renamed.
    TriggerTmpWritten,
    /// The trigger is in place.
    TriggerWritten,
    /// `bank.batch.dropped` is durable.
    DroppedJournaled,
    /// A receipt file's record (all its rows) is durable; the file is still in the inbox.
    ReceiptsApplied,
    /// The receipt file and its trigger are archived.
    Archived,
}

/// Called after each [`Step`]; returning an error stops the operation there (crash tests).
pub type Hook<'a> = &'a dyn Fn(Step) -> Result<(), FileDropError>;

pub(crate) fn no_hook(_: Step) -> Result<(), FileDropError> {
    Ok(())
}
