//! What the file drop keeps in the store: state keyspaces (all prefixed `bank.`), their value
//! types, and the journal record kinds that write them. State changes only through the state
//! writes of journal records (medsettle-store), so every change is in the journal too.
//!
//! | space | key | value |
//! |---|---|---|
//! | [`SPACE_BATCH`] | batch id | [`BatchRecord`] (the whole batch + rendered file facts) |
//! | [`SPACE_BATCH_STATE`] | batch id | [`BatchState`] |
//! | [`SPACE_OUTBOX_NAME`] | outbox file name | batch id (a name belongs to one batch) |
//! | [`SPACE_PAYMENT`] | payment id | [`PaymentState`] (written `sent` when the batch drops) |
//! | [`SPACE_INBOX_FILE`] | receipt file name | [`InboxFileRecord`] (its SHA-256 and outcome) |
//! | [`SPACE_INBOX_ALERT`] | `name` `\n` `sha256` | [`InboxFileRecord`] of a conflicting file |
//! | [`SPACE_INBOX_ROW_ALERT`] | `sha256` `/` row index (10 digits) | [`ReceiptRowAlert`] |
//! | [`SPACE_ALERT_ACK`] | alert id ([`crate::AlertRecord::id`]) | [`AlertAck`] |
//!
//! Row alerts are written by the same record that applies their file, so a file is applied
//! with its alerts or not at all; their key depends only on the file's bytes, so a re-scan
//! can never raise one twice. Acknowledgements live apart from the alerts they acknowledge:
//! nothing that re-writes an alert can undo an operator's acknowledgement.

use std::collections::BTreeMap;

use medsettle_canonical::{Money, PaymentBatch, Receipt, ReceiptStatus};
use medsettle_store::Store;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{FileDropError, rule};

pub const SPACE_BATCH: &str = "bank.batch";
pub const SPACE_BATCH_STATE: &str = "bank.batch_state";
pub const SPACE_OUTBOX_NAME: &str = "bank.outbox_name";
pub const SPACE_PAYMENT: &str = "bank.payment";
pub const SPACE_INBOX_FILE: &str = "bank.inbox_file";
pub const SPACE_INBOX_ALERT: &str = "bank.inbox_alert";
pub const SPACE_INBOX_ROW_ALERT: &str = "bank.inbox_row_alert";
pub const SPACE_ALERT_ACK: &str = "bank.alert_ack";

/// Journal record kinds.
pub const KIND_BATCH_RENDERED: &str = "bank.batch.rendered";
pub const KIND_BATCH_DROPPED: &str = "bank.batch.dropped";
/// One receipt file applied: every row's state write plus the file record, in one record.
pub const KIND_RECEIPT_FILE: &str = "bank.receipt_file.applied";
pub const KIND_RECEIPT_REJECTED: &str = "bank.receipt_file.rejected";
pub const KIND_RECEIPT_ALERT: &str = "bank.receipt_file.alert";
/// An operator acknowledged an alert (of either kind).
pub const KIND_ALERT_ACKNOWLEDGED: &str = "bank.alert.acknowledged";

/// Why a receipt row was not applied. Every reason but [`IgnoreReason::Repeated`] raises a
/// row alert: a repeated status is the harmless echo of a re-sent answer, the others mean the
/// bank and the gateway disagree about a payment and an operator must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// No such payment was sent.
    UnknownPayment,
    /// The row names another batch than the one the payment was sent in.
    WrongBatch,
    /// The row's amount differs from the payment's.
    AmountMismatch,
    /// The payment already has this status.
    Repeated,
    /// The status would move backwards (e.g. paid → pending, or a payment-information-level
    /// rejection of a payment already paid).
    Backward,
    /// The row names no payment (no `OrgnlEndToEndId`) and its other keys match none, or
    /// several; or a payment-information status names a payment information never sent.
    Unidentified,
    /// The row carries no amount and the amount declared over it (camt.054 entry `Amt`, batch
    /// `TtlAmt`) differs from what its payments add up to: not marked paid.
    EntryAmountMismatch,
    /// A return for a payment the gateway knows only as pending or accepted: the bank says
    /// it paid, the gateway never heard so. Not applied; an operator reconciles.
    ReturnedUnpaid,
}

