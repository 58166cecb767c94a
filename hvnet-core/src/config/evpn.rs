//! `[overlay.evpn]`: the BGP EVPN control plane of the `control = "evpn"` overlays.
//!
//! Every host runs a BGP speaker (FRR's bgpd and zebra) in one autonomous system (iBGP);
//! its neighbours are `neighbors` when given, else the `route_reflectors` (a host named
//! there peers with every other `[[overlay.host]]`, its clients), else every other
//! `[[overlay.host]]` (a full mesh).
//!
//! ```
//! use hvnet_core::config::Config;
//! let text = "[overlay.evpn]\nasn = 65000\nroute_reflectors = ['rr']\n\
//!     [[overlay.host]]\nname = 'rr'\naddress = '172.16.0.254'\n\
//!     [[overlay.host]]\nname = 'hv1'\naddress = '172.16.0.1'\n\
//!     [[overlay.host]]\nname = 'hv2'\naddress = '172.16.0.2'\n";
//! let cfg = Config::parse(text, "h.toml").unwrap();
//! let hv1 = cfg.clone().for_host("hv1").unwrap();
//! assert_eq!(hv1.evpn_neighbors(), ["172.16.0.254".parse::<std::net::Ipv4Addr>().unwrap()]);
//! let rr = cfg.for_host("rr").unwrap();
//! assert!(rr.is_route_reflector());
//! assert_eq!(rr.evpn_neighbors().len(), 2);
//! ```

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::overlay::OverlayControl;
use super::raw::{RawConfig, S};
use super::validate::Validator;
use super::{Config, Diagnostic, Network, OverlayHost};

/// `[overlay.evpn]`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Evpn {
    /// The autonomous system of every host (iBGP).
    pub asn: u32,
    /// The BGP router id as given (`None`: this host's underlay address).
    pub router_id: Option<Ipv4Addr>,
    /// The neighbours as given (`None`: from `route_reflectors` or `[[overlay.host]]`).
    pub neighbors: Option<Vec<Ipv4Addr>>,
    /// The `[[overlay.host]]` names that reflect routes to the others.
    pub route_reflectors: Vec<String>,
}

impl Config {
    /// Whether this host (`[host] name`) is one of `[overlay.evpn] route_reflectors`.
    pub fn is_route_reflector(&self) -> bool {
        match (&self.evpn, &self.host.name) {
            (Some(e), Some(name)) => e.route_reflectors.iter().any(|r| r == name),
            _ => false,
        }
    }

    /// This host's BGP neighbours: `neighbors`, else (a route reflector) every other
    /// `[[overlay.host]]`, else the route reflectors, else every other `[[overlay.host]]`.
    /// Empty without `[overlay.evpn]`.
    pub fn evpn_neighbors(&self) -> Vec<Ipv4Addr> {
        let Some(e) = &self.evpn else {
            return Vec::new();
        };
        if let Some(n) = &e.neighbors {
            return n.clone();
        }
        let me = self.host.name.as_deref();
        let others = self
            .overlay_hosts
            .iter()
            .filter(|h| Some(h.name.as_str()) != me);
        if e.route_reflectors.is_empty() || self.is_route_reflector() {
            others.map(|h| h.address).collect()
        } else {
            others
                .filter(|h| e.route_reflectors.contains(&h.name))
                .map(|h| h.address)
                .collect()
        }
    }

    /// The networks whose overlay is `control = "evpn"`.
    pub fn evpn_networks(&self) -> impl Iterator<Item = &Network> {
        self.networks.iter().filter(|n| {
            n.overlay
                .as_ref()
                .is_some_and(|o| o.control == OverlayControl::Evpn)
        })
    }
}

/// Host-dependent checks: no neighbour is this host's own address.
pub(super) fn host_checks(cfg: &Config) -> Vec<Diagnostic> {
    let Some(e) = &cfg.evpn else {
        return Vec::new();
    };
    let mine: BTreeSet<Ipv4Addr> = cfg
        .overlay_host()
        .map(|h| h.address)
        .into_iter()
        .chain(e.router_id)
        .chain(
            cfg.evpn_networks()
                .filter_map(|n| n.overlay.as_ref().and_then(|o| o.local)),
        )
        .collect();
    e.neighbors
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, n)| mine.contains(n))
        .map(|(j, n)| {
            cfg.diagnostic(
                &format!("overlay.evpn.neighbors[{j}]"),
                format!(
                    "neighbor {n} is this host's own address (`local`); list only the other hosts"
                ),
            )
        })
        .collect()
}

