//! Validation of the IPv6 keys: a network's `address6` and `[network.dhcp6]`, a NIC's `ip6`.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::ops::Range;

use super::super::raw::{RawConfig, RawDhcp6, RawNetwork, S};
use super::super::{Dhcp6, Dhcp6Mode, Guest, HostIp, Network, NetworkKind};
use super::{FileIndex, Validator};
use crate::dhcp6::Dhcp6Host;
use crate::types::{Ipv6Cidr, Ipv6Range, MacAddr};

/// Why `ip` cannot be a host's or guest's address on a bridge, if it cannot.
fn not_unicast6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("the unspecified address ::")
    } else if ip.is_loopback() {
        Some("the loopback address ::1")
    } else if ip.is_multicast() {
        Some("a multicast address (ff00::/8)")
    } else if ip.segments()[0] & 0xffc0 == 0xfe80 {
        Some("a link-local address (fe80::/10, the kernel's own on every link)")
    } else if ip.to_ipv4_mapped().is_some() {
        Some("an IPv4-mapped address (::ffff:0:0/96)")
    } else {
        None
    }
}

impl Validator<'_> {
    /// An IPv6 address.
    pub(super) fn ipv6(&mut self, s: &S<String>, field: &str) -> Option<Ipv6Addr> {
        match s.get_ref().parse::<Ipv6Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    s.span(),
                    field,
                    format!("{:?} is not an IPv6 address", s.get_ref()),
                );
                None
            }
        }
    }

    /// `nat6` of a network: only for kind nat with `address6`.
    pub(super) fn nat6(&mut self, n: &RawNetwork, kind: Option<NetworkKind>, at: &str) -> bool {
        let Some(v) = &n.nat6 else { return false };
        if !*v.get_ref() {
            return false;
        }
        let why = match kind {
            Some(NetworkKind::Nat) if n.address6.is_some() => return true,
            Some(NetworkKind::Nat) => {
                "`nat6` masquerades the network's IPv6 prefix: it needs `address6`".to_string()
            }
            Some(k) => format!(
                "`nat6` (masquerade IPv6 too) is only for kind = \"nat\", not {:?}",
                k.as_str()
            ),
            None => return false,
        };
        self.err(v.span(), &format!("{at}.nat6"), why);
        false
    }

    /// `address6` and `[network.dhcp6]` of a network.
    pub(super) fn network6(
        &mut self,
        n: &RawNetwork,
        kind: Option<NetworkKind>,
        host_ip: Option<HostIp>,
        at: &str,
    ) -> (Option<Ipv6Cidr>, Option<Dhcp6>) {
        let field = format!("{at}.address6");
        let address6 = n.address6.as_ref().and_then(|a| {
            let no_address = match (kind, host_ip) {
                (Some(NetworkKind::Internal), _) => Some(
                    "an internal network has no host address; use kind = \"isolated\" to put the host on it",
                ),
                (Some(NetworkKind::Bridge), Some(HostIp::None)) => {
                    Some("host_ip = \"none\" keeps the host off the bridged LAN, so no `address6`")
                }
                _ => None,
            };
            if let Some(why) = no_address {
                self.err(a.span(), &field, why);
                return None;
            }
            let cidr = self.typed::<Ipv6Cidr>(a, &field)?;
            let problem = if let Some(why) = not_unicast6(cidr.addr()) {
                Some(format!("{} is {why}, not a host address for a bridge", cidr.addr()))
            } else if cidr.prefix_len() < 127 && cidr.addr() == cidr.network() {
                Some(format!(
                    "{cidr} is the subnet-router anycast address of its prefix, not a host address"
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                self.err(a.span(), &field, p);
                return None;
            }
            Some(cidr)
        });
        let dhcp6 = n
            .dhcp6
            .as_ref()
            .and_then(|d| self.dhcp6(d, n, kind, address6, at));
        (address6, dhcp6)
    }

    /// `[network.dhcp6]`.
    fn dhcp6(
        &mut self,
        d: &S<RawDhcp6>,
        n: &RawNetwork,
        kind: Option<NetworkKind>,
        address6: Option<Ipv6Cidr>,
        at: &str,
    ) -> Option<Dhcp6> {
        let field = format!("{at}.dhcp6");
        if let Some(k @ (NetworkKind::Bridge | NetworkKind::Internal)) = kind {
            self.err(
                d.span(),
                &field,
                format!(
                    "[network.dhcp6] is not for kind {:?}: hvnet advertises and serves IPv6 only on networks it is the router of",
                    k.as_str()
                ),
            );
            return None;
        }
        let Some(address6) = address6 else {
            if n.address6.is_none() {
                self.err(
                    d.span(),
                    &field,
                    "[network.dhcp6] needs `address6`: dnsmasq advertises the prefix of the host's IPv6 address on the bridge",
                );
            }
            return None;
        };
        let d = d.get_ref();
        let mode = match d.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
            None | Some((_, "slaac")) => Dhcp6Mode::Slaac,
            Some((_, "stateful")) => Dhcp6Mode::Stateful,
            Some((m, other)) => {
                self.err(
                    m.span(),
                    &format!("{field}.mode"),
                    format!("unknown mode {other:?}; expected \"slaac\" or \"stateful\""),
                );
                return None;
            }
        };
        let mut ok = true;
        if mode == Dhcp6Mode::Slaac {
            if address6.prefix_len() != 64 {
                let span = n.address6.as_ref().map_or(0..0, S::span);
                self.err(
                    span,
                    &format!("{at}.address6"),
                    format!("{address6} is a /{}: SLAAC needs a /64 prefix (use a /64, or [network.dhcp6] mode = \"stateful\")", address6.prefix_len()),
                );
                ok = false;
            }
            let stateful_only = [
                ("range", d.range.as_ref().map(S::span)),
                ("host", d.host.first().map(S::span)),
            ];
            for (key, span) in stateful_only {
                if let Some(span) = span {
                    self.err(
                        span,
                        &format!("{field}.{key}"),
                        format!("`{key}` is for mode = \"stateful\" (DHCPv6); with SLAAC guests make their own addresses"),
                    );
                    ok = false;
                }
            }
        }
        let range = match &d.range {
            Some(r) if mode == Dhcp6Mode::Stateful => {
                let rf = format!("{field}.range");
                let range = self.typed::<Ipv6Range>(r, &rf);
                match range {
                    Some(x) if !x.within(&address6) => {
                        self.err(
                            r.span(),
                            &rf,
                            format!("range {x} is not inside the prefix {}", address6.trunc()),
                        );
                        ok = false;
                        None
                    }
                    Some(x) if x.contains(address6.addr()) => {
                        self.err(
                            r.span(),
                            &rf,
                            format!("range {x} holds the host's own address {}", address6.addr()),
                        );
                        ok = false;
                        None
                    }
                    None => {
                        ok = false;
                        None
                    }
                    x => x,
                }
            }
            _ => None,
        };
        let mut hosts = Vec::new();
        let mut macs: HashMap<MacAddr, usize> = HashMap::new();
        let mut ips: HashMap<Ipv6Addr, usize> = HashMap::new();
        for (k, h) in d
            .host
            .iter()
            .enumerate()
            .filter(|_| mode == Dhcp6Mode::Stateful)
        {
            let h = h.get_ref();
            let hf = format!("{field}.host[{k}]");
            let mac = self.unicast_mac(&h.mac, &format!("{hf}.mac"));
            let ip = self.ipv6(&h.ip, &format!("{hf}.ip")).filter(|ip| {
                let whose = format!("network {:?}", n.name.get_ref());
                self.guest_ip6(*ip, h.ip.span(), &format!("{hf}.ip"), address6, &whose)
            });
            let name = self.dns_name(h.name.as_ref(), &format!("{hf}.name"), "host name", &mut ok);
            if let Some(m) = mac {
                if let Some(prev) = macs.insert(m, k) {
                    self.err(
                        h.mac.span(),
                        &format!("{hf}.mac"),
                        format!("duplicate MAC {m} (also {field}.host[{prev}])"),
                    );
                    ok = false;
                }
            }
            if let Some(i) = ip {
                if let Some(prev) = ips.insert(i, k) {
                    self.err(
                        h.ip.span(),
                        &format!("{hf}.ip"),
                        format!("duplicate ip {i} (also {field}.host[{prev}])"),
                    );
                    ok = false;
                }
            }
            match (mac, ip) {
                (Some(mac), Some(ip)) => hosts.push(Dhcp6Host { mac, ip, name }),
                _ => ok = false,
            }
        }
        ok.then_some(Dhcp6 { mode, range, hosts })
    }

    /// A guest's fixed IPv6 address on a network with host address `address6`.
    fn guest_ip6(
        &mut self,
        ip: Ipv6Addr,
        span: Range<usize>,
        field: &str,
        address6: Ipv6Cidr,
        network: &str,
    ) -> bool {
        let problem = if !address6.contains(ip) {
            format!(
                "{ip} is outside the prefix {} of {network}",
                address6.trunc()
            )
        } else if let Some(why) = not_unicast6(ip) {
            format!("{ip} is {why}, not a guest address")
        } else if ip == address6.addr() {
            format!("{ip} is the host's own address on {network}")
        } else if ip == address6.network() {
            format!(
                "{ip} is the subnet-router anycast address of {}, not a host address",
                address6.trunc()
            )
        } else {
            return true;
        };
        self.err(span, field, problem);
        false
    }

    /// Networks' IPv6 prefixes do not overlap.
    pub(super) fn check_networks6(&mut self, raw: &[S<RawNetwork>], nets: &[(usize, Network)]) {
        for (a, (i, n)) in nets.iter().enumerate() {
            for (j, m) in nets.iter().skip(a + 1) {
                let (Some(x), Some(y)) = (n.address6, m.address6) else {
                    continue;
                };
                if x.overlaps(&y) {
                    let span = raw[*j].get_ref().address6.as_ref().map_or(0..0, S::span);
                    self.err(
                        span,
                        &format!("network[{j}].address6"),
                        format!("prefix of {y} overlaps network[{i}] ({x})"),
                    );
                }
            }
        }
    }

    /// Every NIC `ip6`: on a network with stateful DHCPv6, inside its prefix, not taken by
    /// a static host or another NIC, its MAC not reserved by a static host.
    pub(super) fn check_guest_ip6(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        guests: &[(usize, Guest, FileIndex)],
    ) {
        let mut taken: HashMap<(&str, Ipv6Addr), String> = HashMap::new();
        let mut reserved: HashMap<(&str, MacAddr), String> = HashMap::new();
        for (i, n) in nets {
            for (k, h) in n.dhcp6.iter().flat_map(|d| d.hosts.iter()).enumerate() {
                let owner = format!("network[{i}].dhcp6.host[{k}]");
                taken.insert((n.name.as_str(), h.ip), owner.clone());
                reserved.insert((n.name.as_str(), h.mac), owner);
            }
        }
        for (gi, g, idx) in guests {
            let rg = raw.guest[*gi].get_ref();
            for (nic, &ri) in g.nics.iter().zip(&idx.nics) {
                let (Some(ip), Some(rip)) = (nic.ip6, &rg.nic[ri].get_ref().ip6) else {
                    continue;
                };
                let at = format!("guest[{gi}].nic[{ri}]");
                let field = format!("{at}.ip6");
                let Some((_, net)) = nets.iter().find(|(_, n)| n.name == nic.network) else {
                    continue;
                };
                let stateful = net
                    .dhcp6
                    .as_ref()
                    .is_some_and(|d| d.mode == Dhcp6Mode::Stateful);
                let (Some(address6), true) = (net.address6, stateful) else {
                    self.err(
                        rip.span(),
                        &field,
                        format!(
                            "network {:?} serves no DHCPv6: a fixed `ip6` needs its `address6` and [network.dhcp6] mode = \"stateful\"",
                            net.name
                        ),
                    );
                    continue;
                };
                let whose = format!("network {:?}", net.name);
                if !self.guest_ip6(ip, rip.span(), &field, address6, &whose) {
                    continue;
                }
                let owner = format!("{at} (guest {:?})", g.name);
                if let Some(prev) = taken.get(&(net.name.as_str(), ip)) {
                    self.err(
                        rip.span(),
                        &field,
                        format!("duplicate ip6: {ip} is already reserved by {prev}"),
                    );
                    continue;
                }
                taken.insert((net.name.as_str(), ip), owner.clone());
                if let Some(prev) = reserved.get(&(net.name.as_str(), nic.mac)) {
                    self.err(
                        rip.span(),
                        &field,
                        format!(
                            "MAC {} is already reserved by {prev}; a NIC with a fixed `ip6` gets its own DHCPv6 reservation",
                            nic.mac
                        ),
                    );
                    continue;
                }
                reserved.insert((net.name.as_str(), nic.mac), owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Dhcp6Mode};

    const NET: &str = "[[network]]\nname = \"n\"\nkind = \"nat\"\nbridge = \"br6\"\naddress = \"10.6.0.1/24\"\naddress6 = \"fd42:100::1/64\"\n";

    fn errs(text: &str) -> Vec<String> {
        match Config::parse(text, "h.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    fn one(text: &str, starts: &str, fragment: &str) {
        let e = errs(text);
        assert!(
            e.iter()
                .any(|l| l.starts_with(starts) && l.contains(fragment)),
            "want {starts} … {fragment}, got {e:#?}"
        );
    }

    #[test]
    fn dual_stack_network_and_nic() {
        let c = Config::parse(
            &format!("{NET}[network.dhcp6]\nmode = \"stateful\"\nrange = \"fd42:100::100-fd42:100::1ff\"\n[[network.dhcp6.host]]\nmac = \"52:54:00:00:00:09\"\nip = \"fd42:100::9\"\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\nip6 = \"fd42:100::10\"\n"),
            "h.toml",
        )
        .unwrap();
        let n = &c.networks[0];
        assert_eq!(n.address6.unwrap().to_string(), "fd42:100::1/64");
        let d = n.dhcp6.as_ref().unwrap();
        assert_eq!(d.mode, Dhcp6Mode::Stateful);
        assert_eq!(d.range.unwrap().to_string(), "fd42:100::100-fd42:100::1ff");
        assert_eq!(d.hosts.len(), 1);
        assert_eq!(
            c.guests[0].nics[0].ip6,
            Some("fd42:100::10".parse().unwrap())
        );
        let c = Config::parse(&format!("{NET}[network.dhcp6]\n"), "h.toml").unwrap();
        assert_eq!(c.networks[0].dhcp6.as_ref().unwrap().mode, Dhcp6Mode::Slaac);
    }

    #[test]
    fn nat6_is_for_nat_networks_with_address6() {
        let c = Config::parse(&format!("{NET}nat6 = true\n"), "h.toml").unwrap();
        assert!(c.networks[0].nat6);
        assert!(!Config::parse(NET, "h.toml").unwrap().networks[0].nat6);
        one(
            "[[network]]\nname = \"n\"\nkind = \"nat\"\nbridge = \"br6\"\naddress = \"10.6.0.1/24\"\nnat6 = true\n",
            "h.toml:6:8: network[0].nat6:",
            "needs `address6`",
        );
        one(
            &format!("{}nat6 = true\n", NET.replace("\"nat\"", "\"routed\"")),
            "h.toml:7:8: network[0].nat6:",
            "only for kind = \"nat\", not \"routed\"",
        );
    }

    #[test]
    fn every_rule_names_file_line_column_and_field() {
        let v6 = NET.replace("/64", "/80");
        one(
            &format!("{v6}[network.dhcp6]\n"),
            "h.toml:6:12: network[0].address6:",
            "SLAAC needs a /64",
        );
        one(
            &format!("{NET}[network.dhcp6]\nmode = \"stateful\"\nrange = \"fd42:101::100-fd42:101::1ff\"\n"),
            "h.toml:9:9: network[0].dhcp6.range:",
            "not inside the prefix fd42:100::/64",
        );
        one(
            &format!("{NET}[network.dhcp6]\nrange = \"fd42:100::100-fd42:100::1ff\"\n"),
            "h.toml:8:9: network[0].dhcp6.range:",
            "mode = \"stateful\"",
        );
        one(
            "[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br6\"\naddress6 = \"fd42::1/64\"\n",
            "h.toml:5:12: network[0].address6:",
            "internal network has no host address",
        );
        one(
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br6\"\n[network.dhcp6]\n",
            "h.toml:5:1: network[0].dhcp6:",
            "needs `address6`",
        );
        one(
            &NET.replace("fd42:100::1/64", "fe80::1/64"),
            "h.toml:6:12: network[0].address6:",
            "link-local",
        );
        one(
            &NET.replace("fd42:100::1/64", "fd42:100::/64"),
            "h.toml:6:12: network[0].address6:",
            "anycast",
        );
        one(
            &NET.replace("fd42:100::1/64", "fd42:100::1"),
            "h.toml:6:12: network[0].address6:",
            "no prefix length",
        );
        one(
            &format!("{NET}[network.dhcp6]\nmode = \"dhcp\"\n"),
            "h.toml:8:8: network[0].dhcp6.mode:",
            "expected \"slaac\" or \"stateful\"",
        );
        let nic = |ip6: &str| {
            format!("{NET}[network.dhcp6]\nmode = \"stateful\"\n[[network.dhcp6.host]]\nmac = \"52:54:00:00:00:09\"\nip = \"fd42:100::9\"\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\nip6 = \"{ip6}\"\n")
        };
        one(
            &nic("fd42:100::9"),
            "h.toml:16:7: guest[0].nic[0].ip6:",
            "duplicate ip6",
        );
        one(
            &nic("fd42:200::9"),
            "h.toml:16:7: guest[0].nic[0].ip6:",
            "outside the prefix",
        );
        one(
            &nic("fd42:100::1"),
            "h.toml:16:7: guest[0].nic[0].ip6:",
            "host's own address",
        );
        one(
            &format!("{NET}[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\nip6 = \"fd42:100::5\"\n"),
            "h.toml:11:7: guest[0].nic[0].ip6:",
            "serves no DHCPv6",
        );
        one(
            &format!("{NET}[[network]]\nname = \"m\"\nkind = \"isolated\"\nbridge = \"br7\"\naddress6 = \"fd42:100::2/48\"\n"),
            "h.toml:11:12: network[1].address6:",
            "overlaps network[0]",
        );
    }
}
