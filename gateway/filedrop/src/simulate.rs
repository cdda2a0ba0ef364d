//! The simulated bank, over real directories: it watches the outbox (a file counts only once
//! its trigger announces its exact bytes), answers each new payment file with
//! [`medsettle_bank::simulator::simulate`], and writes the receipts into the inbox the way a
//! bank should: temp + fsync + rename, then a `.ok` trigger the same way.
//!
//! It is the far side of the boundary, so it keeps its own memory in its own directory
//! ([`FileDropConfig::simulator_dir`]): `processed.json` (outbox file name → SHA-256 answered)
//! and `held/` (second deliveries of a receipt, sent once the first has left the inbox, so
//! the gateway really sees the same file twice). It records a file as answered only after
//! its receipts are written: a crash in between makes it answer again with identical bytes,
//! which the inbox recognises as duplicates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use medsettle_bank::receipts::decode_named;
use medsettle_bank::{
    BankProfile, FileKind, OutcomePlan, ReceiptFormat, TriggerFile, detect_format, simulator,
    trigger,
};
use medsettle_canonical::Money;
use serde::Serialize;

use crate::config::FileDropConfig;
use crate::error::FileDropError;
use crate::fsio::{
    TRIGGER_SUFFIX, ensure_dir, is_hidden_or_tmp, list_names, read_opt, remove_stale_tmp,
    write_atomic,
};

const PROCESSED_FILE: &str = "processed.json";
const HELD_DIR: &str = "held";

/// What one pass of the simulated bank did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimReport {
    /// Payment files answered this pass.
    pub files_answered: Vec<String>,
    /// Payment files the bank refused (validation failed), with the reason; no receipts.
    pub files_refused: Vec<(String, String)>,
    /// Receipt files written into the inbox (a held second delivery included).
    pub receipts_written: Vec<String>,
    /// Outbox files not complete yet (no trigger, or trigger not matching).
    pub files_incomplete: Vec<String>,
}

/// Runs the simulated bank: one pass if `once`, else a pass every `cfg.poll_interval_ms`
/// until an error (the demo and the CLI stop it with a signal).
pub fn simulate_loop(
    cfg: &FileDropConfig,
    plan: &OutcomePlan,
    once: bool,
) -> Result<SimReport, FileDropError> {
    loop {
        let report = simulate_pass(cfg, plan)?;
        if once {
            return Ok(report);
        }
        std::thread::sleep(Duration::from_millis(cfg.poll_interval_ms));
    }
}

/// One pass of the simulated bank (see the module docs).
pub fn simulate_pass(cfg: &FileDropConfig, plan: &OutcomePlan) -> Result<SimReport, FileDropError> {
    let sim_dir = cfg.simulator_dir();
    let held_dir = sim_dir.join(HELD_DIR);
    ensure_dir(&held_dir)?;
    ensure_dir(&cfg.inbox_dir)?;
    let format = cfg.payment_format()?;
    let mut processed = load_processed(&sim_dir)?;
    let mut report = SimReport::default();

    let inbox_now: BTreeSet<String> = list_names(&cfg.inbox_dir)?.into_iter().collect();
    for name in list_names(&held_dir)? {
        // Wait while the first delivery is still in the inbox (its trigger is there). A data
        // file without trigger is our own interrupted delivery of this copy: redo it.
        if is_hidden_or_tmp(&name) || inbox_now.contains(&format!("{name}{TRIGGER_SUFFIX}")) {
            continue;
        }
        let path = held_dir.join(&name);
        if let Some(bytes) = read_opt(&path)? {
            deliver(cfg, plan, &name, &bytes)?;
            std::fs::remove_file(&path).map_err(|e| FileDropError::io(&path, "remove", e))?;
            report.receipts_written.push(name);
        }
    }

    let outbox = list_names(&cfg.outbox_dir)?;
    let present: BTreeSet<&str> = outbox.iter().map(String::as_str).collect();
    for name in &outbox {
        if is_hidden_or_tmp(name) || name.ends_with(TRIGGER_SUFFIX) {
            continue;
        }
        let trig_name = format!("{name}{TRIGGER_SUFFIX}");
        let complete = if present.contains(trig_name.as_str()) {
            let trig =
                read_opt(&cfg.outbox_dir.join(&trig_name))?.and_then(|b| trigger::parse(&b).ok());
            let data = read_opt(&cfg.outbox_dir.join(name))?;
            match (trig, data) {
                (Some(t), Some(d)) if t.file_name == *name && t.matches(&d) => Some((t, d)),
                _ => None,
            }
        } else {
            None
        };
        let Some((trig, data)) = complete else {
            report.files_incomplete.push(name.clone());
            continue;
        };
        if processed.get(name) == Some(&trig.sha256) {
            continue;
        }
        match simulator::simulate(&data, &format, plan) {
            Err(e) => report.files_refused.push((name.clone(), e.to_string())),
            Ok(files) => {
                let mut seen = BTreeSet::new();
                for (rname, bytes) in files {
                    if seen.insert(rname.clone()) {
                        deliver(cfg, plan, &rname, &bytes)?;
                        report.receipts_written.push(rname);
                    } else {
                        remove_stale_tmp(&held_dir, &rname)?;
                        write_atomic(&held_dir, &rname, &bytes, &mut || Ok(()))?;
                    }
                }
                report.files_answered.push(name.clone());
            }
        }
        processed.insert(name.clone(), trig.sha256);
        save_processed(&sim_dir, &processed)?;
    }
    Ok(report)
}

