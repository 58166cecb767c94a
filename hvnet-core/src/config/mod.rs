//! The declarative host configuration: what the TOML file says, validated and typed.
//!
//! ```
//! use hvnet_core::config::{Config, NetworkKind};
//! let cfg = Config::parse(r#"
//! [[network]]
//! name = "hostntw"
//! kind = "isolated"
//! bridge = "virbr2"
//! address = "192.168.110.1/24"
//!
//! [[guest]]
//! name = "node-2"
//! [[guest.nic]]
//! network = "hostntw"
//! "#, "hvnet.toml").unwrap();
//! assert_eq!(cfg.networks[0].kind, NetworkKind::Isolated);
//! assert_eq!(cfg.guests[0].nics[0].network, "hostntw");
//! ```

mod diag;
mod direct;
mod evpn;
mod overlay;
mod raw;
#[cfg(feature = "schema")]
mod schema;
mod validate;

pub use diag::{ConfigError, Diagnostic};
pub use direct::DirectNetwork;
pub use evpn::Evpn;
pub use overlay::{Overlay, OverlayControl, OverlayHost, Vni, VXLAN_OVERHEAD};
#[cfg(feature = "schema")]
pub use schema::json_schema;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::dhcp::DhcpHost;
pub use crate::firewall::Proto;
pub use crate::sriov::{VfPool, VfSettings, VfSource};
use crate::types::{
    Duration, IfName, Ipv4Cidr, Ipv4Range, Ipv6Cidr, Ipv6Range, MacAddr, MacPrefix, RateSpec,
};

/// A network's `forward_delay` in seconds when `stp = true` leaves it out: the kernel's
/// minimum with STP on (libvirt's default delay 0 means the same), so a guest's port
/// forwards after ~4 s (listening + learning) instead of the kernel's default 2 × 15 s.
pub const STP_FORWARD_DELAY: u32 = 2;

/// Resolves user and group names to ids (the host's passwd and group databases; hvnet-linux
/// implements it).
pub trait Accounts {
    /// The uid of user `name`.
    fn uid(&self, name: &str) -> Option<u32>;
    /// The gid of group `name`.
    fn gid(&self, name: &str) -> Option<u32>;
}

/// Resolves no names: only numeric ids are accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAccounts;

impl Accounts for NoAccounts {
    fn uid(&self, _: &str) -> Option<u32> {
        None
    }
    fn gid(&self, _: &str) -> Option<u32> {
        None
    }
}

/// A validated configuration.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Host-wide settings.
    pub host: HostSettings,
    /// The guest networks, in file order.
    pub networks: Vec<Network>,
    /// The guests, in file order.
    pub guests: Vec<Guest>,
    /// The SR-IOV VF pools (`kind = "hostdev"` networks), in file order; their guest NICs
    /// are [`NicType::Hostdev`].
    pub pools: Vec<VfPool>,
    /// `[[overlay.host]]`: the hosts overlay networks span, in file order.
    pub overlay_hosts: Vec<OverlayHost>,
    /// The `kind = "direct"` networks (macvtap), in file order; not in `networks`, which
    /// are the bridged ones.
    pub direct: Vec<DirectNetwork>,
    /// `[overlay.evpn]`: the BGP EVPN control plane of the `control = "evpn"` overlays.
    pub evpn: Option<Evpn>,
    /// Where some fields are in the file, for the checks that need the host (a veth's
    /// namespace must exist) to report them like validation does.
    pub locations: Locations,
}

/// The file a [`Config`] came from and the line and column of the fields whose checks
/// depend on the host (today: `guest[G].nic[N].netns`). Locations take no part in
/// comparisons: two configs that say the same are equal wherever they were written.
///
/// ```
/// use hvnet_core::config::Config;
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
///     [[guest]]\nname='c'\n[[guest.nic]]\nnetwork='n'\ntype='veth'\nnetns='box'\n", "h.toml").unwrap();
/// let d = cfg.diagnostic("guest[0].nic[0].netns", "gone".into());
/// assert_eq!(d.to_string(), "h.toml:10:7: guest[0].nic[0].netns: gone");
/// ```
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Default)]
pub struct Locations {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based (line, column) of recorded fields, by dotted path.
    pub fields: std::collections::BTreeMap<String, (usize, usize)>,
}

