//! From config to desired state: bridges, uplinks, guest NIC links with their names and MACs.

use std::collections::{HashMap, HashSet};

use crate::backend::NicBackend;
use crate::config::{Config, HostIp, Lifetime, NetworkKind};
use crate::observed::ObservedState;
use crate::state::{
    AddrSpec, BridgeOpts, DesiredState, HostIpMove, LinkKind, LinkSpec, NicLinks, Owner, RouteSpec,
    Scope, Shaper, Tbf, MAIN_TABLE,
};
use crate::types::{stable_hash64, IfName, Ipv4Cidr, MacAddr, MacPrefix};

/// The MAC hvnet gives a network's bridge unless the config fixes one: stable per network
/// name, locally administered, so the bridge MAC never follows its ports.
pub fn bridge_mac(network: &str) -> MacAddr {
    MacAddr::derive(&MacPrefix::LOCAL, &format!("bridge/{network}"))
}

/// Computes the desired state of `config`. Unnamed guest NICs keep the name of the owned link
/// that already carries them (matched by owner and MAC); otherwise they get the lowest free
/// `<prefix>N`.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
/// # use hvnet_core::{backend::NicBackend, config::{Guest, Network, Nic}, state::*, types::IfName};
/// # struct Taps;
/// # impl NicBackend for Taps {
/// #   fn name(&self) -> &'static str { "test" }
/// #   fn ifname_prefix(&self, _: &Nic) -> &'static str { "vnet" }
/// #   fn host_link(&self, g: &Guest, n: &Nic, net: &Network, name: IfName) -> LinkSpec {
/// #     LinkSpec { name, kind: LinkKind::Tap(TapOpts::default()), owner: Some(Owner::new(&g.name)),
/// #       master: Some(net.bridge.clone()), mtu: net.mtu, mac: Some(n.mac.with_first_octet(0xfe)), up: true }
/// #   }
/// # }
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-guest'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
/// let want = resolve(&cfg, &ObservedState::default(), &Taps);
/// let names: Vec<&str> = want.links.iter().map(|l| l.name.as_str()).collect();
/// assert_eq!(names, ["br-guest", "vnet0"]);
/// ```
pub fn resolve(
    config: &Config,
    observed: &ObservedState,
    backend: &dyn NicBackend,
) -> DesiredState {
    resolve_for(config, observed, backend, None)
}

/// [`resolve`] for a verb about one guest: the networks as `resolve` has them, but only
/// `guest`'s NIC links. Other guests' NICs neither get nor take generated names (their
/// links are not observed; see [`crate::scoped`]), so the guest's unnamed NICs get the
/// lowest free names from the hints on, whoever else is up or down.
pub fn resolve_guest(
    config: &Config,
    observed: &ObservedState,
    backend: &dyn NicBackend,
    guest: &str,
) -> DesiredState {
    resolve_for(config, observed, backend, Some(guest))
}

