//! Planning the services: bridge-port hairpin, sysctls (with their saved originals),
//! hvnet's firewall chains and the dnsmasq daemons.
//!
//! Order inside a plan: hairpin after the ports are attached; sysctls; the firewall before
//! any dnsmasq starts (a guest's first DHCP answer already passes the rules); dnsmasq
//! starts and reloads last among the additions. Stops come before the links they serve are
//! deleted.

use std::collections::HashSet;

use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::{DesiredState, DhcpClient, DhcpService};
use crate::types::IfName;

/// The service ops of a plan, by position.
#[derive(Default)]
pub(super) struct ServiceOps {
    /// Hairpin changes (after attaches and ups).
    pub hairpin: Vec<Op>,
    /// Sysctl saves, writes, restores and forgets.
    pub sysctls: Vec<Op>,
    /// Firewall and dnsmasq (after sysctls, before link deletions).
    pub daemons: Vec<Op>,
    /// Host DHCP clients stopping (before the host's addresses move back).
    pub client_stops: Vec<Op>,
    /// Host DHCP clients starting (last: after the addresses moved onto the bridge).
    pub client_starts: Vec<Op>,
}

pub(super) fn service_ops(
    observed: &ObservedState,
    desired: &DesiredState,
    recreated: &HashSet<&str>,
) -> ServiceOps {
    let mut out = ServiceOps::default();
    hairpin(observed, desired, recreated, &mut out.hairpin);
    sysctls(observed, desired, &mut out.sysctls);
    firewall(observed, desired, &mut out.daemons);
    dhcp(observed, desired, recreated, &mut out.daemons);
    out.daemons.extend(super::frr::frr_ops(observed, desired));
    clients(
        observed,
        desired,
        recreated,
        &mut out.client_stops,
        &mut out.client_starts,
    );
    out
}

fn clients(
    observed: &ObservedState,
    desired: &DesiredState,
    recreated: &HashSet<&str>,
    stops: &mut Vec<Op>,
    starts: &mut Vec<Op>,
) {
    let restorable = |o: &crate::observed::ObservedDhcpClient| {
        Some(Box::new(DhcpClient {
            network: o.network.clone(),
            interface: IfName::new(o.interface.as_deref()?).ok()?,
            dir: o.dir.clone(),
            hook: o.hook.clone()?,
        }))
    };
    for c in &desired.dhcp_clients {
        let running = observed
            .dhcp_clients
            .iter()
            .find(|o| o.network == c.network)
            .and_then(|o| Some((o, o.pid?)));
        match running {
            Some((o, pid)) => {
                let stale = o.hook.as_deref() != Some(c.hook.as_str())
                    || o.interface.as_deref() != Some(c.interface.as_str())
                    || recreated.contains(c.interface.as_str());
                if stale {
                    stops.push(Op::StopDhcpClient {
                        network: o.network.clone(),
                        dir: o.dir.clone(),
                        pid,
                        restore: restorable(o),
                    });
                    starts.push(Op::StartDhcpClient(Box::new(c.clone())));
                }
            }
            None => starts.push(Op::StartDhcpClient(Box::new(c.clone()))),
        }
    }
    for o in &observed.dhcp_clients {
        let Some(pid) = o.pid else { continue };
        let in_scope = desired
            .scope
            .covers(&crate::state::Owner::new(o.network.as_str()));
        if in_scope && !desired.dhcp_clients.iter().any(|c| c.network == o.network) {
            stops.push(Op::StopDhcpClient {
                network: o.network.clone(),
                dir: o.dir.clone(),
                pid,
                restore: restorable(o),
            });
        }
    }
}

fn hairpin(
    observed: &ObservedState,
    desired: &DesiredState,
    recreated: &HashSet<&str>,
    ops: &mut Vec<Op>,
) {
    for link in &desired.hairpin {
        let on = match observed.link(link.as_str()) {
            Some(l) if !recreated.contains(link.as_str()) => observed.hairpin.contains(&l.ifindex),
            _ => false,
        };
        if !on && desired.link(link.as_str()).is_some() {
            ops.push(Op::SetHairpin {
                link: link.clone(),
                on: true,
            });
        }
    }
    // Owned ports that keep existing but no longer need it.
    for l in &observed.links {
        let owned = l.owner().is_some_and(|o| desired.scope.covers(&o));
        if !owned || !observed.hairpin.contains(&l.ifindex) || recreated.contains(l.name.as_str()) {
            continue;
        }
        let Ok(name) = IfName::new(&l.name) else {
            continue;
        };
        if desired.link(&l.name).is_some() && !desired.hairpin.contains(&name) {
            ops.push(Op::SetHairpin {
                link: name,
                on: false,
            });
        }
    }
}

