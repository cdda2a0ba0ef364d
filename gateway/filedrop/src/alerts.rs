//! Operator alerts of the inbox, of two kinds, listed as one:
//!
//! * [`AlertKind::FileConflict`]: a receipt file whose name was already applied with other
//!   bytes (nothing of it applied; it sits in `rejected_dir`);
//! * [`AlertKind::ReceiptRow`]: a receipt row not applied because the bank and the gateway
//!   disagree about its payment (unknown payment, wrong batch, amount mismatch, backward
//!   status, a row matching no payment, an entry amount off, a return of a payment never
//!   paid). An exact repeat of a status already applied raises none: it is the echo of a
//!   re-sent answer.
//!
//! Both are journaled before anything else happens to their file, so an alert is never lost
//! to a crash and, being keyed by the file's bytes, never raised twice. An operator
//! acknowledges an alert with [`acknowledge_alert`]; acknowledging hides nothing (the alert
//! stays listed, with who acknowledged it and when) but moves it out of
//! [`crate::BankStatus::alerts_open`].

use medsettle_canonical::{Money, ReceiptStatus};
use medsettle_store::{JournalRecord, StateWrite, Store};
use serde::Serialize;

use crate::error::{FileDropError, rule};
use crate::outbox::append_durable;
use crate::state::{
    AlertAck, IgnoreReason, InboxFileRecord, InboxOutcome, KIND_ALERT_ACKNOWLEDGED, PaymentStatus,
    ReceiptRowAlert, SPACE_ALERT_ACK, SPACE_INBOX_ALERT, SPACE_INBOX_ROW_ALERT, get_json,
    scan_json, to_json,
};

/// Prefix of a [`AlertKind::FileConflict`] alert id: `file-conflict/<name>/<sha256>`.
const ID_PREFIX_FILE_CONFLICT: &str = "file-conflict/";
/// Prefix of a [`AlertKind::ReceiptRow`] alert id: `receipt-row/<file sha256>/<row index>`.
const ID_PREFIX_RECEIPT_ROW: &str = "receipt-row/";
/// Longest `by` / `at` of an acknowledgement, bytes: a name and a timestamp, not a letter.
pub const ACK_FIELD_BYTES_MAX: usize = 256;

/// Which kind of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A different file under a receipt file name already applied.
    FileConflict,
    /// A receipt row not applied for a reason other than an exact repeat.
    ReceiptRow,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FileConflict => "file_conflict",
            AlertKind::ReceiptRow => "receipt_row",
        }
    }
}

/// One alert of either kind, flat so that it is one line of a table or one CSV row. Fields
/// that do not apply to its kind are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    /// Stable id, what [`acknowledge_alert`] takes: `file-conflict/<name>/<sha256>` or
    /// `receipt-row/<file sha256>/<row index>`.
    pub id: String,
    pub kind: AlertKind,
    /// The rule broken ([`crate::rule`]).
    pub rule: String,
    pub file_name: String,
    pub file_sha256: String,
    /// File conflict: the SHA-256 of the file applied earlier under the same name.
    pub earlier_sha256: Option<String>,
    /// Receipt row: its index among the file's rows, from 0.
    pub row_index: Option<u64>,
    pub payment_id: Option<String>,
    /// Receipt row: how the row names its payment when it names none by id.
    pub row_reference: Option<String>,
    pub reason: Option<IgnoreReason>,
    /// Receipt row: the status the row reports.
    pub row_status: Option<ReceiptStatus>,
    /// Receipt row: the batch the row names (its own, else the file's original batch).
    pub row_batch_id: Option<String>,
    pub row_amount: Option<Money>,
    /// Receipt row: the payment's status when the row was read (`None`: no such payment).
    pub payment_status: Option<PaymentStatus>,
    pub payment_batch_id: Option<String>,
    pub payment_amount: Option<Money>,
    /// Who acknowledged the alert; `None` while it is open.
    pub acknowledged_by: Option<String>,
    /// When, as the acknowledging tool gave it.
    pub acknowledged_at: Option<String>,
}

