//! The filesystem's contents, in memory, in two layers, with no FUSE in sight (so the crash
//! model is unit-tested directly; `fuse.rs` only translates requests into these calls).
//!
//! * File data: each regular file has a `volatile` image (what every reader sees now), a
//!   `durable` image (what the medium holds) and the ordered log of data operations (writes,
//!   size changes) since its last `fsync`/`fdatasync`. A sync replays the log onto `durable`.
//! * Namespace: each directory has `volatile` and `durable` entry maps, and one ordered log of
//!   namespace operations (create, mkdir, link, unlink, rmdir, rename) is shared by the whole
//!   filesystem, like a metadata journal. A namespace commit replays a *prefix* of that log
//!   onto the durable maps, so every durable namespace is one the filesystem really passed
//!   through (a rename is never half done).
//! * Which sync commits the namespace depends on the [`Model`].
//! * [`State::cut`] is the power cut: whatever was not durable is dropped (optionally a torn
//!   part of it is kept, see [`Torn`]), inodes no durable name reaches are freed, and the
//!   volatile layer restarts equal to the durable one.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

/// Errors are plain errno values (`libc::E…`), as FUSE answers them.
pub type Errno = i32;
pub type Result<T> = std::result::Result<T, Errno>;

/// Inode number of the root directory (FUSE's).
pub const ROOT: u64 = 1;
/// Granularity of torn writes: a device persists whole sectors/pages, in any order.
pub const PAGE: u64 = 4096;

/// When does a namespace change (a new name, a rename, an unlink) become durable?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// ext4 `data=ordered` (the default Linux server filesystem), simplified: the namespace
    /// is one ordered metadata journal. `fsync` of anything, `fsync` of a directory, and
    /// `fdatasync` of a file whose size changed or whose name is not yet committed all commit
    /// the whole journal. A file's data is durable only after an `fsync`/`fdatasync` of that
    /// file: a committed name may show an older (even empty) content, as on ext4 with
    /// delayed allocation.
    Ext4Ordered,
    /// POSIX at its strictest: a sync of a file makes its data durable and nothing else; a
    /// namespace change is durable only after an `fsync` of a directory it touched (which
    /// commits the journal up to the last change touching that directory).
    Posix,
}

/// What of the unsynced state survives a cut, beyond the durable layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torn {
    /// Nothing: exactly the durable layer.
    None,
    /// Write-back caught some pages: a random prefix of the namespace journal, and for each
    /// file a random subset of its dirty 4 KiB pages, each with its content at the cut (the
    /// page cache writes whole pages), and a size change kept or not. Realistic for ext4.
    Pages,
    /// Harsher (POSIX allows it, real systems rarely show it): a random prefix of the
    /// namespace journal, and for each file a random prefix of its unsynced *writes* cut into
    /// 4 KiB pieces — two writes to one page can be split.
    Prefix,
    /// Harsher still: like [`Torn::Prefix`], but a random subset of the pieces (the device
    /// reordered its writes).
    Reorder,
    /// Deterministic, for reproductions: the whole namespace journal, and the first `n`
    /// unsynced write pieces of every file.
    FirstPieces(usize),
}

