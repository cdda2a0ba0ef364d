//! A filesystem that loses power.
//!
//! [`PowerCutFs`] mounts an in-memory filesystem with FUSE (the `fuser` crate, pure-Rust
//! mount: as root, `mount(2)` of `/dev/fuse` directly; otherwise `fusermount3`). Every file
//! and directory has a *durable* layer (what the medium holds) and a *volatile* layer (what
//! programs see: everything written since). `fsync`/`fdatasync`/directory `fsync` move
//! volatile changes into the durable layer according to a [`Model`] of a real filesystem.
//! [`PowerCutFs::cut`] is the power cut: the filesystem stops answering (every request fails
//! with `EIO`, so nothing after the cut instant counts), is unmounted, keeps only its durable
//! layer (plus, with [`Torn`], a random part of what was in flight — harsher), and is mounted
//! again on the same directory for the restart.
//!
//! Model in short (details on [`Model`]):
//! * file data is durable only after `fsync`/`fdatasync` of that file (`close`, `sync_file_range`
//!   and a process exit make nothing durable: with FUSE's write-through, `sync_file_range`
//!   reaches no one);
//! * names (create, mkdir, link, unlink, rename) go through one ordered journal; a commit
//!   makes a prefix of it durable, so a rename is never half done; which syncs commit depends
//!   on the model (ext4 `data=ordered`-like by default, or strict POSIX: only a directory
//!   `fsync` commits);
//! * operations it does not model (`fallocate`, `symlink`, special files, extended
//!   attributes, `ioctl`, `RENAME_EXCHANGE`…) fail with `EOPNOTSUPP` **and** are listed by
//!   [`PowerCutFs::unsupported`], which a test must assert empty: nothing silently passes.
//!   `mmap` needs no support of its own: without a FUSE write-back cache, writes through a
//!   shared mapping reach the filesystem as ordinary writes (and sled 0.34 does not map its
//!   files).

pub mod fuse;
pub mod state;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use state::{CutReport, Model, Rng, State, Stats, Torn};

use fuse::{PowerCutSession, Shared};

/// How long an unmount may wait for the filesystem to become idle (processes of the test
/// killed, their files closed) before it is detached lazily.
const UNMOUNT_PATIENCE: Duration = Duration::from_secs(5);
/// How long to wait for a session thread to end after its unmount.
const JOIN_PATIENCE: Duration = Duration::from_secs(10);

/// A mounted power-cut filesystem. Dropping it unmounts.
pub struct PowerCutFs {
    mountpoint: PathBuf,
    shared: Arc<Shared>,
    session: Option<fuser::BackgroundSession>,
    epoch: u64,
    rng: Rng,
    /// Sessions that would not end (a process still held the old mount): detached, leaked.
    leaked_sessions: usize,
}

impl PowerCutFs {
    /// Mount an empty filesystem on `mountpoint` (an existing empty directory). `seed` drives
    /// the torn states of [`PowerCutFs::cut`].
    pub fn mount(mountpoint: &Path, model: Model, seed: u64) -> io::Result<PowerCutFs> {
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new(State::new(model)),
            live_epoch: std::sync::atomic::AtomicU64::new(0),
        });
        let mut fs = PowerCutFs {
            mountpoint: mountpoint.canonicalize()?,
            shared,
            session: None,
            epoch: 0,
            rng: Rng::new(seed),
            leaked_sessions: 0,
        };
        fs.power_on()?;
        Ok(fs)
    }

    fn power_on(&mut self) -> io::Result<()> {
        self.epoch += 1;
        self.shared.live_epoch.store(self.epoch, Ordering::SeqCst);
        let session = PowerCutSession::new(self.shared.clone(), self.epoch, &self.mountpoint);
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("medsettle-powercut".into()),
            fuser::MountOption::NoAtime,
        ];
        match fuser::spawn_mount(session, &self.mountpoint, &config) {
            Ok(s) => {
                self.session = Some(s);
                Ok(())
            }
            Err(e) => {
                self.shared.live_epoch.store(0, Ordering::SeqCst);
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "mount the power-cut filesystem on {} (needs /dev/fuse and root, or \
                         fusermount3): {e}",
                        self.mountpoint.display()
                    ),
                ))
            }
        }
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The power goes off now: from this instant every request fails with `EIO` and nothing
    /// reaches the state. Kill the programs using the filesystem next, then [`Self::cut`].
    pub fn freeze(&self) {
        // Under the state lock: a request being served finishes before the power goes.
        let _state = self.shared.lock();
        self.shared.live_epoch.store(0, Ordering::SeqCst);
    }

    /// Make everything durable (`sync`), e.g. after setting a test's files up.
    pub fn sync_all(&self) {
        self.shared.lock().sync_all();
    }

    /// The power cut and the restart: freeze (if not yet), unmount, keep what survived
    /// (`torn` decides whether some unsynced writes survive too), mount again. Kill every
    /// process using the filesystem between [`Self::freeze`] and this call.
    pub fn cut(&mut self, torn: Torn) -> io::Result<CutReport> {
        self.freeze();
        self.unmount()?;
        let report = self.shared.lock().cut(torn, &mut self.rng);
        self.power_on()?;
        Ok(report)
    }

    /// Counters (writes, syncs, namespace commits, cuts).
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats()
    }

    /// Operations programs asked for that the model does not cover (must stay empty).
    pub fn unsupported(&self) -> Vec<String> {
        self.shared.lock().unsupported().to_vec()
    }

    /// Sessions that had to be detached lazily because a process still used them.
    pub fn leaked_sessions(&self) -> usize {
        self.leaked_sessions
    }

    /// Read the state directly (for tests).
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.lock())
    }

    fn unmount(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        // A plain unmount fails with EBUSY while a process still has a file open on it (the
        // kernel releases a killed process's files shortly after its death): retry, then
        // detach lazily and abandon the session (its epoch is dead: it can change nothing).
        let started = Instant::now();
        loop {
            match nix::mount::umount(&self.mountpoint) {
                Ok(()) => break,
                Err(nix::errno::Errno::EBUSY) if started.elapsed() < UNMOUNT_PATIENCE => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(nix::errno::Errno::EBUSY) => {
                    nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH)
                        .map_err(io::Error::from)?;
                    self.leaked_sessions += 1;
                    // Dropping the session would try to unmount its mount point again, which
                    // now may hold the next mount: forget it instead.
                    std::mem::forget(session);
                    return Ok(());
                }
                Err(e) => return Err(io::Error::other(format!("unmount: {e}"))),
            }
        }
        // Unmounted: the session's loop ends (ENODEV); join it, boundedly.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(session.umount_and_join());
        });
        match rx.recv_timeout(JOIN_PATIENCE) {
            // An error here is fuser's own second unmount finding nothing mounted.
            Ok(_) => Ok(()),
            Err(_) => {
                self.leaked_sessions += 1;
                Ok(())
            }
        }
    }
}

impl Drop for PowerCutFs {
    fn drop(&mut self) {
        self.freeze();
        let _ = self.unmount();
    }
}
