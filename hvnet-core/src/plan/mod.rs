//! The planner: `plan(observed, desired)` — the minimal ordered list of ops that turns what
//! exists into what is wanted, touching only what hvnet owns.
//!
//! Order: conflicting deletes, creates (bridges first), attribute changes, attaches, up,
//! hairpin, addresses, rate limits, routes, sysctls, firewall, dnsmasq, and last the removal
//! of owned links no longer wanted (ports before bridges), so that a failure part-way leaves
//! deletions — the ops whose rollback is weakest — not yet done. The services are planned in
//! its `services` module.

mod fdb;
mod frr;
mod host_ip;
mod services;

use std::collections::HashSet;
use std::fmt;

use crate::observed::{ObservedKind, ObservedLink, ObservedState};
use crate::op::{Op, Restore};
use crate::state::{AddrSpec, DesiredState, LinkKind, LinkSpec, RouteSpec, VethPeer};
use crate::types::{IfName, IpCidr};

/// An ordered list of ops.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The ops, in execution order.
    pub ops: Vec<Op>,
}

impl Plan {
    /// True when the kernel already matches.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// The equivalent commands, one line per op.
    pub fn commands(&self) -> Vec<String> {
        self.ops.iter().map(Op::command).collect()
    }
}

impl fmt::Display for Plan {
    /// One numbered line per op, or `no changes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ops.is_empty() {
            return writeln!(f, "no changes");
        }
        let w = self.ops.len().to_string().len();
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "{:>w$}. {op}", i + 1)?;
        }
        Ok(())
    }
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A wanted name is taken by a link hvnet does not own.
    #[error("interface {name} already exists ({kind}) and is not owned by hvnet; refusing to touch it — rename it in the config or remove the interface")]
    NotOwned {
        /// The name.
        name: String,
        /// Its kind word.
        kind: String,
    },
    /// A configured uplink does not exist.
    #[error("uplink {name} does not exist")]
    MissingUplink {
        /// The name.
        name: String,
    },
    /// A configured uplink is a port of a bridge hvnet does not own.
    #[error("uplink {name} is a port of {master}, which hvnet does not own; detach it first")]
    UplinkBusy {
        /// The uplink.
        name: String,
        /// Its current master.
        master: String,
    },
    /// A link that should be rate limited has a qdisc hvnet did not create.
    #[error("{link} has {what} qdisc hvnet did not create ({kind}); remove it or drop the rate limit from the config")]
    ForeignQdisc {
        /// The link.
        link: String,
        /// "a root" or "an ingress".
        what: &'static str,
        /// Its kind.
        kind: String,
    },
    /// A configured uplink is a Wi-Fi NIC.
    #[error("uplink {name} is a wireless NIC and cannot be bridged: an access point only accepts frames from the station's own MAC, so the guests' traffic would be dropped (use a nat or routed network through {name} instead)")]
    WirelessUplink {
        /// The uplink.
        name: String,
    },
    /// A configured uplink is itself an hvnet-owned link or a bridge.
    #[error("uplink {name} cannot be used: it is a {kind}")]
    BadUplink {
        /// The uplink.
        name: String,
        /// What it is.
        kind: String,
    },
}

fn kind_word(k: &ObservedKind) -> String {
    match k {
        ObservedKind::Bridge(_) => "bridge".into(),
        ObservedKind::Tap(_) => "tap".into(),
        ObservedKind::Tun => "tun".into(),
        ObservedKind::Veth => "veth".into(),
        ObservedKind::Ifb => "ifb".into(),
        ObservedKind::Macvtap(_) => "macvtap".into(),
        ObservedKind::Other(s) if s.is_empty() => "device".into(),
        ObservedKind::Other(s) => s.clone(),
        ObservedKind::Vxlan(_) => "vxlan".into(),
    }
}

