//! The outbox: an approved batch becomes one payment file plus its `.ok` trigger, durably,
//! exactly once per batch id (bank-files.md §4, DESIGN.md §3 invariants 2, 4, 5).
//!
//! Order of effects, each durable before the next:
//! 1. journal `bank.batch.rendered` (the whole batch, file name, file SHA-256) — before any
//!    file exists, so every file in the outbox is explained by the journal;
//! 2. data file: temp (create_new) → fsync → rename → fsync directory;
//! 3. trigger `<name>.ok` the same way (the bank takes a file only once its trigger exists);
//! 4. journal `bank.batch.dropped` with every payment `sent`.
//!
//! Re-running after a crash anywhere re-renders (deterministic), checks the bytes against the
//! journaled SHA-256 and an existing file against them, and finishes the missing steps. A
//! different file under the name is an error, never overwritten: at most one file per batch.

use std::path::PathBuf;
use std::sync::Mutex;

use medsettle_bank::{PaymentFileFormat, TriggerFile, delimited, pain001, trigger};
use medsettle_canonical::{Money, PaymentBatch};
use medsettle_store::{JournalRecord, StateWrite, Store};
use serde::Serialize;

use crate::config::FileDropConfig;
use crate::error::{FileDropError, rule};
use crate::fsio::{
    TMP_SUFFIX, TRIGGER_SUFFIX, ensure_dir, read_opt, remove_stale_tmp, sha256_hex, sync_dir,
    write_atomic,
};
use crate::state::{
    BatchRecord, BatchState, KIND_BATCH_DROPPED, KIND_BATCH_RENDERED, PaymentState, PaymentStatus,
    SPACE_BATCH, SPACE_BATCH_STATE, SPACE_OUTBOX_NAME, SPACE_PAYMENT, get_json, scan_json, to_json,
};
use crate::{Hook, Step, no_hook};

/// Longest outbox file name we produce (common filesystems allow 255 bytes; leave room for
/// the trigger suffix and temp names).
pub const FILE_NAME_BYTES_MAX: usize = 200;
/// Highest `{seq}` tried for a delimited file name template (it is printed with 4 digits).
pub const DELIMITED_SEQ_MAX: u16 = 9_999;

/// One process drops one batch at a time: the "check, then rename" of the outbox and the
/// journal's state checks assume a single writer per store (a second gateway process on the
/// same store is excluded by the store's own lock).
static OUTBOX_LOCK: Mutex<()> = Mutex::new(());

/// What [`Outbox::drop_batch`] did (or had done, for a batch already dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropReport {
    pub batch_id: String,
    pub file_path: PathBuf,
    pub trigger_path: PathBuf,
    /// Lowercase hex SHA-256 of the payment file.
    pub sha256: String,
    pub bytes: u64,
    pub count: u64,
    pub control_sum: Money,
    pub state: BatchState,
    /// True when the batch was already dropped and nothing was done.
    pub already_dropped: bool,
}

/// The payment-file outbox. Stateless: everything lives in the store and the directory.
pub struct Outbox;

impl Outbox {
    /// Drops `batch` into `cfg.outbox_dir` (see the module docs). Idempotent: a batch already
    /// dropped is a no-op returning its report; a batch interrupted by a crash is finished.
    pub fn drop_batch(
        store: &dyn Store,
        cfg: &FileDropConfig,
        batch: &PaymentBatch,
    ) -> Result<DropReport, FileDropError> {
        Self::drop_batch_with_hook(store, cfg, batch, &no_hook)
    }

