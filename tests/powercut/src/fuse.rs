//! FUSE requests → [`State`] calls. One session per power-on: a session whose epoch is not the
//! live one (the power went off) answers every request with `EIO`, so nothing reaches the
//! state between the cut and the restart.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, IoctlFlags, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::state::{Attr, Kind, State};

/// How long the kernel may cache names and attributes. Every change goes through the kernel
/// (one mount), and each power-on is a fresh mount, so caching is safe.
const TTL: Duration = Duration::from_secs(1);
/// Capacity reported by statfs (memory is the limit; the tests stay far below).
const CAPACITY_BYTES: u64 = 64 << 30;

/// What the controller and the sessions share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// The epoch of the session that may change the state; 0 while the power is off.
    pub(crate) live_epoch: AtomicU64,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A directory listing as opendir took it: name, inode, kind.
type Listing = Vec<(std::ffi::OsString, u64, Kind)>;

pub(crate) struct PowerCutSession {
    shared: Arc<Shared>,
    epoch: u64,
    uid: u32,
    gid: u32,
    next_fh: AtomicU64,
    /// Directory listings taken at opendir: readdir pages through a stable snapshot.
    listings: Mutex<HashMap<u64, Listing>>,
}

impl PowerCutSession {
    pub(crate) fn new(shared: Arc<Shared>, epoch: u64, mountpoint: &Path) -> PowerCutSession {
        use std::os::unix::fs::MetadataExt;
        let (uid, gid) = std::fs::metadata(mountpoint).map_or((0, 0), |m| (m.uid(), m.gid()));
        PowerCutSession {
            shared,
            epoch,
            uid,
            gid,
            next_fh: AtomicU64::new(1),
            listings: Mutex::new(HashMap::new()),
        }
    }

    /// The state, if this session's power is on.
    fn state(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let guard = self.shared.lock();
        if self.shared.live_epoch.load(Ordering::SeqCst) != self.epoch {
            return Err(Errno::EIO);
        }
        Ok(guard)
    }

