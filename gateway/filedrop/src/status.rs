//! `medsettle bank status`: batches, their states, and payments per status.

use std::collections::BTreeMap;

use medsettle_canonical::Money;
use medsettle_store::Store;
use serde::Serialize;

use crate::error::FileDropError;
use crate::state::{
    BatchState, InboxOutcome, PaymentStatus, SPACE_INBOX_ALERT, batches, inbox_files,
    payment_states,
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
    /// Conflicting files (same name, other content) ever seen.
    pub alerts: u64,
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
            InboxOutcome::Applied { .. } => out.receipt_files_applied += 1,
            InboxOutcome::Rejected { .. } => out.receipt_files_rejected += 1,
            InboxOutcome::Conflict { .. } => out.alerts += 1,
        }
    }
    for item in store
        .scan_prefix(SPACE_INBOX_ALERT, b"")
        .map_err(|e| FileDropError::store("scan alerts", e))?
    {
        item.map_err(|e| FileDropError::store("scan alerts", e))?;
        out.alerts += 1;
    }
    Ok(out)
}
