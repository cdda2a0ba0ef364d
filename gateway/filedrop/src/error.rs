//! The one error type of this crate. Every variant names the file (path or name), the batch
//! or payment concerned where there is one, and the rule broken, so an operator can act
//! without reading code.
//!
//! Problems with a *receipt file the bank sent* are not errors of [`crate::Inbox::scan_once`]:
//! they are reported per file in [`crate::IngestReport`] (and the file is moved aside), so one
//! bad file never stops the others.

use std::path::PathBuf;

use medsettle_bank::BankError;
use medsettle_store::StoreError;

/// Rule names cited by [`FileDropError`] and by ingest alerts; stable strings for logs and tests.
pub mod rule {
    /// A batch id is used for exactly one batch content.
    pub const BATCH_ID_UNIQUE: &str = "filedrop.batch_id_unique";
    /// A payment id belongs to exactly one batch.
    pub const PAYMENT_ID_UNIQUE: &str = "filedrop.payment_id_unique";
    /// A file we place (outbox, inbox, archive, rejected) is never written over another with
    /// different bytes: no input file is ever destroyed.
    pub const NEVER_OVERWRITE: &str = "filedrop.never_overwrite";
    /// A batch renders to the bytes journaled when it was first rendered.
    pub const DETERMINISTIC_RENDER: &str = "filedrop.deterministic_render";
    /// Ids used as file names are plain names.
    pub const FILE_NAME: &str = "filedrop.file_name";
    /// A file name in the outbox belongs to one batch.
    pub const FILE_NAME_UNIQUE: &str = "filedrop.file_name_unique";
    /// A receipt file name is used for one content only.
    pub const RECEIPT_NAME_UNIQUE: &str = "filedrop.receipt_name_unique";
    /// A receipt file must decode completely (never partially applied).
    pub const RECEIPT_DECODES: &str = "filedrop.receipt_decodes";
    /// A trigger must announce its data file's size, hash, count and sum.
    pub const TRIGGER_MATCHES: &str = "filedrop.trigger_matches";
    /// A receipt file answers a batch we sent.
    pub const KNOWN_BATCH: &str = "filedrop.known_batch";
    /// A receipt row names a payment the gateway sent (row alert
    /// [`crate::IgnoreReason::UnknownPayment`]).
    pub const RECEIPT_KNOWN_PAYMENT: &str = "filedrop.receipt_known_payment";
    /// A receipt row names the batch its payment was sent in (row alert
    /// [`crate::IgnoreReason::WrongBatch`]).
    pub const RECEIPT_SAME_BATCH: &str = "filedrop.receipt_same_batch";
    /// A receipt row's amount equals its payment's (row alert
    /// [`crate::IgnoreReason::AmountMismatch`]).
    pub const RECEIPT_AMOUNT_MATCHES: &str = "filedrop.receipt_amount_matches";
    /// A payment's status only moves forward (row alert [`crate::IgnoreReason::Backward`]).
    pub const RECEIPT_FORWARD_ONLY: &str = "filedrop.receipt_forward_only";
    /// A receipt row without a payment id matches exactly one payment by the keys it carries
    /// (`OrgnlInstrId`, original transaction reference), and a payment-information status
    /// names a payment information the gateway sent (row alert
    /// [`crate::IgnoreReason::Unidentified`]).
    pub const RECEIPT_IDENTIFIED: &str = "filedrop.receipt_identified";
    /// An amount declared over rows without their own (a camt.054 entry's `Amt`, a batch's
    /// `TtlAmt`) equals what those payments add up to (row alert
    /// [`crate::IgnoreReason::EntryAmountMismatch`]).
    pub const RECEIPT_ENTRY_AMOUNT_MATCHES: &str = "filedrop.receipt_entry_amount_matches";
    /// A return comes for a payment the gateway knows as paid; a return of a payment still
    /// pending or accepted means the bank paid without telling (row alert
    /// [`crate::IgnoreReason::ReturnedUnpaid`]).
    pub const RECEIPT_RETURN_AFTER_PAID: &str = "filedrop.receipt_return_after_paid";
    /// An acknowledged alert is one the file drop raised.
    pub const ALERT_KNOWN: &str = "filedrop.alert_known";
    /// An acknowledgement names who acknowledged and when.
    pub const ALERT_ACK: &str = "filedrop.alert_ack";
    /// A file admitted to the inbox is a plain receipt data file (not a trigger, not an
    /// in-flight name) that exists.
    pub const ADMIT_FILE: &str = "filedrop.admit_file";
    /// Configuration values.
    pub const CONFIG: &str = "filedrop.config";
    /// Stored state decodes.
    pub const STATE_DECODES: &str = "filedrop.state_decodes";
}