/// Whether an existing link can serve as the desired one without recreating it.
fn same_kind(obs_links: &ObservedState, obs: &ObservedKind, want: &LinkKind) -> bool {
    match (obs, want) {
        (ObservedKind::Bridge(_), LinkKind::Bridge(_))
        | (ObservedKind::Veth, LinkKind::Veth(_))
        | (ObservedKind::Ifb, LinkKind::Ifb) => true,
        (ObservedKind::Tap(have), LinkKind::Tap(want)) => {
            // Multiqueue and ownership of a persistent tap cannot change: a mismatch recreates
            // it. vnet_hdr is not compared: whoever attaches (QEMU with vnet_hdr=off) may
            // switch it, and recreating the tap would cut the running guest off.
            have.multi_queue == want.multi_queue && have.uid == want.uid && have.gid == want.gid
        }
        (ObservedKind::Vxlan(have), LinkKind::Vxlan(want)) => {
            fdb::same_vxlan(obs_links, have, want)
        }
        (ObservedKind::Macvtap(have), LinkKind::Macvtap(want)) => have.serves(want),
        _ => false,
    }
}

/// The desired spec of an existing owned link, for recreating it after a rollback.
pub(crate) fn restore_of(obs: &ObservedState, l: &ObservedLink) -> Option<Box<Restore>> {
    let kind = match &l.kind {
        ObservedKind::Bridge(o) => LinkKind::Bridge(*o),
        ObservedKind::Tap(o) => LinkKind::Tap(*o),
        ObservedKind::Ifb => LinkKind::Ifb,
        ObservedKind::Vxlan(v) => LinkKind::Vxlan(fdb::vxlan_opts(obs, v)?),
        ObservedKind::Macvtap(m) => LinkKind::Macvtap(crate::macvtap::restore_opts(m)?),
        // The peer's namespace is not observable from here: such a link cannot be recreated.
        _ => return None,
    };
    let name = IfName::new(&l.name).ok()?;
    let master = obs.master_name(l).and_then(|m| IfName::new(m).ok());
    let tbf = match obs.qdisc(l.ifindex, true) {
        Some(q) if q.handle == crate::op::HVNET_QDISC_HANDLE => match q.kind {
            crate::observed::QdiscKind::Tbf(t) => Some(t),
            _ => None,
        },
        _ => None,
    };
    let redirect = obs
        .redirects
        .iter()
        .find(|r| r.ifindex == l.ifindex)
        .and_then(|r| obs.by_index(r.target))
        .and_then(|t| IfName::new(&t.name).ok());
    Some(Box::new(Restore {
        spec: LinkSpec {
            name,
            kind,
            owner: l.owner(),
            master,
            mtu: Some(l.mtu),
            mac: l.mac,
            up: l.up,
        },
        addrs: obs.managed_addrs_of(l.ifindex).copied().collect(),
        tbf,
        redirect,
        hairpin: obs.hairpin.contains(&l.ifindex),
        fdb: fdb::static_entries(obs, l),
    }))
}

