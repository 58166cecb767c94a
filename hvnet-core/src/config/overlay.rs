//! `[network.overlay]` and `[[overlay.host]]`: networks that span hosts over VXLAN.
//!
//! One file serves every host: `[[overlay.host]]` lists the hosts with their underlay
//! addresses, `[host] name` (or `--host-name`) says which one this is. A network's overlay
//! takes this host's address as its `local` and the others' as its `peers` unless the
//! network gives them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::raw::{RawConfig, RawNetwork, S};
use super::validate::{not_unicast, Validator};
use super::{Config, ConfigError, Diagnostic, Network, NetworkKind};
use crate::types::IfName;

/// Bytes VXLAN adds around a guest frame on an IPv4 underlay (outer IPv4 20, UDP 8, VXLAN
/// 8, inner Ethernet 14): a guest port's MTU is the underlay's minus this.
pub const VXLAN_OVERHEAD: u32 = 50;

/// The largest VNI (24 bits).
pub const MAX_VNI: u32 = 16_777_215;

/// The IANA VXLAN port.
pub const DEFAULT_VXLAN_PORT: u16 = 4789;

/// A VXLAN network identifier, 1–16777215.
///
/// ```
/// use hvnet_core::config::Vni;
/// assert_eq!(Vni::new(100).map(Vni::get), Some(100));
/// assert!(Vni::new(0).is_none() && Vni::new(16_777_216).is_none());
/// ```
#[derive(
    serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub struct Vni(u32);

impl Vni {
    /// The VNI `v`, if it is in 1–16777215.
    pub fn new(v: u32) -> Option<Vni> {
        (1..=MAX_VNI).contains(&v).then_some(Vni(v))
    }

    /// Its number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for Vni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How an overlay learns where the other hosts' guests are.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverlayControl {
    /// Static peers: head-end replication of broadcast and unknown traffic to every peer
    /// (all-zero forwarding entries), remote MACs learned from received packets.
    Static,
    /// BGP EVPN through FRR (`[overlay.evpn]`): remote MACs and flood lists come from BGP
    /// (zebra installs them), the device does not learn.
    Evpn,
}

/// `[network.overlay]`: the network's bridge reaches the other hosts through a VXLAN
/// device.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// The VNI.
    pub vni: Vni,
    /// This host's underlay address as given; `None`: this host's `[[overlay.host]]` address
    /// or the first IPv4 address of `underlay`.
    pub local: Option<Ipv4Addr>,
    /// The underlay interface the VXLAN device sends through.
    pub underlay: Option<IfName>,
    /// UDP destination port.
    pub port: u16,
    /// The peers as given; `None`: every `[[overlay.host]]` address but this host's.
    pub peers: Option<Vec<Ipv4Addr>>,
    /// Static peers or EVPN.
    pub control: OverlayControl,
    /// The VXLAN device learns remote MACs (`learning`; `nolearning` when false).
    pub learning: bool,
}

/// One `[[overlay.host]]`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OverlayHost {
    /// Its name (`[host] name` on it).
    pub name: String,
    /// Its underlay address.
    pub address: Ipv4Addr,
}

