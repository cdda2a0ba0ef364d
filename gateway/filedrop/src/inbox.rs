//! The inbox: receipt files in, each applied at least once and never twice (bank-files.md §4,
//! DESIGN.md §3 invariants 3–5).
//!
//! **Completeness convention:** a data file `X` counts only when its trigger `X.ok` exists
//! (rendered by `medsettle_bank::trigger`) and announces `X`'s exact size and SHA-256; the
//! row count and control sum it announces must equal the decoded file's. A file without its
//! trigger, or whose trigger announces other bytes (a re-delivery in progress), waits where
//! it is, untouched, reported in [`IngestReport::files_waiting`] (the latter also in
//! [`IngestReport::files_trigger_mismatch`]). Names starting with `.` or ending in `.tmp` are
//! in-flight and never looked at.
//!
//! **No starvation:** `files_per_scan_max` counts complete files only (those handled: applied,
//! duplicate, rejected, alerted or deferred). A waiting file does not count, so any number of
//! pairs whose trigger announces other bytes, sorted before a genuine receipt, cannot keep it
//! from being read in the same scan. Such a pair is left where it is, never moved: it may
//! be a re-delivery in progress, and moving it would file the bank's corrected file as
//! rejected. Telling it apart costs a `stat` when the sizes differ (the usual case) and one read and
//! hash of the file when only the hashes do; that, not the cap, bounds such files' cost per
//! scan (each at most `receipt_bytes_max` in memory, larger ones hashed in chunks).
//!
//! Per complete file, in name order:
//! * (name, SHA-256) already recorded → duplicate: no-op, the file is archived again;
//! * name recorded as applied with another SHA-256 → alert, both files moved to `rejected_dir`
//!   as `<name>.<sha16>`, nothing applied;
//! * undecodable, truncated, totals that disagree, or a batch we never sent → rejected with
//!   the error journaled, moved to `rejected_dir`, nothing applied (a rejected name may be
//!   re-delivered with corrected content);
//! * otherwise every row is checked against the payment's state (forward moves only) and the
//!   moves, the batch states, a row alert for every row not applied except exact repeats
//!   (see [`mod@crate::alerts`]) and the file record are journaled in **one** record, made
//!   durable, and only then is the file archived. A crash before the archive leaves the file
//!   in the inbox; the next scan finds its (name, SHA-256) and just archives it.
//!
//! No input file is ever destroyed: files are moved intact, never written over (see
//! `fsio::move_file`), and every file moved to `rejected_dir` gets a `<dest>.reason` text
//! beside it (written before the move, never over an existing file) naming the rule and the
//! error, so an operator sees why without the journal.
//!
//! What the bank says is never lost for its shape (bank-files.md §1.2/§1.3):
//! * a pain.002 `PmtInfSts RJCT` without transaction rows fails every payment of that payment
//!   information (rows are made for them: already failed ones are repeats, already paid or
//!   returned ones contradict it and raise [`IgnoreReason::Backward`] alerts); for a payment
//!   information never sent, one [`IgnoreReason::Unidentified`] alert;
//! * a row without `OrgnlEndToEndId` is matched by `OrgnlInstrId` (a payment of that id), else
//!   by its original transaction reference (creditor account, name, amount, among the
//!   batch's payments no other row names; a rejection's amount only tells several apart); no single match is an
//!   [`IgnoreReason::Unidentified`] alert;
//! * a row's amount that differs from its payment's stops a "paid" (or pending, accepted,
//!   returned) row ([`IgnoreReason::AmountMismatch`]); a "failed" row is applied all the same
//!   (nothing was paid) with the difference noted ([`IngestReport::amount_differences`],
//!   [`crate::state::PaymentState::bank_amount`]), its receipt carrying the payment's amount;
//! * rows without an amount under a declared total (camt.054 entry `Amt`, batch `TtlAmt`) are
//!   applied only if the total equals what their payments add up to, else
//!   [`IgnoreReason::EntryAmountMismatch`] and not marked paid;
//! * a return of a payment still pending or accepted is [`IgnoreReason::ReturnedUnpaid`]: the
//!   bank says it paid, the gateway never heard so.
//!
//! A receipt for a batch still journaled `rendered` (a crash mid-drop) makes the whole file
//! wait until [`crate::Outbox::recover`] has finished the drop, so no receipt is lost to a
//! payment that is not yet `sent`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use medsettle_bank::receipts::decode_named;
use medsettle_bank::{BankProfile, FileKind, ReceiptFile, ReceiptFormat, detect_format, trigger};
use medsettle_canonical::{Money, Receipt, ReceiptReason, ReceiptStatus};
use medsettle_store::{JournalRecord, StateWrite, Store};
use serde::Serialize;

use crate::alerts::{AlertRecord, file_conflict_key};
use crate::config::{FileDropConfig, FormatConfig};
use crate::error::{FileDropError, rule};
use crate::fsio::{
    TRIGGER_SUFFIX, is_hidden_or_tmp, list_names, move_file, read_opt, sha256_file, sha256_hex,
    write_new_atomic,
};
use crate::outbox::append_durable;
use crate::state::{
    BatchRecord, BatchState, IgnoreReason, InboxFileRecord, InboxOutcome, KIND_RECEIPT_ALERT,
    KIND_RECEIPT_FILE, KIND_RECEIPT_REJECTED, PaymentState, PaymentStatus, ReceiptRowAlert,
    SPACE_BATCH, SPACE_BATCH_STATE, SPACE_INBOX_ALERT, SPACE_INBOX_FILE, SPACE_INBOX_ROW_ALERT,
    SPACE_PAYMENT, get_json, to_json,
};
use crate::{Hook, Step, no_hook};