/// Everything that can stop a file-drop operation.
#[derive(Debug, thiserror::Error)]
pub enum FileDropError {
    /// A filesystem operation failed.
    #[error("I/O: {op} {path}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The store failed (nothing after this step happened).
    #[error("store: {context}: {source}")]
    Store {
        context: String,
        #[source]
        source: StoreError,
    },
    /// The bank crate refused to render a batch or read a profile. Boxed: `BankError` is
    /// large and this variant is rare, so every other `Result` stays small.
    #[error("bank file {file}: {source}")]
    Bank {
        file: String,
        #[source]
        source: Box<BankError>,
    },
    /// The same batch id was journaled with different content.
    #[error("batch {batch_id}: rule {rule}: already journaled with different content (stored sha256 {stored_sha256}, now {new_sha256})", rule = rule::BATCH_ID_UNIQUE)]
    BatchConflict {
        batch_id: String,
        stored_sha256: String,
        new_sha256: String,
    },
    /// A payment id of this batch already belongs to another batch.
    #[error("batch {batch_id}: payment {payment_id}: rule {rule}: already sent in batch {other_batch_id}", rule = rule::PAYMENT_ID_UNIQUE)]
    PaymentConflict {
        batch_id: String,
        payment_id: String,
        other_batch_id: String,
    },
    /// The file (or trigger) name is already taken by another batch.
    #[error("batch {batch_id}: file {file_name}: rule {rule}: name already used by batch {other_batch_id}", rule = rule::FILE_NAME_UNIQUE)]
    FileNameConflict {
        batch_id: String,
        file_name: String,
        other_batch_id: String,
    },
    /// A different file already exists under the batch's file name: never overwritten.
    #[error("batch {batch_id}: file {path}: rule {rule}: exists with sha256 {found_sha256}, expected {expected_sha256}; not overwritten", rule = rule::NEVER_OVERWRITE)]
    ExistingFileDiffers {
        batch_id: String,
        path: PathBuf,
        expected_sha256: String,
        found_sha256: String,
    },
    /// Re-rendering a journaled batch gave other bytes (the renderer changed under it).
    #[error("batch {batch_id}: file {file_name}: rule {rule}: renders to sha256 {now_sha256}, journaled {journaled_sha256}", rule = rule::DETERMINISTIC_RENDER)]
    RenderChanged {
        batch_id: String,
        file_name: String,
        journaled_sha256: String,
        now_sha256: String,
    },
    /// The batch cannot be dropped as given.
    #[error("batch {batch_id}: rule {rule}: {detail}")]
    InvalidBatch {
        batch_id: String,
        rule: &'static str,
        detail: String,
    },
    /// A configuration value is unusable.
    #[error("config {field}: rule {rule}: {detail}")]
    Config {
        field: &'static str,
        rule: &'static str,
        detail: String,
    },
    /// A stored value of ours does not decode.
    #[error("state {space}/{key}: rule {rule}: {detail}", rule = rule::STATE_DECODES)]
    CorruptState {
        space: &'static str,
        key: String,
        detail: String,
    },
    /// A file of this name is already in the directory with other bytes: the new one is not
    /// written over it (and nothing else is written for it).
    #[error("file {path}: rule {rule}: exists with sha256 {found_sha256}, {offered} has sha256 {offered_sha256}; not overwritten", rule = rule::NEVER_OVERWRITE)]
    NameTaken {
        path: PathBuf,
        found_sha256: String,
        offered: PathBuf,
        offered_sha256: String,
    },
    /// [`crate::admit_to_inbox`] cannot take this path.
    #[error("admit {path}: rule {rule}: {detail}", rule = rule::ADMIT_FILE)]
    AdmitRefused { path: PathBuf, detail: String },
    /// No alert has this id.
    #[error("alert {id}: rule {rule}: no such alert", rule = rule::ALERT_KNOWN)]
    UnknownAlert { id: String },
    /// An acknowledgement without who or when.
    #[error("alert {id}: rule {rule}: {detail}", rule = rule::ALERT_ACK)]
    InvalidAcknowledgement { id: String, detail: String },
    /// A test hook stopped the operation at `step` (crash simulation).
    #[error("stopped by hook at step {step:?}")]
    Stopped { step: crate::Step },
}

impl FileDropError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        FileDropError::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub(crate) fn store(context: impl Into<String>, source: StoreError) -> Self {
        FileDropError::Store {
            context: context.into(),
            source,
        }
    }
}
