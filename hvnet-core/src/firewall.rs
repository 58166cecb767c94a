//! The firewall as intent: which virtual networks and port forwards hvnet's firewall must
//! serve, independent of the tool that writes it. Pure — the renderers
//! (`hvnet_linux::firewall::{iptables, nftables}`) turn a [`FirewallIntent`] into rules,
//! read the live firewall back and compare.
//!
//! Semantics per [`FwKind`] follow libvirt's `network_iptables.c` (anchors §1.3):
//!
//! * **nat**: masquerade from the subnet to anywhere but the subnet, skipping 224.0.0.0/24 and
//!   255.255.255.255, TCP/UDP source ports mapped into `port_range` (default 1024–65535),
//!   optionally only out of `uplink`; forwarding accepted out of the bridge from the subnet
//!   and into it for established/related flows only; bridge-local traffic accepted
//!   (`br_netfilter` sends it through FORWARD); everything else into or out of the bridge
//!   rejected. DHCP and DNS from the guests to the host are accepted.
//! * **routed**: as nat without masquerade and with new flows accepted in both directions.
//!
//! A nat network's IPv6 subnets are routed, as libvirt does (no NAT66): new flows are
//! accepted both ways; with `nat6` they are masqueraded like IPv4 instead (opt-in).
//! * **isolated**: guests reach the host (DHCP/DNS accepted) and each other; nothing is
//!   forwarded.
//! * **open**: no rules at all, apart from the MSS clamp when asked for (a `bridge` network).
//! * **internal**: guests reach each other only: nothing is forwarded into or out of the
//!   bridge (no DHCP/DNS accepts either: the host has no address there). An `internal`
//!   network joins the intent when the host forwards IPv6 (the intent has an IPv6 part):
//!   its bridge's link-local address would otherwise let a guest route through the host.
//!
//! With `mss_clamp`, the MSS option of TCP SYNs forwarded into or out of the bridge is
//! lowered to the path MTU of the route (`TCPMSS --clamp-mss-to-pmtu`, nft's
//! `tcp option maxseg size set rt mtu`).
//!
//! Port forwards DNAT `[host_addr:]host_port` to `guest_ip:guest_port` for packets from
//! outside and from the host itself (never to loopback destinations), accept the DNATed flow
//! ahead of any reject, and masquerade the hairpin case (a guest of the same subnet
//! connecting to the host's port) so that the reply goes back through the host.
//!
//! Every type holds addresses of either family ([`IpNet`], [`IpAddr`]); both renderers write
//! both families (the iptables renderer its IPv6 part with ip6tables, only when the intent
//! has one: [`FirewallIntent::has_v6`]). The forward rejects are family-correct (ICMPv6
//! port unreachable for IPv6), so an isolated network is isolated for both families.
//!
//! # Descriptors
//!
//! A renderer stores the intent it wrote next to the rules, as one short line per network,
//! subnet and forward ([`FirewallIntent::descriptors`]), and reads it back with
//! [`FirewallIntent::from_descriptors`]: the observed intent is what the live firewall was
//! written for, and the renderer compares the live rules with that intent's rendering to
//! name any drift. The lines are ASCII words without quotes (network names are
//! `[A-Za-z0-9._-]`), so every tool can keep them in a rule comment.
//!
//! ```
//! use hvnet_core::firewall::{FirewallIntent, FwKind, FwNetwork};
//! let net = FwNetwork {
//!     name: "default".into(),
//!     kind: FwKind::Nat { uplink: None, port_range: None, nat6: false },
//!     bridge: "virbr0".parse().unwrap(),
//!     subnets: vec!["192.168.122.0/24".parse().unwrap()],
//!     mss_clamp: true,
//! };
//! let intent = FirewallIntent::new(vec![net], vec![]).unwrap();
//! let lines = intent.descriptors();
//! assert_eq!(lines, ["net default nat virbr0 mss", "sub default 192.168.122.0/24"]);
//! assert_eq!(FirewallIntent::from_descriptors(&lines).unwrap(), intent);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::types::IfName;

/// The comment on hvnet's jumps from iptables' built-in chains (hvnet-xen's chains use it too).
pub const HOOK_COMMENT: &str = "hvnet";

