//! One guest at a time: the desired states of `hvnet guest up|down NAME` and of QEMU's
//! `script=`/`downscript=` hooks (`hvnet kvm ifup|ifdown TAP`).
//!
//! They are cut out of the whole config's desired state ([`crate::resolve::resolve`]), so a
//! guest's links get exactly the names, MACs, masters and limits a full `apply` gives them,
//! and their [`Scope`] keeps everything else (other guests, other networks' bridges) out of
//! reach:
//!
//! * **up**: the guest's NIC links and its networks' links (a dynamic bridge is created with
//!   its first guest); nothing is deleted but the guest's own stale links.
//! * **down**: the guest's links go; a dynamic bridge goes with its last guest port (an
//!   uplink does not count as a guest).
//!
//! dnsmasq, the firewall and sysctls are the networks' business: `apply` manages them, and
//! these states say nothing about them — callers must not observe them either (an observed
//! firewall or saved sysctl that the state does not want would be removed). The host's DHCP
//! client of a `host_ip = "dhcp"` bridge does come and go with the bridge.

use std::collections::BTreeSet;

use crate::config::{Config, Lifetime};
use crate::observed::{ObservedKind, ObservedState};
use crate::state::{DesiredState, LinkKind, Scope};
use crate::types::IfName;

/// The guest or NIC asked for does not exist in the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// No such guest.
    #[error("no guest {0:?} in the config")]
    UnknownGuest(String),
    /// No such NIC.
    #[error("guest {guest:?} has no NIC {nic}")]
    UnknownNic {
        /// The guest.
        guest: String,
        /// The index asked for.
        nic: usize,
    },
}

/// Which NICs of the guest a state covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nics {
    /// All of them.
    All,
    /// Only this one (by index).
    One(usize),
}

/// Keeps from `full` (the whole config's desired state) the links of `nics` of `guest`
/// and of the networks they join; `extra` NIC links (other NICs of the guest that must
/// stay) are kept too.
fn cut(
    config: &Config,
    full: &DesiredState,
    guest: &str,
    nics: &BTreeSet<usize>,
) -> (DesiredState, BTreeSet<String>) {
    let g = config.guest(guest);
    let networks: BTreeSet<String> = g
        .map(|g| {
            g.nics
                .iter()
                .enumerate()
                .filter(|(i, _)| nics.contains(i))
                .map(|(_, n)| n.network.clone())
                .collect()
        })
        .unwrap_or_default();
    let bridges: BTreeSet<&str> = networks
        .iter()
        .filter_map(|n| config.network(n))
        .map(|n| n.bridge.as_str())
        .collect();
    let nic_names: BTreeSet<&IfName> = full
        .nic_links
        .iter()
        .filter(|l| l.guest == guest && nics.contains(&l.nic))
        .flat_map(|l| std::iter::once(&l.link).chain(l.ifb.as_ref()))
        .collect();
    let mut want = DesiredState {
        // The host DHCP clients of the kept bridges stay (cut below); the other services
        // belong to `apply`.
        sysctls: Vec::new(),
        dhcp: Vec::new(),
        firewall: None,
        ..full.clone()
    };
    want.links.retain(|l| {
        nic_names.contains(&l.name)
            || l.owner
                .as_ref()
                .is_some_and(|o| networks.contains(o.name()))
            || (matches!(l.kind, LinkKind::External)
                && l.master
                    .as_ref()
                    .is_some_and(|m| bridges.contains(m.as_str())))
    });
    let kept: BTreeSet<IfName> = want.links.iter().map(|l| l.name.clone()).collect();
    want.addrs.retain(|a| kept.contains(&a.link));
    // hvnet's routes are host-wide: keep every one whose device stays (the planner would
    // delete a route of hvnet's protocol that is not wanted).
    want.routes.retain(|r| {
        r.dev
            .as_ref()
            .is_none_or(|d| kept.contains(d) || !bridges.contains(d.as_str()))
    });
    want.shapers.retain(|s| kept.contains(s.link()));
    want.hairpin.retain(|h| kept.contains(h));
    want.host_ip_moves
        .retain(|m| kept.contains(&m.from) || kept.contains(&m.to));
    want.keep_addrs.retain(|l| kept.contains(l));
    want.dhcp_clients.retain(|c| kept.contains(&c.interface));
    want.nic_links
        .retain(|l| l.guest == guest && nics.contains(&l.nic));
    (want, networks)
}

