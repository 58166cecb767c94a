//! What exists: the kernel's state as an observer read it, in hvnet's own terms.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::firewall::{Drift, FirewallIntent, FirewallKind, IntentDifference};

use crate::state::{BridgeOpts, Owner, SysctlKey, TapOpts, Tbf};
use crate::types::{IpCidr, Ipv4Cidr, MacAddr};

/// The kind of an existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedKind {
    /// A bridge with its options.
    Bridge(BridgeOpts),
    /// A TAP device.
    Tap(TapOpts),
    /// A TUN (layer 3) device.
    Tun,
    /// One end of a veth pair.
    Veth,
    /// An IFB device.
    Ifb,
    /// Anything else, with the kernel's kind word (empty for plain devices like `lo`/`eth0`).
    Other(String),
    /// A VXLAN device with its settings.
    Vxlan(crate::overlay::ObservedVxlan),
    /// A macvtap.
    Macvtap(crate::macvtap::ObservedMacvtap),
}

/// One existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLink {
    /// Kernel interface index.
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// Kind.
    pub kind: ObservedKind,
    /// Index of its master (bridge), if any.
    pub master: Option<u32>,
    /// MTU.
    pub mtu: u32,
    /// MAC, for Ethernet-like links.
    pub mac: Option<MacAddr>,
    /// IFF_UP.
    pub up: bool,
    /// IFF_LOWER_UP (carrier).
    pub lower_up: bool,
    /// IFLA_IFALIAS.
    pub alias: Option<String>,
    /// A wireless NIC (cannot be bridged).
    pub wireless: bool,
    /// IFLA_GROUP: [`PENDING_GROUP`] while hvnet has created the link but not yet tagged it.
    pub group: u32,
}

/// The interface group hvnet creates its netlink-made links in (`ip link add … group 26742`,
/// "hv"); the request that tags a link with its owner moves it to the default group 0. A link
/// found in this group without a tag was made by an hvnet killed before it could tag it.
pub const PENDING_GROUP: u32 = 0x6876;

impl ObservedLink {
    /// The hvnet owner, if this link carries an hvnet tag.
    pub fn owner(&self) -> Option<Owner> {
        self.alias.as_deref().and_then(Owner::from_alias)
    }

    /// Made by hvnet but never tagged: in [`PENDING_GROUP`] without an owner tag.
    pub fn pending(&self) -> bool {
        self.group == PENDING_GROUP && self.owner().is_none()
    }
}

/// One existing address, IPv4 or IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAddr {
    /// The link it is on.
    pub ifindex: u32,
    /// Address and prefix length.
    pub cidr: IpCidr,
}

/// One existing route, IPv4 or IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRoute {
    /// Destination.
    pub dst: IpCidr,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output device index.
    pub oif: Option<u32>,
    /// Preferred source.
    pub src: Option<IpAddr>,
    /// Metric.
    pub metric: Option<u32>,
    /// Table.
    pub table: u32,
    /// rtm_protocol: who installed it.
    pub protocol: u8,
}

/// What a root or ingress qdisc is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QdiscKind {
    /// A token bucket filter.
    Tbf(Tbf),
    /// The ingress qdisc.
    Ingress,
    /// Anything else, by the kernel's name.
    Other(String),
}

/// A root or ingress qdisc on a link (the kernel's default qdiscs, handle 0, are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedQdisc {
    /// The link.
    pub ifindex: u32,
    /// Its handle (`0x4856_0000` is hvnet's `4856:`).
    pub handle: u32,
    /// Root (true) or ingress (false).
    pub root: bool,
    /// What it is.
    pub kind: QdiscKind,
}

/// A match-all ingress filter that redirects a link's received traffic to another link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRedirect {
    /// The link whose ingress is redirected.
    pub ifindex: u32,
    /// Where to.
    pub target: u32,
}