/// ISO reason codes of a whole-file rejection that mean "you sent this file before". Such a
/// rejection answers a harmless re-send, not the payments: failing them would invite a
/// re-payment (invariant 5), so it is recorded and otherwise ignored.
pub const DUPLICATE_FILE_REASONS: [&str; 2] = ["AM05", "DUPL"];

/// Most row alerts logged one line each per file: a file of a million wrong rows is one
/// problem, and every alert is in the store anyway.
const ROW_ALERT_LOG_LINES_MAX: usize = 100;

/// Suffix of the text file beside each file in `rejected_dir` that says why it is there
/// (`<name>.<sha16>.reason`: rule and error, one `key: value` per line).
pub const REASON_SUFFIX: &str = ".reason";

/// A receipt row reported but not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredReceipt {
    pub file_name: String,
    /// The row's index among the file's decoded rows, from 0.
    pub row_index: u64,
    pub receipt: Receipt,
    pub reason: IgnoreReason,
    /// The payment's status at the time, if it exists.
    pub current: Option<PaymentStatus>,
    /// How the row names its payment when not by id, or what a made-up row stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A row applied although its echoed amount differs from the payment's: only a rejection
/// (nothing was paid). The payment's state keeps the bank's amount
/// ([`crate::state::PaymentState::bank_amount`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmountDifference {
    pub file_name: String,
    pub row_index: u64,
    pub payment_id: String,
    pub status: ReceiptStatus,
    /// What the bank's row says (`0.00` is common for rejections).
    pub bank_amount: Money,
    pub payment_amount: Money,
}

/// A file moved to `rejected_dir` without applying anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    pub file_name: String,
    pub sha256: String,
    pub rule: String,
    pub error: String,
    pub moved_to: PathBuf,
}

/// A different file under a name already applied: an operator must look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub file_name: String,
    pub sha256: String,
    pub earlier_sha256: String,
    pub rule: &'static str,
    pub moved_to: PathBuf,
}

/// What one [`Inbox::scan_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Files applied (and archived) by this scan.
    pub files_applied: Vec<String>,
    /// Files already recorded with the same SHA-256: archived again, nothing applied.
    pub files_duplicate: Vec<String>,
    pub files_rejected: Vec<RejectedFile>,
    /// Files held back because their batch is not yet `dropped` (run `Outbox::recover`).
    pub files_deferred: Vec<String>,
    /// Files without a trigger, or whose trigger announces other bytes. They do not count
    /// against `files_per_scan_max`.
    pub files_waiting: Vec<String>,
    /// Of `files_waiting`, those whose trigger announces another name, size or SHA-256 (a
    /// re-delivery in progress, or a bad pair an operator should look at if it stays).
    pub files_trigger_mismatch: Vec<String>,
    pub alerts: Vec<Alert>,
    /// Rows that moved a payment forward, in application order: feed these to the settlement
    /// engine (daily aggregator, IS-D-6 policy; monthly settlement, IS-M-3).
    pub receipts_applied: Vec<Receipt>,
    pub receipts_ignored: Vec<IgnoredReceipt>,
    /// `receipts_ignored` counted by reason.
    pub ignored_by_reason: BTreeMap<IgnoreReason, u64>,
    /// Row alerts this scan journaled: every ignored row but exact repeats (a row whose alert
    /// an identical earlier file already raised is not raised again).
    pub row_alerts: Vec<AlertRecord>,
    /// Payments that became `pending`: query their status with the bank, never re-pay them.
    pub pending_queries: Vec<String>,
    /// Rejections applied although the amount they echo differs from the payment's.
    pub amount_differences: Vec<AmountDifference>,
}

impl IngestReport {
    /// Whether the scan found nothing to do.
    pub fn is_idle(&self) -> bool {
        self.files_applied.is_empty()
            && self.files_duplicate.is_empty()
            && self.files_rejected.is_empty()
            && self.alerts.is_empty()
    }
}

/// The receipt-file inbox. Stateless: everything lives in the store and the directories.
pub struct Inbox;

impl Inbox {
    /// One polling pass over `cfg.inbox_dir` (see the module docs). Call it every
    /// `poll_interval_ms`; it handles at most `files_per_scan_max` complete files (files that
    /// wait for their trigger, or for a trigger that matches them, do not count).
    pub fn scan_once(
        store: &dyn Store,
        cfg: &FileDropConfig,
    ) -> Result<IngestReport, FileDropError> {
        Self::scan_once_with_hook(store, cfg, &no_hook)
    }

    /// [`Inbox::scan_once`] calling `hook` after a file's record is durable
    /// ([`Step::ReceiptsApplied`]) and after it is archived ([`Step::Archived`]).
    pub fn scan_once_with_hook(
        store: &dyn Store,
        cfg: &FileDropConfig,
        hook: Hook<'_>,
    ) -> Result<IngestReport, FileDropError> {
        cfg.validate()?;
        let profile = receipt_profile(cfg)?;
        let names = list_names(&cfg.inbox_dir)?;
        let present: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mut report = IngestReport::default();
        let mut handled = 0usize;
        for name in &names {
            if is_hidden_or_tmp(name) {
                continue;
            }
            if let Some(data) = name.strip_suffix(TRIGGER_SUFFIX) {
                if !present.contains(data) {
                    tidy_orphan_trigger(store, cfg, data, name)?;
                }
                continue;
            }
            if !present.contains(format!("{name}{TRIGGER_SUFFIX}").as_str()) {
                report.files_waiting.push(name.clone());
                continue;
            }
            if handled >= cfg.files_per_scan_max {
                break;
            }
            if handle_file(store, cfg, &profile, name, hook, &mut report)? == Handled::Counted {
                handled += 1;
            }
        }
        Ok(report)
    }
}

