//! Planner and transaction tests against the in-memory kernel: golden plans, idempotence,
//! minimal diffs, ownership, and rollback at every step.

#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeKernel, Taps};
use hvnet_core::backend::Observe;
use hvnet_core::config::Config;
use hvnet_core::observed::ObservedKind;
use hvnet_core::plan::{plan, Plan, PlanError};
use hvnet_core::resolve::resolve;
use hvnet_core::state::BridgeOpts;
use hvnet_core::teardown::{brdelall, down_state};
use hvnet_core::txn;

const BASE: &str = r#"
[[network]]
name = "hostntw"
kind = "isolated"
bridge = "virbr2"
address = "192.168.110.1/24"
mtu = 1500

[[guest]]
name = "node-1"
[[guest.nic]]
network = "hostntw"
mac = "52:54:00:d7:8d:61"

[[guest]]
name = "node-2"
[[guest.nic]]
network = "hostntw"
ifname = "vnet7"
mac = "52:54:00:d7:8d:62"
"#;

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap()
}

fn plan_for(k: &mut FakeKernel, c: &Config) -> Plan {
    let obs = k.observe(&common::all()).unwrap();
    plan(&obs, &resolve(c, &obs, &Taps)).unwrap()
}

fn apply(k: &mut FakeKernel, c: &Config) -> Plan {
    let p = plan_for(k, c);
    txn::run(k, &p, None).unwrap();
    p
}

#[test]
fn golden_plan_from_scratch() {
    let mut k = FakeKernel::new();
    let p = plan_for(&mut k, &cfg(BASE));
    let expected = "\
1. create bridge virbr2 (hvnet:hostntw, mac 02:68:76:xx, mtu 1500, stp off, forward delay 0.00 s)
2. create tap vnet0 (hvnet:node-1, mac fe:54:00:d7:8d:61, mtu 1500, vnet_hdr on)
3. create tap vnet7 (hvnet:node-2, mac fe:54:00:d7:8d:62, mtu 1500, vnet_hdr on)
4. attach vnet0 to virbr2
5. attach vnet7 to virbr2
6. bring virbr2 up
7. bring vnet0 up
8. bring vnet7 up
9. add address 192.168.110.1/24 to virbr2
";
    let text = p.to_string();
    // The bridge MAC is derived; compare everything but its last three octets.
    let masked: String = text
        .lines()
        .map(|l| match l.find("mac 02:68:76:") {
            Some(i) => format!("{}mac 02:68:76:xx{}", &l[..i], &l[i + 21..]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_eq!(masked, expected);
    let cmds = p.commands();
    assert!(cmds[0].starts_with("ip link add name virbr2 address 02:68:76:"));
    assert!(cmds[0].ends_with("mtu 1500 type bridge stp_state 0 forward_delay 0 && ip link set dev virbr2 alias hvnet:hostntw"));
    assert_eq!(cmds[1], "ip tuntap add dev vnet0 mode tap vnet_hdr && ip link set dev vnet0 address fe:54:00:d7:8d:61 mtu 1500 alias hvnet:node-1");
    assert_eq!(cmds[3], "ip link set dev vnet0 master virbr2");
    assert_eq!(cmds[8], "ip addr add 192.168.110.1/24 brd + dev virbr2");
}

#[test]
fn reapply_is_empty() {
    let mut k = FakeKernel::new();
    let c = cfg(BASE);
    apply(&mut k, &c);
    assert!(plan_for(&mut k, &c).is_empty());
}

#[test]
fn unnamed_nic_keeps_its_name_even_when_a_lower_one_frees_up() {
    let mut k = FakeKernel::new();
    let two = format!("{BASE}\n[[guest]]\nname = \"node-3\"\n[[guest.nic]]\nnetwork = \"hostntw\"\nmac = \"52:54:00:d7:8d:63\"\n");
    apply(&mut k, &cfg(&two));
    assert!(k.state.link("vnet1").is_some(), "node-3 got vnet1");
    // node-1 (vnet0) goes away; node-3 must stay on vnet1, not move to vnet0.
    let without_node1 = two.replace(
        "name = \"node-1\"\n[[guest.nic]]\nnetwork = \"hostntw\"\nmac = \"52:54:00:d7:8d:61\"",
        "name = \"node-1\"",
    );
    let p = plan_for(&mut k, &cfg(&without_node1));
    assert_eq!(p.to_string(), "1. delete vnet0\n");
}

#[test]
fn changed_config_touches_only_the_difference() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(BASE));
    let changed = BASE.replace("mtu = 1500", "mtu = 9000").replace(
        "address = \"192.168.110.1/24\"",
        "address = \"192.168.111.1/24\"",
    );
    let p = plan_for(&mut k, &cfg(&changed));
    assert_eq!(
        p.to_string(),
        "1. set mtu of virbr2 to 9000 (was 1500)\n2. set mtu of vnet0 to 9000 (was 1500)\n3. set mtu of vnet7 to 9000 (was 1500)\n\
         4. remove address 192.168.110.1/24 from virbr2\n5. add address 192.168.111.1/24 to virbr2\n"
    );
}

#[test]
fn bridge_options_change_in_place() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(BASE));
    let changed = BASE.replace("mtu = 1500", "mtu = 1500\nstp = true\nforward_delay = 4");
    let p = plan_for(&mut k, &cfg(&changed));
    assert_eq!(
        p.to_string(),
        "1. set bridge virbr2 stp on, forward delay 4.00 s\n"
    );
    txn::run(&mut k, &p, None).unwrap();
    assert_eq!(
        k.state.link("virbr2").unwrap().kind,
        ObservedKind::Bridge(BridgeOpts {
            stp: true,
            forward_delay_cs: 400
        })
    );
}