fn sysctls(observed: &ObservedState, desired: &DesiredState, ops: &mut Vec<Op>) {
    for s in &desired.sysctls {
        let Some(old) = observed.sysctls.get(&s.key) else {
            // A key the kernel lacks (bridge-nf-call-* without br_netfilter) is as good as
            // off; anything else is attempted and fails with the kernel's reason. A link's
            // key is missing because the plan creates the link: it is set once it exists.
            let of_new_link = crate::ipv6::dad_link(&s.key)
                .is_some_and(|l| desired.link(&l).is_some() && observed.link(&l).is_none());
            if s.value != "0" || of_new_link {
                ops.push(Op::SetSysctl {
                    key: s.key.clone(),
                    value: s.value.clone(),
                    old: String::new(),
                });
            }
            continue;
        };
        if *old == s.value {
            continue;
        }
        if !observed.saved_sysctls.contains_key(&s.key) {
            ops.push(Op::SaveSysctl {
                key: s.key.clone(),
                value: old.clone(),
            });
        }
        ops.push(Op::SetSysctl {
            key: s.key.clone(),
            value: s.value.clone(),
            old: old.clone(),
        });
    }
    // Values hvnet changed that nothing wants any more go back to what they were.
    for (key, saved) in &observed.saved_sysctls {
        if desired.sysctls.iter().any(|s| s.key == *key) {
            continue;
        }
        if let Some(now) = observed.sysctls.get(key) {
            if now != saved {
                ops.push(Op::SetSysctl {
                    key: key.clone(),
                    value: saved.clone(),
                    old: now.clone(),
                });
            }
        }
        ops.push(Op::ForgetSysctl {
            key: key.clone(),
            value: saved.clone(),
        });
    }
}

fn firewall(observed: &ObservedState, desired: &DesiredState, ops: &mut Vec<Op>) {
    let have = observed.firewall.as_ref();
    // hvnet's rules in the backend that is not selected go first.
    for (backend, intent) in have.iter().flat_map(|f| &f.others) {
        ops.push(Op::FirewallOf {
            backend: *backend,
            intent: None,
            old: Some(Box::new(intent.clone())),
        });
    }
    match (&desired.firewall, have) {
        (Some(intent), Some(fw)) => {
            if !fw.diff(intent).is_empty() {
                ops.push(Op::SetFirewall {
                    intent: Box::new(intent.clone()),
                    old: fw.current().map(Box::new),
                });
            }
        }
        (Some(intent), None) => ops.push(Op::SetFirewall {
            intent: Box::new(intent.clone()),
            old: None,
        }),
        (None, Some(fw)) => {
            if let Some(old) = fw.current() {
                ops.push(Op::RemoveFirewall {
                    old: Some(Box::new(old)),
                });
            }
        }
        (None, None) => {}
    }
}

fn dhcp(
    observed: &ObservedState,
    desired: &DesiredState,
    recreated: &HashSet<&str>,
    ops: &mut Vec<Op>,
) {
    let mut stops = Vec::new();
    let mut starts = Vec::new();
    for svc in &desired.dhcp {
        let running = observed.dhcp(&svc.network).and_then(|o| Some((o, o.pid?)));
        match running {
            Some((o, pid)) => {
                // A new bridge is a new interface: a daemon bound to the old one is deaf.
                let restart = o.conf.as_deref() != Some(svc.conf.as_str())
                    || recreated.contains(svc.bridge.as_str());
                if restart {
                    stops.push(Op::StopDhcp {
                        network: o.network.clone(),
                        dir: o.dir.clone(),
                        pid,
                        restore: restorable(o),
                    });
                    starts.push(Op::StartDhcp(Box::new(svc.clone())));
                } else if o.hosts.as_deref() != Some(svc.hosts.as_str()) {
                    starts.push(Op::ReloadDhcpHosts {
                        network: svc.network.clone(),
                        dir: svc.dir.clone(),
                        hosts: svc.hosts.clone(),
                        old: o.hosts.clone().unwrap_or_default(),
                    });
                }
            }
            None => starts.push(Op::StartDhcp(Box::new(svc.clone()))),
        }
    }
    for o in &observed.dhcp {
        let Some(pid) = o.pid else { continue };
        let in_scope = desired
            .scope
            .covers(&crate::state::Owner::new(o.network.as_str()));
        if in_scope && !desired.dhcp.iter().any(|d| d.network == o.network) {
            stops.push(Op::StopDhcp {
                network: o.network.clone(),
                dir: o.dir.clone(),
                pid,
                restore: restorable(o),
            });
        }
    }
    ops.extend(stops);
    ops.extend(starts);
}

/// The service a running daemon was started as, to start it again on rollback.
fn restorable(o: &crate::observed::ObservedDhcp) -> Option<Box<DhcpService>> {
    let conf = o.conf.clone()?;
    let bridge = conf
        .lines()
        .find_map(|l| l.strip_prefix("interface="))
        .and_then(|b| IfName::new(b.trim()).ok())?;
    Some(Box::new(DhcpService {
        network: o.network.clone(),
        bridge,
        dir: o.dir.clone(),
        conf,
        hosts: o.hosts.clone().unwrap_or_default(),
    }))
}