/// The profile delimited return files are read with: the outbox's, else the built-in one.
fn receipt_profile(cfg: &FileDropConfig) -> Result<BankProfile, FileDropError> {
    match (&cfg.format, cfg.payment_format()?) {
        (FormatConfig::Delimited { .. }, medsettle_bank::PaymentFileFormat::Delimited(p)) => Ok(p),
        _ => Ok(BankProfile::default_gbk()),
    }
}

/// A trigger whose data file is gone: the crash came between moving the data file and
/// moving its trigger. Finish the move if the data file's record says where it went.
fn tidy_orphan_trigger(
    store: &dyn Store,
    cfg: &FileDropConfig,
    data_name: &str,
    trigger_name: &str,
) -> Result<(), FileDropError> {
    let Some(rec) = get_json::<InboxFileRecord>(store, SPACE_INBOX_FILE, data_name)? else {
        return Ok(()); // not ours to judge: the data file may still be on its way
    };
    let Some(bytes) = read_opt(&cfg.inbox_dir.join(trigger_name))? else {
        return Ok(());
    };
    // The trigger says which file it belonged to: the recorded one, or a conflicting one
    // whose move to `rejected_dir` was interrupted (its `.reason` was written before).
    let announced = trigger::parse(&bytes).ok().map(|t| t.sha256);
    let (dir, dest) = match announced {
        Some(sha) if sha == rec.sha256 => destination(cfg, &rec.outcome, data_name, &sha),
        Some(sha) => (
            cfg.rejected_dir.clone(),
            format!("{data_name}.{}", &sha[..16]),
        ),
        None => {
            let dest = format!("{data_name}.orphan");
            let why = format!(
                "file_name: {trigger_name}\nrule: {}\nerror: trigger without its data file, \
                 and unreadable, so it cannot say which file it announced\n",
                rule::TRIGGER_MATCHES
            );
            write_new_atomic(
                &cfg.rejected_dir,
                &format!("{dest}{REASON_SUFFIX}"),
                why.as_bytes(),
            )?;
            (cfg.rejected_dir.clone(), dest)
        }
    };
    move_file(
        &cfg.inbox_dir,
        trigger_name,
        &dir,
        &format!("{dest}{TRIGGER_SUFFIX}"),
    )?;
    Ok(())
}

/// Where a file with this outcome goes, and under which name.
fn destination(
    cfg: &FileDropConfig,
    outcome: &InboxOutcome,
    name: &str,
    sha: &str,
) -> (PathBuf, String) {
    match outcome {
        InboxOutcome::Applied { .. } => (cfg.archive_dir.clone(), name.to_owned()),
        InboxOutcome::Rejected { .. } | InboxOutcome::Conflict { .. } => {
            (cfg.rejected_dir.clone(), format!("{name}.{}", &sha[..16]))
        }
    }
}

/// Moves the file `rec` describes (and its trigger) where its outcome sends it; for
/// `rejected_dir`, first writes `<dest>.reason` beside where it will be. The reason comes
/// first so that a crash between the two leaves a reason waiting for its file (the next
/// scan moves the file and keeps the reason) rather than a file without its reason.
fn file_away(cfg: &FileDropConfig, rec: &InboxFileRecord) -> Result<PathBuf, FileDropError> {
    let (dir, dest) = destination(cfg, &rec.outcome, &rec.file_name, &rec.sha256);
    if let Some(text) = reason_text(rec) {
        write_new_atomic(&dir, &format!("{dest}{REASON_SUFFIX}"), text.as_bytes())?;
    }
    move_pair(&cfg.inbox_dir, &rec.file_name, &dir, &dest)
}

/// The `.reason` text of a file that is not applied; `None` for an applied one.
fn reason_text(rec: &InboxFileRecord) -> Option<String> {
    let (rule, error) = match &rec.outcome {
        InboxOutcome::Applied { .. } => return None,
        InboxOutcome::Rejected { rule, error } => (rule.as_str(), error.clone()),
        InboxOutcome::Conflict { earlier_sha256 } => (
            rule::RECEIPT_NAME_UNIQUE,
            format!(
                "a file with sha256 {earlier_sha256} was already applied under this name; \
                 nothing of this one was applied (alert raised)"
            ),
        ),
    };
    Some(format!(
        "file_name: {}\nsha256: {}\nrule: {rule}\nerror: {error}\n",
        rec.file_name, rec.sha256
    ))
}

/// Moves the data file, then its trigger. Data first: a leftover trigger is tidied by the
/// next scan, whereas a leftover data file without trigger would look incomplete forever.
/// Returns where the data file is now.
fn move_pair(from: &Path, name: &str, to: &Path, dest: &str) -> Result<PathBuf, FileDropError> {
    let moved = move_file(from, name, to, dest)?;
    move_file(
        from,
        &format!("{name}{TRIGGER_SUFFIX}"),
        to,
        &format!("{dest}{TRIGGER_SUFFIX}"),
    )?;
    Ok(moved.unwrap_or_else(|| to.join(dest)))
}