#[test]
fn a_guest_removed_from_the_config_loses_its_links() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(BASE));
    let fewer = BASE
        .split("[[guest]]\nname = \"node-2\"")
        .next()
        .unwrap()
        .to_string();
    let p = plan_for(&mut k, &cfg(&fewer));
    assert_eq!(p.to_string(), "1. delete vnet7\n");
}

#[test]
fn refuses_to_touch_a_foreign_link() {
    let mut k = FakeKernel::new();
    k.add_link(
        "virbr2",
        ObservedKind::Bridge(BridgeOpts {
            stp: false,
            forward_delay_cs: 0,
        }),
        None,
    );
    let obs = k.observe(&common::all()).unwrap();
    let err = plan(&obs, &resolve(&cfg(BASE), &obs, &Taps)).unwrap_err();
    assert!(
        matches!(err, PlanError::NotOwned { ref name, .. } if name == "virbr2"),
        "{err}"
    );
}

#[test]
fn generated_names_skip_existing_foreign_links() {
    let mut k = FakeKernel::new();
    k.add_link("vnet0", ObservedKind::Tap(Default::default()), None);
    apply(&mut k, &cfg(BASE));
    let node1 = k
        .state
        .links
        .iter()
        .find(|l| l.alias.as_deref() == Some("hvnet:node-1"))
        .unwrap();
    assert_eq!(node1.name, "vnet1");
    assert_eq!(
        k.state.link("vnet0").unwrap().alias,
        None,
        "the foreign vnet0 is untouched"
    );
}

#[test]
fn uplink_is_attached_and_detached_but_never_owned() {
    let text = "[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"vmbridge\"\nuplink = \"eth0\"\n";
    let mut k = FakeKernel::new();
    let p = apply(&mut k, &cfg(text));
    assert!(p.to_string().contains("attach eth0 to vmbridge"), "{p}");
    let eth0 = k.state.link("eth0").unwrap().clone();
    assert_eq!(eth0.alias, None);
    let obs = k.observe(&common::all()).unwrap();
    let down = plan(&obs, &down_state(&cfg(text), &obs)).unwrap();
    assert_eq!(
        down.to_string(),
        "1. detach eth0 from vmbridge\n2. delete vmbridge\n"
    );
    txn::run(&mut k, &down, None).unwrap();
    assert!(k.state.link("eth0").is_some());
}

#[test]
fn missing_uplink_is_an_error() {
    let text = "[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"vmbridge\"\nuplink = \"enp9s0\"\n";
    let mut k = FakeKernel::new();
    let obs = k.observe(&common::all()).unwrap();
    assert_eq!(
        plan(&obs, &resolve(&cfg(text), &obs, &Taps)).unwrap_err(),
        PlanError::MissingUplink {
            name: "enp9s0".into()
        }
    );
}

#[test]
fn dynamic_bridge_exists_only_with_guests() {
    let text = "[[network]]\nname = \"vnet\"\nkind = \"isolated\"\nbridge = \"vmvnetbridge\"\nlifetime = \"dynamic\"\naddress = \"192.168.157.1/24\"\n";
    let mut k = FakeKernel::new();
    assert!(apply(&mut k, &cfg(text)).is_empty());
    let with_guest =
        format!("{text}[[guest]]\nname = \"rtos\"\n[[guest.nic]]\nnetwork = \"vnet\"\n");
    apply(&mut k, &cfg(&with_guest));
    assert!(k.state.link("vmvnetbridge").is_some());
    let p = apply(&mut k, &cfg(text));
    assert_eq!(p.to_string(), "1. delete vnet0\n2. delete vmvnetbridge\n");
}

