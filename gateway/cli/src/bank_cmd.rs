//! `medsettle bank …`: payment files out, receipts in (F6), over the file drop and the
//! instant-settlement engine. Receipts that move a daily payment feed the engine (IS-D-6/7):
//! only a receipt proves payment, and only successful payments are deducted monthly (IS-M-3).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use medsettle_bank::simulator::OutcomePlan;
use medsettle_engine::Engine;
use medsettle_filedrop::{DropReport, FileDropConfig, FormatConfig, Inbox, IngestReport, Outbox};
use medsettle_store::Store;

use crate::config::Config;
use crate::exit::{BadInput, parse_date};
use crate::settle_cmd::{build_engine, catch_up};

#[derive(Subcommand)]
pub enum BankCommand {
    /// Approve the daily payment summary of pay date DATE (closing the day first if needed)
    /// and drop its payment file with a trigger file into the outbox.
    Export {
        #[arg(long)]
        date: String,
    },
    /// Read receipt files (default: the inbox) and apply them once each.
    Ingest {
        /// A receipt file (with its .ok trigger beside it) or a directory of them.
        path: Option<PathBuf>,
    },
    /// Batches, their states, and payments by status.
    Status,
    /// The bank simulator: answers payment files in the outbox with receipts in the inbox.
    Simulate {
        /// Answer what is there and stop (default: keep polling).
        #[arg(long)]
        once: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Per mille of payments that fail (closed account, name mismatch …).
        #[arg(long, default_value_t = 0)]
        failed_per_mille: u16,
        /// Per mille pending, then paid in a second receipt.
        #[arg(long, default_value_t = 0)]
        pending_per_mille: u16,
        /// Per mille paid, then returned in a second receipt.
        #[arg(long, default_value_t = 0)]
        returned_per_mille: u16,
        /// Deliver the first receipt file twice.
        #[arg(long)]
        duplicate: bool,
        /// Also deliver a truncated copy of the first receipt file.
        #[arg(long)]
        truncated: bool,
    },
}

/// The file drop under `data/bank`, in the configured payment format.
pub fn filedrop_config(config: &Config) -> Result<FileDropConfig> {
    let mut cfg = FileDropConfig::under(&config.bank_dir());
    cfg.format = match config.bank.format.as_deref().unwrap_or("pain001") {
        "pain001" => FormatConfig::Pain001,
        "gbk" => FormatConfig::Delimited {
            profile: config.bank.profile.clone(),
        },
        other => anyhow::bail!(BadInput::new(format!(
            "bank.format: `{other}` is not pain001 or gbk"
        ))),
    };
    cfg.validate()
        .map_err(|e| BadInput::new(format!("bank: {e}")))?;
    Ok(cfg)
}

/// A day closed and its payment file dropped.
pub struct Exported {
    pub day: crate::settle_cmd::ClosedDay,
    pub drop: DropReport,
}

/// Approve the payment summary of pay date `date` (closing the day if needed) and drop its
/// payment file. Idempotent: the same batch renders to the same bytes and is dropped once.
/// Prints nothing ([`print_export`] does, for the CLI).
pub fn export(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    date: time::Date,
) -> Result<Exported> {
    let cfg = filedrop_config(config)?;
    // Finish any batch a crash left half-dropped before adding a new one.
    Outbox::recover(store, &cfg)?;
    let day = crate::settle_cmd::close_daily(config, engine, store, date)?;
    if day.close.batch.payments.is_empty() {
        anyhow::bail!("pay date {date} has nothing to pay: no file is dropped");
    }
    let drop = Outbox::drop_batch(store, &cfg, &day.close.batch)?;
    Ok(Exported { day, drop })
}

pub fn print_export(e: &Exported) {
    crate::settle_cmd::print_closed(&e.day);
    let r = &e.drop;
    println!(
        "{} {} ({} payments, control sum {}, sha256 {})",
        if r.already_dropped {
            "already dropped"
        } else {
            "dropped"
        },
        r.file_path.display(),
        r.count,
        r.control_sum,
        &r.sha256[..16],
    );
    println!("trigger {}", r.trigger_path.display());
}

