//! Transactional apply: `HVNET_FAULT_AT=k` makes op k of the plan fail; hvnet must exit 1
//! naming op k and leave the kernel exactly as it was, for every k — from scratch, and with
//! part of the config already applied (a plan mixing creates, changes and deletions). Also a
//! real (not injected) failure half-way.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use hvnet_tests::*;

/// 2 bridges (create + up) + 1 address + 6 guest links (create + attach + up) + the firewall
/// of the addressed isolated network = 24 ops.
const FULL: &str = r#"
[[network]]
name = "neta"
kind = "isolated"
bridge = "rbr0"
address = "10.88.0.1/24"
mtu = 1500

[[network]]
name = "netb"
kind = "internal"
bridge = "rbr1"
stp = true
forward_delay = 2

[[guest]]
name = "t1"
[[guest.nic]]
network = "neta"

[[guest]]
name = "t2"
[[guest.nic]]
network = "neta"
queues = 2

[[guest]]
name = "t3"
[[guest.nic]]
network = "netb"
vnet_hdr = false

[[guest]]
name = "t4"
[[guest.nic]]
network = "netb"
ifname = "tap-t4"
mac = "52:54:00:44:44:44"

[[guest]]
name = "v1"
[[guest.nic]]
network = "neta"
type = "veth"
netns = "@G1@"

[[guest]]
name = "v2"
[[guest.nic]]
network = "netb"
type = "veth"
netns = "@G2@"
mac = "52:54:00:22:22:22"
"#;

/// From FULL: MTU of neta 1500 -> 1480 (bridge + 3 ports), STP off on netb, address
/// changed, guests t5 (tap) and v3 (veth) added, guest t4 removed (the only deletion, so
/// that no op before the last one deletes anything).
const MIXED: &str = r#"
[[network]]
name = "neta"
kind = "isolated"
bridge = "rbr0"
address = "10.88.0.2/24"
mtu = 1480

[[network]]
name = "netb"
kind = "internal"
bridge = "rbr1"

[[guest]]
name = "t1"
[[guest.nic]]
network = "neta"

[[guest]]
name = "t2"
[[guest.nic]]
network = "neta"
queues = 2

[[guest]]
name = "t3"
[[guest.nic]]
network = "netb"
vnet_hdr = false

[[guest]]
name = "v1"
[[guest.nic]]
network = "neta"
type = "veth"
netns = "@G1@"

[[guest]]
name = "v2"
[[guest.nic]]
network = "netb"
type = "veth"
netns = "@G2@"
mac = "52:54:00:22:22:22"

[[guest]]
name = "t5"
[[guest.nic]]
network = "neta"
mac = "52:54:00:55:55:55"

[[guest]]
name = "v3"
[[guest.nic]]
network = "neta"
type = "veth"
netns = "@G3@"
"#;

/// MIXED without guest t3 as well: two taps (t3's and t4's) are deleted, so that with the
/// fault on the last op one tap has really been deleted and must be recreated by the
/// rollback (with a new interface index).
fn two_deletions() -> String {
    let cut = "[[guest]]\nname = \"t3\"\n[[guest.nic]]\nnetwork = \"netb\"\nvnet_hdr = false\n";
    assert!(MIXED.contains(cut));
    MIXED.replace(cut, "")
}

struct World {
    host: Netns,
    guests: Vec<Netns>,
    dir: TempDir,
    hv: Hv,
}

impl World {
    fn new(tag: &str) -> World {
        let host = Netns::new(tag);
        let guests: Vec<Netns> = (1..=3)
            .map(|i| Netns::new(&format!("{tag}-g{i}")))
            .collect();
        let dir = TempDir::new();
        let hv = Hv::new(&host, &dir);
        World {
            host,
            guests,
            dir,
            hv,
        }
    }

    fn config(&self, name: &str, text: &str) -> std::path::PathBuf {
        let mut t = text.to_string();
        for (i, g) in self.guests.iter().enumerate() {
            t = t.replace(&format!("@G{}@", i + 1), g.name());
        }
        self.dir.write(name, &t)
    }

