//! The bank file drop as operator actions (F6): approve a day and drop its payment file, apply
//! receipts, show batches and payments. Receipts that move a daily payment feed the engine
//! (IS-D-6/7): only a receipt proves payment, and only successful payments are deducted
//! monthly (IS-M-3).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use medsettle_engine::Engine;
use medsettle_filedrop::{DropReport, Inbox, IngestReport, Outbox};
use medsettle_store::Store;

use crate::config::Config;
use crate::open::filedrop_config;
use crate::settle::{ClosedDay, close_daily, closed_text, engine_err};

/// A day closed and its payment file dropped.
pub struct Exported {
    pub day: ClosedDay,
    pub drop: DropReport,
}

/// Approve the payment summary of pay date `date` (closing the day if needed) and drop its
/// payment file. Idempotent: the same batch renders to the same bytes and is dropped once.
pub fn export(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    date: time::Date,
) -> Result<Exported> {
    let cfg = filedrop_config(config)?;
    // Finish any batch a crash left half-dropped before adding a new one.
    Outbox::recover(store, &cfg)?;
    let day = close_daily(config, engine, store, date)?;
    if day.close.batch.payments.is_empty() {
        anyhow::bail!("pay date {date} has nothing to pay: no file is dropped");
    }
    let drop = Outbox::drop_batch(store, &cfg, &day.close.batch)?;
    Ok(Exported { day, drop })
}

/// What `bank export` prints.
pub fn export_text(e: &Exported) -> String {
    let mut t = closed_text(&e.day);
    t.push_str(&crate::payfile::drop_text(&e.drop));
    t
}

/// Apply what the inbox holds (after bringing `path` into it, if given: a receipt file with
/// its `.ok` trigger beside it, or a directory scanned in place) and feed what moved to the
/// engine. A file is never written over: one already in the inbox is read where it is.
pub fn ingest(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    path: Option<&Path>,
) -> Result<IngestReport> {
    let report = scan_inbox(config, store, path)?;
    tell_engine(engine, store)?;
    Ok(report)
}

/// Apply the receipt files of the inbox (or of `path`) to the file drop's payment states,
/// each file once; the engine is not told ([`tell_engine`]).
pub fn scan_inbox(config: &Config, store: &dyn Store, path: Option<&Path>) -> Result<IngestReport> {
    let mut cfg = filedrop_config(config)?;
    Outbox::recover(store, &cfg)?;
    match path {
        Some(p) if p.is_dir() => cfg.inbox_dir = p.to_owned(),
        Some(p) => {
            medsettle_filedrop::admit_to_inbox(&cfg, p)?;
        }
        None => {}
    }
    Ok(Inbox::scan_once(store, &cfg)?)
}

/// Bring the engine up to the journal and to the payments' states (reads every payment: run
/// it when receipts moved something, or once after a start).
pub fn tell_engine(engine: &Engine, store: &dyn Store) -> Result<()> {
    engine.catch_up(store, &|_, _| {}).map_err(engine_err)?;
    sync_engine(engine, store)?;
    Ok(())
}

/// What `bank ingest` prints: files by outcome, rows by outcome and, for rows not applied,
/// by reason; the alerts raised.
pub fn ingest_text(report: &IngestReport) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "receipt files: {} applied, {} duplicate (no-op), {} rejected, {} waiting for their trigger",
        report.files_applied.len(),
        report.files_duplicate.len(),
        report.files_rejected.len(),
        report.files_waiting.len()
    );
    let reasons: Vec<String> = report
        .ignored_by_reason
        .iter()
        .map(|(reason, n)| format!("{n} {}", reason.as_str()))
        .collect();
    let _ = writeln!(
        t,
        "receipts: {} applied, {} not applied{}; {} pending → status query, never re-payment",
        report.receipts_applied.len(),
        report.receipts_ignored.len(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        report.pending_queries.len()
    );
    for r in &report.files_rejected {
        let _ = writeln!(
            t,
            "  rejected: {} [{}] {} → {}",
            r.file_name,
            r.rule,
            r.error,
            r.moved_to.display()
        );
    }
    for a in &report.alerts {
        let _ = writeln!(
            t,
            "  ALERT [{}] {}: a different file under a name already applied → {}",
            a.rule,
            a.file_name,
            a.moved_to.display()
        );
    }
    for a in &report.row_alerts {
        let _ = writeln!(t, "  ALERT {a}");
    }
    t
}

