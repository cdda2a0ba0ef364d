//! Durable file primitives (bank-files.md §4): write to a unique temp name in the same
//! directory, fsync, rename, fsync the directory. Without the directory fsync a crash can
//! forget the rename even though the data blocks are on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::FileDropError;

/// Suffix of every temp file we create; readers skip names ending in it or starting with `.`.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// Suffix of trigger files.
pub(crate) const TRIGGER_SUFFIX: &str = ".ok";

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a file read in chunks (for files too big to hold in memory).
pub(crate) fn sha256_file(path: &Path) -> Result<String, FileDropError> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| FileDropError::io(path, "open", e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| FileDropError::io(path, "read", e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Whether `name` is one of the in-flight or hidden names that no reader may pick up.
pub(crate) fn is_hidden_or_tmp(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(TMP_SUFFIX)
}

pub(crate) fn ensure_dir(dir: &Path) -> Result<(), FileDropError> {
    fs::create_dir_all(dir).map_err(|e| FileDropError::io(dir, "create directory", e))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), FileDropError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FileDropError::io(dir, "fsync directory", e))
}

/// Reads `path`, `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, FileDropError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileDropError::io(path, "read", e)),
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temp-name prefix for `name`: `.<name>.` — hidden, so no directory watcher takes it.
fn tmp_prefix(name: &str) -> String {
    format!(".{name}.")
}

/// Removes temp files left for `name` in `dir` by a crashed writer.
pub(crate) fn remove_stale_tmp(dir: &Path, name: &str) -> Result<(), FileDropError> {
    let prefix = tmp_prefix(name);
    for n in list_names(dir)? {
        if n.starts_with(&prefix) && n.ends_with(TMP_SUFFIX) {
            let p = dir.join(&n);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(FileDropError::io(p, "remove stale temp file", e)),
            }
        }
    }
    Ok(())
}

/// Writes `bytes` to `dir/name` atomically: unique temp (create_new) → write → fsync →
/// `after_tmp` → rename → fsync dir. Callers check for an existing file first; the rename
/// replaces nothing in the single-writer outbox (see [`crate::Outbox`]).
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    after_tmp: &mut dyn FnMut() -> Result<(), FileDropError>,
) -> Result<PathBuf, FileDropError> {
    let fin = dir.join(name);
    let tmp = dir.join(format!(
        "{}{}-{}{TMP_SUFFIX}",
        tmp_prefix(name),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| FileDropError::io(&tmp, "create temp file", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| FileDropError::io(&tmp, "write+fsync temp file", e))?;
    drop(f);
    after_tmp()?;
    fs::rename(&tmp, &fin).map_err(|e| FileDropError::io(&fin, "rename temp file onto", e))?;
    sync_dir(dir)?;
    Ok(fin)
}

/// Moves `from_dir/name` to `to_dir/to_name` and makes both directory entries durable.
/// Returns false if the source was already gone (a previous run moved it).
pub(crate) fn move_file(
    from_dir: &Path,
    name: &str,
    to_dir: &Path,
    to_name: &str,
) -> Result<bool, FileDropError> {
    ensure_dir(to_dir)?;
    let from = from_dir.join(name);
    let to = to_dir.join(to_name);
    match fs::rename(&from, &to) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(FileDropError::io(&from, "move file", e)),
    }
    // Destination first: after a crash the file must exist somewhere.
    sync_dir(to_dir)?;
    sync_dir(from_dir)?;
    Ok(true)
}

/// File names (not directories) in `dir`, sorted; an absent directory is empty.
pub(crate) fn list_names(dir: &Path) -> Result<Vec<String>, FileDropError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileDropError::io(dir, "list directory", e)),
    };
    let mut names = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| FileDropError::io(dir, "list directory", e))?;
        let is_file = ent
            .file_type()
            .map_err(|e| FileDropError::io(ent.path(), "stat", e))?
            .is_file();
        // Names that are not UTF-8 are not ours and not a bank's convention: leave them be.
        if let (true, Ok(n)) = (is_file, ent.file_name().into_string()) {
            names.push(n);
        }
    }
    names.sort();
    Ok(names)
}
