//! Turning the raw TOML into a [`Config`], collecting every problem with its location.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::str::FromStr;

use super::diag::{ConfigError, Diagnostic, Locator};
use super::raw::{RawConfig, RawDhcp, RawForward, RawGuest, RawNetwork, RawNic, S};
mod direct;

use super::{
    Accounts, Config, Dhcp, DhcpHost, Guest, HostIp, HostSettings, Lifetime, Locations, Network,
    NetworkKind, Nic, NicRate, NicType, PortForward, Proto, STP_FORWARD_DELAY,
};
use crate::dhcp::{is_dns_name, MIN_LEASE_SECS};
use crate::state::Tbf;
use crate::types::{ByteSize, Duration, IfName, Ipv4Cidr, Ipv4Range, MacAddr, MacPrefix, RateSpec};

mod hostdev;
mod v6;

/// Longest network, guest or namespace name.
const MAX_NAME: usize = 64;

/// Ports a Linux bridge can hold (BR_MAX_PORTS is 1024 and port number 0 is reserved).
pub const MAX_BRIDGE_PORTS: usize = 1023;

/// DHCP lease time when `[network.dhcp]` gives none (libvirt's).
const DEFAULT_LEASE: Duration = Duration::from_secs(3600);

/// The DHCP pool used when `[network.dhcp]` gives no `range`: the usable addresses after
/// the host's address, or if there are none, those before it; `None` when the host's
/// address is the subnet's only usable one.
pub(crate) fn default_dhcp_range(address: Ipv4Cidr) -> Option<Ipv4Range> {
    let usable = address.host_range();
    let host = u32::from(address.addr());
    let (first, last) = (u32::from(usable.start()), u32::from(usable.end()));
    if host < last {
        let start = host.saturating_add(1).max(first);
        return Ipv4Range::new(Ipv4Addr::from(start), Ipv4Addr::from(last)).ok();
    }
    if host > first {
        let end = host.saturating_sub(1).min(last);
        return Ipv4Range::new(Ipv4Addr::from(first), Ipv4Addr::from(end)).ok();
    }
    None
}

/// The shortest prefix of a `nat` network's address: a /8, the size of 10.0.0.0/8, the
/// largest private range (RFC 1918). A wider subnet necessarily covers public addresses.
pub const MIN_NAT_PREFIX: u8 = 8;

/// The largest MTU of a tap (`max_mtu` of the tun driver: 65535 minus the 14-byte
/// Ethernet header). A network's MTU is copied to its ports, so a network with taps may
/// not ask for more.
pub const MAX_TAP_MTU: u32 = 65521;

/// Why `ip` cannot be a host's (or guest's) unicast address, if it cannot: the
/// "this network" block 0.0.0.0/8, loopback 127.0.0.0/8, multicast 224.0.0.0/4 and the
/// reserved 240.0.0.0/4 with the limited broadcast 255.255.255.255.
pub(crate) fn not_unicast(ip: Ipv4Addr) -> Option<&'static str> {
    let first = ip.octets()[0];
    if ip.is_broadcast() {
        Some("the limited broadcast address")
    } else if first == 0 {
        Some("in 0.0.0.0/8 (\"this network\", never a source or destination on a link)")
    } else if ip.is_loopback() {
        Some("a loopback address (127.0.0.0/8 belongs to the lo interface)")
    } else if ip.is_multicast() {
        Some("a multicast address (224.0.0.0/4)")
    } else if first >= 240 {
        Some("in the reserved range 240.0.0.0/4")
    } else {
        None
    }
}

/// What a DNS name may be, for messages.
const DNS_NAME_RULE: &str = "use letters, digits, '-' and '.' (dot-separated labels of 1-63 characters, not starting or ending with '-'; 253 in all)";

/// Like [`parse`] for raw bytes: text that is not UTF-8 is one diagnostic at its first
/// bad byte.
pub(super) fn parse_bytes(
    bytes: &[u8],
    file: &str,
    accounts: &dyn Accounts,
) -> Result<Config, ConfigError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, file, accounts),
        Err(e) => {
            let good = bytes
                .get(..e.valid_up_to())
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("");
            let bad = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
            let loc = Locator::new(file, good);
            let field = loc.field_at(good.len());
            Err(ConfigError {
                diagnostics: vec![loc.at(
                    good.len()..good.len(),
                    field,
                    format!("invalid UTF-8: byte 0x{bad:02x} does not continue a UTF-8 character here; the file must be UTF-8"),
                )],
            })
        }
    }
}

pub(super) fn parse(
    text: &str,
    file: &str,
    accounts: &dyn Accounts,
) -> Result<Config, ConfigError> {
    let loc = Locator::new(file, text);
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
        diagnostics: vec![loc.toml_error(&e)],
    })?;
    let mut v = Validator {
        loc: &loc,
        diags: Vec::new(),
        located: BTreeMap::new(),
        accounts,
    };
    let cfg = v.config(raw);
    if v.diags.is_empty() {
        v.diags.extend(super::overlay::host_checks(&cfg));
    }
    if v.diags.is_empty() {
        Ok(cfg)
    } else {
        v.diags.sort_by_key(|d| (d.line, d.column));
        Err(ConfigError {
            diagnostics: v.diags,
        })
    }
}

/// Where a guest's valid NICs and forwards are in the file (`guest[G].nic[N]`).
struct FileIndex {
    /// For each NIC kept, its index among the file's `[[guest.nic]]`.
    nics: Vec<usize>,
    /// For each forward kept, its index among the file's `[[guest.forward]]`.
    forwards: Vec<usize>,
}

pub(super) struct Validator<'a> {
    pub(super) loc: &'a Locator<'a>,
    pub(super) diags: Vec<Diagnostic>,
    /// Places of the fields host-dependent checks report on ([`Locations`]).
    pub(super) located: BTreeMap<String, (usize, usize)>,
    accounts: &'a dyn Accounts,
}

