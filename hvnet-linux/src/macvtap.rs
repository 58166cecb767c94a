//! The character devices of macvtap links: `/dev/tapN`, N being the link's ifindex.
//!
//! The kernel gives each macvtap a device number and devtmpfs (or udev) makes the node
//! `/dev/tapN`. Device names are not per network namespace, though, and ifindexes are: a
//! macvtap in another namespace may hold `/dev/tapN`, and without devtmpfs there is no node
//! at all. So hvnet reads the device number the kernel gave *this* link from sysfs — a sysfs
//! mounted for the calling thread's network namespace, on a private mount namespace of a
//! short-lived thread, so `--netns` reads the right one — makes the node where it is
//! missing, refuses one that is another device's, and sets its owner.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use hvnet_core::macvtap::TapNode;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

/// Where the nodes are.
pub const DEV_DIR: &str = "/dev";

/// The node of the macvtap with this ifindex.
///
/// ```
/// assert_eq!(hvnet_linux::macvtap::node_path(7).to_str(), Some("/dev/tap7"));
/// ```
pub fn node_path(ifindex: u32) -> PathBuf {
    Path::new(DEV_DIR).join(format!("tap{ifindex}"))
}

/// The first ifindex from `from` on whose name `/dev/tapN` no node exists.
///
/// ```
/// let n = hvnet_linux::macvtap::free_index(1_000_000);
/// assert!(n >= 1_000_000 && !hvnet_linux::macvtap::node_path(n).exists());
/// ```
pub fn free_index(from: u32) -> u32 {
    (from..u32::MAX)
        .find(|n| fs::symlink_metadata(node_path(*n)).is_err())
        .unwrap_or(from)
}

/// Why a macvtap's node could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// sysfs did not tell the device number.
    #[error("cannot read the device number of macvtap {name} from sysfs: {source}")]
    Sysfs {
        /// The link.
        name: String,
        /// What failed.
        source: io::Error,
    },
    /// The node exists and is not this link's device.
    #[error("{path} is not the device of macvtap {name} ({found}, the kernel gave it {major}:{minor}); a macvtap of another network namespace may hold the name: remove the stale node or that macvtap")]
    Foreign {
        /// The link.
        name: String,
        /// The node.
        path: String,
        /// What the node is.
        found: String,
        /// The link's device major.
        major: u64,
        /// The link's device minor.
        minor: u64,
    },
    /// Making or changing the node failed.
    #[error("{path}: {source}")]
    Io {
        /// The node.
        path: String,
        /// What failed.
        source: io::Error,
    },
}

/// `major:minor` as sysfs writes it.
fn parse_dev(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A small sysfs attribute, read with one `open` and one `read` (sysfs files report no
/// size worth asking for).
fn read_attr(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let n = fs::File::open(path)?.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The device number of each macvtap in `links` (name, ifindex), read from `sys`; `own`
/// says whether that sysfs was mounted for the calling thread's namespace (else each link's
/// ifindex is checked, since it may show another namespace's links).
fn read_devnums(
    sys: &Path,
    links: &[(String, u32)],
    own: bool,
) -> BTreeMap<String, io::Result<(u64, u64)>> {
    links
        .iter()
        .map(|(name, ifindex)| {
            let net = sys.join("class/net").join(name);
            let r = (|| {
                if !own {
                    let idx = read_attr(&net.join("ifindex"))?;
                    if idx.trim() != ifindex.to_string() {
                        return Err(io::Error::other(format!(
                            "sysfs shows ifindex {} for {name}, not {ifindex}",
                            idx.trim()
                        )));
                    }
                }
                let dir = net.join("macvtap");
                let mut dev = dir.join(format!("tap{ifindex}")).join("dev");
                let text = match read_attr(&dev) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // Whatever the kernel named the device directory.
                        if let Some(e) = fs::read_dir(&dir)?.flatten().next() {
                            dev = e.path().join("dev");
                        }
                        read_attr(&dev)?
                    }
                    r => r?,
                };
                parse_dev(&text).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {text:?}", dev.display()),
                    )
                })
            })();
            (name.clone(), r)
        })
        .collect()
}

