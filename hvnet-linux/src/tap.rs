//! Persistent TAP devices through `/dev/net/tun` ioctls.
//!
//! [`create_persistent`] makes a TAP device that outlives the creating
//! process (what `ip tuntap add mode tap` does); a hypervisor later attaches
//! to it with the same flags, which [`open_queue`] does too. Devices are
//! created in the network namespace of the calling thread, so wrap the calls
//! in [`netns::run_in`](crate::netns::run_in) to create them elsewhere.
//!
//! Deleting a persistent tap is a plain netlink `RTM_DELLINK`.

use std::ffi::{c_char, c_int, c_short, c_uint};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::net::if_::if_nametoindex;

/// The TUN/TAP clone device.
const TUN_DEVICE: &str = "/dev/net/tun";

/// Longest interface name, not counting the terminating NUL.
const MAX_IFNAME_LEN: usize = libc::IFNAMSIZ - 1;

/// How a persistent TAP device is created.
///
/// ```
/// use hvnet_linux::tap::TapConfig;
/// let cfg = TapConfig { owner: Some(107), vnet_hdr: true, ..TapConfig::new("vnet3") };
/// assert_eq!(cfg.name, "vnet3");
/// assert!(!cfg.multi_queue);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapConfig {
    /// Interface name (at most 15 bytes; no `/`, `:`, `%` or white space).
    pub name: String,
    /// User allowed to attach to the device without `CAP_NET_ADMIN`.
    pub owner: Option<u32>,
    /// Group allowed to attach to the device without `CAP_NET_ADMIN`.
    pub group: Option<u32>,
    /// Exchange packets with a `virtio_net_hdr` prefix (needed for offloads).
    pub vnet_hdr: bool,
    /// Allow several queues (file descriptors) to be attached.
    pub multi_queue: bool,
}

impl TapConfig {
    /// A configuration for `name` with no owner or group and no features.
    pub fn new(name: impl Into<String>) -> Self {
        TapConfig {
            name: name.into(),
            ..TapConfig::default()
        }
    }
}

/// An error creating or attaching to a TAP device.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name cannot be used as an interface name.
    #[error("invalid tap name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A network device (of any kind) with this name already exists in the
    /// namespace; it was left untouched.
    #[error("create tap {name}: a network device named {name} already exists")]
    AlreadyExists {
        /// The device name.
        name: String,
    },
    /// There is no device with this name to attach to.
    #[error("open queue on tap {name}: no such device")]
    NotFound {
        /// The device name.
        name: String,
    },
    /// A system call failed.
    #[error("{action} tap {name}: {step}: {source}")]
    Sys {
        /// `"create"` or `"open queue on"`.
        action: &'static str,
        /// The device name.
        name: String,
        /// The failing step, e.g. `"TUNSETIFF"`.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Creates a persistent TAP device and returns its interface index.
///
/// The device is created down, with `IFF_TAP | IFF_NO_PI` (plus
/// `IFF_VNET_HDR` / `IFF_MULTI_QUEUE` as configured), owner and group set
/// when given. If any network device called `cfg.name` already exists this
/// fails with [`TapError::AlreadyExists`] and leaves that device as it was:
/// the kernel checks this atomically (`IFF_TUN_EXCL`), so an existing tap is
/// never adopted. If a step fails, nothing is left behind: the device only
/// becomes persistent in the last step.
///
/// ```no_run
/// use hvnet_linux::tap::{create_persistent, TapConfig};
/// let ifindex = create_persistent(&TapConfig { vnet_hdr: true, ..TapConfig::new("vnet3") })?;
/// # Ok::<(), hvnet_linux::tap::TapError>(())
/// ```
pub fn create_persistent(cfg: &TapConfig) -> Result<u32, TapError> {
    TapMaker::new(&cfg.name)?.create(cfg)
}

/// Makes persistent TAP devices in the network namespace it was created in, reusing one
/// socket to read the new devices' indexes, so that a bulk create costs only the tun
/// driver's ioctls per tap.
///
/// ```no_run
/// use hvnet_linux::tap::{TapConfig, TapMaker};
/// let maker = TapMaker::new("vnet")?;
/// for i in 0..4 {
///     maker.create(&TapConfig { vnet_hdr: true, ..TapConfig::new(format!("vnet{i}")) })?;
/// }
/// # Ok::<(), hvnet_linux::tap::TapError>(())
/// ```
#[derive(Debug)]
pub struct TapMaker {
    /// A datagram socket of this namespace, for SIOCGIFINDEX.
    sock: OwnedFd,
    /// Whether the tun driver knows `IFF_NO_CARRIER` (Linux 6.0): asked on the descriptor
    /// of the first tap made, rather than on one opened for the question alone.
    no_carrier: std::cell::Cell<Option<bool>>,
}

/// `IFF_NO_CARRIER` (linux/if_tun.h, Linux 6.0): attach without turning the carrier on.
const IFF_NO_CARRIER: c_int = 0x0040;

impl TapMaker {
    /// A maker for the calling thread's network namespace; `what` names the device(s) in an
    /// error.
    pub fn new(what: &str) -> Result<Self, TapError> {
        let sock = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| sys_error("create", what, "socket", io::Error::from(e)))?;
        Ok(Self {
            sock,
            no_carrier: std::cell::Cell::new(None),
        })
    }

    /// Creates a persistent TAP device like [`create_persistent`] and returns its index.
    pub fn create(&self, cfg: &TapConfig) -> Result<u32, TapError> {
        self.hold(cfg)?.persist()
    }

    /// Creates a TAP device that is not persistent yet: it lives as long as the returned
    /// [`HeldTap`] (or the process) does, until [`HeldTap::persist`].
    ///
    /// A caller that must mark a new device as its own (an alias, a group) before anything
    /// can outlive it does that in between: if the process dies first, the kernel removes
    /// the device with the descriptor, so no unmarked tap is ever left behind.
    ///
    /// ```no_run
    /// use hvnet_linux::tap::{TapConfig, TapMaker};
    /// let maker = TapMaker::new("vnet7")?;
    /// let held = maker.hold(&TapConfig::new("vnet7"))?;
    /// // … tag the link with index `held.ifindex()` over netlink …
    /// let ifindex = held.persist()?;
    /// # Ok::<(), hvnet_linux::tap::TapError>(())
    /// ```
    pub fn hold(&self, cfg: &TapConfig) -> Result<HeldTap, TapError> {
        hold_with(cfg, &self.sock, &self.no_carrier)
    }
}