    fn fattr(&self, a: &Attr) -> FileAttr {
        FileAttr {
            ino: INodeNo(a.ino),
            size: a.size,
            blocks: a.size.div_ceil(512),
            atime: a.mtime,
            mtime: a.mtime,
            ctime: a.ctime,
            crtime: a.ctime,
            kind: kind(a.kind),
            perm: a.perm,
            nlink: a.nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn unsupported(&self, what: String) -> Errno {
        if let Ok(mut s) = self.state() {
            s.note_unsupported(what);
        }
        Errno::EOPNOTSUPP
    }
}

fn kind(k: Kind) -> FileType {
    match k {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
    }
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

const GEN: Generation = Generation(0);

impl Filesystem for PowerCutSession {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self
            .state()
            .and_then(|s| s.lookup(parent.0, name).map_err(errno))
        {
            Ok(a) => reply.entry(&TTL, &self.fattr(&a), GEN),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().and_then(|s| s.attr(ino.0).map_err(errno)) {
            Ok(a) => reply.attr(&TTL, &self.fattr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.state().and_then(|mut s| {
            if let Some(len) = size {
                s.set_len(ino.0, len).map_err(errno)?;
            }
            if let Some(m) = mode {
                s.set_perm(ino.0, (m & 0o7777) as u16).map_err(errno)?;
            }
            if let Some(t) = mtime {
                let t = match t {
                    TimeOrNow::SpecificTime(t) => t,
                    TimeOrNow::Now => SystemTime::now(),
                };
                s.set_mtime(ino.0, t).map_err(errno)?;
            }
            s.attr(ino.0).map_err(errno)
        });
        match r {
            Ok(a) => reply.attr(&TTL, &self.fattr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Regular files come through `create`; anything else (fifo, device) is not modelled.
        if mode & libc::S_IFMT == libc::S_IFREG {
            match self.state().and_then(|mut s| {
                s.create(parent.0, name, (mode & 0o7777) as u16)
                    .map_err(errno)
            }) {
                Ok(a) => reply.entry(&TTL, &self.fattr(&a), GEN),
                Err(e) => reply.error(e),
            }
        } else {
            reply.error(self.unsupported(format!("mknod {name:?} mode {mode:o}")));
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        match self
            .state()
            .and_then(|mut s| s.mkdir(parent.0, name, perm).map_err(errno))
        {
            Ok(a) => reply.entry(&TTL, &self.fattr(&a), GEN),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .state()
            .and_then(|mut s| s.unlink(parent.0, name).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .state()
            .and_then(|mut s| s.rmdir(parent.0, name).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(self.unsupported(format!("symlink {link_name:?} -> {target:?}")));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let other = flags.difference(RenameFlags::RENAME_NOREPLACE);
        if !other.is_empty() {
            reply.error(self.unsupported(format!("rename {name:?} -> {newname:?} flags {flags}")));
            return;
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self.state().and_then(|mut s| {
            s.rename(parent.0, name, newparent.0, newname, noreplace)
                .map_err(errno)
        }) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        match self
            .state()
            .and_then(|mut s| s.link(ino.0, newparent.0, newname).map_err(errno))
        {
            Ok(a) => reply.entry(&TTL, &self.fattr(&a), GEN),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.state().and_then(|s| s.attr(ino.0).map_err(errno)) {
            Ok(a) if a.kind == Kind::Dir => reply.error(Errno::EISDIR),
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self
            .state()
            .and_then(|s| s.read(ino.0, offset, size).map_err(errno))
        {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .state()
            .and_then(|mut s| s.write(ino.0, offset, data).map_err(errno))
        {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2): durability is not implied (nothing to do).
        match self.state() {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self
            .state()
            .and_then(|mut s| s.fsync(ino.0, datasync).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.state().and_then(|s| s.list(ino.0).map_err(errno)) {
            Ok(entries) => {
                let fh = self.next_fh.fetch_add(1, Ordering::SeqCst);
                self.listings
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(fh, entries);
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if let Err(e) = self.state() {
            reply.error(e);
            return;
        }
        let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entries) = listings.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        // Offsets: 1 = ".", 2 = "..", 2 + i + 1 = entries[i].
        let mut at = offset;
        loop {
            let full = match at {
                0 => reply.add(ino, 1, FileType::Directory, "."),
                1 => reply.add(INodeNo(crate::state::ROOT), 2, FileType::Directory, ".."),
                n => match entries.get((n - 2) as usize) {
                    Some((name, i, k)) => reply.add(INodeNo(*i), n + 1, kind(*k), name),
                    None => break,
                },
            };
            if full {
                break;
            }
            at += 1;
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.listings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self
            .state()
            .and_then(|mut s| s.fsync(ino.0, datasync).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.state() {
            Ok(s) => {
                let bsize = 4096u64;
                let blocks = CAPACITY_BYTES / bsize;
                let used = s.bytes_used().div_ceil(bsize).min(blocks);
                let files = 1u64 << 24;
                let ffree = files.saturating_sub(s.inode_count());
                reply.statfs(
                    blocks,
                    blocks - used,
                    blocks - used,
                    files,
                    ffree,
                    bsize as u32,
                    255,
                    bsize as u32,
                );
            }
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        match self.state().and_then(|s| s.attr(ino.0).map_err(errno)) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        match self
            .state()
            .and_then(|mut s| s.create(parent.0, name, perm).map_err(errno))
        {
            Ok(a) => reply.created(
                &TTL,
                &self.fattr(&a),
                GEN,
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(self.unsupported(format!("setxattr {name:?}")));
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.unsupported(format!("removexattr {name:?}")));
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        // The kernel answers the generic ones itself; a file-system-specific ioctl is not
        // modelled. ENOTTY is what a filesystem without it answers.
        if let Ok(mut s) = self.state() {
            s.note_unsupported(format!("ioctl {cmd:#x}"));
        }
        reply.error(Errno::ENOTTY);
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(self.unsupported(format!(
            "fallocate ino {ino} offset {offset} length {length} mode {mode:#x}"
        )));
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: i64,
        _whence: i32,
        reply: ReplyLseek,
    ) {
        // SEEK_DATA/SEEK_HOLE: ENOSYS makes the kernel use its generic answer (no holes),
        // which is right for this filesystem.
        reply.error(Errno::ENOSYS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        // ENOSYS: the kernel (and std::io::copy) fall back to read + write, which are modelled.
        let _ = (ino_in, ino_out, len);
        reply.error(Errno::ENOSYS);
    }
}
