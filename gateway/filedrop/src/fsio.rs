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

/// Whether `path` exists (as anything, a dangling symlink included).
pub(crate) fn exists(path: &Path) -> Result<bool, FileDropError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(FileDropError::io(path, "stat", e)),
    }
}

/// Whether `a` and `b` are one file (one path spelled two ways, a symlink, a hard link).
/// Removing "the other copy" of a file that is its own copy would destroy it.
pub(crate) fn same_file(a: &Path, b: &Path) -> Result<bool, FileDropError> {
    let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) else {
        return Ok(false);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
            return Ok(true);
        }
    }
    let _ = (ma, mb);
    same_path(a, b)
}

/// Whether two paths name one directory entry (after resolving symlinks and `..`). Removing
/// "the other copy" of such a file would destroy the only one.
fn same_path(a: &Path, b: &Path) -> Result<bool, FileDropError> {
    let ca = fs::canonicalize(a).map_err(|e| FileDropError::io(a, "canonicalize", e))?;
    let cb = fs::canonicalize(b).map_err(|e| FileDropError::io(b, "canonicalize", e))?;
    Ok(ca == cb)
}

/// Whether two files hold the same bytes (sizes first, then SHA-256).
fn same_bytes(a: &Path, b: &Path) -> Result<bool, FileDropError> {
    let len = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| FileDropError::io(p, "stat", e))
    };
    Ok(len(a)? == len(b)? && sha256_file(a)? == sha256_file(b)?)
}

/// Moves `from_dir/name` to `to_dir/to_name` and makes both directory entries durable.
/// Returns where the file is now, or `None` if the source was already gone (a previous run
/// moved it).
///
/// Never replaces a file at the destination (no input file is ever destroyed): if one is
/// there with the same bytes (a re-delivered duplicate), that copy stands for this one and
/// the source is removed; with other bytes (a re-delivery whose trigger differs, say), the
/// source goes to `<to_name>.<sha16>` instead. The check-then-rename is safe because one
/// process drives an inbox and nobody else writes `archive_dir` or `rejected_dir`.
pub(crate) fn move_file(
    from_dir: &Path,
    name: &str,
    to_dir: &Path,
    to_name: &str,
) -> Result<Option<PathBuf>, FileDropError> {
    ensure_dir(to_dir)?;
    let from = from_dir.join(name);
    if !exists(&from)? {
        return Ok(None);
    }
    let mut to = to_dir.join(to_name);
    if exists(&to)? {
        if same_path(&from, &to)? {
            return Ok(Some(to)); // one path spelled two ways: it already is where it goes
        }
        if same_bytes(&from, &to)? {
            return remove_moved_copy(from_dir, &from, to);
        }
        let alt = to_dir.join(format!("{to_name}.{}", &sha256_file(&from)?[..16]));
        if exists(&alt)? {
            if same_bytes(&from, &alt)? {
                return remove_moved_copy(from_dir, &from, alt);
            }
            return Err(FileDropError::NameTaken {
                found_sha256: sha256_file(&alt)?,
                offered_sha256: sha256_file(&from)?,
                path: alt,
                offered: from,
            });
        }
        tracing::warn!(from = %from.display(), to = %to.display(), alt = %alt.display(),
            "destination holds other bytes; moved under another name, nothing overwritten");
        to = alt;
    }
    match fs::rename(&from, &to) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FileDropError::io(&from, "move file", e)),
    }
    // Destination first: after a crash the file must exist somewhere.
    sync_dir(to_dir)?;
    sync_dir(from_dir)?;
    Ok(Some(to))
}

/// The destination already holds `from`'s exact bytes: the source is a spare copy.
fn remove_moved_copy(
    from_dir: &Path,
    from: &Path,
    to: PathBuf,
) -> Result<Option<PathBuf>, FileDropError> {
    match fs::remove_file(from) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(FileDropError::io(from, "remove moved copy", e)),
    }
    sync_dir(from_dir)?;
    Ok(Some(to))
}

/// Writes `dir/name` atomically unless a file of that name exists, which is left as it is
/// (returns `false`). For files we add beside inputs (a rejection's `.reason`): the name is
/// ours alone, so an existing one is our own earlier write.
pub(crate) fn write_new_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<bool, FileDropError> {
    ensure_dir(dir)?;
    if exists(&dir.join(name))? {
        return Ok(false);
    }
    remove_stale_tmp(dir, name)?;
    write_atomic(dir, name, bytes, &mut || Ok(()))?;
    Ok(true)
}

/// What [`copy_in`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// Copied under the name.
    Copied,
    /// The name already held the same bytes; nothing written.
    AlreadyThere,
}

