//! Planning the moves of the host's addresses between a bridged uplink and its bridge.

use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::{DesiredState, MovedRoute, MAIN_TABLE};

/// `RTPROT_KERNEL`: routes the kernel makes for an address itself; they follow the address.
const RTPROT_KERNEL: u8 = 2;

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
            .map(|r| MovedRoute {
                dst: r.dst,
                gateway: r.gateway,
                src: r.src,
                metric: r.metric,
                table: r.table,
                protocol: r.protocol,
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