/// One line for an operator: the rule, what happened, and whether someone has looked.
impl std::fmt::Display for AlertRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.rule, self.file_name)?;
        match self.kind {
            AlertKind::FileConflict => write!(
                f,
                ": a different file under a name already applied (sha256 {})",
                &self.file_sha256[..self.file_sha256.len().min(16)]
            )?,
            AlertKind::ReceiptRow => {
                write!(
                    f,
                    " row {}: payment {} not applied ({})",
                    self.row_index.unwrap_or_default(),
                    self.payment_id
                        .as_deref()
                        .filter(|p| !p.is_empty())
                        .unwrap_or("-"),
                    self.reason.map_or("-", IgnoreReason::as_str)
                )?;
                if let Some(r) = &self.row_reference {
                    write!(f, " [{r}]")?;
                }
                if let Some(a) = self.row_amount {
                    write!(f, "; bank says {a}")?;
                }
                if let Some(a) = self.payment_amount {
                    write!(f, ", payment is {a}")?;
                }
            }
        }
        match &self.acknowledged_by {
            Some(by) => write!(f, "; acknowledged by {by}"),
            None => write!(f, "; open (id {})", self.id),
        }
    }
}

impl AlertRecord {
    /// Whether an operator has acknowledged it.
    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged_by.is_some()
    }

    pub(crate) fn from_conflict(rec: &InboxFileRecord) -> AlertRecord {
        let earlier = match &rec.outcome {
            InboxOutcome::Conflict { earlier_sha256 } => Some(earlier_sha256.clone()),
            _ => None,
        };
        AlertRecord {
            id: file_conflict_id(&rec.file_name, &rec.sha256),
            kind: AlertKind::FileConflict,
            rule: rule::RECEIPT_NAME_UNIQUE.to_owned(),
            file_name: rec.file_name.clone(),
            file_sha256: rec.sha256.clone(),
            earlier_sha256: earlier,
            row_index: None,
            payment_id: None,
            row_reference: None,
            reason: None,
            row_status: None,
            row_batch_id: None,
            row_amount: None,
            payment_status: None,
            payment_batch_id: None,
            payment_amount: None,
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }

    pub(crate) fn from_row(a: &ReceiptRowAlert) -> AlertRecord {
        AlertRecord {
            id: format!("{ID_PREFIX_RECEIPT_ROW}{}/{}", a.file_sha256, a.row_index),
            kind: AlertKind::ReceiptRow,
            rule: a.rule.clone(),
            file_name: a.file_name.clone(),
            file_sha256: a.file_sha256.clone(),
            earlier_sha256: None,
            row_index: Some(a.row_index),
            payment_id: Some(a.payment_id.clone()),
            row_reference: a.row_reference.clone(),
            reason: Some(a.reason),
            row_status: Some(a.row_status),
            row_batch_id: a.row_batch_id.clone(),
            row_amount: a.row_amount,
            payment_status: a.payment_status,
            payment_batch_id: a.payment_batch_id.clone(),
            payment_amount: a.payment_amount,
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }

    fn with_ack(mut self, ack: Option<AlertAck>) -> AlertRecord {
        if let Some(ack) = ack {
            self.acknowledged_by = Some(ack.by);
            self.acknowledged_at = Some(ack.at);
        }
        self
    }
}

fn file_conflict_id(name: &str, sha256: &str) -> String {
    format!("{ID_PREFIX_FILE_CONFLICT}{name}/{sha256}")
}

/// The key of a file-conflict alert in [`SPACE_INBOX_ALERT`].
pub(crate) fn file_conflict_key(name: &str, sha256: &str) -> String {
    format!("{name}\n{sha256}")
}

/// Every alert, file conflicts first, then receipt rows in (file SHA-256, row) order, each
/// with its acknowledgement if it has one. Scans every alert: for operator commands and
/// `/metrics`, not a hot path.
pub fn alerts(store: &dyn Store) -> Result<Vec<AlertRecord>, FileDropError> {
    let mut acks: std::collections::BTreeMap<String, AlertAck> =
        scan_json::<AlertAck>(store, SPACE_ALERT_ACK)?
            .into_iter()
            .collect();
    let conflicts = scan_json::<InboxFileRecord>(store, SPACE_INBOX_ALERT)?
        .into_iter()
        .map(|(_, rec)| AlertRecord::from_conflict(&rec));
    let rows = scan_json::<ReceiptRowAlert>(store, SPACE_INBOX_ROW_ALERT)?
        .into_iter()
        .map(|(_, a)| AlertRecord::from_row(&a));
    let out = conflicts
        .chain(rows)
        .map(|a| {
            let ack = acks.remove(&a.id);
            a.with_ack(ack)
        })
        .collect();
    Ok(out)
}

/// One alert by id, with its acknowledgement; `None` if there is no such alert.
pub fn alert(store: &dyn Store, id: &str) -> Result<Option<AlertRecord>, FileDropError> {
    let found = if let Some(rest) = id.strip_prefix(ID_PREFIX_FILE_CONFLICT) {
        // File names have no `/`, SHA-256 hex neither: the last `/` splits them.
        let Some((name, sha)) = rest.rsplit_once('/') else {
            return Ok(None);
        };
        get_json::<InboxFileRecord>(store, SPACE_INBOX_ALERT, &file_conflict_key(name, sha))?
            .map(|r| AlertRecord::from_conflict(&r))
    } else if let Some(rest) = id.strip_prefix(ID_PREFIX_RECEIPT_ROW) {
        let Some((sha, index)) = rest.split_once('/') else {
            return Ok(None);
        };
        let Ok(index) = index.parse::<u64>() else {
            return Ok(None);
        };
        let key = ReceiptRowAlert::key(sha, index);
        get_json::<ReceiptRowAlert>(store, SPACE_INBOX_ROW_ALERT, &key)?
            .map(|a| AlertRecord::from_row(&a))
    } else {
        None
    };
    // The id is rebuilt from the stored alert, so only the canonical spelling matches.
    let Some(found) = found.filter(|a| a.id == id) else {
        return Ok(None);
    };
    let ack = get_json::<AlertAck>(store, SPACE_ALERT_ACK, id)?;
    Ok(Some(found.with_ack(ack)))
}

/// Records, durably, that operator `by` acknowledged alert `id` at `at` (the caller's
/// clock, as text: this crate keeps no clock so that its records replay the same).
///
/// Idempotent: returns `true` if this call recorded the acknowledgement, `false` if the
/// alert was already acknowledged (the first acknowledgement is kept, nothing is written).
/// An id that names no alert is [`FileDropError::UnknownAlert`].
pub fn acknowledge_alert(
    store: &dyn Store,
    id: &str,
    by: &str,
    at: &str,
) -> Result<bool, FileDropError> {
    for (field, v) in [("by", by), ("at", at)] {
        if v.trim().is_empty() || v.len() > ACK_FIELD_BYTES_MAX {
            return Err(FileDropError::InvalidAcknowledgement {
                id: id.to_owned(),
                detail: format!("`{field}` must be 1..={ACK_FIELD_BYTES_MAX} bytes, not blank"),
            });
        }
    }
    let Some(found) = alert(store, id)? else {
        return Err(FileDropError::UnknownAlert { id: id.to_owned() });
    };
    if found.is_acknowledged() {
        return Ok(false);
    }
    let ack = AlertAck {
        alert_id: id.to_owned(),
        by: by.to_owned(),
        at: at.to_owned(),
    };
    let json = to_json(&ack);
    append_durable(
        store,
        JournalRecord::new(KIND_ALERT_ACKNOWLEDGED, json.clone()).with_write(StateWrite::put(
            SPACE_ALERT_ACK,
            id,
            json,
        )),
        id,
    )?;
    tracing::info!(alert = id, by, at, "alert acknowledged");
    Ok(true)
}