/// Copies `src` into `dir/name` through a hidden temp name, never replacing a file there:
/// temp (create_new) → copy → fsync → hard link onto the name (fails if it exists, even if
/// another writer, the bank, created it a moment ago) → remove temp → fsync the directory.
/// A name already holding other bytes is [`FileDropError::NameTaken`]. `src` is only read.
pub(crate) fn copy_in(src: &Path, dir: &Path, name: &str) -> Result<Placed, FileDropError> {
    let fin = dir.join(name);
    if exists(&fin)? {
        return existing_copy(src, &fin);
    }
    remove_stale_tmp(dir, name)?;
    let tmp = dir.join(format!(
        "{}{}-{}{TMP_SUFFIX}",
        tmp_prefix(name),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut from = File::open(src).map_err(|e| FileDropError::io(src, "open", e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| FileDropError::io(&tmp, "create temp file", e))?;
    let copied = std::io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
    drop(to);
    if let Err(e) = copied {
        let _ = fs::remove_file(&tmp);
        return Err(FileDropError::io(&tmp, "copy+fsync temp file", e));
    }
    let linked = fs::hard_link(&tmp, &fin);
    let outcome = match linked {
        Ok(()) => Ok(Placed::Copied),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => existing_copy(src, &fin),
        // A filesystem without hard links: check, then rename (a bank writing this very
        // name in between is the only way to lose the race, and it would be a re-delivery).
        Err(_) if !exists(&fin)? => fs::rename(&tmp, &fin)
            .map(|()| Placed::Copied)
            .map_err(|e| FileDropError::io(&fin, "rename temp file onto", e)),
        Err(_) => existing_copy(src, &fin),
    };
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(FileDropError::io(&tmp, "remove temp file", e)),
    }
    sync_dir(dir)?;
    outcome
}

fn existing_copy(src: &Path, fin: &Path) -> Result<Placed, FileDropError> {
    if same_bytes(src, fin)? {
        return Ok(Placed::AlreadyThere);
    }
    Err(FileDropError::NameTaken {
        path: fin.to_owned(),
        found_sha256: sha256_file(fin)?,
        offered: src.to_owned(),
        offered_sha256: sha256_file(src)?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        (t, a, b)
    }

    #[test]
    fn a_move_never_writes_over_a_file_at_the_destination() {
        let (_t, a, b) = dirs();
        // Other bytes there: the source goes beside it under `<name>.<sha16>`.
        fs::write(b.join("X.ok"), b"earlier trigger").unwrap();
        fs::write(a.join("X.ok"), b"later trigger").unwrap();
        let to = move_file(&a, "X.ok", &b, "X.ok").unwrap().unwrap();
        let alt = format!("X.ok.{}", &sha256_hex(b"later trigger")[..16]);
        assert_eq!(to, b.join(&alt));
        assert_eq!(fs::read(b.join("X.ok")).unwrap(), b"earlier trigger");
        assert_eq!(fs::read(b.join(&alt)).unwrap(), b"later trigger");
        assert!(!a.join("X.ok").exists());

        // The same bytes there: that copy stands for this one.
        fs::write(a.join("X.ok"), b"earlier trigger").unwrap();
        let to = move_file(&a, "X.ok", &b, "X.ok").unwrap().unwrap();
        assert_eq!(to, b.join("X.ok"));
        assert!(!a.join("X.ok").exists());
        assert_eq!(list_names(&b).unwrap().len(), 2);

        // Source gone: nothing to do.
        assert_eq!(move_file(&a, "X.ok", &b, "X.ok").unwrap(), None);
    }

    #[test]
    fn a_move_onto_itself_leaves_the_only_copy_alone() {
        let (_t, a, _b) = dirs();
        fs::write(a.join("X"), b"only copy").unwrap();
        let detour = a.join("..").join("a");
        let to = move_file(&a, "X", &detour, "X").unwrap().unwrap();
        assert_eq!(fs::read(to).unwrap(), b"only copy");
        assert_eq!(fs::read(a.join("X")).unwrap(), b"only copy");
    }

    #[test]
    fn new_files_and_copies_never_replace_what_is_there() {
        let (_t, a, b) = dirs();
        assert!(write_new_atomic(&a, "R.reason", b"first").unwrap());
        assert!(!write_new_atomic(&a, "R.reason", b"second").unwrap());
        assert_eq!(fs::read(a.join("R.reason")).unwrap(), b"first");

        fs::write(a.join("S"), b"source").unwrap();
        assert_eq!(copy_in(&a.join("S"), &b, "S").unwrap(), Placed::Copied);
        assert_eq!(
            copy_in(&a.join("S"), &b, "S").unwrap(),
            Placed::AlreadyThere
        );
        fs::write(a.join("S"), b"changed").unwrap();
        assert!(matches!(
            copy_in(&a.join("S"), &b, "S"),
            Err(FileDropError::NameTaken { .. })
        ));
        assert_eq!(fs::read(b.join("S")).unwrap(), b"source");
        assert_eq!(list_names(&b).unwrap(), ["S"], "no temp file left");
        assert_eq!(list_names(&a).unwrap(), ["R.reason", "S"]);
    }
}