/// A snapshot of the kernel state relevant to hvnet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedState {
    /// All links of the namespace.
    pub links: Vec<ObservedLink>,
    /// All addresses (IPv4 and IPv6).
    pub addrs: Vec<ObservedAddr>,
    /// All routes (IPv4 and IPv6).
    pub routes: Vec<ObservedRoute>,
    /// Values of the sysctls that were asked for (missing keys are absent).
    pub sysctls: BTreeMap<SysctlKey, String>,
    /// Root and ingress qdiscs other than the kernel's defaults.
    pub qdiscs: Vec<ObservedQdisc>,
    /// Ingress redirects.
    pub redirects: Vec<ObservedRedirect>,
    /// Indexes of bridge ports with hairpin mode on.
    pub hairpin: BTreeSet<u32>,
    /// The dnsmasq services found in the state directory.
    pub dhcp: Vec<ObservedDhcp>,
    /// The host's DHCP clients found in the state directory.
    pub dhcp_clients: Vec<ObservedDhcpClient>,
    /// The firewall, when it was read (only if the config or hvnet's state asks for it).
    pub firewall: Option<ObservedFirewall>,
    /// Sysctl values hvnet changed, as they were before (`hvnet down` restores them).
    pub saved_sysctls: BTreeMap<SysctlKey, String>,
    /// The named network namespaces, when they were read (`None`: not asked for).
    pub netns: Option<BTreeSet<String>>,
    /// Per generated-name prefix (`vnet`), the number after the last name hvnet handed out:
    /// new names start there, so a just-freed name is not reused at once (a monitoring
    /// tool or a stale QEMU must not mistake a new guest for the old one).
    pub name_hints: BTreeMap<String, u32>,
    /// SR-IOV: the VFs of the pools asked for ([`crate::backend::Query::vf_pools`]) and
    /// hvnet's VF allocation records.
    pub sriov: crate::sriov::ObservedSriov,
    /// Forwarding entries with a remote (`NDA_DST`) of the VXLAN devices: static peers and
    /// learned MACs.
    pub fdb: Vec<crate::overlay::ObservedFdb>,
    /// hvnet's FRR, when the services were read (`None`: not asked for).
    pub frr: Option<crate::evpn::ObservedFrr>,
    /// Indexes of bridge ports with address learning off (an EVPN VXLAN device's port).
    pub port_learning_off: BTreeSet<u32>,
    /// IPv6 proxy neighbour entries `(ifindex, address)`, when read (hvnet-xen's routed
    /// vifs read them; the engine's queries do not).
    pub proxy_ndp: Vec<(u32, std::net::Ipv6Addr)>,
}

/// A network's dnsmasq as found in its state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDhcp {
    /// The network (the directory's name).
    pub network: String,
    /// The directory.
    pub dir: PathBuf,
    /// The configuration file, if present.
    pub conf: Option<String>,
    /// The static-host file, if present.
    pub hosts: Option<String>,
    /// The pid of the running daemon (`None`: not running — no pid file, or its process is
    /// gone or is not that dnsmasq).
    pub pid: Option<i32>,
}

/// A host DHCP client as found in its state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDhcpClient {
    /// The network (the directory's name).
    pub network: String,
    /// The directory.
    pub dir: PathBuf,
    /// The interface it was started on.
    pub interface: Option<String>,
    /// The hook script, if present.
    pub hook: Option<String>,
    /// The pid of the running client (`None`: not running).
    pub pid: Option<i32>,
}

/// hvnet's live firewall, as its renderer read it back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedFirewall {
    /// The intent the live rules were written for (read from their descriptors, see
    /// [`crate::firewall`]); `None` when none of hvnet's tables, chains or jumps exists.
    pub intent: Option<FirewallIntent>,
    /// How the live rules differ from that intent's rendering, named by the renderer.
    pub drift: Vec<Drift>,
    /// What other firewalls of the host do to the guests' traffic (a drop-policy chain of
    /// another table at the input or forward hook), one sentence each.
    pub warnings: Vec<String>,
    /// hvnet's firewall as left in the backend that is *not* selected (after a switch, or
    /// from an older hvnet), with the intent it serves there: removed by the next apply.
    pub others: BTreeMap<FirewallKind, FirewallIntent>,
}

/// A way the live firewall differs from the wanted intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallDifference {
    /// hvnet's firewall does not exist at all.
    Absent,
    /// The live rules were written for another intent.
    Intent(IntentDifference),
    /// The live rules differ from what their intent renders to.
    Drift(Drift),
}

