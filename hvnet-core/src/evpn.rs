//! The BGP EVPN control plane of `control = "evpn"` overlays: hvnet's own FRR (zebra and
//! bgpd, one pair per network namespace) with the configuration rendered here.
//!
//! hvnet writes and owns two files in `STATE/frr/`: `zebra.conf` (a hostname) and
//! `bgpd.conf` (the fragment: `router bgp ASN` with `l2vpn evpn`, the neighbours activated,
//! `advertise-all-vni` when this host has EVPN networks, `route-reflector-client` on a route
//! reflector). zebra finds the VXLAN devices (bridge ports with a `local` address and
//! `nolearning`) and the guests' MACs on their bridges, bgpd advertises them (type-2 and
//! type-3 routes) and zebra installs the other hosts' (remote MACs as `extern_learn`
//! forwarding entries, flood lists as all-zero entries) — so hvnet adds no forwarding
//! entries of its own to an EVPN device, and leaves the ones zebra made alone.
//!
//! ```
//! use hvnet_core::{config::Config, evpn, observed::ObservedState};
//! let cfg = Config::parse("[overlay.evpn]\nasn = 65000\nroute_reflectors = ['rr']\n\
//!     [[overlay.host]]\nname = 'rr'\naddress = '172.16.0.254'\n\
//!     [[overlay.host]]\nname = 'hv1'\naddress = '172.16.0.1'\n\
//!     [[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
//!     [network.overlay]\nvni = 100\ncontrol = 'evpn'\n", "h.toml").unwrap().for_host("hv1").unwrap();
//! let s = evpn::speaker(&cfg, &ObservedState::default()).unwrap().unwrap();
//! let conf = s.bgpd_conf();
//! assert!(conf.contains("router bgp 65000\n bgp router-id 172.16.0.1\n"));
//! assert!(conf.contains("  neighbor 172.16.0.254 activate\n  advertise-all-vni\n"));
//! ```

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::observed::ObservedState;
use crate::overlay::{local_address, vxlan_name};
use crate::state::{DesiredState, Owner};
use crate::types::IfName;

/// The directory of hvnet's FRR under the state directory.
pub const FRR_DIR: &str = "frr";
/// zebra's configuration file in [`FRR_DIR`].
pub const ZEBRA_CONF: &str = "zebra.conf";
/// bgpd's configuration file (hvnet's fragment) in [`FRR_DIR`].
pub const BGPD_CONF: &str = "bgpd.conf";
/// The Debian package that provides zebra, bgpd and vtysh.
pub const PACKAGE: &str = "frr";

/// The owner name the EVPN daemons are planned under: [`crate::state::Scope::All`] (apply)
/// and `down` of a config with `[overlay.evpn]` cover it, a guest's scope does not. Not a
/// valid network or guest name (brackets), so no config object shares it.
pub const OWNER: &str = "[overlay.evpn]";

/// [`FRR_DIR`] under the state directory `run_dir`.
///
/// ```
/// assert_eq!(hvnet_core::evpn::frr_dir("/run/hvnet".as_ref()).to_str(), Some("/run/hvnet/frr"));
/// ```
pub fn frr_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(FRR_DIR)
}

/// Whether a desired state speaks for the EVPN daemons.
pub fn in_scope(want: &DesiredState) -> bool {
    want.scope.covers(&Owner::new(OWNER))
}

/// hvnet's FRR as it should run: its directory and the exact text of its two files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrrService {
    /// Its directory (configs, pid files, vty and zserv sockets, logs).
    pub dir: PathBuf,
    /// zebra's configuration (a change means a restart).
    pub zebra_conf: String,
    /// bgpd's configuration, hvnet's fragment (a change means a restart).
    pub bgpd_conf: String,
    /// The VXLAN devices whose forwarding entries zebra manages (hvnet adds and removes
    /// none there). Not part of what the daemons are started with.
    pub devices: Vec<IfName>,
}

/// hvnet's FRR as found: whether it is installed, its files and its daemons.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedFrr {
    /// zebra and bgpd are installed.
    pub installed: bool,
    /// Its directory.
    pub dir: PathBuf,
    /// zebra's configuration, if present.
    pub zebra_conf: Option<String>,
    /// bgpd's configuration, if present.
    pub bgpd_conf: Option<String>,
    /// The running zebra, found by its configuration path.
    pub zebra_pid: Option<i32>,
    /// The running bgpd, found by its configuration path.
    pub bgpd_pid: Option<i32>,
}

impl ObservedFrr {
    /// Whether any of its daemons runs or any of its files is there.
    pub fn exists(&self) -> bool {
        self.zebra_pid.is_some()
            || self.bgpd_pid.is_some()
            || self.zebra_conf.is_some()
            || self.bgpd_conf.is_some()
    }

    /// The service it runs, to start it again (both files present).
    pub fn as_service(&self) -> Option<FrrService> {
        Some(FrrService {
            dir: self.dir.clone(),
            zebra_conf: self.zebra_conf.clone()?,
            bgpd_conf: self.bgpd_conf.clone()?,
            devices: Vec::new(),
        })
    }