fn resolve_for(
    config: &Config,
    observed: &ObservedState,
    backend: &dyn NicBackend,
    only: Option<&str>,
) -> DesiredState {
    let mut want = DesiredState {
        scope: Scope::All,
        ..DesiredState::default()
    };
    let used_networks: HashSet<&str> = config
        .guests
        .iter()
        .flat_map(|g| g.nics.iter().map(|n| n.network.as_str()))
        .collect();
    for net in &config.networks {
        if net.lifetime == Lifetime::Dynamic && !used_networks.contains(net.name.as_str()) {
            // The bridge goes; the host's addresses on it go back to the uplink first.
            if let Some(m) = move_back(net, observed) {
                want.host_ip_moves.push(m);
            }
            continue;
        }
        want.links.push(LinkSpec {
            name: net.bridge.clone(),
            kind: LinkKind::Bridge(BridgeOpts {
                stp: net.stp,
                forward_delay_cs: net.forward_delay * 100,
            }),
            owner: Some(Owner::new(&net.name)),
            master: None,
            mtu: net.mtu,
            mac: Some(net.mac.unwrap_or_else(|| bridge_mac(&net.name))),
            up: true,
        });
        crate::overlay::add_links(config, net, observed, &mut want);
        if let Some(spec) = &net.rate.ingress {
            want.shapers.push(Shaper::Egress {
                link: net.bridge.clone(),
                tbf: Tbf::from_spec(spec),
            });
        }
        if let Some(spec) = &net.rate.egress {
            let ifb = ifb_name(&net.bridge);
            want.links.push(LinkSpec {
                name: ifb.clone(),
                kind: LinkKind::Ifb,
                owner: Some(Owner::new(&net.name)),
                master: None,
                mtu: net.mtu,
                mac: None,
                up: true,
            });
            want.shapers.push(Shaper::Ingress {
                link: net.bridge.clone(),
                ifb,
                tbf: Tbf::from_spec(spec),
            });
        }
        if let Some(cidr) = net.address {
            want.addrs.push(AddrSpec {
                link: net.bridge.clone(),
                cidr: cidr.into(),
            });
        }
        if let Some(cidr) = net.address6 {
            want.addrs.push(AddrSpec {
                link: net.bridge.clone(),
                cidr: cidr.into(),
            });
        }
        // host_ip = "static" | "dhcp": the uplink's addresses and routes live on the bridge, which
        // takes the uplink's MAC (the LAN keeps seeing the same host).
        if let (NetworkKind::Bridge, Some(uplink), Some(true)) = (
            net.kind,
            &net.uplink,
            net.host_ip.map(HostIp::moves_addresses),
        ) {
            want.host_ip_moves.push(HostIpMove {
                from: uplink.clone(),
                to: net.bridge.clone(),
                keep: Vec::new(),
            });
            want.keep_addrs.insert(net.bridge.clone());
            if net.mac.is_none() {
                // With MAC replication the uplink's own MAC is its guest's: the stand-in.
                let uplink_mac = if net.replicate_mac {
                    Some(crate::config::Network::replica_uplink_mac(&net.name))
                } else {
                    observed.link(uplink.as_str()).and_then(|l| l.mac)
                };
                if let Some(mac) = uplink_mac {
                    if let Some(b) = want.links.iter_mut().find(|l| l.name == net.bridge) {
                        b.mac = Some(mac);
                    }
                }
            }
            if let (Some(gw), Some(_)) = (net.gateway, net.address) {
                want.routes.push(RouteSpec {
                    dst: Ipv4Cidr::DEFAULT.into(),
                    gateway: Some(gw.into()),
                    dev: Some(net.bridge.clone()),
                    src: None,
                    metric: None,
                    table: MAIN_TABLE,
                    protocol: crate::op::RTPROT_HVNET,
                });
            }
        }
        // Only a bridged network enslaves its uplink; nat and routed networks route to it.
        if let (NetworkKind::Bridge, Some(uplink)) = (net.kind, &net.uplink) {
            want.links.push(LinkSpec {
                name: uplink.clone(),
                kind: LinkKind::External,
                owner: None,
                master: Some(net.bridge.clone()),
                mtu: None,
                // MAC replication: its own MAC is its guest's; it wears a stand-in.
                mac: net
                    .replicate_mac
                    .then(|| crate::config::Network::replica_uplink_mac(&net.name)),
                up: true,
            });
        }
    }

    // Names nobody may be given automatically.
    let mut taken: HashSet<String> = config
        .networks
        .iter()
        .flat_map(|n| {
            std::iter::once(n.bridge.to_string()).chain(n.uplink.iter().map(|u| u.to_string()))
        })
        .chain(
            config
                .direct
                .iter()
                .flat_map(|d| d.uplinks.iter().map(|u| u.to_string())),
        )
        .chain(config.guests.iter().flat_map(|g| {
            g.nics
                .iter()
                .filter_map(|n| n.ifname.as_ref().map(|i| i.to_string()))
        }))
        .collect();
    let observed_names: HashSet<&str> = observed.links.iter().map(|l| l.name.as_str()).collect();
    // Owned links by (owner, MAC), to find the link that already carries an unnamed NIC.
    let carriers: HashMap<(Owner, MacAddr), &str> = observed
        .links
        .iter()
        .filter_map(|l| Some(((l.owner()?, l.mac?), l.name.as_str())))
        .collect();
    let mut cursor: HashMap<&str, u32> = HashMap::new();

    for (guest_index, guest) in config
        .guests
        .iter()
        .enumerate()
        .filter(|(_, g)| only.is_none_or(|o| o == g.name))
    {
        let owner = Owner::new(&guest.name);
        for (index, nic) in guest.nics.iter().enumerate() {
            // A NIC on a direct network is a macvtap on its uplink; the others are the
            // backend's links on the network's bridge.
            let direct = config
                .direct_network(&nic.network)
                .and_then(|d| Some((d, crate::macvtap::uplink_of(config, guest_index, index)?)));
            let net = config.network(&nic.network);
            if net.is_none() && direct.is_none() {
                continue;
            }
            let name = match &nic.ifname {
                Some(n) => n.clone(),
                None => {
                    let prefix = match (&direct, net) {
                        (Some(_), _) => crate::macvtap::IFNAME_PREFIX,
                        (None, _) => backend.ifname_prefix(nic),
                    };
                    // Probe with a placeholder name to learn the host-side MAC.
                    let probe_name = IfName::new(prefix).ok();
                    let host_mac = match (&direct, net) {
                        (Some(_), _) => Some(nic.mac),
                        (None, Some(net)) => {
                            probe_name.and_then(|p| backend.host_link(guest, nic, net, p).mac)
                        }
                        (None, None) => None,
                    };
                    let existing = host_mac
                        .and_then(|m| carriers.get(&(owner.clone(), m)))
                        .filter(|n| !taken.contains(**n))
                        .and_then(|n| IfName::new(n).ok());
                    match existing {
                        Some(n) => n,
                        None => {
                            let from = cursor.entry(prefix).or_insert_with(|| {
                                observed.name_hints.get(prefix).copied().unwrap_or(0)
                            });
                            match next_free(prefix, from, &taken, &observed_names) {
                                Some(n) => n,
                                None => continue,
                            }
                        }
                    }
                }
            };
            taken.insert(name.to_string());
            // A forward's target port must send a guest's hairpin connection (guest → host
            // port → the same guest) back out of the port it came in on.
            if guest.forwards.iter().any(|f| f.nic == index) {
                want.hairpin.insert(name.clone());
            }
            // What the host sends into a tap reaches the guest, and what a macvtap sends
            // (its root qdisc) is what the guest wrote: the directions are swapped.
            let (toward_guest, from_guest) = match direct {
                Some(_) => (&nic.rate.egress, &nic.rate.ingress),
                None => (&nic.rate.ingress, &nic.rate.egress),
            };
            if let Some(spec) = toward_guest {
                want.shapers.push(Shaper::Egress {
                    link: name.clone(),
                    tbf: Tbf::from_spec(spec),
                });
            }
            let ifb = from_guest
                .as_ref()
                .map(|spec| (ifb_name(&name), Tbf::from_spec(spec)));
            let (link, mtu) = match (&direct, net) {
                (Some((d, lower)), _) => (
                    crate::macvtap::host_link(guest, nic, d, lower.clone(), name.clone()),
                    d.mtu,
                ),
                (None, Some(net)) => {
                    let link = backend.host_link(guest, nic, net, name.clone());
                    // No MTU in the config: the port takes the bridge's (or, for a bridge
                    // still to be made, its uplink's), so enslaving it never lowers the
                    // bridge's MTU.
                    let mtu = link.mtu.or_else(|| observed_mtu(observed, net));
                    (link, mtu)
                }
                (None, None) => continue,
            };
            let link = LinkSpec { mtu, ..link };
            want.links.push(link);
            want.nic_links.push(NicLinks {
                guest: guest.name.clone(),
                nic: index,
                link: name.clone(),
                ifb: ifb.as_ref().map(|(i, _)| i.clone()),
            });
            if let Some((ifb, tbf)) = ifb {
                want.links.push(LinkSpec {
                    name: ifb.clone(),
                    kind: LinkKind::Ifb,
                    owner: Some(owner.clone()),
                    master: None,
                    mtu: match &direct {
                        Some((d, _)) => d.mtu,
                        None => net.and_then(|n| n.mtu),
                    },
                    mac: None,
                    up: true,
                });
                want.shapers.push(Shaper::Ingress {
                    link: name,
                    ifb,
                    tbf,
                });
            }
        }
    }
    want
}