impl Config {
    /// The config as host `name` reads it (`--host-name` overrides `[host] name`), with the
    /// checks that depend on which host this is.
    ///
    /// ```
    /// use hvnet_core::config::Config;
    /// let text = "[[overlay.host]]\nname = 'hv1'\naddress = '172.16.0.1'\n\
    ///     [[overlay.host]]\nname = 'hv2'\naddress = '172.16.0.2'\n\
    ///     [[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
    ///     [network.overlay]\nvni = 100\n";
    /// let cfg = Config::parse(text, "h.toml").unwrap().for_host("hv2").unwrap();
    /// let ov = cfg.networks[0].overlay.as_ref().unwrap();
    /// let local = cfg.overlay_local(ov);
    /// assert_eq!(local, Some("172.16.0.2".parse().unwrap()));
    /// assert_eq!(cfg.overlay_peers(ov, local), ["172.16.0.1".parse::<std::net::Ipv4Addr>().unwrap()]);
    /// ```
    ///
    /// # Errors
    ///
    /// The name is not in `[[overlay.host]]`, or a network's `peers` holds this host's
    /// address.
    pub fn for_host(mut self, name: &str) -> Result<Config, ConfigError> {
        self.host.name = Some(name.to_string());
        let diagnostics = host_checks(&self);
        if diagnostics.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError { diagnostics })
        }
    }

    /// This host's `[[overlay.host]]` entry.
    pub fn overlay_host(&self) -> Option<&OverlayHost> {
        let name = self.host.name.as_deref()?;
        self.overlay_hosts.iter().find(|h| h.name == name)
    }

    /// This host's address on `overlay`'s underlay as far as the config says: `local`, else
    /// this host's `[[overlay.host]]` address (`None`: it comes from `underlay`'s address).
    pub fn overlay_local(&self, overlay: &Overlay) -> Option<Ipv4Addr> {
        overlay
            .local
            .or_else(|| self.overlay_host().map(|h| h.address))
    }

    /// The peers of `overlay` on a host whose underlay address is `local`: `peers`, else
    /// every `[[overlay.host]]` address but `local`.
    pub fn overlay_peers(&self, overlay: &Overlay, local: Option<Ipv4Addr>) -> Vec<Ipv4Addr> {
        match &overlay.peers {
            Some(p) => p.clone(),
            None => self
                .overlay_hosts
                .iter()
                .map(|h| h.address)
                .filter(|a| Some(*a) != local)
                .collect(),
        }
    }

    /// Whether this host holds `net`'s address and DHCP: always without `gateway_hosts`,
    /// else when this host is one of them.
    pub fn is_gateway_host(&self, net: &Network) -> bool {
        match &net.gateway_hosts {
            None => true,
            Some(hosts) => self
                .host
                .name
                .as_ref()
                .is_some_and(|n| hosts.iter().any(|h| h == n)),
        }
    }
}