fn nic_set(config: &Config, guest: &str, nics: Nics) -> Result<BTreeSet<usize>, LifecycleError> {
    let g = config
        .guest(guest)
        .ok_or_else(|| LifecycleError::UnknownGuest(guest.to_string()))?;
    match nics {
        Nics::All => Ok((0..g.nics.len()).collect()),
        Nics::One(i) if i < g.nics.len() => Ok(BTreeSet::from([i])),
        Nics::One(i) => Err(LifecycleError::UnknownNic {
            guest: guest.to_string(),
            nic: i,
        }),
    }
}

/// The desired state of bringing `nics` of `guest` up, given `full` (the whole config's
/// desired state against the same observed state). Only the guest's own links are in the
/// deletion scope.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
/// use hvnet_core::lifecycle::{up, Nics};
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
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='vmbridge'\nlifetime='dynamic'\n\
///     [[guest]]\nname='a'\n[[guest.nic]]\nnetwork='n'\n[[guest]]\nname='b'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
/// let obs = ObservedState::default();
/// let want = up(&cfg, &resolve(&cfg, &obs, &Taps), "b", Nics::All).unwrap();
/// let names: Vec<&str> = want.links.iter().map(|l| l.name.as_str()).collect();
/// assert_eq!(names, ["vmbridge", "vnet1"]);
/// ```
///
/// # Errors
///
/// An unknown guest or NIC.
pub fn up(
    config: &Config,
    full: &DesiredState,
    guest: &str,
    nics: Nics,
) -> Result<DesiredState, LifecycleError> {
    let set = nic_set(config, guest, nics)?;
    let (mut want, _) = cut(config, full, guest, &set);
    // Deleting is limited to the guest's own links; with one NIC, not even those (its other
    // NICs may be taps QEMU has not handed over yet).
    want.scope = match nics {
        Nics::All => Scope::Owners(BTreeSet::from([guest.to_string()])),
        Nics::One(_) => Scope::Owners(BTreeSet::new()),
    };
    Ok(want)
}

/// The desired state of taking `nics` of `guest` down: their links go; the guest's other
/// NICs that exist on the host stay; a dynamic network's bridge goes when no guest port
/// other than the ones removed is left on it.
///
/// # Errors
///
/// An unknown guest or NIC.
pub fn down(
    config: &Config,
    full: &DesiredState,
    observed: &ObservedState,
    guest: &str,
    nics: Nics,
) -> Result<DesiredState, LifecycleError> {
    let going = nic_set(config, guest, nics)?;
    let all = nic_set(config, guest, Nics::All)?;
    // The guest's other NICs that are on the host now stay as they are.
    let staying: BTreeSet<usize> = full
        .nic_links
        .iter()
        .filter(|l| l.guest == guest && !going.contains(&l.nic) && all.contains(&l.nic))
        .filter(|l| observed.link(l.link.as_str()).is_some())
        .map(|l| l.nic)
        .collect();
    let (mut want, staying_networks) = cut(config, full, guest, &staying);
    let (_, going_networks) = cut(config, full, guest, &going);
    let going_links: BTreeSet<&str> = full
        .nic_links
        .iter()
        .filter(|l| l.guest == guest && going.contains(&l.nic))
        .map(|l| l.link.as_str())
        .collect();
    let mut scope: BTreeSet<String> = BTreeSet::from([guest.to_string()]);
    for name in going_networks.difference(&staying_networks) {
        let Some(net) = config.network(name) else {
            continue;
        };
        if net.lifetime != Lifetime::Dynamic {
            continue;
        }
        let busy = observed.link(net.bridge.as_str()).is_some_and(|b| {
            observed.ports_of(b).any(|p| {
                let uplink = net.uplink.as_ref().is_some_and(|u| u.as_str() == p.name);
                let ifb = matches!(p.kind, ObservedKind::Ifb);
                !uplink && !ifb && !going_links.contains(p.name.as_str())
            })
        });
        if !busy {
            scope.insert(net.name.clone());
            // The host's addresses on the bridge (host_ip = "static") go back first.
            want.host_ip_moves
                .extend(crate::resolve::move_back(net, observed));
        }
    }
    want.scope = Scope::Owners(scope);
    Ok(want)
}