/// Computes the plan that makes `observed` match `desired`.
///
/// ```
/// use hvnet_core::observed::ObservedState;
/// use hvnet_core::plan::plan;
/// use hvnet_core::state::*;
/// use hvnet_core::types::IfName;
/// let mut want = DesiredState::default();
/// want.links.push(LinkSpec {
///     name: IfName::new("virbr2").unwrap(),
///     kind: LinkKind::Bridge(BridgeOpts { stp: false, forward_delay_cs: 0 }),
///     owner: Some(Owner::new("hostntw")), master: None, mtu: None, mac: None, up: true,
/// });
/// let p = plan(&ObservedState::default(), &want).unwrap();
/// assert_eq!(p.commands(), vec![
///     "ip link add name virbr2 type bridge stp_state 0 forward_delay 0 && ip link set dev virbr2 alias hvnet:hostntw",
///     "ip link set dev virbr2 up",
/// ]);
/// ```
pub fn plan(observed: &ObservedState, desired: &DesiredState) -> Result<Plan, PlanError> {
    let mut early_deletes = Vec::new();
    let mut creates = Vec::new();
    let mut changes = Vec::new();
    let mut attaches = Vec::new();
    let mut ups = Vec::new();
    let mut addr_ops = Vec::new();
    let mut route_ops = Vec::new();
    // Links that exist (or will) with the desired kind, by name: their addresses are managed.
    let mut recreated: HashSet<&str> = HashSet::new();

    for want in &desired.links {
        let have = observed.link(want.name.as_str());
        if let LinkKind::External = want.kind {
            let Some(have) = have else {
                return Err(PlanError::MissingUplink {
                    name: want.name.to_string(),
                });
            };
            if have.wireless {
                return Err(PlanError::WirelessUplink {
                    name: want.name.to_string(),
                });
            }
            if have.owner().is_some() || matches!(have.kind, ObservedKind::Bridge(_)) {
                return Err(PlanError::BadUplink {
                    name: want.name.to_string(),
                    kind: if have.owner().is_some() {
                        "link owned by hvnet".into()
                    } else {
                        "bridge".into()
                    },
                });
            }
            if let Some(m) = have.master.and_then(|m| observed.by_index(m)) {
                if m.owner().is_none() {
                    return Err(PlanError::UplinkBusy {
                        name: want.name.to_string(),
                        master: m.name.clone(),
                    });
                }
            }
            link_changes(observed, have, want, &mut changes, &mut attaches, &mut ups);
            continue;
        }
        let usable = match have {
            None => None,
            // A link hvnet made but was killed before tagging is its own to adopt.
            Some(h) if h.owner().is_none() && !h.pending() => {
                return Err(PlanError::NotOwned {
                    name: h.name.clone(),
                    kind: kind_word(&h.kind),
                });
            }
            Some(h) if same_kind(observed, &h.kind, &want.kind) => Some(h),
            Some(h) => {
                early_deletes.push(Op::DeleteLink {
                    name: want.name.clone(),
                    restore: restore_of(observed, h),
                });
                None
            }
        };
        match usable {
            Some(h) => link_changes(observed, h, want, &mut changes, &mut attaches, &mut ups),
            None => {
                recreated.insert(want.name.as_str());
                creates.push(create_op(want));
                if let Some(m) = &want.master {
                    attaches.push(Op::SetMaster {
                        link: want.name.clone(),
                        master: Some(m.clone()),
                        old: None,
                    });
                }
                if want.up {
                    ups.push(Op::SetUp {
                        link: want.name.clone(),
                        up: true,
                    });
                }
            }
        }
    }
    // A port of a bridge that is being recreated loses its master with the old bridge.
    for want in &desired.links {
        if let Some(m) = &want.master {
            let planned = attaches.iter().any(|op| op.link() == Some(&want.name));
            if recreated.contains(m.as_str()) && !recreated.contains(want.name.as_str()) && !planned
            {
                attaches.push(Op::SetMaster {
                    link: want.name.clone(),
                    master: Some(m.clone()),
                    old: None,
                });
            }
        }
    }
    // Bridges before their ports, so attaching finds the master.
    creates.sort_by_key(|op| !matches!(op, Op::CreateBridge { .. }));

    // Addresses: the desired set is complete for every owned, desired link.
    for want in desired.links.iter().filter(|l| l.owner.is_some()) {
        let wanted: Vec<&AddrSpec> = desired
            .addrs
            .iter()
            .filter(|a| a.link == want.name)
            .collect();
        let have: Vec<IpCidr> = match observed.link(want.name.as_str()) {
            Some(l) if !recreated.contains(want.name.as_str()) => {
                observed.managed_addrs_of(l.ifindex).copied().collect()
            }
            _ => Vec::new(),
        };
        let keep_extra = desired.keep_addrs.contains(&want.name);
        for cidr in &have {
            if !keep_extra && !wanted.iter().any(|a| a.cidr == *cidr) {
                addr_ops.push(Op::DelAddr(AddrSpec {
                    link: want.name.clone(),
                    cidr: *cidr,
                }));
            }
        }
        for a in wanted {
            if !have.contains(&a.cidr) {
                addr_ops.push(Op::AddAddr(a.clone()));
            }
        }
    }

    // Routes: the desired set is complete for hvnet's protocol number.
    let have_routes: Vec<RouteSpec> = observed.hvnet_routes();
    for r in &have_routes {
        if !desired.routes.contains(r) {
            route_ops.push(Op::DelRoute(r.clone()));
        }
    }
    for r in &desired.routes {
        if !have_routes.contains(r) {
            route_ops.push(Op::AddRoute(r.clone()));
        }
    }

    let shaper_ops = shaping(observed, desired, &recreated)?;

    // Owned links in scope that are no longer wanted: ports first, then IFBs (a link goes
    // before the IFB it redirects to, so that a rollback, in reverse, recreates the IFB
    // first and the redirect finds it), bridges last.
    let mut late_deletes: Vec<(u8, Op)> = observed
        .links
        .iter()
        .filter(|l| {
            l.owner().is_some_and(|o| desired.scope.covers(&o))
                || (l.pending() && desired.scope == crate::state::Scope::All)
        })
        .filter(|l| desired.link(&l.name).is_none())
        .filter_map(|l| {
            let name = IfName::new(&l.name).ok()?;
            let rank = match l.kind {
                ObservedKind::Bridge(_) => 2,
                ObservedKind::Ifb => 1,
                _ => 0,
            };
            Some((
                rank,
                Op::DeleteLink {
                    name,
                    restore: restore_of(observed, l),
                },
            ))
        })
        .collect();
    late_deletes.sort_by_key(|(rank, _)| *rank);

    let svc = services::service_ops(observed, desired, &recreated);
    let fdb_ops = fdb::fdb_ops(observed, desired, &recreated);

    let mut ops = early_deletes;
    ops.extend(creates);
    ops.extend(changes);
    ops.extend(attaches);
    ops.extend(ups);
    ops.extend(svc.hairpin);
    ops.extend(addr_ops);
    ops.extend(fdb_ops);
    ops.extend(svc.client_stops);
    ops.extend(host_ip::host_ip_ops(observed, desired));
    ops.extend(shaper_ops);
    ops.extend(route_ops);
    ops.extend(svc.sysctls);
    ops.extend(svc.daemons);
    ops.extend(svc.client_starts);
    ops.extend(crate::sriov::ops(observed, desired));
    ops.extend(late_deletes.into_iter().map(|(_, op)| op));
    Ok(Plan { ops })
}

