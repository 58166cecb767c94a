//! Undoing: what `hvnet down` and `hvnet brdelall` remove.

use std::collections::BTreeSet;

use crate::config::{Config, NetworkKind};
use crate::observed::{ObservedKind, ObservedState};
use crate::op::Op;
use crate::plan::{restore_of, Plan};
use crate::state::{DesiredState, LinkKind, LinkSpec, Scope};
use crate::types::IfName;

/// The desired state after `hvnet down`: nothing owned by the config's networks and guests
/// remains (links, dnsmasq daemons, firewall rules), the config's uplinks (when present) are
/// detached, and sysctls hvnet changed get their saved values back. Other hvnet owners'
/// links and rules and everything hvnet does not own are out of scope.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, teardown::down_state};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-guest'\n", "x.toml").unwrap();
/// let want = down_state(&cfg, &ObservedState::default());
/// assert!(want.links.is_empty());
/// ```
pub fn down_state(config: &Config, observed: &ObservedState) -> DesiredState {
    let owners: BTreeSet<String> = config
        .networks
        .iter()
        .map(|n| n.name.clone())
        .chain(config.guests.iter().map(|g| g.name.clone()))
        // hvnet's FRR goes with the config that has [overlay.evpn].
        .chain(config.evpn.as_ref().map(|_| crate::evpn::OWNER.to_string()))
        .collect();
    let links = config
        .networks
        .iter()
        .filter(|n| n.kind == NetworkKind::Bridge)
        .filter_map(|n| Some((n, n.uplink.as_ref()?)))
        .filter(|(_, u)| observed.link(u.as_str()).is_some())
        .map(|(n, u)| LinkSpec {
            name: u.clone(),
            kind: LinkKind::External,
            owner: None,
            master: None,
            mtu: None,
            // MAC replication: the uplink gets its own MAC back from its guest's NIC.
            mac: n
                .replicate_mac
                .then(|| replicated_mac(config, &n.name))
                .flatten(),
            up: false,
        })
        .collect();
    // The firewall is shared by every network of the namespace: keep the rules of networks
    // this config does not name, drop the chains when nothing is left.
    let firewall = observed
        .firewall
        .as_ref()
        .and_then(|f| f.current())
        .map(|intent| intent.without_owners(&owners))
        .filter(|intent| !intent.is_empty());
    // host_ip = "static": the addresses go back from the bridge to the uplink (all but
    // hvnet's own configured address, which goes with the bridge).
    let host_ip_moves = config
        .networks
        .iter()
        .filter_map(|n| crate::resolve::move_back(n, observed))
        .collect();
    DesiredState {
        links,
        host_ip_moves,
        firewall,
        scope: Scope::Owners(owners),
        ..DesiredState::default()
    }
}

/// The MAC of the guest NIC a `replicate_mac` network handed its uplink's MAC to.
fn replicated_mac(config: &Config, network: &str) -> Option<crate::types::MacAddr> {
    config
        .guests
        .iter()
        .flat_map(|g| &g.nics)
        .find(|n| n.network == network && n.mac_given)
        .map(|n| n.mac)
}

/// A bridge `brdelall` will not remove without `--force`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyBridge {
    /// The bridge.
    pub bridge: String,
    /// Its guest ports (taps, veths, hvnet-owned links).
    pub ports: Vec<String>,
}

/// The plan of `hvnet brdelall`: delete every hvnet-owned bridge. Bridges with guest ports
/// attached (taps, veths or other hvnet-owned links; a physical uplink does not count) are
/// refused unless `force`.
///
/// ```
/// use hvnet_core::{observed::ObservedState, teardown::brdelall};
/// assert!(brdelall(&ObservedState::default(), false).unwrap().is_empty());
/// ```
pub fn brdelall(observed: &ObservedState, force: bool) -> Result<Plan, Vec<BusyBridge>> {
    let mut ops = Vec::new();
    let mut busy = Vec::new();
    for b in observed
        .links
        .iter()
        .filter(|l| l.owner().is_some() && matches!(l.kind, ObservedKind::Bridge(_)))
    {
        let ports: Vec<String> = observed
            .ports_of(b)
            .filter(|p| {
                p.owner().is_some()
                    || matches!(
                        p.kind,
                        ObservedKind::Tap(_) | ObservedKind::Tun | ObservedKind::Veth
                    )
            })
            .map(|p| p.name.clone())
            .collect();
        if !ports.is_empty() && !force {
            busy.push(BusyBridge {
                bridge: b.name.clone(),
                ports,
            });
            continue;
        }
        if let Ok(name) = IfName::new(&b.name) {
            ops.push(Op::DeleteLink {
                name,
                restore: restore_of(observed, b),
            });
        }
    }
    if busy.is_empty() {
        Ok(Plan { ops })
    } else {
        Err(busy)
    }
}
