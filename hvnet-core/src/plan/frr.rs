//! Planning hvnet's FRR (the EVPN control plane, see [`crate::evpn`]): started when wanted
//! and not running as wanted, restarted when its configuration changed, stopped (its files
//! removed) when no longer wanted. Only a state that speaks for it ([`crate::evpn::in_scope`])
//! and an observation that read it touch it.

use crate::evpn::in_scope;
use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::DesiredState;

/// The FRR ops of a plan: a stop of what runs (when it is stale or unwanted), then a start.
pub(super) fn frr_ops(observed: &ObservedState, desired: &DesiredState) -> Vec<Op> {
    let Some(have) = &observed.frr else {
        return Vec::new();
    };
    if !in_scope(desired) {
        return Vec::new();
    }
    let mut ops = Vec::new();
    let stale = match &desired.frr {
        Some(want) => !have.runs(want),
        None => true,
    };
    if stale && have.exists() {
        ops.push(Op::StopFrr {
            dir: have.dir.clone(),
            restore: have.as_service().map(Box::new),
        });
    }
    if let Some(want) = desired.frr.as_ref().filter(|_| stale) {
        ops.push(Op::StartFrr(Box::new(want.clone())));
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evpn::{FrrService, ObservedFrr};

    fn svc(bgpd: &str) -> FrrService {
        FrrService {
            dir: "/run/hvnet/frr".into(),
            zebra_conf: "hostname a\n".into(),
            bgpd_conf: bgpd.into(),
            devices: Vec::new(),
        }
    }

    fn running(bgpd: &str) -> ObservedState {
        ObservedState {
            frr: Some(ObservedFrr {
                installed: true,
                dir: "/run/hvnet/frr".into(),
                zebra_conf: Some("hostname a\n".into()),
                bgpd_conf: Some(bgpd.into()),
                zebra_pid: Some(10),
                bgpd_pid: Some(11),
            }),
            ..ObservedState::default()
        }
    }

    #[test]
    fn starts_restarts_and_stops() {
        let want = DesiredState {
            frr: Some(svc("router bgp 1\n")),
            ..DesiredState::default()
        };
        // Running as wanted: nothing.
        assert!(frr_ops(&running("router bgp 1\n"), &want).is_empty());
        // Not running: a start.
        let none = ObservedState {
            frr: Some(ObservedFrr::default()),
            ..ObservedState::default()
        };
        assert!(matches!(frr_ops(&none, &want)[..], [Op::StartFrr(_)]));
        // Changed: stop (restorable) then start.
        let ops = frr_ops(&running("router bgp 2\n"), &want);
        assert!(
            matches!(&ops[..], [Op::StopFrr { restore: Some(r), .. }, Op::StartFrr(_)] if r.bgpd_conf == "router bgp 2\n")
        );
        // Unwanted: stop.
        let ops = frr_ops(&running("router bgp 1\n"), &DesiredState::default());
        assert!(matches!(&ops[..], [Op::StopFrr { .. }]));
        // Not observed, or a guest's scope: nothing.
        assert!(frr_ops(&ObservedState::default(), &want).is_empty());
        let guest = DesiredState {
            scope: crate::state::Scope::Owners(["web".to_string()].into()),
            ..DesiredState::default()
        };
        assert!(frr_ops(&running("x"), &guest).is_empty());
    }
}