/// An iptables table hvnet (and hvnet-xen's per-vif chains) write to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `filter`: INPUT/OUTPUT/FORWARD accepts and rejects.
    Filter,
    /// `nat`: masquerade and DNAT.
    Nat,
}

impl Table {
    /// Both tables, in apply order.
    pub const ALL: [Table; 2] = [Table::Filter, Table::Nat];

    /// The name iptables knows the table by.
    pub fn name(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which firewall backend writes hvnet's rules (`[host] firewall`, `--firewall`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FirewallChoice {
    /// nftables when `nft` is installed and the host's `iptables` is nft-based or absent,
    /// else iptables.
    #[default]
    Auto,
    /// hvnet's own nftables table.
    Nftables,
    /// hvnet's own iptables chains.
    Iptables,
}

impl std::str::FromStr for FirewallChoice {
    type Err = String;

    /// ```
    /// use hvnet_core::firewall::FirewallChoice;
    /// assert_eq!("nftables".parse(), Ok(FirewallChoice::Nftables));
    /// assert!("ufw".parse::<FirewallChoice>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "nftables" => Ok(Self::Nftables),
            "iptables" => Ok(Self::Iptables),
            _ => Err(format!(
                "unknown firewall {s:?} (expected auto, nftables or iptables)"
            )),
        }
    }
}

/// A firewall backend that holds hvnet's rules.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum FirewallKind {
    /// hvnet's nftables table.
    Nftables,
    /// hvnet's iptables chains.
    Iptables,
}

impl fmt::Display for FirewallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FirewallKind::Nftables => "nftables",
            FirewallKind::Iptables => "iptables",
        })
    }
}

/// What a network does about forwarding.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FwKind {
    /// Masquerade to the outside.
    Nat {
        /// Only forward/masquerade through this device.
        uplink: Option<IfName>,
        /// Source-port range for masqueraded TCP/UDP; `None` is 1024–65535.
        port_range: Option<(u16, u16)>,
        /// Masquerade the IPv6 subnets too (NAT66); without it they are routed.
        nat6: bool,
    },
    /// Forward both ways without NAT.
    Routed {
        /// Only forward through this device.
        uplink: Option<IfName>,
    },
    /// Host-only: guests reach the host and each other.
    Isolated,
    /// No filtering (a plain bridge); only the MSS clamp, if any.
    Open,
    /// Guests only: nothing forwarded into or out of the bridge.
    Internal,
}

impl FwNetwork {
    /// The IPv4 subnets (host bits cleared).
    pub fn v4_subnets(&self) -> Vec<Ipv4Net> {
        self.subnets
            .iter()
            .filter_map(|s| match s {
                IpNet::V4(v) => Some(v.trunc()),
                IpNet::V6(_) => None,
            })
            .collect()
    }

    /// The IPv6 subnets (host bits cleared).
    pub fn v6_subnets(&self) -> Vec<Ipv6Net> {
        self.subnets
            .iter()
            .filter_map(|s| match s {
                IpNet::V6(v) => Some(v.trunc()),
                IpNet::V4(_) => None,
            })
            .collect()
    }

    /// Whether the network's IPv6 subnets are masqueraded (a nat network with `nat6`).
    pub fn nat6(&self) -> bool {
        matches!(self.kind, FwKind::Nat { nat6: true, .. })
    }
}

impl FwKind {
    /// The kind's word in descriptors and messages.
    pub fn word(&self) -> &'static str {
        match self {
            FwKind::Nat { .. } => "nat",
            FwKind::Routed { .. } => "routed",
            FwKind::Isolated => "isolated",
            FwKind::Open => "open",
            FwKind::Internal => "internal",
        }
    }

    /// The uplink forwarding is restricted to, if any.
    pub fn uplink(&self) -> Option<&IfName> {
        match self {
            FwKind::Nat { uplink, .. } | FwKind::Routed { uplink } => uplink.as_ref(),
            FwKind::Isolated | FwKind::Open | FwKind::Internal => None,
        }
    }
}

/// One virtual network as the firewall sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FwNetwork {
    /// The network's name (the owner of its rules).
    pub name: String,
    /// The forwarding kind.
    pub kind: FwKind,
    /// The network's bridge.
    pub bridge: IfName,
    /// The guests' subnets, of either family (host bits cleared by [`FirewallIntent::new`]).
    pub subnets: Vec<IpNet>,
    /// Clamp the MSS of forwarded TCP SYNs to the route's path MTU.
    pub mss_clamp: bool,
}

