//! macvtap links: the host side of a guest NIC on a `kind = "direct"` network.
//!
//! A macvtap is a macvlan whose frames a guest reads and writes through a character device,
//! `/dev/tapN` (N = its ifindex), instead of the host's stack: the guest sits directly on
//! the uplink's LAN, without a bridge. The link carries the guest's own MAC (the LAN sees
//! that MAC; there is no host-side `fe:` MAC). Its mode says what guests on the same uplink
//! may reach:
//!
//! * `bridge`: each other directly, and the LAN; not the host's own addresses on the uplink.
//! * `vepa`: everything goes out of the uplink; guests reach each other only through a
//!   switch that reflects frames back (802.1Qbg, "hairpin").
//! * `private`: like `vepa`, but frames from a sibling macvtap are dropped even when the
//!   switch reflects them.
//! * `passthrough`: the guest owns the uplink (one macvtap per uplink).
//!
//! In `bridge` and `vepa` mode a guest cannot reach the host it runs on through the uplink
//! (seed 004): the host's stack never sees what a macvtap sends out of its lower device.

use std::fmt;
use std::str::FromStr;

use crate::config::{Config, DirectNetwork};
use crate::state::{LinkKind, LinkSpec, Owner};
use crate::types::IfName;

/// The prefix of generated macvtap names (`macvtap0`, `macvtap1`, …), as libvirt names them.
pub const IFNAME_PREFIX: &str = "macvtap";

/// A macvtap's mode (`IFLA_MACVLAN_MODE`).
///
/// ```
/// use hvnet_core::macvtap::MacvtapMode;
/// let m: MacvtapMode = "passthrough".parse().unwrap();
/// assert_eq!(m, MacvtapMode::Passthrough);
/// assert_eq!(m.kernel_value(), 8);
/// assert_eq!(MacvtapMode::from_kernel(4), Some(MacvtapMode::Bridge));
/// assert!("passthru".parse::<MacvtapMode>().is_err());
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MacvtapMode {
    /// `MACVLAN_MODE_PRIVATE` (1): no traffic between macvtaps of one uplink.
    Private,
    /// `MACVLAN_MODE_VEPA` (2): everything through the uplink's switch.
    Vepa,
    /// `MACVLAN_MODE_BRIDGE` (4): macvtaps of one uplink switch between each other.
    Bridge,
    /// `MACVLAN_MODE_PASSTHRU` (8): one macvtap owns the uplink.
    Passthrough,
}

impl MacvtapMode {
    /// Every mode, in the kernel's order.
    pub const ALL: [MacvtapMode; 4] = [Self::Private, Self::Vepa, Self::Bridge, Self::Passthrough];

    /// The word of the config file (and of libvirt's `<source mode=…>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Vepa => "vepa",
            Self::Bridge => "bridge",
            Self::Passthrough => "passthrough",
        }
    }

    /// The word `ip link … type macvtap mode WORD` takes.
    pub fn ip_word(self) -> &'static str {
        match self {
            Self::Passthrough => "passthru",
            m => m.as_str(),
        }
    }

    /// The `IFLA_MACVLAN_MODE` value.
    pub fn kernel_value(self) -> u32 {
        match self {
            Self::Private => 1,
            Self::Vepa => 2,
            Self::Bridge => 4,
            Self::Passthrough => 8,
        }
    }

    /// The mode of an `IFLA_MACVLAN_MODE` value (`None` for `source` and unknown values).
    pub fn from_kernel(value: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.kernel_value() == value)
    }

    /// Whether a guest in this mode cannot reach the host's own addresses on the uplink
    /// (seed 004's caveat): `bridge` and `vepa`.
    pub fn hides_host(self) -> bool {
        matches!(self, Self::Bridge | Self::Vepa)
    }
}

impl fmt::Display for MacvtapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not one of the four modes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown macvtap mode {0:?}; expected one of: bridge, vepa, private, passthrough")]
pub struct UnknownMode(pub String);

