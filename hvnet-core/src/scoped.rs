//! What a verb about one guest reads of the host ([`crate::engine::Scope::Guest`] and
//! [`crate::engine::Scope::Nic`]): its own links, the bridges (and their IFBs and uplinks)
//! of the config's networks, and — found one name at a time — whether the names it is
//! about to generate are free. Not every link of the host: a `guest up` beside 500 other
//! guests' taps reads a handful of links, not 500.
//!
//! The observation is enough for the guest's plan because that plan only touches those
//! links ([`crate::lifecycle`] cuts everything else out): every bridge is read because
//! hvnet's routes name bridges; a dynamic bridge's ports are read because its last guest
//! takes it down; the guest's own links are found by owner (the host keeps an index of who
//! owns which link, see `hvnet_linux`); a generated name is taken only after the host said
//! no link has it ([`settle_names`]).

use std::collections::BTreeSet;

use crate::backend::{LinkScope, NicBackend, Observe, Query};
use crate::config::{Config, HostIp, Lifetime, NicType};
use crate::observed::ObservedState;
use crate::resolve::{ifb_name, resolve_guest};

/// The query of a verb about `guest`: its links and the networks' links, its qdiscs and
/// those of its networks' links, the name hints, its SR-IOV pools, and — only when
/// needed — the services (a dynamic bridge's dnsmasq, a `host_ip = "dhcp"` client, VF
/// allocation records when the config has pools) and the named namespaces (a veth NIC).
///
/// ```
/// use hvnet_core::{config::Config, scoped};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-n'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
/// let q = scoped::query(&cfg, "g");
/// let links = q.links.unwrap();
/// assert!(links.names.contains("br-n") && links.owners.contains("g"));
/// assert!(!q.services && !q.firewall && q.name_hints);
/// ```
pub fn query(cfg: &Config, guest: &str) -> Query {
    let mut owners = BTreeSet::from([guest.to_string()]);
    let mut links = LinkScope {
        owners: BTreeSet::from([guest.to_string()]),
        ..LinkScope::default()
    };
    for net in &cfg.networks {
        links.names.insert(net.bridge.to_string());
        links.names.insert(ifb_name(&net.bridge).to_string());
        if let Some(u) = &net.uplink {
            links.names.insert(u.to_string());
        }
    }
    // A macvtap is judged by its lower device: the direct networks' uplinks.
    for d in &cfg.direct {
        links.names.extend(d.uplinks.iter().map(|u| u.to_string()));
    }
    let mut services = false;
    let mut netns = false;
    if let Some(g) = cfg.guest(guest) {
        for nic in &g.nics {
            if let Some(name) = &nic.ifname {
                links.names.insert(name.to_string());
                links.names.insert(ifb_name(name).to_string());
            }
            netns |= matches!(nic.kind, NicType::Veth { .. });
            let Some(net) = cfg.network(&nic.network) else {
                continue;
            };
            owners.insert(net.name.clone());
            let dynamic = net.lifetime == Lifetime::Dynamic;
            if dynamic {
                links.ports_of.insert(net.bridge.to_string());
            }
            services |= dynamic || net.host_ip == Some(HostIp::Dhcp);
        }
    }
    // hvnet's VF allocation records are read with the services (a guest may hold a VF its
    // config no longer names).
    services |= !cfg.pools.is_empty();
    Query {
        sysctls: Vec::new(),
        vf_pools: crate::sriov::guest_sources(cfg, guest),
        services,
        firewall: false,
        tc_owners: Some(owners),
        tc_links: BTreeSet::new(),
        netns,
        // An overlay's underlay is found by its address (any link may hold it) and its
        // VXLAN device is the network's: read every link.
        links: if cfg.networks.iter().any(|n| n.overlay.is_some()) {
            None
        } else {
            Some(links)
        },
        name_hints: true,
    }
}

/// Makes `observed` (a [`query`] observation) complete for `guest`'s names: resolves the
/// guest's links, and asks the host about every name the resolution wants that `observed`
/// does not hold; a name some link already has (a foreign link, another guest's) is added
/// to `observed` and the guest resolved again, until every wanted name is either observed
/// or known to be free. Normally one question: the name hints point past the last name
/// given.
///
/// # Errors
///
/// The host's, from reading it.
pub fn settle_names<H: Observe>(
    host: &mut H,
    cfg: &Config,
    backend: &dyn NicBackend,
    guest: &str,
    observed: &mut ObservedState,
) -> Result<(), H::Error> {
    let mut free: BTreeSet<String> = BTreeSet::new();
    loop {
        let want = resolve_guest(cfg, observed, backend, guest);
        let unknown: BTreeSet<String> = want
            .nic_links
            .iter()
            .filter(|l| l.guest == guest)
            .flat_map(|l| std::iter::once(&l.link).chain(l.ifb.as_ref()))
            .map(ToString::to_string)
            .filter(|n| observed.link(n).is_none() && !free.contains(n))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut probe = Query::names(unknown.iter().cloned());
        probe.tc_owners = Some(BTreeSet::from([guest.to_string()]));
        let found = host.observe(&probe)?;
        let taken = merge(observed, found);
        free.extend(unknown.into_iter().filter(|n| !taken.contains(n)));
        if taken.is_empty() {
            return Ok(());
        }
    }
}

/// Adds `found`'s links that `observed` lacks (with their addresses, routes, qdiscs and
/// hairpin flags) to `observed`; returns their names.
fn merge(observed: &mut ObservedState, found: ObservedState) -> BTreeSet<String> {
    let new: BTreeSet<u32> = found
        .links
        .iter()
        .filter(|l| observed.link(&l.name).is_none())
        .map(|l| l.ifindex)
        .collect();
    let names = found
        .links
        .iter()
        .filter(|l| new.contains(&l.ifindex))
        .map(|l| l.name.clone())
        .collect();
    observed
        .links
        .extend(found.links.into_iter().filter(|l| new.contains(&l.ifindex)));
    observed
        .addrs
        .extend(found.addrs.into_iter().filter(|a| new.contains(&a.ifindex)));
    observed.routes.extend(
        found
            .routes
            .into_iter()
            .filter(|r| r.oif.is_some_and(|i| new.contains(&i))),
    );
    observed.qdiscs.extend(
        found
            .qdiscs
            .into_iter()
            .filter(|q| new.contains(&q.ifindex)),
    );
    observed.redirects.extend(
        found
            .redirects
            .into_iter()
            .filter(|r| new.contains(&r.ifindex)),
    );
    observed
        .hairpin
        .extend(found.hairpin.into_iter().filter(|i| new.contains(i)));
    names
}