/// A TAP device made by [`TapMaker::hold`] and not persistent yet: dropping it removes the
/// device.
#[derive(Debug)]
pub struct HeldTap {
    tun: File,
    name: String,
    ifindex: u32,
}

impl HeldTap {
    /// The new device's interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The new device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the device persistent (it outlives the descriptor, which is closed) and returns
    /// its index. On failure the device is removed with the descriptor.
    pub fn persist(self) -> Result<u32, TapError> {
        // SAFETY: `tun` is the open tun descriptor; no memory is passed.
        unsafe { ioctl::tunsetpersist(self.tun.as_raw_fd(), 1) }
            .map_err(|e| sys_error("create", &self.name, "TUNSETPERSIST", e.into()))?;
        Ok(self.ifindex)
    }
}

/// Makes the device with `hvnet`'s descriptor attached as its only queue. An attached queue
/// means carrier, which a persistent tap nobody has opened does not have; while held, the
/// device must look like what it becomes (no carrier: no IPv6 autoconfiguration, no bridge
/// port forwarding state, no carrier change when the descriptor closes), so the carrier is
/// kept off — atomically with `IFF_NO_CARRIER` where the kernel has it, else right after
/// with `TUNSETCARRIER`. A hypervisor attaching later turns it on as usual.
fn hold_with(
    cfg: &TapConfig,
    sock: &OwnedFd,
    no_carrier: &std::cell::Cell<Option<bool>>,
) -> Result<HeldTap, TapError> {
    const ACTION: &str = "create";
    let name = cfg.name.as_str();
    let sys = |step| move |source| sys_error(ACTION, name, step, source);
    validate_name(name)?;

    let tun = open_tun().map_err(sys("open /dev/net/tun"))?;
    let no_carrier = match no_carrier.get() {
        Some(known) => known,
        None => {
            let known = features_of(&tun).is_some_and(|f| f & IFF_NO_CARRIER as c_uint != 0);
            no_carrier.set(Some(known));
            known
        }
    };
    let mut flags = tap_flags(cfg.vnet_hdr, cfg.multi_queue) | libc::IFF_TUN_EXCL;
    if no_carrier {
        flags |= IFF_NO_CARRIER;
    }
    match tun_set_iff(&tun, name, flags) {
        Ok(()) => {}
        // EBUSY is IFF_TUN_EXCL's answer for an existing name; EEXIST can
        // come from a device registered concurrently under the same name.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EEXIST)) => {
            return Err(TapError::AlreadyExists {
                name: name.to_owned(),
            })
        }
        Err(e) => return Err(sys("TUNSETIFF")(e)),
    }
    let fd = tun.as_raw_fd();
    if !no_carrier {
        let off: c_int = 0;
        // SAFETY: `fd` is the open tun descriptor; TUNSETCARRIER reads one `int` through
        // the pointer, which points to a live local.
        unsafe { ioctl::tunsetcarrier(fd, &off) }.map_err(|e| sys("TUNSETCARRIER")(e.into()))?;
    }
    if let Some(uid) = cfg.owner {
        // The kernel takes the id by value and truncates it to a 32-bit
        // uid_t, so passing it through a C int keeps every bit.
        // SAFETY: `fd` is the open tun descriptor; no memory is passed.
        unsafe { ioctl::tunsetowner(fd, uid as c_int) }
            .map_err(|e| sys("TUNSETOWNER")(e.into()))?;
    }
    if let Some(gid) = cfg.group {
        // SAFETY: as for TUNSETOWNER.
        unsafe { ioctl::tunsetgroup(fd, gid as c_int) }
            .map_err(|e| sys("TUNSETGROUP")(e.into()))?;
    }
    // If this fails, closing `tun` removes the half-made device.
    let ifindex = ifindex_of(sock, name).map_err(sys("SIOCGIFINDEX"))?;
    Ok(HeldTap {
        tun,
        name: name.to_owned(),
        ifindex,
    })
}