    fn namespaces(&self) -> Vec<&str> {
        std::iter::once(self.host.name())
            .chain(self.guests.iter().map(Netns::name))
            .collect()
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.namespaces()
            .into_iter()
            .map(settled_snapshot)
            .collect()
    }

    /// Runs `HVNET_FAULT_AT=k apply` for every k of `cfg`'s plan and checks that each
    /// exits 1 naming op k and restores `before`. `loose_from` (1-based): from that k on,
    /// interface indexes may differ (a deleted link was recreated).
    fn fault_every_op(&self, cfg: &std::path::Path, min_ops: usize, loose_from: Option<usize>) {
        let plan = self.hv.run(cfg, &["plan"]);
        let ops = plan_ops(&plan.ok().stdout);
        assert!(ops.len() >= min_ops, "plan too short:\n{}", plan.stdout);
        let before = self.snapshots();
        let fw_before = firewall(self.host.name());
        for k in 1..=ops.len() {
            let kk = k.to_string();
            let r = self.hv.run_env(cfg, &["apply"], &[("HVNET_FAULT_AT", &kk)]);
            r.expect_code(1);
            let named = format!("op {k} ({})", ops[k - 1]);
            assert!(
                r.stderr.contains(&named),
                "stderr should name {named:?}\n{r}"
            );
            assert!(r.stderr.contains("rolled back"), "{r}");
            assert!(!r.stderr.contains("rollback incomplete"), "{r}");
            assert!(
                r.stdout.trim().is_empty() || !r.stdout.contains("applied:"),
                "{r}"
            );
            assert_eq!(
                firewall(self.host.name()),
                fw_before,
                "HVNET_FAULT_AT={k} ({}) left the firewall or ip_forward changed",
                ops[k - 1]
            );
            let loose = loose_from.is_some_and(|from| k >= from);
            for (ns, want) in self.namespaces().into_iter().zip(&before) {
                if let Err(d) = wait_snapshot(ns, want, loose) {
                    panic!(
                        "HVNET_FAULT_AT={k} ({}) left namespace {ns} changed:\n{d}\nplan:\n{}",
                        ops[k - 1],
                        plan.stdout
                    );
                }
            }
        }
        // Nothing was left half-done: the plan is still the same (a recreated link has a
        // new, higher ifindex, which may reorder the deletions).
        let again = self.hv.run(cfg, &["plan"]);
        let mut again = plan_ops(&again.ok().stdout);
        let mut ops = ops;
        if loose_from.is_some() {
            again.sort();
            ops.sort();
        }
        assert_eq!(again, ops);
    }
}

#[test]
fn a_fault_at_any_op_of_a_fresh_apply_rolls_everything_back() {
    if !require_root() {
        return;
    }
    let w = World::new("rb-fresh");
    let cfg = w.config("full.toml", FULL);
    w.fault_every_op(&cfg, 20, None);
    let out = w.hv.apply(&cfg);
    assert_eq!(op_count(&out, "applied"), 24, "{out}");
    assert_eq!(owned(w.host.name()).len(), 8);
}