#[test]
fn down_removes_only_the_configs_objects() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(BASE));
    k.add_link(
        "userbr",
        ObservedKind::Bridge(BridgeOpts {
            stp: false,
            forward_delay_cs: 0,
        }),
        None,
    );
    k.add_link(
        "otherbr",
        ObservedKind::Bridge(BridgeOpts {
            stp: false,
            forward_delay_cs: 0,
        }),
        Some("hvnet:elsewhere"),
    );
    let obs = k.observe(&common::all()).unwrap();
    let p = plan(&obs, &down_state(&cfg(BASE), &obs)).unwrap();
    txn::run(&mut k, &p, None).unwrap();
    let names: Vec<&str> = k.state.links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "eth0", "userbr", "otherbr"]);
}

#[test]
fn brdelall_refuses_busy_bridges_unless_forced() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(BASE));
    let obs = k.observe(&common::all()).unwrap();
    let busy = brdelall(&obs, false).unwrap_err();
    assert_eq!(busy[0].bridge, "virbr2");
    assert_eq!(busy[0].ports, ["vnet0", "vnet7"]);
    let p = brdelall(&obs, true).unwrap();
    assert_eq!(p.to_string(), "1. delete virbr2\n");
}

#[test]
fn rollback_at_every_step_restores_the_state() {
    let big = {
        let mut t = String::from("[[network]]\nname = \"a\"\nkind = \"isolated\"\nbridge = \"br-a\"\naddress = \"10.1.0.1/24\"\n");
        t.push_str("[[network]]\nname = \"b\"\nkind = \"internal\"\nbridge = \"br-b\"\n");
        for i in 0..6 {
            t.push_str(&format!(
                "[[guest]]\nname = \"g{i}\"\n[[guest.nic]]\nnetwork = \"{}\"\n",
                if i % 2 == 0 { "a" } else { "b" }
            ));
        }
        t
    };
    let c = cfg(&big);
    let mut k = FakeKernel::new();
    // Something to change too, not only create: an owned tap with a wrong MTU.
    k.add_link(
        "vnet9",
        ObservedKind::Tap(Default::default()),
        Some("hvnet:g9"),
    );
    let n = plan_for(&mut k, &c).len();
    assert!(n >= 20, "plan has {n} ops");
    for fault in 1..=n {
        let mut k2 = FakeKernel::new();
        k2.add_link(
            "vnet9",
            ObservedKind::Tap(Default::default()),
            Some("hvnet:g9"),
        );
        let before = k2.state.clone();
        let p = plan_for(&mut k2, &c);
        let err = txn::run(&mut k2, &p, Some(fault)).unwrap_err();
        assert_eq!(err.step, fault);
        let mut after = k2.state.clone();
        let mut expect = before.clone();
        // Recreated links get new indexes in a real kernel too; compare by content.
        for s in [&mut after, &mut expect] {
            for l in &mut s.links {
                l.ifindex = 0;
            }
            s.links.sort_by(|a, b| a.name.cmp(&b.name));
        }
        assert_eq!(after, expect, "fault at {fault}: {err}");
    }
}

#[test]
fn executor_failure_rolls_back_and_names_the_op() {
    let mut k = FakeKernel::new();
    let c = cfg(BASE);
    let p = plan_for(&mut k, &c);
    k.fail_at_count = Some(4);
    let err = txn::run(&mut k, &p, None).unwrap_err();
    assert_eq!(err.step, 5);
    assert!(
        err.to_string()
            .starts_with("op 5 (attach vnet7 to virbr2) failed: injected; rolled back"),
        "{err}"
    );
    let names: Vec<&str> = k.state.links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "eth0"]);
}

#[test]
fn a_tap_whose_vnet_hdr_was_switched_by_its_user_is_kept() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(BASE));
    let i = k
        .state
        .links
        .iter()
        .position(|l| l.name == "vnet0")
        .unwrap();
    k.state.links[i].kind = ObservedKind::Tap(hvnet_core::state::TapOpts {
        vnet_hdr: false,
        ..Default::default()
    });
    assert!(plan_for(&mut k, &cfg(BASE)).is_empty());
}

const RATED: &str = r#"
[[network]]
name = "rl"
kind = "internal"
bridge = "rlbr0"

[[guest]]
name = "g1"
[[guest.nic]]
network = "rl"
ifname = "vnet0"
rate = { egress = "10mbit", ingress = "100mbit" }
"#;

#[test]
fn rate_limits_plan_a_tbf_and_an_ifb_redirect() {
    let mut k = FakeKernel::new();
    let p = apply(&mut k, &cfg(RATED));
    let text = p.to_string();
    let ifb = hvnet_core::resolve::ifb_name(&"vnet0".parse().unwrap());
    assert!(
        text.contains(&format!("create ifb {ifb} (hvnet:g1)")),
        "{text}"
    );
    assert!(
        text.contains("limit vnet0 egress to rate 100mbit burst 63488b limit 688488b"),
        "{text}"
    );
    assert!(
        text.contains(&format!("redirect what vnet0 receives to {ifb}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "limit {ifb} egress to rate 10mbit burst 16384b limit 78884b"
        )),
        "{text}"
    );
    assert!(
        plan_for(&mut k, &cfg(RATED)).is_empty(),
        "re-apply is a no-op"
    );
}