impl PartialEq for Locations {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Locations {}

/// Host-wide settings (`[host]`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    /// Prefix of generated guest MACs (default 52:54:00, as QEMU and libvirt use).
    pub mac_prefix: MacPrefix,
    /// `net.bridge.bridge-nf-call-{iptables,ip6tables,arptables}` (`bridge_nf_call`):
    /// whether bridged traffic passes through the IP firewalls. `None` leaves the host's
    /// setting alone; seed 004 recommends `false`.
    pub bridge_nf_call: Option<bool>,
    /// This host's name among `[[overlay.host]]` (`[host] name`, or `--host-name`): selects
    /// its overlay address, and whether it is a gateway host of a network.
    pub name: Option<String>,
    /// Which firewall backend writes hvnet's rules (`firewall`); `None`: not set (the
    /// command line's `--firewall`, else `auto`).
    pub firewall: Option<crate::firewall::FirewallChoice>,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            mac_prefix: MacPrefix::KVM,
            bridge_nf_call: None,
            name: None,
            firewall: None,
        }
    }
}

/// What a network is for.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename_all = "lowercase")
)]
pub enum NetworkKind {
    /// Host-only: a bridge the host is on (usually with `address`), never routed beyond.
    Isolated,
    /// Guests only: a bridge without a host address (seed 000's `br-guest`).
    Internal,
    /// Bridged to a physical NIC (`uplink`), like seed 000's `vmbridge` and `br-DEVICE`.
    Bridge,
    /// Host address, DHCP and masquerade to the outside (libvirt's `default` network).
    Nat,
    /// Like `nat` without masquerade: the subnet is routed both ways.
    Routed,
    /// Bridge, address and DHCP; hvnet adds no firewall rules at all.
    Open,
}

impl NetworkKind {
    /// The word used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Isolated => "isolated",
            Self::Internal => "internal",
            Self::Bridge => "bridge",
            Self::Nat => "nat",
            Self::Routed => "routed",
            Self::Open => "open",
        }
    }

    /// Whether the host forwards the network's traffic beyond it (`nat`, `routed`): hvnet
    /// then turns `net.ipv4.ip_forward` on.
    pub fn forwards(self) -> bool {
        matches!(self, Self::Nat | Self::Routed)
    }
}

/// Whether a network's bridge outlives its guests.
#[derive(
    serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default,
)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename_all = "lowercase")
)]
pub enum Lifetime {
    /// Created once and kept (seed 000's static bridges).
    #[default]
    Static,
    /// Exists only while at least one guest port is on it (`vmbridge`, `vmvnetbridge`).
    Dynamic,
}