impl fmt::Display for FirewallDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("hvnet's firewall does not exist"),
            Self::Intent(d) => d.fmt(f),
            Self::Drift(d) => d.fmt(f),
        }
    }
}

impl ObservedFirewall {
    /// The intent hvnet's firewall serves now (`None`: it does not exist): the state a
    /// rollback returns to.
    pub fn current(&self) -> Option<FirewallIntent> {
        self.intent.clone()
    }

    /// How the live firewall of the selected backend differs from `wanted` (empty when it
    /// serves exactly that; [`others`](Self::others) are planned apart).
    pub fn diff(&self, wanted: &FirewallIntent) -> Vec<FirewallDifference> {
        let mut out: Vec<FirewallDifference> = match &self.intent {
            None => vec![FirewallDifference::Absent],
            Some(live) => live
                .diff(wanted)
                .into_iter()
                .map(FirewallDifference::Intent)
                .collect(),
        };
        out.extend(self.drift.iter().cloned().map(FirewallDifference::Drift));
        out
    }
}

impl ObservedState {
    /// The dnsmasq service of a network.
    pub fn dhcp(&self, network: &str) -> Option<&ObservedDhcp> {
        self.dhcp.iter().find(|d| d.network == network)
    }

    /// The link with this name.
    pub fn link(&self, name: &str) -> Option<&ObservedLink> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The link with this index.
    pub fn by_index(&self, ifindex: u32) -> Option<&ObservedLink> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }

    /// The name of a link's master.
    pub fn master_name(&self, link: &ObservedLink) -> Option<&str> {
        link.master
            .and_then(|m| self.by_index(m))
            .map(|m| m.name.as_str())
    }

    /// The ports of a bridge.
    pub fn ports_of<'a>(
        &'a self,
        bridge: &'a ObservedLink,
    ) -> impl Iterator<Item = &'a ObservedLink> + 'a {
        self.links
            .iter()
            .filter(move |l| l.master == Some(bridge.ifindex))
    }

    /// The root (`root = true`) or ingress qdisc of a link.
    pub fn qdisc(&self, ifindex: u32, root: bool) -> Option<&ObservedQdisc> {
        self.qdiscs
            .iter()
            .find(|q| q.ifindex == ifindex && q.root == root)
    }

    /// The routes hvnet installed (protocol [`crate::op::RTPROT_HVNET`]), as specs.
    pub fn hvnet_routes(&self) -> Vec<crate::state::RouteSpec> {
        let mut v = self.route_specs();
        v.retain(|r| r.protocol == crate::op::RTPROT_HVNET);
        v
    }

    /// Every route, as specs (with its protocol).
    pub fn route_specs(&self) -> Vec<crate::state::RouteSpec> {
        self.routes
            .iter()
            .map(|r| crate::state::RouteSpec {
                dst: r.dst,
                gateway: r.gateway,
                dev: r
                    .oif
                    .and_then(|i| self.by_index(i))
                    .and_then(|l| crate::types::IfName::new(&l.name).ok()),
                src: r.src,
                metric: r.metric,
                table: r.table,
                protocol: r.protocol,
            })
            .collect()
    }

    /// IPv4 addresses on a link.
    pub fn addrs_of(&self, ifindex: u32) -> impl Iterator<Item = &Ipv4Cidr> + '_ {
        self.addrs
            .iter()
            .filter(move |a| a.ifindex == ifindex)
            .filter_map(|a| match &a.cidr {
                IpCidr::V4(c) => Some(c),
                IpCidr::V6(_) => None,
            })
    }

    /// The addresses of a link hvnet manages: IPv4 and IPv6 alike, except IPv6 link-local
    /// ones (`fe80::/10`), which are the kernel's.
    pub fn managed_addrs_of(&self, ifindex: u32) -> impl Iterator<Item = &IpCidr> + '_ {
        self.addrs
            .iter()
            .filter(move |a| a.ifindex == ifindex)
            .map(|a| &a.cidr)
            .filter(|c| c.v6().is_none_or(|c| !c.is_link_local()))
    }
}