    /// [`Outbox::drop_batch`] calling `hook` after each durable step; a hook returning an
    /// error stops there, which is how tests simulate a crash at every step.
    pub fn drop_batch_with_hook(
        store: &dyn Store,
        cfg: &FileDropConfig,
        batch: &PaymentBatch,
        hook: Hook<'_>,
    ) -> Result<DropReport, FileDropError> {
        let _guard = OUTBOX_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let format = cfg.payment_format()?;
        let bid = batch.batch_id.as_str();
        check_plain_name(bid, bid)?;
        let batch_sha = sha256_hex(&to_json(batch));
        let existing: Option<BatchRecord> = get_json(store, SPACE_BATCH, bid)?;
        let record = match existing {
            Some(rec) => {
                if rec.batch_sha256 != batch_sha {
                    return Err(FileDropError::BatchConflict {
                        batch_id: bid.to_owned(),
                        stored_sha256: rec.batch_sha256,
                        new_sha256: batch_sha,
                    });
                }
                let state: Option<BatchState> = get_json(store, SPACE_BATCH_STATE, bid)?;
                if let Some(s @ (BatchState::Dropped | BatchState::Acknowledged)) = state {
                    return Ok(report(cfg, &rec, s, true));
                }
                rec
            }
            None => journal_rendered(store, cfg, &format, batch, batch_sha)?,
        };
        hook(Step::RenderedJournaled)?;

        // Re-render (deterministic) rather than trusting anything on disk.
        let bytes = render(cfg, &format, batch)?;
        let sha = sha256_hex(&bytes);
        if sha != record.file_sha256 {
            return Err(FileDropError::RenderChanged {
                batch_id: bid.to_owned(),
                file_name: record.file_name.clone(),
                journaled_sha256: record.file_sha256.clone(),
                now_sha256: sha,
            });
        }
        ensure_dir(&cfg.outbox_dir)?;
        put_file(
            cfg,
            bid,
            &record.file_name,
            &bytes,
            hook,
            Step::DataTmpWritten,
        )?;
        hook(Step::DataRenamed)?;

        let trig =
            TriggerFile::for_file(&record.file_name, &bytes, record.count, record.control_sum);
        let trig_bytes = trigger::render(&trig).map_err(|e| FileDropError::Bank {
            file: record.trigger_name.clone(),
            source: Box::new(e),
        })?;
        put_file(
            cfg,
            bid,
            &record.trigger_name,
            &trig_bytes,
            hook,
            Step::TriggerTmpWritten,
        )?;
        hook(Step::TriggerWritten)?;

        let mut rec = JournalRecord::new(KIND_BATCH_DROPPED, bid.as_bytes().to_vec()).with_write(
            StateWrite::put(SPACE_BATCH_STATE, bid, to_json(&BatchState::Dropped)),
        );
        for p in &batch.payments {
            let st = PaymentState {
                batch_id: bid.to_owned(),
                amount: p.amount,
                status: PaymentStatus::Sent,
                receipt: None,
                receipt_file: None,
                bank_amount: None,
            };
            rec = rec.with_write(StateWrite::put(
                SPACE_PAYMENT,
                p.payment_id.as_str(),
                to_json(&st),
            ));
        }
        append_durable(store, rec, bid)?;
        hook(Step::DroppedJournaled)?;
        tracing::info!(batch = bid, file = %record.file_name, sha256 = %record.file_sha256, "batch dropped");
        Ok(report(cfg, &record, BatchState::Dropped, false))
    }

    /// Finishes every batch journaled `rendered` but not `dropped` (a crash mid-drop). Run it
    /// at startup, before the inbox: the inbox holds back receipts for such batches.
    pub fn recover(
        store: &dyn Store,
        cfg: &FileDropConfig,
    ) -> Result<Vec<DropReport>, FileDropError> {
        let mut out = Vec::new();
        for (id, rec) in scan_json::<BatchRecord>(store, SPACE_BATCH)? {
            let state: Option<BatchState> = get_json(store, SPACE_BATCH_STATE, &id)?;
            if state == Some(BatchState::Rendered) {
                out.push(Self::drop_batch(store, cfg, &rec.batch)?);
            }
        }
        Ok(out)
    }
}

fn report(cfg: &FileDropConfig, rec: &BatchRecord, state: BatchState, already: bool) -> DropReport {
    DropReport {
        batch_id: rec.batch.batch_id.clone(),
        file_path: cfg.outbox_dir.join(&rec.file_name),
        trigger_path: cfg.outbox_dir.join(&rec.trigger_name),
        sha256: rec.file_sha256.clone(),
        bytes: rec.bytes,
        count: rec.count,
        control_sum: rec.control_sum,
        state,
        already_dropped: already,
    }
}

pub(crate) fn append_durable(
    store: &dyn Store,
    rec: JournalRecord,
    what: &str,
) -> Result<(), FileDropError> {
    let kind = rec.kind.clone();
    let appended = store
        .append(rec)
        .map_err(|e| FileDropError::store(format!("append {kind} for {what}"), e))?;
    store
        .wait_durable_blocking(appended.ticket)
        .map_err(|e| FileDropError::store(format!("wait durable {kind} for {what}"), e))
}

fn render(
    cfg: &FileDropConfig,
    format: &PaymentFileFormat,
    batch: &PaymentBatch,
) -> Result<Vec<u8>, FileDropError> {
    let r = match format {
        PaymentFileFormat::Pain001 => pain001::encode(batch, &cfg.pain001_options()),
        PaymentFileFormat::Delimited(p) => delimited::encode(batch, p),
    };
    r.map_err(|e| FileDropError::Bank {
        file: batch.batch_id.clone(),
        source: Box::new(e),
    })
}

pub(crate) fn format_label(format: &PaymentFileFormat) -> String {
    match format {
        PaymentFileFormat::Pain001 => "pain001".to_owned(),
        PaymentFileFormat::Delimited(p) => format!("delimited:{}", p.name),
    }
}