/// One `[[network]]`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Unique name; also the owner tag of the bridge (`hvnet:<name>`).
    pub name: String,
    /// What kind of network.
    pub kind: NetworkKind,
    /// The bridge's interface name.
    pub bridge: IfName,
    /// The host's address on the bridge.
    pub address: Option<Ipv4Cidr>,
    /// MTU of the bridge and, copied from it, of its guest ports.
    pub mtu: Option<u32>,
    /// Spanning tree on the bridge.
    pub stp: bool,
    /// Bridge forward delay in seconds (0–30 without STP, default 0; 2–30 with STP, default
    /// [`STP_FORWARD_DELAY`]).
    pub forward_delay: u32,
    /// Static or dynamic bridge.
    pub lifetime: Lifetime,
    /// `kind = "bridge"`: the physical NIC enslaved to the bridge. `kind = "nat"`/`"routed"`:
    /// the egress device guests are forwarded (and masqueraded) through, never enslaved.
    /// Not owned by hvnet either way.
    pub uplink: Option<IfName>,
    /// Fixed bridge MAC; a stable one is derived from the name when absent, so the bridge's
    /// MAC does not change as ports come and go.
    pub mac: Option<MacAddr>,
    /// Aggregate limits of the traffic between the network and the host (and whatever the
    /// host routes it to), from the network's point of view: `egress` is what the network's
    /// guests send to the host, `ingress` what the host sends into the network. Traffic
    /// between guests of the network is not limited. Implemented on the bridge like a
    /// NIC's limits.
    pub rate: NicRate,
    /// Source ports of masqueraded TCP/UDP (`nat_ports = "1024-65535"`, `nat` only); `None`
    /// is 1024–65535.
    pub nat_ports: Option<(u16, u16)>,
    /// DHCP (and DNS) by dnsmasq on the bridge (`[network.dhcp]`); needs `address`.
    pub dhcp: Option<Dhcp>,
    /// `kind = "bridge"`: how the host is on the bridged LAN; `None` leaves the uplink's
    /// addresses alone (as before `host_ip` existed).
    pub host_ip: Option<HostIp>,
    /// `host_ip = "static"` with `address`: the default route via this gateway, on the
    /// bridge.
    pub gateway: Option<Ipv4Addr>,
    /// `kind = "bridge"`, seed 000's MAC replication (`physnw_repmac`): the uplink's own MAC
    /// is the `mac` of the one guest NIC on this network, and the uplink gets a stable
    /// locally administered MAC while it is bridged (a bridge delivers frames for a port's
    /// own MAC to the host, so the guest would never see them); `down` gives it back.
    pub replicate_mac: bool,
    /// `[network.overlay]`: the network spans hosts over VXLAN.
    pub overlay: Option<Overlay>,
    /// With an overlay, the hosts that hold the network's address and DHCP (`None`: all).
    pub gateway_hosts: Option<Vec<String>>,
    /// The host's IPv6 address on the bridge (`address6`), added `nodad`. On `nat` and
    /// `routed` networks the prefix is routed (no NAT66 unless `nat6`) and the host forwards
    /// IPv6.
    pub address6: Option<Ipv6Cidr>,
    /// Router advertisements and DHCPv6 by the network's dnsmasq (`[network.dhcp6]`);
    /// needs `address6`.
    pub dhcp6: Option<Dhcp6>,
    /// Clamp the MSS of TCP SYNs forwarded into or out of the bridge to the path MTU
    /// (`mss_clamp`; nat, routed and bridge networks).
    pub mss_clamp: bool,
    /// A nat network's IPv6 prefix is masqueraded like its IPv4 subnet (`nat6 = true`,
    /// NAT66) instead of routed (the default, as libvirt).
    pub nat6: bool,
}

/// How guests of a network get IPv6 addresses (`[network.dhcp6] mode`).
#[derive(
    serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default,
)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename_all = "lowercase")
)]
pub enum Dhcp6Mode {
    /// Stateless autoconfiguration from the advertised /64 (`"slaac"`, the default).
    #[default]
    Slaac,
    /// DHCPv6 hands out addresses from `range` and the static hosts (`"stateful"`).
    Stateful,
}

/// A network's IPv6 service (`[network.dhcp6]`): dnsmasq advertises the prefix of
/// `address6` (an isolated network's advertisements carry router lifetime 0, so guests
/// install no default route, as libvirt does) and, when stateful, serves DHCPv6.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Dhcp6 {
    /// SLAAC or stateful DHCPv6.
    pub mode: Dhcp6Mode,
    /// Stateful: the dynamic pool (`None`: static hosts only).
    pub range: Option<Ipv6Range>,
    /// Stateful: static reservations by MAC (`[[network.dhcp6.host]]`), in file order.
    /// Guest NICs with an `ip6` are added by the resolver, not listed here.
    pub hosts: Vec<crate::dhcp6::Dhcp6Host>,
}

impl Network {
    /// The MAC the uplink of a `replicate_mac` network wears while bridged.
    ///
    /// ```
    /// use hvnet_core::config::Network;
    /// let m = Network::replica_uplink_mac("phys-enp1s0");
    /// assert_eq!(m.octets()[0] & 0x02, 0x02); // locally administered
    /// ```
    pub fn replica_uplink_mac(network: &str) -> MacAddr {
        MacAddr::derive(&MacPrefix::LOCAL, &format!("uplink/{network}"))
    }
}