/// A transport protocol of a port forward.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename_all = "lowercase")
)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The name iptables and nft know the protocol by.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A port forward: `[host_addr:]host_port` on the host to `guest_ip:guest_port`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Forward {
    /// The protocol.
    pub proto: Proto,
    /// Only this host address; `None` is every local address.
    pub host_addr: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The guest's address.
    pub guest_ip: IpAddr,
    /// The guest's port.
    pub guest_port: u16,
    /// The name of the guest's network (must be one of the [`FwNetwork`]s).
    pub network: String,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.proto.name();
        match self.host_addr {
            Some(IpAddr::V6(a)) => write!(f, "{p} [{a}]:{}", self.host_port)?,
            Some(a) => write!(f, "{p} {a}:{}", self.host_port)?,
            None => write!(f, "{p} port {}", self.host_port)?,
        }
        match self.guest_ip {
            IpAddr::V6(g) => write!(f, " → [{g}]:{}", self.guest_port)?,
            IpAddr::V4(g) => write!(f, " → {g}:{}", self.guest_port)?,
        }
        write!(f, " (network {})", self.network)
    }
}

/// A port forward names a network that is not in the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("port forward {proto}/{port} refers to unknown network '{network}'", proto = .proto.name())]
pub struct UnknownNetwork {
    /// The forward's protocol.
    pub proto: Proto,
    /// The forward's host port.
    pub port: u16,
    /// The unknown network.
    pub network: String,
}

/// Everything hvnet's firewall must serve: the networks and the port forwards into them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FirewallIntent {
    networks: Vec<FwNetwork>,
    forwards: Vec<Forward>,
}

/// A descriptor line that cannot be read back (the live firewall was edited by hand, or
/// written by another version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable firewall descriptor {line:?}: {why}")]
pub struct BadDescriptor {
    /// The line.
    pub line: String,
    /// What is wrong with it.
    pub why: String,
}

/// How a live intent differs from the wanted one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntentDifference {
    /// A wanted network has no rules.
    MissingNetwork(String),
    /// Rules of a network that is not wanted.
    ExtraNetwork(String),
    /// A network's rules were written for other settings.
    ChangedNetwork {
        /// The live settings.
        live: Box<FwNetwork>,
        /// The wanted settings.
        want: Box<FwNetwork>,
    },
    /// A wanted forward is absent.
    MissingForward(Forward),
    /// A forward that is not wanted.
    ExtraForward(Forward),
}

impl fmt::Display for FwNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.kind.word(), self.bridge)?;
        for s in &self.subnets {
            write!(f, " {s}")?;
        }
        if let Some(u) = self.kind.uplink() {
            write!(f, " via {u}")?;
        }
        if let FwKind::Nat {
            port_range: Some((lo, hi)),
            ..
        } = self.kind
        {
            write!(f, " ports {lo}-{hi}")?;
        }
        if self.nat6() {
            f.write_str(" nat6")?;
        }
        if self.mss_clamp {
            f.write_str(" mss-clamp")?;
        }
        Ok(())
    }
}

impl fmt::Display for IntentDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingNetwork(n) => write!(f, "no firewall rules for network {n}"),
            Self::ExtraNetwork(n) => write!(f, "firewall rules of unwanted network {n}"),
            Self::ChangedNetwork { live, want } => write!(
                f,
                "firewall rules of network {} are for {live}, wanted {want}",
                want.name
            ),
            Self::MissingForward(fw) => write!(f, "missing port forward {fw}"),
            Self::ExtraForward(fw) => write!(f, "unwanted port forward {fw}"),
        }
    }
}

impl FirewallIntent {
    /// The intent for `networks` and `forwards` (subnets' host bits cleared).
    ///
    /// # Errors
    ///
    /// [`UnknownNetwork`] if a forward's `network` is not among `networks`.
    pub fn new(
        mut networks: Vec<FwNetwork>,
        forwards: Vec<Forward>,
    ) -> Result<Self, UnknownNetwork> {
        if let Some(f) = forwards
            .iter()
            .find(|f| !networks.iter().any(|n| n.name == f.network))
        {
            return Err(UnknownNetwork {
                proto: f.proto,
                port: f.host_port,
                network: f.network.clone(),
            });
        }
        for n in &mut networks {
            for s in &mut n.subnets {
                *s = s.trunc();
            }
        }
        Ok(FirewallIntent { networks, forwards })
    }

