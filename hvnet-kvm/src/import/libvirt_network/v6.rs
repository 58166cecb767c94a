//! A libvirt network's IPv6 `<ip family='ipv6' address prefix>` → `address6` and
//! `[network.dhcp6]`: without `<dhcp>` libvirt's dnsmasq only advertises the prefix
//! (`mode = "slaac"`, a /64); with `<dhcp><range>` it serves stateful DHCPv6
//! (`mode = "stateful"`, `range`). A `<host>` is reserved by MAC when its `id` is a
//! DUID-LL or DUID-LLT over Ethernet (it carries the MAC); one matched by name or by
//! another DUID is warned.

use std::net::Ipv6Addr;

use roxmltree::Node;

use super::Reader;
use hvnet_core::dhcp::is_dns_name;
use hvnet_core::dhcp6::duid_mac;
use hvnet_core::types::{Ipv6Cidr, Ipv6Range, MacAddr};

/// What hvnet takes from the IPv6 `<ip>`'s `<dhcp>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dhcp6 {
    /// `<range start end>`: stateful DHCPv6 from it.
    pub range: Option<Ipv6Range>,
    /// `<host id ip name>` whose DUID carries a MAC.
    pub hosts: Vec<(MacAddr, Ipv6Addr, Option<String>)>,
}

impl Reader<'_, '_> {
    /// An IPv6 `<ip>`: the host's address and its DHCPv6, if any.
    pub(super) fn ip6(&mut self, ip: Node<'_, '_>) -> Option<(Ipv6Cidr, Option<Dhcp6>)> {
        let addr = self.req(ip, "address", |v| {
            v.parse::<Ipv6Addr>()
                .map_err(|_| format!("{v:?} is not an IPv6 address"))
        });
        let prefix = self.attr(ip, "prefix", |v| match v.parse::<u8>() {
            Ok(p @ 1..=127) => Ok(p),
            _ => Err(format!("prefix {v:?} is not 1 to 127")),
        });
        // libvirt's default IPv6 prefix is 64.
        let prefix = match ip.attribute("prefix") {
            Some(_) => prefix?,
            None => 64,
        };
        let cidr = Ipv6Cidr::new(addr?, prefix).ok()?;
        self.other_attrs(
            ip,
            &["address", "prefix", "family"],
            &[("localPtr", "hvnet's dnsmasq never forwards, so every reverse lookup is answered locally already")],
        );
        let mut dhcp = None;
        for c in ip.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "dhcp" if dhcp.is_none() => dhcp = Some(self.dhcp6(c, cidr)),
                "dhcp" => self.skip(c, "a second <dhcp>"),
                other => self.skip(c, format!("<{other}> has no hvnet equivalent")),
            }
        }
        Some((cidr, dhcp))
    }

    fn dhcp6(&mut self, d: Node<'_, '_>, cidr: Ipv6Cidr) -> Dhcp6 {
        let mut out = Dhcp6::default();
        let v6 = |v: &str| {
            v.parse::<Ipv6Addr>()
                .map_err(|_| format!("{v:?} is not an IPv6 address"))
        };
        for c in d.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "range" if out.range.is_some() => {
                    self.skip(c, "hvnet takes one DHCPv6 range per network");
                }
                "range" => {
                    self.other_attrs(c, &["start", "end"], &[]);
                    let (Some(s), Some(e)) = (self.req(c, "start", v6), self.req(c, "end", v6))
                    else {
                        continue;
                    };
                    match Ipv6Range::new(s, e) {
                        Ok(r) if r.within(&cidr) && !r.contains(cidr.addr()) => {
                            out.range = Some(r);
                        }
                        Ok(r) => self.err(
                            c,
                            format!(
                                "range {r} is not inside {} or holds the bridge's own address",
                                cidr.trunc()
                            ),
                        ),
                        Err(_) => self.err(c, format!("range {s}-{e} is empty (start > end)")),
                    }
                }
                "host" => {
                    self.other_attrs(c, &["id", "ip", "name"], &[]);
                    let Some(ip) = self.req(c, "ip", v6) else {
                        continue;
                    };
                    if !cidr.contains(ip) || ip == cidr.addr() {
                        self.err_attr(
                            c,
                            "ip",
                            format!("{ip} is not a guest address of {}", cidr.trunc()),
                        );
                        continue;
                    }
                    let Some(mac) = c.attribute("id").and_then(duid_mac) else {
                        self.skip(
                            c,
                            format!("hvnet reserves IPv6 addresses by MAC; this <host> has no DUID-LL/LLT id that carries one ({ip})"),
                        );
                        continue;
                    };
                    let name = c
                        .attribute("name")
                        .filter(|n| is_dns_name(n))
                        .map(str::to_string);
                    out.hosts.push((mac, ip, name));
                }
                other => self.skip(c, format!("<{other}> has no hvnet equivalent")),
            }
        }
        out
    }
}