#[test]
fn retuning_a_rate_replaces_only_the_tbf() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(RATED));
    let p = plan_for(
        &mut k,
        &cfg(&RATED.replace("ingress = \"100mbit\"", "ingress = \"1gbit\"")),
    );
    assert_eq!(p.len(), 1, "{p}");
    assert!(
        p.to_string()
            .starts_with("1. limit vnet0 egress to rate 1gbit"),
        "{p}"
    );
}

#[test]
fn dropping_the_limits_removes_tbf_redirect_and_ifb() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(RATED));
    let unlimited = RATED.replace(
        "rate = { egress = \"10mbit\", ingress = \"100mbit\" }\n",
        "",
    );
    let p = apply(&mut k, &cfg(&unlimited));
    let ifb = hvnet_core::resolve::ifb_name(&"vnet0".parse().unwrap());
    assert_eq!(
        p.to_string(),
        format!("1. remove the egress limit of vnet0\n2. stop redirecting what vnet0 receives to {ifb}\n3. delete {ifb}\n")
    );
    assert!(k.state.qdiscs.is_empty() && k.state.redirects.is_empty());
}

#[test]
fn a_foreign_root_qdisc_is_never_replaced() {
    let mut k = FakeKernel::new();
    apply(
        &mut k,
        &cfg(&RATED.replace(
            "rate = { egress = \"10mbit\", ingress = \"100mbit\" }\n",
            "",
        )),
    );
    let ifindex = k.state.link("vnet0").unwrap().ifindex;
    k.state.qdiscs.push(hvnet_core::observed::ObservedQdisc {
        ifindex,
        handle: 0x1_0000,
        root: true,
        kind: hvnet_core::observed::QdiscKind::Other("htb".into()),
    });
    let obs = k.observe(&common::all()).unwrap();
    let err = plan(&obs, &resolve(&cfg(RATED), &obs, &Taps)).unwrap_err();
    assert!(
        err.to_string()
            .contains("vnet0 has a root qdisc hvnet did not create (htb)"),
        "{err}"
    );
}

#[test]
fn rollback_restores_rate_limits() {
    let mut k = FakeKernel::new();
    apply(&mut k, &cfg(RATED));
    let changed = RATED
        .replace("ingress = \"100mbit\"", "ingress = \"1gbit\"")
        .replace("egress = \"10mbit\", ", "");
    let n = plan_for(&mut k, &cfg(&changed)).len();
    for fault in 1..=n {
        let before = k.state.clone();
        let p = plan_for(&mut k, &cfg(&changed));
        txn::run(&mut k, &p, Some(fault)).unwrap_err();
        let mut after = k.state.clone();
        let mut expect = before;
        for s in [&mut after, &mut expect] {
            let names: std::collections::HashMap<u32, String> = s
                .links
                .iter()
                .map(|l| (l.ifindex, l.name.clone()))
                .collect();
            for q in &mut s.qdiscs {
                q.ifindex = names.get(&q.ifindex).map_or(0, |n| {
                    n.len() as u32 * 1000 + n.bytes().map(u32::from).sum::<u32>()
                });
            }
            for r in &mut s.redirects {
                r.ifindex = 0;
                r.target = names.get(&r.target).map_or(0, |n| n.len() as u32);
            }
            for l in &mut s.links {
                l.ifindex = 0;
            }
            s.links.sort_by(|a, b| a.name.cmp(&b.name));
            s.qdiscs.sort_by_key(|q| (q.ifindex, q.root));
        }
        assert_eq!(after, expect, "fault at {fault}");
    }
}

#[test]
fn a_network_rate_limits_the_bridge() {
    let text = RATED.replace(
        "bridge = \"rlbr0\"\n",
        "bridge = \"rlbr0\"\nrate = { egress = \"1gbit\", ingress = \"500mbit\" }\n",
    );
    let mut k = FakeKernel::new();
    let p = apply(&mut k, &cfg(&text));
    let ifb = hvnet_core::resolve::ifb_name(&"rlbr0".parse().unwrap());
    let t = p.to_string();
    assert!(t.contains(&format!("create ifb {ifb} (hvnet:rl)")), "{t}");
    assert!(t.contains("limit rlbr0 egress to rate 500mbit"), "{t}");
    assert!(
        t.contains(&format!("redirect what rlbr0 receives to {ifb}")),
        "{t}"
    );
    assert!(
        t.contains(&format!("limit {ifb} egress to rate 1gbit")),
        "{t}"
    );
    assert!(plan_for(&mut k, &cfg(&text)).is_empty());
}