impl Validator<'_> {
    pub(super) fn err(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        self.diags
            .push(self.loc.at(span, field.to_string(), message.into()));
    }

    /// An optional DNS name (`what` names it in the message); clears `ok` when invalid.
    fn dns_name(
        &mut self,
        s: Option<&S<String>>,
        field: &str,
        what: &str,
        ok: &mut bool,
    ) -> Option<String> {
        let s = s?;
        if is_dns_name(s.get_ref()) {
            return Some(s.get_ref().clone());
        }
        self.err(
            s.span(),
            field,
            format!(
                "{what} {:?} is not a DNS name: {DNS_NAME_RULE}",
                s.get_ref()
            ),
        );
        *ok = false;
        None
    }

    /// Parses a spanned string with `FromStr`, reporting the type's own message.
    pub(super) fn typed<T>(&mut self, s: &S<String>, field: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match s.get_ref().parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(s.span(), field, e.to_string());
                None
            }
        }
    }

    pub(super) fn name(&mut self, s: &S<String>, field: &str, what: &str) -> Option<String> {
        let n = s.get_ref();
        let ok_chars = n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let ok_first = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if n.is_empty() || n.len() > MAX_NAME || !ok_chars || !ok_first {
            self.err(
                s.span(),
                field,
                format!(
                    "{what} name {n:?} is invalid: use 1-{MAX_NAME} characters from A-Z a-z 0-9 - _ ., starting with a letter or digit"
                ),
            );
            return None;
        }
        Some(n.clone())
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let host = match &raw.host {
            Some(h) => HostSettings {
                mac_prefix: h
                    .get_ref()
                    .mac_prefix
                    .as_ref()
                    .and_then(|p| self.typed::<MacPrefix>(p, "host.mac_prefix"))
                    .unwrap_or(MacPrefix::KVM),
                bridge_nf_call: h.get_ref().bridge_nf_call.as_ref().map(|b| *b.get_ref()),
                name: h
                    .get_ref()
                    .name
                    .as_ref()
                    .and_then(|n| self.name(n, "host.name", "host")),
                firewall: h.get_ref().firewall.as_ref().and_then(|f| {
                    self.typed::<crate::firewall::FirewallChoice>(f, "host.firewall")
                }),
            },
            None => HostSettings::default(),
        };
        let mut networks = Vec::new();
        let mut pools = Vec::new();
        let mut direct = Vec::new();
        for (i, n) in raw.network.iter().enumerate() {
            let at = format!("network[{i}]");
            if hostdev::is_pool(n.get_ref()) {
                if let Some(pool) = self.pool(n.get_ref(), &at) {
                    pools.push((i, pool));
                }
            } else if n.get_ref().kind.get_ref() == "direct" {
                if let Some(net) = self.direct_network(n, &at) {
                    direct.push((i, net));
                }
            } else if let Some(net) = self.network(n.get_ref(), &at) {
                networks.push((i, net));
            }
        }
        self.check_networks(&raw.network, &networks);
        self.check_pools(&raw, &networks, &pools);
        let mut guests = Vec::new();
        for (i, g) in raw.guest.iter().enumerate() {
            if let Some((guest, idx)) = self.guest(g.get_ref(), &format!("guest[{i}]"), &host, &raw)
            {
                guests.push((i, guest, idx));
            }
        }
        self.check_guests(&raw, &networks, &guests);
        let overlay_hosts = self.overlay_hosts(&raw);
        self.check_overlays(&raw, &networks, &overlay_hosts);
        self.check_guest_hosts(&raw, &overlay_hosts);
        let evpn = self.evpn(&raw, &overlay_hosts);
        self.check_direct(&raw, &networks, &direct, &guests);
        Config {
            overlay_hosts,
            evpn,
            locations: Locations {
                file: self.loc.file().to_string(),
                fields: std::mem::take(&mut self.located),
            },
            host,
            networks: networks.into_iter().map(|(_, n)| n).collect(),
            guests: guests.into_iter().map(|(_, g, _)| g).collect(),
            pools: pools.into_iter().map(|(_, p)| p).collect(),
            direct: direct.into_iter().map(|(_, n)| n).collect(),
        }
    }

    fn network(&mut self, n: &RawNetwork, at: &str) -> Option<Network> {
        self.direct_only_fields(n, at);
        let name = self.name(&n.name, &format!("{at}.name"), "network");
        let kind = match n.kind.get_ref().as_str() {
            "isolated" => Some(NetworkKind::Isolated),
            "internal" => Some(NetworkKind::Internal),
            "bridge" => Some(NetworkKind::Bridge),
            "nat" => Some(NetworkKind::Nat),
            "routed" => Some(NetworkKind::Routed),
            "open" => Some(NetworkKind::Open),
            other => {
                self.err(
                    n.kind.span(),
                    &format!("{at}.kind"),
                    format!("unknown network kind {other:?}; expected one of: isolated, internal, bridge, nat, routed, open, hostdev, direct"),
                );
                None
            }
        };
        self.no_vf_fields(n, at);
        let bridge = match &n.bridge {
            Some(b) => self.typed::<IfName>(b, &format!("{at}.bridge")),
            None => {
                self.err(
                    n.kind.span(),
                    &format!("{at}.bridge"),
                    format!(
                        "a network of kind {:?} needs `bridge`, the bridge's interface name",
                        n.kind.get_ref()
                    ),
                );
                None
            }
        };
        let address = n
            .address
            .as_ref()
            .and_then(|a| self.address(a, &format!("{at}.address")));
        let mtu = self.mtu(n, at);
        let stp = n.stp.as_ref().is_some_and(|s| *s.get_ref());
        let forward_delay = self.forward_delay(n, stp, at);
        let lifetime = match n.lifetime.as_ref().map(|l| (l, l.get_ref().as_str())) {
            None | Some((_, "static")) => Lifetime::Static,
            Some((_, "dynamic")) => Lifetime::Dynamic,
            Some((l, other)) => {
                self.err(
                    l.span(),
                    &format!("{at}.lifetime"),
                    format!("unknown lifetime {other:?}; expected \"static\" or \"dynamic\""),
                );
                Lifetime::Static
            }
        };
        let uplink = n
            .uplink
            .as_ref()
            .and_then(|u| self.typed::<IfName>(u, &format!("{at}.uplink")));
        let mac = n
            .mac
            .as_ref()
            .and_then(|m| self.unicast_mac(m, &format!("{at}.mac")));
        match (kind, &n.uplink) {
            (Some(NetworkKind::Bridge), None) => self.err(
                n.kind.span(),
                &format!("{at}.uplink"),
                "a network of kind \"bridge\" needs `uplink`, the physical NIC to bridge",
            ),
            (
                Some(k @ (NetworkKind::Isolated | NetworkKind::Internal | NetworkKind::Open)),
                Some(u),
            ) => self.err(
                u.span(),
                &format!("{at}.uplink"),
                format!(
                    "`uplink` is only allowed with kind = \"bridge\" (the NIC to enslave) or kind = \"nat\" or \"routed\" (the egress device), not {:?}",
                    k.as_str()
                ),
            ),
            _ => {}
        }
        let replicate_mac = match &n.replicate_mac {
            Some(r) if *r.get_ref() && kind.is_some_and(|k| k != NetworkKind::Bridge) => {
                self.err(
                    r.span(),
                    &format!("{at}.replicate_mac"),
                    "`replicate_mac` is for kind = \"bridge\": the uplink's MAC goes to its guest",
                );
                false
            }
            Some(r) => *r.get_ref(),
            None => false,
        };
        let mss_clamp = match &n.mss_clamp {
            Some(m)
                if *m.get_ref()
                    && kind.is_some_and(|k| {
                        !matches!(
                            k,
                            NetworkKind::Nat | NetworkKind::Routed | NetworkKind::Bridge
                        )
                    }) =>
            {
                self.err(
                    m.span(),
                    &format!("{at}.mss_clamp"),
                    format!(
                        "`mss_clamp` is for kind = \"nat\", \"routed\" or \"bridge\" (networks that forward), not {:?}",
                        n.kind.get_ref()
                    ),
                );
                false
            }
            Some(m) => *m.get_ref(),
            None => false,
        };
        let host_ip = self.host_ip(n, kind, address, at);
        let gateway = self.gateway(n, host_ip, address, at);
        if let (Some(k @ (NetworkKind::Nat | NetworkKind::Routed | NetworkKind::Open)), None) =
            (kind, &n.address)
        {
            self.err(
                n.kind.span(),
                &format!("{at}.address"),
                format!(
                    "a network of kind {:?} needs `address`, the host's address on the bridge (e.g. \"192.168.122.1/24\")",
                    k.as_str()
                ),
            );
        }
        if let (Some(NetworkKind::Nat), Some(a), Some(ra)) = (kind, address, &n.address) {
            if a.prefix_len() < MIN_NAT_PREFIX {
                self.err(
                    ra.span(),
                    &format!("{at}.address"),
                    format!(
                        "{a} is too wide for a nat network: its prefix must be /{MIN_NAT_PREFIX} or longer (10.0.0.0/8, the largest private range of RFC 1918, is a /{MIN_NAT_PREFIX}; a wider subnet puts a connected route over public addresses on the bridge and takes them out of the masquerade)"
                    ),
                );
            }
        }
        let nat_ports = match (&n.nat_ports, kind) {
            (None, _) => None,
            (Some(p), Some(k)) if k != NetworkKind::Nat => {
                self.err(
                    p.span(),
                    &format!("{at}.nat_ports"),
                    format!(
                        "`nat_ports` (the source ports of masqueraded connections) is only for kind = \"nat\", not {:?}",
                        k.as_str()
                    ),
                );
                None
            }
            (Some(p), _) => self.nat_ports(p, &format!("{at}.nat_ports")),
        };
        if let (Some(NetworkKind::Internal), Some(a)) = (kind, &n.address) {
            self.err(
                a.span(),
                &format!("{at}.address"),
                "an internal network has no host address; use kind = \"isolated\" to put the host on it",
            );
        }
        let rate = match &n.rate {
            Some(r) => self.nic_rate(r, &format!("{at}.rate")).unwrap_or_default(),
            None => NicRate::default(),
        };
        let dhcp = match &n.dhcp {
            Some(d) => self.dhcp(d, n, kind, address, at),
            None => None,
        };
        let overlay = self.network_overlay(n, kind, mtu, at);
        let gateway_hosts = self.gateway_hosts(n, at);
        let (address6, dhcp6) = self.network6(n, kind, host_ip, at);
        let nat6 = self.nat6(n, kind, at);
        Some(Network {
            nat6,
            address6,
            dhcp6,
            rate,
            name: name?,
            kind: kind?,
            bridge: bridge?,
            address,
            mtu,
            stp,
            forward_delay: forward_delay?,
            lifetime,
            uplink,
            mac,
            nat_ports,
            dhcp,
            host_ip,
            gateway,
            replicate_mac,
            overlay,
            gateway_hosts,
            mss_clamp,
        })
    }

    /// A network's `mtu`, 68 to 65535.
    fn mtu(&mut self, n: &RawNetwork, at: &str) -> Option<u32> {
        let m = n.mtu.as_ref()?;
        if !(68..=65535).contains(m.get_ref()) {
            self.err(
                m.span(),
                &format!("{at}.mtu"),
                format!(
                    "MTU {} is out of range: must be between 68 and 65535",
                    m.get_ref()
                ),
            );
            return None;
        }
        u32::try_from(*m.get_ref()).ok()
    }

    /// `host_ip`: only on a bridged network; `"none"` rules out `address`.
    fn host_ip(
        &mut self,
        n: &RawNetwork,
        kind: Option<NetworkKind>,
        address: Option<Ipv4Cidr>,
        at: &str,
    ) -> Option<HostIp> {
        let h = n.host_ip.as_ref()?;
        let field = format!("{at}.host_ip");
        if let Some(k) = kind.filter(|k| *k != NetworkKind::Bridge) {
            self.err(
                h.span(),
                &field,
                format!(
                    "`host_ip` is for kind = \"bridge\" (how the host is on the bridged LAN), not {:?}",
                    k.as_str()
                ),
            );
            return None;
        }
        match h.get_ref().as_str() {
            "static" => Some(HostIp::Static),
            "none" if address.is_some() => {
                self.err(
                    h.span(),
                    &field,
                    "host_ip = \"none\" puts no address on the bridge, but `address` is set",
                );
                None
            }
            "none" => Some(HostIp::None),
            "dhcp" if address.is_some() => {
                self.err(
                    h.span(),
                    &field,
                    "host_ip = \"dhcp\" takes the host's address from the LAN's DHCP server, but `address` is set",
                );
                None
            }
            "dhcp" => Some(HostIp::Dhcp),
            other => {
                self.err(
                    h.span(),
                    &field,
                    format!("unknown host_ip {other:?}; expected \"static\", \"dhcp\" or \"none\""),
                );
                None
            }
        }
    }

    /// `gateway`: with `host_ip = "static"` and `address`, inside the address's subnet.
    fn gateway(
        &mut self,
        n: &RawNetwork,
        host_ip: Option<HostIp>,
        address: Option<Ipv4Cidr>,
        at: &str,
    ) -> Option<Ipv4Addr> {
        let g = n.gateway.as_ref()?;
        let field = format!("{at}.gateway");
        let ip = self.typed::<Ipv4Addr>(g, &field)?;
        let Some(a) = address.filter(|_| host_ip == Some(HostIp::Static)) else {
            self.err(
                g.span(),
                &field,
                "`gateway` needs host_ip = \"static\" and `address` on the same network",
            );
            return None;
        };
        if !a.contains(ip) || ip == a.addr() {
            self.err(
                g.span(),
                &field,
                format!("gateway {ip} is not another address of the subnet of {a}"),
            );
            return None;
        }
        if let Some(why) = not_unicast(ip) {
            self.err(
                g.span(),
                &field,
                format!("gateway {ip} is {why}, not a router's address"),
            );
            return None;
        }
        Some(ip)
    }

    /// `nat_ports = "START-END"`.
    fn nat_ports(&mut self, p: &S<String>, field: &str) -> Option<(u16, u16)> {
        let text = p.get_ref();
        let number = |s: &str| {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse::<u64>().ok()
        };
        let Some((start, end)) = text
            .split_once('-')
            .and_then(|(a, b)| Some((number(a)?, number(b)?)))
        else {
            self.err(
                p.span(),
                field,
                format!("nat_ports {text:?} is not a port range: write \"START-END\", e.g. \"1024-65535\""),
            );
            return None;
        };
        for port in [start, end] {
            if !(1..=65535).contains(&port) {
                self.err(
                    p.span(),
                    field,
                    format!("port {port} in nat_ports {text:?} is out of range: 1 to 65535"),
                );
                return None;
            }
        }
        if start > end {
            self.err(
                p.span(),
                field,
                format!("nat_ports {text:?} is empty: START {start} is after END {end}"),
            );
            return None;
        }
        Some((u16::try_from(start).ok()?, u16::try_from(end).ok()?))
    }

    /// An IPv4 address (dotted quad).
    pub(super) fn ipv4(&mut self, s: &S<String>, field: &str) -> Option<Ipv4Addr> {
        match s.get_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    s.span(),
                    field,
                    format!(
                        "{:?} is not an IPv4 address (four numbers 0-255 separated by dots)",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// A guest's fixed address `ip` on the network with host address `address`: inside the
    /// subnet, not the host's address, not the subnet's network or broadcast address.
    fn guest_ip(
        &mut self,
        ip: Ipv4Addr,
        span: Range<usize>,
        field: &str,
        address: Ipv4Cidr,
        network: &str,
    ) -> bool {
        let subnet = address.trunc();
        let problem = if !address.contains(ip) {
            format!("{ip} is outside the subnet {subnet} of {network}")
        } else if let Some(why) = not_unicast(ip) {
            format!("{ip} is {why}, not a guest address")
        } else if ip == address.addr() {
            format!("{ip} is the host's own address on {network}")
        } else if address.prefix_len() < 31 && ip == address.network() {
            format!("{ip} is the network address of {subnet}, not a host address")
        } else if address.prefix_len() < 31 && ip == address.broadcast() {
            format!("{ip} is the broadcast address of {subnet}, not a host address")
        } else {
            return true;
        };
        self.err(span, field, problem);
        false
    }

    /// `[network.dhcp]`.
    fn dhcp(
        &mut self,
        d: &S<RawDhcp>,
        n: &RawNetwork,
        kind: Option<NetworkKind>,
        address: Option<Ipv4Cidr>,
        at: &str,
    ) -> Option<Dhcp> {
        let field = format!("{at}.dhcp");
        match kind {
            Some(k @ (NetworkKind::Internal | NetworkKind::Bridge)) => {
                let why = if k == NetworkKind::Internal {
                    "an internal network has no host address to serve from"
                } else {
                    "the LAN behind the uplink has its own DHCP service"
                };
                self.err(
                    d.span(),
                    &field,
                    format!(
                        "DHCP is only served on networks of kind \"nat\", \"routed\", \"open\" or \"isolated\", not {:?} ({why})",
                        k.as_str()
                    ),
                );
                return None;
            }
            Some(NetworkKind::Isolated) if n.address.is_none() => {
                self.err(
                    d.span(),
                    &field,
                    "[network.dhcp] needs `address`: dnsmasq serves DHCP from the host's address on the bridge",
                );
                return None;
            }
            // nat, routed and open without an address are reported on the kind.
            _ => {}
        }
        let d = d.get_ref();
        let mut ok = true;
        let dns_only = d.dns_only.as_ref().is_some_and(|b| *b.get_ref());
        if dns_only {
            ok &= self.dns_only_conflicts(d, &field);
        }
        let range = match (&d.range, address) {
            _ if dns_only => None,
            (Some(r), _) if r.get_ref() == "none" => None,
            (Some(r), address) => {
                let rf = format!("{field}.range");
                let range = self.typed::<Ipv4Range>(r, &rf);
                match (range, address) {
                    (Some(range), Some(a)) => {
                        let subnet = a.trunc();
                        let problem = if !range.within(&a) {
                            Some(format!(
                                "DHCP range {range} is not inside the subnet {subnet} (usable addresses {})",
                                a.host_range()
                            ))
                        } else if a.prefix_len() < 31 && range.contains(a.network()) {
                            Some(format!(
                                "DHCP range {range} includes {}, the network address of {subnet}",
                                a.network()
                            ))
                        } else if a.prefix_len() < 31 && range.contains(a.broadcast()) {
                            Some(format!(
                                "DHCP range {range} includes {}, the broadcast address of {subnet}",
                                a.broadcast()
                            ))
                        } else if range.contains(a.addr()) {
                            Some(format!(
                                "host address {} is inside the DHCP range {range}: dnsmasq would hand it out",
                                a.addr()
                            ))
                        } else {
                            None
                        };
                        if let Some(p) = problem {
                            self.err(r.span(), &rf, p);
                            ok = false;
                        }
                        Some(range)
                    }
                    (range, _) => {
                        ok &= range.is_some();
                        range
                    }
                }
            }
            (None, Some(a)) => {
                let range = default_dhcp_range(a);
                if range.is_none() {
                    let span = n.dhcp.as_ref().map_or(0..0, |s| s.span());
                    self.err(
                        span,
                        &format!("{field}.range"),
                        format!(
                            "{a} leaves no address besides the host's for a default DHCP range: give `range`, or `range = \"none\"` to serve static hosts only"
                        ),
                    );
                    ok = false;
                }
                range
            }
            (None, None) => {
                ok = false;
                None
            }
        };
        let lease_time = match &d.lease_time {
            None => Some(DEFAULT_LEASE),
            Some(l) => {
                let lf = format!("{field}.lease_time");
                let parsed = match l.get_ref() {
                    toml::Value::String(s) if s == "infinite" => Ok(None),
                    toml::Value::String(s) => s
                        .parse::<Duration>()
                        .map(Some)
                        .map_err(|e| format!("{e} (or \"infinite\")")),
                    toml::Value::Integer(secs) => u64::try_from(*secs)
                        .map(|s| Some(Duration::from_secs(s)))
                        .map_err(|_| format!("lease_time {secs} is negative")),
                    _ => Err(
                        "lease_time must be a duration such as \"1h\" or \"30m\", or \"infinite\""
                            .to_string(),
                    ),
                };
                match parsed {
                    Ok(Some(t)) if t.as_std() < std::time::Duration::from_secs(MIN_LEASE_SECS) => {
                        self.err(
                            l.span(),
                            &lf,
                            format!("lease time {t} is too short: dnsmasq's minimum is {MIN_LEASE_SECS} s (2m)"),
                        );
                        ok = false;
                        None
                    }
                    Ok(t) => t,
                    Err(m) => {
                        self.err(l.span(), &lf, m);
                        ok = false;
                        None
                    }
                }
            }
        };
        let domain = self.dns_name(
            d.domain.as_ref(),
            &format!("{field}.domain"),
            "domain",
            &mut ok,
        );
        let mut hosts = Vec::new();
        let mut macs: HashMap<MacAddr, usize> = HashMap::new();
        let mut ips: HashMap<Ipv4Addr, usize> = HashMap::new();
        let name = n.name.get_ref();
        for (k, h) in d.host.iter().enumerate() {
            let h = h.get_ref();
            let hf = format!("{field}.host[{k}]");
            let mac = self.unicast_mac(&h.mac, &format!("{hf}.mac"));
            let mut ip = self.ipv4(&h.ip, &format!("{hf}.ip"));
            if let (Some(i), Some(a)) = (ip, address) {
                if !self.guest_ip(
                    i,
                    h.ip.span(),
                    &format!("{hf}.ip"),
                    a,
                    &format!("network {name:?}"),
                ) {
                    ip = None;
                }
            }
            let host_name =
                self.dns_name(h.name.as_ref(), &format!("{hf}.name"), "host name", &mut ok);
            if let Some(m) = mac {
                if let Some(first) = macs.insert(m, k) {
                    self.err(
                        h.mac.span(),
                        &format!("{hf}.mac"),
                        format!("MAC {m} is already reserved by {field}.host[{first}]"),
                    );
                    ok = false;
                }
            }
            if let Some(i) = ip {
                if let Some(first) = ips.insert(i, k) {
                    self.err(
                        h.ip.span(),
                        &format!("{hf}.ip"),
                        format!("{i} is already reserved by {field}.host[{first}]"),
                    );
                    ok = false;
                }
            }
            match (mac, ip) {
                (Some(mac), Some(ip)) => hosts.push(DhcpHost {
                    mac,
                    ip,
                    name: host_name,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(Dhcp {
            range,
            lease_time,
            dns: d.dns.as_ref().is_none_or(|b| *b.get_ref()),
            dns_only,
            domain,
            hosts,
        })
    }

    /// `dns_only = true` with what only DHCP uses (`range`, `lease_time`, static hosts) or
    /// with `dns = false`: every conflict is an error; `true` when there is none.
    fn dns_only_conflicts(&mut self, d: &RawDhcp, field: &str) -> bool {
        let mut ok = true;
        let why = "dns_only = true serves no DHCP";
        let spans = [
            ("range", d.range.as_ref().map(S::span)),
            ("lease_time", d.lease_time.as_ref().map(S::span)),
            ("host", d.host.first().map(S::span)),
        ];
        for (key, span) in spans {
            if let Some(span) = span {
                self.err(
                    span,
                    &format!("{field}.{key}"),
                    format!("`{key}` is DHCP's, and {why}; leave out one of them"),
                );
                ok = false;
            }
        }
        if let Some(dns) = d.dns.as_ref().filter(|b| !*b.get_ref()) {
            self.err(dns.span(), &format!("{field}.dns"), "dns = false with dns_only = true leaves dnsmasq nothing to do; remove [network.dhcp] for no service at all");
            ok = false;
        }
        ok
    }

    fn address(&mut self, a: &S<String>, field: &str) -> Option<Ipv4Cidr> {
        let cidr = self.typed::<Ipv4Cidr>(a, field)?;
        if let Some(why) = not_unicast(cidr.addr()) {
            self.err(
                a.span(),
                field,
                format!("{} is {why}, not a host address for a bridge", cidr.addr()),
            );
            return None;
        }
        if cidr.prefix_len() < 31 && (cidr.is_network_address() || cidr.is_broadcast_address()) {
            self.err(
                a.span(),
                field,
                format!(
                    "{cidr} is the {} address of its subnet, not a host address",
                    if cidr.is_network_address() {
                        "network"
                    } else {
                        "broadcast"
                    }
                ),
            );
            return None;
        }
        Some(cidr)
    }

    /// `forward_delay`, by default 0 s, or [`STP_FORWARD_DELAY`] with `stp = true`.
    fn forward_delay(&mut self, n: &RawNetwork, stp: bool, at: &str) -> Option<u32> {
        let field = format!("{at}.forward_delay");
        match &n.forward_delay {
            None => Some(if stp { STP_FORWARD_DELAY } else { 0 }),
            Some(d) if stp && !(2..=30).contains(d.get_ref()) => {
                self.err(
                    d.span(),
                    &field,
                    format!(
                        "forward_delay {} s is out of range with stp = true: the kernel allows 2 to 30 s",
                        d.get_ref()
                    ),
                );
                None
            }
            Some(d) if !(0..=30).contains(d.get_ref()) => {
                self.err(
                    d.span(),
                    &field,
                    format!(
                        "forward_delay {} s is out of range: must be 0 to 30 s",
                        d.get_ref()
                    ),
                );
                None
            }
            Some(d) => u32::try_from(*d.get_ref()).ok(),
        }
    }

    fn unicast_mac(&mut self, m: &S<String>, field: &str) -> Option<MacAddr> {
        let mac = self.typed::<MacAddr>(m, field)?;
        if !mac.is_unicast() || mac.is_zero() {
            self.err(
                m.span(),
                field,
                format!("{mac} is not a unicast address (the first octet's lowest bit must be 0, and not all zero)"),
            );
            return None;
        }
        Some(mac)
    }

    fn check_networks(&mut self, raw: &[S<RawNetwork>], nets: &[(usize, Network)]) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ifnames: HashMap<&str, (usize, &str)> = HashMap::new();
        for (i, n) in nets {
            let r = raw[*i].get_ref();
            if let Some(first) = names.insert(&n.name, *i) {
                self.err(
                    r.name.span(),
                    &format!("network[{i}].name"),
                    format!(
                        "duplicate network name {:?} (also network[{first}])",
                        n.name
                    ),
                );
            }
            if let Some((first, what)) = ifnames.insert(n.bridge.as_str(), (*i, "bridge")) {
                self.err(
                    r.bridge.as_ref().map_or(r.name.span(), |b| b.span()),
                    &format!("network[{i}].bridge"),
                    format!(
                        "interface {:?} is already used as the {what} of network[{first}]",
                        n.bridge.as_str()
                    ),
                );
            }
            if let (Some(u), Some(ru), NetworkKind::Bridge) = (&n.uplink, &r.uplink, n.kind) {
                if let Some((first, what)) = ifnames.insert(u.as_str(), (*i, "uplink")) {
                    self.err(
                        ru.span(),
                        &format!("network[{i}].uplink"),
                        format!(
                            "interface {:?} is already used as the {what} of network[{first}]",
                            u.as_str()
                        ),
                    );
                }
            }
        }
        // The egress device of nat and routed networks may be shared, and may be another
        // network's bridge, but not a NIC enslaved to a bridge nor the network's own bridge.
        for (i, n) in nets {
            let (Some(u), Some(ru)) = (&n.uplink, &raw[*i].get_ref().uplink) else {
                continue;
            };
            if n.kind == NetworkKind::Bridge {
                continue;
            }
            let problem = if *u == n.bridge {
                Some("the egress device cannot be the network's own bridge".to_string())
            } else {
                nets.iter()
                    .find(|(_, m)| m.kind == NetworkKind::Bridge && m.uplink.as_ref() == Some(u))
                    .map(|(j, m)| {
                        format!(
                            "interface {:?} is enslaved to the bridge of network[{j}]; use that bridge ({:?}) as the egress device",
                            u.as_str(),
                            m.bridge.as_str()
                        )
                    })
            };
            if let Some(p) = problem {
                self.err(ru.span(), &format!("network[{i}].uplink"), p);
            }
        }
        for (a, (i, n)) in nets.iter().enumerate() {
            for (j, m) in nets.iter().skip(a + 1) {
                if let (Some(x), Some(y)) = (&n.address, &m.address) {
                    if x.overlaps(y) {
                        let span = raw[*j]
                            .get_ref()
                            .address
                            .as_ref()
                            .map_or(0..0, |s| s.span());
                        self.err(
                            span,
                            &format!("network[{j}].address"),
                            format!("subnet of {y} overlaps network[{i}] ({x})"),
                        );
                    }
                }
            }
        }
        self.check_networks6(raw, nets);
    }

    /// A guest and, for each of its valid NICs and forwards, its index in the file.
    fn guest(
        &mut self,
        g: &RawGuest,
        at: &str,
        host: &HostSettings,
        raw: &RawConfig,
    ) -> Option<(Guest, FileIndex)> {
        let name = self.name(&g.name, &format!("{at}.name"), "guest");
        let mut nics = Vec::new();
        let mut nic_idx = Vec::new();
        let mut peers_per_ns: BTreeMap<String, u32> = BTreeMap::new();
        for (k, n) in g.nic.iter().enumerate() {
            let nat = format!("{at}.nic[{k}]");
            if let Some(nic) = self.nic(
                n.get_ref(),
                &nat,
                name.as_deref(),
                k,
                host,
                raw,
                &mut peers_per_ns,
            ) {
                nics.push(nic);
                nic_idx.push(k);
            }
        }
        let mut forwards = Vec::new();
        let mut fwd_idx = Vec::new();
        for (k, f) in g.forward.iter().enumerate() {
            let fat = format!("{at}.forward[{k}]");
            if let Some(fwd) = self.forward(f, &fat, at, g, &nics, &nic_idx) {
                forwards.push(fwd);
                fwd_idx.push(k);
            }
        }
        Some((
            Guest {
                name: name?,
                nics,
                forwards,
                host: g
                    .host
                    .as_ref()
                    .and_then(|h| self.name(h, &format!("{at}.host"), "host")),
            },
            FileIndex {
                nics: nic_idx,
                forwards: fwd_idx,
            },
        ))
    }

    /// One `[[guest.forward]]` of guest `g` (at `gat`), whose valid NICs are `nics`, found
    /// at `nic_idx` in the file.
    fn forward(
        &mut self,
        f: &S<RawForward>,
        at: &str,
        gat: &str,
        g: &RawGuest,
        nics: &[Nic],
        nic_idx: &[usize],
    ) -> Option<PortForward> {
        let r = f.get_ref();
        let proto = match r.proto.as_ref().map(|p| (p, p.get_ref().as_str())) {
            None | Some((_, "tcp")) => Some(Proto::Tcp),
            Some((_, "udp")) => Some(Proto::Udp),
            Some((p, other)) => {
                self.err(
                    p.span(),
                    &format!("{at}.proto"),
                    format!("unknown proto {other:?}; expected \"tcp\" or \"udp\""),
                );
                None
            }
        };
        let host_addr = r
            .host_addr
            .as_ref()
            .map(|a| self.forward_host_addr(a, &format!("{at}.host_addr")));
        let host_port = self.port(&r.host_port, &format!("{at}.host_port"), "host_port");
        let guest_port = match &r.guest_port {
            Some(p) => self.port(p, &format!("{at}.guest_port"), "guest_port"),
            None => host_port,
        };
        let nf = format!("{at}.nic");
        let nic_span = r.nic.as_ref().map_or(f.span(), |n| n.span());
        let count = g.nic.len();
        let have = match count {
            0 => "it has no NICs".to_string(),
            1 => "it has only nic[0]".to_string(),
            n => format!("it has nic[0] to nic[{}]", n - 1),
        };
        let file_nic = match r.nic.as_ref().map(|n| n.get_ref()) {
            None if count == 0 => {
                self.err(
                    nic_span.clone(),
                    &nf,
                    format!("{gat} has no NIC to forward to"),
                );
                None
            }
            None => Some(0),
            Some(toml::Value::Integer(i)) => match usize::try_from(*i) {
                Ok(i) if i < count => Some(i),
                _ => {
                    self.err(
                        nic_span.clone(),
                        &nf,
                        format!("{gat} has no nic[{i}] ({have})"),
                    );
                    None
                }
            },
            Some(toml::Value::String(net)) => {
                let on: Vec<usize> = g
                    .nic
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| {
                        n.get_ref()
                            .network
                            .as_ref()
                            .is_some_and(|x| x.get_ref() == net)
                    })
                    .map(|(k, _)| k)
                    .collect();
                match on.as_slice() {
                    [k] => Some(*k),
                    [] => {
                        self.err(
                            nic_span.clone(),
                            &nf,
                            format!("{gat} has no NIC on network {net:?}"),
                        );
                        None
                    }
                    many => {
                        let list: Vec<String> = many.iter().map(|k| format!("nic[{k}]")).collect();
                        self.err(
                            nic_span.clone(),
                            &nf,
                            format!(
                                "{gat} has {} NICs on network {net:?} ({}): give the index of one",
                                many.len(),
                                list.join(", ")
                            ),
                        );
                        None
                    }
                }
            }
            Some(_) => {
                self.err(
                    nic_span.clone(),
                    &nf,
                    "nic must be an index into the guest's NICs (0, 1, …) or the name of the network of one of them",
                );
                None
            }
        };
        let file_nic = file_nic?;
        // A forward from an IPv6 host address goes to the NIC's `ip6`, one from an IPv4
        // address to its `ip`, one without an address to both (each where the NIC has it).
        let raw_nic = g.nic[file_nic].get_ref();
        let (missing, key) = match host_addr {
            Some(Some(IpAddr::V6(_))) => (raw_nic.ip6.is_none(), "ip6"),
            Some(_) => (raw_nic.ip.is_none(), "ip"),
            None => (raw_nic.ip.is_none() && raw_nic.ip6.is_none(), "ip"),
        };
        if missing {
            self.err(
                nic_span,
                &nf,
                format!(
                    "port forward needs a fixed {key} on {gat}.nic[{file_nic}] (add {key} = \"…\" to it)"
                ),
            );
            return None;
        }
        // An invalid NIC has been reported already.
        let nic = nic_idx.iter().position(|&k| k == file_nic)?;
        let valid = nics.get(nic)?;
        let usable = match host_addr {
            Some(Some(IpAddr::V6(_))) => valid.ip6.is_some(),
            Some(_) => valid.ip.is_some(),
            None => valid.ip.is_some() || valid.ip6.is_some(),
        };
        if !usable {
            return None;
        }
        Some(PortForward {
            proto: proto?,
            host_addr: match host_addr {
                Some(a) => Some(a?),
                None => None,
            },
            host_port: host_port?,
            guest_port: guest_port?,
            nic,
        })
    }

    /// A port forward's `host_addr`: an IPv4 or IPv6 address.
    fn forward_host_addr(&mut self, s: &S<String>, field: &str) -> Option<IpAddr> {
        match s.get_ref().parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    s.span(),
                    field,
                    format!("{:?} is not an IPv4 or IPv6 address", s.get_ref()),
                );
                None
            }
        }
    }

    /// A TCP/UDP port, 1 to 65535.
    fn port(&mut self, p: &S<i64>, field: &str, what: &str) -> Option<u16> {
        match u16::try_from(*p.get_ref()) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                self.err(
                    p.span(),
                    field,
                    format!("{what} {} is out of range: 1 to 65535", p.get_ref()),
                );
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn nic(
        &mut self,
        n: &RawNic,
        at: &str,
        guest: Option<&str>,
        index: usize,
        host: &HostSettings,
        raw: &RawConfig,
        peers_per_ns: &mut BTreeMap<String, u32>,
    ) -> Option<Nic> {
        let kind_word = n.kind.as_ref().map_or("tap", |k| k.get_ref().as_str());
        if kind_word == "user" {
            self.no_nic_vf_fields(n, at, "not for type = \"user\"");
            return self.user_nic(n, at, guest, index, host);
        }
        for (opt, span) in [
            ("smb", n.smb.as_ref().map(|s| s.span())),
            ("net", n.net.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = span {
                self.err(
                    span,
                    &format!("{at}.{opt}"),
                    format!("`{opt}` is only for type = \"user\" (QEMU's own NAT)"),
                );
            }
        }
        let Some(net_s) = &n.network else {
            let span = n.kind.as_ref().map_or(0..0, |k| k.span());
            self.err(
                span,
                &format!("{at}.network"),
                "a NIC needs `network`, the network it joins (only type = \"user\" joins none)",
            );
            return None;
        };
        let network = net_s.get_ref().clone();
        if let Some(pool) = raw
            .network
            .iter()
            .find(|r| r.get_ref().name.get_ref() == &network && hostdev::is_pool(r.get_ref()))
        {
            return self.hostdev_nic(n, at, guest, index, host, pool.get_ref());
        }
        self.no_nic_vf_fields(n, at, "only for NICs on a kind = \"hostdev\" network");
        if !raw
            .network
            .iter()
            .any(|r| r.get_ref().name.get_ref() == &network)
        {
            let known: Vec<String> = raw
                .network
                .iter()
                .map(|r| format!("{:?}", r.get_ref().name.get_ref()))
                .collect();
            self.err(
                net_s.span(),
                &format!("{at}.network"),
                format!(
                    "no network named {network:?} (known: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        let ifname = n
            .ifname
            .as_ref()
            .and_then(|s| self.typed::<IfName>(s, &format!("{at}.ifname")));
        let kind = match kind_word {
            "tap" => {
                if let Some(ns) = &n.netns {
                    self.err(
                        ns.span(),
                        &format!("{at}.netns"),
                        "`netns` is only for type = \"veth\"; a tap stays on the host",
                    );
                }
                if let Some(p) = &n.peer {
                    self.err(
                        p.span(),
                        &format!("{at}.peer"),
                        "`peer` is only for type = \"veth\"",
                    );
                }
                let queues = match &n.queues {
                    Some(q) if !(1..=256).contains(q.get_ref()) => {
                        self.err(
                            q.span(),
                            &format!("{at}.queues"),
                            format!("queues = {} is out of range: 1 to 256", q.get_ref()),
                        );
                        1
                    }
                    Some(q) => u32::try_from(*q.get_ref()).unwrap_or(1),
                    None => 1,
                };
                let uid = n
                    .owner
                    .as_ref()
                    .and_then(|o| self.account(o, &format!("{at}.owner"), "user"));
                let gid = n
                    .group
                    .as_ref()
                    .and_then(|g| self.account(g, &format!("{at}.group"), "group"));
                Some(NicType::Tap {
                    vnet_hdr: n.vnet_hdr.as_ref().is_none_or(|v| *v.get_ref()),
                    queues,
                    uid,
                    gid,
                })
            }
            "veth" => {
                for (opt, span) in [
                    ("vnet_hdr", n.vnet_hdr.as_ref().map(|s| s.span())),
                    ("queues", n.queues.as_ref().map(|s| s.span())),
                    ("owner", n.owner.as_ref().map(|s| s.span())),
                    ("group", n.group.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = span {
                        self.err(
                            span,
                            &format!("{at}.{opt}"),
                            format!("`{opt}` is only for type = \"tap\""),
                        );
                    }
                }
                match &n.netns {
                    None => {
                        let span = n.kind.as_ref().map_or(0..0, |k| k.span());
                        self.err(
                            span,
                            &format!("{at}.netns"),
                            "a veth NIC needs `netns`, the namespace its peer goes into",
                        );
                        None
                    }
                    Some(ns) => {
                        let netns = self.name(ns, &format!("{at}.netns"), "namespace");
                        self.located
                            .insert(format!("{at}.netns"), self.loc.line_col(ns.span().start));
                        let counter = peers_per_ns.entry(ns.get_ref().clone()).or_insert(0);
                        let default_peer = format!("eth{counter}");
                        *counter += 1;
                        let peer = match &n.peer {
                            Some(p) => self.typed::<IfName>(p, &format!("{at}.peer")),
                            None => IfName::new(&default_peer).ok(),
                        };
                        Some(NicType::Veth {
                            netns: netns?,
                            peer: peer?,
                        })
                    }
                }
            }
            other => {
                let span = n.kind.as_ref().map_or(0..0, |k| k.span());
                self.err(
                    span,
                    &format!("{at}.type"),
                    format!("unknown NIC type {other:?}; expected \"tap\", \"veth\" or \"user\" (\"hostdev\" only on a kind = \"hostdev\" network)"),
                );
                None
            }
        };
        let (mac, mac_given) = self.nic_mac(n, at, guest, index, host)?;
        let rate = match &n.rate {
            Some(r) => self.nic_rate(r, &format!("{at}.rate"))?,
            None => NicRate::default(),
        };
        let ip = match &n.ip {
            Some(s) => Some(self.ipv4(s, &format!("{at}.ip"))?),
            None => None,
        };
        let ip6 = match &n.ip6 {
            Some(s) => Some(self.ipv6(s, &format!("{at}.ip6"))?),
            None => None,
        };
        Some(Nic {
            ip,
            ip6,
            network,
            kind: kind?,
            ifname,
            mac,
            mac_given,
            rate,
        })
    }

    /// A `type = "user"` NIC: QEMU's own NAT; only `mac`, `smb` and `net` apply.
    fn user_nic(
        &mut self,
        n: &RawNic,
        at: &str,
        guest: Option<&str>,
        index: usize,
        host: &HostSettings,
    ) -> Option<Nic> {
        for (opt, span) in [
            ("network", n.network.as_ref().map(|s| s.span())),
            ("ifname", n.ifname.as_ref().map(|s| s.span())),
            ("netns", n.netns.as_ref().map(|s| s.span())),
            ("peer", n.peer.as_ref().map(|s| s.span())),
            ("vnet_hdr", n.vnet_hdr.as_ref().map(|s| s.span())),
            ("queues", n.queues.as_ref().map(|s| s.span())),
            ("owner", n.owner.as_ref().map(|s| s.span())),
            ("group", n.group.as_ref().map(|s| s.span())),
            ("rate", n.rate.as_ref().map(|s| s.span())),
            ("ip", n.ip.as_ref().map(|s| s.span())),
            ("ip6", n.ip6.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = span {
                self.err(
                    span,
                    &format!("{at}.{opt}"),
                    format!("`{opt}` does not apply to type = \"user\": QEMU's own NAT has no host link and joins no hvnet network"),
                );
            }
        }
        let smb = match &n.smb {
            Some(p) if !p.get_ref().starts_with('/') || p.get_ref().contains(char::is_control) => {
                self.err(
                    p.span(),
                    &format!("{at}.smb"),
                    format!(
                        "smb = {:?}: give the absolute path of the host directory to share",
                        p.get_ref()
                    ),
                );
                None
            }
            Some(p) => Some(p.get_ref().clone()),
            None => None,
        };
        let net = match &n.net {
            Some(c) => {
                let cidr = self.typed::<Ipv4Cidr>(c, &format!("{at}.net"))?;
                if cidr.prefix_len() > 29 {
                    self.err(
                        c.span(),
                        &format!("{at}.net"),
                        format!("net = {cidr}: QEMU's NAT needs room for its gateway, DNS, SMB server and DHCP pool; use /29 or larger"),
                    );
                    return None;
                }
                Some(cidr.trunc())
            }
            None => None,
        };
        let (mac, mac_given) = self.nic_mac(n, at, guest, index, host)?;
        Some(Nic {
            ip: None,
            ip6: None,
            network: String::new(),
            kind: NicType::User { smb, net },
            ifname: None,
            mac,
            mac_given,
            rate: NicRate::default(),
        })
    }

    /// A NIC's MAC: given (unicast, not `fe:`) or derived from guest name and index.
    fn nic_mac(
        &mut self,
        n: &RawNic,
        at: &str,
        guest: Option<&str>,
        index: usize,
        host: &HostSettings,
    ) -> Option<(MacAddr, bool)> {
        match &n.mac {
            Some(m) => {
                let mac = self.unicast_mac(m, &format!("{at}.mac"))?;
                if mac.octets()[0] == 0xfe {
                    self.err(
                        m.span(),
                        &format!("{at}.mac"),
                        format!("{mac}: guest MACs must not start with fe: (hvnet gives that prefix to the host side of the NIC)"),
                    );
                    return None;
                }
                Some((mac, true))
            }
            None => Some((
                MacAddr::derive(&host.mac_prefix, &format!("{}/nic{index}", guest?)),
                false,
            )),
        }
    }

    /// `rate = "100mbit"` (both directions) or `rate = { egress = "…", ingress = "…",
    /// burst = "…" }` (guest's point of view; `burst` applies to both unless a direction
    /// names its own).
    fn nic_rate(&mut self, r: &S<toml::Value>, field: &str) -> Option<NicRate> {
        let spec = |v: &mut Self, text: &str, f: &str| match text.parse::<RateSpec>() {
            Ok(s) if !v.bucket_fits(&s, r.span(), f) => None,
            Ok(s) if s.peak().is_some() => {
                v.err(r.span(), f, format!("{text:?}: peak rates are not supported for guest NICs and networks (hvnet shapes with a single token bucket); leave out \"peak\""));
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                v.err(r.span(), f, e.to_string());
                None
            }
        };
        match r.get_ref() {
            toml::Value::String(text) => {
                let s = spec(self, text, field)?;
                Some(NicRate {
                    egress: Some(s),
                    ingress: Some(s),
                })
            }
            toml::Value::Table(t) => {
                let mut out = NicRate::default();
                let mut ok = true;
                let burst = match t.get("burst") {
                    None => None,
                    Some(toml::Value::String(b)) => match b.parse::<ByteSize>() {
                        Ok(b) => Some(b),
                        Err(e) => {
                            self.err(r.span(), &format!("{field}.burst"), e.to_string());
                            ok = false;
                            None
                        }
                    },
                    Some(_) => {
                        self.err(
                            r.span(),
                            &format!("{field}.burst"),
                            "burst must be a string like \"64KiB\"",
                        );
                        ok = false;
                        None
                    }
                };
                for (key, v) in t {
                    let f = format!("{field}.{key}");
                    let slot = match key.as_str() {
                        "egress" => &mut out.egress,
                        "ingress" => &mut out.ingress,
                        "burst" => continue,
                        other => {
                            self.err(
                                r.span(),
                                &f,
                                format!("unknown key {other:?}; expected egress, ingress, burst"),
                            );
                            ok = false;
                            continue;
                        }
                    };
                    let Some(text) = v.as_str() else {
                        self.err(
                            r.span(),
                            &f,
                            "a rate must be a string like \"100mbit\" or \"10MB/s\"",
                        );
                        ok = false;
                        continue;
                    };
                    match spec(self, text, &f) {
                        Some(s) => {
                            let s = match (s.burst(), burst) {
                                (None, Some(b)) => match RateSpec::new(s.rate(), Some(b), s.peak())
                                {
                                    Ok(s) if !self.bucket_fits(&s, r.span(), &f) => {
                                        ok = false;
                                        continue;
                                    }
                                    Ok(s) => s,
                                    Err(e) => {
                                        self.err(r.span(), &f, e.to_string());
                                        ok = false;
                                        continue;
                                    }
                                },
                                _ => s,
                            };
                            *slot = Some(s);
                        }
                        None => ok = false,
                    }
                }
                if ok && out.egress.is_none() && out.ingress.is_none() {
                    self.err(
                        r.span(),
                        field,
                        "a rate table needs `egress`, `ingress` or both",
                    );
                    ok = false;
                }
                ok.then_some(out)
            }
            _ => {
                self.err(
                    r.span(),
                    field,
                    "rate must be a string (\"100mbit\") or a table { egress, ingress, burst }",
                );
                None
            }
        }
    }

    /// Whether the kernel can hold (and report back) the token bucket of `s`: a burst of
    /// at most 2³² − 1 bytes (`TCA_TBF_BURST` is 32 bits) that lasts at most 2³² ticks of
    /// 64 ns (≈ 274.9 s) at the rate, the bucket's size the kernel reports. Reports why not.
    fn bucket_fits(&mut self, s: &RateSpec, span: Range<usize>, field: &str) -> bool {
        match Tbf::refusal(s) {
            Some(p) => {
                self.err(span, field, p);
                false
            }
            None => true,
        }
    }

    /// A tap's `owner`/`group`: a numeric id, or a name the host knows.
    fn account(&mut self, v: &S<toml::Value>, field: &str, what: &str) -> Option<u32> {
        match v.get_ref() {
            toml::Value::Integer(n) => match u32::try_from(*n) {
                Ok(id) if id != u32::MAX => Some(id),
                _ => {
                    self.err(
                        v.span(),
                        field,
                        format!("{what} id {n} is out of range: 0 to 4294967294"),
                    );
                    None
                }
            },
            toml::Value::String(name) => {
                let id = if what == "user" {
                    self.accounts.uid(name)
                } else {
                    self.accounts.gid(name)
                };
                if id.is_none() {
                    self.err(v.span(), field, format!("no {what} named {name:?} on this host (give a name it knows, or a numeric id)"));
                }
                id
            }
            _ => {
                self.err(
                    v.span(),
                    field,
                    format!("{what} must be a name or a numeric id"),
                );
                None
            }
        }
    }

    /// `replicate_mac`: exactly one guest NIC on the network, with its `mac` given (the
    /// uplink's MAC).
    fn check_replication(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        guests: &[(usize, Guest, FileIndex)],
    ) {
        for (i, n) in nets.iter().filter(|(_, n)| n.replicate_mac) {
            let span = raw.network[*i]
                .get_ref()
                .replicate_mac
                .as_ref()
                .map_or(0..0, |r| r.span());
            let field = format!("network[{i}].replicate_mac");
            let on: Vec<(&Guest, &Nic)> = guests
                .iter()
                .flat_map(|(_, g, _)| g.nics.iter().map(move |nic| (g, nic)))
                .filter(|(_, nic)| nic.network == n.name)
                .collect();
            match on.as_slice() {
                [(_, nic)] if nic.mac_given => {}
                [(g, _)] => self.err(
                    span,
                    &field,
                    format!(
                        "guest {:?} must give its NIC on this network the uplink's MAC (`mac`), which the uplink hands over",
                        g.name
                    ),
                ),
                [] => {}
                more => self.err(
                    span,
                    &field,
                    format!(
                        "{} guest NICs are on this network; MAC replication hands the uplink's MAC to exactly one",
                        more.len()
                    ),
                ),
            }
        }
    }

    /// A network whose MTU is above [`MAX_TAP_MTU`] cannot have tap ports (the bridge's
    /// MTU is copied to them, and the tun driver refuses it).
    fn check_tap_mtu(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        guests: &[(usize, Guest, FileIndex)],
    ) {
        for (i, n) in nets {
            let (Some(mtu), Some(m)) = (n.mtu, &raw.network[*i].get_ref().mtu) else {
                continue;
            };
            if mtu <= MAX_TAP_MTU {
                continue;
            }
            let tap = guests.iter().find_map(|(gi, g, idx)| {
                g.nics
                    .iter()
                    .zip(&idx.nics)
                    .find(|(nic, _)| {
                        nic.network == n.name && matches!(nic.kind, NicType::Tap { .. })
                    })
                    .map(|(_, k)| format!("guest[{gi}].nic[{k}]"))
            });
            if let Some(tap) = tap {
                self.err(
                    m.span(),
                    &format!("network[{i}].mtu"),
                    format!(
                        "MTU {mtu} is too large for a network with taps ({tap} is one): a tap takes at most {MAX_TAP_MTU} (65535 minus its Ethernet header), and the bridge's MTU is copied to its ports"
                    ),
                );
            }
        }
    }

    fn check_guests(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        guests: &[(usize, Guest, FileIndex)],
    ) {
        self.check_replication(raw, nets, guests);
        self.check_guest_ip6(raw, nets, guests);
        self.check_tap_mtu(raw, nets, guests);
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ifnames: HashMap<String, String> = HashMap::new();
        for (i, n) in nets {
            ifnames.insert(n.bridge.to_string(), format!("the bridge of network[{i}]"));
            if let Some(u) = &n.uplink {
                ifnames.insert(u.to_string(), format!("the uplink of network[{i}]"));
            }
        }
        let mut macs: HashMap<MacAddr, String> = HashMap::new();
        let mut ports: HashMap<&str, usize> = nets
            .iter()
            .map(|(_, n)| {
                let enslaved = n.kind == NetworkKind::Bridge && n.uplink.is_some();
                (n.name.as_str(), usize::from(enslaved))
            })
            .collect();
        // Fixed addresses and the MACs they are reserved for, per network: the static DHCP
        // hosts first, then the guest NICs with an `ip`.
        let mut fixed_ips: HashMap<(&str, Ipv4Addr), String> = HashMap::new();
        let mut fixed_macs: HashMap<(&str, MacAddr), String> = HashMap::new();
        for (i, n) in nets {
            let Some(d) = &raw.network[*i].get_ref().dhcp else {
                continue;
            };
            for (k, h) in d.get_ref().host.iter().enumerate() {
                let owner = format!("network[{i}].dhcp.host[{k}]");
                let h = h.get_ref();
                if let Ok(ip) = h.ip.get_ref().parse::<Ipv4Addr>() {
                    fixed_ips
                        .entry((n.name.as_str(), ip))
                        .or_insert(owner.clone());
                }
                if let Ok(mac) = h.mac.get_ref().parse::<MacAddr>() {
                    fixed_macs.entry((n.name.as_str(), mac)).or_insert(owner);
                }
            }
        }
        // (protocol, host address, families it covers (IPv4, IPv6), port, where, guest).
        type Taken<'a> = (Proto, Option<IpAddr>, [bool; 2], u16, String, &'a str);
        let mut forwards: Vec<Taken> = Vec::new();
        let mut peers: HashMap<(String, String), String> = HashMap::new();
        for (gi, g, idx) in guests {
            let nic_idx = &idx.nics;
            let rg = raw.guest[*gi].get_ref();
            if let Some(first) = names.insert(&g.name, *gi) {
                self.err(
                    rg.name.span(),
                    &format!("guest[{gi}].name"),
                    format!("duplicate guest name {:?} (also guest[{first}])", g.name),
                );
            }
            let pool_named = raw.network.iter().position(|r| {
                hostdev::is_pool(r.get_ref()) && *r.get_ref().name.get_ref() == g.name
            });
            let net_named = nets.iter().find(|(_, n)| n.name == g.name).map(|(i, _)| *i);
            if let Some(ni) = net_named.or(pool_named) {
                self.err(
                    rg.name.span(),
                    &format!("guest[{gi}].name"),
                    format!("guest name {:?} is also the name of network[{ni}]; owner tags hvnet:<name> must be unambiguous", g.name),
                );
            }
            for (nic, &ri) in g.nics.iter().zip(nic_idx) {
                let rn = rg.nic[ri].get_ref();
                let at = format!("guest[{gi}].nic[{ri}]");
                if let Some(count) = ports.get_mut(nic.network.as_str()) {
                    *count += 1;
                    if *count == MAX_BRIDGE_PORTS + 1 {
                        self.err(
                            rn.network.as_ref().map_or(0..0, |n| n.span()),
                            &format!("{at}.network"),
                            format!("network {:?} would get more than {MAX_BRIDGE_PORTS} ports, the most a Linux bridge can hold", nic.network),
                        );
                    }
                }
                if let (Some(name), Some(span)) =
                    (&nic.ifname, rn.ifname.as_ref().map(|s| s.span()))
                {
                    if let Some(prev) = ifnames.insert(name.to_string(), at.clone()) {
                        self.err(
                            span,
                            &format!("{at}.ifname"),
                            format!("interface {:?} is already used by {prev}", name.as_str()),
                        );
                    }
                }
                let span = rn
                    .mac
                    .as_ref()
                    .or(rn.network.as_ref())
                    .map_or(0..0, |s| s.span());
                if let Some(prev) = macs.insert(nic.mac, at.clone()) {
                    let how = if nic.mac_given { "" } else { " (derived)" };
                    self.err(
                        span.clone(),
                        &format!("{at}.mac"),
                        format!("MAC {}{how} is already used by {prev}", nic.mac),
                    );
                }
                if let NicType::Veth { netns, peer } = &nic.kind {
                    if let Some(prev) = peers.insert((netns.clone(), peer.to_string()), at.clone())
                    {
                        let span = rn.peer.as_ref().map_or(span.clone(), |s| s.span());
                        self.err(span, &format!("{at}.peer"), format!("{prev} already puts an interface named {:?} into namespace {netns:?}", peer.as_str()));
                    }
                }
                if let (Some(ip), Some(rip)) = (nic.ip, &rn.ip) {
                    let Some((_, net)) = nets.iter().find(|(_, n)| n.name == nic.network) else {
                        continue;
                    };
                    let field = format!("{at}.ip");
                    let Some(address) = net.address else {
                        self.err(
                            rip.span(),
                            &field,
                            format!(
                                "network {:?} (kind {:?}) has no host address, so no subnet for a fixed `ip`",
                                net.name,
                                net.kind.as_str()
                            ),
                        );
                        continue;
                    };
                    let whose = format!("network {:?}", net.name);
                    if !self.guest_ip(ip, rip.span(), &field, address, &whose) {
                        continue;
                    }
                    let owner = format!("{at} (guest {:?})", g.name);
                    if let Some(prev) = fixed_ips.get(&(net.name.as_str(), ip)) {
                        self.err(
                            rip.span(),
                            &field,
                            format!("{ip} is already reserved by {prev}"),
                        );
                        continue;
                    }
                    fixed_ips.insert((net.name.as_str(), ip), owner.clone());
                    if let Some(prev) = fixed_macs.get(&(net.name.as_str(), nic.mac)) {
                        self.err(
                            span.clone(),
                            &format!("{at}.mac"),
                            format!(
                                "MAC {} is already reserved by {prev}; a NIC with a fixed `ip` gets its own DHCP reservation",
                                nic.mac
                            ),
                        );
                        continue;
                    }
                    fixed_macs.insert((net.name.as_str(), nic.mac), owner);
                }
            }
            for (f, &ri) in g.forwards.iter().zip(&idx.forwards) {
                let rf = rg.forward[ri].get_ref();
                let at = format!("guest[{gi}].forward[{ri}]");
                let Some(nic) = g.nics.get(f.nic) else {
                    continue;
                };
                if let Some((_, net)) = nets.iter().find(|(_, n)| n.name == nic.network) {
                    if !net.kind.forwards() {
                        let span = rf.nic.as_ref().map_or(rg.forward[ri].span(), |n| n.span());
                        self.err(
                            span,
                            &format!("{at}.nic"),
                            format!(
                                "port forward to guest[{gi}].nic[{}] on network {:?} of kind {:?}: forwards need a network of kind \"nat\" or \"routed\"",
                                nic_idx.get(f.nic).copied().unwrap_or(f.nic),
                                net.name,
                                net.kind.as_str()
                            ),
                        );
                    }
                }
                // No host_addr is every address of the families the NIC has an address of:
                // it overlaps those families' addresses.
                let fams = match f.host_addr {
                    Some(a) => [a.is_ipv4(), a.is_ipv6()],
                    None => [nic.ip.is_some(), nic.ip6.is_some()],
                };
                let overlaps = |a: &Option<IpAddr>, a_fams: &[bool; 2]| match (a, f.host_addr) {
                    (Some(x), Some(y)) => *x == y,
                    _ => a_fams.iter().zip(&fams).any(|(x, y)| *x && *y),
                };
                let clash = forwards.iter().find(|(proto, addr, a_fams, port, _, _)| {
                    *proto == f.proto && *port == f.host_port && overlaps(addr, a_fams)
                });
                if let Some((_, addr, _, _, prev, guest)) = clash {
                    let on = addr.map_or(String::new(), |a| format!(" on {a}"));
                    self.err(
                        rf.host_port.span(),
                        &format!("{at}.host_port"),
                        format!(
                            "{} host port {} is already forwarded by {prev} (guest {guest:?}{on})",
                            f.proto.name(),
                            f.host_port
                        ),
                    );
                    continue;
                }
                forwards.push((f.proto, f.host_addr, fams, f.host_port, at, &g.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 13): `stp = true` alone kept the kernel's 15 s, so a guest waited
    /// ~30 s (listening + learning) for its first lease. Like libvirt (delay 0, i.e. the
    /// kernel's minimum with STP), the default with STP is 2 s; without STP 0 s; an
    /// explicit value is kept.
    #[test]
    fn stp_without_forward_delay_defaults_to_two_seconds() {
        let stp = ok(&format!("{NAT}stp = true\n"));
        assert_eq!(stp.networks[0].forward_delay, 2);
        assert_eq!(STP_FORWARD_DELAY, 2);
        let plain = ok(NAT);
        assert_eq!(plain.networks[0].forward_delay, 0);
        let set = ok(&format!("{NAT}stp = true\nforward_delay = 15\n"));
        assert_eq!(set.networks[0].forward_delay, 15);
    }

    const NAT: &str = r#"
[[network]]
name = "default"
kind = "nat"
bridge = "virbr0"
address = "192.168.122.1/24"
"#;

    fn ok(text: &str) -> Config {
        Config::parse(text, "t.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every diagnostic as `LINE FIELD: MESSAGE`.
    fn errs(text: &str) -> Vec<String> {
        match Config::parse(text, "t.toml") {
            Ok(c) => panic!("accepted: {c:#?}"),
            Err(e) => e
                .diagnostics
                .iter()
                .map(|d| format!("{} {}: {}", d.line, d.field, d.message))
                .collect(),
        }
    }

    /// Exactly one diagnostic, on `field`, containing `fragment`.
    fn one(text: &str, field: &str, fragment: &str) {
        let e = errs(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains(&format!(" {field}: ")) && e[0].contains(fragment),
            "wanted {field} / {fragment:?}, got {e:#?}"
        );
    }

    fn range(s: &str) -> Option<Ipv4Range> {
        Some(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn everything_in_the_documented_example() {
        let c = ok(r#"
[host]
bridge_nf_call = false

[[network]]
name = "default"
kind = "nat"
bridge = "virbr0"
address = "192.168.122.1/24"
uplink = "eth0"
nat_ports = "1024-65535"
[network.dhcp]
range = "192.168.122.2-192.168.122.254"
lease_time = "1h"
dns = true
domain = "example.lan"
[[network.dhcp.host]]
mac = "52:54:00:00:00:11"
ip = "192.168.122.11"
name = "web"

[[guest]]
name = "web"
[[guest.nic]]
network = "default"
ip = "192.168.122.10"
[[guest.forward]]
proto = "tcp"
host_port = 8080
guest_port = 80
nic = 0
host_addr = "203.0.113.5"
"#);
        assert_eq!(c.host.bridge_nf_call, Some(false));
        let n = &c.networks[0];
        assert_eq!(n.kind, NetworkKind::Nat);
        assert_eq!(n.uplink.as_ref().map(|u| u.as_str()), Some("eth0"));
        assert_eq!(n.nat_ports, Some((1024, 65535)));
        assert_eq!(
            n.dhcp,
            Some(Dhcp {
                range: range("192.168.122.2-192.168.122.254"),
                lease_time: Some(Duration::from_secs(3600)),
                dns: true,
                dns_only: false,
                domain: Some("example.lan".into()),
                hosts: vec![DhcpHost {
                    mac: "52:54:00:00:00:11".parse().unwrap(),
                    ip: ip("192.168.122.11"),
                    name: Some("web".into()),
                }],
            })
        );
        let g = &c.guests[0];
        assert_eq!(g.nics[0].ip, Some(ip("192.168.122.10")));
        assert_eq!(
            g.forwards,
            [PortForward {
                proto: Proto::Tcp,
                host_addr: Some(IpAddr::V4(ip("203.0.113.5"))),
                host_port: 8080,
                guest_port: 80,
                nic: 0,
            }]
        );
    }

    #[test]
    fn defaults() {
        let c = ok(&format!("{NAT}[network.dhcp]\n"));
        let n = &c.networks[0];
        assert_eq!(c.host.bridge_nf_call, None);
        assert_eq!(n.nat_ports, None);
        assert_eq!(n.uplink, None);
        assert_eq!(
            n.dhcp,
            Some(Dhcp {
                range: range("192.168.122.2-192.168.122.254"),
                lease_time: Some(Duration::from_secs(3600)),
                dns: true,
                dns_only: false,
                domain: None,
                hosts: vec![],
            })
        );
        assert_eq!(ok(NAT).networks[0].dhcp, None);
        let c = ok(&format!(
            "{NAT}[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.9\"\n\
             [[guest.forward]]\nhost_port = 2222\n"
        ));
        assert_eq!(c.guests[0].nics[0].ip, Some(ip("192.168.122.9")));
        assert_eq!(
            c.guests[0].forwards,
            [PortForward {
                proto: Proto::Tcp,
                host_addr: None,
                host_port: 2222,
                guest_port: 2222,
                nic: 0,
            }]
        );
        let c = ok("[host]\nbridge_nf_call = true\n");
        assert_eq!(c.host.bridge_nf_call, Some(true));
        assert_eq!(c.host.mac_prefix, MacPrefix::KVM);
    }

    #[test]
    fn default_range_after_or_before_the_host() {
        let r = |a: &str| default_dhcp_range(a.parse().unwrap()).map(|r| r.to_string());
        assert_eq!(
            r("192.168.122.1/24").as_deref(),
            Some("192.168.122.2-192.168.122.254")
        );
        assert_eq!(
            r("192.168.122.254/24").as_deref(),
            Some("192.168.122.1-192.168.122.253")
        );
        assert_eq!(r("10.0.0.100/24").as_deref(), Some("10.0.0.101-10.0.0.254"));
        assert_eq!(r("10.0.0.1/30").as_deref(), Some("10.0.0.2-10.0.0.2"));
        assert_eq!(r("10.0.0.2/30").as_deref(), Some("10.0.0.1-10.0.0.1"));
        assert_eq!(r("10.0.0.0/31").as_deref(), Some("10.0.0.1-10.0.0.1"));
        assert_eq!(r("10.0.0.1/31").as_deref(), Some("10.0.0.0-10.0.0.0"));
        assert_eq!(r("10.0.0.1/32"), None);

        let c = ok("[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br0\"\naddress = \"192.168.122.254/24\"\n[network.dhcp]\n");
        assert_eq!(
            c.networks[0].dhcp.as_ref().and_then(|d| d.range),
            range("192.168.122.1-192.168.122.253")
        );
        one(
            "[[network]]\nname = \"n\"\nkind = \"open\"\nbridge = \"br0\"\naddress = \"10.0.0.1/32\"\n[network.dhcp]\n",
            "network[0].dhcp.range",
            "10.0.0.1/32 leaves no address besides the host's for a default DHCP range",
        );
    }

    #[test]
    fn every_kind_and_dhcp_form() {
        for kind in ["nat", "routed", "open", "isolated"] {
            let c = ok(&format!(
                "[[network]]\nname = \"n\"\nkind = \"{kind}\"\nbridge = \"br0\"\naddress = \"10.9.0.1/24\"\n\
                 [network.dhcp]\nrange = \"none\"\nlease_time = \"infinite\"\ndns = false\n\
                 [[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.9.0.7\"\n"
            ));
            let n = &c.networks[0];
            assert_eq!(n.kind.as_str(), kind);
            let d = n.dhcp.as_ref().unwrap();
            assert_eq!((d.range, d.lease_time, d.dns), (None, None, false));
            assert_eq!(d.hosts[0].name, None);
            assert_eq!(n.kind.forwards(), matches!(kind, "nat" | "routed"));
        }
        // lease_time as whole seconds, and the 2-minute minimum exactly.
        let c = ok(&format!("{NAT}[network.dhcp]\nlease_time = 120\n"));
        assert_eq!(
            c.networks[0].dhcp.as_ref().and_then(|d| d.lease_time),
            Some(Duration::from_secs(120))
        );
        let c = ok(&format!("{NAT}[network.dhcp]\nlease_time = \"1d\"\n"));
        assert_eq!(
            c.networks[0].dhcp.as_ref().and_then(|d| d.lease_time),
            Some(Duration::from_secs(86400))
        );
        // routed takes an uplink; isolated keeps its address optional.
        ok("[[network]]\nname = \"r\"\nkind = \"routed\"\nbridge = \"br0\"\naddress = \"10.9.0.1/24\"\nuplink = \"eth0\"\n");
        ok("[[network]]\nname = \"i\"\nkind = \"isolated\"\nbridge = \"br0\"\n");
    }

    #[test]
    fn nat_networks_may_share_an_egress_device() {
        let c = ok(r#"
[[network]]
name = "lan"
kind = "bridge"
bridge = "vmbridge"
uplink = "eth1"
[[network]]
name = "a"
kind = "nat"
bridge = "virbr0"
address = "10.1.0.1/24"
uplink = "eth0"
[[network]]
name = "b"
kind = "routed"
bridge = "virbr1"
address = "10.2.0.1/24"
uplink = "eth0"
[[network]]
name = "c"
kind = "nat"
bridge = "virbr2"
address = "10.3.0.1/24"
uplink = "vmbridge"
"#);
        assert_eq!(c.networks.len(), 4);
        one(
            "[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"vmbridge\"\nuplink = \"eth1\"\n\
             [[network]]\nname = \"a\"\nkind = \"nat\"\nbridge = \"virbr0\"\naddress = \"10.1.0.1/24\"\nuplink = \"eth1\"\n",
            "network[1].uplink",
            "interface \"eth1\" is enslaved to the bridge of network[0]; use that bridge (\"vmbridge\")",
        );
        one(
            "[[network]]\nname = \"a\"\nkind = \"nat\"\nbridge = \"virbr0\"\naddress = \"10.1.0.1/24\"\nuplink = \"virbr0\"\n",
            "network[0].uplink",
            "cannot be the network's own bridge",
        );
    }

    #[test]
    fn kind_rules() {
        for kind in ["routed", "open"] {
            one(
                &format!("[[network]]\nname = \"n\"\nkind = \"{kind}\"\nbridge = \"br0\"\n"),
                "network[0].address",
                &format!("a network of kind \"{kind}\" needs `address`"),
            );
        }
        one(
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br0\"\nuplink = \"eth0\"\n",
            "network[0].uplink",
            "not \"isolated\"",
        );
        one(
            &format!("{NAT}uplink = \"eth 0\"\n"),
            "network[0].uplink",
            "",
        );
        one(
            "[[network]]\nname = \"n\"\nkind = \"natted\"\nbridge = \"br0\"\n",
            "network[0].kind",
            "expected one of: isolated, internal, bridge, nat, routed, open, hostdev",
        );
    }

    #[test]
    fn nat_ports_forms() {
        for (v, msg) in [
            (
                "1024",
                "nat_ports \"1024\" is not a port range: write \"START-END\"",
            ),
            ("a-b", "is not a port range"),
            ("-5", "is not a port range"),
            (
                "0-100",
                "port 0 in nat_ports \"0-100\" is out of range: 1 to 65535",
            ),
            ("1-65536", "port 65536 in nat_ports"),
            (
                "2000-1000",
                "nat_ports \"2000-1000\" is empty: START 2000 is after END 1000",
            ),
        ] {
            one(
                &format!("{NAT}nat_ports = \"{v}\"\n"),
                "network[0].nat_ports",
                msg,
            );
        }
        let c = ok(&format!("{NAT}nat_ports = \"500-500\"\n"));
        assert_eq!(c.networks[0].nat_ports, Some((500, 500)));
        one(
            "[[network]]\nname = \"n\"\nkind = \"open\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\nnat_ports = \"1-2\"\n",
            "network[0].nat_ports",
            "only for kind = \"nat\", not \"open\"",
        );
    }

    #[test]
    fn dhcp_rules() {
        let dhcp = |body: &str| format!("{NAT}[network.dhcp]\n{body}");
        one(
            &dhcp("range = \"192.168.122.0-192.168.122.100\"\n"),
            "network[0].dhcp.range",
            "DHCP range 192.168.122.0-192.168.122.100 includes 192.168.122.0, the network address of 192.168.122.0/24",
        );
        one(
            &dhcp("range = \"192.168.122.100-192.168.122.255\"\n"),
            "network[0].dhcp.range",
            "includes 192.168.122.255, the broadcast address",
        );
        one(
            &dhcp("range = \"192.168.122.9-192.168.122.2\"\n"),
            "network[0].dhcp.range",
            "",
        );
        one(
            &dhcp("lease_time = \"119s\"\n"),
            "network[0].dhcp.lease_time",
            "lease time 1m59s is too short: dnsmasq's minimum is 120 s",
        );
        one(
            &dhcp("lease_time = \"forever\"\n"),
            "network[0].dhcp.lease_time",
            "(or \"infinite\")",
        );
        one(
            &dhcp("lease_time = -5\n"),
            "network[0].dhcp.lease_time",
            "negative",
        );
        one(
            &dhcp("domain = \"bad_domain\"\n"),
            "network[0].dhcp.domain",
            "domain \"bad_domain\" is not a DNS name",
        );
        one(
            &dhcp("[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.1\"\n"),
            "network[0].dhcp.host[0].ip",
            "192.168.122.1 is the host's own address on network \"default\"",
        );
        one(
            &dhcp("[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.255\"\n"),
            "network[0].dhcp.host[0].ip",
            "192.168.122.255 is the broadcast address of 192.168.122.0/24",
        );
        one(
            &dhcp("[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.0.5\"\n"),
            "network[0].dhcp.host[0].ip",
            "10.0.0.5 is outside the subnet 192.168.122.0/24 of network \"default\"",
        );
        one(
            &dhcp("[[network.dhcp.host]]\nmac = \"01:54:00:00:00:01\"\nip = \"192.168.122.5\"\n"),
            "network[0].dhcp.host[0].mac",
            "not a unicast address",
        );
        one(
            &dhcp("[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.300\"\n"),
            "network[0].dhcp.host[0].ip",
            "\"192.168.122.300\" is not an IPv4 address",
        );
        one(
            &dhcp("[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.5\"\nname = \"-web\"\n"),
            "network[0].dhcp.host[0].name",
            "host name \"-web\" is not a DNS name",
        );
        // A missing key is located at its table, with the full path.
        one(
            &dhcp("[[network.dhcp.host]]\nip = \"192.168.122.5\"\n"),
            "network[0].dhcp.host[0]",
            "missing field `mac`",
        );
        one(
            &dhcp("ranges = \"none\"\n"),
            "network[0].dhcp.ranges",
            "unknown field",
        );
        one(
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br0\"\n[network.dhcp]\n",
            "network[0].dhcp",
            "[network.dhcp] needs `address`",
        );
        one(
            "[[network]]\nname = \"n\"\nkind = \"bridge\"\nbridge = \"br0\"\nuplink = \"eth0\"\naddress = \"10.0.0.1/24\"\n[network.dhcp]\n",
            "network[0].dhcp",
            "not \"bridge\"",
        );
        // Static hosts may sit inside the dynamic range (dnsmasq keeps them out of the pool).
        ok(&dhcp(
            "[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.5\"\n",
        ));
    }

    const GUEST: &str = "[[guest]]\nname = \"web\"\n[[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.10\"\n";

    #[test]
    fn nic_ip_rules() {
        one(
            &format!("{NAT}[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.1\"\n"),
            "guest[0].nic[0].ip",
            "192.168.122.1 is the host's own address on network \"default\"",
        );
        one(
            &format!("{NAT}[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.0\"\n"),
            "guest[0].nic[0].ip",
            "192.168.122.0 is the network address of 192.168.122.0/24",
        );
        one(
            "[[network]]\nname = \"i\"\nkind = \"internal\"\nbridge = \"br0\"\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"i\"\nip = \"10.0.0.5\"\n",
            "guest[0].nic[0].ip",
            "network \"i\" (kind \"internal\") has no host address, so no subnet for a fixed `ip`",
        );
        one(
            &format!("{NAT}{GUEST}[[guest]]\nname = \"db\"\n[[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.10\"\n"),
            "guest[1].nic[0].ip",
            "192.168.122.10 is already reserved by guest[0].nic[0] (guest \"web\")",
        );
        one(
            &format!(
                "{NAT}[network.dhcp]\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.5\"\n\
                 [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"default\"\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.6\"\n"
            ),
            "guest[0].nic[0].mac",
            "MAC 52:54:00:00:00:01 is already reserved by network[0].dhcp.host[0]",
        );
        // Without an ip, a NIC may take a static host's reservation.
        ok(&format!(
            "{NAT}[network.dhcp]\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"192.168.122.5\"\n\
             [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"default\"\nmac = \"52:54:00:00:00:01\"\n"
        ));
    }

    #[test]
    fn forward_rules() {
        let two_nics = format!(
            "{NAT}[[network]]\nname = \"iso\"\nkind = \"isolated\"\nbridge = \"virbr9\"\naddress = \"10.8.0.1/24\"\n\
             [[guest]]\nname = \"web\"\n[[guest.nic]]\nnetwork = \"iso\"\nip = \"10.8.0.5\"\n\
             [[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.10\"\n"
        );
        let c = ok(&format!(
            "{two_nics}[[guest.forward]]\nproto = \"udp\"\nhost_port = 53\nnic = \"default\"\n\
             [[guest.forward]]\nhost_port = 53\nguest_port = 5353\nnic = 1\n"
        ));
        assert_eq!(
            c.guests[0].forwards,
            [
                PortForward {
                    proto: Proto::Udp,
                    host_addr: None,
                    host_port: 53,
                    guest_port: 53,
                    nic: 1,
                },
                PortForward {
                    proto: Proto::Tcp,
                    host_addr: None,
                    host_port: 53,
                    guest_port: 5353,
                    nic: 1,
                }
            ]
        );
        one(
            &format!("{two_nics}[[guest.forward]]\nhost_port = 80\n"),
            "guest[0].forward[0].nic",
            "port forward to guest[0].nic[0] on network \"iso\" of kind \"isolated\": forwards need a network of kind \"nat\" or \"routed\"",
        );
        one(
            &format!("{two_nics}[[guest.forward]]\nhost_port = 80\nnic = 2\n"),
            "guest[0].forward[0].nic",
            "guest[0] has no nic[2] (it has nic[0] to nic[1])",
        );
        one(
            &format!("{two_nics}[[guest.forward]]\nhost_port = 80\nnic = 1.5\n"),
            "guest[0].forward[0].nic",
            "nic must be an index",
        );
        one(
            &format!("{NAT}{GUEST}[[guest.nic]]\nnetwork = \"default\"\nip = \"192.168.122.11\"\n[[guest.forward]]\nhost_port = 80\nnic = \"default\"\n"),
            "guest[0].forward[0].nic",
            "guest[0] has 2 NICs on network \"default\" (nic[0], nic[1]): give the index of one",
        );
        one(
            &format!("{NAT}[[guest]]\nname = \"g\"\n[[guest.forward]]\nhost_port = 80\n"),
            "guest[0].forward[0].nic",
            "guest[0] has no NIC to forward to",
        );
        for (k, v) in [
            ("host_port", "0"),
            ("host_port", "65536"),
            ("guest_port", "-1"),
        ] {
            let text = if k == "host_port" {
                format!("{NAT}{GUEST}[[guest.forward]]\nhost_port = {v}\n")
            } else {
                format!("{NAT}{GUEST}[[guest.forward]]\nhost_port = 80\nguest_port = {v}\n")
            };
            one(
                &text,
                &format!("guest[0].forward[0].{k}"),
                &format!("{k} {v} is out of range: 1 to 65535"),
            );
        }
        one(
            &format!(
                "{NAT}{GUEST}[[guest.forward]]\nhost_port = 80\nhost_addr = \"example.com\"\n"
            ),
            "guest[0].forward[0].host_addr",
            "not an IPv4 or IPv6 address",
        );
        one(
            &format!("{NAT}{GUEST}[[guest.forward]]\nguest_port = 80\n"),
            "guest[0].forward[0]",
            "missing field `host_port`",
        );
    }

    #[test]
    fn host_port_clashes() {
        let fwd = |g: &str, ip: &str, extra: &str| {
            format!("[[guest]]\nname = \"{g}\"\n[[guest.nic]]\nnetwork = \"default\"\nip = \"{ip}\"\n[[guest.forward]]\nhost_port = 8080\n{extra}")
        };
        // Different protocols, or distinct host addresses: no clash.
        ok(&format!(
            "{NAT}{}{}",
            fwd("a", "192.168.122.10", ""),
            fwd("b", "192.168.122.11", "proto = \"udp\"\n")
        ));
        ok(&format!(
            "{NAT}{}{}",
            fwd("a", "192.168.122.10", "host_addr = \"203.0.113.5\"\n"),
            fwd("b", "192.168.122.11", "host_addr = \"203.0.113.6\"\n")
        ));
        // The same address, or any address against one: a clash.
        one(
            &format!(
                "{NAT}{}{}",
                fwd("a", "192.168.122.10", "host_addr = \"203.0.113.5\"\n"),
                fwd("b", "192.168.122.11", "")
            ),
            "guest[1].forward[0].host_port",
            "tcp host port 8080 is already forwarded by guest[0].forward[0] (guest \"a\" on 203.0.113.5)",
        );
        one(
            &format!(
                "{NAT}{}{}",
                fwd("a", "192.168.122.10", "host_addr = \"203.0.113.5\"\n"),
                fwd("b", "192.168.122.11", "host_addr = \"203.0.113.5\"\n")
            ),
            "guest[1].forward[0].host_port",
            "already forwarded by guest[0].forward[0]",
        );
        // An IPv6 host address forwards to the NIC's ip6, and clashes with IPv6 only: with an
        // IPv4 address's forward, or an any-address forward of an IPv4-only NIC, it does not.
        let v6net =
            format!("{NAT}address6 = \"fd42:122::1/64\"\n[network.dhcp6]\nmode = \"stateful\"\n");
        let dual = |extra: &str| {
            fwd("a", "192.168.122.10", extra).replace(
                "ip = \"192.168.122.10\"\n",
                "ip = \"192.168.122.10\"\nip6 = \"fd42:122::10\"\n",
            )
        };
        let v6fwd = "[[guest.forward]]\nhost_port = 8080\nhost_addr = \"2001:db8::5\"\n";
        let c = ok(&format!(
            "{v6net}{}{v6fwd}",
            dual("host_addr = \"203.0.113.5\"\n")
        ));
        assert_eq!(
            c.guests[0].forwards[1].host_addr,
            Some("2001:db8::5".parse().unwrap())
        );
        let v4_only = format!(
            "[[guest]]\nname = \"b\"\n[[guest.nic]]\nnetwork = \"default\"\nip6 = \"fd42:122::11\"\n{v6fwd}"
        );
        ok(&format!(
            "{v6net}{}{v4_only}",
            fwd("a", "192.168.122.10", "")
        ));
        // Without host_addr, a dual-stack NIC's forward takes every IPv6 address too.
        one(
            &format!("{v6net}{}{v6fwd}", dual("")),
            "guest[0].forward[1].host_port",
            "tcp host port 8080 is already forwarded by guest[0].forward[0] (guest \"a\")",
        );
        one(
            &format!(
                "{NAT}{}",
                fwd("a", "192.168.122.10", "host_addr = \"2001:db8::5\"\n")
            ),
            "guest[0].forward[0].nic",
            "port forward needs a fixed ip6 on guest[0].nic[0] (add ip6 = ",
        );
        // Within one guest too.
        one(
            &format!(
                "{NAT}{}[[guest.forward]]\nhost_port = 8080\nguest_port = 81\n",
                fwd("a", "192.168.122.10", "")
            ),
            "guest[0].forward[1].host_port",
            "already forwarded by guest[0].forward[0] (guest \"a\")",
        );
    }
}