enum Verdict {
    Reject { rule: &'static str, error: String },
    Defer,
    // Boxed: a decoded file is large and the other verdicts are tiny.
    Apply(Box<Plan>),
}

struct Plan {
    file: ReceiptFile,
    writes: Vec<StateWrite>,
    applied: Vec<Receipt>,
    ignored: Vec<IgnoredReceipt>,
    /// One per ignored row that raises an alert (all but exact repeats), in row order.
    row_alerts: Vec<ReceiptRowAlert>,
    pending: Vec<String>,
    differences: Vec<AmountDifference>,
}

/// Whether a file used up one of the scan's `files_per_scan_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// A complete file: applied, duplicate, rejected, alerted or deferred.
    Counted,
    /// Waiting (no trigger, or a trigger announcing other bytes) or gone: looked at, not
    /// handled.
    NotCounted,
}

/// A file whose trigger announces another name, size or SHA-256 waits, untouched.
fn trigger_mismatch(report: &mut IngestReport, name: &str) -> Handled {
    report.files_waiting.push(name.to_owned());
    report.files_trigger_mismatch.push(name.to_owned());
    Handled::NotCounted
}

fn handle_file(
    store: &dyn Store,
    cfg: &FileDropConfig,
    profile: &BankProfile,
    name: &str,
    hook: Hook<'_>,
    report: &mut IngestReport,
) -> Result<Handled, FileDropError> {
    let inbox = &cfg.inbox_dir;
    let path = inbox.join(name);
    // A file bigger than we would decode is rejected unread (memory stays bounded).
    let len = std::fs::metadata(&path)
        .map_err(|e| FileDropError::io(&path, "stat", e))?
        .len();
    let Some(trig_bytes) = read_opt(&inbox.join(format!("{name}{TRIGGER_SUFFIX}")))? else {
        report.files_waiting.push(name.to_owned());
        return Ok(Handled::NotCounted);
    };
    // A trigger that cannot be read is the file's fault and rejects it (in `examine`); one
    // that reads but announces other bytes waits, at the cost of a `stat` when the size
    // differs, before anything else is done with the file.
    let announced = trigger::parse(&trig_bytes).ok();
    if announced
        .as_ref()
        .is_some_and(|t| t.file_name != name || t.size_bytes != len)
    {
        return Ok(trigger_mismatch(report, name));
    }
    let (data, sha) = if len > cfg.receipt_bytes_max as u64 {
        (None, sha256_file(&path)?)
    } else {
        match read_opt(&path)? {
            Some(d) => {
                let sha = sha256_hex(&d);
                (Some(d), sha)
            }
            None => return Ok(Handled::NotCounted), // moved away between listing and reading
        }
    };
    if announced.as_ref().is_some_and(|t| t.sha256 != sha) {
        return Ok(trigger_mismatch(report, name));
    }
    let prior: Option<InboxFileRecord> = get_json(store, SPACE_INBOX_FILE, name)?;
    if let Some(prior) = &prior {
        if prior.sha256 == sha {
            // Seen before (maybe the crash came before the archive): archive, nothing else.
            file_away(cfg, prior)?;
            report.files_duplicate.push(name.to_owned());
            return Ok(Handled::Counted);
        }
        if let InboxOutcome::Applied { .. } = prior.outcome {
            alert(store, cfg, name, &sha, &prior.sha256, report)?;
            return Ok(Handled::Counted);
        }
        // An earlier, rejected file under this name: a corrected re-delivery is processed.
    }
    let verdict = match data {
        None => Verdict::Reject {
            rule: rule::RECEIPT_DECODES,
            error: format!(
                "file is {len} bytes, more than receipt_bytes_max {}",
                cfg.receipt_bytes_max
            ),
        },
        Some(d) => examine(store, cfg, profile, name, &sha, &d, &trig_bytes)?,
    };
    match verdict {
        Verdict::Defer => report.files_deferred.push(name.to_owned()),
        Verdict::Reject { rule, error } => reject(store, cfg, name, sha, rule, error, report)?,
        Verdict::Apply(plan) => apply(store, cfg, name, sha, *plan, hook, report)?,
    }
    Ok(Handled::Counted)
}

/// Journals the rejection, then moves the file (and trigger) to `rejected_dir` with its
/// `.reason`. Nothing of the file is applied.
fn reject(
    store: &dyn Store,
    cfg: &FileDropConfig,
    name: &str,
    sha: String,
    rule: &'static str,
    error: String,
    report: &mut IngestReport,
) -> Result<(), FileDropError> {
    let rec = InboxFileRecord {
        file_name: name.to_owned(),
        sha256: sha.clone(),
        outcome: InboxOutcome::Rejected {
            rule: rule.to_owned(),
            error: error.clone(),
        },
    };
    let json = to_json(&rec);
    append_durable(
        store,
        JournalRecord::new(KIND_RECEIPT_REJECTED, json.clone()).with_write(StateWrite::put(
            SPACE_INBOX_FILE,
            name,
            json,
        )),
        name,
    )?;
    tracing::warn!(file = name, rule, error = %error, "receipt file rejected");
    let moved_to = file_away(cfg, &rec)?;
    report.files_rejected.push(RejectedFile {
        file_name: name.to_owned(),
        sha256: sha,
        rule: rule.to_owned(),
        error,
        moved_to,
    });
    Ok(())
}

