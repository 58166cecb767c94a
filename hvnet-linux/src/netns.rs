//! Named network namespaces, kept alive by bind mounts in `/run/netns`.
//!
//! This follows the iproute2 (`ip netns`) convention, so namespaces created
//! here are visible to `ip -n NAME` and vice versa, but everything is done
//! with system calls:
//!
//! * `/run/netns` is made a shared mount point (bind-mounting it onto itself
//!   the first time), so that the namespace mounts propagate into mount
//!   namespaces created later (as `ip netns exec` does);
//! * a namespace is created by a short-lived thread that `unshare`s
//!   `CLONE_NEWNET` and bind-mounts its `/proc/thread-self/ns/net` onto
//!   `/run/netns/NAME`; the caller's namespace never changes.
//!
//! Network namespaces are per *thread*: [`enter`] moves only the calling
//! thread, and [`run_in`] runs a closure on a fresh thread inside a
//! namespace. Note that `/proc/self/net` (and `/proc/net`) show the thread
//! group leader's namespace, not the calling thread's; `/proc/sys/net` and
//! sockets follow the calling thread.

use std::any::Any;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{fstatfs, statfs, NSFS_MAGIC};

/// Where named namespaces are mounted.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The calling thread's own network namespace file.
const THREAD_SELF_NETNS: &str = "/proc/thread-self/ns/net";

/// Longest accepted namespace name (a file name).
const MAX_NAME_LEN: usize = 255;

/// Whether this process has already made [`NETNS_RUN_DIR`] a shared mount
/// point; the mutex also serializes that step between threads so that the
/// directory is bind-mounted onto itself only once.
static RUN_DIR_SHARED: Mutex<bool> = Mutex::new(false);

/// An error handling a named network namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The name cannot be used as a namespace name.
    #[error("invalid network namespace name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// `/run/netns/NAME` already exists.
    #[error("network namespace {name} already exists")]
    AlreadyExists {
        /// The namespace name.
        name: String,
    },
    /// `/run/netns/NAME` does not exist.
    #[error("network namespace {name} does not exist")]
    NotFound {
        /// The namespace name.
        name: String,
    },
    /// `/run/netns/NAME` exists but no namespace is mounted on it (for
    /// example left behind by an interrupted create; [`delete`] removes it).
    #[error("network namespace {name}: {} is not a namespace mount", path(name).display())]
    NotANamespace {
        /// The namespace name.
        name: String,
    },
    /// A system call failed.
    #[error("network namespace {name}: {step}: {source}")]
    Io {
        /// The namespace name.
        name: String,
        /// What we were doing.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The closure given to [`run_in`] panicked.
    #[error("network namespace {name}: task panicked: {message}")]
    Panicked {
        /// The namespace name.
        name: String,
        /// The panic message, when it was a string.
        message: String,
    },
}

impl NetnsError {
    fn io(name: &str, step: &'static str, source: impl Into<io::Error>) -> Self {
        NetnsError::Io {
            name: name.to_owned(),
            step,
            source: source.into(),
        }
    }
}

/// The file a named namespace is mounted on: `/run/netns/NAME`.
///
/// The name is not validated here; every fallible function of this module
/// validates it.
///
/// ```
/// assert_eq!(
///     hvnet_linux::netns::path("guests"),
///     std::path::PathBuf::from("/run/netns/guests")
/// );
/// ```
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Creates the named network namespace `name`.
///
/// The new namespace is empty (only a down `lo`); the caller's namespace is
/// unchanged. Fails with [`NetnsError::AlreadyExists`] if `/run/netns/NAME`
/// exists, even if nothing is mounted on it.
///
/// ```no_run
/// use hvnet_linux::netns;
/// netns::create("guests")?;
/// assert!(netns::exists("guests"));
/// netns::delete("guests")?;
/// # Ok::<(), netns::NetnsError>(())
/// ```
pub fn create(name: &str) -> Result<(), NetnsError> {
    validate_name(name)?;
    ensure_run_dir(name)?;

    let target = path(name);
    // Mode 0, as iproute2 does: the file is only a mount point.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&target)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => NetnsError::AlreadyExists {
                name: name.to_owned(),
            },
            _ => NetnsError::io(name, "create mount point file", e),
        })?;

    let mounted = thread::scope(|s| {
        thread::Builder::new()
            .name("netns-create".to_owned())
            .spawn_scoped(s, || -> Result<(), NetnsError> {
                // This thread never returns to the caller's namespace: it
                // exits right after mounting.
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NetnsError::io(name, "unshare(CLONE_NEWNET)", e))?;
                mount(
                    Some(THREAD_SELF_NETNS),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| NetnsError::io(name, "bind-mount /proc/thread-self/ns/net", e))
            })
            .map_err(|e| NetnsError::io(name, "spawn thread", e))?
            .join()
            .map_err(|payload| NetnsError::Panicked {
                name: name.to_owned(),
                message: panic_message(payload.as_ref()),
            })?
    });
    if mounted.is_err() {
        // Best effort: the mount failed, so only the empty file is left.
        let _ = fs::remove_file(&target);
    }
    mounted
}

