//! Reading the kernel into an [`ObservedState`].

use std::net::IpAddr;

use std::collections::BTreeSet;

use hvnet_core::backend::{LinkScope, Observe, Query};
use hvnet_core::macvtap::{MacvtapMode, ObservedMacvtap};
use hvnet_core::observed::{
    ObservedAddr, ObservedKind, ObservedLink, ObservedQdisc, ObservedRedirect, ObservedRoute,
    ObservedState, QdiscKind,
};
use hvnet_core::state::{BridgeOpts, TapOpts, Tbf};
use hvnet_core::types::{IpCidr, MacAddr};

use crate::host::LinuxHost;
use crate::netlink::{consts, Link, MirredAction, NlError};

const IFF_UP: u32 = libc::IFF_UP as u32;
const IFF_LOWER_UP: u32 = libc::IFF_LOWER_UP as u32;

/// Maps a kernel link into hvnet's terms.
pub(crate) fn observed_link(l: &Link) -> ObservedLink {
    let kind = match (l.kind.as_deref(), &l.bridge, &l.tun) {
        (Some("bridge"), Some(b), _) => ObservedKind::Bridge(BridgeOpts {
            stp: b.stp_state != 0,
            forward_delay_cs: b.forward_delay_cs,
        }),
        (Some("tun"), _, Some(t)) if t.tap => ObservedKind::Tap(TapOpts {
            vnet_hdr: t.vnet_hdr,
            multi_queue: t.multi_queue,
            uid: t.owner,
            gid: t.group,
        }),
        (Some("tun"), _, _) => ObservedKind::Tun,
        (Some("veth"), _, _) => ObservedKind::Veth,
        (Some("ifb"), _, _) => ObservedKind::Ifb,
        (Some("vxlan"), _, _) => match &l.vxlan {
            Some(v) => ObservedKind::Vxlan(hvnet_core::overlay::ObservedVxlan {
                vni: v.vni,
                local: v.local,
                port: v.port,
                learning: v.learning,
                link: v.link,
            }),
            None => ObservedKind::Other("vxlan".into()),
        },
        (Some("macvtap"), _, _) => ObservedKind::Macvtap(ObservedMacvtap {
            lower: None,
            mode: l.macvlan_mode.and_then(MacvtapMode::from_kernel),
            node: None,
        }),
        (k, _, _) => ObservedKind::Other(k.unwrap_or_default().to_string()),
    };
    ObservedLink {
        ifindex: l.ifindex,
        name: l.name.clone(),
        kind,
        master: l.master,
        mtu: l.mtu,
        mac: l.mac.map(MacAddr::new),
        up: l.flags & IFF_UP != 0,
        lower_up: l.flags & IFF_LOWER_UP != 0,
        alias: l.alias.clone().filter(|a| !a.is_empty()),
        // Only plain devices can be Wi-Fi NICs; virtual kinds are never asked.
        wireless: l.kind.is_none() && crate::wireless::is_wireless(&l.name),
        group: l.group,
    }
}

