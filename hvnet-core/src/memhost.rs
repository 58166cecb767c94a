//! [`MemHost`]: an in-memory host that carries out ops the way Linux would, for running the
//! whole pipeline — observe, plan, apply, crash, recover, check — without root or a kernel.
//!
//! It models links (kinds, masters, MTUs, MACs, up, aliases), IPv4 addresses and hvnet's
//! routes, qdiscs and redirects, sysctls (with the saved originals), hvnet's firewall chains
//! (as `iptables -S` would list them), dnsmasq daemons and host DHCP clients, and the
//! journal. Faults and crashes can be injected at any op.
//!
//! ```
//! use hvnet_core::backend::{Execute, Observe, Query};
//! use hvnet_core::memhost::MemHost;
//! use hvnet_core::op::Op;
//! use hvnet_core::state::{BridgeOpts, Owner};
//! use hvnet_core::types::IfName;
//! let mut host = MemHost::new();
//! let br = IfName::new("br0").unwrap();
//! host.execute(&[Op::CreateBridge { name: br.clone(), owner: Owner::new("lan"), mtu: None,
//!     mac: None, opts: BridgeOpts { stp: false, forward_delay_cs: 0 } }]).unwrap();
//! let seen = host.observe(&Query::everything()).unwrap();
//! assert_eq!(seen.link("br0").and_then(|l| l.owner()), Some(Owner::new("lan")));
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::backend::{ExecFailure, Execute, Journal, Observe, Query, Record};
use crate::observed::{
    ObservedAddr, ObservedDhcp, ObservedFirewall, ObservedKind, ObservedLink, ObservedQdisc,
    ObservedRedirect, ObservedRoute, ObservedState, QdiscKind,
};
use crate::op::{Op, HVNET_QDISC_HANDLE};
use crate::state::Owner;
use crate::types::{IfName, IpCidr};
use crate::vif_guard::VifGuard;

/// An op the in-memory host refused, with the kernel's kind of reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MemError(pub String);

/// An in-memory host (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct MemHost {
    /// Everything the host holds, as a full observation would return it. `sysctls` holds
    /// every sysctl of the host; `firewall` `None` means no hvnet chain exists.
    pub state: ObservedState,
    next: u32,
    /// Fail the op with this number (0-based count of every op executed so far).
    pub fail_at_count: Option<usize>,
    /// "Kill" the process before the op with this number: it and everything after it —
    /// rollbacks, journal updates — is silently dropped until [`MemHost::revive`].
    pub crash_at_count: Option<usize>,
    crashed: bool,
    /// Ops executed so far (the ops dropped after a crash do not count).
    pub executed: usize,
    next_pid: i32,
    /// dnsmasq starts so far.
    pub dhcp_starts: usize,
    /// dnsmasq SIGHUPs so far.
    pub dhcp_reloads: usize,
    /// The journal's record, as it would be found on disk.
    pub journal: Option<Record>,
    /// Journal writes so far (each a durable write on a real host).
    pub journal_writes: usize,
    /// Where the state directory is said to be.
    pub state_dir: PathBuf,
    /// The Xen vifs' firewall guards, by device.
    pub vif_guards: BTreeMap<String, VifGuard>,
    /// Line-based files hvnet edits ([`Op::EditLines`]).
    pub files: BTreeMap<PathBuf, Vec<String>>,
    /// Observations that read only some links ([`Query::links`]), so far.
    pub scoped_reads: usize,
}

impl MemHost {
    /// A host with `lo` and `eth0`.
    pub fn new() -> Self {
        let mut k = Self {
            next: 1,
            state_dir: PathBuf::from("/run/hvnet"),
            ..Self::default()
        };
        k.add_link("lo", ObservedKind::Other(String::new()), None);
        k.add_link("eth0", ObservedKind::Other(String::new()), None);
        k
    }

    /// A host holding what `observed` saw (a full observation).
    pub fn from_observed(observed: ObservedState) -> Self {
        let next = observed.links.iter().map(|l| l.ifindex).max().unwrap_or(0) + 1;
        let next_pid = observed
            .dhcp
            .iter()
            .filter_map(|d| d.pid)
            .chain(observed.dhcp_clients.iter().filter_map(|c| c.pid))
            .max()
            .unwrap_or(0);
        Self {
            state: observed,
            next,
            next_pid,
            ..Self::default()
        }
    }

