//! The per-host exclusive apply lock.
//!
//! Only one hvnet process may change a host's network at a time. The lock is
//! an advisory `flock(2)` on a well-known file; the holder writes its pid into
//! the file so that a waiter that gives up can say who holds it.
//!
//! `flock` locks belong to the open file description, so two [`HostLock`]s
//! taken on the same path from two threads of one process exclude each other
//! just as two processes do.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How long to sleep between two attempts to take a busy lock.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// An error taking the host lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another holder kept the lock for the whole timeout.
    #[error(
        "timed out after {waited:?} waiting for lock {}{}",
        path.display(),
        holder_pid.map(|p| format!(" (held by pid {p})")).unwrap_or_default()
    )]
    Timeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// The pid the holder wrote into the file, if it could be read.
        holder_pid: Option<u32>,
    },
    /// A file-system or `flock` error.
    #[error("lock {}: {step}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What we were doing.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// An exclusive lock on the host's network configuration, released on drop.
///
/// ```no_run
/// use std::path::Path;
/// use std::time::Duration;
/// use hvnet_linux::lock::HostLock;
///
/// let _guard = HostLock::acquire(Path::new("/run/hvnet/apply.lock"), Duration::from_secs(10))?;
/// // ... apply changes; the lock is released when `_guard` goes out of scope.
/// # Ok::<(), hvnet_linux::lock::LockError>(())
/// ```
#[derive(Debug)]
pub struct HostLock {
    file: Flock<File>,
    path: PathBuf,
    shared: bool,
}

impl HostLock {
    /// Takes the lock at `path`, waiting up to `timeout` for a current holder
    /// to release it.
    ///
    /// Missing parent directories are created with mode 0755 and the file
    /// with mode 0644. A zero `timeout` makes exactly one attempt. Once the
    /// lock is held, our pid replaces the file's contents.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<HostLock, LockError> {
        Self::acquire_mode(path, timeout, false)
    }

    /// Takes the lock at `path` shared (many shared holders at once, none while an
    /// exclusive holder has it), waiting up to `timeout`. A shared holder writes no pid.
    pub fn acquire_shared(path: &Path, timeout: Duration) -> Result<HostLock, LockError> {
        Self::acquire_mode(path, timeout, true)
    }

    fn acquire_mode(path: &Path, timeout: Duration, shared: bool) -> Result<HostLock, LockError> {
        let io_err = |step| {
            let path = path.to_path_buf();
            move |source| LockError::Io { path, step, source }
        };
        let mut file = open_lock_file(path, shared).map_err(io_err("open"))?;

        let start = Instant::now();
        let locked = loop {
            let how = if shared {
                FlockArg::LockSharedNonblock
            } else {
                FlockArg::LockExclusiveNonblock
            };
            match Flock::lock(file, how) {
                Ok(locked) => break locked,
                Err((f, Errno::EWOULDBLOCK)) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(LockError::Timeout {
                            path: path.to_path_buf(),
                            waited,
                            holder_pid: read_pid(&f),
                        });
                    }
                    thread::sleep(RETRY_INTERVAL.min(timeout - waited));
                    file = f;
                }
                Err((f, Errno::EINTR)) => file = f,
                Err((_, errno)) => return Err(io_err("flock")(io::Error::from(errno))),
            }
        };

        if !shared {
            // Written over whatever is there, in a fixed width: no truncation (a metadata
            // change, which costs a journal transaction on ext4) on every command.
            let pid = format!("{:>PID_WIDTH$}\n", std::process::id());
            locked
                .write_all_at(pid.as_bytes(), 0)
                .map_err(io_err("write pid"))?;
        }
        Ok(HostLock {
            file: locked,
            path: path.to_path_buf(),
            shared,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // Clear our pid while still holding the lock so that nobody reads a
        // stale holder; the lock itself is released when `file` is closed.
        // Errors cannot be reported from drop and do not affect the release.
        if !self.shared {
            let _ = self.file.write_all_at(&[b' '; PID_WIDTH + 1], 0);
        }
    }
}

/// The width the holder's pid is written in (`pid_max` is at most 2^22, 7 digits), and
/// blanked over on release.
const PID_WIDTH: usize = 10;

/// Opens the lock file: read-only for a shared holder where it exists (an unprivileged
/// reader can lock a root-owned file), else read-write, created with mode 0644.
fn open_lock_file(path: &Path, shared: bool) -> io::Result<File> {
    if shared {
        if let Ok(f) = OpenOptions::new().read(true).open(path) {
            return Ok(f);
        }
    }
    crate::state_file::open_in_dir(path, &crate::state_file::writable())
}

/// Reads the holder's pid from the lock file, if it holds one.
fn read_pid(mut file: &File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// A lock shared with shell scripts that use the *with-lock-ex* protocol, as Xen's hotplug
/// scripts do (`claim_lock`/`release_lock` in `tools/hotplug/Linux/locking.sh`): open (create)
/// the file, `flock -x` it, and keep it only if the path still names the locked file
/// (same device and inode); otherwise a previous holder deleted it meanwhile, so try again.
/// Releasing deletes the file, then closes it.
///
/// Unlike [`HostLock`] it writes nothing into the file.
#[derive(Debug)]
pub struct LockEx {
    file: Option<Flock<File>>,
    path: PathBuf,
}

impl LockEx {
    /// Takes the lock at `path`, waiting up to `timeout`; missing parent directories are
    /// created (mode 0755) and the file with mode 0644.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<LockEx, LockError> {
        use std::os::unix::fs::MetadataExt;
        let io_err = |step| {
            let path = path.to_path_buf();
            move |source| LockError::Io { path, step, source }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(io_err("create parent directory"))?;
        }
        let start = Instant::now();
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io_err("open"))?;
            let locked = loop {
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(locked) => break locked,
                    Err((f, Errno::EWOULDBLOCK)) => {
                        let waited = start.elapsed();
                        if waited >= timeout {
                            return Err(LockError::Timeout {
                                path: path.to_path_buf(),
                                waited,
                                holder_pid: None,
                            });
                        }
                        thread::sleep(RETRY_INTERVAL.min(timeout - waited));
                        file = f;
                    }
                    Err((f, Errno::EINTR)) => file = f,
                    Err((_, errno)) => return Err(io_err("flock")(io::Error::from(errno))),
                }
            };
            let held = locked.metadata().map_err(io_err("fstat"))?;
            match std::fs::metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(LockEx {
                        file: Some(locked),
                        path: path.to_path_buf(),
                    });
                }
                // Deleted (or replaced) by the previous holder: lock the new file.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("stat")(e)),
            }
            if start.elapsed() >= timeout {
                return Err(LockError::Timeout {
                    path: path.to_path_buf(),
                    waited: start.elapsed(),
                    holder_pid: None,
                });
            }
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockEx {
    fn drop(&mut self) {
        // release_lock: delete the file while holding the lock, then close it. A waiter
        // that locked the deleted file notices the inode mismatch and starts over.
        let _ = std::fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

#[cfg(test)]
mod lock_ex_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn excludes_and_deletes_on_release() {
        let dir = std::env::temp_dir().join(format!("hvnet-lockex-{}", std::process::id()));
        let path = dir.join("iptables");
        let first = LockEx::acquire(&path, Duration::from_secs(1)).unwrap();
        assert!(path.exists());
        let err = LockEx::acquire(&path, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err}");
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || LockEx::acquire(&path, Duration::from_secs(5)).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(60));
        drop(first);
        waiter.join().unwrap().unwrap();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
