//! Turning the raw TOML into a [`Config`], collecting every problem with its location.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::str::FromStr;

use super::diag::{ConfigError, Diagnostic, Locator};
use super::raw::{RawConfig, RawGuest, RawNetwork, RawNic, S};
use super::{
    Accounts, Config, Guest, HostSettings, Lifetime, Network, NetworkKind, Nic, NicRate, NicType,
};
use crate::types::{ByteSize, IfName, Ipv4Cidr, MacAddr, MacPrefix, RateSpec};

/// Longest network, guest or namespace name.
const MAX_NAME: usize = 64;

/// Ports a Linux bridge can hold (BR_MAX_PORTS is 1024 and port number 0 is reserved).
pub const MAX_BRIDGE_PORTS: usize = 1023;

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
        accounts,
    };
    let cfg = v.config(raw);
    if v.diags.is_empty() {
        Ok(cfg)
    } else {
        v.diags.sort_by_key(|d| (d.line, d.column));
        Err(ConfigError {
            diagnostics: v.diags,
        })
    }
}

struct Validator<'a> {
    loc: &'a Locator<'a>,
    diags: Vec<Diagnostic>,
    accounts: &'a dyn Accounts,
}

impl Validator<'_> {
    fn err(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        self.diags
            .push(self.loc.at(span, field.to_string(), message.into()));
    }

    /// Parses a spanned string with `FromStr`, reporting the type's own message.
    fn typed<T>(&mut self, s: &S<String>, field: &str) -> Option<T>
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

    fn name(&mut self, s: &S<String>, field: &str, what: &str) -> Option<String> {
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
            },
            None => HostSettings::default(),
        };
        let mut networks = Vec::new();
        for (i, n) in raw.network.iter().enumerate() {
            if let Some(net) = self.network(n.get_ref(), &format!("network[{i}]")) {
                networks.push((i, net));
            }
        }
        self.check_networks(&raw.network, &networks);
        let mut guests = Vec::new();
        for (i, g) in raw.guest.iter().enumerate() {
            if let Some((guest, nic_idx)) =
                self.guest(g.get_ref(), &format!("guest[{i}]"), &host, &raw)
            {
                guests.push((i, guest, nic_idx));
            }
        }
        self.check_guests(&raw, &networks, &guests);
        Config {
            host,
            networks: networks.into_iter().map(|(_, n)| n).collect(),
            guests: guests.into_iter().map(|(_, g, _)| g).collect(),
        }
    }

    fn network(&mut self, n: &RawNetwork, at: &str) -> Option<Network> {
        let name = self.name(&n.name, &format!("{at}.name"), "network");
        let kind = match n.kind.get_ref().as_str() {
            "isolated" => Some(NetworkKind::Isolated),
            "internal" => Some(NetworkKind::Internal),
            "bridge" => Some(NetworkKind::Bridge),
            other => {
                self.err(
                    n.kind.span(),
                    &format!("{at}.kind"),
                    format!("unknown network kind {other:?}; expected one of: isolated, internal, bridge"),
                );
                None
            }
        };
        let bridge = self.typed::<IfName>(&n.bridge, &format!("{at}.bridge"));
        let address = n
            .address
            .as_ref()
            .and_then(|a| self.address(a, &format!("{at}.address")));
        let mtu = match &n.mtu {
            Some(m) if !(68..=65535).contains(m.get_ref()) => {
                self.err(
                    m.span(),
                    &format!("{at}.mtu"),
                    format!(
                        "MTU {} is out of range: must be between 68 and 65535",
                        m.get_ref()
                    ),
                );
                None
            }
            Some(m) => u32::try_from(*m.get_ref()).ok(),
            None => None,
        };
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
            (Some(k), Some(u)) if k != NetworkKind::Bridge => self.err(
                u.span(),
                &format!("{at}.uplink"),
                format!(
                    "`uplink` is only allowed with kind = \"bridge\", not {:?}",
                    k.as_str()
                ),
            ),
            _ => {}
        }
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
        Some(Network {
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
        })
    }

    fn address(&mut self, a: &S<String>, field: &str) -> Option<Ipv4Cidr> {
        let cidr = self.typed::<Ipv4Cidr>(a, field)?;
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

    fn forward_delay(&mut self, n: &RawNetwork, stp: bool, at: &str) -> Option<u32> {
        let field = format!("{at}.forward_delay");
        match &n.forward_delay {
            None => Some(if stp { 15 } else { 0 }),
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
                    r.bridge.span(),
                    &format!("network[{i}].bridge"),
                    format!(
                        "interface {:?} is already used as the {what} of network[{first}]",
                        n.bridge.as_str()
                    ),
                );
            }
            if let (Some(u), Some(ru)) = (&n.uplink, &r.uplink) {
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
    }

    /// A guest and, for each of its valid NICs, the index of that NIC in the file.
    fn guest(
        &mut self,
        g: &RawGuest,
        at: &str,
        host: &HostSettings,
        raw: &RawConfig,
    ) -> Option<(Guest, Vec<usize>)> {
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
        Some((Guest { name: name?, nics }, nic_idx))
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
        let network = n.network.get_ref().clone();
        if !raw
            .network
            .iter()
            .any(|r| r.get_ref().name.get_ref() == &network)
        {
            let known: Vec<&str> = raw
                .network
                .iter()
                .map(|r| r.get_ref().name.get_ref().as_str())
                .collect();
            self.err(
                n.network.span(),
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
        let kind_word = n.kind.as_ref().map_or("tap", |k| k.get_ref().as_str());
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
                    format!("unknown NIC type {other:?}; expected \"tap\" or \"veth\""),
                );
                None
            }
        };
        let (mac, mac_given) = match &n.mac {
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
                (mac, true)
            }
            None => (
                MacAddr::derive(&host.mac_prefix, &format!("{}/nic{index}", guest?)),
                false,
            ),
        };
        let rate = match &n.rate {
            Some(r) => self.nic_rate(r, &format!("{at}.rate"))?,
            None => NicRate::default(),
        };
        Some(Nic {
            network,
            kind: kind?,
            ifname,
            mac,
            mac_given,
            rate,
        })
    }

    /// `rate = "100mbit"` (both directions) or `rate = { egress = "…", ingress = "…",
    /// burst = "…" }` (guest's point of view; `burst` applies to both unless a direction
    /// names its own).
    fn nic_rate(&mut self, r: &S<toml::Value>, field: &str) -> Option<NicRate> {
        let spec = |v: &mut Self, text: &str, f: &str| match text.parse::<RateSpec>() {
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

    fn check_guests(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        guests: &[(usize, Guest, Vec<usize>)],
    ) {
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
            .map(|(_, n)| (n.name.as_str(), usize::from(n.uplink.is_some())))
            .collect();
        let mut peers: HashMap<(String, String), String> = HashMap::new();
        for (gi, g, nic_idx) in guests {
            let rg = raw.guest[*gi].get_ref();
            if let Some(first) = names.insert(&g.name, *gi) {
                self.err(
                    rg.name.span(),
                    &format!("guest[{gi}].name"),
                    format!("duplicate guest name {:?} (also guest[{first}])", g.name),
                );
            }
            if let Some((ni, _)) = nets.iter().find(|(_, n)| n.name == g.name) {
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
                            rn.network.span(),
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
                let span = rn.mac.as_ref().map_or(rn.network.span(), |s| s.span());
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
            }
        }
    }
}