/// A small deterministic generator (splitmix64) for torn states: reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..=n`.
    pub fn upto(&mut self, n: usize) -> usize {
        (self.next_u64() % (n as u64 + 1)) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

#[derive(Debug, Clone)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

impl DataOp {
    fn apply(&self, image: &mut Vec<u8>) {
        match self {
            DataOp::Write { offset, data } => {
                let start = *offset as usize;
                let end = start + data.len();
                if image.len() < end {
                    image.resize(end, 0);
                }
                image[start..end].copy_from_slice(data);
            }
            DataOp::SetLen(len) => image.resize(*len as usize, 0),
        }
    }

    /// The same effect, cut into pieces that do not cross a 4 KiB boundary.
    fn pieces(&self) -> Vec<DataOp> {
        match self {
            DataOp::SetLen(_) => vec![self.clone()],
            DataOp::Write { offset, data } => {
                let mut out = Vec::new();
                let mut at = 0usize;
                while at < data.len() {
                    let pos = offset + at as u64;
                    let room = (PAGE - pos % PAGE) as usize;
                    let n = room.min(data.len() - at);
                    out.push(DataOp::Write {
                        offset: pos,
                        data: data[at..at + n].to_vec(),
                    });
                    at += n;
                }
                out
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct FileNode {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    log: Vec<DataOp>,
}

#[derive(Debug, Clone, Default)]
struct DirNode {
    volatile: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
}

#[derive(Debug, Clone)]
enum Node {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Debug, Clone)]
struct Inode {
    node: Node,
    perm: u16,
    /// Names in the volatile namespace (files; directories report 2).
    nlink: u32,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Inode {
    fn kind(&self) -> Kind {
        match self.node {
            Node::File(_) => Kind::File,
            Node::Dir(_) => Kind::Dir,
        }
    }
}

#[derive(Debug, Clone)]
enum NsOp {
    Link {
        dir: u64,
        name: OsString,
        ino: u64,
    },
    Unlink {
        dir: u64,
        name: OsString,
    },
    Rename {
        odir: u64,
        oname: OsString,
        ndir: u64,
        nname: OsString,
        ino: u64,
    },
}

impl NsOp {
    fn touches_dir(&self, d: u64) -> bool {
        match self {
            NsOp::Link { dir, .. } | NsOp::Unlink { dir, .. } => *dir == d,
            NsOp::Rename { odir, ndir, .. } => *odir == d || *ndir == d,
        }
    }
    fn names_ino(&self, i: u64) -> bool {
        match self {
            NsOp::Link { ino, .. } | NsOp::Rename { ino, .. } => *ino == i,
            NsOp::Unlink { .. } => false,
        }
    }
}

/// Attributes of one inode, as `stat` shows them.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub perm: u16,
    pub nlink: u32,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

/// Counters since the filesystem was created.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub writes: u64,
    pub bytes_written: u64,
    pub fsyncs: u64,
    pub fdatasyncs: u64,
    pub dir_fsyncs: u64,
    pub namespace_ops: u64,
    pub namespace_commits: u64,
    pub cuts: u64,
}

/// What one cut did.
#[derive(Debug, Clone, Default)]
pub struct CutReport {
    /// Namespace operations not yet durable at the cut, and how many of them the torn state
    /// kept.
    pub namespace_pending: usize,
    pub namespace_kept: usize,
    /// Unsynced 4 KiB data pieces at the cut (all files), and how many the torn state kept.
    pub pieces_pending: usize,
    pub pieces_kept: usize,
    /// Files whose content went back to an older image.
    pub files_reverted: usize,
    /// Inodes no durable name reached: gone.
    pub inodes_freed: usize,
}

/// The whole filesystem.
#[derive(Debug)]
pub struct State {
    model: Model,
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    ns_log: Vec<NsOp>,
    stats: Stats,
    /// Operations a program asked for that this filesystem does not model: a test must fail
    /// on them rather than believe a result the model did not check.
    unsupported: Vec<String>,
}

fn now() -> SystemTime {
    SystemTime::now()
}

/// [`Torn::Pages`] for one file: each dirty page written back (at its content now) or not,
/// a size change persisted or not. Returns (dirty pages, pages kept).
fn keep_pages(f: &mut FileNode, log: &[DataOp], rng: &mut Rng) -> (usize, usize) {
    let mut dirty = std::collections::BTreeSet::new();
    let mut len = f.durable.len() as u64;
    for op in log {
        match op {
            DataOp::Write { offset, data } => {
                let end = offset + data.len() as u64;
                if !data.is_empty() {
                    dirty.extend(offset / PAGE..=(end - 1) / PAGE);
                }
                len = len.max(end);
            }
            DataOp::SetLen(n) => {
                let (lo, hi) = (len.min(*n), len.max(*n));
                if hi > lo {
                    dirty.extend(lo / PAGE..=(hi - 1) / PAGE);
                }
                len = *n;
            }
        }
    }
    let vlen = f.volatile.len();
    if vlen < f.durable.len() && rng.next_u64() & 1 == 1 {
        f.durable.truncate(vlen);
    }
    let mut kept = 0;
    for page in &dirty {
        if rng.next_u64() & 1 == 0 {
            continue;
        }
        let start = (page * PAGE) as usize;
        let end = (start + PAGE as usize).min(vlen);
        if start >= end {
            continue;
        }
        kept += 1;
        if f.durable.len() < end {
            f.durable.resize(end, 0);
        }
        f.durable[start..end].copy_from_slice(&f.volatile[start..end]);
    }
    (dirty.len(), kept)
}

impl State {
    pub fn new(model: Model) -> State {
        let root = Inode {
            node: Node::Dir(DirNode::default()),
            perm: 0o755,
            nlink: 2,
            mtime: now(),
            ctime: now(),
        };
        State {
            model,
            inodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            ns_log: Vec::new(),
            stats: Stats::default(),
            unsupported: Vec::new(),
        }
    }

    pub fn model(&self) -> Model {
        self.model
    }

    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    pub fn unsupported(&self) -> &[String] {
        &self.unsupported
    }

    pub fn note_unsupported(&mut self, what: String) {
        if self.unsupported.len() < 1000 {
            self.unsupported.push(what);
        }
    }

    fn inode(&self, ino: u64) -> Result<&Inode> {
        self.inodes.get(&ino).ok_or(libc::ENOENT)
    }

    fn inode_mut(&mut self, ino: u64) -> Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(libc::ENOENT)
    }

    fn dir(&self, ino: u64) -> Result<&DirNode> {
        match &self.inode(ino)?.node {
            Node::Dir(d) => Ok(d),
            Node::File(_) => Err(libc::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut DirNode> {
        match &mut self.inode_mut(ino)?.node {
            Node::Dir(d) => Ok(d),
            Node::File(_) => Err(libc::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut FileNode> {
        match &mut self.inode_mut(ino)?.node {
            Node::File(f) => Ok(f),
            Node::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub fn attr(&self, ino: u64) -> Result<Attr> {
        let i = self.inode(ino)?;
        let (size, nlink) = match &i.node {
            Node::File(f) => (f.volatile.len() as u64, i.nlink),
            Node::Dir(d) => (d.volatile.len() as u64, 2),
        };
        Ok(Attr {
            ino,
            kind: i.kind(),
            size,
            perm: i.perm,
            nlink,
            mtime: i.mtime,
            ctime: i.ctime,
        })
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr> {
        let ino = *self.dir(parent)?.volatile.get(name).ok_or(libc::ENOENT)?;
        self.attr(ino)
    }

    fn touch(&mut self, ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            let t = now();
            i.mtime = t;
            i.ctime = t;
        }
    }

    fn log_ns(&mut self, op: NsOp) {
        self.stats.namespace_ops += 1;
        self.ns_log.push(op);
    }

    fn check_name(name: &OsStr) -> Result<()> {
        if name.is_empty() || name == "." || name == ".." {
            return Err(libc::EINVAL);
        }
        if name.len() > 255 {
            return Err(libc::ENAMETOOLONG);
        }
        Ok(())
    }

    fn new_inode(&mut self, parent: u64, name: &OsStr, node: Node, perm: u16) -> Result<Attr> {
        Self::check_name(name)?;
        if self.dir(parent)?.volatile.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let t = now();
        self.inodes.insert(
            ino,
            Inode {
                node,
                perm,
                nlink: 1,
                mtime: t,
                ctime: t,
            },
        );
        self.dir_mut(parent)?.volatile.insert(name.to_owned(), ino);
        self.touch(parent);
        self.log_ns(NsOp::Link {
            dir: parent,
            name: name.to_owned(),
            ino,
        });
        self.attr(ino)
    }

    pub fn create(&mut self, parent: u64, name: &OsStr, perm: u16) -> Result<Attr> {
        self.new_inode(parent, name, Node::File(FileNode::default()), perm)
    }

    pub fn mkdir(&mut self, parent: u64, name: &OsStr, perm: u16) -> Result<Attr> {
        self.new_inode(parent, name, Node::Dir(DirNode::default()), perm)
    }

    pub fn link(&mut self, ino: u64, parent: u64, name: &OsStr) -> Result<Attr> {
        Self::check_name(name)?;
        if self.inode(ino)?.kind() == Kind::Dir {
            return Err(libc::EPERM);
        }
        if self.dir(parent)?.volatile.contains_key(name) {
            return Err(libc::EEXIST);
        }
        self.dir_mut(parent)?.volatile.insert(name.to_owned(), ino);
        self.inode_mut(ino)?.nlink += 1;
        self.touch(parent);
        self.inode_mut(ino)?.ctime = now();
        self.log_ns(NsOp::Link {
            dir: parent,
            name: name.to_owned(),
            ino,
        });
        self.attr(ino)
    }

    fn drop_name(&mut self, ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.nlink = i.nlink.saturating_sub(1);
            i.ctime = now();
        }
    }

    pub fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<()> {
        let ino = *self.dir(parent)?.volatile.get(name).ok_or(libc::ENOENT)?;
        if self.inode(ino)?.kind() == Kind::Dir {
            return Err(libc::EISDIR);
        }
        self.dir_mut(parent)?.volatile.remove(name);
        self.drop_name(ino);
        self.touch(parent);
        self.log_ns(NsOp::Unlink {
            dir: parent,
            name: name.to_owned(),
        });
        Ok(())
    }

    pub fn rmdir(&mut self, parent: u64, name: &OsStr) -> Result<()> {
        let ino = *self.dir(parent)?.volatile.get(name).ok_or(libc::ENOENT)?;
        if !self.dir(ino)?.volatile.is_empty() {
            return Err(libc::ENOTEMPTY);
        }
        self.dir_mut(parent)?.volatile.remove(name);
        self.drop_name(ino);
        self.touch(parent);
        self.log_ns(NsOp::Unlink {
            dir: parent,
            name: name.to_owned(),
        });
        Ok(())
    }

    /// Whether `dir` is `ancestor` or lies below it (a directory cannot move into itself).
    fn is_within(&self, dir: u64, ancestor: u64) -> bool {
        if dir == ancestor {
            return true;
        }
        let mut stack = vec![ancestor];
        while let Some(d) = stack.pop() {
            if let Ok(dn) = self.dir(d) {
                for &child in dn.volatile.values() {
                    if child == dir {
                        return true;
                    }
                    if self.dir(child).is_ok() {
                        stack.push(child);
                    }
                }
            }
        }
        false
    }

    pub fn rename(
        &mut self,
        odir: u64,
        oname: &OsStr,
        ndir: u64,
        nname: &OsStr,
        noreplace: bool,
    ) -> Result<()> {
        Self::check_name(nname)?;
        let ino = *self.dir(odir)?.volatile.get(oname).ok_or(libc::ENOENT)?;
        self.dir(ndir)?;
        let kind = self.inode(ino)?.kind();
        if kind == Kind::Dir && self.is_within(ndir, ino) {
            return Err(libc::EINVAL);
        }
        let target = self.dir(ndir)?.volatile.get(nname).copied();
        if let Some(t) = target {
            if noreplace {
                return Err(libc::EEXIST);
            }
            if t == ino {
                // Two names of one file: rename does nothing (POSIX).
                return Ok(());
            }
            match (kind, self.inode(t)?.kind()) {
                (Kind::File, Kind::Dir) => return Err(libc::EISDIR),
                (Kind::Dir, Kind::File) => return Err(libc::ENOTDIR),
                (Kind::Dir, Kind::Dir) if !self.dir(t)?.volatile.is_empty() => {
                    return Err(libc::ENOTEMPTY);
                }
                _ => {}
            }
            self.drop_name(t);
        }
        self.dir_mut(odir)?.volatile.remove(oname);
        self.dir_mut(ndir)?.volatile.insert(nname.to_owned(), ino);
        self.touch(odir);
        self.touch(ndir);
        self.inode_mut(ino)?.ctime = now();
        self.log_ns(NsOp::Rename {
            odir,
            oname: oname.to_owned(),
            ndir,
            nname: nname.to_owned(),
            ino,
        });
        Ok(())
    }

    /// Entries of a directory now (`.` and `..` excluded): name, inode, kind.
    pub fn list(&self, ino: u64) -> Result<Vec<(OsString, u64, Kind)>> {
        let d = self.dir(ino)?;
        Ok(d.volatile
            .iter()
            .map(|(n, &i)| {
                let k = self.inodes.get(&i).map_or(Kind::File, Inode::kind);
                (n.clone(), i, k)
            })
            .collect())
    }

    pub fn read(&self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        match &self.inode(ino)?.node {
            Node::File(f) => {
                let len = f.volatile.len() as u64;
                let start = offset.min(len) as usize;
                let end = (offset.saturating_add(u64::from(size))).min(len) as usize;
                Ok(f.volatile[start..end].to_vec())
            }
            Node::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<u32> {
        if offset.saturating_add(data.len() as u64) > (1 << 40) {
            return Err(libc::EFBIG);
        }
        let op = DataOp::Write {
            offset,
            data: data.to_vec(),
        };
        let f = self.file_mut(ino)?;
        op.apply(&mut f.volatile);
        f.log.push(op);
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        self.touch(ino);
        Ok(data.len() as u32)
    }

    pub fn set_len(&mut self, ino: u64, len: u64) -> Result<()> {
        if len > (1 << 40) {
            return Err(libc::EFBIG);
        }
        let f = self.file_mut(ino)?;
        let op = DataOp::SetLen(len);
        op.apply(&mut f.volatile);
        f.log.push(op);
        self.touch(ino);
        Ok(())
    }

    pub fn set_perm(&mut self, ino: u64, perm: u16) -> Result<()> {
        let i = self.inode_mut(ino)?;
        i.perm = perm & 0o7777;
        i.ctime = now();
        Ok(())
    }

    pub fn set_mtime(&mut self, ino: u64, t: SystemTime) -> Result<()> {
        self.inode_mut(ino)?.mtime = t;
        Ok(())
    }

    /// Replay the first `n` pending namespace operations onto the durable directories.
    fn commit_namespace(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.stats.namespace_commits += 1;
        let ops: Vec<NsOp> = self.ns_log.drain(..n).collect();
        for op in ops {
            match op {
                NsOp::Link { dir, name, ino } => {
                    if let Ok(d) = self.dir_mut(dir) {
                        d.durable.insert(name, ino);
                    }
                }
                NsOp::Unlink { dir, name } => {
                    if let Ok(d) = self.dir_mut(dir) {
                        d.durable.remove(&name);
                    }
                }
                NsOp::Rename {
                    odir,
                    oname,
                    ndir,
                    nname,
                    ino,
                } => {
                    if let Ok(d) = self.dir_mut(odir) {
                        d.durable.remove(&oname);
                    }
                    if let Ok(d) = self.dir_mut(ndir) {
                        d.durable.insert(nname, ino);
                    }
                }
            }
        }
    }

    /// `fsync` (`datasync == false`) or `fdatasync` of a file or directory.
    pub fn fsync(&mut self, ino: u64, datasync: bool) -> Result<()> {
        let kind = self.inode(ino)?.kind();
        if kind == Kind::Dir {
            self.stats.dir_fsyncs += 1;
            let upto = match self.model {
                Model::Ext4Ordered => self.ns_log.len(),
                Model::Posix => self
                    .ns_log
                    .iter()
                    .rposition(|op| op.touches_dir(ino))
                    .map_or(0, |i| i + 1),
            };
            self.commit_namespace(upto);
            return Ok(());
        }
        if datasync {
            self.stats.fdatasyncs += 1;
        } else {
            self.stats.fsyncs += 1;
        }
        let name_pending = self.ns_log.iter().any(|op| op.names_ino(ino));
        let f = self.file_mut(ino)?;
        let size_changed = f.durable.len() != f.volatile.len()
            || f.log.iter().any(|op| matches!(op, DataOp::SetLen(_)));
        for op in std::mem::take(&mut f.log) {
            op.apply(&mut f.durable);
        }
        debug_assert_eq!(f.durable, f.volatile);
        if self.model == Model::Ext4Ordered && (!datasync || size_changed || name_pending) {
            let n = self.ns_log.len();
            self.commit_namespace(n);
        }
        Ok(())
    }

    /// Everything durable now (`sync(2)` of the whole filesystem, for setting a test up).
    pub fn sync_all(&mut self) {
        let n = self.ns_log.len();
        self.commit_namespace(n);
        for i in self.inodes.values_mut() {
            if let Node::File(f) = &mut i.node {
                for op in std::mem::take(&mut f.log) {
                    op.apply(&mut f.durable);
                }
            }
        }
    }

    /// The power cut. Afterwards the volatile layer equals the durable one.
    pub fn cut(&mut self, torn: Torn, rng: &mut Rng) -> CutReport {
        let mut report = CutReport {
            namespace_pending: self.ns_log.len(),
            ..CutReport::default()
        };
        let ns_keep = match torn {
            Torn::None => 0,
            Torn::FirstPieces(_) => self.ns_log.len(),
            Torn::Pages | Torn::Prefix | Torn::Reorder => rng.upto(self.ns_log.len()),
        };
        report.namespace_kept = ns_keep;
        self.commit_namespace(ns_keep);
        self.ns_log.clear();
        let mut inos: Vec<u64> = self.inodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let Some(Inode { node, .. }) = self.inodes.get_mut(&ino) else {
                continue;
            };
            match node {
                Node::File(f) => {
                    let log = std::mem::take(&mut f.log);
                    if torn == Torn::Pages {
                        let (pending, kept) = keep_pages(f, &log, rng);
                        report.pieces_pending += pending;
                        report.pieces_kept += kept;
                    } else {
                        let pieces: Vec<DataOp> = log.iter().flat_map(DataOp::pieces).collect();
                        report.pieces_pending += pieces.len();
                        let kept: Vec<&DataOp> = match torn {
                            Torn::None | Torn::Pages => Vec::new(),
                            Torn::Prefix => {
                                let k = rng.upto(pieces.len());
                                pieces[..k].iter().collect()
                            }
                            Torn::Reorder => {
                                pieces.iter().filter(|_| rng.next_u64() & 1 == 1).collect()
                            }
                            Torn::FirstPieces(n) => pieces.iter().take(n).collect(),
                        };
                        report.pieces_kept += kept.len();
                        for op in kept {
                            op.apply(&mut f.durable);
                        }
                    }
                    if f.volatile != f.durable {
                        report.files_reverted += 1;
                        f.volatile = f.durable.clone();
                    }
                }
                Node::Dir(d) => d.volatile = d.durable.clone(),
            }
        }
        // Free what no durable name reaches; count names again.
        let mut links: HashMap<u64, u32> = HashMap::new();
        let mut stack = vec![ROOT];
        links.insert(ROOT, 1);
        while let Some(d) = stack.pop() {
            let children: Vec<u64> = match self.inodes.get(&d).map(|i| &i.node) {
                Some(Node::Dir(dn)) => dn.durable.values().copied().collect(),
                _ => Vec::new(),
            };
            for c in children {
                let first = !links.contains_key(&c);
                *links.entry(c).or_insert(0) += 1;
                if first && matches!(self.inodes.get(&c).map(|i| &i.node), Some(Node::Dir(_))) {
                    stack.push(c);
                }
            }
        }
        let before = self.inodes.len();
        self.inodes.retain(|ino, _| links.contains_key(ino));
        report.inodes_freed = before - self.inodes.len();
        for (ino, n) in links {
            if let Some(i) = self.inodes.get_mut(&ino) {
                i.nlink = n;
            }
        }
        self.stats.cuts += 1;
        report
    }

    /// Bytes held (both layers and logs), for statfs.
    pub fn bytes_used(&self) -> u64 {
        self.inodes
            .values()
            .map(|i| match &i.node {
                Node::File(f) => (f.volatile.len() + f.durable.len()) as u64,
                Node::Dir(_) => PAGE,
            })
            .sum()
    }

    pub fn inode_count(&self) -> u64 {
        self.inodes.len() as u64
    }

    /// Path lookup from the root in the volatile namespace (for tests and harnesses).
    pub fn resolve(&self, path: &std::path::Path) -> Result<u64> {
        let mut ino = ROOT;
        for c in path.components() {
            match c {
                std::path::Component::Normal(n) => ino = self.lookup(ino, n)?.ino,
                std::path::Component::RootDir | std::path::Component::CurDir => {}
                _ => return Err(libc::EINVAL),
            }
        }
        Ok(ino)
    }

    /// The current content of a file (for tests).
    pub fn content(&self, ino: u64) -> Result<Vec<u8>> {
        match &self.inode(ino)?.node {
            Node::File(f) => Ok(f.volatile.clone()),
            Node::Dir(_) => Err(libc::EISDIR),
        }
    }
}