/// `host_ip` of a bridged network (seed 000's `netif_mode`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename_all = "lowercase")
)]
pub enum HostIp {
    /// `"static"` (netif_mode 0): the uplink's IPv4 addresses and routes move onto the
    /// bridge (and back on `down`), plus `address` and `gateway` when given.
    Static,
    /// `"dhcp"` (netif_mode 1): as `Static`, and a DHCP client on the bridge keeps the
    /// host's lease (the bridge has the uplink's MAC, so the server sees the same client).
    Dhcp,
    /// `"none"` (netif_mode 2): the host has no address on the bridge.
    None,
}

impl HostIp {
    /// Whether the uplink's addresses and routes move onto the bridge.
    pub fn moves_addresses(self) -> bool {
        matches!(self, Self::Static | Self::Dhcp)
    }
}

impl Network {
    /// The guests' subnet, when the host has an address on the bridge.
    pub fn subnet(&self) -> Option<Ipv4Cidr> {
        self.address.map(|a| a.trunc())
    }
}

/// A network's DHCP service (`[network.dhcp]`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Dhcp {
    /// The dynamic pool; `None` (`range = "none"`) serves static hosts only. When the file
    /// gives no `range`, the addresses after the host's (or, if there are none, before it)
    /// up to the end of the subnet.
    pub range: Option<Ipv4Range>,
    /// Lease time; `None` is `"infinite"`. Default 1 h (libvirt's).
    pub lease_time: Option<Duration>,
    /// Whether dnsmasq also answers DNS for the guests (default true; it never forwards
    /// upstream).
    pub dns: bool,
    /// `dns_only = true`: dnsmasq answers DNS on the bridge and serves no DHCP at all (what
    /// libvirt runs for a network with an `<ip>` but no `<dhcp>`). The guests' names are
    /// those of the guest NICs with a fixed `ip`; `range`, `lease_time` and static hosts
    /// are refused with it, and so is `dns = false`.
    pub dns_only: bool,
    /// The DNS domain handed out.
    pub domain: Option<String>,
    /// Static reservations (`[[network.dhcp.host]]`), in file order. Guest NICs with an
    /// `ip` are added by the resolver, not listed here.
    pub hosts: Vec<DhcpHost>,
}

/// One `[[guest]]`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// Unique name; also the owner tag of its NICs' host sides (`hvnet:<name>`).
    pub name: String,
    /// Its NICs, in file order.
    pub nics: Vec<Nic>,
    /// Port forwards from the host to it (`[[guest.forward]]`).
    pub forwards: Vec<PortForward>,
    /// The `[[overlay.host]]` it runs on (`None`: every host that reads the file); on the
    /// other hosts it is left out.
    pub host: Option<String>,
}

/// `[[guest.forward]]`: `[host_addr:]host_port` on the host reaches `guest_port` of one of
/// the guest's NICs (its fixed `ip`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// TCP or UDP.
    pub proto: Proto,
    /// Only this host address. An IPv4 address forwards to the NIC's `ip`, an IPv6 one to
    /// its `ip6`; `None` is every local address of both families, each to the NIC's address
    /// of that family where it has one (a NIC with only `ip` is forwarded IPv4 only).
    pub host_addr: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The guest port (default: `host_port`).
    pub guest_port: u16,
    /// Index into the guest's `nics` (the file names it by index or network name).
    pub nic: usize,
}

/// How a guest NIC reaches its network.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub enum NicType {
    /// A persistent TAP device on the host (QEMU opens it).
    Tap {
        /// Enable IFF_VNET_HDR (default true; virtio-net wants it).
        vnet_hdr: bool,
        /// Number of queues; more than one makes the tap multiqueue.
        queues: u32,
        /// Owning uid (TUNSETOWNER), so an unprivileged QEMU may open the tap.
        uid: Option<u32>,
        /// Owning gid (TUNSETGROUP).
        gid: Option<u32>,
    },
    /// QEMU's own user-mode NAT (`-netdev user`, slirp): no host link at all, optionally
    /// sharing a host directory over QEMU's built-in SMB server — seed 000's private
    /// guest/host network for file sharing.
    User {
        /// The host directory shared with the guest (`smb=`).
        smb: Option<String>,
        /// The NAT subnet (`net=`; QEMU's default is 10.0.2.0/24).
        net: Option<Ipv4Cidr>,
    },
    /// A veth pair whose peer lives in the named network namespace (a container-like guest).
    Veth {
        /// The namespace, by name under `/run/netns`.
        netns: String,
        /// The peer's name inside that namespace.
        peer: IfName,
    },
    /// An SR-IOV VF from a `kind = "hostdev"` pool (the NIC's `network`), passed through to
    /// the guest (`-device vfio-pci`); no host link. Its settings override the pool's.
    Hostdev(VfSettings),
}

