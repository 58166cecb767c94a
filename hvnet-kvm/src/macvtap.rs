//! QEMU arguments and libvirt XML for a NIC on a `kind = "direct"` network: a macvtap that
//! QEMU reaches through its character device `/dev/tapN` (N = the link's ifindex).
//!
//! QEMU cannot open a macvtap by name: the device is opened by whoever starts QEMU and
//! handed over as a file descriptor, as libvirt does. The line `guest args` prints does it
//! with shell redirections — `-netdev tap,id=net0,fd=3,vhost=off … 3<>/dev/tap7`: the
//! shell opens `/dev/tap7` read-write as descriptor 3 for QEMU. With `queues = N > 1` the
//! device is opened N times (each open is one queue of the macvtap) and passed as
//! `fds=3:4:…`. When the ifindex is not known (`--offline`), the path is written as
//! `/dev/tap$(cat /sys/class/net/NAME/ifindex)`, which the shell completes.
//!
//! ```
//! use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
//! use hvnet_kvm::{guest_nics, qemu::{args_for, QemuHost}, KvmBackend};
//! let cfg = Config::parse("[[network]]\nname='lan'\nkind='direct'\nuplink='eth0'\nmode='bridge'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\nmac='52:54:00:12:34:56'\nqueues=2\n",
//!     "x.toml").unwrap();
//! let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
//! let nics = guest_nics(&cfg, &cfg.guests[0], &want).unwrap();
//! let mut host = QemuHost::default();
//! host.ifindex.insert("macvtap0".into(), 7);
//! assert_eq!(
//!     args_for(&nics, &host),
//!     "-netdev tap,id=net0,fds=3:4,vhost=off -device virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,mq=on,vectors=6 3<>/dev/tap7 4<>/dev/tap7\n"
//! );
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hvnet_core::config::NicType;

use crate::qemu::shell_quote;
use crate::GuestNic;

/// The first file descriptor number handed to QEMU: right after stdin, stdout and stderr, so
/// that a POSIX shell (dash takes descriptors 0-9 only in redirections) can open the first
/// seven queues; more need bash.
pub const FIRST_FD: u32 = 3;

/// What the line depends on beyond the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QemuHost {
    /// The ifindex of each existing macvtap, by name (`/dev/tapN`).
    pub ifindex: BTreeMap<String, u32>,
    /// `/dev/vhost-net` exists: `vhost=on` for NICs with the virtio header.
    pub vhost_net: bool,
}

/// The device path of macvtap `name`, as a shell word.
fn device(name: &str, host: &QemuHost) -> String {
    match host.ifindex.get(name) {
        Some(i) => format!("/dev/tap{i}"),
        None => format!(
            "/dev/tap$(cat {})",
            shell_quote(&format!("/sys/class/net/{name}/ifindex"))
        ),
    }
}

/// The line of one NIC if it is a macvtap (`-netdev tap` with the descriptors, `-device
/// virtio-net-pci` with the guest's MAC, the redirections that open the descriptors); `fd`
/// is the next free descriptor, numbered from [`FIRST_FD`] across the guest's NICs.
pub fn qemu_line(n: &GuestNic<'_>, fd: &mut u32, host: &QemuHost) -> Option<String> {
    let (Some(_), Some(ifname)) = (&n.macvtap, &n.ifname) else {
        return None;
    };
    let NicType::Tap {
        vnet_hdr, queues, ..
    } = &n.nic.kind
    else {
        return None;
    };
    let id = format!("net{}", n.index);
    let fds: Vec<u32> = (0..*queues).map(|k| *fd + k).collect();
    *fd += queues;
    let list: Vec<String> = fds.iter().map(u32::to_string).collect();
    let vhost = if *vnet_hdr && host.vhost_net {
        "on"
    } else {
        "off"
    };
    let mut netdev = if *queues > 1 {
        format!("tap,id={id},fds={}", list.join(":"))
    } else {
        format!("tap,id={id},fd={}", list.join(":"))
    };
    let _ = write!(netdev, ",vhost={vhost}");
    let mut device_opt = format!("virtio-net-pci,netdev={id},mac={}", n.nic.mac);
    if *queues > 1 {
        let vectors = u64::from(*queues) * 2 + 2;
        let _ = write!(device_opt, ",mq=on,vectors={vectors}");
    }
    let mut words: Vec<String> = ["-netdev", &netdev, "-device", &device_opt]
        .iter()
        .map(|w| shell_quote(w))
        .collect();
    let dev = device(ifname.as_str(), host);
    words.extend(fds.iter().map(|f| format!("{f}<>{dev}")));
    Some(words.join(" "))
}

/// libvirt's `<interface type='direct'>` for a macvtap NIC (libvirt makes its own macvtap
/// on `dev` in `mode`; `<target dev>` asks for hvnet's name).
pub fn interface_xml(n: &GuestNic<'_>) -> Option<String> {
    let opts = n.macvtap.as_ref()?;
    let NicType::Tap { queues, .. } = &n.nic.kind else {
        return None;
    };
    let mut out = String::from("<interface type='direct'>\n");
    let _ = writeln!(
        out,
        "  <source dev='{}' mode='{}'/>",
        crate::libvirt::escape(opts.lower.as_str()),
        opts.mode.as_str()
    );
    let _ = writeln!(
        out,
        "  <target dev='{}'/>",
        crate::libvirt::escape(n.ifname.as_ref().map_or("", |i| i.as_str()))
    );
    let _ = writeln!(out, "  <mac address='{}'/>", n.nic.mac);
    out.push_str("  <model type='virtio'/>\n");
    if *queues > 1 {
        let _ = writeln!(out, "  <driver name='vhost' queues='{queues}'/>");
    }
    out.push_str(&crate::libvirt::bandwidth_xml(&n.nic.rate));
    out.push_str("</interface>\n");
    Some(out)
}
