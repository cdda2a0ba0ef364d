//! Bringing an operator-named receipt file into the inbox (`medsettle bank ingest FILE`).
//!
//! The file may already be in the inbox (the operator points at what the bank dropped), in
//! the archive (a re-ingest, which the inbox treats as a duplicate) or anywhere else. It is
//! never modified: a file already in the inbox is left alone (copying it onto itself would
//! truncate it), and any other is copied in through a hidden temp name that scans skip, data
//! first and trigger last, the way a bank delivers — so a scan never sees half a file, or a
//! trigger before its data. A different file already under the name in the inbox is never
//! overwritten.

use std::path::{Path, PathBuf};

use crate::config::FileDropConfig;
use crate::error::FileDropError;
use crate::fsio::{Placed, TRIGGER_SUFFIX, copy_in, ensure_dir, is_hidden_or_tmp, same_file};

/// What [`admit_to_inbox`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// The file is itself in the inbox: nothing was read or written. `trigger` is its
    /// trigger in the inbox, if present (without one the scan waits for it).
    AlreadyInInbox {
        path: PathBuf,
        trigger: Option<PathBuf>,
    },
    /// The file is in the inbox under its name: copied now, or found there with the same
    /// bytes (admitting twice is harmless). Its trigger likewise, if one was beside it.
    Placed {
        path: PathBuf,
        /// Whether this call copied the data file (false: identical bytes were there).
        copied: bool,
        /// The trigger in the inbox; `None` if the source had none beside it (the scan then
        /// reports the file as waiting for its trigger).
        trigger: Option<PathBuf>,
    },
}

impl Admitted {
    /// The data file's path in the inbox.
    pub fn path(&self) -> &Path {
        match self {
            Admitted::AlreadyInInbox { path, .. } | Admitted::Placed { path, .. } => path,
        }
    }
}

/// Brings the receipt file `path` (and its `<path>.ok` trigger, if beside it) into
/// `cfg.inbox_dir` for the next [`crate::Inbox::scan_once`]. See the module docs.
///
/// Errors: `path` is not a regular file, or is named like a trigger or an in-flight file
/// ([`FileDropError::AdmitRefused`]); the inbox holds another file (or trigger) under that
/// name ([`FileDropError::NameTaken`]); I/O.
pub fn admit_to_inbox(cfg: &FileDropConfig, path: &Path) -> Result<Admitted, FileDropError> {
    let refuse = |detail: &str| FileDropError::AdmitRefused {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| refuse("no file name, or one that is not UTF-8"))?;
    if is_hidden_or_tmp(name) {
        return Err(refuse(
            "names starting with `.` or ending in `.tmp` are in flight and never scanned",
        ));
    }
    if name.ends_with(TRIGGER_SUFFIX) {
        return Err(refuse(
            "this is a trigger; name its data file (the trigger beside it comes along)",
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| FileDropError::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file"));
    }
    ensure_dir(&cfg.inbox_dir)?;
    let dest = cfg.inbox_dir.join(name);
    let trigger_src = sibling_trigger(path, name);
    let trigger_dest = cfg.inbox_dir.join(format!("{name}{TRIGGER_SUFFIX}"));
    if in_inbox(cfg, path, &dest)? {
        let trigger = trigger_dest.is_file().then_some(trigger_dest);
        return Ok(Admitted::AlreadyInInbox {
            path: dest,
            trigger,
        });
    }
    let copied = copy_in(path, &cfg.inbox_dir, name)? == Placed::Copied;
    // The trigger last: until it is in place the scan leaves the data file alone.
    let trigger = if trigger_src.is_file() {
        copy_in(
            &trigger_src,
            &cfg.inbox_dir,
            &format!("{name}{TRIGGER_SUFFIX}"),
        )?;
        Some(trigger_dest)
    } else {
        None
    };
    tracing::info!(from = %path.display(), to = %dest.display(), copied,
        trigger = trigger.is_some(), "receipt file admitted to the inbox");
    Ok(Admitted::Placed {
        path: dest,
        copied,
        trigger,
    })
}

/// `<dir>/<name>.ok` beside `path`.
fn sibling_trigger(path: &Path, name: &str) -> PathBuf {
    path.with_file_name(format!("{name}{TRIGGER_SUFFIX}"))
}

/// Whether `path` already is the inbox's file `dest`: its directory is the inbox (however
/// spelled), or it is the same file by identity (a symlink or hard link into the inbox).
fn in_inbox(cfg: &FileDropConfig, path: &Path, dest: &Path) -> Result<bool, FileDropError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let canon =
        |p: &Path| std::fs::canonicalize(p).map_err(|e| FileDropError::io(p, "canonicalize", e));
    if canon(parent)? == canon(&cfg.inbox_dir)? {
        return Ok(true);
    }
    same_file(path, dest)
}