/// Journals the plan (payment moves, batch states, row alerts, the file record) in one
/// durable record, then archives the file.
fn apply(
    store: &dyn Store,
    cfg: &FileDropConfig,
    name: &str,
    sha: String,
    plan: Plan,
    hook: Hook<'_>,
    report: &mut IngestReport,
) -> Result<(), FileDropError> {
    let mut by_reason: BTreeMap<IgnoreReason, u64> = BTreeMap::new();
    for i in &plan.ignored {
        *by_reason.entry(i.reason).or_default() += 1;
    }
    let rec = InboxFileRecord {
        file_name: name.to_owned(),
        sha256: sha,
        outcome: InboxOutcome::Applied {
            applied: plan.applied.len() as u64,
            ignored: plan.ignored.len() as u64,
            ignored_by_reason: by_reason.clone(),
            amount_differences: plan.differences.len() as u64,
        },
    };
    let json = to_json(&rec);
    let mut jr = JournalRecord::new(KIND_RECEIPT_FILE, json.clone());
    jr.state_writes = plan.writes;
    for a in &plan.row_alerts {
        let key = ReceiptRowAlert::key(&a.file_sha256, a.row_index);
        jr.state_writes.push(StateWrite::put(
            SPACE_INBOX_ROW_ALERT,
            key.as_str(),
            to_json(a),
        ));
    }
    jr.state_writes
        .push(StateWrite::put(SPACE_INBOX_FILE, name, json));
    append_durable(store, jr, name)?;
    hook(Step::ReceiptsApplied)?;
    tracing::info!(
        file = name,
        file_id = %plan.file.file_id,
        applied = plan.applied.len(),
        ignored = plan.ignored.len(),
        row_alerts = plan.row_alerts.len(),
        "receipt file applied"
    );
    for a in plan.row_alerts.iter().take(ROW_ALERT_LOG_LINES_MAX) {
        tracing::error!(
            file = name,
            row = a.row_index,
            payment = %a.payment_id,
            reason = a.reason.as_str(),
            rule = %a.rule,
            "receipt row not applied; alert raised"
        );
    }
    for n in &plan.file.notes {
        tracing::warn!(file = name, note = %n, "receipt file read with a tolerated disagreement");
    }
    for d in plan.differences.iter().take(ROW_ALERT_LOG_LINES_MAX) {
        tracing::warn!(
            file = name,
            row = d.row_index,
            payment = %d.payment_id,
            bank_amount = %d.bank_amount,
            payment_amount = %d.payment_amount,
            "rejection applied; the amount it echoes differs from the payment's"
        );
    }
    if plan.row_alerts.len() > ROW_ALERT_LOG_LINES_MAX {
        tracing::error!(
            file = name,
            row_alerts = plan.row_alerts.len(),
            logged = ROW_ALERT_LOG_LINES_MAX,
            "more receipt rows not applied; every one is an alert (see `bank status`)"
        );
    }
    move_pair(&cfg.inbox_dir, name, &cfg.archive_dir, name)?;
    hook(Step::Archived)?;
    report.files_applied.push(name.to_owned());
    report.receipts_applied.extend(plan.applied);
    report.receipts_ignored.extend(plan.ignored);
    for (reason, n) in by_reason {
        *report.ignored_by_reason.entry(reason).or_default() += n;
    }
    report
        .row_alerts
        .extend(plan.row_alerts.iter().map(AlertRecord::from_row));
    report.pending_queries.extend(plan.pending);
    report.amount_differences.extend(plan.differences);
    Ok(())
}

fn alert(
    store: &dyn Store,
    cfg: &FileDropConfig,
    name: &str,
    sha: &str,
    earlier: &str,
    report: &mut IngestReport,
) -> Result<(), FileDropError> {
    let key = file_conflict_key(name, sha);
    let rec = InboxFileRecord {
        file_name: name.to_owned(),
        sha256: sha.to_owned(),
        outcome: InboxOutcome::Conflict {
            earlier_sha256: earlier.to_owned(),
        },
    };
    // Journal the alert once, even if the move below is interrupted and we come back.
    if get_json::<InboxFileRecord>(store, SPACE_INBOX_ALERT, &key)?.is_none() {
        let json = to_json(&rec);
        append_durable(
            store,
            JournalRecord::new(KIND_RECEIPT_ALERT, json.clone()).with_write(StateWrite::put(
                SPACE_INBOX_ALERT,
                key.as_str(),
                json,
            )),
            name,
        )?;
    }
    tracing::error!(
        file = name,
        sha256 = sha,
        earlier_sha256 = earlier,
        rule = rule::RECEIPT_NAME_UNIQUE,
        "different receipt file under a name already applied; not applied"
    );
    let moved_to = file_away(cfg, &rec)?;
    report.alerts.push(Alert {
        file_name: name.to_owned(),
        sha256: sha.to_owned(),
        earlier_sha256: earlier.to_owned(),
        rule: rule::RECEIPT_NAME_UNIQUE,
        moved_to,
    });
    Ok(())
}