    /// The networks, in the order given.
    pub fn networks(&self) -> &[FwNetwork] {
        &self.networks
    }

    /// The port forwards, in the order given.
    pub fn forwards(&self) -> &[Forward] {
        &self.forwards
    }

    /// The network called `name`.
    pub fn network(&self, name: &str) -> Option<&FwNetwork> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// Whether the intent has an IPv6 part: a network with an IPv6 subnet or a forward to an
    /// IPv6 guest address.
    ///
    /// ```
    /// use hvnet_core::firewall::FirewallIntent;
    /// let v4 = FirewallIntent::from_descriptors(&["net a isolated br0", "sub a 10.0.0.0/24"]).unwrap();
    /// let v6 = FirewallIntent::from_descriptors(&["net a isolated br0", "sub a fd00::/64"]).unwrap();
    /// assert!(!v4.has_v6() && v6.has_v6());
    /// ```
    pub fn has_v6(&self) -> bool {
        self.networks.iter().any(|n| !n.v6_subnets().is_empty())
            || self.forwards.iter().any(|f| f.guest_ip.is_ipv6())
    }

    /// Whether there is nothing to serve.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// The intent without the networks named in `owners` (and their forwards): what is left
    /// of a shared firewall when `hvnet down` removes some networks.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    /// use hvnet_core::firewall::FirewallIntent;
    /// let i = FirewallIntent::from_descriptors(&["net a isolated br0", "net b isolated br1"]).unwrap();
    /// let left = i.without_owners(&BTreeSet::from(["a".to_string()]));
    /// assert_eq!(left.networks().len(), 1);
    /// ```
    pub fn without_owners(&self, owners: &BTreeSet<String>) -> FirewallIntent {
        FirewallIntent {
            networks: self
                .networks
                .iter()
                .filter(|n| !owners.contains(&n.name))
                .cloned()
                .collect(),
            forwards: self
                .forwards
                .iter()
                .filter(|f| !owners.contains(&f.network))
                .cloned()
                .collect(),
        }
    }