impl IgnoreReason {
    /// Every reason, in the order reports list them.
    pub const ALL: [IgnoreReason; 8] = [
        IgnoreReason::UnknownPayment,
        IgnoreReason::WrongBatch,
        IgnoreReason::AmountMismatch,
        IgnoreReason::Repeated,
        IgnoreReason::Backward,
        IgnoreReason::Unidentified,
        IgnoreReason::EntryAmountMismatch,
        IgnoreReason::ReturnedUnpaid,
    ];

    /// The rule a row ignored for this reason broke; `None` for an exact repeat, which
    /// breaks none (and raises no alert).
    pub fn alert_rule(self) -> Option<&'static str> {
        match self {
            IgnoreReason::UnknownPayment => Some(rule::RECEIPT_KNOWN_PAYMENT),
            IgnoreReason::WrongBatch => Some(rule::RECEIPT_SAME_BATCH),
            IgnoreReason::AmountMismatch => Some(rule::RECEIPT_AMOUNT_MATCHES),
            IgnoreReason::Backward => Some(rule::RECEIPT_FORWARD_ONLY),
            IgnoreReason::Unidentified => Some(rule::RECEIPT_IDENTIFIED),
            IgnoreReason::EntryAmountMismatch => Some(rule::RECEIPT_ENTRY_AMOUNT_MATCHES),
            IgnoreReason::ReturnedUnpaid => Some(rule::RECEIPT_RETURN_AFTER_PAID),
            IgnoreReason::Repeated => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::UnknownPayment => "unknown_payment",
            IgnoreReason::WrongBatch => "wrong_batch",
            IgnoreReason::AmountMismatch => "amount_mismatch",
            IgnoreReason::Repeated => "repeated",
            IgnoreReason::Backward => "backward",
            IgnoreReason::Unidentified => "unidentified",
            IgnoreReason::EntryAmountMismatch => "entry_amount_mismatch",
            IgnoreReason::ReturnedUnpaid => "returned_unpaid",
        }
    }
}

/// Where a batch is in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Journaled with its file's SHA-256; the file may or may not be in the outbox yet.
    Rendered,
    /// File and trigger are durably in the outbox; payments are `sent`.
    Dropped,
    /// A receipt for one of its payments has been applied.
    Acknowledged,
}

/// A payment's status as the gateway knows it: `sent` until a receipt says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Sent,
    Accepted,
    Pending,
    Paid,
    Failed,
    Returned,
}

impl PaymentStatus {
    pub fn from_receipt(s: ReceiptStatus) -> PaymentStatus {
        match s {
            ReceiptStatus::Accepted => PaymentStatus::Accepted,
            ReceiptStatus::Pending => PaymentStatus::Pending,
            ReceiptStatus::Paid => PaymentStatus::Paid,
            ReceiptStatus::Failed => PaymentStatus::Failed,
            ReceiptStatus::Returned => PaymentStatus::Returned,
        }
    }

    fn as_receipt(self) -> Option<ReceiptStatus> {
        match self {
            PaymentStatus::Sent => None,
            PaymentStatus::Accepted => Some(ReceiptStatus::Accepted),
            PaymentStatus::Pending => Some(ReceiptStatus::Pending),
            PaymentStatus::Paid => Some(ReceiptStatus::Paid),
            PaymentStatus::Failed => Some(ReceiptStatus::Failed),
            PaymentStatus::Returned => Some(ReceiptStatus::Returned),
        }
    }

    /// Whether a receipt saying `next` moves this payment strictly forward. From `sent` any
    /// receipt does (files may be read in any order; a return seen before its paid receipt
    /// still ends in `returned`); otherwise [`ReceiptStatus::may_move_to`], minus staying put.
    pub fn advances_to(self, next: ReceiptStatus) -> bool {
        match self.as_receipt() {
            None => true,
            Some(cur) => cur != next && cur.may_move_to(next),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Sent => "sent",
            PaymentStatus::Accepted => "accepted",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Returned => "returned",
        }
    }
}

/// The journaled facts of a rendered batch: enough to re-render and verify after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub batch: PaymentBatch,
    /// SHA-256 of the batch's JSON: a batch id is bound to one content.
    pub batch_sha256: String,
    /// `pain001` or `delimited:<profile name>`.
    pub format: String,
    pub file_name: String,
    pub trigger_name: String,
    pub file_sha256: String,
    pub bytes: u64,
    pub count: u64,
    pub control_sum: Money,
}