    /// Adds a link (up, MTU 1500) and returns its index.
    pub fn add_link(&mut self, name: &str, kind: ObservedKind, alias: Option<&str>) -> u32 {
        let ifindex = self.next.max(1);
        self.next = ifindex + 1;
        self.state.links.push(ObservedLink {
            ifindex,
            name: name.into(),
            kind,
            master: None,
            mtu: 1500,
            mac: None,
            up: true,
            lower_up: true,
            alias: alias.map(str::to_string),
            wireless: false,
            group: 0,
        });
        ifindex
    }

    /// Whether a crash was simulated ([`MemHost::crash_at_count`]) and not yet revived.
    pub fn crashed(&self) -> bool {
        self.crashed
    }

    /// Ends a simulated crash: the host is as the "killed" process left it, and the next
    /// command starts.
    pub fn revive(&mut self) {
        self.crashed = false;
        self.crash_at_count = None;
    }

    fn idx(&self, name: &IfName) -> Result<usize, MemError> {
        self.state
            .links
            .iter()
            .position(|l| l.name == name.as_str())
            .ok_or_else(|| MemError(format!("{name}: no such device")))
    }

    fn create(
        &mut self,
        name: &IfName,
        kind: ObservedKind,
        owner: &Owner,
        mtu: Option<u32>,
        mac: Option<crate::types::MacAddr>,
    ) -> Result<(), MemError> {
        if self.idx(name).is_ok() {
            return Err(MemError(format!("{name}: File exists")));
        }
        let i = self.add_link(name.as_str(), kind, Some(&owner.tag()));
        if let Some(l) = self.state.links.iter_mut().find(|l| l.ifindex == i) {
            l.up = false;
            l.lower_up = false;
            l.mtu = mtu.unwrap_or(1500);
            l.mac = mac;
        }
        Ok(())
    }