/// The checks that depend on which host reads the config: its name is in the host table,
/// and no network lists its address among the peers.
pub(super) fn host_checks(cfg: &Config) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    if let Some(name) = &cfg.host.name {
        if !cfg.overlay_hosts.is_empty() && cfg.overlay_host().is_none() {
            let known: Vec<&str> = cfg.overlay_hosts.iter().map(|h| h.name.as_str()).collect();
            diags.push(cfg.diagnostic(
                "host.name",
                format!(
                    "host {name:?} is not in [[overlay.host]] (known: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    diags.extend(super::evpn::host_checks(cfg));
    for (i, net) in cfg.networks.iter().enumerate() {
        let Some(ov) = &net.overlay else { continue };
        let Some(local) = cfg.overlay_local(ov) else {
            continue;
        };
        for (j, p) in ov.peers.iter().flatten().enumerate() {
            if *p == local {
                diags.push(cfg.diagnostic(
                    &format!("network[{i}].overlay.peers[{j}]"),
                    format!(
                        "peer {p} is this host's own address (`local`); list only the other hosts"
                    ),
                ));
            }
        }
    }
    diags
}

impl Validator<'_> {
    /// Records where `field` is, for the checks made once the host is known.
    pub(super) fn locate(&mut self, field: String, span: std::ops::Range<usize>) {
        let at = self.loc.line_col(span.start);
        self.located.insert(field, at);
    }

    /// `[network.overlay]` of network `at` (kind and MTU checked against it).
    pub(super) fn network_overlay(
        &mut self,
        n: &RawNetwork,
        kind: Option<NetworkKind>,
        mtu: Option<u32>,
        at: &str,
    ) -> Option<Overlay> {
        let raw = n.overlay.as_ref()?;
        let field = format!("{at}.overlay");
        self.locate(field.clone(), raw.span());
        if let Some(m) = &n.mtu {
            self.locate(format!("{at}.mtu"), m.span());
        }
        let o = raw.get_ref();
        if let Some(m) = &n.mac {
            self.err(
                m.span(),
                &format!("{at}.mac"),
                "an overlay network's bridge exists on every host, each with its own MAC (derived from the host's underlay address): leave `mac` out",
            );
        }
        if kind == Some(NetworkKind::Bridge) {
            self.err(
                raw.span(),
                &field,
                "an overlay needs a bridge hvnet owns: kind isolated, internal, nat, routed or open, not \"bridge\"",
            );
        }
        let vni = match u32::try_from(*o.vni.get_ref()).ok().and_then(Vni::new) {
            Some(v) => Some(v),
            None => {
                self.err(
                    o.vni.span(),
                    &format!("{field}.vni"),
                    format!(
                        "VNI {} is out of range: must be between 1 and {MAX_VNI}",
                        o.vni.get_ref()
                    ),
                );
                None
            }
        };
        self.locate(format!("{field}.vni"), o.vni.span());
        let port = match &o.port {
            None => Some(DEFAULT_VXLAN_PORT),
            Some(p) => match u16::try_from(*p.get_ref()).ok().filter(|p| *p > 0) {
                Some(p) => Some(p),
                None => {
                    self.err(
                        p.span(),
                        &format!("{field}.port"),
                        format!(
                            "port {} is out of range: must be between 1 and 65535",
                            p.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let local = o
            .local
            .as_ref()
            .and_then(|l| self.unicast(l, &format!("{field}.local")));
        let underlay = o
            .underlay
            .as_ref()
            .and_then(|u| self.typed::<IfName>(u, &format!("{field}.underlay")));
        let peers = match &o.peers {
            None => None,
            Some(list) => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for (j, p) in list.get_ref().iter().enumerate() {
                    let pf = format!("{field}.peers[{j}]");
                    self.locate(pf.clone(), p.span());
                    let Some(ip) = self.unicast(p, &pf) else {
                        continue;
                    };
                    if Some(ip) == local {
                        self.err(
                            p.span(),
                            &pf,
                            format!("peer {ip} is this host's own address (`local`); list only the other hosts"),
                        );
                    } else if !seen.insert(ip) {
                        self.err(p.span(), &pf, format!("peer {ip} is listed twice"));
                    } else {
                        out.push(ip);
                    }
                }
                Some(out)
            }
        };
        let control = match o.control.as_ref().map(|c| (c, c.get_ref().as_str())) {
            None | Some((_, "static")) => OverlayControl::Static,
            Some((_, "evpn")) => OverlayControl::Evpn,
            Some((c, other)) => {
                self.err(
                    c.span(),
                    &format!("{field}.control"),
                    format!("unknown control {other:?}; expected \"static\" or \"evpn\""),
                );
                OverlayControl::Static
            }
        };
        let learning = match (control, &o.learning) {
            (OverlayControl::Evpn, Some(l)) if *l.get_ref() => {
                self.err(
                    l.span(),
                    &format!("{field}.learning"),
                    "EVPN learns remote MACs from BGP (zebra installs them): leave `learning` out",
                );
                false
            }
            (OverlayControl::Evpn, _) => false,
            (OverlayControl::Static, l) => l.as_ref().is_none_or(|l| *l.get_ref()),
        };
        if let (OverlayControl::Evpn, Some(p)) = (control, &o.peers) {
            self.err(
                p.span(),
                &format!("{field}.peers"),
                "EVPN finds the peers through BGP (type-3 routes): leave `peers` out and list the BGP neighbours in [overlay.evpn]",
            );
        }
        if let (Some(m), Some(raw_mtu)) = (mtu, &n.mtu) {
            let most = u32::from(u16::MAX) - VXLAN_OVERHEAD;
            if m > most {
                self.err(
                    raw_mtu.span(),
                    &format!("{at}.mtu"),
                    format!("MTU {m} cannot fit an overlay: VXLAN adds {VXLAN_OVERHEAD} bytes and an underlay packet is at most 65535, so at most {most}"),
                );
            }
        }
        Some(Overlay {
            vni: vni?,
            local,
            underlay,
            port: port?,
            peers,
            control,
            learning,
        })
    }

    /// A unicast IPv4 address.
    pub(super) fn unicast(&mut self, s: &S<String>, field: &str) -> Option<Ipv4Addr> {
        let ip = self.ipv4(s, field)?;
        match not_unicast(ip) {
            Some(why) => {
                self.err(s.span(), field, format!("{ip} is {why}"));
                None
            }
            None => Some(ip),
        }
    }

    /// `gateway_hosts` of network `at`.
    pub(super) fn gateway_hosts(&mut self, n: &RawNetwork, at: &str) -> Option<Vec<String>> {
        let list = n.gateway_hosts.as_ref()?;
        let field = format!("{at}.gateway_hosts");
        if n.overlay.is_none() {
            self.err(
                list.span(),
                &field,
                "`gateway_hosts` is for a network with [network.overlay] (the hosts that hold its address and DHCP)",
            );
        }
        self.locate(field.clone(), list.span());
        let names = list
            .get_ref()
            .iter()
            .enumerate()
            .filter_map(|(j, h)| self.name(h, &format!("{field}[{j}]"), "host"))
            .collect();
        Some(names)
    }

    /// `[[overlay.host]]`: valid, distinct names and addresses.
    pub(super) fn overlay_hosts(&mut self, raw: &RawConfig) -> Vec<OverlayHost> {
        let Some(o) = &raw.overlay else {
            return Vec::new();
        };
        if let Some(n) = raw.host.as_ref().and_then(|h| h.get_ref().name.as_ref()) {
            self.locate("host.name".into(), n.span());
        }
        let mut names = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        let mut out = Vec::new();
        for (i, h) in o.get_ref().host.iter().enumerate() {
            let at = format!("overlay.host[{i}]");
            let h = h.get_ref();
            let name = self.name(&h.name, &format!("{at}.name"), "host");
            let address = self.unicast(&h.address, &format!("{at}.address"));
            if let Some(n) = &name {
                if let Some(first) = names.insert(n.clone(), i) {
                    self.err(
                        h.name.span(),
                        &format!("{at}.name"),
                        format!("host {n:?} is already overlay.host[{first}]"),
                    );
                }
            }
            if let Some(a) = address {
                if let Some(first) = addrs.insert(a, i) {
                    self.err(
                        h.address.span(),
                        &format!("{at}.address"),
                        format!("address {a} is already that of overlay.host[{first}]"),
                    );
                }
            }
            if let (Some(name), Some(address)) = (name, address) {
                out.push(OverlayHost { name, address });
            }
        }
        out
    }

    /// Guests pinned to hosts name hosts of `[[overlay.host]]`.
    pub(super) fn check_guest_hosts(&mut self, raw: &RawConfig, hosts: &[OverlayHost]) {
        for (i, g) in raw.guest.iter().enumerate() {
            let Some(h) = &g.get_ref().host else { continue };
            if !hosts.iter().any(|k| k.name == *h.get_ref()) {
                self.err(
                    h.span(),
                    &format!("guest[{i}].host"),
                    format!("host {:?} is not in [[overlay.host]]", h.get_ref()),
                );
            }
        }
    }

    /// Across networks: distinct VNIs, gateway hosts that exist, and a way to know this
    /// host's address.
    pub(super) fn check_overlays(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        hosts: &[OverlayHost],
    ) {
        // A VF pool has no bridge to put a VXLAN device on.
        for (i, rn) in raw.network.iter().enumerate() {
            let rn = rn.get_ref();
            if rn.kind.get_ref() != "hostdev" {
                continue;
            }
            if let Some(o) = &rn.overlay {
                self.err(
                    o.span(),
                    &format!("network[{i}].overlay"),
                    "an overlay needs a bridge hvnet owns: kind isolated, internal, nat, routed or open, not \"hostdev\"",
                );
            }
        }
        let mut vnis: BTreeMap<Vni, usize> = BTreeMap::new();
        for (i, net) in nets {
            let Some(ov) = &net.overlay else { continue };
            let Some(rn) = raw.network.get(*i) else {
                continue;
            };
            let rn = rn.get_ref();
            let Some(rov) = rn.overlay.as_ref() else {
                continue;
            };
            let at = format!("network[{i}].overlay");
            if let Some(first) = vnis.insert(ov.vni, *i) {
                self.err(
                    rov.get_ref().vni.span(),
                    &format!("{at}.vni"),
                    format!("VNI {} is already that of network[{first}]", ov.vni),
                );
            }
            if ov.local.is_none() && ov.underlay.is_none() && hosts.is_empty() {
                self.err(
                    rov.span(),
                    &at,
                    "this host's underlay address is unknown: give `local`, `underlay`, or the hosts in [[overlay.host]] with [host] name",
                );
            }
            if ov.peers.is_none() && hosts.is_empty() && ov.control == OverlayControl::Static {
                self.err(
                    rov.span(),
                    &at,
                    "no peers: list the other hosts' underlay addresses in `peers`, or every host in [[overlay.host]]",
                );
            }
            if let (Some(gw), Some(rgw)) = (&net.gateway_hosts, &rn.gateway_hosts) {
                if net.address.is_none() {
                    self.err(
                        rgw.span(),
                        &format!("network[{i}].gateway_hosts"),
                        "`gateway_hosts` needs `address`: the gateway hosts hold it",
                    );
                }
                for (j, name) in gw.iter().enumerate() {
                    if !hosts.iter().any(|h| h.name == *name) {
                        let span = rgw.get_ref().get(j).map_or(rgw.span(), |s| s.span());
                        self.err(
                            span,
                            &format!("network[{i}].gateway_hosts[{j}]"),
                            format!("host {name:?} is not in [[overlay.host]]"),
                        );
                    }
                }
            }
        }
    }
}
