//! An in-memory kernel for planner and transaction tests: applies ops to an
//! `ObservedState` the way Linux would.

#![allow(dead_code)]

use hvnet_core::backend::{ExecFailure, Execute, Observe};
use std::collections::BTreeMap;

use hvnet_core::firewall::{self, RuleSet, Table};
use hvnet_core::observed::{
    ObservedAddr, ObservedDhcp, ObservedFirewall, ObservedKind, ObservedLink, ObservedQdisc,
    ObservedRedirect, ObservedRoute, ObservedState, QdiscKind,
};
use hvnet_core::op::{Op, HVNET_QDISC_HANDLE, RTPROT_HVNET};
use hvnet_core::state::{Owner, SysctlKey};
use hvnet_core::types::IfName;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FakeError(pub String);

#[derive(Default)]
pub struct FakeKernel {
    pub state: ObservedState,
    next: u32,
    /// Fail the n-th op executed from now on (0-based count of all ops ever executed).
    pub fail_at_count: Option<usize>,
    pub executed: usize,
    next_pid: i32,
    /// dnsmasq starts and SIGHUPs so far.
    pub dhcp_starts: usize,
    pub dhcp_reloads: usize,
}

impl FakeKernel {
    pub fn new() -> Self {
        let mut k = Self {
            next: 1,
            ..Self::default()
        };
        k.add_link("lo", ObservedKind::Other(String::new()), None);
        k.add_link("eth0", ObservedKind::Other(String::new()), None);
        k
    }

    pub fn add_link(&mut self, name: &str, kind: ObservedKind, alias: Option<&str>) -> u32 {
        let ifindex = self.next;
        self.next += 1;
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
        });
        ifindex
    }

    fn idx(&self, name: &IfName) -> Result<usize, FakeError> {
        self.state
            .links
            .iter()
            .position(|l| l.name == name.as_str())
            .ok_or_else(|| FakeError(format!("{name}: no such device")))
    }

    fn create(
        &mut self,
        name: &IfName,
        kind: ObservedKind,
        owner: &Owner,
        mtu: Option<u32>,
        mac: Option<hvnet_core::types::MacAddr>,
    ) -> Result<(), FakeError> {
        if self.idx(name).is_ok() {
            return Err(FakeError(format!("{name}: File exists")));
        }
        let i = self.add_link(name.as_str(), kind, Some(&owner.tag()));
        let l = self
            .state
            .links
            .iter_mut()
            .find(|l| l.ifindex == i)
            .expect("just added");
        l.up = false;
        l.lower_up = false;
        l.mtu = mtu.unwrap_or(1500);
        l.mac = mac;
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), FakeError> {
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
                    return Err(FakeError("ingress qdisc exists".into()));
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
                    return Err(FakeError("File exists".into()));
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
                    return Err(FakeError("Cannot assign requested address".into()));
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
                    protocol: RTPROT_HVNET,
                });
                Ok(())
            }
            Op::DelRoute(r) => {
                self.state.routes.retain(|x| x.dst != r.dst);
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
                    if a.ifindex == f && addrs.contains(&a.cidr) {
                        a.ifindex = t;
                    }
                }
                for r in &mut self.state.routes {
                    if r.oif == Some(f) && routes.iter().any(|m| m.dst == r.dst) {
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
            Op::SetHairpin { link, on } => {
                let i = self.state.links[self.idx(link)?].ifindex;
                if *on {
                    self.state.hairpin.insert(i);
                } else {
                    self.state.hairpin.remove(&i);
                }
                Ok(())
            }
            Op::SetFirewall { rules, .. } => {
                self.state.firewall = Some(ObservedFirewall {
                    listings: listings(rules),
                });
                Ok(())
            }
            Op::RemoveFirewall { .. } => {
                self.state.firewall = Some(ObservedFirewall::default());
                Ok(())
            }
            Op::StartDhcp(svc) => {
                if self
                    .state
                    .dhcp(&svc.network)
                    .is_some_and(|d| d.pid.is_some())
                {
                    return Err(FakeError(format!(
                        "dnsmasq of {} already runs",
                        svc.network
                    )));
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
                    .push(hvnet_core::observed::ObservedDhcpClient {
                        network: c.network.clone(),
                        dir: c.dir.clone(),
                        interface: Some(c.interface.to_string()),
                        hook: Some(c.hook.clone()),
                        pid: Some(pid),
                    });
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
                    .ok_or_else(|| FakeError(format!("dnsmasq of {network} is not running")))?;
                d.hosts = Some(hosts.clone());
                self.dhcp_reloads += 1;
                Ok(())
            }
        }
    }
}

/// What `iptables -S` would list for hvnet's chains holding `rules`, with the hooks.
pub fn listings(rules: &RuleSet) -> BTreeMap<Table, String> {
    let mut out = BTreeMap::new();
    for t in Table::ALL {
        let mut s = String::new();
        for c in firewall::chains(t) {
            s.push_str(&format!("-N {c}\n"));
        }
        for h in RuleSet::hooks().into_iter().filter(|h| h.table == t) {
            s.push_str(&format!("-A {} {}\n", h.builtin, h.spec));
        }
        for r in rules.rules().filter(|r| r.table == t) {
            s.push_str(&format!("-A {} {}\n", r.chain, r.spec));
        }
        out.insert(t, s);
    }
    out
}

impl Observe for FakeKernel {
    type Error = FakeError;
    fn observe(&mut self, _sysctls: &[SysctlKey]) -> Result<ObservedState, FakeError> {
        Ok(self.state.clone())
    }
}

impl Execute for FakeKernel {
    type Error = FakeError;
    fn execute(&mut self, ops: &[Op]) -> Result<(), ExecFailure<FakeError>> {
        let mut applied = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let count = self.executed;
            self.executed += 1;
            if self.fail_at_count == Some(count) {
                return Err(ExecFailure {
                    index: i,
                    error: FakeError("injected".into()),
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

/// The real KVM backend (taps and veths with `fe:` host-side MACs).
pub use hvnet_kvm::KvmBackend as Taps;