/// The namespace's iptables (filter and nat) and ip_forward, as text.
fn firewall(ns: &str) -> String {
    let run = |args: &[&str]| {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    format!(
        "{}{}{}",
        run(&["iptables", "-w", "-S"]),
        run(&["iptables", "-w", "-t", "nat", "-S"]),
        run(&["sysctl", "net.ipv4.ip_forward"])
    )
}

fn owned(ns: &str) -> BTreeSet<String> {
    links(ns)
        .iter()
        .filter(|l| {
            l["ifalias"]
                .as_str()
                .is_some_and(|a| a.starts_with("hvnet:"))
        })
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_fault_at_any_op_of_a_mixed_plan_restores_the_applied_state() {
    if !require_root() {
        return;
    }
    let w = World::new("rb-mixed");
    let full = w.config("full.toml", FULL);
    w.hv.apply(&full);
    // Give v1's port carrier, so the state to restore includes a live port. (Not v2's: it is
    // on the STP bridge, whose carrier would then follow the STP timers, not hvnet.)
    w.guests[0].ip(&["link", "set", "eth0", "up"]);
    wait_carrier(w.host.name(), "rbr0");

    let mixed = w.config("mixed.toml", MIXED);
    let plan = w.hv.run(&mixed, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    let text = &plan.stdout;
    assert!(ops.iter().any(|o| o.starts_with("create tap ")), "{text}");
    assert!(ops.iter().any(|o| o.starts_with("create veth ")), "{text}");
    assert!(
        ops.iter().any(|o| o.starts_with("set mtu of rbr0")),
        "{text}"
    );
    assert!(
        ops.iter().any(|o| o.starts_with("set bridge rbr1 stp off")),
        "{text}"
    );
    assert!(
        ops.iter()
            .any(|o| o.starts_with("remove address 10.88.0.1/24")),
        "{text}"
    );
    assert_eq!(ops.last().unwrap(), "delete tap-t4", "{text}");
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("delete ")).count(),
        1,
        "{text}"
    );
    w.fault_every_op(&mixed, 10, None);

    let mixed_ops = ops.len();

    // Two deletions: with the fault on the last op the first tap is gone and recreated.
    let two = w.config("two.toml", &two_deletions());
    let plan = w.hv.run(&two, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    let n = ops.len();
    assert!(
        ops[n - 2].starts_with("delete ") && ops[n - 1].starts_with("delete "),
        "{}",
        plan.stdout
    );
    assert!(
        ops[n - 2..].contains(&"delete tap-t4".to_string()),
        "{}",
        plan.stdout
    );
    let before = settled_snapshot(w.host.name());
    w.fault_every_op(&two, 10, Some(n));
    // Everything but the recreated tap kept its interface index.
    let after = snapshot(w.host.name());
    let first_deleted = ops[n - 2].strip_prefix("delete ").unwrap();
    for (name, b) in &before.0 {
        if name != first_deleted {
            assert_eq!(after.0[name]["ifindex"], b["ifindex"], "{name}");
        }
    }

    // Finally the mixed config applies cleanly.
    let out = w.hv.apply(&mixed);
    assert_eq!(op_count(&out, "applied"), mixed_ops, "{out}");
    assert_no_changes(&w.hv.apply(&mixed), "re-apply of the mixed config");
}

#[test]
fn a_real_failure_half_way_rolls_back() {
    if !require_root() {
        return;
    }
    let w = World::new("rb-real");
    // The last guest's veth cannot be created, after the bridge and the other guests' links
    // were: its namespace already has a link by the peer's name (a missing namespace is
    // refused before any write).
    let taken = Netns::new("taken");
    taken.ip(&["link", "add", "eth0", "type", "bridge"]);
    let target = taken.name().to_string();
    let text = format!(
        "{FULL}\n[[guest]]\nname = \"lost\"\n[[guest.nic]]\nnetwork = \"neta\"\ntype = \"veth\"\nnetns = \"{target}\"\n"
    );
    let cfg = w.config("real.toml", &text);
    let plan = w.hv.run(&cfg, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    let k = ops
        .iter()
        .position(|o| o.contains(&target))
        .expect("the veth into the namespace is planned")
        + 1;
    assert!(
        k > 3,
        "some ops must run before the failing one:\n{}",
        plan.stdout
    );
    let before = w.snapshots();
    let r = w.hv.run(&cfg, &["apply"]);
    r.expect_code(1);
    assert!(r.stderr.contains(&format!("op {k} (")), "{r}");
    assert!(r.stderr.contains(&target), "{r}");
    assert!(r.stderr.contains("rolled back"), "{r}");
    for (ns, want) in w.namespaces().into_iter().zip(&before) {
        assert_snapshot(ns, want, &"failed apply");
    }
}
