//! Planning the moves of the host's addresses between a bridged uplink and its bridge.

use std::net::{IpAddr, Ipv4Addr};

use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::{DesiredState, MovedRoute, MAIN_TABLE};

/// `RTPROT_KERNEL`: routes the kernel makes for an address itself; they follow the address.
const RTPROT_KERNEL: u8 = 2;

/// The IPv4 address of an observed route's gateway or source.
fn v4(a: Option<IpAddr>) -> Option<Ipv4Addr> {
    match a {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    }
}

/// One [`Op::MoveHostIp`] per wanted move that has something to move.
pub(super) fn host_ip_ops(observed: &ObservedState, desired: &DesiredState) -> Vec<Op> {
    let mut ops = Vec::new();
    for m in &desired.host_ip_moves {
        let Some(from) = observed.link(m.from.as_str()) else {
            continue;
        };
        let addrs: Vec<_> = observed
            .addrs_of(from.ifindex)
            .filter(|a| !m.keep.contains(a))
            .copied()
            .collect();
        let routes: Vec<MovedRoute> = observed
            .routes
            .iter()
            .filter(|r| r.oif == Some(from.ifindex) && r.table == MAIN_TABLE)
            .filter(|r| r.protocol != RTPROT_KERNEL)
            .filter_map(|r| {
                Some(MovedRoute {
                    dst: r.dst.v4()?,
                    gateway: v4(r.gateway),
                    src: v4(r.src),
                    metric: r.metric,
                    table: r.table,
                    protocol: r.protocol,
                })
            })
            .collect();
        if addrs.is_empty() && routes.is_empty() {
            continue;
        }
        ops.push(Op::MoveHostIp {
            from: m.from.clone(),
            to: m.to.clone(),
            addrs,
            routes,
        });
    }
    ops
}