/// The MTU a network's ports take when the config sets none: the bridge's, or its uplink's
/// (`kind = "bridge"`) when the bridge does not exist yet.
fn observed_mtu(observed: &ObservedState, net: &crate::config::Network) -> Option<u32> {
    observed
        .link(net.bridge.as_str())
        .map(|b| b.mtu)
        .or_else(|| {
            let uplink = net
                .uplink
                .as_ref()
                .filter(|_| net.kind == NetworkKind::Bridge)?;
            observed.link(uplink.as_str()).map(|u| u.mtu)
        })
}

/// For a bridged network with `host_ip = "static"` whose bridge exists: the move of the
/// host's addresses from the bridge back to the uplink (all but the configured `address`,
/// which goes with the bridge). Used when the bridge is about to go.
pub fn move_back(net: &crate::config::Network, observed: &ObservedState) -> Option<HostIpMove> {
    let uplink = net.uplink.as_ref()?;
    if net.kind != NetworkKind::Bridge || !net.host_ip.is_some_and(HostIp::moves_addresses) {
        return None;
    }
    observed.link(net.bridge.as_str())?;
    observed.link(uplink.as_str())?;
    Some(HostIpMove {
        from: net.bridge.clone(),
        to: uplink.clone(),
        keep: net.address.iter().copied().collect(),
    })
}