fn create_op(want: &LinkSpec) -> Op {
    let owner = want
        .owner
        .clone()
        .unwrap_or_else(|| crate::state::Owner::new("unknown"));
    match &want.kind {
        LinkKind::Bridge(opts) => Op::CreateBridge {
            name: want.name.clone(),
            owner,
            mtu: want.mtu,
            mac: want.mac,
            opts: *opts,
        },
        LinkKind::Tap(opts) => Op::CreateTap {
            name: want.name.clone(),
            owner,
            mtu: want.mtu,
            mac: want.mac,
            opts: *opts,
        },
        LinkKind::Veth(peer) => Op::CreateVeth {
            name: want.name.clone(),
            owner,
            mtu: want.mtu,
            mac: want.mac,
            peer: VethPeer {
                name: peer.name.clone(),
                netns: peer.netns.clone(),
                mac: peer.mac,
            },
        },
        LinkKind::Ifb => Op::CreateIfb {
            name: want.name.clone(),
            owner,
            mtu: want.mtu,
        },
        LinkKind::Vxlan(opts) => Op::CreateVxlan {
            name: want.name.clone(),
            owner,
            mtu: want.mtu,
            mac: want.mac,
            opts: opts.clone(),
        },
        LinkKind::Macvtap(opts) => Op::CreateMacvtap {
            name: want.name.clone(),
            owner,
            mtu: want.mtu,
            mac: want.mac,
            opts: opts.clone(),
        },
        // Never reached: external links are not created (handled by the caller).
        LinkKind::External => Op::SetUp {
            link: want.name.clone(),
            up: want.up,
        },
    }
}

/// Ops that bring an existing link in line with its spec.
fn link_changes(
    observed: &ObservedState,
    have: &ObservedLink,
    want: &LinkSpec,
    changes: &mut Vec<Op>,
    attaches: &mut Vec<Op>,
    ups: &mut Vec<Op>,
) {
    let link = want.name.clone();
    if let Some(owner) = &want.owner {
        if have.owner().as_ref() != Some(owner) {
            changes.push(Op::SetAlias {
                link: link.clone(),
                alias: Some(owner.tag()),
                old: have.alias.clone(),
            });
        }
    }
    if let Some(mtu) = want.mtu {
        if have.mtu != mtu {
            changes.push(Op::SetMtu {
                link: link.clone(),
                mtu,
                old: have.mtu,
            });
        }
    }
    if let Some(mac) = want.mac {
        if have.mac != Some(mac) {
            changes.push(Op::SetMac {
                link: link.clone(),
                mac,
                old: have.mac,
            });
        }
    }
    if let (LinkKind::Macvtap(opts), ObservedKind::Macvtap(old)) = (&want.kind, &have.kind) {
        changes.extend(crate::macvtap::node_change(&link, opts, old));
    }
    if let (LinkKind::Bridge(opts), ObservedKind::Bridge(old)) = (&want.kind, &have.kind) {
        if opts != old {
            changes.push(Op::SetBridgeOpts {
                link: link.clone(),
                opts: *opts,
                old: *old,
            });
        }
    }
    let have_master = observed.master_name(have);
    if have_master != want.master.as_ref().map(IfName::as_str) {
        attaches.push(Op::SetMaster {
            link: link.clone(),
            master: want.master.clone(),
            old: have_master.and_then(|m| IfName::new(m).ok()),
        });
    }
    if want.up && !have.up {
        ups.push(Op::SetUp { link, up: true });
    }
}