    /// Whether it runs `svc` as it is.
    pub fn runs(&self, svc: &FrrService) -> bool {
        self.zebra_pid.is_some()
            && self.bgpd_pid.is_some()
            && self.zebra_conf.as_deref() == Some(svc.zebra_conf.as_str())
            && self.bgpd_conf.as_deref() == Some(svc.bgpd_conf.as_str())
    }
}

/// This host's BGP speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    /// The hostname FRR shows (`[host] name`, else `hvnet`).
    pub hostname: String,
    /// The autonomous system.
    pub asn: u32,
    /// The router id.
    pub router_id: Ipv4Addr,
    /// The neighbours (iBGP, all in `asn`).
    pub neighbors: Vec<Ipv4Addr>,
    /// This host reflects routes: every neighbour is its client.
    pub reflector: bool,
    /// This host has EVPN networks: `advertise-all-vni`.
    pub advertise: bool,
}

impl Speaker {
    /// zebra's configuration.
    pub fn zebra_conf(&self) -> String {
        format!(
            "! Written by hvnet for [overlay.evpn]; rewritten by `hvnet apply`, removed by `hvnet down`.\n\
             hostname {}\n!\n",
            self.hostname
        )
    }

    /// bgpd's configuration: hvnet's fragment.
    ///
    /// ```
    /// use hvnet_core::evpn::Speaker;
    /// let s = Speaker { hostname: "rr".into(), asn: 65000, router_id: "10.0.0.254".parse().unwrap(),
    ///     neighbors: vec!["10.0.0.1".parse().unwrap()], reflector: true, advertise: false };
    /// let c = s.bgpd_conf();
    /// assert!(c.contains(" neighbor 10.0.0.1 remote-as 65000\n"));
    /// assert!(c.contains("  neighbor 10.0.0.1 route-reflector-client\n"));
    /// assert!(!c.contains("advertise-all-vni"));
    /// ```
    pub fn bgpd_conf(&self) -> String {
        let mut c = format!(
            "! Written by hvnet for [overlay.evpn]; rewritten by `hvnet apply`, removed by `hvnet down`.\n\
             hostname {}\n!\nrouter bgp {}\n bgp router-id {}\n no bgp default ipv4-unicast\n \
             timers bgp 3 9\n",
            self.hostname, self.asn, self.router_id
        );
        for n in &self.neighbors {
            c.push_str(&format!(
                " neighbor {n} remote-as {}\n neighbor {n} timers connect 1\n \
                 neighbor {n} advertisement-interval 0\n",
                self.asn
            ));
        }
        c.push_str(" !\n address-family l2vpn evpn\n");
        for n in &self.neighbors {
            c.push_str(&format!("  neighbor {n} activate\n"));
            if self.reflector {
                c.push_str(&format!("  neighbor {n} route-reflector-client\n"));
            }
        }
        if self.advertise {
            c.push_str("  advertise-all-vni\n");
        }
        c.push_str(" exit-address-family\nexit\n!\n");
        c
    }
}

/// Why this host's BGP speaker cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvpnError {
    /// No router id: none given, no `[[overlay.host]]` address, no EVPN network's address.
    #[error("[overlay.evpn]: this host's BGP router id is unknown: give `router_id`, or [host] name (or --host-name) with [[overlay.host]]")]
    NoRouterId,
    /// FRR's daemons are not installed.
    #[error("control = \"evpn\" needs FRR's zebra and bgpd, which are not installed (Debian: apt-get install {PACKAGE})")]
    NotInstalled,
}

/// This host's BGP speaker for `cfg` (as [`crate::overlay::for_host`] returned it): `None`
/// without `[overlay.evpn]`, or when this host has no EVPN network and reflects no routes.
///
/// # Errors
///
/// [`EvpnError::NoRouterId`].
pub fn speaker(cfg: &Config, observed: &ObservedState) -> Option<Result<Speaker, EvpnError>> {
    let e = cfg.evpn.as_ref()?;
    let advertise = cfg.evpn_networks().next().is_some();
    let reflector = cfg.is_route_reflector();
    if !advertise && !reflector {
        return None;
    }
    let router_id = e
        .router_id
        .or_else(|| cfg.overlay_host().map(|h| h.address))
        .or_else(|| {
            cfg.evpn_networks()
                .find_map(|n| local_address(cfg, n.overlay.as_ref()?, observed))
        });
    let Some(router_id) = router_id else {
        return Some(Err(EvpnError::NoRouterId));
    };
    Some(Ok(Speaker {
        hostname: cfg.host.name.clone().unwrap_or_else(|| "hvnet".into()),
        asn: e.asn,
        router_id,
        neighbors: cfg.evpn_neighbors(),
        reflector,
        advertise,
    }))
}