/// Whether the named namespace exists, i.e. a namespace is mounted on
/// `/run/netns/NAME`. Invalid names never exist.
pub fn exists(name: &str) -> bool {
    validate_name(name).is_ok()
        && statfs(&path(name)).is_ok_and(|st| st.filesystem_type() == NSFS_MAGIC)
}

/// Lists the named namespaces, sorted by name.
///
/// Only entries with a namespace mounted on them are listed; a missing
/// `/run/netns` gives an empty list.
pub fn list() -> Vec<String> {
    let Ok(entries) = fs::read_dir(NETNS_RUN_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| exists(name))
        .collect();
    names.sort();
    names
}

/// Opens the named namespace, for `setns(2)` or for passing to netlink
/// (`IFLA_NET_NS_FD`).
///
/// The descriptor is close-on-exec and checked to be a namespace file.
pub fn open(name: &str) -> Result<OwnedFd, NetnsError> {
    validate_name(name)?;
    let file = File::open(path(name)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => NetnsError::NotFound {
            name: name.to_owned(),
        },
        _ => NetnsError::io(name, "open", e),
    })?;
    let st = fstatfs(&file).map_err(|e| NetnsError::io(name, "fstatfs", e))?;
    if st.filesystem_type() != NSFS_MAGIC {
        return Err(NetnsError::NotANamespace {
            name: name.to_owned(),
        });
    }
    Ok(OwnedFd::from(file))
}

/// Moves the calling thread (only) into the named namespace.
///
/// Prefer [`run_in`], which leaves the calling thread alone.
pub fn enter(name: &str) -> Result<(), NetnsError> {
    let fd = open(name)?;
    setns(&fd, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::io(name, "setns", e))
}

/// Deletes the named namespace: detaches its mount and removes the file.
///
/// A namespace that does not exist (or a leftover file with nothing mounted
/// on it) is not an error. The namespace itself lives on while processes,
/// open descriptors or sockets still refer to it.
pub fn delete(name: &str) -> Result<(), NetnsError> {
    validate_name(name)?;
    let target = path(name);
    match umount2(&target, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a leftover file).
        Ok(()) | Err(Errno::ENOENT) | Err(Errno::EINVAL) => {}
        Err(e) => return Err(NetnsError::io(name, "umount2", e)),
    }
    match fs::remove_file(&target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetnsError::io(name, "unlink", e)),
    }
}

/// Runs `f` on a new thread that has entered the named namespace, and
/// returns its result. The calling thread's namespace does not change.
///
/// A panic in `f` is returned as [`NetnsError::Panicked`].
///
/// ```no_run
/// use hvnet_linux::{netns, sysctl};
/// let forwarding = netns::run_in("guests", || sysctl::read("net/ipv4/ip_forward"))??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    // Open on the calling thread so that a missing namespace is reported
    // without spawning anything.
    let fd = open(name)?;
    let owned_name = name.to_owned();
    let handle = thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || -> Result<T, NetnsError> {
            setns(&fd, CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetnsError::io(&owned_name, "setns", e))?;
            drop(fd);
            Ok(f())
        })
        .map_err(|e| NetnsError::io(name, "spawn thread", e))?;
    handle.join().map_err(|payload| NetnsError::Panicked {
        name: name.to_owned(),
        message: panic_message(payload.as_ref()),
    })?
}

/// Checks that `name` is usable as a file name in `/run/netns`.
fn validate_name(name: &str) -> Result<(), NetnsError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_NAME_LEN {
        "longer than 255 bytes"
    } else if name == "." || name == ".." {
        "'.' and '..' are not allowed"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(NetnsError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// Creates `/run/netns` and makes it a shared mount point, once per process.
fn ensure_run_dir(name: &str) -> Result<(), NetnsError> {
    // A poisoned lock only means another thread panicked mid-way; the state
    // it protects is re-checked by the kernel calls below.
    let mut shared = RUN_DIR_SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if *shared {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_RUN_DIR)
        .map_err(|e| NetnsError::io(name, "create /run/netns", e))?;

    let make_shared = || {
        mount(
            None::<&str>,
            NETNS_RUN_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match make_shared() {
        Ok(()) => {}
        // EINVAL: not a mount point yet. Bind it onto itself and retry.
        Err(Errno::EINVAL) => {
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| NetnsError::io(name, "bind-mount /run/netns onto itself", e))?;
            make_shared().map_err(|e| NetnsError::io(name, "make /run/netns shared", e))?;
        }
        Err(e) => return Err(NetnsError::io(name, "make /run/netns shared", e)),
    }
    *shared = true;
    Ok(())
}

/// Extracts the message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_validation() {
        for good in ["a", "guests", "hvt-1-2", "with.dot", &"x".repeat(255)] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
        for bad in ["", ".", "..", "a/b", "/", "a\0b", &"x".repeat(256)] {
            assert!(
                matches!(validate_name(bad), Err(NetnsError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(!exists("../etc"));
    }

    #[test]
    fn path_is_under_run_netns() {
        assert_eq!(path("x"), PathBuf::from("/run/netns/x"));
    }

    #[test]
    fn panic_messages() {
        let p: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(panic_message(p.as_ref()), "boom");
        let p: Box<dyn Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(p.as_ref()), "bang");
        let p: Box<dyn Any + Send> = Box::new(7_u8);
        assert_eq!(panic_message(p.as_ref()), "non-string panic payload");
    }
}
