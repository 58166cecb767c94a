//! Verbs about one guest read only their scope (`hvnet_core::scoped`): on the in-memory
//! host, a `guest up` beside other guests' and foreign links observes the guest's own
//! links and the networks' links, never the others, and plans exactly what a whole-host
//! observation would have planned.

#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeKernel, Taps};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, Intent, Scope};
use hvnet_core::observed::ObservedKind;
use hvnet_core::op::Op;
use hvnet_core::resolve::resolve;

const CFG: &str = r#"
[[network]]
name = "a"
kind = "internal"
bridge = "br-a"
[[network]]
name = "b"
kind = "isolated"
bridge = "br-b"
address = "10.9.0.1/24"
[[network]]
name = "d"
kind = "internal"
bridge = "br-d"
lifetime = "dynamic"

[[guest]]
name = "g0"
[[guest.nic]]
network = "a"
[[guest.nic]]
network = "b"
[[guest]]
name = "g1"
[[guest.nic]]
network = "a"
[[guest]]
name = "g2"
[[guest.nic]]
network = "b"
[[guest.nic]]
network = "d"
"#;

fn cfg() -> Config {
    Config::parse(CFG, "scoped.toml").unwrap()
}

fn run(k: FakeKernel, c: &Config, scope: &Scope, intent: Intent) -> FakeKernel {
    let mut e = Engine::new(k, Taps);
    e.run(c, scope, intent).unwrap_or_else(|e| panic!("{e}"));
    e.into_host()
}

/// The networks and g0 up, g1 and g2 down; foreign links (untagged taps) around them, one
/// of which holds the name the hints give next.
fn host() -> FakeKernel {
    let c = cfg();
    let mut k = FakeKernel::new();
    for name in ["eth1", "tap-other", "vnet9"] {
        k.add_link(name, ObservedKind::Tap(Default::default()), None);
    }
    let k = run(k, &c, &Scope::Config, Intent::Up);
    let k = run(k, &c, &Scope::Guest("g1".into()), Intent::Down);
    let mut k = run(k, &c, &Scope::Guest("g2".into()), Intent::Down);
    // The hints point at a name a foreign link holds.
    k.state.name_hints.insert("vnet".into(), 9);
    k
}

fn names(o: &hvnet_core::observed::ObservedState) -> Vec<String> {
    let mut n: Vec<String> = o.links.iter().map(|l| l.name.clone()).collect();
    n.sort();
    n
}

#[test]
fn a_guest_scope_observes_only_its_links_and_the_networks() {
    let c = cfg();
    let mut e = Engine::new(host(), Taps);
    let seen = e.observe(&c, &Scope::Guest("g0".into())).unwrap();
    // g0's two taps (found by owner), the bridges; not eth1, tap-other, lo, eth0; vnet9 is
    // not asked about either: g0's links exist, so no name is generated.
    let g0: Vec<String> = e
        .host()
        .state
        .links
        .iter()
        .filter(|l| l.owner().is_some_and(|o| o.name() == "g0"))
        .map(|l| l.name.clone())
        .collect();
    assert_eq!(g0.len(), 2, "{g0:?}");
    let mut want: Vec<String> = ["br-a", "br-b"].map(String::from).to_vec();
    want.extend(g0);
    want.sort();
    assert_eq!(names(&seen), want);
    assert!(e.host().scoped_reads >= 1);
    // Only the scope's addresses.
    let br_b = seen.link("br-b").unwrap().ifindex;
    assert!(
        seen.addrs.iter().all(|a| a.ifindex == br_b),
        "{:?}",
        seen.addrs
    );
}

#[test]
fn a_generated_name_a_foreign_link_holds_is_skipped() {
    let c = cfg();
    let mut e = Engine::new(host(), Taps);
    let seen = e.observe(&c, &Scope::Guest("g1".into())).unwrap();
    // Asked about vnet9 (the hint), found it foreign, asked about the next.
    assert!(seen.link("vnet9").is_some());
    assert!(seen.link("tap-other").is_none() && seen.link("eth1").is_none());
    let planned = e
        .plan_from(&c, &Scope::Guest("g1".into()), Intent::Up, seen)
        .unwrap();
    let created: Vec<&str> = planned
        .plan
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::CreateTap { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(created, ["vnet10"]);
}

/// Every guest verb plans from the scoped observation what it would have planned from the
/// whole host, given the same names.
#[test]
fn scoped_plans_equal_whole_host_plans() {
    let c = cfg();
    let start = host();
    for (guest, intent) in [
        ("g0", Intent::Up),
        ("g0", Intent::Down),
        ("g1", Intent::Up),
        ("g2", Intent::Up),
        ("g2", Intent::Down),
    ] {
        let scope = Scope::Guest(guest.into());
        let mut e = Engine::new(start.clone(), Taps);
        let scoped = e.plan(&c, &scope, intent).unwrap();
        // The query guest verbs had before they were scoped: every link, the services.
        let mut before = e.query(&c, &scope);
        before.links = None;
        before.services = true;
        before.netns = true;
        let whole = e.observe_query(&before).unwrap();
        let full = e.plan_from(&c, &scope, intent, whole).unwrap();
        assert_eq!(
            scoped.plan.ops, full.plan.ops,
            "{guest} {intent:?}: scoped\n{}\nwhole host\n{}",
            scoped.plan, full.plan
        );
    }
    // And g2 down with g2 up takes the dynamic bridge along (its ports were read).
    let up = run(start, &c, &Scope::Guest("g2".into()), Intent::Up);
    let mut e = Engine::new(up, Taps);
    let down = e
        .plan(&c, &Scope::Guest("g2".into()), Intent::Down)
        .unwrap();
    assert!(
        down.plan
            .ops
            .iter()
            .any(|op| matches!(op, Op::DeleteLink { name, .. } if name.as_str() == "br-d")),
        "{}",
        down.plan
    );
}

/// A NIC whose fixed name an untagged link holds is refused, as with a whole-host read.
#[test]
fn an_untagged_name_clash_is_still_refused() {
    let text = format!(
        "{CFG}[[guest]]\nname = \"g3\"\n[[guest.nic]]\nnetwork = \"a\"\nifname = \"tap-other\"\n"
    );
    let c = Config::parse(&text, "scoped.toml").unwrap();
    let mut e = Engine::new(host(), Taps);
    let err = e
        .plan(&c, &Scope::Guest("g3".into()), Intent::Up)
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Input(m) if m.contains("tap-other")),
        "{err}"
    );
    // The whole config resolves the same name.
    let want = resolve(&c, &e.observe(&c, &Scope::Config).unwrap(), &Taps);
    assert!(want.links.iter().any(|l| l.name.as_str() == "tap-other"));
}