impl FromStr for MacvtapMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode(s.to_string()))
    }
}

/// What hvnet manages of a macvtap: its lower device, mode, and the owner of its character
/// device `/dev/tapN` (so an unprivileged QEMU may open it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MacvtapOpts {
    /// The uplink it sits on (`IFLA_LINK`).
    pub lower: IfName,
    /// Its mode.
    pub mode: MacvtapMode,
    /// Owner of `/dev/tapN` (`None`: root).
    pub uid: Option<u32>,
    /// Group of `/dev/tapN` (`None`: root's group).
    pub gid: Option<u32>,
}

impl MacvtapOpts {
    /// The node's owner as hvnet wants it: (uid, gid), root's for `None`.
    pub fn node_owner(&self) -> TapNode {
        TapNode {
            uid: self.uid.unwrap_or(0),
            gid: self.gid.unwrap_or(0),
        }
    }
}

/// The character device `/dev/tapN` of a macvtap, found with the device numbers the kernel
/// gave the link.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct TapNode {
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
}

/// An existing macvtap as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedMacvtap {
    /// The name of its lower device (`None`: unknown, e.g. in another namespace).
    pub lower: Option<String>,
    /// Its mode (`None`: one hvnet does not make, such as `source`).
    pub mode: Option<MacvtapMode>,
    /// `/dev/tapN`, when it exists and is this link's device (`None`: missing, or another
    /// device's node).
    pub node: Option<TapNode>,
}

impl ObservedMacvtap {
    /// Whether the link can stay as `want` (same lower device and mode; the node's owner
    /// is changed in place).
    pub fn serves(&self, want: &MacvtapOpts) -> bool {
        self.lower.as_deref() == Some(want.lower.as_str()) && self.mode == Some(want.mode)
    }
}

/// The uplink each NIC on a direct network sits on, by (guest index, NIC index) in file
/// order: `passthrough` gives each NIC the next uplink of the pool; the other modes spread
/// the NICs over the pool round-robin (one uplink: all on it).
///
/// ```
/// use hvnet_core::{config::Config, macvtap::uplink_of};
/// let cfg = Config::parse("[[network]]\nname='lan'\nkind='direct'\nuplinks=['eth0','eth1']\n\
///     mode='passthrough'\n[[guest]]\nname='a'\n[[guest.nic]]\nnetwork='lan'\n\
///     [[guest]]\nname='b'\n[[guest.nic]]\nnetwork='lan'\n", "h.toml").unwrap();
/// assert_eq!(uplink_of(&cfg, 0, 0).unwrap().as_str(), "eth0");
/// assert_eq!(uplink_of(&cfg, 1, 0).unwrap().as_str(), "eth1");
/// ```
pub fn uplink_of(config: &Config, guest: usize, nic: usize) -> Option<IfName> {
    let g = config.guests.get(guest)?;
    let net = config.direct_network(&g.nics.get(nic)?.network)?;
    let before = config
        .guests
        .iter()
        .enumerate()
        .flat_map(|(gi, g)| g.nics.iter().enumerate().map(move |(ni, n)| (gi, ni, n)))
        .take_while(|(gi, ni, _)| (*gi, *ni) != (guest, nic))
        .filter(|(_, _, n)| n.network == net.name)
        .count();
    if net.mode == MacvtapMode::Passthrough {
        net.uplinks.get(before).cloned()
    } else {
        net.uplinks.get(before % net.uplinks.len().max(1)).cloned()
    }
}

/// The macvtap link of a guest NIC on direct network `net`, named `name`, on `lower`.
pub fn host_link(
    guest: &crate::config::Guest,
    nic: &crate::config::Nic,
    net: &DirectNetwork,
    lower: IfName,
    name: IfName,
) -> LinkSpec {
    let (uid, gid) = match nic.kind {
        crate::config::NicType::Tap { uid, gid, .. } => (uid, gid),
        _ => (None, None),
    };
    LinkSpec {
        name,
        kind: LinkKind::Macvtap(MacvtapOpts {
            lower,
            mode: net.mode,
            uid,
            gid,
        }),
        owner: Some(Owner::new(&guest.name)),
        master: None,
        mtu: net.mtu,
        // The LAN sees the guest's own MAC on a macvtap.
        mac: Some(nic.mac),
        up: true,
    }
}