/// Scan `inbox` once and feed what moved to the engine.
pub fn ingest(
    config: &Config,
    engine: &Engine,
    store: &dyn Store,
    path: Option<&Path>,
) -> Result<IngestReport> {
    let mut cfg = filedrop_config(config)?;
    Outbox::recover(store, &cfg)?;
    match path {
        Some(p) if p.is_dir() => cfg.inbox_dir = p.to_owned(),
        Some(p) => {
            // One file: bring it (and its trigger) into the inbox, then scan.
            std::fs::create_dir_all(&cfg.inbox_dir)?;
            let name = p.file_name().context("a file name")?;
            std::fs::copy(p, cfg.inbox_dir.join(name))
                .with_context(|| format!("copying {}", p.display()))?;
            let trigger = PathBuf::from(format!("{}.ok", p.display()));
            if trigger.exists() {
                std::fs::copy(
                    &trigger,
                    cfg.inbox_dir.join(format!("{}.ok", name.to_string_lossy())),
                )?;
            }
        }
        None => {}
    }
    let report = Inbox::scan_once(store, &cfg)?;
    catch_up(engine, store)?;
    sync_engine(engine, store)?;
    println!(
        "receipt files: {} applied, {} duplicate (no-op), {} rejected, {} waiting for their trigger",
        report.files_applied.len(),
        report.files_duplicate.len(),
        report.files_rejected.len(),
        report.files_waiting.len()
    );
    println!(
        "receipts: {} applied, {} ignored (repeated or backward); {} pending → status query, never re-payment",
        report.receipts_applied.len(),
        report.receipts_ignored.len(),
        report.pending_queries.len()
    );
    for r in &report.files_rejected {
        println!("  rejected: {r:?}");
    }
    for a in &report.alerts {
        println!("  ALERT: {a:?}");
    }
    Ok(report)
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
    let aggregator = engine
        .aggregator(store)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.rule()))?;
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
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.rule()))?;
    Ok(applied.len())
}

pub fn print_status(store: &dyn Store) -> Result<()> {
    print!("{}", status_text(store)?);
    Ok(())
}

/// The `bank status` text: every batch with its payments by status, totals, receipt files.
pub fn status_text(store: &dyn Store) -> Result<String> {
    use std::fmt::Write as _;
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
        "receipt files applied {}, rejected {}; alerts {}",
        s.receipt_files_applied, s.receipt_files_rejected, s.alerts
    );
    Ok(t)
}

pub fn run(cmd: BankCommand, config: &Config) -> Result<()> {
    if let BankCommand::Simulate {
        once,
        seed,
        failed_per_mille,
        pending_per_mille,
        returned_per_mille,
        duplicate,
        truncated,
    } = cmd
    {
        // The simulated bank is the far side of the boundary: it reads the outbox and writes
        // the inbox, never the gateway's journal.
        let cfg = filedrop_config(config)?;
        let mut plan = OutcomePlan::all_paid(seed);
        plan.failed_per_mille = failed_per_mille;
        plan.pending_per_mille = pending_per_mille;
        plan.returned_per_mille = returned_per_mille;
        plan.duplicate_receipt = duplicate;
        plan.truncated_copy = truncated;
        let r = medsettle_filedrop::simulate_loop(&cfg, &plan, once)?;
        println!(
            "bank: answered {} payment files, refused {}, wrote {} receipt files",
            r.files_answered.len(),
            r.files_refused.len(),
            r.receipts_written.len()
        );
        return Ok(());
    }
    let store = crate::serve::open_store(config)?;
    let engine = build_engine(config)?;
    match cmd {
        BankCommand::Export { date } => {
            let d = parse_date(&date).map_err(|e| BadInput::new(format!("--date: {e}")))?;
            catch_up(&engine, store.as_ref())?;
            print_export(&export(config, &engine, store.as_ref(), d)?);
        }
        BankCommand::Ingest { path } => {
            ingest(config, &engine, store.as_ref(), path.as_deref())?;
        }
        BankCommand::Status => print_status(store.as_ref())?,
        BankCommand::Simulate { .. } => unreachable!("handled above"),
    }
    Ok(())
}
