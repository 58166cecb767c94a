//! Is a device a wireless NIC? A Wi-Fi client port cannot be bridged (802.11 frames carry
//! only the station's own MAC, so frames of the guests' MACs are dropped by the access
//! point; seed 004), so hvnet refuses it as a bridge uplink.
//!
//! The test is the wireless-extensions `SIOCGIWNAME` ioctl, which every cfg80211 driver
//! answers (with its protocol name, e.g. `IEEE 802.11`) and every other device refuses. It
//! runs in the caller's network namespace, unlike `/sys/class/net/*/wireless`, which shows
//! the namespace sysfs was mounted in.

use std::ffi::c_char;
use std::os::fd::AsRawFd;

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// `SIOCGIWNAME` from `<linux/wireless.h>`.
const SIOCGIWNAME: libc::c_ulong = 0x8B01;

nix::ioctl_readwrite_bad!(
    /// `SIOCGIWNAME`: the wireless protocol name, `struct iwreq *` in and out (an `ifreq`
    /// is larger and starts with the same name field, so it serves as the buffer).
    siocgiwname,
    SIOCGIWNAME,
    libc::ifreq
);

/// Whether `name` (shorter than IFNAMSIZ) is a wireless device in this namespace. Errors
/// (no socket, no such device) count as not wireless.
///
/// ```no_run
/// assert!(!hvnet_linux::wireless::is_wireless("lo"));
/// ```
pub fn is_wireless(name: &str) -> bool {
    if name.len() >= libc::IFNAMSIZ {
        return false;
    }
    let Ok(sock) = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    // SAFETY: `ifreq` is a plain C struct; all-zero bytes are a valid value of every field.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as c_char;
    }
    // SAFETY: `sock` is an open socket; SIOCGIWNAME reads the NUL-terminated name and writes
    // at most `sizeof(struct iwreq)` (32) bytes, fewer than the 40 of the live, exclusively
    // borrowed `ifr`.
    unsafe { siocgiwname(sock.as_raw_fd(), &mut ifr) }.is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_and_bad_names_are_not_wireless() {
        assert!(!super::is_wireless("lo"));
        assert!(!super::is_wireless("no-such-dev0"));
        assert!(!super::is_wireless("a-name-far-too-long-for-ifnamsiz"));
    }
}