/// One `[[guest.nic]]`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The network it joins, by name (empty for [`NicType::User`], which joins none).
    pub network: String,
    /// Tap or veth.
    pub kind: NicType,
    /// The host-side interface name; generated (`vnetN`) when absent.
    pub ifname: Option<IfName>,
    /// The guest's MAC; derived stably from guest name and NIC index when absent.
    pub mac: MacAddr,
    /// Whether the MAC was given in the file (false: derived).
    pub mac_given: bool,
    /// Rate limits, from the guest's point of view.
    pub rate: NicRate,
    /// The guest's fixed address on the network: a DHCP reservation for `mac`, and the
    /// target of the guest's port forwards.
    pub ip: Option<Ipv4Addr>,
    /// The guest's fixed IPv6 address on the network: a DHCPv6 reservation for `mac`
    /// (the network's `[network.dhcp6]` is stateful).
    pub ip6: Option<Ipv6Addr>,
}

/// A NIC's rate limits, from the guest's point of view: `egress` is what the guest sends,
/// `ingress` what it receives. `rate = "100mbit"` sets both.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct NicRate {
    /// Limit on traffic the guest sends.
    pub egress: Option<RateSpec>,
    /// Limit on traffic the guest receives.
    pub ingress: Option<RateSpec>,
}

impl Config {
    /// Parses and validates a configuration; `file` names it in diagnostics.
    ///
    /// Returns every problem found, each with file, line, column and field.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        validate::parse(text, file, &NoAccounts)
    }

    /// Like [`Config::parse`], resolving user and group names (a tap's `owner`/`group`)
    /// through `accounts`; [`Config::parse`] accepts numeric ids only.
    pub fn parse_with(
        text: &str,
        file: &str,
        accounts: &dyn Accounts,
    ) -> Result<Config, ConfigError> {
        validate::parse(text, file, accounts)
    }

    /// A diagnostic about `field`, located where the file has it (line 1, column 1 when
    /// that field's place was not recorded).
    pub fn diagnostic(&self, field: &str, message: String) -> Diagnostic {
        let (line, column) = self.locations.fields.get(field).copied().unwrap_or((1, 1));
        Diagnostic {
            file: self.locations.file.clone(),
            line,
            column,
            field: field.to_string(),
            message,
        }
    }

    /// Like [`Config::parse_with`] for the file's raw bytes: text that is not UTF-8 is a
    /// diagnostic at the line and column of its first bad byte.
    ///
    /// ```
    /// use hvnet_core::config::{Config, NoAccounts};
    /// let err = Config::parse_bytes(b"[[network]]\nname = \"a\xffb\"\n", "h.toml", &NoAccounts).unwrap_err();
    /// assert!(err.to_string().starts_with("h.toml:2:10: network[0].name: invalid UTF-8: byte 0xff"));
    /// ```
    pub fn parse_bytes(
        bytes: &[u8],
        file: &str,
        accounts: &dyn Accounts,
    ) -> Result<Config, ConfigError> {
        validate::parse_bytes(bytes, file, accounts)
    }

    /// The network with this name.
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// The `kind = "direct"` network with this name.
    pub fn direct_network(&self, name: &str) -> Option<&DirectNetwork> {
        self.direct.iter().find(|n| n.name == name)
    }

    /// The guest with this name.
    pub fn guest(&self, name: &str) -> Option<&Guest> {
        self.guests.iter().find(|g| g.name == name)
    }

    /// The SR-IOV pool (`kind = "hostdev"` network) with this name.
    pub fn pool(&self, name: &str) -> Option<&VfPool> {
        self.pools.iter().find(|p| p.name == name)
    }
}
