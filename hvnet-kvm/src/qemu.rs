//! QEMU command-line arguments for a guest's NICs (`hvnet guest args NAME`).
//!
//! Every tap NIC becomes one line: a `-netdev tap` opening the persistent tap hvnet made
//! (`script=no,downscript=no`: hvnet, not QEMU, puts it on the bridge) and a
//! `-device virtio-net-pci` with the guest's MAC. Each argument is shell-quoted where
//! needed, and commas inside option values are doubled as QEMU's option parser wants, so a
//! line can be pasted into a shell command as is. A veth NIC cannot be used by QEMU and is
//! listed as a `#` comment instead. A `type = "user"` NIC is QEMU's own NAT (`-netdev
//! user`, with `net=` and the SMB share `smb=` of seed 000's private network).
//!
//! ```
//! use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
//! use hvnet_kvm::{guest_nics, qemu, KvmBackend};
//! let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-guest'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nmac='52:54:00:12:34:56'\nqueues=2\n",
//!     "x.toml").unwrap();
//! let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
//! let nics = guest_nics(&cfg, &cfg.guests[0], &want).unwrap();
//! assert_eq!(
//!     qemu::args(&nics),
//!     "-netdev tap,id=net0,ifname=vnet0,script=no,downscript=no,queues=2 \
//!      -device virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,mq=on,vectors=6\n"
//! );
//! ```

use std::fmt::Write as _;

use hvnet_core::config::NicType;

pub use crate::macvtap::QemuHost;
use crate::GuestNic;

/// The QEMU arguments for `nics`, one line per NIC (tap: `-netdev … -device …`; veth: a
/// `#` comment saying why it is skipped). Netdev ids are `net<index>`, the NIC's index in
/// the guest's list, so they stay the same when other NICs are added behind it.
///
/// `vnet_hdr = false` adds `vnet_hdr=off,vhost=off` (vhost-net needs the virtio header);
/// `queues = N > 1` adds `queues=N` to the netdev and `mq=on,vectors=2N+2` to the device
/// (one vector per queue in each direction, plus configuration and control).
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
/// use hvnet_kvm::{guest_nics, qemu, KvmBackend};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nmac='52:54:00:00:00:01'\nvnet_hdr=false\n\
///     [[guest.nic]]\nnetwork='n'\ntype='veth'\nnetns='g'\nmac='52:54:00:00:00:02'\n",
///     "x.toml").unwrap();
/// let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
/// let out = qemu::args(&guest_nics(&cfg, &cfg.guests[0], &want).unwrap());
/// let lines: Vec<&str> = out.lines().collect();
/// assert!(lines[0].starts_with("-netdev tap,id=net0,ifname=vnet0,script=no,downscript=no,vnet_hdr=off,vhost=off "));
/// assert!(lines[1].starts_with("# nic 1"));
/// ```
pub fn args(nics: &[GuestNic<'_>]) -> String {
    args_for(nics, &QemuHost::default())
}

/// Like [`args`], with what the host says about macvtap NICs (their `/dev/tapN`, vhost-net):
/// a NIC on a `kind = "direct"` network is a line of [`crate::macvtap::qemu_line`].
pub fn args_for(nics: &[GuestNic<'_>], host: &QemuHost) -> String {
    let mut out = String::new();
    let mut fd = crate::macvtap::FIRST_FD;
    for n in nics {
        let id = format!("net{}", n.index);
        if let Some(line) = crate::macvtap::qemu_line(n, &mut fd, host) {
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        match &n.nic.kind {
            NicType::Tap {
                vnet_hdr, queues, ..
            } => {
                let ifname = n.ifname.as_ref().map_or("", |i| i.as_str());
                let mut netdev = format!(
                    "tap,id={id},ifname={},script=no,downscript=no",
                    opt_value(ifname)
                );
                if !vnet_hdr {
                    netdev.push_str(",vnet_hdr=off,vhost=off");
                }
                let mut device = format!("virtio-net-pci,netdev={id},mac={}", n.nic.mac);
                if *queues > 1 {
                    let _ = write!(netdev, ",queues={queues}");
                    let vectors = u64::from(*queues) * 2 + 2;
                    let _ = write!(device, ",mq=on,vectors={vectors}");
                }
                let words = ["-netdev", &netdev, "-device", &device];
                let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
                out.push_str(&quoted.join(" "));
                out.push('\n');
            }
            NicType::Veth { netns, peer } => {
                let _ = writeln!(
                    out,
                    "# nic {}: veth {} (peer {} in netns {}) on network {} is not a tap; QEMU cannot use it, skipped",
                    n.index,
                    one_line(n.ifname.as_ref().map_or("", |i| i.as_str())),
                    one_line(peer.as_str()),
                    one_line(netns),
                    one_line(n.network.map_or("", |net| net.name.as_str())),
                );
            }
            NicType::Hostdev(_) => match &n.vf {
                // The VF carries the guest's MAC already (hvnet set it on the PF).
                Some(vf) => {
                    let device = format!("vfio-pci,host={},id=hostdev{}", vf.pci, n.index);
                    out.push_str(&format!("-device {}\n", shell_quote(&device)));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "# nic {}: SR-IOV VF from network {} is allocated by `hvnet guest up` (none is free or allocated now)",
                        n.index,
                        one_line(&n.nic.network),
                    );
                }
            },
            NicType::User { smb, net } => {
                let mut netdev = format!("user,id={id}");
                if let Some(c) = net {
                    let _ = write!(netdev, ",net={c}");
                }
                if let Some(dir) = smb {
                    let _ = write!(netdev, ",smb={}", opt_value(dir));
                }
                let device = format!("virtio-net-pci,netdev={id},mac={}", n.nic.mac);
                let words = ["-netdev", &netdev, "-device", &device];
                let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
                out.push_str(&quoted.join(" "));
                out.push('\n');
            }
        }
    }
    out
}

/// A value inside a QEMU `-netdev`/`-device` option list: commas are doubled.
fn opt_value(v: &str) -> String {
    v.replace(',', ",,")
}

/// Text for a `#` comment line: control characters (a newline would end the comment) are
/// shown escaped.
fn one_line(v: &str) -> String {
    v.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// One shell word: as is when it only has characters no POSIX shell treats specially,
/// otherwise single-quoted (a `'` inside becomes `'\''`).
///
/// ```
/// use hvnet_kvm::qemu::shell_quote;
/// assert_eq!(shell_quote("tap,id=net0,ifname=vnet0"), "tap,id=net0,ifname=vnet0");
/// assert_eq!(shell_quote("ifname=a b"), "'ifname=a b'");
/// assert_eq!(shell_quote("it's"), r"'it'\''s'");
/// assert_eq!(shell_quote(""), "''");
/// ```
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || ",._=:/@%+-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