/// Adds hvnet's FRR to `want` when this host speaks BGP EVPN (`run_dir`: the state
/// directory); its devices are the EVPN networks' VXLAN devices `want` holds.
///
/// # Errors
///
/// No router id; FRR is not installed (known when `observed` read the services).
pub fn add_service(
    cfg: &Config,
    observed: &ObservedState,
    run_dir: &Path,
    want: &mut DesiredState,
) -> Result<(), EvpnError> {
    let Some(speaker) = speaker(cfg, observed) else {
        return Ok(());
    };
    let speaker = speaker?;
    if observed.frr.as_ref().is_some_and(|f| !f.installed) {
        return Err(EvpnError::NotInstalled);
    }
    let devices = cfg
        .evpn_networks()
        .filter_map(|n| Some(vxlan_name(n.overlay.as_ref()?.vni)))
        .filter(|d| want.link(d.as_str()).is_some())
        .collect();
    want.frr = Some(FrrService {
        dir: frr_dir(run_dir),
        zebra_conf: speaker.zebra_conf(),
        bgpd_conf: speaker.bgpd_conf(),
        devices,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "[[overlay.host]]\nname = 'hv1'\naddress = '172.16.0.1'\n\
        [[overlay.host]]\nname = 'hv2'\naddress = '172.16.0.2'\n\
        [[overlay.host]]\nname = 'hv3'\naddress = '172.16.0.3'\n";
    const NET: &str = "[[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
        [network.overlay]\nvni = 100\ncontrol = 'evpn'\n";

    fn cfg(evpn: &str, host: &str) -> Config {
        Config::parse(&format!("{evpn}{HOSTS}{NET}"), "h.toml")
            .unwrap()
            .for_host(host)
            .unwrap()
    }

    #[test]
    fn full_mesh_renders_every_other_host() {
        let c = cfg("[overlay.evpn]\nasn = 65001\n", "hv2");
        let s = speaker(&c, &ObservedState::default()).unwrap().unwrap();
        assert_eq!(
            s.bgpd_conf(),
            "! Written by hvnet for [overlay.evpn]; rewritten by `hvnet apply`, removed by `hvnet down`.\n\
             hostname hv2\n!\nrouter bgp 65001\n bgp router-id 172.16.0.2\n no bgp default ipv4-unicast\n \
             timers bgp 3 9\n\
             \x20neighbor 172.16.0.1 remote-as 65001\n neighbor 172.16.0.1 timers connect 1\n neighbor 172.16.0.1 advertisement-interval 0\n\
             \x20neighbor 172.16.0.3 remote-as 65001\n neighbor 172.16.0.3 timers connect 1\n neighbor 172.16.0.3 advertisement-interval 0\n\
             \x20!\n address-family l2vpn evpn\n  neighbor 172.16.0.1 activate\n  neighbor 172.16.0.3 activate\n  \
             advertise-all-vni\n exit-address-family\nexit\n!\n"
        );
        assert_eq!(s.zebra_conf().lines().nth(1), Some("hostname hv2"));
    }

    #[test]
    fn reflector_without_networks_still_speaks() {
        let text = format!("[overlay.evpn]\nasn = 65000\nroute_reflectors = ['hv3']\n{HOSTS}");
        let c = Config::parse(&text, "h.toml")
            .unwrap()
            .for_host("hv3")
            .unwrap();
        let s = speaker(&c, &ObservedState::default()).unwrap().unwrap();
        assert!(s.reflector && !s.advertise);
        assert_eq!(s.neighbors.len(), 2);
        let hv1 = Config::parse(&text, "h.toml")
            .unwrap()
            .for_host("hv1")
            .unwrap();
        // hv1 has no EVPN network and reflects nothing: no speaker.
        assert!(speaker(&hv1, &ObservedState::default()).is_none());
    }

    #[test]
    fn missing_frr_is_refused_and_nothing_wanted() {
        let c = cfg("[overlay.evpn]\nasn = 65000\n", "hv1");
        let mut seen = ObservedState {
            frr: Some(ObservedFrr::default()),
            ..ObservedState::default()
        };
        let mut want = DesiredState::default();
        let e = add_service(&c, &seen, "/run/hvnet".as_ref(), &mut want).unwrap_err();
        assert!(e.to_string().contains("apt-get install frr"), "{e}");
        assert!(want.frr.is_none());
        seen.frr = Some(ObservedFrr {
            installed: true,
            ..ObservedFrr::default()
        });
        add_service(&c, &seen, "/run/hvnet".as_ref(), &mut want).unwrap();
        let svc = want.frr.unwrap();
        assert_eq!(svc.dir, Path::new("/run/hvnet/frr"));
        // The VXLAN device is not wanted here, so zebra manages none.
        assert!(svc.devices.is_empty());
    }

    #[test]
    fn no_router_id_without_host_name() {
        let text = format!(
            "[overlay.evpn]\nasn = 65000\nneighbors = ['172.16.0.9']\n{NET}local = '172.16.0.1'\n"
        );
        let c = Config::parse(&text, "h.toml").unwrap();
        let s = speaker(&c, &ObservedState::default()).unwrap().unwrap();
        assert_eq!(s.router_id, "172.16.0.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(s.hostname, "hvnet");
    }
}