/// Why the host could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// A netlink dump failed.
    #[error("{0}")]
    Netlink(#[from] NlError),
    /// hvnet's state directory or firewall could not be read.
    #[error("{0}")]
    Services(#[from] crate::services::ServiceError),
    /// SR-IOV VFs or hvnet's VF records could not be read.
    #[error("{0}")]
    Sriov(String),
}

impl LinuxHost {
    /// Root and ingress qdiscs (the kernel's defaults, handle 0, left out) and the
    /// match-all redirects of every ingress qdisc.
    /// With `lookup`, only those devices' qdiscs are asked for (a scoped observation);
    /// otherwise every device's are dumped and `wanted` picks.
    fn observe_tc(
        &mut self,
        wanted: &dyn Fn(u32) -> bool,
        lookup: Option<&[u32]>,
    ) -> Result<(Vec<ObservedQdisc>, Vec<ObservedRedirect>), NlError> {
        let mut qdiscs = Vec::new();
        let found = match lookup {
            Some(devices) => self.rtnl.get_qdiscs(devices)?,
            None => self.rtnl.dump_qdiscs()?,
        };
        for q in found {
            let root = q.parent == consts::TC_H_ROOT;
            if q.handle == 0 || !(root || q.parent == consts::TC_H_INGRESS) || !wanted(q.ifindex) {
                continue;
            }
            let kind = match (q.kind.as_str(), q.tbf) {
                ("tbf", Some(t)) => QdiscKind::Tbf(Tbf {
                    rate_bytes_per_sec: t.rate_bytes_per_sec,
                    burst_bytes: t.burst_bytes,
                    limit_bytes: t.limit_bytes,
                }),
                ("ingress", _) => QdiscKind::Ingress,
                (k, _) => QdiscKind::Other(k.to_string()),
            };
            qdiscs.push(ObservedQdisc {
                ifindex: q.ifindex,
                handle: q.handle,
                root,
                kind,
            });
        }
        let mut redirects = Vec::new();
        for q in qdiscs.iter().filter(|q| !q.root) {
            for f in self
                .rtnl
                .dump_filters(q.ifindex, consts::TC_H_INGRESS_QDISC)?
            {
                let all = f.u32.as_ref().is_some_and(|u| u.matches_all());
                if let (true, Some(m)) = (all, f.mirred) {
                    if m.action == MirredAction::EgressRedirect {
                        redirects.push(ObservedRedirect {
                            ifindex: q.ifindex,
                            target: m.ifindex,
                        });
                    }
                }
            }
        }
        Ok((qdiscs, redirects))
    }
}

impl LinuxHost {
    /// The links of `scope`, looked up by name (its names, and its owners' links as the
    /// owner index lists them) plus the ports of its `ports_of` bridges and the masters of
    /// what was found; `None` when the scope has owners and there is no owner index to trust
    /// (the caller reads every link instead, which writes one).
    fn scoped_links(&mut self, scope: &LinkScope) -> Result<Option<Vec<Link>>, NlError> {
        // Links found by owner need the index; a scope of names alone does not.
        let owned = if scope.owners.is_empty() {
            Vec::new()
        } else {
            match self.owned_by(&scope.owners) {
                Some(owned) => owned,
                None => return Ok(None),
            }
        };
        let mut names: BTreeSet<&str> = scope.names.iter().map(String::as_str).collect();
        names.extend(owned.iter().map(String::as_str));
        let names: Vec<&str> = names.into_iter().collect();
        let mut links = self.rtnl.get_links(&names)?;
        let masters: Vec<u32> = links
            .iter()
            .filter(|l| scope.ports_of.contains(&l.name))
            .map(|l| l.ifindex)
            .collect();
        for master in masters {
            for port in self.rtnl.dump_ports(master)? {
                if !links.iter().any(|l| l.ifindex == port.ifindex) {
                    links.push(port);
                }
            }
        }
        // The masters of what was found, so that a port's master is known by name (a
        // planner detaching a port records which bridge it left).
        let mut masters: Vec<u32> = links
            .iter()
            .filter_map(|l| l.master)
            .filter(|m| !links.iter().any(|l| l.ifindex == *m))
            .collect();
        masters.sort_unstable();
        masters.dedup();
        if !masters.is_empty() {
            links.extend(self.rtnl.get_links_by_index(&masters)?);
        }
        // In index order, as a dump lists them (plans do not depend on how links were read).
        links.sort_by_key(|l| l.ifindex);
        Ok(Some(links))
    }

    /// The forwarding entries with a remote of the VXLAN devices (one bridge-family
    /// neighbour dump).
    fn observe_fdb(
        &mut self,
        observed: &ObservedState,
    ) -> Result<Vec<hvnet_core::overlay::ObservedFdb>, NlError> {
        let vxlans: std::collections::HashSet<u32> = observed
            .links
            .iter()
            .filter(|l| matches!(l.kind, ObservedKind::Vxlan(_)))
            .map(|l| l.ifindex)
            .collect();
        Ok(self
            .rtnl
            .dump_fdb()?
            .into_iter()
            .filter(|e| vxlans.contains(&e.ifindex))
            .filter_map(|e| match e.dst {
                Some(IpAddr::V4(dst)) => Some(hvnet_core::overlay::ObservedFdb {
                    ifindex: e.ifindex,
                    mac: MacAddr::new(e.mac),
                    dst,
                    permanent: e.permanent(),
                }),
                _ => None,
            })
            .collect())
    }
}

impl Observe for LinuxHost {
    type Error = ObserveError;

    /// One observation: links, addresses and routes always (one dump each); qdiscs and
    /// redirects of the links `query` names; sysctls; hvnet's services and firewall when
    /// asked for.
    fn observe(&mut self, query: &Query) -> Result<ObservedState, ObserveError> {
        let scoped = match &query.links {
            Some(scope) => self.scoped_links(scope)?,
            None => None,
        };
        let links = match scoped {
            Some(links) => {
                // Lookups add to what the executor knows; they never forget a link.
                self.index
                    .extend(links.iter().map(|l| (l.name.clone(), l.ifindex)));
                links
            }
            None => {
                let links = self.rtnl.dump_links()?;
                self.index = links.iter().map(|l| (l.name.clone(), l.ifindex)).collect();
                let all: Vec<ObservedLink> = links.iter().map(observed_link).collect();
                self.write_owners(&crate::owners::from_links(&all));
                links
            }
        };
        let seen: std::collections::HashSet<u32> = links.iter().map(|l| l.ifindex).collect();
        let in_scope = |ifindex: u32| query.links.is_none() || seen.contains(&ifindex);
        // A scoped read that found none of its links (names about to be given, checked
        // free) has no addresses or routes to read.
        let none_found = query.links.is_some() && links.is_empty();
        // Both families: addresses and routes carry IPv6 too (`address6`).
        let addrs = if none_found {
            Vec::new()
        } else if query.links.is_some() {
            let mut ifindexes: Vec<u32> = seen.iter().copied().collect();
            ifindexes.sort_unstable();
            self.rtnl.dump_addrs_of_links(&ifindexes)?
        } else {
            self.rtnl.dump_addrs()?
        };
        let addrs = addrs
            .into_iter()
            .filter(|a| in_scope(a.ifindex))
            .filter_map(|a| {
                Some(ObservedAddr {
                    ifindex: a.ifindex,
                    cidr: IpCidr::new(a.address, a.prefix_len).ok()?,
                })
            })
            .collect();
        let routes = if none_found {
            Vec::new()
        } else {
            self.rtnl.dump_routes()?
        };
        let routes = routes
            .into_iter()
            .filter(|r| r.oif.is_none_or(in_scope))
            .filter_map(|r| {
                // Gateway and source of the route's own family (an IPv4 route via an IPv6
                // gateway is not one hvnet makes or moves).
                let same = |a: Option<IpAddr>| a.filter(|a| a.is_ipv4() == r.dst.is_ipv4());
                Some(ObservedRoute {
                    dst: IpCidr::new(r.dst, r.dst_len).ok()?,
                    gateway: same(r.gateway),
                    oif: r.oif,
                    src: same(r.prefsrc),
                    metric: r.priority,
                    table: r.table,
                    protocol: r.protocol,
                })
            })
            .collect();
        let sysctls = self.read_sysctls(&query.sysctls);
        let mut observed_links: Vec<ObservedLink> = links.iter().map(observed_link).collect();
        crate::macvtap::observe_macvtaps(&links, &mut observed_links);
        let tc_of: std::collections::HashSet<u32> = observed_links
            .iter()
            .filter(|l| query.reads_tc_of(&l.name, l.owner().as_ref().map(|o| o.name())))
            .map(|l| l.ifindex)
            .collect();
        let (qdiscs, redirects) = if tc_of.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let devices: Vec<u32> = tc_of.iter().copied().collect();
            let lookup = query.links.as_ref().map(|_| devices.as_slice());
            self.observe_tc(&|ifindex| tc_of.contains(&ifindex), lookup)?
        };
        let mut observed = ObservedState {
            links: observed_links,
            addrs,
            routes,
            sysctls,
            qdiscs,
            redirects,
            hairpin: links
                .iter()
                .filter(|l| l.port.is_some_and(|p| p.hairpin))
                .map(|l| l.ifindex)
                .collect(),
            port_learning_off: links
                .iter()
                .filter(|l| l.port.is_some_and(|p| !p.learning))
                .map(|l| l.ifindex)
                .collect(),
            ..ObservedState::default()
        };
        if observed
            .links
            .iter()
            .any(|l| matches!(l.kind, ObservedKind::Vxlan(_)))
        {
            observed.fdb = self.observe_fdb(&observed)?;
        }
        if query.services {
            self.observe_services(&mut observed)?;
        } else if query.name_hints {
            observed.name_hints = self.name_hints();
        }
        if query.firewall {
            self.observe_firewall(&mut observed)?;
        }
        if query.netns {
            observed.netns = Some(crate::netns::list().into_iter().collect());
        }
        self.observe_sriov(query, &mut observed)
            .map_err(ObserveError::Sriov)?;
        Ok(observed)
    }
}
