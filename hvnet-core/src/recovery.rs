//! Rolling back a transaction that a crash cut short.
//!
//! The journal holds every op of the interrupted transaction ([`Record`]), but not how far it
//! got: the process may have died before the first op, between any two, or in the middle of
//! one (a link created but not yet tagged, the filter table committed but not the nat table).
//! [`plan`] therefore works from what is *observed*: walking the ops backwards, it undoes each
//! one whose effect is visible, and only that — a link the transaction would have created is
//! deleted if it exists (tagged or not: the journal, not the tag, says whose it is), a sysctl
//! it would have changed is put back if it holds the new value, a daemon it would have
//! started is stopped if it runs. Each undo is also carried out on an in-memory copy of the
//! observation ([`MemHost`]), so an object the transaction touched twice (a daemon stopped
//! and started again, a link deleted and recreated with another kind) ends up as it was
//! before the first touch.
//!
//! Running the resulting plan twice is harmless: the second time nothing is visible to undo.

use crate::backend::Record;
use crate::memhost::MemHost;
use crate::observed::{ObservedKind, ObservedState, QdiscKind};
use crate::op::{Op, HVNET_QDISC_HANDLE};
use crate::plan::Plan;
use crate::state::LinkKind;
use crate::types::IfName;

/// The plan that rolls the host back from `observed` to where it was before `record` began.
///
/// ```
/// use hvnet_core::backend::{Execute, Record};
/// use hvnet_core::memhost::MemHost;
/// use hvnet_core::observed::ObservedState;
/// use hvnet_core::op::Op;
/// use hvnet_core::state::{Owner, TapOpts};
/// use hvnet_core::types::IfName;
/// let tap = IfName::new("vnet0").unwrap();
/// let record = Record { verb: "guest up web".into(), ops: vec![
///     Op::CreateTap { name: tap.clone(), owner: Owner::new("web"), mtu: None, mac: None,
///                     opts: TapOpts::default() },
///     Op::SetUp { link: tap.clone(), up: true },
/// ] };
/// // Killed after the first op: the tap exists, down.
/// let mut host = MemHost::new();
/// host.execute(&record.ops[..1]).unwrap();
/// let undo = hvnet_core::recovery::plan(&record, &host.state);
/// assert_eq!(undo.commands(), ["ip link del dev vnet0"]);
/// // Nothing happened yet: nothing to undo.
/// assert!(hvnet_core::recovery::plan(&record, &ObservedState::default()).is_empty());
/// ```
pub fn plan(record: &Record, observed: &ObservedState) -> Plan {
    let mut sim = MemHost::from_observed(observed.clone());
    let mut ops = Vec::new();
    for op in record.ops.iter().rev() {
        for u in undo_if_visible(op, &sim.state) {
            // Best effort: an undo the model refuses is still tried on the host.
            let _ = sim.apply(&u);
            ops.push(u);
        }
    }
    Plan { ops }
}

/// The undo of creating link `name`: delete it if a link of that name and kind exists
/// (tagged or not: the journal says it is hvnet's).
fn undo_create(s: &ObservedState, name: &IfName, is_kind: fn(&ObservedKind) -> bool) -> Vec<Op> {
    match s.link(name.as_str()) {
        Some(l) if is_kind(&l.kind) => vec![Op::DeleteLink {
            name: name.clone(),
            restore: None,
        }],
        _ => Vec::new(),
    }
}

/// Whether `s` holds forwarding entry `e`.
fn has_fdb(s: &ObservedState, e: &crate::overlay::FdbSpec) -> bool {
    s.link(e.link.as_str()).is_some_and(|l| {
        s.fdb
            .iter()
            .any(|f| f.ifindex == l.ifindex && f.mac == e.mac && f.dst == e.dst)
    })
}

