//! The TOML file as written, with the span of every value, before validation.
//!
//! Everything that needs a typed parse (names, MACs, CIDRs) stays a spanned string here so
//! that `validate` can report *every* problem with its line, not only the first.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub host: Option<S<RawHost>>,
    #[serde(default)]
    pub network: Vec<S<RawNetwork>>,
    #[serde(default)]
    pub guest: Vec<S<RawGuest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub mac_prefix: Option<S<String>>,
    /// `net.bridge.bridge-nf-call-*` on (true) or off (false); absent leaves it alone.
    pub bridge_nf_call: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub name: S<String>,
    pub kind: S<String>,
    pub bridge: S<String>,
    pub address: Option<S<String>>,
    pub mtu: Option<S<i64>>,
    pub stp: Option<S<bool>>,
    pub forward_delay: Option<S<i64>>,
    pub lifetime: Option<S<String>>,
    pub uplink: Option<S<String>>,
    /// `kind = "bridge"`: how the host is on the bridged LAN (`static` | `none`).
    pub host_ip: Option<S<String>>,
    /// With `host_ip = "static"` and `address`: the default gateway.
    pub gateway: Option<S<String>>,
    /// `kind = "bridge"`: the uplink's MAC belongs to a guest NIC (seed 000's physnw_repmac).
    pub replicate_mac: Option<S<bool>>,
    pub mac: Option<S<String>>,
    /// Aggregate limit between the network and the host (and beyond).
    pub rate: Option<S<toml::Value>>,
    /// Masqueraded source ports, `"START-END"` (kind nat).
    pub nat_ports: Option<S<String>>,
    /// `[network.dhcp]`.
    pub dhcp: Option<S<RawDhcp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDhcp {
    /// `"A-B"` or `"none"`.
    pub range: Option<S<String>>,
    /// A duration string (or whole seconds), or `"infinite"`.
    pub lease_time: Option<S<toml::Value>>,
    pub dns: Option<S<bool>>,
    /// dnsmasq answers DNS only, no DHCP at all (libvirt's network with an `<ip>` and no
    /// `<dhcp>`).
    pub dns_only: Option<S<bool>>,
    pub domain: Option<S<String>>,
    /// `[[network.dhcp.host]]`.
    #[serde(default)]
    pub host: Vec<S<RawDhcpHost>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDhcpHost {
    pub mac: S<String>,
    pub ip: S<String>,
    pub name: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGuest {
    pub name: S<String>,
    #[serde(default)]
    pub nic: Vec<S<RawNic>>,
    /// `[[guest.forward]]`.
    #[serde(default)]
    pub forward: Vec<S<RawForward>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForward {
    /// `"tcp"` (default) or `"udp"`.
    pub proto: Option<S<String>>,
    pub host_addr: Option<S<String>>,
    pub host_port: S<i64>,
    pub guest_port: Option<S<i64>>,
    /// An index into the guest's NICs or the name of the network of one of them.
    pub nic: Option<S<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNic {
    /// The network joined; absent for `type = "user"`.
    pub network: Option<S<String>>,
    /// `type = "user"`: directory QEMU's built-in SMB server shares with the guest.
    pub smb: Option<S<String>>,
    /// `type = "user"`: QEMU's NAT subnet (default 10.0.2.0/24).
    pub net: Option<S<String>>,
    #[serde(rename = "type")]
    pub kind: Option<S<String>>,
    pub ifname: Option<S<String>>,
    pub mac: Option<S<String>>,
    pub netns: Option<S<String>>,
    pub peer: Option<S<String>>,
    pub vnet_hdr: Option<S<bool>>,
    /// Tap owner: a uid or a user name.
    pub owner: Option<S<toml::Value>>,
    /// Tap group: a gid or a group name.
    pub group: Option<S<toml::Value>>,
    pub queues: Option<S<i64>>,
    /// A rate string (both directions) or a table `{ egress, ingress, burst }`.
    pub rate: Option<S<toml::Value>>,
    /// The guest's fixed IPv4 address on the network.
    pub ip: Option<S<String>>,
}
