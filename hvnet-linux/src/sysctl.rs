//! Reading and writing kernel parameters under `/proc/sys`.
//!
//! Keys are given as paths relative to `/proc/sys` with `/` as the only
//! separator, e.g. `net/ipv4/conf/vif1.0/proxy_arp`: interface names may
//! contain dots, so the dotted `sysctl(8)` notation is ambiguous and is only
//! used for display (see [`dotted`]).
//!
//! Network sysctls (`net/...`) belong to the network namespace of the
//! *calling thread*, so running these functions inside
//! [`netns::run_in`](crate::netns::run_in) reads and writes the namespace's
//! values without touching the host's.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Root of the sysctl tree.
const PROC_SYS: &str = "/proc/sys";

/// An error reading or writing a sysctl. Keys are shown in dotted form.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is not a well-formed relative path.
    #[error("invalid sysctl key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// No such sysctl (in the calling thread's network namespace, for `net/` keys).
    #[error("sysctl {key}: no such key")]
    NotFound {
        /// The key in dotted form.
        key: String,
    },
    /// Reading the value failed.
    #[error("read sysctl {key}: {source}")]
    Read {
        /// The key in dotted form.
        key: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the value failed (`EINVAL` usually means the kernel rejected the value).
    #[error("write sysctl {key} = {value:?}: {source}")]
    Write {
        /// The key in dotted form.
        key: String,
        /// The value that was being written.
        value: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Formats a slash-separated key the way `sysctl(8)` displays it.
///
/// Components are joined with `.`; a `.` inside a component (as in the
/// interface name `vif1.0`) is shown as `/`.
///
/// ```
/// use hvnet_linux::sysctl::dotted;
/// assert_eq!(dotted("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
/// assert_eq!(
///     dotted("net/ipv4/conf/vif1.0/proxy_arp"),
///     "net.ipv4.conf.vif1/0.proxy_arp"
/// );
/// ```
pub fn dotted(path: &str) -> String {
    path.trim_matches('/')
        .split('/')
        .filter(|c| !c.is_empty())
        .map(|c| c.replace('.', "/"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads a sysctl, without its trailing newline.
///
/// ```no_run
/// let forwarding = hvnet_linux::sysctl::read("net/ipv4/ip_forward")?;
/// assert!(forwarding == "0" || forwarding == "1");
/// # Ok::<(), hvnet_linux::sysctl::SysctlError>(())
/// ```
pub fn read(path: &str) -> Result<String, SysctlError> {
    let full = full_path(path)?;
    let read_err = |source: io::Error| SysctlError::Read {
        key: dotted(path),
        source,
    };
    let mut file = File::open(&full).map_err(|e| not_found_or(path, e, read_err))?;
    let mut value = String::new();
    file.read_to_string(&mut value).map_err(read_err)?;
    let trimmed_len = value.trim_end_matches('\n').len();
    value.truncate(trimmed_len);
    Ok(value)
}

/// Writes a sysctl.
///
/// The value is written with a single `write(2)` (as procfs expects), followed
/// by nothing else: the kernel ignores a missing trailing newline.
///
/// ```no_run
/// hvnet_linux::sysctl::write("net/ipv4/conf/vif1.0/proxy_arp", "1")?;
/// # Ok::<(), hvnet_linux::sysctl::SysctlError>(())
/// ```
pub fn write(path: &str, value: &str) -> Result<(), SysctlError> {
    let full = full_path(path)?;
    let write_err = |source: io::Error| SysctlError::Write {
        key: dotted(path),
        value: value.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .open(&full)
        .map_err(|e| not_found_or(path, e, write_err))?;
    let written = file.write(value.as_bytes()).map_err(write_err)?;
    if written != value.len() {
        return Err(write_err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({written} of {} bytes)", value.len()),
        )));
    }
    Ok(())
}

/// Validates `path` and joins it onto `/proc/sys`.
fn full_path(path: &str) -> Result<PathBuf, SysctlError> {
    let invalid = |reason| SysctlError::InvalidKey {
        key: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("empty"));
    }
    if path.starts_with('/') {
        return Err(invalid("must be relative to /proc/sys"));
    }
    if path.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(invalid("empty path component")),
            "." | ".." => return Err(invalid("'.' and '..' components are not allowed")),
            _ => {}
        }
    }
    Ok(PathBuf::from(PROC_SYS).join(path))
}

/// Maps `ENOENT` to [`SysctlError::NotFound`], anything else through `other`.
fn not_found_or(
    path: &str,
    err: io::Error,
    other: impl FnOnce(io::Error) -> SysctlError,
) -> SysctlError {
    if err.kind() == io::ErrorKind::NotFound {
        SysctlError::NotFound { key: dotted(path) }
    } else {
        other(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_form() {
        assert_eq!(dotted("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            dotted("net/ipv6/conf/eth0.100/forwarding"),
            "net.ipv6.conf.eth0/100.forwarding"
        );
        assert_eq!(dotted("kernel/hostname"), "kernel.hostname");
        assert_eq!(dotted(""), "");
    }

    #[test]
    fn key_validation() {
        assert!(full_path("net/ipv4/ip_forward").is_ok());
        assert!(full_path("net/ipv4/conf/vif1.0/proxy_arp").is_ok());
        for bad in [
            "",
            "/net/ipv4",
            "net//ipv4",
            "net/../etc",
            "net/./x",
            "net/",
        ] {
            assert!(
                matches!(full_path(bad), Err(SysctlError::InvalidKey { .. })),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            full_path("net/ipv4/conf/vif1.0/proxy_arp").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/vif1.0/proxy_arp")
        );
    }

    #[test]
    fn missing_key_is_not_found_and_dotted() {
        let err = read("net/ipv4/conf/no-such.if/forwarding").unwrap_err();
        assert!(matches!(err, SysctlError::NotFound { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "sysctl net.ipv4.conf.no-such/if.forwarding: no such key"
        );
    }

    #[test]
    fn read_trims_newline() {
        // Readable by anyone and present on every Linux system.
        let v = read("kernel/ostype").unwrap();
        assert_eq!(v, "Linux");
    }
}