/// Writes a receipt file and then its trigger, each atomically, into the inbox.
fn deliver(
    cfg: &FileDropConfig,
    plan: &OutcomePlan,
    name: &str,
    bytes: &[u8],
) -> Result<(), FileDropError> {
    let (count, sum) = announced_totals(plan, name, bytes);
    let trig = TriggerFile::for_file(name, bytes, count, sum);
    let trig_bytes = trigger::render(&trig).map_err(|e| FileDropError::Bank {
        file: name.to_owned(),
        source: Box::new(e),
    })?;
    let dir = &cfg.inbox_dir;
    remove_stale_tmp(dir, name)?;
    write_atomic(dir, name, bytes, &mut || Ok(()))?;
    let tname = format!("{name}{TRIGGER_SUFFIX}");
    remove_stale_tmp(dir, &tname)?;
    write_atomic(dir, &tname, &trig_bytes, &mut || Ok(()))?;
    Ok(())
}

/// The row count and sum the bank announces in the trigger: what its own file holds. A
/// file it cannot read back (the deliberately truncated copy) announces nothing.
fn announced_totals(plan: &OutcomePlan, name: &str, bytes: &[u8]) -> (u64, Money) {
    let format = match detect_format(bytes) {
        Some(FileKind::Pain002) => ReceiptFormat::Pain002,
        Some(FileKind::Camt054) => ReceiptFormat::Camt054,
        Some(FileKind::Delimited) => ReceiptFormat::GbkReturn(
            plan.receipts
                .gbk_return
                .clone()
                .unwrap_or_else(BankProfile::default_gbk),
        ),
        _ => return (0, Money::ZERO),
    };
    match decode_named(name, bytes, &format, &Default::default()) {
        Ok(f) => (f.totals.row_count, f.totals.row_sum),
        Err(_) => (0, Money::ZERO),
    }
}

fn load_processed(dir: &Path) -> Result<BTreeMap<String, String>, FileDropError> {
    let path = dir.join(PROCESSED_FILE);
    match read_opt(&path)? {
        None => Ok(BTreeMap::new()),
        Some(b) => serde_json::from_slice(&b).map_err(|e| FileDropError::CorruptState {
            space: "simulator processed.json",
            key: path.display().to_string(),
            detail: e.to_string(),
        }),
    }
}

fn save_processed(dir: &Path, p: &BTreeMap<String, String>) -> Result<(), FileDropError> {
    remove_stale_tmp(dir, PROCESSED_FILE)?;
    write_atomic(dir, PROCESSED_FILE, &crate::state::to_json(p), &mut || {
        Ok(())
    })?;
    Ok(())
}
