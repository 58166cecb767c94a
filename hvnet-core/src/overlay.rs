//! Overlay networks on this host: the VXLAN device of each `[network.overlay]`, its static
//! peers as forwarding entries, and the config as this host reads it ([`for_host`]: the
//! guest-port MTU that fits the underlay, the address and DHCP only on gateway hosts).
//!
//! ```
//! use hvnet_core::{config::Config, observed::*, overlay, state::DesiredState};
//! let cfg = Config::parse("[[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
//!     [network.overlay]\nvni = 100\nlocal = '172.16.0.1'\npeers = ['172.16.0.2']\n", "h.toml").unwrap();
//! // The underlay: eth1 holds 172.16.0.1, MTU 1500.
//! let mut seen = ObservedState::default();
//! seen.links.push(ObservedLink { ifindex: 2, name: "eth1".into(), kind: ObservedKind::Other(String::new()),
//!     master: None, mtu: 1500, mac: None, up: true, lower_up: true, alias: None, wireless: false, group: 0 });
//! seen.addrs.push(ObservedAddr { ifindex: 2, cidr: "172.16.0.1/24".parse().unwrap() });
//! let here = overlay::for_host(&cfg, &seen).unwrap();
//! assert_eq!(here.networks[0].mtu, Some(1450));
//! let mut want = DesiredState::default();
//! overlay::add_links(&here, &here.networks[0], &seen, &mut want);
//! assert_eq!(want.links[0].name.as_str(), "vxlan100");
//! assert_eq!(want.fdb[0].dst.to_string(), "172.16.0.2");
//! ```

use std::borrow::Cow;
use std::net::Ipv4Addr;

use crate::config::{
    Config, Diagnostic, Network, NetworkKind, Overlay, OverlayControl, Vni, VXLAN_OVERHEAD,
};
use crate::observed::{ObservedLink, ObservedState};
use crate::state::{DesiredState, LinkKind, LinkSpec, Owner};
use crate::types::{IfName, MacAddr, MacPrefix};

/// A VXLAN device's settings (`ip link add … type vxlan id VNI local ADDR dstport PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct VxlanOpts {
    /// The VNI.
    pub vni: u32,
    /// The source address of its tunnel packets.
    pub local: Ipv4Addr,
    /// UDP destination port.
    pub port: u16,
    /// Learn remote MACs from received packets (`nolearning` when false).
    pub learning: bool,
    /// The underlay device it is bound to (`dev`), if the config names one.
    pub underlay: Option<IfName>,
}

/// A forwarding entry of a VXLAN device (`bridge fdb append MAC dev LINK dst DST self`):
/// with the all-zero MAC, a peer every broadcast and unknown frame is replicated to.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct FdbSpec {
    /// The VXLAN device.
    pub link: IfName,
    /// The MAC (all zero: the flood list).
    pub mac: MacAddr,
    /// The remote tunnel endpoint.
    pub dst: Ipv4Addr,
}

/// A VXLAN device as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVxlan {
    /// The VNI.
    pub vni: u32,
    /// Its local address, if set.
    pub local: Option<Ipv4Addr>,
    /// UDP destination port.
    pub port: u16,
    /// Learning on.
    pub learning: bool,
    /// The index of its underlay device, if bound to one.
    pub link: Option<u32>,
}

/// A forwarding entry with a remote endpoint, as observed on a VXLAN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFdb {
    /// The device.
    pub ifindex: u32,
    /// The MAC (all zero: a flood entry).
    pub mac: MacAddr,
    /// The remote endpoint.
    pub dst: Ipv4Addr,
    /// Static (`permanent`) rather than learned.
    pub permanent: bool,
}

/// The all-zero MAC of a flood entry.
pub const FLOOD_MAC: MacAddr = MacAddr::new([0; 6]);

/// The VXLAN device of VNI `vni`: `vxlanVNI` (at most 13 bytes).
///
/// ```
/// let vni = hvnet_core::config::Vni::new(16_777_215).unwrap();
/// assert_eq!(hvnet_core::overlay::vxlan_name(vni).as_str(), "vxlan16777215");
/// ```
pub fn vxlan_name(vni: Vni) -> IfName {
    match IfName::new(&format!("vxlan{vni}")) {
        Ok(name) => name,
        // "vxlan" and at most 8 digits are always a valid interface name.
        Err(e) => unreachable!("vxlan{vni}: {e}"),
    }
}

/// The underlay link: `underlay` when named, else the link that holds `local`.
pub fn underlay_link<'a>(
    observed: &'a ObservedState,
    overlay: &Overlay,
    local: Option<Ipv4Addr>,
) -> Option<&'a ObservedLink> {
    match &overlay.underlay {
        Some(u) => observed.link(u.as_str()),
        None => {
            let local = local?;
            observed
                .addrs
                .iter()
                .find(|a| a.cidr.addr() == local)
                .and_then(|a| observed.by_index(a.ifindex))
        }
    }
}

