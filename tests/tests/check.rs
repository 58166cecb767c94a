//! `hvnet check`: in sync after apply (exit 0); drift made behind hvnet's back with `ip`
//! and `tc` is listed, link by link (exit 1); `apply` repairs it and `check` passes again.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "ckbr0"
address = "10.31.0.1/24"
mtu = 1400

[[guest]]
name = "vm1"
[[guest.nic]]
network = "lan"
ifname = "ck-tap1"
rate = "50mbit"

[[guest]]
name = "vm2"
[[guest.nic]]
network = "lan"
ifname = "ck-tap2"
"#;

#[test]
fn check_lists_drift_and_apply_repairs_it() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("check");
    let dir = TempDir::new();
    let cfg = dir.write("check.toml", CONFIG);
    let hv = Hv::new(&ns, &dir);
    hv.apply(&cfg);

    let clean = hv.run(&cfg, &["check"]);
    clean.ok();
    assert!(clean.stdout.starts_with("in sync with"), "{clean}");

    // Drift behind hvnet's back: an MTU, a deleted tap, a removed address, a removed tbf.
    ns.ip(&["link", "set", "dev", "ck-tap2", "mtu", "1500"]);
    ns.ip(&["link", "del", "dev", "ck-tap2"]);
    ns.ip(&["addr", "flush", "dev", "ckbr0"]);
    ns.exec("tc", &["qdisc", "del", "dev", "ck-tap1", "root"]);
    // The bridge's carrier and operstate follow the deleted port on the kernel's schedule.
    let before = settled_snapshot(ns.name());

    let drift = hv.run(&cfg, &["check"]);
    drift.expect_code(1);
    for want in [
        "create tap ck-tap2",
        "add address 10.31.0.1/24 to ckbr0",
        "limit ck-tap1 egress to rate 50mbit",
    ] {
        assert!(drift.stdout.contains(want), "missing {want:?}:\n{drift}");
    }
    assert!(
        drift
            .stderr
            .contains("difference(s) between the host and the config"),
        "{drift}"
    );
    let json = hv.run(&cfg, &["check", "--json"]);
    json.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["in_sync"], false);
    assert!(doc["differences"].as_array().unwrap().len() >= 5, "{json}");
    assert!(snapshot(ns.name()) == before, "check changed nothing");

    hv.apply(&cfg);
    hv.run(&cfg, &["check"]).ok();
    assert_eq!(ipv4(ns.name(), "ckbr0"), ["10.31.0.1/24"]);
}