/// Attaches to the existing TAP device `name` as a queue, the way a
/// hypervisor does, and returns the queue's (blocking, close-on-exec)
/// descriptor.
///
/// `multi_queue` must match how the device was created, otherwise
/// `TUNSETIFF` fails with `EINVAL` (as it does when `name` is not a tap).
/// `vnet_hdr` is not checked: attaching sets the device's `IFF_VNET_HDR`
/// mode to it (on a multi-queue device only the first queue does), and the
/// mode stays after the queue is closed. While at least one queue is attached the device has
/// carrier; closing the last one removes it.
///
/// ```no_run
/// use hvnet_linux::tap::open_queue;
/// let queue = open_queue("vnet3", true, false)?;
/// drop(queue); // carrier goes down again
/// # Ok::<(), hvnet_linux::tap::TapError>(())
/// ```
pub fn open_queue(name: &str, vnet_hdr: bool, multi_queue: bool) -> Result<OwnedFd, TapError> {
    const ACTION: &str = "open queue on";
    let sys = |step| move |source| sys_error(ACTION, name, step, source);
    validate_name(name)?;
    // TUNSETIFF would create a new, transient tap under a free name; make
    // sure we only ever attach.
    match if_nametoindex(name) {
        Ok(_) => {}
        Err(nix::errno::Errno::ENODEV) => {
            return Err(TapError::NotFound {
                name: name.to_owned(),
            })
        }
        Err(e) => return Err(sys("SIOCGIFINDEX")(io::Error::from(e))),
    }
    let tun = open_tun().map_err(sys("open /dev/net/tun"))?;
    tun_set_iff(&tun, name, tap_flags(vnet_hdr, multi_queue)).map_err(sys("TUNSETIFF"))?;
    Ok(OwnedFd::from(tun))
}

/// Whether the kernel's tun driver supports `IFF_VNET_HDR`
/// (`TUNGETFEATURES`). Any failure, such as a missing `/dev/net/tun`,
/// counts as no support.
pub fn supports_vnet_hdr() -> bool {
    tun_features().is_some_and(|f| f & libc::IFF_VNET_HDR as c_uint != 0)
}

/// The tun driver's `TUNGETFEATURES`, if it can be asked.
fn tun_features() -> Option<c_uint> {
    features_of(&open_tun().ok()?)
}

/// `TUNGETFEATURES` on an open `/dev/net/tun` descriptor (attached or not).
fn features_of(tun: &File) -> Option<c_uint> {
    let mut features: c_uint = 0;
    // SAFETY: `tun` is an open descriptor and TUNGETFEATURES writes one
    // `unsigned int` through the pointer, which points to a live local.
    let rc = unsafe { ioctl::tungetfeatures(tun.as_raw_fd(), &mut features) };
    rc.is_ok().then_some(features)
}

/// Checks `name` the way the kernel's `dev_valid_name` does, and rejects `%`
/// (a name template such as `tap%d` would make the kernel pick the name).
fn validate_name(name: &str) -> Result<(), TapError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_IFNAME_LEN {
        "longer than 15 bytes"
    } else if name == "." || name == ".." {
        "'.' and '..' are not allowed"
    } else if name
        .bytes()
        .any(|b| matches!(b, b'/' | b':' | b'%' | b'\0') || b.is_ascii_whitespace())
    {
        "contains '/', ':', '%', NUL or white space"
    } else {
        return Ok(());
    };
    Err(TapError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// The TUNSETIFF flags for a tap with the given features.
fn tap_flags(vnet_hdr: bool, multi_queue: bool) -> c_int {
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    if multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    flags
}

fn sys_error(action: &'static str, name: &str, step: &'static str, source: io::Error) -> TapError {
    TapError::Sys {
        action,
        name: name.to_owned(),
        step,
        source,
    }
}

/// Opens the clone device read-write (std opens with `O_CLOEXEC`).
fn open_tun() -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(TUN_DEVICE)
}