    /// The intent as descriptor lines (see the module docs): `net NAME KIND BRIDGE
    /// [uplink=IF] [ports=LO-HI] [nat6] [mss]`, `sub NAME CIDR`, `fwd NAME PROTO HOSTADDR|* HOSTPORT
    /// GUESTIP GUESTPORT`.
    pub fn descriptors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.networks {
            let mut l = format!("net {} {} {}", n.name, n.kind.word(), n.bridge);
            if let Some(u) = n.kind.uplink() {
                l.push_str(&format!(" uplink={u}"));
            }
            if let FwKind::Nat {
                port_range: Some((lo, hi)),
                ..
            } = n.kind
            {
                l.push_str(&format!(" ports={lo}-{hi}"));
            }
            if n.nat6() {
                l.push_str(" nat6");
            }
            if n.mss_clamp {
                l.push_str(" mss");
            }
            out.push(l);
            for s in &n.subnets {
                out.push(format!("sub {} {s}", n.name));
            }
        }
        for f in &self.forwards {
            let host = f.host_addr.map_or("*".to_string(), |a| a.to_string());
            out.push(format!(
                "fwd {} {} {host} {} {} {}",
                f.network,
                f.proto.name(),
                f.host_port,
                f.guest_ip,
                f.guest_port
            ));
        }
        out
    }

    /// Reads descriptor lines back (see [`descriptors`](Self::descriptors)).
    ///
    /// # Errors
    ///
    /// [`BadDescriptor`] naming the first line that is not one, or whose network is unknown.
    pub fn from_descriptors<S: AsRef<str>>(lines: &[S]) -> Result<Self, BadDescriptor> {
        let mut networks: Vec<FwNetwork> = Vec::new();
        let mut forwards = Vec::new();
        for line in lines {
            let line = line.as_ref();
            let bad = |why: &str| BadDescriptor {
                line: line.to_string(),
                why: why.to_string(),
            };
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["net", name, kind, bridge, opts @ ..] => {
                    let bridge = IfName::new(bridge).map_err(|e| bad(&e.to_string()))?;
                    let (mut uplink, mut ports, mut mss, mut nat6) = (None, None, false, false);
                    for o in opts {
                        if let Some(u) = o.strip_prefix("uplink=") {
                            uplink = Some(IfName::new(u).map_err(|e| bad(&e.to_string()))?);
                        } else if let Some(p) = o.strip_prefix("ports=") {
                            let (lo, hi) = p.split_once('-').ok_or_else(|| bad("ports"))?;
                            ports = Some((
                                lo.parse().map_err(|_| bad("ports"))?,
                                hi.parse().map_err(|_| bad("ports"))?,
                            ));
                        } else if *o == "mss" {
                            mss = true;
                        } else if *o == "nat6" && *kind == "nat" {
                            nat6 = true;
                        } else {
                            return Err(bad("unknown option"));
                        }
                    }
                    let kind = match *kind {
                        "nat" => FwKind::Nat {
                            uplink,
                            port_range: ports,
                            nat6,
                        },
                        "routed" => FwKind::Routed { uplink },
                        "isolated" => FwKind::Isolated,
                        "open" => FwKind::Open,
                        "internal" => FwKind::Internal,
                        _ => return Err(bad("unknown kind")),
                    };
                    networks.push(FwNetwork {
                        name: (*name).to_string(),
                        kind,
                        bridge,
                        subnets: Vec::new(),
                        mss_clamp: mss,
                    });
                }
                ["sub", name, cidr] => {
                    let net = networks
                        .iter_mut()
                        .find(|n| n.name == *name)
                        .ok_or_else(|| bad("unknown network"))?;
                    net.subnets
                        .push(cidr.parse().map_err(|_| bad("not a CIDR"))?);
                }
                ["fwd", net, proto, host, hport, gip, gport] => {
                    if !networks.iter().any(|n| n.name == *net) {
                        return Err(bad("unknown network"));
                    }
                    let proto = match *proto {
                        "tcp" => Proto::Tcp,
                        "udp" => Proto::Udp,
                        _ => return Err(bad("unknown protocol")),
                    };
                    let host_addr = match *host {
                        "*" => None,
                        a => Some(a.parse().map_err(|_| bad("not an address"))?),
                    };
                    forwards.push(Forward {
                        proto,
                        host_addr,
                        host_port: hport.parse().map_err(|_| bad("not a port"))?,
                        guest_ip: gip.parse().map_err(|_| bad("not an address"))?,
                        guest_port: gport.parse().map_err(|_| bad("not a port"))?,
                        network: (*net).to_string(),
                    });
                }
                _ => return Err(bad("not a descriptor")),
            }
        }
        Ok(FirewallIntent { networks, forwards })
    }

    /// How `self` (the live intent) differs from `want`, per network and forward; empty when
    /// they ask for the same rules (order of networks and forwards aside).
    ///
    /// ```
    /// use hvnet_core::firewall::FirewallIntent;
    /// let live = FirewallIntent::from_descriptors(&["net a isolated br0"]).unwrap();
    /// let want = FirewallIntent::from_descriptors(&["net a nat br0", "fwd a tcp * 80 10.0.0.2 80"]).unwrap();
    /// let d: Vec<String> = live.diff(&want).iter().map(|d| d.to_string()).collect();
    /// assert_eq!(d, ["firewall rules of network a are for isolated on br0, wanted nat on br0",
    ///                "missing port forward tcp port 80 → 10.0.0.2:80 (network a)"]);
    /// ```
    pub fn diff(&self, want: &FirewallIntent) -> Vec<IntentDifference> {
        let mut out = Vec::new();
        for w in &want.networks {
            match self.network(&w.name) {
                None => out.push(IntentDifference::MissingNetwork(w.name.clone())),
                Some(l) if l != w => out.push(IntentDifference::ChangedNetwork {
                    live: Box::new(l.clone()),
                    want: Box::new(w.clone()),
                }),
                Some(_) => {}
            }
        }
        for l in &self.networks {
            if want.network(&l.name).is_none() {
                out.push(IntentDifference::ExtraNetwork(l.name.clone()));
            }
        }
        for f in &want.forwards {
            if !self.forwards.contains(f) {
                out.push(IntentDifference::MissingForward(f.clone()));
            }
        }
        for f in &self.forwards {
            if !want.forwards.contains(f) {
                out.push(IntentDifference::ExtraForward(f.clone()));
            }
        }
        out
    }
}