/// This host's tunnel address for `overlay`: what the config says ([`Config::overlay_local`]),
/// else the first IPv4 address of the `underlay` link.
pub fn local_address(
    cfg: &Config,
    overlay: &Overlay,
    observed: &ObservedState,
) -> Option<Ipv4Addr> {
    cfg.overlay_local(overlay).or_else(|| {
        let link = observed.link(overlay.underlay.as_ref()?.as_str())?;
        observed.addrs_of(link.ifindex).next().map(|c| c.addr())
    })
}

/// The config as this host applies it: guests pinned to other hosts (`[[guest]] host`) left
/// out, and for each overlay network: its MTU (bridge and guest
/// ports) defaults to the underlay's minus [`VXLAN_OVERHEAD`]; on a host that is not one of
/// its `gateway_hosts` it is a plain segment of the overlay (kind `internal`: no address, no
/// DHCP, no way out), the gateway host's dnsmasq and address serving its guests.
///
/// # Errors
///
/// One diagnostic (at the field's place in the file) per overlay whose local address is
/// unknown or has no underlay interface, or whose `mtu` does not fit the underlay.
pub fn for_host<'a>(
    cfg: &'a Config,
    observed: &ObservedState,
) -> Result<Cow<'a, Config>, Vec<Diagnostic>> {
    if cfg.networks.iter().all(|n| n.overlay.is_none())
        && cfg.guests.iter().all(|g| g.host.is_none())
    {
        return Ok(Cow::Borrowed(cfg));
    }
    let mut here = cfg.clone();
    // Guests of other hosts are theirs; the places of the kept guests' fields follow them.
    let kept: Vec<usize> = (0..cfg.guests.len())
        .filter(|&i| cfg.guests[i].host.is_none() || cfg.guests[i].host == cfg.host.name)
        .collect();
    if kept.len() < cfg.guests.len() {
        here.guests = kept.iter().map(|&i| cfg.guests[i].clone()).collect();
        here.locations.fields = cfg
            .locations
            .fields
            .iter()
            .filter_map(|(k, v)| {
                let Some(rest) = k.strip_prefix("guest[") else {
                    return Some((k.clone(), *v));
                };
                let (num, tail) = rest.split_once(']')?;
                let old: usize = num.parse().ok()?;
                let new = kept.iter().position(|&i| i == old)?;
                Some((format!("guest[{new}]{tail}"), *v))
            })
            .collect();
    }
    let mut diags = Vec::new();
    for (i, net) in here.networks.iter_mut().enumerate() {
        let Some(ov) = &net.overlay else { continue };
        let at = format!("network[{i}].overlay");
        let Some(local) = local_address(cfg, ov, observed) else {
            let why = match (&cfg.host.name, &ov.underlay) {
                (_, Some(u)) => format!("underlay {u} has no IPv4 address (or does not exist)"),
                (Some(n), None) => format!("host {n:?} is not in [[overlay.host]]"),
                (None, None) => "give `local`, or [host] name (or --host-name / HVNET_HOST_NAME) with [[overlay.host]]".into(),
            };
            diags.push(cfg.diagnostic(
                &at,
                format!("this host's underlay address is unknown: {why}"),
            ));
            continue;
        };
        let Some(under) = underlay_link(observed, ov, Some(local)) else {
            diags.push(cfg.diagnostic(
                &at,
                format!("no interface of this host has the underlay address {local}"),
            ));
            continue;
        };
        let fits = under.mtu.saturating_sub(VXLAN_OVERHEAD);
        match net.mtu {
            Some(m) if m > fits => diags.push(cfg.diagnostic(
                &format!("network[{i}].mtu"),
                format!(
                    "MTU {m} cannot fit the overlay: the underlay {} has MTU {}, and VXLAN takes {VXLAN_OVERHEAD} bytes of it, so at most {fits}",
                    under.name, under.mtu
                ),
            )),
            Some(_) => {}
            None => net.mtu = Some(fits),
        }
        // Every host has this bridge: its MAC must be this host's own, or a guest would
        // send to its local bridge what is meant for the gateway host's.
        if net.mac.is_none() {
            net.mac = Some(MacAddr::derive(
                &MacPrefix::LOCAL,
                &format!("bridge/{}/{local}", net.name),
            ));
        }
        if !cfg.is_gateway_host(net) {
            net.kind = NetworkKind::Internal;
            net.address = None;
            net.dhcp = None;
            net.uplink = None;
            net.nat_ports = None;
            net.host_ip = None;
            net.gateway = None;
        }
    }
    if diags.is_empty() {
        Ok(Cow::Owned(here))
    } else {
        Err(diags)
    }
}

