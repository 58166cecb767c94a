//! Carrying out ops: pipelined rtnetlink requests, tap ioctls, sysctl writes.
//!
//! Ops that only change existing objects are queued and sent as one pipelined batch; the
//! queue is flushed before anything that needs the kernel's answer (the index of a link
//! created by netlink, a sysctl write) and at the end. Consecutive deletions are done in
//! bulk: each doomed link is moved into a transient device group and the whole group is
//! deleted with one request, which costs one RCU synchronisation instead of one per link.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use hvnet_core::backend::{ExecFailure, Execute};
use hvnet_core::observed::PENDING_GROUP;
use hvnet_core::op::{Op, HVNET_QDISC_HANDLE};
use hvnet_core::state::{MovedRoute, RouteSpec};
use hvnet_core::types::IfName;

use crate::host::LinuxHost;
use crate::netlink::{
    self, consts, BridgeOpts, FilterSpec, LinkChange, Mirred, MirredAction, NlError, QdiscKind,
    QdiscSpec, Request,
};
use crate::{netns, sysctl, tap};

/// Why an op failed.
#[derive(Debug)]
pub enum ExecError {
    /// The kernel refused a netlink request.
    Netlink(NlError),
    /// A tap ioctl failed.
    Tap(tap::TapError),
    /// A sysctl could not be written.
    Sysctl(sysctl::SysctlError),
    /// A macvtap's device node could not be found or made.
    TapNode(crate::macvtap::NodeError),
    /// A namespace could not be opened.
    Netns(netns::NetnsError),
    /// The op names a link that does not exist.
    NoSuchLink(String),
    /// dnsmasq could not be started, stopped or reloaded.
    Dnsmasq(crate::dnsmasq::DnsmasqError),
    /// The firewall could not be written.
    Firewall(crate::firewall::FirewallError),
    /// hvnet's state directory could not be written.
    State(String),
    /// A VF could not be bound through sysfs.
    Sysfs(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Netlink(e) => write!(f, "{e}"),
            Self::Tap(e) => write!(f, "{e}"),
            Self::Sysctl(e) => write!(f, "{e}"),
            Self::TapNode(e) => write!(f, "{e}"),
            Self::Netns(e) => write!(f, "{e}"),
            Self::NoSuchLink(n) => write!(f, "interface {n} does not exist"),
            Self::Dnsmasq(e) => write!(f, "{e}"),
            Self::Firewall(e) => write!(f, "{e}"),
            Self::State(e) => f.write_str(e),
            Self::Sysfs(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ExecError {}

/// The RT_SCOPE_LINK scope of a route without gateway.
const RT_SCOPE_LINK: u8 = 253;

/// Transient device group for bulk deletion (never 0, the default group).
fn doomed_group() -> u32 {
    0x4856_0000 | (std::process::id() & 0xffff)
}

/// A queue of pipelined requests, each tagged with the ops it carries.
///
/// The request that tags a link just created in this batch also absorbs later changes of
/// that link (MTU, MAC, master, up), so a new port costs one message, as with `ip link set
/// … master … up`. If that message fails, every op it carries counts as failed, and the
/// earliest of them — the create — is the one reported; the rollback deletes the new link,
/// which takes any partial change with it.
///
/// A bridge's `up` is not folded in: it stays where the plan put it, after its ports are
/// attached, because attaching ports to a bridge that is already up costs the kernel
/// noticeably more (≈ 50 % more for 1000 ports).
#[derive(Default)]
struct Queue {
    reqs: Vec<Request>,
    owners: Vec<Vec<usize>>,
    /// ifindex of a link created in this batch → position of its tagging request, and
    /// whether an `up` may be folded into it.
    fresh: HashMap<u32, (usize, bool)>,
    /// Taps made in this batch, not persistent until the requests that tag them have been
    /// sent (with their op): a kill before that takes them with the process, so an untagged
    /// tap — which no later command would know as hvnet's — is never left behind.
    held: Vec<(usize, tap::HeldTap)>,
}

/// At most this many taps wait for their tags at once (each holds a descriptor).
const MAX_HELD_TAPS: usize = 256;

impl Queue {
    fn push(&mut self, op: usize, req: Request) {
        self.reqs.push(req);
        self.owners.push(vec![op]);
    }

    fn push_fresh(&mut self, op: usize, ifindex: u32, change: LinkChange, early_up: bool) {
        self.fresh.insert(ifindex, (self.reqs.len(), early_up));
        self.push(op, Request::SetLink { ifindex, change });
    }

    /// Folds `change` into the queued tagging request of a fresh link, if there is one and
    /// it does not already set the same fields. Returns the change back otherwise.
    fn merge(&mut self, op: usize, ifindex: u32, change: LinkChange) -> Option<LinkChange> {
        let Some(&(pos, early_up)) = self.fresh.get(&ifindex) else {
            return Some(change);
        };
        if change.up.is_some() && !early_up {
            return Some(change);
        }
        let Some(Request::SetLink { change: queued, .. }) = self.reqs.get_mut(pos) else {
            return Some(change);
        };
        let clash = (change.master.is_some() && queued.master.is_some())
            || (change.mtu.is_some() && queued.mtu.is_some())
            || (change.mac.is_some() && queued.mac.is_some())
            || (change.up.is_some() && queued.up.is_some())
            || change.alias.is_some()
            || change.group.is_some()
            || change.bridge.is_some()
            || change.port.is_some();
        if clash {
            return Some(change);
        }
        queued.master = queued.master.or(change.master);
        queued.mtu = queued.mtu.or(change.mtu);
        queued.mac = queued.mac.or(change.mac);
        queued.up = queued.up.or(change.up);
        self.owners[pos].push(op);
        None
    }
}

/// Progress of one `execute` call.
struct Progress {
    applied: Vec<usize>,
    failure: Option<(usize, ExecError)>,
    /// macvtap device nodes to make or chown at the end (one sysfs read for all): the op,
    /// the link, its ifindex and the wanted owner.
    nodes: Vec<(usize, String, u32, hvnet_core::macvtap::TapNode)>,
}

impl Progress {
    fn record(&mut self, op: usize, result: Result<(), ExecError>) {
        match result {
            Ok(()) => {
                if self.applied.last() != Some(&op) {
                    self.applied.push(op);
                }
            }
            Err(e) => {
                if self.failure.as_ref().is_none_or(|(i, _)| op < *i) {
                    self.failure = Some((op, e));
                }
            }
        }
    }
}

/// Makes the macvtap device nodes the batch asked for, with one sysfs read for all of them.
fn settle_nodes(p: &mut Progress) {
    let nodes = std::mem::take(&mut p.nodes);
    let links: Vec<(String, u32)> = nodes.iter().map(|(_, n, i, _)| (n.clone(), *i)).collect();
    let mut devs = crate::macvtap::devnums(&links);
    for (op, name, ifindex, owner) in nodes {
        let made = match devs.remove(&name) {
            Some(Ok(dev)) => crate::macvtap::ensure_node(&name, ifindex, dev, owner),
            Some(Err(e)) => Err(e),
            None => continue,
        };
        if let Err(e) = made {
            p.record(op, Err(ExecError::TapNode(e)));
        }
    }
}

impl LinuxHost {
    fn ifindex(&mut self, name: &str) -> Result<u32, ExecError> {
        if let Some(i) = self.index.get(name) {
            return Ok(*i);
        }
        match self.rtnl.get_link(name).map_err(ExecError::Netlink)? {
            Some(l) => {
                self.index.insert(l.name.clone(), l.ifindex);
                Ok(l.ifindex)
            }
            None => Err(ExecError::NoSuchLink(name.to_string())),
        }
    }

    fn flush(&mut self, q: &mut Queue, p: &mut Progress) {
        if !q.reqs.is_empty() {
            let results = self.rtnl.execute(&q.reqs);
            for (ops, r) in q.owners.iter().zip(results) {
                for op in ops {
                    p.record(*op, r.clone().map_err(ExecError::Netlink));
                }
            }
            q.reqs.clear();
            q.owners.clear();
            q.fresh.clear();
        }
        // Tagged (or failed, and then rolled back like any created link): now they may
        // outlive the process.
        for (op, held) in q.held.drain(..) {
            if let Err(e) = held.persist() {
                p.record(op, Err(ExecError::Tap(e)));
            }
        }
    }

    /// Creates a netlink-made link (bridge, veth) right away, learns its index, and queues
    /// the request that tags it (`early_up`: whether its `up` may be folded into that).
    #[allow(clippy::too_many_arguments)] // the op, its link and request, plus the batch state
    fn create_now(
        &mut self,
        i: usize,
        name: &IfName,
        req: Request,
        tag: String,
        early_up: bool,
        q: &mut Queue,
        p: &mut Progress,
    ) {
        self.flush(q, p);
        let mut r = self.rtnl.execute(std::slice::from_ref(&req));
        let created = r.pop().unwrap_or(Ok(()));
        if let Err(e) = created {
            p.record(i, Err(ExecError::Netlink(e)));
            return;
        }
        p.record(i, Ok(()));
        self.index.remove(name.as_str());
        match self.ifindex(name.as_str()) {
            // Tagging also takes the link out of the pending group it was created in.
            Ok(ifindex) => q.push_fresh(
                i,
                ifindex,
                LinkChange {
                    alias: Some(tag),
                    group: Some(0),
                    ..LinkChange::default()
                },
                early_up,
            ),
            Err(e) => p.record(i, Err(e)),
        }
    }

    fn run_op(
        &mut self,
        i: usize,
        op: &Op,
        q: &mut Queue,
        p: &mut Progress,
    ) -> Result<(), ExecError> {
        let set = |ifindex, change| Request::SetLink { ifindex, change };
        let req = match op {
            Op::CreateBridge {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => {
                let req = Request::NewBridge {
                    name: name.to_string(),
                    mtu: *mtu,
                    mac: mac.map(|m| m.octets()),
                    stp: Some(opts.stp),
                    forward_delay_cs: Some(opts.forward_delay_cs),
                    group: Some(PENDING_GROUP),
                };
                self.create_now(i, name, req, owner.tag(), false, q, p);
                return Ok(());
            }
            Op::CreateVeth {
                name,
                owner,
                mtu,
                mac,
                peer,
            } => {
                let fd = netns::open(&peer.netns).map_err(ExecError::Netns)?;
                let req = Request::NewVeth {
                    name: name.to_string(),
                    mtu: *mtu,
                    mac: mac.map(|m| m.octets()),
                    group: Some(PENDING_GROUP),
                    peer_name: peer.name.to_string(),
                    peer_mac: peer.mac.map(|m| m.octets()),
                    peer_netns_fd: Some(std::os::fd::AsRawFd::as_raw_fd(&fd)),
                };
                self.create_now(i, name, req, owner.tag(), true, q, p);
                return Ok(());
            }
            Op::CreateTap {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => {
                let cfg = tap::TapConfig {
                    name: name.to_string(),
                    owner: opts.uid,
                    group: opts.gid,
                    vnet_hdr: opts.vnet_hdr,
                    multi_queue: opts.multi_queue,
                };
                self.other_writes += 1;
                if q.held.len() >= MAX_HELD_TAPS {
                    self.flush(q, p);
                }
                let maker = match &self.taps {
                    Some(maker) => maker,
                    None => self
                        .taps
                        .insert(tap::TapMaker::new(name.as_str()).map_err(ExecError::Tap)?),
                };
                let held = maker.hold(&cfg).map_err(ExecError::Tap)?;
                let ifindex = held.ifindex();
                p.record(i, Ok(()));
                q.held.push((i, held));
                self.index.insert(name.to_string(), ifindex);
                let change = LinkChange {
                    alias: Some(owner.tag()),
                    mtu: *mtu,
                    mac: mac.map(|m| m.octets()),
                    ..LinkChange::default()
                };
                q.push_fresh(i, ifindex, change, true);
                return Ok(());
            }
            Op::CreateMacvtap {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => {
                let lower = self.ifindex(opts.lower.as_str())?;
                self.flush(q, p);
                // hvnet picks the ifindex, and so the name /dev/tapN, where no node of that
                // name exists (a macvtap of another namespace may hold it); knowing it also
                // spares asking the kernel for it.
                let mut ifindex = self.index.values().copied().max().unwrap_or(0);
                let mut tries = 0;
                let created = loop {
                    tries += 1;
                    ifindex = crate::macvtap::free_index(ifindex + 1);
                    let req = Request::NewMacvtap(netlink::MacvtapSpec {
                        name: name.to_string(),
                        ifindex,
                        lower,
                        mode: opts.mode.kernel_value(),
                        mtu: *mtu,
                        mac: mac.map(|m| m.octets()),
                        group: Some(PENDING_GROUP),
                    });
                    match self.rtnl.execute(std::slice::from_ref(&req)).pop() {
                        // Taken since the host was read (by someone else): the next one.
                        // (EBUSY also means a lower device that cannot take a macvtap:
                        // a few tries only.)
                        Some(Err(e)) if e.errno == libc::EBUSY && tries < 4 => continue,
                        r => break r.unwrap_or(Ok(())),
                    }
                };
                if let Err(e) = created {
                    return Err(ExecError::Netlink(e));
                }
                p.record(i, Ok(()));
                self.index.insert(name.to_string(), ifindex);
                let tag = LinkChange {
                    alias: Some(owner.tag()),
                    group: Some(0),
                    ..LinkChange::default()
                };
                q.push_fresh(i, ifindex, tag, true);
                p.nodes
                    .push((i, name.to_string(), ifindex, opts.node_owner()));
                return Ok(());
            }
            Op::SetTapNode { link, node, .. } => {
                let ifindex = self.ifindex(link.as_str())?;
                self.other_writes += 1;
                p.record(i, Ok(()));
                p.nodes.push((i, link.to_string(), ifindex, *node));
                return Ok(());
            }
            Op::CreateIfb { name, owner, mtu } => {
                let req = Request::NewIfb {
                    name: name.to_string(),
                    mtu: *mtu,
                    txqlen: Some(0),
                    group: Some(PENDING_GROUP),
                };
                self.create_now(i, name, req, owner.tag(), true, q, p);
                return Ok(());
            }
            Op::CreateVxlan {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => {
                let link = match &opts.underlay {
                    Some(u) => Some(self.ifindex(u.as_str())?),
                    None => None,
                };
                let req = Request::Vxlan(netlink::VxlanRequest::NewVxlan {
                    name: name.to_string(),
                    mtu: *mtu,
                    mac: mac.map(|m| m.octets()),
                    group: Some(PENDING_GROUP),
                    vni: opts.vni,
                    local: opts.local,
                    port: opts.port,
                    learning: opts.learning,
                    link,
                });
                self.create_now(i, name, req, owner.tag(), true, q, p);
                return Ok(());
            }
            Op::AddProxyNdp { link, addr } => Request::Neigh(netlink::NeighRequest::AddProxy6 {
                ifindex: self.ifindex(link.as_str())?,
                addr: *addr,
            }),
            Op::DelProxyNdp { link, addr } => Request::Neigh(netlink::NeighRequest::DelProxy6 {
                ifindex: self.ifindex(link.as_str())?,
                addr: *addr,
            }),
            Op::AddFdb(e) => Request::Vxlan(netlink::VxlanRequest::AppendFdb {
                ifindex: self.ifindex(e.link.as_str())?,
                mac: e.mac.octets(),
                dst: e.dst,
            }),
            Op::DelFdb(e) => Request::Vxlan(netlink::VxlanRequest::DelFdb {
                ifindex: self.ifindex(e.link.as_str())?,
                mac: e.mac.octets(),
                dst: e.dst,
            }),
            Op::SetTbf { link, tbf, .. } => Request::ReplaceQdisc(QdiscSpec {
                ifindex: self.ifindex(link.as_str())?,
                parent: consts::TC_H_ROOT,
                handle: HVNET_QDISC_HANDLE,
                kind: QdiscKind::Tbf {
                    rate_bytes_per_sec: tbf.rate_bytes_per_sec,
                    burst_bytes: tbf.burst_bytes,
                    limit_bytes: tbf.limit_bytes,
                    peak_bytes_per_sec: None,
                    mtu: None,
                },
            }),
            Op::DelTbf { link, .. } => Request::DelQdisc {
                ifindex: self.ifindex(link.as_str())?,
                parent: consts::TC_H_ROOT,
                handle: HVNET_QDISC_HANDLE,
            },
            Op::AddRedirect { link, ifb } => {
                let ifindex = self.ifindex(link.as_str())?;
                let target = self.ifindex(ifb.as_str())?;
                q.push(i, Request::NewQdisc(QdiscSpec::ingress(ifindex)));
                Request::NewFilter(FilterSpec {
                    ifindex,
                    parent: consts::TC_H_INGRESS_QDISC,
                    prio: 1,
                    protocol: consts::ETH_P_ALL,
                    handle: 0,
                    classid: None,
                    mirred: Some(Mirred {
                        action: MirredAction::EgressRedirect,
                        ifindex: target,
                    }),
                })
            }
            Op::DelRedirect { link, .. } => Request::DelQdisc {
                ifindex: self.ifindex(link.as_str())?,
                parent: consts::TC_H_INGRESS,
                handle: consts::TC_H_INGRESS_QDISC,
            },
            Op::DeleteLink { name, .. } => Request::DelLink {
                ifindex: self.ifindex(name.as_str())?,
            },
            Op::SetMaster { link, master, .. } => {
                let m = match master {
                    Some(m) => self.ifindex(m.as_str())?,
                    None => 0,
                };
                set(
                    self.ifindex(link.as_str())?,
                    LinkChange {
                        master: Some(m),
                        ..LinkChange::default()
                    },
                )
            }
            Op::SetMtu { link, mtu, .. } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    mtu: Some(*mtu),
                    ..LinkChange::default()
                },
            ),
            Op::SetMac { link, mac, .. } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    mac: Some(mac.octets()),
                    ..LinkChange::default()
                },
            ),
            Op::SetUp { link, up } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    up: Some(*up),
                    ..LinkChange::default()
                },
            ),
            Op::SetAlias { link, alias, .. } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    alias: Some(alias.clone().unwrap_or_default()),
                    // An adopted link leaves the pending group (hvnet's live in group 0).
                    group: alias.as_ref().map(|_| 0),
                    ..LinkChange::default()
                },
            ),
            Op::SetBridgeOpts { link, opts, .. } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    bridge: Some(BridgeOpts {
                        stp: Some(opts.stp),
                        forward_delay_cs: Some(opts.forward_delay_cs),
                    }),
                    ..LinkChange::default()
                },
            ),
            Op::AddAddr(a) | Op::DelAddr(a) => {
                let ifindex = self.ifindex(a.link.as_str())?;
                let (address, prefix_len) = (a.cidr.addr(), a.cidr.prefix_len());
                if matches!(op, Op::AddAddr(_)) {
                    Request::NewAddr {
                        ifindex,
                        address,
                        prefix_len,
                    }
                } else {
                    Request::DelAddr {
                        ifindex,
                        address,
                        prefix_len,
                    }
                }
            }
            Op::AddRoute(r) => Request::NewRoute(self.route(r)?),
            Op::DelRoute(r) => Request::DelRoute(self.route(r)?),
            Op::SetHairpin { link, on } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    port: Some(netlink::BridgePortOpts {
                        hairpin: Some(*on),
                        ..netlink::BridgePortOpts::default()
                    }),
                    ..LinkChange::default()
                },
            ),
            Op::SetPortLearning { link, on } => set(
                self.ifindex(link.as_str())?,
                LinkChange {
                    port: Some(netlink::BridgePortOpts {
                        learning: Some(*on),
                        ..netlink::BridgePortOpts::default()
                    }),
                    ..LinkChange::default()
                },
            ),
            Op::MoveHostIp {
                from,
                to,
                addrs,
                routes,
            } => {
                self.flush(q, p);
                self.move_host_ip(from, to, addrs, routes)?;
                p.record(i, Ok(()));
                return Ok(());
            }
            Op::SaveSysctl { .. }
            | Op::ForgetSysctl { .. }
            | Op::SetFirewall { .. }
            | Op::RemoveFirewall { .. }
            | Op::FirewallOf { .. }
            | Op::StartDhcp(_)
            | Op::StopDhcp { .. }
            | Op::StartDhcpClient(_)
            | Op::StopDhcpClient { .. }
            | Op::ReloadDhcpHosts { .. }
            | Op::StartFrr(_)
            | Op::StopFrr { .. }
            | Op::SetVifGuard { .. }
            | Op::EditLines { .. } => {
                self.flush(q, p);
                if let Some(r) = self.run_service(op) {
                    r?;
                }
                p.record(i, Ok(()));
                return Ok(());
            }
            Op::RenameLink { from, to } => {
                self.flush(q, p);
                let ifindex = self.ifindex(from.as_str())?;
                let r = self.rtnl.execute(&[Request::RenameLink {
                    ifindex,
                    name: to.to_string(),
                }]);
                r.into_iter()
                    .next()
                    .unwrap_or(Ok(()))
                    .map_err(ExecError::Netlink)?;
                self.index.remove(from.as_str());
                self.index.insert(to.to_string(), ifindex);
                p.record(i, Ok(()));
                return Ok(());
            }
            Op::BestEffort(inner) => {
                // Alone, so that its failure is its own and can be forgiven.
                self.flush(q, p);
                let mut q2 = Queue::default();
                let mut p2 = Progress {
                    applied: Vec::new(),
                    failure: None,
                    nodes: Vec::new(),
                };
                let r = self.run_op(i, inner, &mut q2, &mut p2);
                self.flush(&mut q2, &mut p2);
                settle_nodes(&mut p2);
                if let Some(e) = r.err().or(p2.failure.map(|(_, e)| e)) {
                    tracing::warn!("{inner}: {e} (not needed: going on)");
                }
                p.record(i, Ok(()));
                return Ok(());
            }
            Op::SetSysctl { key, value, .. } => {
                self.flush(q, p);
                self.other_writes += 1;
                sysctl::write(&key.path(), value).map_err(ExecError::Sysctl)?;
                p.record(i, Ok(()));
                return Ok(());
            }
            // Nothing to set (the undo of a change whose old values were never reported).
            Op::SetVf { set, .. } if set.is_empty() => {
                p.record(i, Ok(()));
                return Ok(());
            }
            Op::SetVf { pf, vf, set, .. } => Request::SetVf {
                ifindex: self.ifindex(pf.as_str())?,
                change: netlink::VfChange {
                    vf: *vf,
                    mac: set.mac.map(|m| m.octets()),
                    vlan: set.vlan,
                    spoofchk: set.spoofchk,
                    trust: set.trust,
                    max_tx_rate: set.max_tx_rate,
                },
            },
            Op::BindVf { pci, driver, .. } => {
                self.flush(q, p);
                if p.failure.is_some() {
                    // A queued VF request failed: sysfs and records stay as they are.
                    return Ok(());
                }
                self.bind_vf(*pci, driver.as_deref())
                    .map_err(ExecError::Sysfs)?;
                p.record(i, Ok(()));
                return Ok(());
            }
            Op::RecordVf { pci, record, .. } => {
                self.flush(q, p);
                if p.failure.is_some() {
                    // A queued VF request failed: sysfs and records stay as they are.
                    return Ok(());
                }
                self.record_vf(*pci, record.as_deref())
                    .map_err(ExecError::State)?;
                p.record(i, Ok(()));
                return Ok(());
            }
        };
        match req {
            Request::SetLink { ifindex, change } => {
                if let Some(change) = q.merge(i, ifindex, change) {
                    q.push(i, Request::SetLink { ifindex, change });
                }
            }
            other => q.push(i, other),
        }
        Ok(())
    }

    /// [`Op::MoveHostIp`]: routes off `from`, addresses off `from`, addresses onto `to`,
    /// routes onto `to` (with their own protocol). If a step fails, the steps done are undone
    /// (best effort) and the error returned, so the op is all or nothing.
    fn move_host_ip(
        &mut self,
        from: &IfName,
        to: &IfName,
        addrs: &[hvnet_core::types::Ipv4Cidr],
        routes: &[MovedRoute],
    ) -> Result<(), ExecError> {
        let (f, t) = (self.ifindex(from.as_str())?, self.ifindex(to.as_str())?);
        let route = |oif: u32, r: &MovedRoute| netlink::RouteSpec {
            table: r.table,
            dst: IpAddr::V4(r.dst.network()),
            dst_len: r.dst.prefix_len(),
            gateway: r.gateway.map(IpAddr::V4),
            oif: Some(oif),
            prefsrc: r.src.map(IpAddr::V4),
            protocol: r.protocol,
            scope: if r.gateway.is_some() {
                0
            } else {
                RT_SCOPE_LINK
            },
            priority: r.metric,
        };
        let addr = |ifindex: u32, a: &hvnet_core::types::Ipv4Cidr, add: bool| {
            let (address, prefix_len) = (IpAddr::V4(a.addr()), a.prefix_len());
            if add {
                Request::NewAddr {
                    ifindex,
                    address,
                    prefix_len,
                }
            } else {
                Request::DelAddr {
                    ifindex,
                    address,
                    prefix_len,
                }
            }
        };
        // Each step with the step that undoes it.
        let mut steps: Vec<(Request, Request)> = Vec::new();
        for r in routes {
            steps.push((
                Request::DelRoute(route(f, r)),
                Request::NewRoute(route(f, r)),
            ));
        }
        for a in addrs {
            steps.push((addr(f, a, false), addr(f, a, true)));
        }
        for a in addrs {
            steps.push((addr(t, a, true), addr(t, a, false)));
        }
        for r in routes {
            steps.push((
                Request::NewRoute(route(t, r)),
                Request::DelRoute(route(t, r)),
            ));
        }
        for (k, (step, _)) in steps.iter().enumerate() {
            let r = self
                .rtnl
                .execute(std::slice::from_ref(step))
                .pop()
                .unwrap_or(Ok(()));
            if let Err(e) = r {
                for (_, undo) in steps[..k].iter().rev() {
                    let _ = self.rtnl.execute(std::slice::from_ref(undo));
                }
                return Err(ExecError::Netlink(e));
            }
        }
        Ok(())
    }

    fn route(&mut self, r: &RouteSpec) -> Result<netlink::RouteSpec, ExecError> {
        let oif = match &r.dev {
            Some(d) => Some(self.ifindex(d.as_str())?),
            None => None,
        };
        Ok(netlink::RouteSpec {
            table: r.table,
            dst: r.dst.trunc().addr(),
            dst_len: r.dst.prefix_len(),
            gateway: r.gateway,
            oif,
            prefsrc: r.src,
            protocol: r.protocol,
            scope: if r.gateway.is_some() {
                0
            } else {
                RT_SCOPE_LINK
            },
            priority: r.metric,
        })
    }

    /// Deletes the links of `ops[range]` (all `DeleteLink`) in bulk.
    fn delete_run(
        &mut self,
        ops: &[Op],
        range: std::ops::Range<usize>,
        q: &mut Queue,
        p: &mut Progress,
    ) {
        self.flush(q, p);
        let mut members = Vec::new();
        for i in range.clone() {
            let Some(name) = ops[i].link() else { continue };
            match self.ifindex(name.as_str()) {
                Ok(ifindex) => members.push((i, ifindex, name.to_string())),
                Err(e) => p.record(i, Err(e)),
            }
        }
        if p.failure.is_some() {
            return;
        }
        if let [(i, ifindex, name)] = members.as_slice() {
            let r = self
                .rtnl
                .execute(&[Request::DelLink { ifindex: *ifindex }])
                .pop()
                .unwrap_or(Ok(()));
            self.index.remove(name);
            p.record(*i, r.map_err(ExecError::Netlink));
            return;
        }
        let group = doomed_group();
        let regroup = into_group(&members, group);
        let results = self.rtnl.execute(&regroup);
        if let Some((k, e)) = results
            .into_iter()
            .enumerate()
            .find_map(|(k, r)| r.err().map(|e| (k, e)))
        {
            // Put the links already moved back into the default group; nothing was deleted.
            let _ = self.rtnl.execute(&into_group(&members[..k], 0));
            p.record(members[k].0, Err(ExecError::Netlink(e)));
            return;
        }
        let r = self
            .rtnl
            .execute(&[Request::DelGroup { group }])
            .pop()
            .unwrap_or(Ok(()));
        match r {
            Ok(()) => {
                for (i, _, name) in &members {
                    self.index.remove(name);
                    p.record(*i, Ok(()));
                }
            }
            Err(e) => {
                let _ = self.rtnl.execute(&into_group(&members, 0));
                p.record(members[0].0, Err(ExecError::Netlink(e)));
            }
        }
    }
}

