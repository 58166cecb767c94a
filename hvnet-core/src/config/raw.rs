//! The TOML file as written, with the span of every value, before validation.
//!
//! Everything that needs a typed parse (names, MACs, CIDRs) stays a spanned string here so
//! that `validate` can report *every* problem with its line, not only the first.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Config"))]
pub(crate) struct RawConfig {
    /// Host-wide settings.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RawHost>"))]
    pub host: Option<S<RawHost>>,
    /// The networks: one bridge each.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawNetwork>"))]
    pub network: Vec<S<RawNetwork>>,
    /// The guests and their NICs.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawGuest>"))]
    pub guest: Vec<S<RawGuest>>,
    /// `[overlay]`: the hosts networks span (shared by every host's copy of the file).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RawOverlay>"))]
    pub overlay: Option<S<RawOverlay>>,
}

/// `[overlay]`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Overlay"))]
pub(crate) struct RawOverlay {
    /// `[[overlay.host]]`: every host of the overlay, by name, with its underlay address.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawOverlayHost>"))]
    pub host: Vec<S<RawOverlayHost>>,
    /// `[overlay.evpn]`: the BGP EVPN control plane of the `control = "evpn"` networks.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<RawEvpn>"))]
    pub evpn: Option<S<RawEvpn>>,
}

/// `[overlay.evpn]`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "OverlayEvpn"))]
pub(crate) struct RawEvpn {
    /// The autonomous system number every host shares (iBGP), 1-4294967295.
    #[cfg_attr(feature = "schema", schemars(with = "i64"))]
    pub asn: S<i64>,
    /// The BGP router id (default: this host's `[[overlay.host]]` address).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub router_id: Option<S<String>>,
    /// The BGP neighbours' addresses (default: the route reflectors, else every other
    /// `[[overlay.host]]`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub neighbors: Option<S<Vec<S<String>>>>,
    /// The `[[overlay.host]]` names that are route reflectors: the others peer only with
    /// them, they peer with every other host as their clients.
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub route_reflectors: Option<S<Vec<S<String>>>>,
}

/// `[[overlay.host]]`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "OverlayHost"))]
pub(crate) struct RawOverlayHost {
    /// The host's name (`[host] name` on that host).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub name: S<String>,
    /// Its underlay IPv4 address (the VXLAN tunnel endpoint).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub address: S<String>,
}