/// A name we may create in a shared directory: no path parts, not hidden, not one of our
/// in-flight suffixes.
fn check_plain_name(batch_id: &str, name: &str) -> Result<(), FileDropError> {
    let ok = !name.is_empty()
        && name.len() <= FILE_NAME_BYTES_MAX
        && !name.starts_with('.')
        && !name.ends_with(TMP_SUFFIX)
        && !name.ends_with(TRIGGER_SUFFIX)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FileDropError::InvalidBatch {
            batch_id: batch_id.to_owned(),
            rule: rule::FILE_NAME,
            detail: format!(
                "{name:?} is not a plain file name (1..={FILE_NAME_BYTES_MAX} of A-Z a-z 0-9 - _ ., not hidden, not .tmp/.ok)"
            ),
        })
    }
}

/// Picks the outbox file name for a new batch: `<batch_id>.xml` for pain.001; the profile's
/// template for delimited files, with the lowest `{seq}` no other batch holds.
fn choose_file_name(
    store: &dyn Store,
    format: &PaymentFileFormat,
    batch: &PaymentBatch,
) -> Result<String, FileDropError> {
    let bid = batch.batch_id.as_str();
    let candidates: Box<dyn Iterator<Item = String>> = match format {
        PaymentFileFormat::Pain001 => Box::new(std::iter::once(format!("{bid}.xml"))),
        PaymentFileFormat::Delimited(p) => {
            let varies = delimited::file_name(batch, p, 1) != delimited::file_name(batch, p, 2);
            let last = if varies { DELIMITED_SEQ_MAX } else { 1 };
            Box::new((1..=last).map(move |seq| delimited::file_name(batch, p, seq)))
        }
    };
    let mut taken_by = String::new();
    for name in candidates {
        match get_json::<String>(store, SPACE_OUTBOX_NAME, &name)? {
            None => {
                check_plain_name(bid, &name)?;
                return Ok(name);
            }
            Some(owner) if owner == bid => return Ok(name),
            Some(owner) => taken_by = owner,
        }
    }
    Err(FileDropError::FileNameConflict {
        batch_id: bid.to_owned(),
        file_name: match format {
            PaymentFileFormat::Pain001 => format!("{bid}.xml"),
            PaymentFileFormat::Delimited(p) => p.payment.file_name.clone(),
        },
        other_batch_id: taken_by,
    })
}

/// Step 1: everything checked, then the batch and its file's hash journaled durably.
fn journal_rendered(
    store: &dyn Store,
    cfg: &FileDropConfig,
    format: &PaymentFileFormat,
    batch: &PaymentBatch,
    batch_sha: String,
) -> Result<BatchRecord, FileDropError> {
    let bid = batch.batch_id.as_str();
    for p in &batch.payments {
        if let Some(ps) = get_json::<PaymentState>(store, SPACE_PAYMENT, &p.payment_id)?
            && ps.batch_id != bid
        {
            return Err(FileDropError::PaymentConflict {
                batch_id: bid.to_owned(),
                payment_id: p.payment_id.clone(),
                other_batch_id: ps.batch_id,
            });
        }
    }
    let bytes = render(cfg, format, batch)?;
    let file_name = choose_file_name(store, format, batch)?;
    let record = BatchRecord {
        batch: batch.clone(),
        batch_sha256: batch_sha,
        format: format_label(format),
        trigger_name: format!("{file_name}{TRIGGER_SUFFIX}"),
        file_name,
        file_sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        count: batch.payments.len() as u64,
        control_sum: batch.control_sum(),
    };
    let json = to_json(&record);
    let rec = JournalRecord::new(KIND_BATCH_RENDERED, json.clone())
        .with_write(StateWrite::put(SPACE_BATCH, bid, json))
        .with_write(StateWrite::put(
            SPACE_BATCH_STATE,
            bid,
            to_json(&BatchState::Rendered),
        ))
        .with_write(StateWrite::put(
            SPACE_OUTBOX_NAME,
            record.file_name.as_str(),
            to_json(&bid),
        ));
    append_durable(store, rec, bid)?;
    Ok(record)
}

/// Makes `outbox/name` hold exactly `bytes`: already there → only re-sync the directory (the
/// crash may have come between rename and directory fsync); absent → atomic write; anything
/// else → error, never overwritten.
fn put_file(
    cfg: &FileDropConfig,
    batch_id: &str,
    name: &str,
    bytes: &[u8],
    hook: Hook<'_>,
    tmp_step: Step,
) -> Result<(), FileDropError> {
    let dir = &cfg.outbox_dir;
    let path = dir.join(name);
    match read_opt(&path)? {
        Some(found) => {
            let found_sha = sha256_hex(&found);
            let want = sha256_hex(bytes);
            if found_sha != want {
                return Err(FileDropError::ExistingFileDiffers {
                    batch_id: batch_id.to_owned(),
                    path,
                    expected_sha256: want,
                    found_sha256: found_sha,
                });
            }
            remove_stale_tmp(dir, name)?;
            sync_dir(dir)
        }
        None => {
            remove_stale_tmp(dir, name)?;
            write_atomic(dir, name, bytes, &mut || hook(tmp_step)).map(|_| ())
        }
    }
}
