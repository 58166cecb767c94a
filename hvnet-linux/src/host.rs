//! [`LinuxHost`]: the kernel of the current network namespace, as hvnet's observer
//! ([`hvnet_core::backend::Observe`], in `observe.rs`), executor
//! ([`hvnet_core::backend::Execute`], in `execute.rs`) and journal (`journal.rs`), and so
//! the engine's [`hvnet_core::engine::Host`].
//!
//! The host lock is two files in the state directory: `lock`, which writers hold
//! exclusively for the whole command (an `apply --confirm` watchdog keeps it until it is
//! done), and `lock.rw`, which writers hold exclusively while they observe and change the
//! host and readers hold shared while they read it. So writers run one at a time, readers
//! never see a half-built host and never wait for each other, and a reader is not held up by
//! a watchdog that only waits.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use hvnet_core::engine::{Host, LockFailure, LockMode};
use hvnet_core::state::SysctlKey;

use crate::lock::{HostLock, LockError};
use crate::netlink::{NlError, Rtnl};

/// The writers' lock file in the state directory.
pub const LOCK_FILE: &str = "lock";
/// The readers/writers lock file in the state directory.
pub const RW_LOCK_FILE: &str = "lock.rw";

/// The kernel of the calling thread's network namespace.
///
/// ```no_run
/// use hvnet_core::backend::Observe;
/// let mut host = hvnet_linux::LinuxHost::open()?;
/// let now = host.observe(&hvnet_core::backend::Query::everything())?;
/// println!("{} links", now.links.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LinuxHost {
    pub(crate) rtnl: Rtnl,
    /// Interface name → index, filled by `observe` and kept current by `execute`.
    pub(crate) index: HashMap<String, u32>,
    /// Kernel writes that did not go through rtnetlink (tap ioctls, sysctls).
    pub(crate) other_writes: u64,
    /// Made on the first tap this host creates.
    pub(crate) taps: Option<crate::tap::TapMaker>,
    /// hvnet's state directory (dnsmasq files, saved sysctls, firewall marker).
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// The firewall backend, selected on first use.
    pub(crate) firewall: Option<crate::firewall::Firewall>,
    /// Which firewall backend to select.
    pub(crate) firewall_choice: crate::firewall::Choice,
    /// What the journal cost.
    pub(crate) journal_stats: crate::journal::JournalStats,
    /// Whether the journal is `fsync`ed.
    pub(crate) journal_sync: bool,
    /// Told `(ops issued, ops in the batch)` as a batch runs.
    pub(crate) progress: Option<Box<dyn FnMut(usize, usize)>>,
    /// How long to wait for the host lock.
    pub(crate) lock_timeout: Duration,
    /// The writers' lock, while held.
    pub(crate) writer: Option<HostLock>,
    /// The readers/writers lock, while held, and whether shared.
    pub(crate) rw: Option<(HostLock, LockMode)>,
    /// Where sysfs is (SR-IOV VFs are found and bound there): `/sys`.
    pub(crate) sysfs_root: PathBuf,
}

impl LinuxHost {
    /// Opens an rtnetlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, NlError> {
        Ok(Self {
            rtnl: Rtnl::open()?,
            index: HashMap::new(),
            other_writes: 0,
            taps: None,
            state_dir: None,
            firewall: None,
            firewall_choice: crate::firewall::Choice::Auto,
            journal_stats: crate::journal::JournalStats::default(),
            journal_sync: false,
            progress: None,
            lock_timeout: Duration::from_secs(30),
            writer: None,
            rw: None,
            sysfs_root: PathBuf::from("/sys"),
        })
    }

    /// Reads and writes SR-IOV VFs in the sysfs tree at `root` instead of `/sys` (a fake
    /// tree in tests; see [`crate::sriov`]).
    pub fn set_sysfs_root(&mut self, root: impl Into<PathBuf>) {
        self.sysfs_root = root.into();
    }

    /// Calls `f(issued, total)` after each op of a batch is issued (a terminal's progress
    /// line); `None` stops it.
    pub fn set_progress(&mut self, f: Option<Box<dyn FnMut(usize, usize)>>) {
        self.progress = f;
    }

    /// How long [`Host::lock`] waits for another holder (default 30 s).
    pub fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = timeout;
    }

    /// Lets go of the readers/writers lock but keeps the writers' lock: nobody else changes
    /// the host, but readers may look (the `apply --confirm` watchdog while it waits).
    pub fn release_readers(&mut self) {
        self.rw = None;
    }

    /// The writers' lock file, for messages.
    pub fn lock_path(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join(LOCK_FILE))
    }

    /// Every state-changing request made so far: netlink writes, tap ioctls, sysctl writes.
    /// A no-op apply leaves it unchanged.
    pub fn writes(&self) -> u64 {
        self.rtnl.writes() + self.other_writes
    }

    /// Current values of `keys` (keys that do not exist are left out).
    pub fn read_sysctls(&self, keys: &[SysctlKey]) -> BTreeMap<SysctlKey, String> {
        keys.iter()
            .filter_map(|k| crate::sysctl::read(&k.path()).ok().map(|v| (k.clone(), v)))
            .collect()
    }

    /// The underlying rtnetlink socket, for callers that need raw requests.
    pub fn rtnl(&mut self) -> &mut Rtnl {
        &mut self.rtnl
    }
}

fn lock_failure(e: LockError) -> LockFailure {
    LockFailure {
        timed_out: matches!(e, LockError::Timeout { .. }),
        message: e.to_string(),
    }
}

impl Host for LinuxHost {
    fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/run/hvnet"))
    }

    fn lock(&mut self, mode: LockMode) -> Result<(), LockFailure> {
        let dir = Host::state_dir(self);
        if mode == LockMode::Exclusive && self.writer.is_none() {
            self.writer = Some(
                HostLock::acquire(&dir.join(LOCK_FILE), self.lock_timeout).map_err(lock_failure)?,
            );
        }
        match (&self.rw, mode) {
            (Some((_, LockMode::Exclusive)), _)
            | (Some((_, LockMode::Shared)), LockMode::Shared) => return Ok(()),
            (Some((_, LockMode::Shared)), LockMode::Exclusive) => self.rw = None,
            (None, _) => {}
        }
        let path = dir.join(RW_LOCK_FILE);
        let lock = match mode {
            LockMode::Shared => HostLock::acquire_shared(&path, self.lock_timeout),
            LockMode::Exclusive => HostLock::acquire(&path, self.lock_timeout),
        }
        .map_err(lock_failure)?;
        self.rw = Some((lock, mode));
        Ok(())
    }

    fn save_name_hints(&mut self, hints: &BTreeMap<String, u32>) -> Result<(), String> {
        LinuxHost::save_name_hints(self, hints).map_err(|e| e.to_string())
    }
}