/// Decides what to do with a complete file without changing anything.
fn examine(
    store: &dyn Store,
    cfg: &FileDropConfig,
    profile: &BankProfile,
    name: &str,
    sha: &str,
    data: &[u8],
    trig_bytes: &[u8],
) -> Result<Verdict, FileDropError> {
    let reject = |rule: &'static str, error: String| Ok(Verdict::Reject { rule, error });
    let trig = match trigger::parse(trig_bytes) {
        Ok(t) => t,
        Err(e) => return reject(rule::TRIGGER_MATCHES, format!("trigger: {e}")),
    };
    // A trigger announcing other bytes was sent to wait before (see `handle_file`).
    assert!(
        trig.file_name == name && trig.size_bytes == data.len() as u64 && trig.sha256 == sha,
        "examine is only given files their trigger announces"
    );
    let format = match detect_format(data) {
        Some(FileKind::Pain002) => ReceiptFormat::Pain002,
        Some(FileKind::Camt054) => ReceiptFormat::Camt054,
        Some(FileKind::Delimited) => ReceiptFormat::GbkReturn(profile.clone()),
        Some(FileKind::Pain001) | None => {
            return reject(
                rule::RECEIPT_DECODES,
                "not a receipt file (pain.002, camt.054 or a delimited return file)".into(),
            );
        }
    };
    let mut file = match decode_named(name, data, &format, &cfg.decode_limits()) {
        Ok(f) => f,
        Err(e) => return reject(rule::RECEIPT_DECODES, e.to_string()),
    };
    if trig.count != file.totals.row_count || trig.control_sum != file.totals.row_sum {
        return reject(
            rule::TRIGGER_MATCHES,
            format!(
                "trigger announces {} rows / {}, file has {} rows / {}",
                trig.count, trig.control_sum, file.totals.row_count, file.totals.row_sum
            ),
        );
    }
    let mut batch_states: HashMap<String, Option<BatchState>> = HashMap::new();
    let mut batch_state = |id: &str| -> Result<Option<BatchState>, FileDropError> {
        if let Some(s) = batch_states.get(id) {
            return Ok(*s);
        }
        let s = get_json::<BatchState>(store, SPACE_BATCH_STATE, id)?;
        batch_states.insert(id.to_owned(), s);
        Ok(s)
    };
    if let Some(orig) = file.original_file_id.clone() {
        match batch_state(&orig)? {
            None => {
                return reject(
                    rule::KNOWN_BATCH,
                    format!("answers file {orig}, which the gateway never sent"),
                );
            }
            Some(BatchState::Rendered) => return Ok(Verdict::Defer),
            Some(_) => {}
        }
    }
    // How made-up and unnamed rows are referred to in alerts, by row index.
    let mut references: BTreeMap<u64, String> = BTreeMap::new();
    if let Some(orig) = file.original_file_id.clone() {
        let batch = get_json::<BatchRecord>(store, SPACE_BATCH, &orig)?;
        identify_rows(store, &mut file, batch.as_ref(), &mut references)?;
        let extra = statuses_without_rows(&file, &orig, batch.as_ref(), &mut references);
        file.rows.extend(extra);
    } else {
        identify_rows(store, &mut file, None, &mut references)?;
    }
    let entry_bad = failed_amount_checks(store, &file, &mut references)?;

    let mut current: BTreeMap<String, PaymentState> = BTreeMap::new();
    let mut applied = Vec::new();
    let mut ignored = Vec::new();
    let mut pending = Vec::new();
    let mut differences = Vec::new();
    let mut touched_batches = BTreeSet::new();
    for (row_index, row) in (0u64..).zip(&file.rows) {
        let row_batch = row
            .batch_id
            .clone()
            .or_else(|| file.original_file_id.clone());
        let state = match current.get(&row.payment_id) {
            Some(s) => Some(s.clone()),
            None => get_json::<PaymentState>(store, SPACE_PAYMENT, &row.payment_id)?,
        };
        let ignore = |reason, cur| IgnoredReceipt {
            file_name: name.to_owned(),
            row_index,
            receipt: row.clone(),
            reason,
            current: cur,
            reference: references.get(&row_index).cloned(),
        };
        if row.payment_id.is_empty() {
            ignored.push((ignore(IgnoreReason::Unidentified, None), None));
            continue;
        }
        let Some(mut st) = state else {
            if let Some(b) = &row_batch
                && batch_state(b)? == Some(BatchState::Rendered)
            {
                return Ok(Verdict::Defer);
            }
            ignored.push((ignore(IgnoreReason::UnknownPayment, None), None));
            continue;
        };
        if row_batch.as_ref().is_some_and(|b| *b != st.batch_id) {
            ignored.push((ignore(IgnoreReason::WrongBatch, Some(st.status)), Some(st)));
            continue;
        }
        // The amount check protects "paid": a rejection echoing another amount (often 0.00)
        // is still a rejection, applied with the difference noted.
        let bank_amount = row.amount.filter(|a| *a != st.amount);
        if bank_amount.is_some() && row.status != ReceiptStatus::Failed {
            ignored.push((
                ignore(IgnoreReason::AmountMismatch, Some(st.status)),
                Some(st),
            ));
            continue;
        }
        if entry_bad.contains(&row_index) {
            ignored.push((
                ignore(IgnoreReason::EntryAmountMismatch, Some(st.status)),
                Some(st),
            ));
            continue;
        }
        if !st.status.advances_to(row.status) {
            let reason = if st.status == PaymentStatus::from_receipt(row.status) {
                IgnoreReason::Repeated
            } else if row.status == ReceiptStatus::Returned
                && matches!(st.status, PaymentStatus::Pending | PaymentStatus::Accepted)
            {
                IgnoreReason::ReturnedUnpaid
            } else {
                IgnoreReason::Backward
            };
            ignored.push((ignore(reason, Some(st.status)), Some(st)));
            continue;
        }
        let mut row = row.clone();
        if let Some(a) = bank_amount {
            differences.push(AmountDifference {
                file_name: name.to_owned(),
                row_index,
                payment_id: row.payment_id.clone(),
                status: row.status,
                bank_amount: a,
                payment_amount: st.amount,
            });
            // Downstream (engine, ledger) sees the payment's amount: what failed.
            row.amount = Some(st.amount);
        }
        st.bank_amount = bank_amount;
        st.status = PaymentStatus::from_receipt(row.status);
        st.receipt = Some(row.clone());
        st.receipt_file = Some(name.to_owned());
        if row.status == ReceiptStatus::Pending {
            pending.push(row.payment_id.clone());
        }
        touched_batches.insert(st.batch_id.clone());
        current.insert(row.payment_id.clone(), st);
        applied.push(row);
    }
    let row_alerts = row_alerts(store, sha, file.original_file_id.as_deref(), &ignored)?;
    let ignored = ignored.into_iter().map(|(i, _)| i).collect();
    let mut writes: Vec<StateWrite> = current
        .iter()
        .map(|(id, st)| StateWrite::put(SPACE_PAYMENT, id.as_str(), to_json(st)))
        .collect();
    for b in touched_batches {
        if batch_state(&b)? == Some(BatchState::Dropped) {
            writes.push(StateWrite::put(
                SPACE_BATCH_STATE,
                b.as_str(),
                to_json(&BatchState::Acknowledged),
            ));
        }
    }
    Ok(Verdict::Apply(Box::new(Plan {
        file,
        writes,
        applied,
        ignored,
        row_alerts,
        pending,
        differences,
    })))
}