/// One payment's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentState {
    pub batch_id: String,
    pub amount: Money,
    pub status: PaymentStatus,
    /// The receipt that set `status` (none while `sent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The receipt file it came in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_file: Option<String>,
    /// The amount the bank's row echoed when it differs from `amount` (a rejection echoing
    /// `0.00`, say). Such a row is applied only when it says "failed"; `receipt` then carries
    /// the payment's own amount, this keeps the bank's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_amount: Option<Money>,
}

/// What happened to a receipt file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InboxOutcome {
    /// Rows applied in one record; `applied` moved a payment forward, `ignored` did not
    /// (`ignored_by_reason` splits them; absent in records older than the split).
    Applied {
        applied: u64,
        ignored: u64,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        ignored_by_reason: BTreeMap<IgnoreReason, u64>,
        /// Rows applied although their echoed amount differs (rejections only; see
        /// [`PaymentState::bank_amount`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        amount_differences: u64,
    },
    /// Not applied at all (undecodable, truncated, totals off, unknown batch…).
    Rejected { rule: String, error: String },
    /// Same name as an earlier file, different content: nothing applied.
    Conflict { earlier_sha256: String },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The (name, SHA-256) record of a receipt file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxFileRecord {
    pub file_name: String,
    pub sha256: String,
    #[serde(flatten)]
    pub outcome: InboxOutcome,
}

/// A receipt row that was not applied for a reason other than an exact repeat: the bank and
/// the gateway disagree about a payment. Journaled with its file's `applied` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRowAlert {
    pub file_name: String,
    pub file_sha256: String,
    /// The row's position among the file's decoded rows, from 0.
    pub row_index: u64,
    /// Empty for a row that names no payment (see `row_reference`).
    pub payment_id: String,
    pub reason: IgnoreReason,
    /// How the row names its payment when not by payment id (e.g. `no OrgnlEndToEndId;
    /// OrgnlInstrId=…`), or which payment-information status it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_reference: Option<String>,
    /// The rule broken ([`IgnoreReason::alert_rule`]).
    pub rule: String,
    /// What the row says.
    pub row_status: ReceiptStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_amount: Option<Money>,
    /// What the gateway knew when the row was read; `None` for an unknown payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_amount: Option<Money>,
}

impl ReceiptRowAlert {
    /// The store key: the file's SHA-256 and the row's index, zero-padded so keys sort in
    /// row order. It depends on the bytes alone, so re-reading a file yields the same keys.
    pub fn key(file_sha256: &str, row_index: u64) -> String {
        format!("{file_sha256}/{row_index:010}")
    }
}

/// An operator's acknowledgement of an alert; the first one is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAck {
    pub alert_id: String,
    pub by: String,
    /// As the operator's tool gave it (RFC 3339 recommended); not interpreted.
    pub at: String,
}

pub(crate) fn get_json<T: DeserializeOwned>(
    store: &dyn Store,
    space: &'static str,
    key: &str,
) -> Result<Option<T>, FileDropError> {
    let Some(raw) = store
        .get(space, key.as_bytes())
        .map_err(|e| FileDropError::store(format!("read {space}/{key}"), e))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|e| FileDropError::CorruptState {
            space,
            key: key.to_owned(),
            detail: e.to_string(),
        })
}

/// Every `(key, value)` of `space`, decoded.
pub(crate) fn scan_json<T: DeserializeOwned>(
    store: &dyn Store,
    space: &'static str,
) -> Result<Vec<(String, T)>, FileDropError> {
    let mut out = Vec::new();
    for item in store
        .scan_prefix(space, b"")
        .map_err(|e| FileDropError::store(format!("scan {space}"), e))?
    {
        let (k, v) = item.map_err(|e| FileDropError::store(format!("scan {space}"), e))?;
        let key = String::from_utf8_lossy(&k).into_owned();
        let val = serde_json::from_slice(&v).map_err(|e| FileDropError::CorruptState {
            space,
            key: key.clone(),
            detail: e.to_string(),
        })?;
        out.push((key, val));
    }
    Ok(out)
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Our own plain data types: serialization cannot fail.
    serde_json::to_vec(v).expect("serialize file-drop state")
}

