//! Validation of `kind = "direct"` networks and of the guest NICs on them.

use std::collections::HashMap;

use super::super::raw::{RawConfig, RawNetwork, S};
use super::super::{DirectNetwork, Guest, Network, NetworkKind, NicType};
use super::{FileIndex, Validator};
use crate::macvtap::MacvtapMode;
use crate::types::IfName;

impl Validator<'_> {
    /// `uplinks` and `mode` belong to direct networks only.
    pub(super) fn direct_only_fields(&mut self, n: &RawNetwork, at: &str) {
        let kind = n.kind.get_ref();
        for (field, span) in [
            ("uplinks", n.uplinks.as_ref().map(|u| u.span())),
            ("mode", n.mode.as_ref().map(|m| m.span())),
        ] {
            if let Some(span) = span {
                self.err(
                    span,
                    &format!("{at}.{field}"),
                    format!("`{field}` is only for kind = \"direct\" (macvtap), not {kind:?}"),
                );
            }
        }
    }

    /// One `[[network]]` of `kind = "direct"`.
    pub(super) fn direct_network(
        &mut self,
        spanned: &S<RawNetwork>,
        at: &str,
    ) -> Option<DirectNetwork> {
        let n = spanned.get_ref();
        let name = self.name(&n.name, &format!("{at}.name"), "network");
        self.no_vf_fields(n, at);
        // What a direct network has no use for: it makes no bridge and serves nothing.
        let unused = [
            ("bridge", n.bridge.as_ref().map(|s| s.span()), "it makes no bridge: each guest NIC is a macvtap on the uplink"),
            ("address", n.address.as_ref().map(|s| s.span()), "the host has no address on it (its address on the uplink is the uplink's own)"),
            ("address6", n.address6.as_ref().map(|s| s.span()), "the host has no address on it (its address on the uplink is the uplink's own)"),
            ("stp", n.stp.as_ref().map(|s| s.span()), "it makes no bridge"),
            ("forward_delay", n.forward_delay.as_ref().map(|s| s.span()), "it makes no bridge"),
            ("lifetime", n.lifetime.as_ref().map(|s| s.span()), "it makes no bridge"),
            ("host_ip", n.host_ip.as_ref().map(|s| s.span()), "the uplink is not enslaved: its addresses stay where they are"),
            ("gateway", n.gateway.as_ref().map(|s| s.span()), "the host has no address on it"),
            ("replicate_mac", n.replicate_mac.as_ref().map(|s| s.span()), "each macvtap already carries its guest's MAC on the LAN"),
            ("mac", n.mac.as_ref().map(|s| s.span()), "it makes no bridge"),
            ("rate", n.rate.as_ref().map(|s| s.span()), "it makes no bridge to limit; give the NICs a `rate`"),
            ("nat_ports", n.nat_ports.as_ref().map(|s| s.span()), "its guests are not masqueraded"),
            ("dhcp", n.dhcp.as_ref().map(|s| s.span()), "hvnet's dnsmasq would have no bridge to serve it on, and in bridge or vepa mode the guests cannot reach this host at all (seed 004); the guests get DHCP from the uplink's LAN"),
            ("dhcp6", n.dhcp6.as_ref().map(|s| s.span()), "hvnet's dnsmasq would have no bridge to advertise on; the guests get their IPv6 addresses from the uplink's LAN"),
        ];
        for (field, span, why) in unused {
            if let Some(span) = span {
                self.err(
                    span,
                    &format!("{at}.{field}"),
                    format!("`{field}` is not for kind = \"direct\": {why}"),
                );
            }
        }
        let mut uplinks: Vec<IfName> = Vec::new();
        match (&n.uplink, &n.uplinks) {
            (Some(u), Some(us)) => self.err(
                us.span(),
                &format!("{at}.uplinks"),
                format!(
                    "give either `uplink` or `uplinks`, not both (uplink = {:?})",
                    u.get_ref()
                ),
            ),
            (None, None) => self.err(
                n.kind.span(),
                &format!("{at}.uplink"),
                "a network of kind \"direct\" needs `uplink` (or a pool, `uplinks`): the NIC its guests' macvtaps sit on",
            ),
            (Some(u), None) => uplinks.extend(self.typed::<IfName>(u, &format!("{at}.uplink"))),
            (None, Some(us)) => {
                if us.get_ref().is_empty() {
                    self.err(
                        us.span(),
                        &format!("{at}.uplinks"),
                        "`uplinks` is empty: name at least one NIC",
                    );
                }
                for (k, u) in us.get_ref().iter().enumerate() {
                    let field = format!("{at}.uplinks[{k}]");
                    let Some(name) = self.typed::<IfName>(u, &field) else {
                        continue;
                    };
                    if uplinks.contains(&name) {
                        self.err(
                            u.span(),
                            &field,
                            format!("uplink {:?} is listed twice", name.as_str()),
                        );
                        continue;
                    }
                    uplinks.push(name);
                }
            }
        }
        let mode = match &n.mode {
            None => Some(DirectNetwork::DEFAULT_MODE),
            Some(m) => self.typed::<MacvtapMode>(m, &format!("{at}.mode")),
        };
        let mtu = self.mtu(n, at);
        if uplinks.is_empty() {
            return None;
        }
        Some(DirectNetwork {
            name: name?,
            uplinks,
            mode: mode?,
            mtu,
        })
    }

    /// Rules across direct networks, the bridged networks and the guests: unique network
    /// names, uplinks no bridge holds, and NICs a macvtap can be.
    pub(super) fn check_direct(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        direct: &[(usize, DirectNetwork)],
        guests: &[(usize, Guest, FileIndex)],
    ) {
        // Bridged networks and VF pools, by name (the pools are in the raw file only).
        let mut names: HashMap<&str, usize> = nets
            .iter()
            .map(|(i, n)| (n.name.as_str(), *i))
            .chain(raw.network.iter().enumerate().filter_map(|(i, r)| {
                let r = r.get_ref();
                super::hostdev::is_pool(r).then(|| (r.name.get_ref().as_str(), i))
            }))
            .collect();
        for (i, d) in direct {
            let r = raw.network[*i].get_ref();
            if let Some(first) = names.insert(&d.name, *i) {
                self.err(
                    r.name.span(),
                    &format!("network[{i}].name"),
                    format!(
                        "duplicate network name {:?} (also network[{first}])",
                        d.name
                    ),
                );
            }
            let uplink_span = |k: usize| {
                r.uplink
                    .as_ref()
                    .map(|u| u.span())
                    .or_else(|| {
                        r.uplinks
                            .as_ref()
                            .and_then(|us| us.get_ref().get(k).map(|u| u.span()))
                    })
                    .unwrap_or(0..0)
            };
            for (k, u) in d.uplinks.iter().enumerate() {
                let field = if r.uplink.is_some() {
                    format!("network[{i}].uplink")
                } else {
                    format!("network[{i}].uplinks[{k}]")
                };
                // A bridge port's frames belong to its bridge: the kernel refuses a macvtap
                // on it (EBUSY). A network's bridge itself may carry macvtaps.
                if let Some((j, _)) = nets
                    .iter()
                    .find(|(_, m)| m.kind == NetworkKind::Bridge && m.uplink.as_ref() == Some(u))
                {
                    self.err(
                        uplink_span(k),
                        &field,
                        format!("interface {:?} is enslaved to the bridge of network[{j}]; a macvtap cannot sit on a bridge port (use that bridge as the uplink)", u.as_str()),
                    );
                }
                if d.mode == MacvtapMode::Passthrough {
                    if let Some((j, _)) =
                        direct.iter().find(|(j, m)| j != i && m.uplinks.contains(u))
                    {
                        self.err(
                            uplink_span(k),
                            &field,
                            format!("passthrough gives the whole of {:?} to one guest NIC, but network[{j}] uses it too", u.as_str()),
                        );
                    }
                }
            }
        }
        let uplinks: HashMap<&str, usize> = direct
            .iter()
            .flat_map(|(i, d)| d.uplinks.iter().map(move |u| (u.as_str(), *i)))
            .collect();
        let mut passthrough: HashMap<&str, usize> = HashMap::new();
        for (gi, g, idx) in guests {
            let rg = raw.guest[*gi].get_ref();
            if let Some((ni, _)) = direct.iter().find(|(_, d)| d.name == g.name) {
                self.err(
                    rg.name.span(),
                    &format!("guest[{gi}].name"),
                    format!("guest name {:?} is also the name of network[{ni}]; owner tags hvnet:<name> must be unambiguous", g.name),
                );
            }
            for (k, (nic, &ri)) in g.nics.iter().zip(&idx.nics).enumerate() {
                let clash = nic.ifname.as_ref().and_then(|n| uplinks.get(n.as_str()));
                if let (Some(j), Some(span)) = (clash, rg.nic[ri].get_ref().ifname.as_ref()) {
                    self.err(
                        span.span(),
                        &format!("guest[{gi}].nic[{ri}].ifname"),
                        format!(
                            "interface {:?} is the uplink of network[{j}]",
                            span.get_ref()
                        ),
                    );
                }
                let Some((_, d)) = direct.iter().find(|(_, d)| d.name == nic.network) else {
                    continue;
                };
                let rn = rg.nic[ri].get_ref();
                let at = format!("guest[{gi}].nic[{ri}]");
                let net_span = rn.network.as_ref().map_or(0..0, |s| s.span());
                if let NicType::Veth { .. } = nic.kind {
                    let span = rn.kind.as_ref().map_or(net_span.clone(), |s| s.span());
                    self.err(
                        span,
                        &format!("{at}.type"),
                        format!("network {:?} is direct: its NICs are macvtaps for QEMU (type = \"tap\"), not veths", d.name),
                    );
                }
                if let Some(ip) = &rn.ip {
                    self.err(
                        ip.span(),
                        &format!("{at}.ip"),
                        format!("network {:?} is direct: the guest's address comes from the uplink's LAN, and hvnet serves no DHCP there", d.name),
                    );
                }
                if let Some(ip6) = &rn.ip6 {
                    self.err(
                        ip6.span(),
                        &format!("{at}.ip6"),
                        format!("network {:?} is direct: the guest's address comes from the uplink's LAN, and hvnet serves no DHCPv6 there", d.name),
                    );
                }
                if d.mode == MacvtapMode::Passthrough {
                    let used = passthrough.entry(d.name.as_str()).or_insert(0);
                    *used += 1;
                    if *used > d.uplinks.len() {
                        self.err(
                            net_span.clone(),
                            &format!("{at}.network"),
                            format!(
                                "network {:?} is passthrough with {} uplink(s), one per guest NIC: this is NIC number {} on it",
                                d.name,
                                d.uplinks.len(),
                                used
                            ),
                        );
                    }
                }
                for (f, &rfi) in g.forwards.iter().zip(&idx.forwards) {
                    if f.nic != k {
                        continue;
                    }
                    let rf = &rg.forward[rfi];
                    let span = rf.get_ref().nic.as_ref().map_or(rf.span(), |n| n.span());
                    self.err(
                        span,
                        &format!("guest[{gi}].forward[{rfi}].nic"),
                        format!("port forward to {at} on direct network {:?}: forwards need a network of kind \"nat\" or \"routed\" (a macvtap guest is not behind this host)", d.name),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::macvtap::MacvtapMode;

    const LAN: &str = "[[network]]\nname = \"lan\"\nkind = \"direct\"\nuplink = \"eth0\"\n";

    /// The diagnostics of `text`, one string each.
    fn errs(text: &str) -> Vec<String> {
        match Config::parse(text, "h.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn one(text: &str, want: &str) {
        let e = errs(text);
        assert!(
            e.iter().any(|m| m.contains(want)),
            "wanted {want:?} in {e:?}"
        );
    }

    #[test]
    fn defaults_and_pools() {
        let cfg = Config::parse(LAN, "h.toml").unwrap();
        assert_eq!(cfg.direct[0].mode, MacvtapMode::Vepa);
        assert!(cfg.networks.is_empty());
        let pool = "[[network]]\nname='lan'\nkind='direct'\nuplinks=['eth0','eth1']\nmode='private'\nmtu=9000\n";
        let cfg = Config::parse(pool, "h.toml").unwrap();
        let names: Vec<&str> = cfg.direct[0].uplinks.iter().map(|u| u.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(cfg.direct[0].mtu, Some(9000));
    }

    #[test]
    fn what_a_direct_network_refuses() {
        one(
            &format!("{LAN}bridge = \"br0\"\n"),
            "h.toml:5:10: network[0].bridge: `bridge` is not for kind = \"direct\"",
        );
        one(
            &format!("{LAN}address = \"10.0.0.1/24\"\n"),
            "network[0].address: `address` is not for kind = \"direct\"",
        );
        one(
            &format!("{LAN}[network.dhcp]\n"),
            "network[0].dhcp: `dhcp` is not for kind = \"direct\"",
        );
        one(
            &format!("{LAN}address6 = \"fd42::1/64\"\n"),
            "network[0].address6: `address6` is not for kind = \"direct\"",
        );
        one(
            &format!("{LAN}uplinks = [\"eth1\"]\n"),
            "network[0].uplinks: give either `uplink` or `uplinks`",
        );
        one(
            "[[network]]\nname='lan'\nkind='direct'\nuplinks=[]\n",
            "`uplinks` is empty",
        );
        one(
            "[[network]]\nname='lan'\nkind='direct'\nuplinks=['eth0','eth0']\n",
            "h.toml:4:17: network[0].uplinks[1]: uplink \"eth0\" is listed twice",
        );
        one(
            "[[network]]\nname='lan'\nkind='direct'\nuplink='bad/name'\n",
            "network[0].uplink:",
        );
        one(
            &format!("{LAN}mtu = 10\n"),
            "network[0].mtu: MTU 10 is out of range",
        );
        one("[[network]]\nname='n'\nkind='nat'\nbridge='br0'\naddress='10.0.0.1/24'\nmode='bridge'\n", "network[0].mode: `mode` is only for kind = \"direct\"");
        one(
            "[[network]]\nname='n'\nkind='isolated'\n",
            "network[0].bridge: a network of kind \"isolated\" needs `bridge`",
        );
        one(
            &format!("{LAN}pf = \"eth9\"\n"),
            "network[0].pf: `pf` is only for kind = \"hostdev\"",
        );
        one(
            "[[network]]\nname='p'\nkind='hostdev'\npf='eth9'\nmode='bridge'\n",
            "network[0].mode: `mode` is only for kind = \"direct\"",
        );
        one(
            &format!("{LAN}[[network]]\nname='lan'\nkind='hostdev'\npf='eth9'\n"),
            "duplicate network name \"lan\"",
        );
    }

    #[test]
    fn uplinks_no_bridge_holds() {
        one(
            &format!("{LAN}[[network]]\nname='b'\nkind='bridge'\nbridge='br0'\nuplink='eth0'\n"),
            "is enslaved to the bridge of network[1]; a macvtap cannot sit on a bridge port",
        );
        // A network's bridge itself may carry macvtaps.
        let ok = "[[network]]\nname='lan'\nkind='direct'\nuplink='br0'\n[[network]]\nname='b'\nkind='internal'\nbridge='br0'\n";
        assert!(errs(ok).is_empty(), "{:?}", errs(ok));
        one(
            "[[network]]\nname='a'\nkind='direct'\nuplink='eth0'\nmode='passthrough'\n[[network]]\nname='b'\nkind='direct'\nuplink='eth0'\n",
            "passthrough gives the whole of \"eth0\" to one guest NIC, but network[1] uses it too",
        );
        one(
            &format!("{LAN}[[network]]\nname='lan'\nkind='internal'\nbridge='br0'\n"),
            "duplicate network name \"lan\"",
        );
    }

    #[test]
    fn nics_on_a_direct_network() {
        one(
            &format!(
                "{LAN}[[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\ntype='veth'\nnetns='g'\n"
            ),
            "guest[0].nic[0].type: network \"lan\" is direct",
        );
        one(
            &format!("{LAN}[[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\nip='10.0.0.5'\n"),
            "guest[0].nic[0].ip: network \"lan\" is direct",
        );
        one(
            &format!("{LAN}[[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\nifname='eth0'\n"),
            "guest[0].nic[0].ifname: interface \"eth0\" is the uplink of network[0]",
        );
        one(
            &format!("{LAN}[[guest]]\nname='lan'\n"),
            "guest[0].name: guest name \"lan\" is also the name of network[0]",
        );
        one(&format!("{LAN}[[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\n[[guest.forward]]\nhost_port=80\n"), "port forward needs a fixed ip");
        let ok = format!("{LAN}[[guest]]\nname='g'\n[[guest.nic]]\nnetwork='lan'\nqueues=4\nowner=107\ngroup=36\nrate='100mbit'\n");
        assert!(errs(&ok).is_empty(), "{:?}", errs(&ok));
    }
}