/// Finds the payment of every row that names none (pain.002 without `OrgnlEndToEndId`): a
/// payment whose id is the row's `OrgnlInstrId`, else the one payment of the batch whose
/// creditor account, name (if given) and amount (if given; for a rejection only to tell
/// several apart) match the original transaction reference. A payment another row of the
/// file already names is never matched again. Rows left unmatched keep their empty id (an
/// [`IgnoreReason::Unidentified`] alert).
fn identify_rows(
    store: &dyn Store,
    file: &mut ReceiptFile,
    batch: Option<&BatchRecord>,
    references: &mut BTreeMap<u64, String>,
) -> Result<(), FileDropError> {
    if file.unidentified.is_empty() {
        return Ok(());
    }
    let mut claimed: BTreeSet<String> = (file.rows.iter())
        .filter(|r| !r.payment_id.is_empty())
        .map(|r| r.payment_id.clone())
        .collect();
    for ident in std::mem::take(&mut file.unidentified) {
        let Some(row) = file.rows.get(ident.row) else {
            continue;
        };
        references.insert(ident.row as u64, ident.describe());
        let by_instr = match ident.instr_id.as_deref() {
            Some(id)
                if !claimed.contains(id)
                    && get_json::<PaymentState>(store, SPACE_PAYMENT, id)?.is_some() =>
            {
                Some(id.to_owned())
            }
            _ => None,
        };
        let found = by_instr.or_else(|| {
            let acct = ident.creditor_account.as_deref()?;
            let mut c: Vec<_> = (batch?.batch.payments.iter())
                .filter(|p| p.payee.account == acct && !claimed.contains(&p.payment_id))
                .collect();
            if let Some(n) = &ident.creditor_name {
                c.retain(|p| p.payee.name == *n);
            }
            // The amount must match, except for a rejection (which may echo 0.00), where it
            // only tells apart payments to the same creditor.
            if let Some(a) = row.amount
                && (c.len() > 1 || row.status != ReceiptStatus::Failed)
            {
                c.retain(|p| p.amount == a);
            }
            (c.len() == 1).then(|| c[0].payment_id.clone())
        });
        if let Some(id) = found {
            tracing::info!(file_id = %file.file_id, row = ident.row, payment = %id,
                reference = %ident.describe(), "receipt row without payment id matched");
            claimed.insert(id.clone());
            file.rows[ident.row].payment_id = id;
        }
        file.unidentified.push(ident);
    }
    Ok(())
}