/// A way the live rules differ from the rendering of the intent they were written for, as
/// the renderer names it (a rule, chain, jump, set element).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Missing, unexpected, …
    pub kind: DriftKind,
    /// The object, in the tool's words (`-t filter -A HVNET-FWO …`, `chain inet hvnet forward`).
    pub what: String,
}

/// What is wrong with a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftKind {
    /// Wanted but absent (or out of order).
    Missing,
    /// Present but not wanted.
    Unexpected,
    /// Present more than once.
    Duplicate,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            DriftKind::Missing => "missing",
            DriftKind::Unexpected => "unexpected",
            DriftKind::Duplicate => "duplicate",
        };
        write!(f, "{k} {}", self.what)
    }
}

/// Splits an `iptables -S` line into words, honouring double quotes and backslash escapes.
///
/// ```
/// assert_eq!(hvnet_core::firewall::split_words(r#"-m comment --comment "a b" -j X"#),
///            ["-m", "comment", "--comment", "a b", "-j", "X"]);
/// ```
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_round_trip_both_families() {
        let net = FwNetwork {
            name: "n".into(),
            kind: FwKind::Nat {
                uplink: Some(IfName::new("eth0").unwrap()),
                port_range: Some((2000, 3000)),
                nat6: true,
            },
            bridge: IfName::new("br0").unwrap(),
            subnets: vec![
                "10.1.2.3/16".parse().unwrap(),
                "fd00::1/64".parse().unwrap(),
            ],
            mss_clamp: false,
        };
        let fwd = Forward {
            proto: Proto::Udp,
            host_addr: Some("2001:db8::1".parse().unwrap()),
            host_port: 53,
            guest_ip: "fd00::5".parse().unwrap(),
            guest_port: 5353,
            network: "n".into(),
        };
        let i = FirewallIntent::new(vec![net], vec![fwd]).unwrap();
        assert_eq!(i.networks()[0].subnets[0].to_string(), "10.1.0.0/16");
        let d = i.descriptors();
        assert_eq!(
            d,
            [
                "net n nat br0 uplink=eth0 ports=2000-3000 nat6",
                "sub n 10.1.0.0/16",
                "sub n fd00::/64",
                "fwd n udp 2001:db8::1 53 fd00::5 5353"
            ]
        );
        assert_eq!(FirewallIntent::from_descriptors(&d).unwrap(), i);
        assert!(i.diff(&i).is_empty());
    }

    #[test]
    fn bad_descriptors_and_unknown_networks() {
        for l in [
            "net a weird br0",
            "sub x 10.0.0.0/8",
            "fwd a tcp * 1 2 3",
            "junk",
        ] {
            assert!(FirewallIntent::from_descriptors(&[l]).is_err(), "{l}");
        }
        let f = Forward {
            proto: Proto::Udp,
            host_addr: None,
            host_port: 1,
            guest_ip: "10.0.0.2".parse().unwrap(),
            guest_port: 1,
            network: "nope".into(),
        };
        assert_eq!(
            FirewallIntent::new(vec![], vec![f])
                .unwrap_err()
                .to_string(),
            "port forward udp/1 refers to unknown network 'nope'"
        );
    }

    #[test]
    fn diff_names_networks_and_forwards() {
        let live =
            FirewallIntent::from_descriptors(&["net a nat br0", "net b isolated br1"]).unwrap();
        let want = FirewallIntent::from_descriptors(&[
            "net a nat br0 mss",
            "net c routed br2",
            "fwd c tcp * 80 10.0.0.2 80",
        ])
        .unwrap();
        let d: Vec<String> = live.diff(&want).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            [
                "firewall rules of network a are for nat on br0, wanted nat on br0 mss-clamp",
                "no firewall rules for network c",
                "firewall rules of unwanted network b",
                "missing port forward tcp port 80 → 10.0.0.2:80 (network c)",
            ]
        );
    }
}
