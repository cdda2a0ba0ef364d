//! `medsettle bank status`: batches, their states, and payments per status.

use std::collections::BTreeMap;

use medsettle_canonical::Money;
use medsettle_store::Store;
use serde::Serialize;

use crate::alerts::{AlertRecord, alerts};
use crate::error::FileDropError;
use crate::state::{
    BatchState, IgnoreReason, InboxOutcome, PaymentStatus, batches, inbox_files, payment_states,
};

/// How many payments, and how much money, are in one status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusTotals {
    pub count: u64,
    pub amount: Money,
}

impl StatusTotals {
    fn add(&mut self, amount: Money) {
        self.count += 1;
        self.amount += amount;
    }
}

/// One batch in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchStatus {
    pub batch_id: String,
    pub file_name: String,
    pub file_sha256: String,
    /// `None` only if the store holds a batch record without state (never written so).
    pub state: Option<BatchState>,
    pub count: u64,
    pub control_sum: Money,
    /// Per payment status (empty while the batch is only `rendered`).
    pub payments: BTreeMap<PaymentStatus, StatusTotals>,
}

/// Everything `bank status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BankStatus {
    pub batches: Vec<BatchStatus>,
    /// Over all batches.
    pub totals: BTreeMap<PaymentStatus, StatusTotals>,
    pub receipt_files_applied: u64,
    pub receipt_files_rejected: u64,
    /// Receipt rows not applied, by reason, over every applied file (files applied before
    /// the split was recorded count only in their file record's total).
    pub receipt_rows_ignored: BTreeMap<IgnoreReason, u64>,
    /// Every alert ever raised: conflicting files (same name, other content) and receipt
    /// rows not applied for a reason other than an exact repeat; acknowledged ones included.
    pub alerts: u64,
    /// Alerts no operator has acknowledged yet.
    pub alerts_open: u64,
    /// The alerts themselves ([`crate::alerts()`]), `alerts` of them.
    pub alert_records: Vec<AlertRecord>,
}

/// Reads the file drop's state. Scans every payment: meant for an operator command, not a
/// hot path.
pub fn status(store: &dyn Store) -> Result<BankStatus, FileDropError> {
    let mut per_batch: BTreeMap<String, BTreeMap<PaymentStatus, StatusTotals>> = BTreeMap::new();
    let mut totals: BTreeMap<PaymentStatus, StatusTotals> = BTreeMap::new();
    for (_, p) in payment_states(store)? {
        per_batch
            .entry(p.batch_id.clone())
            .or_default()
            .entry(p.status)
            .or_default()
            .add(p.amount);
        totals.entry(p.status).or_default().add(p.amount);
    }
    let mut out = BankStatus {
        totals,
        ..BankStatus::default()
    };
    for (rec, state) in batches(store)? {
        let id = rec.batch.batch_id.clone();
        out.batches.push(BatchStatus {
            payments: per_batch.remove(&id).unwrap_or_default(),
            batch_id: id,
            file_name: rec.file_name,
            file_sha256: rec.file_sha256,
            state,
            count: rec.count,
            control_sum: rec.control_sum,
        });
    }
    for (_, f) in inbox_files(store)? {
        match f.outcome {
            InboxOutcome::Applied {
                ignored_by_reason, ..
            } => {
                out.receipt_files_applied += 1;
                for (reason, n) in ignored_by_reason {
                    *out.receipt_rows_ignored.entry(reason).or_default() += n;
                }
            }
            InboxOutcome::Rejected { .. } => out.receipt_files_rejected += 1,
            // Conflicts are recorded as alerts (listed below), never as a name's record.
            InboxOutcome::Conflict { .. } => {}
        }
    }
    out.alert_records = alerts(store)?;
    out.alerts = out.alert_records.len() as u64;
    out.alerts_open = out
        .alert_records
        .iter()
        .filter(|a| !a.is_acknowledged())
        .count() as u64;
    Ok(out)
}