/// `[network.overlay]`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "NetworkOverlay"))]
pub(crate) struct RawNetOverlay {
    /// The VXLAN network identifier, 1-16777215.
    #[cfg_attr(feature = "schema", schemars(with = "i64"))]
    pub vni: S<i64>,
    /// This host's underlay address (default: its `[[overlay.host]]` address).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub local: Option<S<String>>,
    /// The underlay interface (its first IPv4 address is `local` when that is not given).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub underlay: Option<S<String>>,
    /// UDP port (default 4789).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub port: Option<S<i64>>,
    /// The other hosts' underlay addresses (default: every `[[overlay.host]]` but this one).
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub peers: Option<S<Vec<S<String>>>>,
    /// `"static"` (default: head-end replication to `peers`) or `"evpn"`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub control: Option<S<String>>,
    /// The VXLAN device learns remote MACs from received packets (default true with static
    /// peers).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub learning: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Host"))]
pub(crate) struct RawHost {
    /// Prefix of generated guest MACs (default 52:54:00, QEMU/libvirt's).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub mac_prefix: Option<S<String>>,
    /// `net.bridge.bridge-nf-call-*` on (true) or off (false); absent leaves it alone.
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub bridge_nf_call: Option<S<bool>>,
    /// This host's name in `[[overlay.host]]` (`--host-name`/`HVNET_HOST_NAME` override it).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub name: Option<S<String>>,
    /// Which firewall backend writes hvnet's rules: auto (default) | nftables | iptables.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub firewall: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Network"))]
pub(crate) struct RawNetwork {
    /// Unique name; the bridge's owner tag is alias `hvnet:NAME`.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub name: S<String>,
    /// isolated (host-only) | internal (guests only) | bridge (with uplink) | nat | routed | open
    /// | hostdev (a pool of SR-IOV VFs passed through to guests; no bridge)
    /// | direct (macvtap NICs on `uplink`/`uplinks`, no bridge).
    #[cfg_attr(feature = "schema", schemars(with = "super::schema::NetworkKindName"))]
    pub kind: S<String>,
    /// The bridge's interface name (1-15 bytes); required except for kind = "hostdev" and
    /// kind = "direct".
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub bridge: Option<S<String>>,
    /// The host's address on the bridge, CIDR (e.g. "192.168.110.1/24"); required for nat, routed, open.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub address: Option<S<String>>,
    /// MTU of the bridge, copied to the guests' ports.
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub mtu: Option<S<i64>>,
    /// Spanning tree on the bridge (default false).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub stp: Option<S<bool>>,
    /// Seconds: 0-30 without STP (default 0), 2-30 with STP (default 2).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub forward_delay: Option<S<i64>>,
    /// static (persists, default) | dynamic (exists only while a guest port is on it).
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::Lifetime>"))]
    pub lifetime: Option<S<String>>,
    /// kind = "bridge": the physical NIC to enslave (required); nat, routed: the egress device (optional).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub uplink: Option<S<String>>,
    /// kind = "direct": the uplinks the guests' macvtaps sit on (a pool; `passthrough` takes
    /// one per guest NIC).
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub uplinks: Option<S<Vec<S<String>>>>,
    /// kind = "direct": the macvtaps' mode, bridge | vepa (default) | private | passthrough.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<super::schema::MacvtapModeName>")
    )]
    pub mode: Option<S<String>>,
    /// `kind = "bridge"`: how the host is on the bridged LAN (`static` | `dhcp` | `none`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::HostIp>"))]
    pub host_ip: Option<S<String>>,
    /// With `host_ip = "static"` and `address`: the default gateway.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub gateway: Option<S<String>>,
    /// `kind = "bridge"`: the uplink's MAC belongs to a guest NIC (seed 000's physnw_repmac).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub replicate_mac: Option<S<bool>>,
    /// nat, routed, bridge: clamp the MSS of forwarded TCP SYNs to the path MTU.
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub mss_clamp: Option<S<bool>>,
    /// Fixed bridge MAC; default: stable, derived from the name.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub mac: Option<S<String>>,
    /// Aggregate limit between the network and the host (and beyond).
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::Rate>"))]
    pub rate: Option<S<toml::Value>>,
    /// Masqueraded source ports, `"START-END"` (kind nat).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub nat_ports: Option<S<String>>,
    /// `[network.dhcp]`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<RawDhcp>"))]
    pub dhcp: Option<S<RawDhcp>>,
    /// kind = "hostdev": the physical function whose VFs form the pool (or `vfs`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub pf: Option<S<String>>,
    /// kind = "hostdev": the VFs of the pool by PCI address, "DDDD:BB:SS.F" (or `pf`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub vfs: Option<S<Vec<S<String>>>>,
    /// kind = "hostdev": bind a VF to vfio-pci while a guest has it (default false).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub managed: Option<S<bool>>,
    /// Hostdev: the VF's VLAN id, 0-4095 (0: none; the default).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub vlan: Option<S<i64>>,
    /// Hostdev: MAC spoof checking on the VF (absent: left as it is).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub spoofchk: Option<S<bool>>,
    /// Hostdev: trusted VF (absent: left as it is).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub trust: Option<S<bool>>,
    /// Hostdev: the VF's transmit limit in Mbit/s (0: none; absent: left as it is).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub max_tx_rate: Option<S<i64>>,
    /// `[network.overlay]`: the network spans hosts over VXLAN.
    #[cfg_attr(feature = "schema", schemars(with = "Option<RawNetOverlay>"))]
    pub overlay: Option<S<RawNetOverlay>>,
    /// With an overlay: the hosts (`[[overlay.host]]` names) that hold the network's address
    /// and DHCP (default: every host).
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub gateway_hosts: Option<S<Vec<S<String>>>>,
    /// The host's IPv6 address on the bridge, CIDR (e.g. "fd42:100::1/64").
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub address6: Option<S<String>>,
    /// `[network.dhcp6]`: router advertisements and DHCPv6 by dnsmasq.
    #[cfg_attr(feature = "schema", schemars(with = "Option<RawDhcp6>"))]
    pub dhcp6: Option<S<RawDhcp6>>,
    /// kind nat with `address6`: masquerade IPv6 too (NAT66); default false (routed).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub nat6: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Dhcp6"))]
pub(crate) struct RawDhcp6 {
    /// `"slaac"` (default: addresses from the advertised /64) or `"stateful"` (DHCPv6).
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::Dhcp6Mode>"))]
    pub mode: Option<S<String>>,
    /// `"A-B"`, stateful only.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub range: Option<S<String>>,
    /// `[[network.dhcp6.host]]` (stateful only; `ip` is an IPv6 address).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawDhcpHost>"))]
    pub host: Vec<S<RawDhcpHost>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Dhcp"))]
pub(crate) struct RawDhcp {
    /// `"A-B"` or `"none"`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub range: Option<S<String>>,
    /// A duration string (or whole seconds), or `"infinite"`.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<super::schema::LeaseTime>")
    )]
    pub lease_time: Option<S<toml::Value>>,
    /// dnsmasq also answers DNS for the guests (default true).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub dns: Option<S<bool>>,
    /// dnsmasq answers DNS only, no DHCP at all (libvirt's network with an `<ip>` and no
    /// `<dhcp>`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub dns_only: Option<S<bool>>,
    /// DNS domain handed out.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub domain: Option<S<String>>,
    /// `[[network.dhcp.host]]`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawDhcpHost>"))]
    pub host: Vec<S<RawDhcpHost>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "DhcpHost"))]