/// The options that recreate an observed macvtap (`None` when its lower device or mode is
/// unknown).
pub fn restore_opts(m: &ObservedMacvtap) -> Option<MacvtapOpts> {
    let node = m.node.unwrap_or_default();
    Some(MacvtapOpts {
        lower: IfName::new(m.lower.as_deref()?).ok()?,
        mode: m.mode?,
        uid: (node.uid != 0).then_some(node.uid),
        gid: (node.gid != 0).then_some(node.gid),
    })
}

/// The op that gives an existing macvtap's `/dev/tapN` the wanted owner (and makes the node
/// where it is missing), if it needs one.
pub fn node_change(
    link: &IfName,
    want: &MacvtapOpts,
    have: &ObservedMacvtap,
) -> Option<crate::op::Op> {
    let node = want.node_owner();
    (have.node != Some(node)).then(|| crate::op::Op::SetTapNode {
        link: link.clone(),
        node,
        old: have.node,
    })
}

/// Seed 004's caveat, applied to `config`: in `bridge` and `vepa` mode a macvtap guest
/// cannot reach the host it runs on through its uplink, so what this host would serve it is
/// out of its reach. One warning per case: a guest on such a network with port forwards
/// (the forwarded connections arrive on its other NIC, but its replies follow its default
/// route, usually the LAN, around this host's NAT), a DHCP reservation on this host for the
/// MAC of a NIC on it, and a direct network on the bridge of an hvnet network whose dnsmasq
/// (this host's DHCP) its guests would ask.
///
/// ```
/// let cfg = hvnet_core::config::Config::parse("[[network]]\nname='lan'\nkind='direct'\nuplink='br0'\nmode='bridge'\n\
///     [[network]]\nname='host'\nkind='isolated'\nbridge='br0'\naddress='10.0.0.1/24'\n[network.dhcp]\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\n", "h.toml").unwrap();
/// let w = hvnet_core::macvtap::caveats(&cfg);
/// assert!(w[0].contains("dnsmasq"), "{w:?}");
/// ```
pub fn caveats(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for d in config.direct.iter().filter(|d| d.mode.hides_host()) {
        let why = format!(
            "in {} mode a macvtap guest cannot reach this host through its uplink (seed 004)",
            d.mode
        );
        for u in &d.uplinks {
            if let Some(n) = config
                .networks
                .iter()
                .find(|n| n.bridge == *u && n.dhcp.is_some())
            {
                out.push(format!(
                    "direct network {:?} sits on {u}, the bridge of network {:?}, whose dnsmasq its guests cannot ask for DHCP: {why}",
                    d.name, n.name
                ));
            }
        }
        for g in &config.guests {
            let on: Vec<&crate::config::Nic> =
                g.nics.iter().filter(|n| n.network == d.name).collect();
            if on.is_empty() {
                continue;
            }
            if !g.forwards.is_empty() {
                out.push(format!(
                    "guest {:?} has port forwards from this host and a NIC on direct network {:?}: {why}, and replies that leave by the macvtap never pass this host's NAT",
                    g.name, d.name
                ));
            }
            for nic in on {
                let reserved = config.networks.iter().find(|n| {
                    n.dhcp
                        .as_ref()
                        .is_some_and(|h| h.hosts.iter().any(|h| h.mac == nic.mac))
                });
                if let Some(n) = reserved {
                    out.push(format!(
                        "guest {:?}: MAC {} is on direct network {:?} but has a DHCP reservation on this host's network {:?}: {why}",
                        g.name, nic.mac, d.name, n.name
                    ));
                }
            }
        }
    }
    out
}