/// The undo of `op` if its effect is visible in `s`, else nothing.
fn undo_if_visible(op: &Op, s: &ObservedState) -> Vec<Op> {
    let link = |n: &IfName| s.link(n.as_str());
    if let Some(seen) = crate::sriov::visible(op, s) {
        return if seen { op.inverse() } else { Vec::new() };
    }
    let visible = match op {
        Op::CreateBridge { name, .. } => {
            return undo_create(s, name, |k| matches!(k, ObservedKind::Bridge(_)))
        }
        Op::CreateTap { name, .. } => {
            return undo_create(s, name, |k| {
                matches!(k, ObservedKind::Tap(_) | ObservedKind::Tun)
            })
        }
        Op::CreateVeth { name, .. } => return undo_create(s, name, |k| *k == ObservedKind::Veth),
        Op::CreateIfb { name, .. } => return undo_create(s, name, |k| *k == ObservedKind::Ifb),
        Op::CreateVxlan { name, .. } => {
            return undo_create(s, name, |k| matches!(k, ObservedKind::Vxlan(_)))
        }
        // Proxy entries are not in the engine's observation: undone whenever the link is
        // there (best effort: the entry may not have been made), re-made likewise (a
        // replace).
        Op::AddProxyNdp { link: l, addr } => {
            return match link(l) {
                Some(_) => vec![Op::BestEffort(Box::new(Op::DelProxyNdp {
                    link: l.clone(),
                    addr: *addr,
                }))],
                None => Vec::new(),
            };
        }
        Op::DelProxyNdp { link: l, .. } => link(l).is_some(),
        Op::AddFdb(e) => has_fdb(s, e),
        Op::DelFdb(e) => link(&e.link).is_some() && !has_fdb(s, e),
        Op::CreateMacvtap { name, .. } => {
            return undo_create(s, name, |k| matches!(k, ObservedKind::Macvtap(_)))
        }
        Op::SetTapNode { link: l, node, .. } => link(l)
            .is_some_and(|h| matches!(&h.kind, ObservedKind::Macvtap(m) if m.node == Some(*node))),
        Op::DeleteLink { name, restore } => {
            return match restore {
                Some(r) if link(name).is_none() && !matches!(r.spec.kind, LinkKind::External) => {
                    r.ops()
                }
                _ => Vec::new(),
            };
        }
        Op::SetMaster {
            link: l,
            master,
            old,
        } => link(l).is_some_and(|h| {
            s.master_name(h) == master.as_ref().map(IfName::as_str)
                && old.as_ref().is_none_or(|o| link(o).is_some())
        }),
        Op::SetMtu { link: l, mtu, .. } => link(l).is_some_and(|h| h.mtu == *mtu),
        Op::SetMac { link: l, mac, .. } => link(l).is_some_and(|h| h.mac == Some(*mac)),
        Op::SetUp { link: l, up } => link(l).is_some_and(|h| h.up == *up),
        Op::SetAlias { link: l, alias, .. } => link(l).is_some_and(|h| h.alias == *alias),
        Op::SetBridgeOpts { link: l, opts, .. } => {
            link(l).is_some_and(|h| h.kind == ObservedKind::Bridge(*opts))
        }
        Op::AddAddr(a) => {
            link(&a.link).is_some_and(|h| s.managed_addrs_of(h.ifindex).any(|c| *c == a.cidr))
        }
        Op::DelAddr(a) => {
            link(&a.link).is_some_and(|h| !s.managed_addrs_of(h.ifindex).any(|c| *c == a.cidr))
        }
        Op::AddRoute(r) => s.route_specs().contains(r),
        Op::DelRoute(r) => {
            !s.route_specs().contains(r) && r.dev.as_ref().is_none_or(|d| link(d).is_some())
        }
        Op::RenameLink { from, to } => link(to).is_some() && link(from).is_none(),
        Op::BestEffort(inner) => {
            return undo_if_visible(inner, s)
                .into_iter()
                .map(|u| Op::BestEffort(Box::new(u)))
                .collect()
        }
        // Idempotent: putting the old guard or lines back is harmless when they are there
        // already (the observation does not read them).
        Op::SetVifGuard { .. } | Op::EditLines { .. } => true,
        Op::SetTbf { link: l, tbf, .. } => link(l).is_some_and(|h| {
            matches!(s.qdisc(h.ifindex, true), Some(q) if q.handle == HVNET_QDISC_HANDLE
                && matches!(&q.kind, QdiscKind::Tbf(t) if tbf.matches(t)))
        }),
        Op::DelTbf { link: l, .. } => link(l).is_some_and(|h| s.qdisc(h.ifindex, true).is_none()),
        Op::AddRedirect { link: l, .. } => {
            link(l).is_some_and(|h| s.redirects.iter().any(|r| r.ifindex == h.ifindex))
        }
        Op::DelRedirect { link: l, ifb } => {
            link(ifb).is_some() && link(l).is_some_and(|h| s.qdisc(h.ifindex, false).is_none())
        }
        Op::SetSysctl { key, value, .. } => s.sysctls.get(key) == Some(value),
        Op::SaveSysctl { key, .. } => s.saved_sysctls.contains_key(key),
        Op::ForgetSysctl { key, .. } => !s.saved_sysctls.contains_key(key),
        Op::SetPortLearning { link: l, on } => {
            link(l).is_some_and(|h| s.port_learning_off.contains(&h.ifindex) != *on)
        }
        Op::SetHairpin { link: l, on } => {
            link(l).is_some_and(|h| s.hairpin.contains(&h.ifindex) == *on)
        }
        Op::FirewallOf { backend, old, .. } => {
            let now = s.firewall.as_ref().and_then(|f| f.others.get(backend));
            if now == old.as_deref() {
                return Vec::new();
            }
            return vec![Op::FirewallOf {
                backend: *backend,
                intent: old.clone(),
                old: now.cloned().map(Box::new),
            }];
        }
        Op::SetFirewall { old, .. } | Op::RemoveFirewall { old } => {
            let now = s.firewall.as_ref().and_then(|f| f.current());
            return match (old.as_deref(), s.firewall.as_ref()) {
                (Some(before), Some(fw)) if !fw.diff(before).is_empty() => vec![Op::SetFirewall {
                    intent: Box::new(before.clone()),
                    old: now.map(Box::new),
                }],
                (None, _) if now.is_some() => vec![Op::RemoveFirewall {
                    old: now.map(Box::new),
                }],
                _ => Vec::new(),
            };
        }
        Op::StartDhcp(svc) => {
            return match s.dhcp(&svc.network).and_then(|d| d.pid) {
                Some(pid) => vec![Op::StopDhcp {
                    network: svc.network.clone(),
                    dir: svc.dir.clone(),
                    pid,
                    restore: None,
                }],
                None => Vec::new(),
            };
        }
        Op::StopDhcp { network, .. } => s.dhcp(network).is_none_or(|d| d.pid.is_none()),
        Op::ReloadDhcpHosts { network, hosts, .. } => s
            .dhcp(network)
            .is_some_and(|d| d.pid.is_some() && d.hosts.as_deref() == Some(hosts.as_str())),
        Op::StartDhcpClient(c) => {
            let running = s
                .dhcp_clients
                .iter()
                .find(|o| o.network == c.network)
                .and_then(|o| o.pid);
            return match running {
                Some(pid) => vec![Op::StopDhcpClient {
                    network: c.network.clone(),
                    dir: c.dir.clone(),
                    pid,
                    restore: None,
                }],
                None => Vec::new(),
            };
        }
        Op::StartFrr(svc) => {
            let running = s
                .frr
                .as_ref()
                .is_some_and(|f| f.zebra_pid.is_some() || f.bgpd_pid.is_some());
            return if running {
                vec![Op::StopFrr {
                    dir: svc.dir.clone(),
                    restore: None,
                }]
            } else {
                Vec::new()
            };
        }
        Op::StopFrr { .. } => s
            .frr
            .as_ref()
            .is_none_or(|f| f.zebra_pid.is_none() && f.bgpd_pid.is_none()),
        Op::StopDhcpClient { network, .. } => !s
            .dhcp_clients
            .iter()
            .any(|o| o.network == *network && o.pid.is_some()),
        // Answered by `sriov::visible` above.
        Op::SetVf { .. } | Op::BindVf { .. } | Op::RecordVf { .. } => false,
        Op::MoveHostIp {
            from,
            to,
            addrs,
            routes,
        } => {
            let (Some(_), Some(t)) = (link(from), link(to)) else {
                return Vec::new();
            };
            let moved: Vec<_> = addrs
                .iter()
                .filter(|a| s.addrs_of(t.ifindex).any(|c| c == *a))
                .copied()
                .collect();
            if moved.is_empty() {
                return Vec::new();
            }
            let routes = routes
                .iter()
                .filter(|r| {
                    s.routes.iter().any(|o| {
                        o.oif == Some(t.ifindex) && o.dst == r.dst.into() && o.table == r.table
                    })
                })
                .cloned()
                .collect();
            return vec![Op::MoveHostIp {
                from: to.clone(),
                to: from.clone(),
                addrs: moved,
                routes,
            }];
        }
    };
    if visible {
        op.inverse()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::backend::Execute;
    use crate::state::{BridgeOpts, DhcpService, Owner, SysctlKey};

    fn bridge(name: &str) -> Op {
        Op::CreateBridge {
            name: IfName::new(name).unwrap(),
            owner: Owner::new("n"),
            mtu: None,
            mac: None,
            opts: BridgeOpts {
                stp: false,
                forward_delay_cs: 0,
            },
        }
    }

    /// Killed after every prefix of the transaction, recovery returns the host to where it
    /// started, and a second recovery finds nothing to do.
    #[test]
    fn every_prefix_rolls_back_to_the_start() {
        let br = IfName::new("br0").unwrap();
        let key = SysctlKey::new(["net", "ipv4", "ip_forward"]);
        let svc = DhcpService {
            network: "n".into(),
            bridge: br.clone(),
            dir: "/run/hvnet/net/n".into(),
            conf: "interface=br0\n".into(),
            hosts: String::new(),
        };
        let mut start = MemHost::new();
        start.state.sysctls.insert(key.clone(), "0".into());
        let record = Record {
            verb: "apply".into(),
            ops: vec![
                bridge("br0"),
                Op::SetUp {
                    link: br.clone(),
                    up: true,
                },
                Op::AddAddr(crate::state::AddrSpec {
                    link: br.clone(),
                    cidr: "10.9.0.1/24".parse().unwrap(),
                }),
                Op::SaveSysctl {
                    key: key.clone(),
                    value: "0".into(),
                },
                Op::SetSysctl {
                    key: key.clone(),
                    value: "1".into(),
                    old: "0".into(),
                },
                Op::StartDhcp(Box::new(svc)),
            ],
        };
        for k in 0..=record.ops.len() {
            let mut host = start.clone();
            host.execute(&record.ops[..k]).unwrap();
            let undo = plan(&record, &host.state);
            host.execute(&undo.ops).unwrap();
            assert_eq!(host.state.links, start.state.links, "after {k} op(s)");
            assert_eq!(host.state.addrs, start.state.addrs, "after {k} op(s)");
            assert_eq!(host.state.sysctls, start.state.sysctls, "after {k} op(s)");
            assert!(host.state.saved_sysctls.is_empty(), "after {k} op(s)");
            assert!(host.state.dhcp.iter().all(|d| d.pid.is_none()));
            assert!(plan(&record, &host.state).is_empty(), "after {k} op(s)");
        }
    }

    /// A link of another kind that the transaction deleted to recreate it is back after a
    /// crash at any point, and the half-made replacement is gone.
    #[test]
    fn a_replaced_link_comes_back() {
        let name = IfName::new("vnet0").unwrap();
        let mut start = MemHost::new();
        start.add_link("vnet0", ObservedKind::Ifb, Some("hvnet:g"));
        let old = start.state.link("vnet0").unwrap().clone();
        let restore = crate::plan::restore_of(&start.state, &old);
        let record = Record {
            verb: "apply".into(),
            ops: vec![
                Op::DeleteLink {
                    name: name.clone(),
                    restore,
                },
                Op::CreateTap {
                    name: name.clone(),
                    owner: Owner::new("g"),
                    mtu: None,
                    mac: None,
                    opts: Default::default(),
                },
            ],
        };
        for k in 0..=2 {
            let mut host = start.clone();
            host.execute(&record.ops[..k]).unwrap();
            host.execute(&plan(&record, &host.state).ops).unwrap();
            let l = host.state.link("vnet0").unwrap();
            assert_eq!(l.kind, ObservedKind::Ifb, "after {k} op(s)");
            assert_eq!(l.owner(), Some(Owner::new("g")));
        }
    }
}