/// The device numbers (major, minor) of macvtaps `links` (name, ifindex) of the calling
/// thread's network namespace, from a sysfs mounted for that namespace.
///
/// # Errors
///
/// Per link, [`NodeError::Sysfs`] when its number cannot be read.
pub fn devnums(links: &[(String, u32)]) -> BTreeMap<String, Result<(u64, u64), NodeError>> {
    if links.is_empty() {
        return BTreeMap::new();
    }
    let owned = links.to_vec();
    // A new thread starts in the creating thread's network namespace; there it takes a
    // private mount namespace and mounts a sysfs that shows that network namespace.
    let fresh = std::thread::spawn(move || -> io::Result<_> {
        unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(io::Error::from)?;
        mount(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(io::Error::from)?;
        Ok(read_devnums(Path::new("/sys"), &owned, true))
    })
    .join();
    // Without the right to mount, the host's own /sys (checked against the ifindex).
    let read = match fresh {
        Ok(Ok(r)) => r,
        _ => read_devnums(Path::new("/sys"), links, false),
    };
    read.into_iter()
        .map(|(name, r)| {
            let r = r.map_err(|source| NodeError::Sysfs {
                name: name.clone(),
                source,
            });
            (name, r)
        })
        .collect()
}

/// The owner of the node of macvtap `ifindex`, if it exists and is device `dev`.
pub fn node_owner(ifindex: u32, dev: (u64, u64)) -> Option<TapNode> {
    let meta = fs::symlink_metadata(node_path(ifindex)).ok()?;
    (meta.file_type().is_char_device() && meta.rdev() == makedev(dev.0, dev.1)).then(|| TapNode {
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// Makes the node of macvtap `name` (`ifindex`, device `dev`) exist, owned by `owner`
/// (mode 0600, or 0660 with a group, as libvirt leaves them).
///
/// # Errors
///
/// [`NodeError::Foreign`] when the node is another device; [`NodeError::Io`] when it cannot
/// be made or changed.
pub fn ensure_node(
    name: &str,
    ifindex: u32,
    dev: (u64, u64),
    owner: TapNode,
) -> Result<(), NodeError> {
    let path = node_path(ifindex);
    let shown = path.display().to_string();
    let io_err = |source| NodeError::Io {
        path: shown.clone(),
        source,
    };
    let want = makedev(dev.0, dev.1);
    let mode = if owner.gid != 0 { 0o660 } else { 0o600 };
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_char_device() && meta.rdev() == want => {
            if (meta.uid(), meta.gid(), meta.mode() & 0o7777) == (owner.uid, owner.gid, mode) {
                return Ok(());
            }
        }
        Ok(meta) => {
            let found = if meta.file_type().is_char_device() {
                format!(
                    "device {}:{}",
                    nix::sys::stat::major(meta.rdev()),
                    nix::sys::stat::minor(meta.rdev())
                )
            } else {
                "not a character device".to_string()
            };
            return Err(NodeError::Foreign {
                name: name.to_string(),
                path: shown,
                found,
                major: dev.0,
                minor: dev.1,
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            mknod(&path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o600), want)
                .map_err(|e| io_err(io::Error::from(e)))?;
        }
        Err(e) => return Err(io_err(e)),
    }
    std::os::unix::fs::chown(&path, Some(owner.uid), Some(owner.gid)).map_err(io_err)?;
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(io_err)
}

/// Completes the observed macvtaps of a link dump: each one's lower device (by name) and
/// its device node (owner, when `/dev/tapN` is this link's device).
pub(crate) fn observe_macvtaps(
    links: &[crate::netlink::Link],
    observed: &mut [hvnet_core::observed::ObservedLink],
) {
    use hvnet_core::observed::ObservedKind;
    let macvtaps: Vec<(String, u32)> = observed
        .iter()
        .filter(|l| matches!(l.kind, ObservedKind::Macvtap(_)))
        .map(|l| (l.name.clone(), l.ifindex))
        .collect();
    let devs = devnums(&macvtaps);
    for (o, l) in observed.iter_mut().zip(links) {
        let ObservedKind::Macvtap(m) = &mut o.kind else {
            continue;
        };
        // A lower device in another namespace (link_netnsid) is not this one's.
        m.lower = l
            .link
            .filter(|_| l.link_netnsid.is_none())
            .and_then(|i| links.iter().find(|x| x.ifindex == i))
            .map(|x| x.name.clone());
        m.node = match devs.get(&o.name) {
            Some(Ok(dev)) => node_owner(o.ifindex, *dev),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_device_numbers() {
        assert_eq!(parse_dev("239:3\n"), Some((239, 3)));
        assert_eq!(parse_dev("239"), None);
        assert_eq!(parse_dev("a:b"), None);
    }
}