/// Why guest `guest` is not this host's to bring up or down: it is pinned to another host
/// (`[[guest]] host`). `None` when it runs here (or is not in the config).
pub fn guest_elsewhere(cfg: &Config, guest: &str) -> Option<String> {
    let host = cfg.guest(guest)?.host.as_ref()?;
    if cfg.host.name.as_ref() == Some(host) {
        return None;
    }
    Some(format!(
        "guest {guest} runs on host {host} ([[guest]] host), not on this host ({})",
        cfg.host
            .name
            .as_deref()
            .unwrap_or("no [host] name or --host-name")
    ))
}

/// Adds `net`'s VXLAN device (a port of its bridge) and its peers' flood entries to `want`
/// (`cfg` as [`for_host`] returned it). Nothing when the network has no overlay or this
/// host's address is unknown ([`for_host`] refuses that).
pub fn add_links(cfg: &Config, net: &Network, observed: &ObservedState, want: &mut DesiredState) {
    let Some(ov) = &net.overlay else { return };
    let Some(local) = local_address(cfg, ov, observed) else {
        return;
    };
    let name = vxlan_name(ov.vni);
    want.links.push(LinkSpec {
        name: name.clone(),
        kind: LinkKind::Vxlan(VxlanOpts {
            vni: ov.vni.get(),
            local,
            port: ov.port,
            learning: ov.learning,
            underlay: ov.underlay.clone(),
        }),
        owner: Some(Owner::new(&net.name)),
        master: Some(net.bridge.clone()),
        mtu: net.mtu,
        mac: Some(MacAddr::derive(
            &MacPrefix::LOCAL,
            &format!("vxlan/{}/{local}", net.name),
        )),
        up: true,
    });
    // EVPN: zebra installs the flood lists and remote MACs from BGP.
    if ov.control == OverlayControl::Evpn {
        return;
    }
    for dst in cfg.overlay_peers(ov, Some(local)) {
        want.fdb.push(FdbSpec {
            link: name.clone(),
            mac: FLOOD_MAC,
            dst,
        });
    }
}

/// What `show` tells of one overlay network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OverlayStatus {
    /// The network.
    pub network: String,
    /// The VNI.
    pub vni: u32,
    /// The VXLAN device.
    pub device: String,
    /// Whether the device exists and is up.
    pub up: bool,
    /// Its local address as the kernel has it.
    pub local: Option<Ipv4Addr>,
    /// UDP port.
    pub port: u16,
    /// `"static"` or `"evpn"`.
    pub control: &'static str,
    /// Peers wanted by the config, each with whether its flood entry is installed.
    pub peers: Vec<(Ipv4Addr, bool)>,
    /// Flood entries installed that the config does not want.
    pub stray_peers: Vec<Ipv4Addr>,
    /// Remote MACs the device has learned (EVPN: installed by zebra from BGP).
    pub learned_macs: usize,
    /// EVPN: the remote VTEPs of the flood list zebra installed (type-3 routes).
    pub vteps: Vec<Ipv4Addr>,
}

/// The overlay of every overlay network of `cfg` (as [`for_host`] returned it) as observed.
pub fn status(cfg: &Config, observed: &ObservedState) -> Vec<OverlayStatus> {
    let mut out = Vec::new();
    for net in &cfg.networks {
        let Some(ov) = &net.overlay else { continue };
        let name = vxlan_name(ov.vni);
        let link = observed.link(name.as_str());
        let entries: Vec<_> = link
            .map(|l| {
                observed
                    .fdb
                    .iter()
                    .filter(|f| f.ifindex == l.ifindex)
                    .collect()
            })
            .unwrap_or_default();
        let mut flood: Vec<Ipv4Addr> = entries
            .iter()
            .filter(|f| f.mac == FLOOD_MAC)
            .map(|f| f.dst)
            .collect();
        let local = match link.map(|l| &l.kind) {
            Some(crate::observed::ObservedKind::Vxlan(v)) => v.local,
            _ => None,
        };
        let evpn = ov.control == OverlayControl::Evpn;
        let wanted = if evpn {
            Vec::new()
        } else {
            cfg.overlay_peers(ov, local_address(cfg, ov, observed))
        };
        let vteps = if evpn { flood.clone() } else { Vec::new() };
        if evpn {
            flood.clear();
        }
        out.push(OverlayStatus {
            network: net.name.clone(),
            vni: ov.vni.get(),
            device: name.to_string(),
            up: link.is_some_and(|l| l.up),
            local,
            port: ov.port,
            control: if evpn { "evpn" } else { "static" },
            peers: wanted.iter().map(|p| (*p, flood.contains(p))).collect(),
            stray_peers: flood.into_iter().filter(|p| !wanted.contains(p)).collect(),
            learned_macs: entries.iter().filter(|f| f.mac != FLOOD_MAC).count(),
            vteps,
        });
    }
    out
}