/// Reads the state of every payment (for `bank status` and tests).
pub fn payment_states(store: &dyn Store) -> Result<Vec<(String, PaymentState)>, FileDropError> {
    scan_json(store, SPACE_PAYMENT)
}

/// Reads the record of every receipt file seen (for tests and audits).
pub fn inbox_files(store: &dyn Store) -> Result<Vec<(String, InboxFileRecord)>, FileDropError> {
    scan_json(store, SPACE_INBOX_FILE)
}

/// A payment's outcome as the console's charts read it: decoded without the rest of its
/// state (receipt texts, amounts echoed, file names), which a month of 2,000 institutions'
/// ~26,000 states spends most of its decoding time on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentOutcome {
    pub status: PaymentStatus,
    #[serde(default)]
    pub receipt: Option<ReceiptOutcome>,
}

/// The part of a receipt [`PaymentOutcome`] keeps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceiptOutcome {
    pub payment_id: String,
    #[serde(default)]
    pub value_date: Option<time::Date>,
}

/// Every payment's outcome, keyed by payment id (the receipt's when there is one, as
/// [`payment_states`] readers key them).
pub fn payment_outcomes(store: &dyn Store) -> Result<Vec<(String, PaymentOutcome)>, FileDropError> {
    Ok(scan_json::<PaymentOutcome>(store, SPACE_PAYMENT)?
        .into_iter()
        .map(|(k, o)| (o.receipt.as_ref().map_or(k, |r| r.payment_id.clone()), o))
        .collect())
}

/// A batch as the console's charts read it: its payments' ids, payees, amounts and settlement
/// dates, decoded without the accounts and texts of the whole [`BatchRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BatchSketch {
    pub batch_id: String,
    pub pay_date: time::Date,
    pub payments: Vec<PaymentSketch>,
}

/// One payment of a [`BatchSketch`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentSketch {
    pub payment_id: String,
    pub payee_code: String,
    pub amount: Money,
    #[serde(default)]
    pub settlement_dates: Vec<time::Date>,
}

#[derive(Deserialize)]
struct BatchRecordSketch {
    batch: BatchSketch,
}

/// Every journaled batch as a [`BatchSketch`] with its state, in [`batches`] order.
pub fn batch_sketches(
    store: &dyn Store,
) -> Result<Vec<(BatchSketch, Option<BatchState>)>, FileDropError> {
    let mut out = Vec::new();
    for (id, rec) in scan_json::<BatchRecordSketch>(store, SPACE_BATCH)? {
        let st = get_json(store, SPACE_BATCH_STATE, &id)?;
        out.push((rec.batch, st));
    }
    Ok(out)
}

/// Reads every journaled batch with its state.
pub fn batches(store: &dyn Store) -> Result<Vec<(BatchRecord, Option<BatchState>)>, FileDropError> {
    let mut out = Vec::new();
    for (id, rec) in scan_json::<BatchRecord>(store, SPACE_BATCH)? {
        let st = get_json(store, SPACE_BATCH_STATE, &id)?;
        out.push((rec, st));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_records_round_trip_and_older_ones_still_read() {
        let rec = InboxFileRecord {
            file_name: "F.xml".into(),
            sha256: "ab".repeat(32),
            outcome: InboxOutcome::Applied {
                applied: 1,
                ignored: 2,
                ignored_by_reason: [(IgnoreReason::Backward, 1), (IgnoreReason::Repeated, 1)]
                    .into(),
                amount_differences: 0,
            },
        };
        let json = to_json(&rec);
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.contains(r#""ignored_by_reason":{"repeated":1,"backward":1}"#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_slice::<InboxFileRecord>(&json).unwrap(),
            rec
        );

        let older =
            r#"{"file_name":"F.xml","sha256":"00","outcome":"applied","applied":1,"ignored":0}"#;
        let got: InboxFileRecord = serde_json::from_str(older).unwrap();
        assert!(matches!(
            got.outcome,
            InboxOutcome::Applied { ignored_by_reason, .. } if ignored_by_reason.is_empty()
        ));
    }
}
