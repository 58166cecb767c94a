//! EVPN overlays through the engine on the in-memory host: the VXLAN device without
//! learning (device and bridge port), no static flood entries, hvnet's FRR started in the
//! same transaction and restarted when its configuration changes, left alone by a guest's
//! scope, stopped by `down`; FRR missing is refused with nothing changed.

#![allow(clippy::unwrap_used)]

use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, Intent, Scope};
use hvnet_core::evpn::ObservedFrr;
use hvnet_core::memhost::MemHost;
use hvnet_core::observed::{ObservedAddr, ObservedKind};
use hvnet_core::op::Op;
use hvnet_kvm::KvmBackend;

fn cfg(asn: u32) -> Config {
    let text = format!(
        "[overlay.evpn]\nasn = {asn}\nroute_reflectors = ['rr']\n\
         [[overlay.host]]\nname = 'rr'\naddress = '172.16.0.254'\n\
         [[overlay.host]]\nname = 'hv1'\naddress = '172.16.0.1'\n\
         [[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
         [network.overlay]\nvni = 88\ncontrol = 'evpn'\n\
         [[guest]]\nname = 'g1'\n[[guest.nic]]\nnetwork = 'ov'\n"
    );
    Config::parse(&text, "evpn.toml")
        .unwrap()
        .for_host("hv1")
        .unwrap()
}

fn host() -> MemHost {
    let mut h = MemHost::new();
    let eth0 = h.state.link("eth0").unwrap().ifindex;
    h.state.addrs.push(ObservedAddr {
        ifindex: eth0,
        cidr: "172.16.0.1/24".parse().unwrap(),
    });
    h
}

#[test]
fn apply_starts_frr_and_down_stops_it() {
    let c = cfg(65000);
    let mut e = Engine::new(host(), KvmBackend);
    let planned = e.plan(&c, &Scope::Config, Intent::Up).unwrap();
    let ops = &planned.plan.ops;
    assert!(
        !ops.iter().any(|o| matches!(o, Op::AddFdb(_))),
        "{}",
        planned.plan
    );
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::SetPortLearning { on: false, .. })));
    let Some(Op::StartFrr(svc)) = ops.iter().find(|o| matches!(o, Op::StartFrr(_))) else {
        panic!("no FRR start:\n{}", planned.plan);
    };
    assert!(svc
        .bgpd_conf
        .contains("  neighbor 172.16.0.254 activate\n  advertise-all-vni\n"));
    assert_eq!(
        svc.devices.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        ["vxlan88"]
    );
    e.apply(&planned).unwrap();
    let s = &e.host().state;
    let vx = s.link("vxlan88").unwrap();
    assert!(matches!(&vx.kind, ObservedKind::Vxlan(v) if !v.learning));
    assert!(s.port_learning_off.contains(&vx.ifindex));
    assert!(s.frr.as_ref().is_some_and(|f| f.bgpd_pid.is_some()));
    assert!(e.check(&c).unwrap().plan.is_empty());

    // A guest's scope leaves FRR alone.
    let g = e
        .plan(&c, &Scope::Guest("g1".into()), Intent::Down)
        .unwrap();
    assert!(!g
        .plan
        .ops
        .iter()
        .any(|o| matches!(o, Op::StopFrr { .. } | Op::StartFrr(_))));

    // Another ASN: a restart (stop restorable, then start).
    let c2 = cfg(65001);
    let p2 = e.plan(&c2, &Scope::Config, Intent::Up).unwrap();
    assert!(
        matches!(
            &p2.plan.ops[..],
            [
                Op::StopFrr {
                    restore: Some(_),
                    ..
                },
                Op::StartFrr(_)
            ]
        ),
        "{}",
        p2.plan
    );
    e.apply(&p2).unwrap();

    // Down: FRR stopped, the device gone.
    let down = e.plan(&c2, &Scope::Config, Intent::Down).unwrap();
    assert!(down
        .plan
        .ops
        .iter()
        .any(|o| matches!(o, Op::StopFrr { .. })));
    e.apply(&down).unwrap();
    let s = &e.host().state;
    assert!(s.link("vxlan88").is_none());
    assert!(s.frr.as_ref().is_some_and(|f| !f.exists()));
}

#[test]
fn frr_missing_is_refused_and_changes_nothing() {
    let mut h = host();
    h.state.frr = Some(ObservedFrr::default());
    let before = h.state.clone();
    let mut e = Engine::new(h, KvmBackend);
    match e.plan(&cfg(65000), &Scope::Config, Intent::Up) {
        Err(EngineError::Refused(m)) => assert!(m.contains("apt-get install frr"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.host().state, before);
}