/// TUNSETIFF: creates or attaches to the device `name` with `flags`.
/// `name` must already be validated (shorter than `IFNAMSIZ`).
fn tun_set_iff(tun: &File, name: &str, flags: c_int) -> io::Result<()> {
    // SAFETY: `ifreq` is a plain C struct (a byte array and a union of
    // integers, sockaddrs and a raw pointer); all-zero bytes are a valid
    // value for each of them.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as c_char;
    }
    // Flags are a C `short`; IFF_TUN_EXCL (0x8000) is its sign bit, so
    // the wrapping cast keeps exactly the intended bit pattern.
    ifr.ifr_ifru.ifru_flags = flags as c_short;
    // SAFETY: `tun` is an open descriptor; TUNSETIFF reads and writes back
    // one `struct ifreq` through the pointer, which points to a live,
    // exclusively borrowed local whose name is NUL-terminated (the name is
    // at most IFNAMSIZ - 1 bytes and the rest of the array is zero).
    unsafe { ioctl::tunsetiff(tun.as_raw_fd(), &mut ifr) }?;
    Ok(())
}

/// SIOCGIFINDEX on `sock` for `name` (already validated: shorter than IFNAMSIZ).
fn ifindex_of(sock: &OwnedFd, name: &str) -> io::Result<u32> {
    // SAFETY: as in `tun_set_iff`, all-zero bytes are a valid `ifreq`.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as c_char;
    }
    // SAFETY: `sock` is an open socket; SIOCGIFINDEX reads the NUL-terminated name from and
    // writes the index into the live, exclusively borrowed `ifr`.
    unsafe { ioctl::siocgifindex(sock.as_raw_fd(), &mut ifr) }?;
    // SAFETY: after a successful SIOCGIFINDEX the union holds `ifru_ifindex`.
    let index = unsafe { ifr.ifr_ifru.ifru_ifindex };
    u32::try_from(index).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("negative ifindex {index}"),
        )
    })
}

/// Raw wrappers of the tun driver's ioctls.
mod ioctl {
    use std::ffi::c_uint;

    nix::ioctl_readwrite_bad!(
        /// `TUNSETIFF`: create or attach, `struct ifreq *` in and out.
        tunsetiff,
        libc::TUNSETIFF,
        libc::ifreq
    );
    nix::ioctl_readwrite_bad!(
        /// `SIOCGIFINDEX`: a device's index by name, `struct ifreq *` in and out.
        siocgifindex,
        libc::SIOCGIFINDEX,
        libc::ifreq
    );
    nix::ioctl_write_int_bad!(
        /// `TUNSETOWNER`: the owning uid, by value.
        tunsetowner,
        libc::TUNSETOWNER
    );
    nix::ioctl_write_int_bad!(
        /// `TUNSETGROUP`: the owning gid, by value.
        tunsetgroup,
        libc::TUNSETGROUP
    );
    nix::ioctl_write_int_bad!(
        /// `TUNSETPERSIST`: 1 to make the device persistent, by value.
        tunsetpersist,
        libc::TUNSETPERSIST
    );
    nix::ioctl_write_ptr_bad!(
        /// `TUNSETCARRIER`: 0 turns the carrier off, `int *` in.
        tunsetcarrier,
        libc::TUNSETCARRIER,
        std::ffi::c_int
    );
    nix::ioctl_read_bad!(
        /// `TUNGETFEATURES`: the supported `IFF_*` flags, `unsigned int *` out.
        tungetfeatures,
        libc::TUNGETFEATURES,
        c_uint
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_validation() {
        for good in ["vnet0", "vif1.0", "tap-guest_42", "123456789012345"] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "tap%d",
            "a b",
            "a\tb",
            "a\0b",
            "1234567890123456",
        ] {
            assert!(
                matches!(validate_name(bad), Err(TapError::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn flags() {
        assert_eq!(tap_flags(false, false), 0x1002);
        assert_eq!(tap_flags(true, false), 0x5002);
        assert_eq!(tap_flags(true, true), 0x5102);
        assert_eq!(
            (tap_flags(false, false) | libc::IFF_TUN_EXCL) as c_short as u16,
            0x9002
        );
    }

    #[test]
    fn error_messages_name_device_and_step() {
        let e = sys_error(
            "create",
            "vnet3",
            "TUNSETIFF",
            io::Error::from_raw_os_error(libc::EBUSY),
        );
        assert!(
            e.to_string()
                .starts_with("create tap vnet3: TUNSETIFF: Device or resource busy"),
            "{e}"
        );
        let e = TapError::AlreadyExists { name: "lo".into() };
        assert_eq!(
            e.to_string(),
            "create tap lo: a network device named lo already exists"
        );
    }
}