/// Ops that bring the rate limits of owned, desired links in line: a root tbf per limited
/// link (the IFB of an ingress limit included) and an ingress redirect per ingress limit.
fn shaping(
    observed: &ObservedState,
    desired: &DesiredState,
    recreated: &HashSet<&str>,
) -> Result<Vec<Op>, PlanError> {
    use crate::observed::QdiscKind;
    use crate::op::HVNET_QDISC_HANDLE;
    use crate::state::{Shaper, Tbf};

    let mut ops = Vec::new();
    for want in desired.links.iter().filter(|l| l.owner.is_some()) {
        let name = want.name.as_str();
        let have = observed.link(name).filter(|_| !recreated.contains(name));
        let want_tbf = desired.shapers.iter().find_map(|s| match s {
            Shaper::Egress { link, tbf } if link.as_str() == name => Some(*tbf),
            Shaper::Ingress { ifb, tbf, .. } if ifb.as_str() == name => Some(*tbf),
            _ => None,
        });
        let want_ifb = desired.shapers.iter().find_map(|s| match s {
            Shaper::Ingress { link, ifb, .. } if link.as_str() == name => Some(ifb.clone()),
            _ => None,
        });
        let root = have.and_then(|h| observed.qdisc(h.ifindex, true));
        let have_tbf: Option<Tbf> = match root {
            Some(q) if q.handle == HVNET_QDISC_HANDLE => match q.kind {
                QdiscKind::Tbf(t) => Some(t),
                _ => None,
            },
            Some(q) if want_tbf.is_some() => {
                return Err(PlanError::ForeignQdisc {
                    link: name.to_string(),
                    what: "a root",
                    kind: match &q.kind {
                        QdiscKind::Tbf(_) => "tbf".into(),
                        QdiscKind::Ingress => "ingress".into(),
                        QdiscKind::Other(k) => k.clone(),
                    },
                })
            }
            _ => None,
        };
        match (want_tbf, have_tbf) {
            (Some(w), Some(h)) if w.matches(&h) => {}
            (Some(w), h) => ops.push(Op::SetTbf {
                link: want.name.clone(),
                tbf: w,
                old: h,
            }),
            (None, Some(h)) => ops.push(Op::DelTbf {
                link: want.name.clone(),
                old: h,
            }),
            (None, None) => {}
        }
        let have_target = have.and_then(|h| {
            observed
                .redirects
                .iter()
                .find(|r| r.ifindex == h.ifindex)
                .and_then(|r| observed.by_index(r.target))
                .and_then(|t| IfName::new(&t.name).ok())
        });
        let foreign_ingress = have.is_some_and(|h| observed.qdisc(h.ifindex, false).is_some())
            && have_target.is_none();
        match (want_ifb, have_target) {
            (Some(_), None) if foreign_ingress => {
                return Err(PlanError::ForeignQdisc {
                    link: name.to_string(),
                    what: "an ingress",
                    kind: "ingress".into(),
                })
            }
            (Some(w), Some(h)) if w == h => {}
            (Some(w), Some(h)) => {
                ops.push(Op::DelRedirect {
                    link: want.name.clone(),
                    ifb: h,
                });
                ops.push(Op::AddRedirect {
                    link: want.name.clone(),
                    ifb: w,
                });
            }
            (Some(w), None) => ops.push(Op::AddRedirect {
                link: want.name.clone(),
                ifb: w,
            }),
            (None, Some(h)) => ops.push(Op::DelRedirect {
                link: want.name.clone(),
                ifb: h,
            }),
            (None, None) => {}
        }
    }
    Ok(ops)
}