pub(crate) struct RawDhcpHost {
    /// The guest's MAC (unicast).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub mac: S<String>,
    /// Its address, in the subnet (`[[network.dhcp6.host]]`: its IPv6 address, in the prefix).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub ip: S<String>,
    /// DNS name (letters, digits, -, .).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub name: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Guest"))]
pub(crate) struct RawGuest {
    /// Unique, distinct from network names; the owner tag of its NICs.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub name: S<String>,
    /// `[[guest.nic]]`: its NICs, in order.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawNic>"))]
    pub nic: Vec<S<RawNic>>,
    /// `[[guest.forward]]`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawForward>"))]
    pub forward: Vec<S<RawForward>>,
    /// The `[[overlay.host]]` this guest runs on (default: every host that reads the file).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub host: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Forward"))]
pub(crate) struct RawForward {
    /// `"tcp"` (default) or `"udp"`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::Proto>"))]
    pub proto: Option<S<String>>,
    /// Only this host address (default: every one).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub host_addr: Option<S<String>>,
    /// The host's port, 1-65535.
    #[cfg_attr(feature = "schema", schemars(with = "i64"))]
    pub host_port: S<i64>,
    /// The guest's port (default: host_port).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub guest_port: Option<S<i64>>,
    /// An index into the guest's NICs or the name of the network of one of them.
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::NicRef>"))]
    pub nic: Option<S<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Nic"))]
pub(crate) struct RawNic {
    /// The network joined; absent for `type = "user"`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub network: Option<S<String>>,
    /// `type = "user"`: directory QEMU's built-in SMB server shares with the guest.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub smb: Option<S<String>>,
    /// `type = "user"`: QEMU's NAT subnet (default 10.0.2.0/24).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub net: Option<S<String>>,
    /// tap (default) | veth (the peer goes into `netns`) | user (QEMU's own NAT, no host link).
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<super::schema::NicTypeName>")
    )]
    pub kind: Option<S<String>>,
    /// Host-side interface name; generated as vnetN when absent.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub ifname: Option<S<String>>,
    /// The guest's MAC; stable, derived from the guest name and NIC index when absent.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub mac: Option<S<String>>,
    /// veth only: the guest's network namespace (/run/netns/NAME).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub netns: Option<S<String>>,
    /// veth only: the peer's name in the namespace (default eth0, eth1, ...).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub peer: Option<S<String>>,
    /// tap only (default true).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub vnet_hdr: Option<S<bool>>,
    /// Tap owner: a uid or a user name.
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::IdOrName>"))]
    pub owner: Option<S<toml::Value>>,
    /// Tap group: a gid or a group name.
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::IdOrName>"))]
    pub group: Option<S<toml::Value>>,
    /// tap only; more than 1 makes the tap multiqueue.
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub queues: Option<S<i64>>,
    /// A rate string (both directions) or a table `{ egress, ingress, burst }`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<super::schema::Rate>"))]
    pub rate: Option<S<toml::Value>>,
    /// The guest's fixed IPv4 address on the network.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub ip: Option<S<String>>,
    /// Hostdev: the VF's VLAN id, 0-4095 (0: none; the default).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub vlan: Option<S<i64>>,
    /// Hostdev: MAC spoof checking on the VF (absent: left as it is).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub spoofchk: Option<S<bool>>,
    /// Hostdev: trusted VF (absent: left as it is).
    #[cfg_attr(feature = "schema", schemars(with = "Option<bool>"))]
    pub trust: Option<S<bool>>,
    /// Hostdev: the VF's transmit limit in Mbit/s (0: none; absent: left as it is).
    #[cfg_attr(feature = "schema", schemars(with = "Option<i64>"))]
    pub max_tx_rate: Option<S<i64>>,
    /// The guest's fixed IPv6 address on the network (a DHCPv6 reservation).
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub ip6: Option<S<String>>,
}