/// Bring the settlement engine up to the file drop's payment states (IS-D-6/7).
///
/// The file drop applies a receipt file durably first; the engine learns of it second. Rather
/// than trusting the scan's report (lost if the process dies between the two steps), the
/// engine is given the current state of every answered payment each time: its
/// `apply_receipts` treats a repeated status as a no-op, and the file drop's states only move
/// forward, so this delivers every receipt at least once and applies it exactly once.
pub fn sync_engine(engine: &Engine, store: &dyn Store) -> Result<usize> {
    use medsettle_canonical::ReceiptStatus;
    let aggregator = engine.aggregator(store).map_err(engine_err)?;
    let mut receipts = Vec::new();
    for (_, state) in medsettle_filedrop::state::payment_states(store)? {
        let Some(receipt) = state.receipt else {
            continue;
        };
        let known = aggregator
            .payment(&receipt.payment_id)
            .and_then(|p| p.status);
        if known == Some(receipt.status) {
            continue;
        }
        // A return presupposes the payment: a Paid the engine never saw (both arrived in one
        // scan, or a crash came between) goes first, or the ledger would un-pay a payment it
        // never paid (IS-RK-3).
        if receipt.status == ReceiptStatus::Returned && known != Some(ReceiptStatus::Paid) {
            receipts.push(medsettle_canonical::Receipt {
                status: ReceiptStatus::Paid,
                reason: None,
                ..receipt.clone()
            });
        }
        receipts.push(receipt);
    }
    if receipts.is_empty() {
        return Ok(0);
    }
    let applied = engine
        .apply_receipts(store, &receipts)
        .map_err(engine_err)?;
    Ok(applied.len())
}

/// The `bank status` text: every batch with its payments by status, totals, receipt files,
/// and the open alerts.
pub fn status_text(store: &dyn Store) -> Result<String> {
    let s = medsettle_filedrop::status(store)?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<22} {:<13} {:>6} {:>14}  by status",
        "batch", "state", "count", "control sum"
    );
    for b in &s.batches {
        let by: Vec<String> = b
            .payments
            .iter()
            .map(|(st, t)| format!("{st:?} {} ({})", t.count, t.amount))
            .collect();
        let _ = writeln!(
            t,
            "{:<22} {:<13} {:>6} {:>14}  {}",
            b.batch_id,
            b.state.map_or("-".into(), |s| format!("{s:?}")),
            b.count,
            b.control_sum.to_string(),
            by.join(", ")
        );
    }
    let totals: Vec<String> = s
        .totals
        .iter()
        .map(|(st, t)| format!("{st:?} {} ({})", t.count, t.amount))
        .collect();
    let _ = writeln!(
        t,
        "all payments: {}",
        if totals.is_empty() {
            "none".into()
        } else {
            totals.join(", ")
        }
    );
    let _ = writeln!(
        t,
        "receipt files applied {}, rejected {}; alerts {} ({} open)",
        s.receipt_files_applied, s.receipt_files_rejected, s.alerts, s.alerts_open
    );
    for a in &s.alert_records {
        let _ = writeln!(t, "  ALERT {a}");
    }
    Ok(t)
}

/// `bank ack --alert ID`: an operator has looked at an alert. Journaled with who and when;
/// acknowledging twice keeps the first acknowledgement. An unknown id is the operator's
/// mistake.
pub fn acknowledge(store: &dyn Store, alert: &str, by: &str) -> Result<String> {
    use medsettle_filedrop::FileDropError;
    let at = time::OffsetDateTime::now_utc()
        .to_offset(medsettle_canonical::CHINA_OFFSET)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    match medsettle_filedrop::acknowledge_alert(store, alert, by, &at) {
        Ok(true) => Ok(format!("alert {alert} acknowledged by {by}\n")),
        Ok(false) => Ok(format!(
            "alert {alert} was acknowledged before; nothing changed\n"
        )),
        Err(
            e @ (FileDropError::UnknownAlert { .. } | FileDropError::InvalidAcknowledgement { .. }),
        ) => Err(crate::error::BadInput::new(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}