/// Requests that move `members` (op, ifindex, name) into device group `group`. hvnet's links
/// live in the default group 0, so moving them back is `group = 0`.
fn into_group(members: &[(usize, u32, String)], group: u32) -> Vec<Request> {
    members
        .iter()
        .map(|(_, ifindex, _)| Request::SetLink {
            ifindex: *ifindex,
            change: LinkChange {
                group: Some(group),
                ..LinkChange::default()
            },
        })
        .collect()
}

impl LinuxHost {
    fn report(&mut self, done: usize, total: usize) {
        if let Some(f) = &mut self.progress {
            f(done, total);
        }
    }
}

impl Execute for LinuxHost {
    type Error = ExecError;

    fn execute(&mut self, ops: &[Op]) -> Result<(), ExecFailure<ExecError>> {
        self.owners_before(ops);
        let mut q = Queue::default();
        let mut p = Progress {
            applied: Vec::new(),
            failure: None,
            nodes: Vec::new(),
        };
        let mut i = 0;
        while i < ops.len() && p.failure.is_none() {
            if matches!(ops[i], Op::DeleteLink { .. }) {
                let end = ops[i..]
                    .iter()
                    .position(|o| !matches!(o, Op::DeleteLink { .. }))
                    .map_or(ops.len(), |n| i + n);
                for (k, op) in ops.iter().enumerate().take(end).skip(i) {
                    tracing::info!("op {}/{}: {op}", k + 1, ops.len());
                }
                self.delete_run(ops, i..end, &mut q, &mut p);
                i = end;
                self.report(i, ops.len());
                continue;
            }
            tracing::info!("op {}/{}: {}", i + 1, ops.len(), ops[i]);
            if let Err(e) = self.run_op(i, &ops[i], &mut q, &mut p) {
                p.record(i, Err(e));
            }
            i += 1;
            self.report(i, ops.len());
        }
        self.flush(&mut q, &mut p);
        settle_nodes(&mut p);
        self.owners_after(ops, &p.applied);
        match p.failure {
            None => Ok(()),
            Some((index, error)) => Err(ExecFailure {
                index,
                error,
                applied: p.applied,
            }),
        }
    }
}
