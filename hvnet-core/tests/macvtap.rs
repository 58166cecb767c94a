//! Direct (macvtap) networks through the engine on the in-memory host: apply, a second
//! apply that changes nothing, a node owner that drifted, a mode change (the macvtaps are
//! made again), a failure at every op rolled back, and down.

#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeKernel, Taps};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, Intent, Scope};
use hvnet_core::macvtap::{MacvtapMode, ObservedMacvtap, TapNode};
use hvnet_core::observed::ObservedKind;
use hvnet_core::op::Op;

fn config(mode: &str) -> Config {
    Config::parse(
        &format!(
            "[[network]]\nname='lan'\nkind='direct'\nuplinks=['eth0','eth1']\nmode='{mode}'\n\
             [[guest]]\nname='a'\n[[guest.nic]]\nnetwork='lan'\nmac='52:54:00:00:00:0a'\nowner=107\ngroup=36\n\
             [[guest]]\nname='b'\n[[guest.nic]]\nnetwork='lan'\nmac='52:54:00:00:00:0b'\nrate={{ egress = '10mbit' }}\n"
        ),
        "direct.toml",
    )
    .unwrap()
}

fn host() -> FakeKernel {
    let mut k = FakeKernel::new();
    if k.state.link("eth1").is_none() {
        k.add_link("eth1", ObservedKind::Other(String::new()), None);
    }
    k
}

fn macvtap(k: &FakeKernel, name: &str) -> ObservedMacvtap {
    match &k
        .state
        .link(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .kind
    {
        ObservedKind::Macvtap(m) => m.clone(),
        other => panic!("{name} is {other:?}"),
    }
}

fn engine(k: FakeKernel) -> Engine<FakeKernel> {
    Engine::new(k, Taps).with_source("direct.toml")
}

#[test]
fn direct_network_lifecycle() {
    let bridge = config("bridge");
    let mut e = engine(host());
    e.run(&bridge, &Scope::Config, Intent::Up).unwrap();
    let k = e.into_host();
    // Round-robin over the pool; the guest's own MAC; /dev/tapN owned as configured.
    let a = macvtap(&k, "macvtap0");
    assert_eq!(
        (a.lower.as_deref(), a.mode),
        (Some("eth0"), Some(MacvtapMode::Bridge))
    );
    assert_eq!(a.node, Some(TapNode { uid: 107, gid: 36 }));
    let b = macvtap(&k, "macvtap1");
    assert_eq!(b.lower.as_deref(), Some("eth1"));
    assert_eq!(
        k.state.link("macvtap0").unwrap().mac.unwrap().to_string(),
        "52:54:00:00:00:0a"
    );
    // Guest b's egress is the macvtap's own root tbf (what the guest writes leaves by it).
    let b_index = k.state.link("macvtap1").unwrap().ifindex;
    assert!(k.state.qdisc(b_index, true).is_some(), "no tbf on macvtap1");

    // In sync: nothing to do.
    let mut e = engine(k);
    assert!(e.check(&bridge).unwrap().plan.is_empty());
    let mut k = e.into_host();

    // The node's owner drifted (or the node went): one op puts it back, the link stays.
    let i = k
        .state
        .links
        .iter()
        .position(|l| l.name == "macvtap0")
        .unwrap();
    if let ObservedKind::Macvtap(m) = &mut k.state.links[i].kind {
        m.node = None;
    }
    let mut e = engine(k);
    let plan = e.check(&bridge).unwrap().plan;
    assert_eq!(plan.ops.len(), 1, "{plan}");
    assert!(
        matches!(&plan.ops[0], Op::SetTapNode { node, old: None, .. } if *node == TapNode { uid: 107, gid: 36 })
    );
    e.run(&bridge, &Scope::Config, Intent::Up).unwrap();
    assert!(e.check(&bridge).unwrap().plan.is_empty());

    // A new mode makes the macvtaps again.
    let private = config("private");
    let plan = e.check(&private).unwrap().plan;
    assert!(
        plan.ops
            .iter()
            .any(|o| matches!(o, Op::DeleteLink { name, .. } if name.as_str() == "macvtap0")),
        "{plan}"
    );
    assert!(
        plan.ops.iter().any(
            |o| matches!(o, Op::CreateMacvtap { opts, .. } if opts.mode == MacvtapMode::Private)
        ),
        "{plan}"
    );
    e.run(&private, &Scope::Config, Intent::Up).unwrap();
    let k = e.into_host();
    assert_eq!(macvtap(&k, "macvtap0").mode, Some(MacvtapMode::Private));

    // Down removes them; the uplinks stay.
    let mut e = engine(k);
    e.run(&private, &Scope::Config, Intent::Down).unwrap();
    let k = e.into_host();
    assert!(k.state.link("macvtap0").is_none() && k.state.link("macvtap1").is_none());
    assert!(k.state.link("eth0").is_some() && k.state.link("eth1").is_some());
}

#[test]
fn a_failure_at_any_op_leaves_the_host_as_it_was() {
    let bridge = config("bridge");
    let mut e = engine(host());
    let n = e
        .plan(&bridge, &Scope::Config, Intent::Up)
        .unwrap()
        .plan
        .ops
        .len();
    assert!(n >= 4, "{n} ops");
    for at in 0..n {
        let before = host();
        let mut k = host();
        k.fail_at_count = Some(at);
        let mut e = engine(k);
        assert!(
            e.run(&bridge, &Scope::Config, Intent::Up).is_err(),
            "op {at} did not fail"
        );
        let k = e.into_host();
        let names = |k: &FakeKernel| {
            let mut v: Vec<String> = k.state.links.iter().map(|l| l.name.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&k), names(&before), "after a failure at op {at}");
    }
}