    /// Carries out one op, as the kernel would.
    ///
    /// # Errors
    ///
    /// What the kernel would refuse (a missing link, an existing one, …).
    pub fn apply(&mut self, op: &Op) -> Result<(), MemError> {
        match op {
            Op::CreateBridge {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => self.create(name, ObservedKind::Bridge(*opts), owner, *mtu, *mac),
            Op::CreateTap {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => self.create(name, ObservedKind::Tap(*opts), owner, *mtu, *mac),
            Op::CreateVeth {
                name,
                owner,
                mtu,
                mac,
                ..
            } => self.create(name, ObservedKind::Veth, owner, *mtu, *mac),
            Op::CreateIfb { name, owner, mtu } => {
                self.create(name, ObservedKind::Ifb, owner, *mtu, None)
            }
            Op::CreateVxlan {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => {
                let link = match &opts.underlay {
                    Some(u) => Some(self.state.links[self.idx(u)?].ifindex),
                    None => None,
                };
                let kind = ObservedKind::Vxlan(crate::overlay::ObservedVxlan {
                    vni: opts.vni,
                    local: Some(opts.local),
                    port: opts.port,
                    learning: opts.learning,
                    link,
                });
                self.create(name, kind, owner, *mtu, *mac)
            }
            Op::AddProxyNdp { link, addr } | Op::DelProxyNdp { link, addr } => {
                let ifindex = self.state.links[self.idx(link)?].ifindex;
                let entry = (ifindex, *addr);
                let had = self.state.proxy_ndp.contains(&entry);
                // Added as a replace; removing an absent entry fails, as on a kernel.
                self.state.proxy_ndp.retain(|e| *e != entry);
                match op {
                    Op::AddProxyNdp { .. } => self.state.proxy_ndp.push(entry),
                    _ if !had => return Err(MemError(format!("{op}: No such file or directory"))),
                    _ => {}
                }
                Ok(())
            }
            Op::AddFdb(e) | Op::DelFdb(e) => {
                let i = self.idx(&e.link)?;
                let ifindex = self.state.links[i].ifindex;
                if !matches!(self.state.links[i].kind, ObservedKind::Vxlan(_)) {
                    return Err(MemError(format!("{}: not a vxlan device", e.link)));
                }
                let at = self
                    .state
                    .fdb
                    .iter()
                    .position(|f| f.ifindex == ifindex && f.mac == e.mac && f.dst == e.dst);
                match (op, at) {
                    (Op::AddFdb(_), Some(_)) => {
                        return Err(MemError(format!("{op}: File exists")));
                    }
                    (Op::AddFdb(_), None) => self.state.fdb.push(crate::overlay::ObservedFdb {
                        ifindex,
                        mac: e.mac,
                        dst: e.dst,
                        permanent: true,
                    }),
                    (_, Some(k)) => {
                        self.state.fdb.remove(k);
                    }
                    (_, None) => return Err(MemError(format!("{op}: No such file or directory"))),
                }
                Ok(())
            }
            Op::CreateMacvtap {
                name,
                owner,
                mtu,
                mac,
                opts,
            } => {
                self.idx(&opts.lower)?;
                let kind = ObservedKind::Macvtap(crate::macvtap::ObservedMacvtap {
                    lower: Some(opts.lower.to_string()),
                    mode: Some(opts.mode),
                    node: Some(opts.node_owner()),
                });
                self.create(name, kind, owner, *mtu, *mac)
            }
            Op::SetTapNode { link, node, .. } => {
                let i = self.idx(link)?;
                match &mut self.state.links[i].kind {
                    ObservedKind::Macvtap(m) => {
                        m.node = Some(*node);
                        Ok(())
                    }
                    _ => Err(MemError(format!("{link} is not a macvtap"))),
                }
            }
            Op::SetTbf { link, tbf, .. } => {
                let ifindex = self.state.links[self.idx(link)?].ifindex;
                self.state
                    .qdiscs
                    .retain(|q| !(q.ifindex == ifindex && q.root));
                self.state.qdiscs.push(ObservedQdisc {
                    ifindex,
                    handle: HVNET_QDISC_HANDLE,
                    root: true,
                    kind: QdiscKind::Tbf(*tbf),
                });
                Ok(())
            }
            Op::DelTbf { link, .. } => {
                let ifindex = self.state.links[self.idx(link)?].ifindex;
                self.state
                    .qdiscs
                    .retain(|q| !(q.ifindex == ifindex && q.root));
                Ok(())
            }
            Op::AddRedirect { link, ifb } => {
                let ifindex = self.state.links[self.idx(link)?].ifindex;
                let target = self.state.links[self.idx(ifb)?].ifindex;
                if self.state.qdisc(ifindex, false).is_some() {
                    return Err(MemError("ingress qdisc exists".into()));
                }
                self.state.qdiscs.push(ObservedQdisc {
                    ifindex,
                    handle: 0xffff_0000,
                    root: false,
                    kind: QdiscKind::Ingress,
                });
                self.state
                    .redirects
                    .push(ObservedRedirect { ifindex, target });
                Ok(())
            }
            Op::DelRedirect { link, .. } => {
                let ifindex = self.state.links[self.idx(link)?].ifindex;
                self.state.qdiscs.retain(|q| q.ifindex != ifindex || q.root);
                self.state.redirects.retain(|r| r.ifindex != ifindex);
                Ok(())
            }
            Op::DeleteLink { name, .. } => {
                let i = self.idx(name)?;
                let l = self.state.links.remove(i);
                self.state.qdiscs.retain(|q| q.ifindex != l.ifindex);
                self.state
                    .redirects
                    .retain(|r| r.ifindex != l.ifindex && r.target != l.ifindex);
                for p in &mut self.state.links {
                    if p.master == Some(l.ifindex) {
                        p.master = None;
                    }
                }
                self.state.addrs.retain(|a| a.ifindex != l.ifindex);
                self.state.hairpin.remove(&l.ifindex);
                self.state.port_learning_off.remove(&l.ifindex);
                self.state.routes.retain(|r| r.oif != Some(l.ifindex));
                self.state.fdb.retain(|f| f.ifindex != l.ifindex);
                Ok(())
            }
            Op::SetMaster { link, master, .. } => {
                let m = match master {
                    Some(m) => Some(self.state.links[self.idx(m)?].ifindex),
                    None => None,
                };
                let i = self.idx(link)?;
                self.state.links[i].master = m;
                Ok(())
            }
            Op::SetMtu { link, mtu, .. } => {
                let i = self.idx(link)?;
                self.state.links[i].mtu = *mtu;
                Ok(())
            }
            Op::SetMac { link, mac, .. } => {
                let i = self.idx(link)?;
                self.state.links[i].mac = Some(*mac);
                Ok(())
            }
            Op::SetUp { link, up } => {
                let i = self.idx(link)?;
                self.state.links[i].up = *up;
                Ok(())
            }
            Op::SetAlias { link, alias, .. } => {
                let i = self.idx(link)?;
                self.state.links[i].alias = alias.clone();
                Ok(())
            }
            Op::SetBridgeOpts { link, opts, .. } => {
                let i = self.idx(link)?;
                self.state.links[i].kind = ObservedKind::Bridge(*opts);
                Ok(())
            }
            Op::AddAddr(a) => {
                let ifindex = self.state.links[self.idx(&a.link)?].ifindex;
                if self
                    .state
                    .addrs
                    .iter()
                    .any(|x| x.ifindex == ifindex && x.cidr == a.cidr)
                {
                    return Err(MemError("File exists".into()));
                }
                self.state.addrs.push(ObservedAddr {
                    ifindex,
                    cidr: a.cidr,
                });
                Ok(())
            }
            Op::DelAddr(a) => {
                let ifindex = self.state.links[self.idx(&a.link)?].ifindex;
                let before = self.state.addrs.len();
                self.state
                    .addrs
                    .retain(|x| !(x.ifindex == ifindex && x.cidr == a.cidr));
                if before == self.state.addrs.len() {
                    return Err(MemError("Cannot assign requested address".into()));
                }
                Ok(())
            }
            Op::AddRoute(r) => {
                let oif = match &r.dev {
                    Some(d) => Some(self.state.links[self.idx(d)?].ifindex),
                    None => None,
                };
                self.state.routes.push(ObservedRoute {
                    dst: r.dst,
                    gateway: r.gateway,
                    oif,
                    src: r.src,
                    metric: r.metric,
                    table: r.table,
                    protocol: r.protocol,
                });
                Ok(())
            }
            Op::DelRoute(r) => {
                let oif = r.dev.as_ref().and_then(|d| self.state.link(d.as_str()));
                let oif = oif.map(|l| l.ifindex);
                self.state
                    .routes
                    .retain(|x| x.dst != r.dst || (oif.is_some() && x.oif != oif));
                Ok(())
            }
            Op::SetSysctl { key, value, .. } => {
                self.state.sysctls.insert(key.clone(), value.clone());
                Ok(())
            }
            Op::MoveHostIp {
                from,
                to,
                addrs,
                routes,
            } => {
                let f = self.state.links[self.idx(from)?].ifindex;
                let t = self.state.links[self.idx(to)?].ifindex;
                for a in &mut self.state.addrs {
                    if a.ifindex == f && a.cidr.v4().is_some_and(|c| addrs.contains(&c)) {
                        a.ifindex = t;
                    }
                }
                for r in &mut self.state.routes {
                    if r.oif == Some(f) && routes.iter().any(|m| IpCidr::from(m.dst) == r.dst) {
                        r.oif = Some(t);
                    }
                }
                Ok(())
            }
            Op::SaveSysctl { key, value } => {
                self.state.saved_sysctls.insert(key.clone(), value.clone());
                Ok(())
            }
            Op::ForgetSysctl { key, .. } => {
                self.state.saved_sysctls.remove(key);
                Ok(())
            }
            Op::SetPortLearning { link, on } => {
                let i = self.state.links[self.idx(link)?].ifindex;
                if *on {
                    self.state.port_learning_off.remove(&i);
                } else {
                    self.state.port_learning_off.insert(i);
                }
                Ok(())
            }
            Op::SetHairpin { link, on } => {
                let i = self.state.links[self.idx(link)?].ifindex;
                if *on {
                    self.state.hairpin.insert(i);
                } else {
                    self.state.hairpin.remove(&i);
                }
                Ok(())
            }
            Op::SetFirewall { intent, .. } => {
                self.state.firewall = Some(ObservedFirewall {
                    intent: Some((**intent).clone()),
                    drift: Vec::new(),
                    warnings: Vec::new(),
                    others: self
                        .state
                        .firewall
                        .as_ref()
                        .map(|f| f.others.clone())
                        .unwrap_or_default(),
                });
                Ok(())
            }
            Op::FirewallOf {
                backend, intent, ..
            } => {
                let fw = self.state.firewall.get_or_insert_with(Default::default);
                match intent {
                    Some(i) => fw.others.insert(*backend, (**i).clone()),
                    None => fw.others.remove(backend),
                };
                Ok(())
            }
            Op::RemoveFirewall { .. } => {
                let others = self.state.firewall.take().map(|f| f.others);
                self.state.firewall = Some(ObservedFirewall {
                    others: others.unwrap_or_default(),
                    ..ObservedFirewall::default()
                });
                Ok(())
            }
            Op::StartDhcp(svc) => {
                if self
                    .state
                    .dhcp(&svc.network)
                    .is_some_and(|d| d.pid.is_some())
                {
                    return Err(MemError(format!("dnsmasq of {} already runs", svc.network)));
                }
                self.next_pid += 1;
                let pid = self.next_pid;
                self.state.dhcp.retain(|d| d.network != svc.network);
                self.state.dhcp.push(ObservedDhcp {
                    network: svc.network.clone(),
                    dir: svc.dir.clone(),
                    conf: Some(svc.conf.clone()),
                    hosts: Some(svc.hosts.clone()),
                    pid: Some(pid),
                });
                self.dhcp_starts += 1;
                Ok(())
            }
            Op::StopDhcp { network, .. } => {
                for d in self.state.dhcp.iter_mut().filter(|d| d.network == *network) {
                    d.pid = None;
                }
                Ok(())
            }
            Op::StartDhcpClient(c) => {
                self.next_pid += 1;
                let pid = self.next_pid;
                self.state.dhcp_clients.retain(|d| d.network != c.network);
                self.state
                    .dhcp_clients
                    .push(crate::observed::ObservedDhcpClient {
                        network: c.network.clone(),
                        dir: c.dir.clone(),
                        interface: Some(c.interface.to_string()),
                        hook: Some(c.hook.clone()),
                        pid: Some(pid),
                    });
                Ok(())
            }
            Op::StartFrr(svc) => {
                self.next_pid += 2;
                self.state.frr = Some(crate::evpn::ObservedFrr {
                    installed: true,
                    dir: svc.dir.clone(),
                    zebra_conf: Some(svc.zebra_conf.clone()),
                    bgpd_conf: Some(svc.bgpd_conf.clone()),
                    zebra_pid: Some(self.next_pid - 1),
                    bgpd_pid: Some(self.next_pid),
                });
                Ok(())
            }
            Op::StopFrr { .. } => {
                if let Some(f) = &mut self.state.frr {
                    *f = crate::evpn::ObservedFrr {
                        installed: f.installed,
                        dir: f.dir.clone(),
                        ..Default::default()
                    };
                }
                Ok(())
            }
            Op::StopDhcpClient { network, .. } => {
                for d in self
                    .state
                    .dhcp_clients
                    .iter_mut()
                    .filter(|d| d.network == *network)
                {
                    d.pid = None;
                }
                Ok(())
            }
            Op::ReloadDhcpHosts { network, hosts, .. } => {
                let d = self
                    .state
                    .dhcp
                    .iter_mut()
                    .find(|d| d.network == *network && d.pid.is_some())
                    .ok_or_else(|| MemError(format!("dnsmasq of {network} is not running")))?;
                d.hosts = Some(hosts.clone());
                self.dhcp_reloads += 1;
                Ok(())
            }
            Op::RenameLink { from, to } => {
                let i = self.idx(from)?;
                if self.idx(to).is_ok() {
                    return Err(MemError(format!("{to}: File exists")));
                }
                if self.state.links[i].up {
                    return Err(MemError(format!("{from}: Device or resource busy")));
                }
                self.state.links[i].name = to.to_string();
                Ok(())
            }
            // As the real host: a failure is only a warning (the fault counter still counts it).
            Op::BestEffort(inner) => {
                let _ = self.apply(inner);
                Ok(())
            }
            Op::SetVifGuard { dev, guard, .. } => {
                match guard {
                    Some(g) => self.vif_guards.insert(dev.to_string(), g.clone()),
                    None => self.vif_guards.remove(dev.as_str()),
                };
                Ok(())
            }
            Op::EditLines { file, drop, add } => {
                let lines = self.files.entry(file.clone()).or_default();
                lines.retain(|l| !drop.contains(l) && !add.contains(l));
                lines.extend(add.iter().cloned());
                Ok(())
            }
            Op::SetVf { .. } | Op::BindVf { .. } | Op::RecordVf { .. } => {
                crate::sriov::apply(op, &mut self.state).map_err(MemError)
            }
        }
    }
}

impl Observe for MemHost {
    type Error = MemError;

    /// What a real host returns for `query`: links, addresses and routes always; the rest
    /// only when asked for, so a query that forgets something shows up in tests.
    fn observe(&mut self, query: &Query) -> Result<ObservedState, MemError> {
        let all = &self.state;
        let mut o = ObservedState {
            links: all.links.clone(),
            addrs: all.addrs.clone(),
            routes: all.routes.clone(),
            hairpin: all.hairpin.clone(),
            fdb: all.fdb.clone(),
            port_learning_off: all.port_learning_off.clone(),
            ..ObservedState::default()
        };
        if let Some(scope) = &query.links {
            // Only the scope's links, as a kernel asked one name at a time would give them.
            let masters: Vec<u32> = all
                .links
                .iter()
                .filter(|l| scope.ports_of.contains(&l.name))
                .map(|l| l.ifindex)
                .collect();
            o.links.retain(|l| {
                let owner = l.owner().map(|x| x.name().to_string());
                scope.covers(&l.name, owner.as_deref())
                    || l.master.is_some_and(|m| masters.contains(&m))
            });
            let kept: Vec<u32> = o.links.iter().map(|l| l.ifindex).collect();
            o.addrs.retain(|a| kept.contains(&a.ifindex));
            o.routes.retain(|r| r.oif.is_none_or(|i| kept.contains(&i)));
            o.hairpin.retain(|i| kept.contains(i));
            o.port_learning_off.retain(|i| kept.contains(i));
            self.scoped_reads += 1;
        }
        let tc_read = |ifindex: u32| {
            all.by_index(ifindex).is_some_and(|l| {
                let owner = l.owner().map(|o| o.name().to_string());
                query.reads_tc_of(&l.name, owner.as_deref())
            })
        };
        o.qdiscs = all
            .qdiscs
            .iter()
            .filter(|q| tc_read(q.ifindex))
            .cloned()
            .collect();
        o.redirects = all
            .redirects
            .iter()
            .filter(|r| tc_read(r.ifindex))
            .cloned()
            .collect();
        for k in &query.sysctls {
            if let Some(v) = all.sysctls.get(k) {
                o.sysctls.insert(k.clone(), v.clone());
            }
        }
        if query.services {
            o.dhcp = all.dhcp.clone();
            o.dhcp_clients = all.dhcp_clients.clone();
            // FRR is installed on the in-memory host.
            o.frr = Some(all.frr.clone().unwrap_or(crate::evpn::ObservedFrr {
                installed: true,
                ..Default::default()
            }));
            o.saved_sysctls = all.saved_sysctls.clone();
            for k in all.saved_sysctls.keys() {
                if let Some(v) = all.sysctls.get(k) {
                    o.sysctls.insert(k.clone(), v.clone());
                }
            }
        }
        if query.services || query.name_hints {
            o.name_hints = all.name_hints.clone();
        }
        if query.firewall {
            o.firewall = Some(all.firewall.clone().unwrap_or_default());
        }
        if query.netns {
            o.netns = Some(all.netns.clone().unwrap_or_default());
        }
        // As the kernel observer: the VFs of the pools asked for, and with `services` the
        // records and the VFs they name.
        let records = if query.services {
            all.sriov.records.clone()
        } else {
            Vec::new()
        };
        o.sriov.vfs = all
            .sriov
            .vfs
            .iter()
            .filter(|v| {
                records.iter().any(|r| r.pci == v.pci)
                    || query.vf_pools.iter().any(|p| match p {
                        crate::sriov::VfSource::Pf(pf) => *pf == v.pf,
                        crate::sriov::VfSource::Vfs(l) => l.contains(&v.pci),
                    })
            })
            .cloned()
            .collect();
        o.sriov.records = records;
        o.sriov.unreadable = all
            .sriov
            .unreadable
            .iter()
            .filter(|(s, _)| query.vf_pools.contains(s))
            .cloned()
            .collect();
        Ok(o)
    }
}

impl Execute for MemHost {
    type Error = MemError;

    fn execute(&mut self, ops: &[Op]) -> Result<(), ExecFailure<MemError>> {
        let mut applied = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if self.crashed || self.crash_at_count == Some(self.executed) {
                // The process is dead: nothing it would still do reaches the host.
                self.crashed = true;
                continue;
            }
            let count = self.executed;
            self.executed += 1;
            if self.fail_at_count == Some(count) {
                return Err(ExecFailure {
                    index: i,
                    error: MemError("injected".into()),
                    applied,
                });
            }
            match self.apply(op) {
                Ok(()) => applied.push(i),
                Err(error) => {
                    return Err(ExecFailure {
                        index: i,
                        error,
                        applied,
                    })
                }
            }
        }
        Ok(())
    }
}

impl Journal for MemHost {
    type Error = MemError;

    fn pending(&mut self) -> Result<Option<Record>, MemError> {
        Ok(self.journal.clone())
    }

    fn begin(&mut self, record: &Record) -> Result<(), MemError> {
        if !self.crashed {
            self.journal = Some(record.clone());
            self.journal_writes += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), MemError> {
        if !self.crashed {
            self.journal = None;
            self.journal_writes += 1;
        }
        Ok(())
    }
}