/// The IFB device that shapes what `link` receives: `hvi` + 12 hex digits of a stable hash
/// of the link's name (15 bytes, like CNI's `bwp…` names).
///
/// ```
/// let n = hvnet_core::resolve::ifb_name(&"vnet0".parse().unwrap());
/// assert_eq!(n.len(), 15);
/// assert!(n.starts_with("hvi"));
/// ```
pub fn ifb_name(link: &IfName) -> IfName {
    let hash = stable_hash64(link.as_bytes());
    let name = format!("hvi{:012x}", hash & 0xffff_ffff_ffff);
    // 3 + 12 ASCII characters: always a valid interface name.
    IfName::new(&name).unwrap_or_else(|_| link.clone())
}

/// Names are generated up to this number, then from 0 again.
pub const MAX_GENERATED: u32 = 1_000_000;

/// The first `<prefix>N` (N ≥ `*from`, wrapping around to 0 after [`MAX_GENERATED`]) that
/// nobody uses; advances `*from` past it.
fn next_free(
    prefix: &str,
    from: &mut u32,
    taken: &HashSet<String>,
    observed: &HashSet<&str>,
) -> Option<IfName> {
    for _ in 0..MAX_GENERATED {
        if *from >= MAX_GENERATED {
            *from = 0;
        }
        let name = format!("{prefix}{from}");
        *from += 1;
        if !taken.contains(&name) && !observed.contains(name.as_str()) {
            if let Ok(n) = IfName::new(&name) {
                return Some(n);
            }
        }
    }
    None
}

/// The name hints to remember once `desired` is applied: for every prefix, one past the
/// number of the last name newly generated for it (a NIC without `ifname` whose link does
/// not exist yet); other prefixes keep `observed`'s hints.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::{resolve, next_name_hints}};
/// # use hvnet_core::{backend::NicBackend, config::{Guest, Network, Nic}, state::*, types::IfName};
/// # struct Taps;
/// # impl NicBackend for Taps {
/// #   fn name(&self) -> &'static str { "test" }
/// #   fn ifname_prefix(&self, _: &Nic) -> &'static str { "vnet" }
/// #   fn host_link(&self, g: &Guest, n: &Nic, net: &Network, name: IfName) -> LinkSpec {
/// #     LinkSpec { name, kind: LinkKind::Tap(TapOpts::default()), owner: Some(Owner::new(&g.name)),
/// #       master: Some(net.bridge.clone()), mtu: net.mtu, mac: Some(n.mac.with_first_octet(0xfe)), up: true }
/// #   }
/// # }
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
/// let mut obs = ObservedState::default();
/// obs.name_hints.insert("vnet".into(), 7);
/// let want = resolve(&cfg, &obs, &Taps);
/// assert_eq!(want.links[1].name.as_str(), "vnet7");
/// assert_eq!(next_name_hints(&cfg, &obs, &want, &Taps)["vnet"], 8);
/// ```
pub fn next_name_hints(
    config: &Config,
    observed: &ObservedState,
    desired: &DesiredState,
    backend: &dyn NicBackend,
) -> std::collections::BTreeMap<String, u32> {
    let mut hints = observed.name_hints.clone();
    for l in &desired.nic_links {
        let Some(nic) = config.guest(&l.guest).and_then(|g| g.nics.get(l.nic)) else {
            continue;
        };
        if nic.ifname.is_some() || observed.link(l.link.as_str()).is_some() {
            continue;
        }
        let prefix = backend.ifname_prefix(nic);
        if let Some(n) = l
            .link
            .as_str()
            .strip_prefix(prefix)
            .and_then(|d| d.parse::<u32>().ok())
        {
            hints.insert(prefix.to_string(), (n + 1) % MAX_GENERATED);
        }
    }
    hints
}