/// Rows for statuses given without transaction rows: a pain.002 group-only report (see
/// [`whole_file_rejection`]) or a `PmtInfSts RJCT` without `TxInfAndSts`, which fails every
/// payment of that payment information (the gateway's PmtInfId is its batch id). A
/// payment-information status for a payment information never sent becomes one row without
/// payment id (an [`IgnoreReason::Unidentified`] alert). Appended after the decoded rows.
fn statuses_without_rows(
    file: &ReceiptFile,
    batch_id: &str,
    batch: Option<&BatchRecord>,
    references: &mut BTreeMap<u64, String>,
) -> Vec<Receipt> {
    if file.payment_infos.iter().all(|p| p.code.is_none()) {
        return if file.rows.is_empty() {
            whole_file_rejection(file, batch_id, batch)
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    for p in &file.payment_infos {
        if p.rows > 0 || p.code.as_deref() != Some("RJCT") {
            continue;
        }
        if is_duplicate_file_reason(p.reason.as_ref()) {
            tracing::warn!(file_id = %file.file_id, pmt_inf = %p.pmt_inf_id,
                "bank rejected a re-sent payment information as a duplicate; payments unchanged");
            continue;
        }
        match batch.filter(|b| b.batch.batch_id == p.pmt_inf_id) {
            Some(b) => out.extend(failed_rows(b, batch_id, p.reason.as_ref())),
            None => {
                let index = (file.rows.len() + out.len()) as u64;
                references.insert(
                    index,
                    format!(
                        "OrgnlPmtInfId={} (PmtInfSts RJCT without transactions): the gateway \
                         sent no such payment information in batch {batch_id}",
                        p.pmt_inf_id
                    ),
                );
                out.push(Receipt {
                    payment_id: String::new(),
                    batch_id: Some(batch_id.to_owned()),
                    status: ReceiptStatus::Failed,
                    amount: p.declared_sum,
                    bank_reference: None,
                    value_date: None,
                    reason: p.reason.clone(),
                });
            }
        }
    }
    out
}

/// The rows (by index) whose declared total does not hold: rows without an amount under an
/// entry `Amt` / batch `TtlAmt` that differs from what their payments add up to (or that
/// cannot be checked: a payment unknown, another transaction without amount).
fn failed_amount_checks(
    store: &dyn Store,
    file: &ReceiptFile,
    references: &mut BTreeMap<u64, String>,
) -> Result<BTreeSet<u64>, FileDropError> {
    let mut bad = BTreeSet::new();
    for c in &file.amount_checks {
        let mut total = c.others_known;
        let mut checkable = c.others_unknown == 0;
        for &i in &c.rows {
            let Some(r) = file.rows.get(i) else { continue };
            match r.amount {
                Some(a) => total += a,
                None => match get_json::<PaymentState>(store, SPACE_PAYMENT, &r.payment_id)? {
                    Some(st) => total += st.amount,
                    None => checkable = false,
                },
            }
        }
        if checkable && total == c.declared {
            continue;
        }
        let why = if checkable {
            format!(
                "{}: declared {}, its payments add up to {total}",
                c.location, c.declared
            )
        } else {
            format!(
                "{}: declared {}, cannot be checked (a payment unknown or a transaction \
                 without amount)",
                c.location, c.declared
            )
        };
        for &i in &c.rows {
            if file.rows.get(i).is_some_and(|r| r.amount.is_none()) {
                references.entry(i as u64).or_insert_with(|| why.clone());
                bad.insert(i as u64);
            }
        }
    }
    Ok(bad)
}

/// The alerts the ignored rows raise (each with the payment's state when it was read): all
/// but exact repeats, and none whose key an earlier file with these very bytes (under
/// another name) already holds, so that an alert is raised once per row of a bank message.
fn row_alerts(
    store: &dyn Store,
    sha: &str,
    original_file_id: Option<&str>,
    ignored: &[(IgnoredReceipt, Option<PaymentState>)],
) -> Result<Vec<ReceiptRowAlert>, FileDropError> {
    let mut out = Vec::new();
    for (i, st) in ignored {
        let Some(rule) = i.reason.alert_rule() else {
            continue;
        };
        let key = ReceiptRowAlert::key(sha, i.row_index);
        if get_json::<ReceiptRowAlert>(store, SPACE_INBOX_ROW_ALERT, &key)?.is_some() {
            continue;
        }
        out.push(ReceiptRowAlert {
            file_name: i.file_name.clone(),
            file_sha256: sha.to_owned(),
            row_index: i.row_index,
            payment_id: i.receipt.payment_id.clone(),
            reason: i.reason,
            row_reference: i.reference.clone(),
            rule: rule.to_owned(),
            row_status: i.receipt.status,
            row_batch_id: (i.receipt.batch_id.as_deref())
                .or(original_file_id)
                .map(str::to_owned),
            row_amount: i.receipt.amount,
            payment_status: st.as_ref().map(|s| s.status),
            payment_batch_id: st.as_ref().map(|s| s.batch_id.clone()),
            payment_amount: st.as_ref().map(|s| s.amount),
        });
    }
    Ok(out)
}

fn is_duplicate_file_reason(reason: Option<&ReceiptReason>) -> bool {
    reason
        .and_then(|r| r.iso_code.as_deref())
        .is_some_and(|c| DUPLICATE_FILE_REASONS.contains(&c))
}

/// Every payment of `batch`, failed with `reason`.
fn failed_rows(
    batch: &BatchRecord,
    batch_id: &str,
    reason: Option<&ReceiptReason>,
) -> Vec<Receipt> {
    (batch.batch.payments.iter())
        .map(|p| Receipt {
            payment_id: p.payment_id.clone(),
            batch_id: Some(batch_id.to_owned()),
            status: ReceiptStatus::Failed,
            amount: Some(p.amount),
            bank_reference: None,
            value_date: None,
            reason: reason.cloned(),
        })
        .collect()
}

/// A group-only report (pain.002 `GrpSts` without rows): `RJCT` fails every payment of the
/// batch, except for a duplicate-file rejection, which answers a re-send and changes nothing.
fn whole_file_rejection(
    file: &ReceiptFile,
    batch_id: &str,
    batch: Option<&BatchRecord>,
) -> Vec<Receipt> {
    let Some(group) = &file.group_status else {
        return Vec::new();
    };
    if group.code != "RJCT" {
        return Vec::new();
    }
    if is_duplicate_file_reason(group.reason.as_ref()) {
        tracing::warn!(file_id = %file.file_id, batch = batch_id,
            "bank rejected a re-sent file as a duplicate; payments unchanged");
        return Vec::new();
    }
    batch
        .map(|b| failed_rows(b, batch_id, group.reason.as_ref()))
        .unwrap_or_default()
}
