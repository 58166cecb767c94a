//! Planning the overlay: whether an existing VXLAN device is the wanted one, and the flood
//! entries (static peers) of hvnet's VXLAN devices — added and removed one by one, so a peer
//! joining or leaving never touches the device itself. An EVPN device's entries are
//! zebra's ([`crate::evpn`]): never touched here; its bridge port gets learning off.

use std::collections::HashSet;

use crate::observed::{ObservedLink, ObservedState};
use crate::op::Op;
use crate::overlay::{FdbSpec, ObservedVxlan, VxlanOpts, FLOOD_MAC};
use crate::state::{DesiredState, LinkKind};
use crate::types::IfName;

/// Whether the observed device has the wanted VNI, address, port, learning and underlay
/// (none of which the kernel changes on a live device: a mismatch recreates it).
pub(super) fn same_vxlan(observed: &ObservedState, have: &ObservedVxlan, want: &VxlanOpts) -> bool {
    let underlay = have
        .link
        .and_then(|i| observed.by_index(i))
        .map(|l| l.name.as_str());
    have.vni == want.vni
        && have.local == Some(want.local)
        && have.port == want.port
        && have.learning == want.learning
        && (want.underlay.is_none() || underlay == want.underlay.as_ref().map(IfName::as_str))
}

/// The desired form of an observed device, to recreate it (`None` without a local address).
pub(super) fn vxlan_opts(observed: &ObservedState, v: &ObservedVxlan) -> Option<VxlanOpts> {
    Some(VxlanOpts {
        vni: v.vni,
        local: v.local?,
        port: v.port,
        learning: v.learning,
        underlay: v
            .link
            .and_then(|i| observed.by_index(i))
            .and_then(|l| IfName::new(&l.name).ok()),
    })
}

/// The flood entries of an observed link (none unless it is a VXLAN device).
pub(super) fn static_entries(observed: &ObservedState, l: &ObservedLink) -> Vec<FdbSpec> {
    let Ok(link) = IfName::new(&l.name) else {
        return Vec::new();
    };
    observed
        .fdb
        .iter()
        .filter(|f| f.ifindex == l.ifindex && f.mac == FLOOD_MAC)
        .map(|f| FdbSpec {
            link: link.clone(),
            mac: f.mac,
            dst: f.dst,
        })
        .collect()
}

/// For every owned VXLAN device wanted: the flood entries to add and those to remove (a
/// device about to be created has none).
pub(super) fn fdb_ops(
    observed: &ObservedState,
    desired: &DesiredState,
    recreated: &HashSet<&str>,
) -> Vec<Op> {
    let mut ops = Vec::new();
    // zebra owns the entries of an EVPN device (remote MACs and flood lists from BGP); its
    // bridge port learns nothing from received frames either.
    let by_frr = |name: &IfName| {
        desired
            .frr
            .as_ref()
            .is_some_and(|f| f.devices.contains(name))
    };
    for want in desired.links.iter().filter(|l| by_frr(&l.name)) {
        let off = match observed.link(want.name.as_str()) {
            Some(l) if !recreated.contains(want.name.as_str()) => {
                // Already a port of the wanted bridge (a new enslaving learns again).
                let master = want.master.as_ref().and_then(|m| observed.link(m.as_str()));
                master.is_some_and(|m| l.master == Some(m.ifindex))
                    && observed.port_learning_off.contains(&l.ifindex)
            }
            _ => false,
        };
        if !off && want.master.is_some() {
            ops.push(Op::SetPortLearning {
                link: want.name.clone(),
                on: false,
            });
        }
    }
    for want in desired
        .links
        .iter()
        .filter(|l| l.owner.is_some() && matches!(l.kind, LinkKind::Vxlan(_)))
        .filter(|l| !by_frr(&l.name))
    {
        let have: Vec<FdbSpec> = match observed.link(want.name.as_str()) {
            Some(l) if !recreated.contains(want.name.as_str()) => static_entries(observed, l),
            _ => Vec::new(),
        };
        let wanted: Vec<&FdbSpec> = desired.fdb.iter().filter(|f| f.link == want.name).collect();
        ops.extend(
            have.iter()
                .filter(|h| !wanted.contains(h))
                .cloned()
                .map(Op::DelFdb),
        );
        ops.extend(
            wanted
                .into_iter()
                .filter(|w| !have.contains(w))
                .cloned()
                .map(Op::AddFdb),
        );
    }
    ops
}