impl Validator<'_> {
    /// `[overlay.evpn]`, and that every `control = "evpn"` network has it.
    pub(super) fn evpn(&mut self, raw: &RawConfig, hosts: &[OverlayHost]) -> Option<Evpn> {
        let raw_evpn = raw.overlay.as_ref().and_then(|o| o.get_ref().evpn.as_ref());
        for (i, n) in raw.network.iter().enumerate() {
            let Some(o) = &n.get_ref().overlay else {
                continue;
            };
            let Some(c) = o.get_ref().control.as_ref() else {
                continue;
            };
            if c.get_ref() == "evpn" && raw_evpn.is_none() {
                self.err(
                    c.span(),
                    &format!("network[{i}].overlay.control"),
                    "control = \"evpn\" needs [overlay.evpn] (at least `asn`)",
                );
            }
        }
        let e = raw_evpn?;
        self.locate("overlay.evpn".into(), e.span());
        let e = e.get_ref();
        let asn = match u32::try_from(*e.asn.get_ref()).ok().filter(|a| *a > 0) {
            Some(a) => Some(a),
            None => {
                self.err(
                    e.asn.span(),
                    "overlay.evpn.asn",
                    format!(
                        "AS number {} is out of range: must be between 1 and 4294967295",
                        e.asn.get_ref()
                    ),
                );
                None
            }
        };
        let router_id = e
            .router_id
            .as_ref()
            .and_then(|r| self.unicast(r, "overlay.evpn.router_id"));
        let neighbors = e.neighbors.as_ref().map(|list| {
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for (j, s) in list.get_ref().iter().enumerate() {
                let field = format!("overlay.evpn.neighbors[{j}]");
                self.locate(field.clone(), s.span());
                let Some(ip) = self.unicast(s, &field) else {
                    continue;
                };
                if !seen.insert(ip) {
                    self.err(s.span(), &field, format!("neighbor {ip} is listed twice"));
                } else {
                    out.push(ip);
                }
            }
            out
        });
        let mut route_reflectors = Vec::new();
        if let Some(list) = &e.route_reflectors {
            if e.neighbors.is_some() {
                self.err(
                    list.span(),
                    "overlay.evpn.route_reflectors",
                    "give either `neighbors` or `route_reflectors`, not both",
                );
            }
            for (j, s) in list.get_ref().iter().enumerate() {
                self.route_reflector(s, j, hosts, &mut route_reflectors);
            }
        }
        Some(Evpn {
            asn: asn?,
            router_id,
            neighbors,
            route_reflectors,
        })
    }

    /// One of `route_reflectors`: a distinct `[[overlay.host]]` name.
    fn route_reflector(
        &mut self,
        s: &S<String>,
        j: usize,
        hosts: &[OverlayHost],
        out: &mut Vec<String>,
    ) {
        let field = format!("overlay.evpn.route_reflectors[{j}]");
        let name = s.get_ref();
        if !hosts.iter().any(|h| h.name == *name) {
            self.err(
                s.span(),
                &field,
                format!("host {name:?} is not in [[overlay.host]]"),
            );
        } else if out.contains(name) {
            self.err(s.span(), &field, format!("host {name:?} is listed twice"));
        } else {
            out.push(name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const HOSTS: &str = "[[overlay.host]]\nname = 'hv1'\naddress = '172.16.0.1'\n\
        [[overlay.host]]\nname = 'hv2'\naddress = '172.16.0.2'\n";

    fn net(extra: &str) -> String {
        format!(
            "[[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
             [network.overlay]\nvni = 100\ncontrol = 'evpn'\n{extra}"
        )
    }

    fn errors(text: &str) -> String {
        match Config::parse(text, "h.toml") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn evpn_network_turns_learning_off() {
        let text = format!("[overlay.evpn]\nasn = 65000\n{HOSTS}{}", net(""));
        let cfg = Config::parse(&text, "h.toml")
            .unwrap()
            .for_host("hv1")
            .unwrap();
        let ov = cfg.networks[0].overlay.as_ref().unwrap();
        assert!(!ov.learning);
        assert_eq!(cfg.evpn_networks().count(), 1);
        assert_eq!(
            cfg.evpn_neighbors(),
            ["172.16.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
    }

    #[test]
    fn evpn_without_settings_is_refused_at_control() {
        let e = errors(&format!("{HOSTS}{}", net("")));
        assert!(
            e.contains("h.toml:13:11: network[0].overlay.control"),
            "{e}"
        );
        assert!(e.contains("needs [overlay.evpn]"), "{e}");
    }

    #[test]
    fn bad_evpn_settings_are_named() {
        let e = errors(&format!(
            "[overlay.evpn]\nasn = 0\nrouter_id = '0.0.0.0'\nneighbors = ['172.16.0.9', '172.16.0.9']\n\
             route_reflectors = ['nobody']\n{HOSTS}{}",
            net("peers = ['172.16.0.2']\nlearning = true\n")
        ));
        for want in [
            "overlay.evpn.asn: AS number 0 is out of range",
            "overlay.evpn.router_id",
            "overlay.evpn.neighbors[1]: neighbor 172.16.0.9 is listed twice",
            "overlay.evpn.route_reflectors: give either",
            "overlay.evpn.route_reflectors[0]: host \"nobody\" is not in [[overlay.host]]",
            "network[0].overlay.peers: EVPN finds the peers",
            "network[0].overlay.learning: EVPN learns",
        ] {
            assert!(e.contains(want), "{want} not in {e}");
        }
    }

    #[test]
    fn neighbor_equal_to_this_host_is_refused() {
        let text = format!(
            "[overlay.evpn]\nasn = 65000\nneighbors = ['172.16.0.2', '172.16.0.1']\n{HOSTS}{}",
            net("")
        );
        let e = Config::parse(&text, "h.toml")
            .unwrap()
            .for_host("hv1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("h.toml:3:28: overlay.evpn.neighbors[1]: neighbor 172.16.0.1 is this host's own address"),
            "{e}"
        );
    }
}
