//! `hvnet apply`: creates exactly the configured topology, is idempotent, applies a changed
//! config as the minimal difference, and `plan` / `apply --dry-run` change nothing.
//!
//! The kernel is always read with iproute2, never through hvnet.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use hvnet_tests::*;
use serde_json::Value;

/// Version 1: a host-only network with four guests (two taps, two veths) and an empty
/// STP-enabled internal network.
const V1: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "hvbr0"
address = "10.77.0.1/24"
mtu = 1400

[[network]]
name = "stpnet"
kind = "internal"
bridge = "hvstp0"
stp = true
forward_delay = 4
mac = "02:00:00:aa:bb:cc"

[[guest]]
name = "web"
[[guest.nic]]
network = "lan"
ifname = "tap-web"
mac = "52:54:00:00:00:01"

[[guest]]
name = "mq"
[[guest.nic]]
network = "lan"
queues = 4
vnet_hdr = false

[[guest]]
name = "db"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G1@"
mac = "52:54:00:00:00:02"

[[guest]]
name = "old"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G2@"
peer = "ens3"
mac = "52:54:00:00:00:03"
"#;

/// Version 2: MTU 1400 -> 1450, address .1 -> .254, guest `old` removed, guest `new` added.
const V2: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "hvbr0"
address = "10.77.0.254/24"
mtu = 1450

[[network]]
name = "stpnet"
kind = "internal"
bridge = "hvstp0"
stp = true
forward_delay = 4
mac = "02:00:00:aa:bb:cc"

[[guest]]
name = "web"
[[guest.nic]]
network = "lan"
ifname = "tap-web"
mac = "52:54:00:00:00:01"

[[guest]]
name = "mq"
[[guest.nic]]
network = "lan"
queues = 4
vnet_hdr = false

[[guest]]
name = "db"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G1@"
mac = "52:54:00:00:00:02"

[[guest]]
name = "new"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G3@"
mac = "52:54:00:00:00:04"
"#;

/// A host namespace, three guest namespaces and the two config versions.
struct Topo {
    host: Netns,
    g1: Netns,
    g2: Netns,
    g3: Netns,
    dir: TempDir,
    hv: Hv,
    v1: PathBuf,
    v2: PathBuf,
}

impl Topo {
    fn new() -> Topo {
        let host = Netns::new("host");
        let g1 = Netns::new("g1");
        let g2 = Netns::new("g2");
        let g3 = Netns::new("g3");
        let dir = TempDir::new();
        let fill = |t: &str| {
            t.replace("@G1@", g1.name())
                .replace("@G2@", g2.name())
                .replace("@G3@", g3.name())
        };
        let v1 = dir.write("v1.toml", &fill(V1));
        let v2 = dir.write("v2.toml", &fill(V2));
        let hv = Hv::new(&host, &dir);
        Topo {
            host,
            g1,
            g2,
            g3,
            dir,
            hv,
            v1,
            v2,
        }
    }

    fn h(&self) -> &str {
        self.host.name()
    }

    /// The single host link owned by `owner`.
    fn owned(&self, owner: &str) -> Value {
        let mut l = links_with_alias(self.h(), &format!("hvnet:{owner}"));
        assert_eq!(l.len(), 1, "expected one link owned by {owner}: {l:?}");
        l.remove(0)
    }

    fn name_of(&self, owner: &str) -> String {
        self.owned(owner)["ifname"].as_str().unwrap().to_string()
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[test]
fn apply_creates_exactly_the_topology_and_reapply_changes_nothing() {
    if !require_root() {
        return;
    }
    let t = Topo::new();
    let h = t.h();

    let plan = t.hv.run(&t.v1, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    // 2 bridges + 4 guest links created, 4 attached, 6 brought up, 1 address, and the
    // firewall of the addressed isolated network.
    assert_eq!(ops.len(), 18, "plan:\n{}", plan.stdout);
    assert!(
        ops[0].starts_with("create bridge "),
        "bridges first:\n{}",
        plan.stdout
    );
    assert!(
        ops[1].starts_with("create bridge "),
        "bridges first:\n{}",
        plan.stdout
    );

    let out = t.hv.apply(&t.v1);
    assert_eq!(op_count(&out, "applied"), 18, "{out}");

    // Exactly lo + 2 bridges + 4 guest links, nothing more.
    let names = link_names(h);
    assert_eq!(names.len(), 7, "links in host namespace: {names:?}");
    for n in ["lo", "hvbr0", "hvstp0", "tap-web"] {
        assert!(names.contains(n), "{n} missing: {names:?}");
    }

    // The bridge of `lan`.
    let br = must_link(h, "hvbr0");
    assert_eq!(kind(&br), "bridge");
    assert_eq!(br["ifalias"], "hvnet:lan");
    assert_eq!(br["mtu"], 1400);
    assert!(has_flag(&br, "UP"), "{br}");
    assert_eq!(br["linkinfo"]["info_data"]["stp_state"], 0);
    assert_eq!(br["linkinfo"]["info_data"]["forward_delay"], 0);
    let br_mac = s(&br["address"]).to_string();
    assert!(
        br_mac.starts_with("02:68:76:"),
        "bridge MAC must be the derived 02:68:76:… one, is {br_mac}"
    );
    assert_eq!(ipv4(h, "hvbr0"), ["10.77.0.1/24"]);
    // No other IPv4 address anywhere but lo's.
    let v4 = ipv4_by_link(h);
    assert_eq!(
        v4.keys().cloned().collect::<BTreeSet<_>>(),
        ["hvbr0".to_string(), "lo".to_string()].into(),
        "{v4:?}"
    );

    // The STP bridge: options from `ip -d`, fixed MAC from the config, default MTU.
    let stp = must_link(h, "hvstp0");
    assert_eq!(kind(&stp), "bridge");
    assert_eq!(stp["ifalias"], "hvnet:stpnet");
    assert_eq!(stp["linkinfo"]["info_data"]["stp_state"], 1, "{stp}");
    assert_eq!(stp["linkinfo"]["info_data"]["forward_delay"], 400, "{stp}");
    assert_eq!(stp["address"], "02:00:00:aa:bb:cc");
    assert_eq!(stp["mtu"], 1500);
    assert!(has_flag(&stp, "UP"), "{stp}");
    assert_ne!(br_mac, s(&stp["address"]));

    // Tap with a fixed MAC and name.
    let web = must_link(h, "tap-web");
    assert_eq!(kind(&web), "tun");
    let d = &web["linkinfo"]["info_data"];
    assert_eq!(d["type"], "tap", "{web}");
    assert_eq!(d["vnet_hdr"], true, "{web}");
    assert_eq!(d["multi_queue"], false, "{web}");
    assert_eq!(d["persist"], true, "{web}");
    assert_eq!(web["master"], "hvbr0");
    assert_eq!(web["mtu"], 1400);
    assert_eq!(web["address"], "fe:54:00:00:00:01");
    assert_eq!(web["ifalias"], "hvnet:web");
    assert!(has_flag(&web, "UP"), "{web}");

    // Multiqueue tap without vnet_hdr, generated name and MAC.
    let mq = t.owned("mq");
    assert!(s(&mq["ifname"]).starts_with("vnet"), "{mq}");
    let d = &mq["linkinfo"]["info_data"];
    assert_eq!(d["type"], "tap", "{mq}");
    assert_eq!(d["vnet_hdr"], false, "{mq}");
    assert_eq!(d["multi_queue"], true, "{mq}");
    assert_eq!(mq["master"], "hvbr0");
    assert_eq!(mq["mtu"], 1400);
    assert!(
        s(&mq["address"]).starts_with("fe:54:00:"),
        "host side of a derived 52:54:00 MAC: {mq}"
    );

    // Veth guests: host side on the bridge, peer in the guest namespace with the guest MAC.
    for (owner, g, peer, mac) in [
        ("db", &t.g1, "eth0", "52:54:00:00:00:02"),
        ("old", &t.g2, "ens3", "52:54:00:00:00:03"),
    ] {
        let host_side = t.owned(owner);
        assert_eq!(kind(&host_side), "veth", "{host_side}");
        assert_eq!(host_side["master"], "hvbr0");
        assert_eq!(host_side["mtu"], 1400);
        assert_eq!(host_side["address"], mac.replacen("52", "fe", 1).as_str());
        assert!(has_flag(&host_side, "UP"), "{host_side}");
        assert_eq!(
            link_names(g.name()),
            ["lo".to_string(), peer.to_string()].into(),
            "guest namespace {}",
            g.name()
        );
        let p = must_link(g.name(), peer);
        assert_eq!(kind(&p), "veth");
        assert_eq!(p["address"], mac);
        assert_eq!(p["mtu"], 1400, "the peer gets the network's MTU too: {p}");
    }
    assert_eq!(link_names(t.g3.name()), ["lo".to_string()].into());

    // Play the guests: a reader on the tap, the veth peers up; carrier everywhere.
    let _q = attach_tap(h, "tap-web", true, false);
    t.g1.ip(&["link", "set", "eth0", "up"]);
    t.g2.ip(&["link", "set", "ens3", "up"]);
    wait_carrier(h, "tap-web");
    wait_carrier(h, &t.name_of("db"));
    wait_carrier(h, &t.name_of("old"));
    wait_carrier(h, "hvbr0");

    // Re-apply: nothing to do, nothing touched (same ifindexes, flags, everything).
    let before = settled_snapshot(h);
    let before_g1 = settled_snapshot(t.g1.name());
    let out = t.hv.apply(&t.v1);
    assert_no_changes(&out, "re-apply of v1");
    assert_snapshot(h, &before, &"re-apply of an applied config");
    assert_snapshot(t.g1.name(), &before_g1, &"re-apply of an applied config");
    let plan = t.hv.run(&t.v1, &["plan"]);
    assert_eq!(plan.ok().stdout.trim(), "no changes");
    let dry = t.hv.run(&t.v1, &["apply", "--dry-run"]);
    assert_eq!(dry.ok().stdout.trim(), "# no changes");
    drop(t.dir);
}

#[test]
fn changed_config_touches_only_the_difference() {
    if !require_root() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    t.hv.apply(&t.v1);

    let _q = attach_tap(h, "tap-web", true, false);
    t.g1.ip(&["link", "set", "eth0", "up"]);
    t.g2.ip(&["link", "set", "ens3", "up"]);
    let (mq, db, old) = (t.name_of("mq"), t.name_of("db"), t.name_of("old"));
    wait_carrier(h, "tap-web");
    wait_carrier(h, &db);
    wait_carrier(h, &old);
    let before = settled_snapshot(h);
    let carrier_before = (carrier_changes(h, "tap-web"), carrier_changes(h, &db));

    // The plan is exactly the difference.
    let plan = t.hv.run(&t.v2, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    let text = plan.stdout.clone();
    let expect = [
        "set mtu of hvbr0 to 1450 (was 1400)".to_string(),
        "set mtu of tap-web to 1450 (was 1400)".to_string(),
        format!("set mtu of {mq} to 1450 (was 1400)"),
        format!("set mtu of {db} to 1450 (was 1400)"),
        "remove address 10.77.0.1/24 from hvbr0".to_string(),
        "add address 10.77.0.254/24 to hvbr0".to_string(),
        format!("delete {old}"),
    ];
    for e in &expect {
        assert!(ops.contains(e), "plan lacks {e:?}:\n{text}");
    }
    let creates: Vec<&String> = ops.iter().filter(|o| o.starts_with("create ")).collect();
    assert_eq!(creates.len(), 1, "only the new guest is created:\n{text}");
    assert!(
        creates[0].starts_with("create veth ") && creates[0].contains("(hvnet:new"),
        "{text}"
    );
    // + attach and bring up the new guest's link.
    assert_eq!(ops.len(), expect.len() + 3, "plan:\n{text}");
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("delete ")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        ops.last().unwrap(),
        &format!("delete {old}"),
        "deletions come last:\n{text}"
    );

    // plan and --dry-run changed nothing.
    let dry = t.hv.run(&t.v2, &["apply", "--dry-run"]);
    let cmds: Vec<&str> = dry.ok().stdout.lines().collect();
    assert_eq!(cmds.len(), ops.len(), "one command per op:\n{}", dry.stdout);
    let prefix = format!("ip netns exec {h} ");
    for c in &cmds {
        let rest = c
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{c:?} lacks {prefix:?}"));
        assert!(rest.starts_with("ip "), "{c:?}");
    }
    assert_snapshot(h, &before, &"plan / apply --dry-run");
    assert_eq!(link_names(t.g3.name()), ["lo".to_string()].into());

    let out = t.hv.apply(&t.v2);
    assert_eq!(op_count(&out, "applied"), ops.len(), "{out}");

    let after = snapshot(h);
    // The removed guest's link is gone, on both ends.
    assert!(!after.0.contains_key(&old), "{old} still there: {after:?}");
    assert_eq!(link_names(t.g2.name()), ["lo".to_string()].into());
    // The new guest's link exists, configured.
    let new = t.owned("new");
    let new_name = s(&new["ifname"]).to_string();
    assert!(
        !before.0.contains_key(&new_name),
        "new link reuses an old name: {new_name}"
    );
    assert_eq!(kind(&new), "veth");
    assert_eq!(new["master"], "hvbr0");
    assert_eq!(new["mtu"], 1450);
    assert_eq!(new["address"], "fe:54:00:00:00:04");
    assert!(has_flag(&new, "UP"), "{new}");
    assert_eq!(
        must_link(t.g3.name(), "eth0")["address"],
        "52:54:00:00:00:04"
    );
    assert_eq!(ipv4(h, "hvbr0"), ["10.77.0.254/24"]);
    assert_eq!(after.0.len(), before.0.len(), "{after:?}");

    // Every link that stayed is the same object: same ifindex, and apart from MTU (and the
    // bridge's address) unchanged — flags, operstate, MAC, master, alias.
    for (name, b) in &before.0 {
        if *name == old {
            continue;
        }
        let a = after
            .0
            .get(name)
            .unwrap_or_else(|| panic!("{name} disappeared"));
        let strip = |v: &Value| {
            let mut v = v.clone();
            let o = v.as_object_mut().unwrap();
            o.remove("mtu");
            o.remove("ipv4");
            v
        };
        assert_eq!(strip(a), strip(b), "{name} changed beyond its MTU");
        let want_mtu = match name.as_str() {
            "lo" => b["mtu"].clone(),
            "hvstp0" => Value::from(1500),
            _ => Value::from(1450),
        };
        assert_eq!(a["mtu"], want_mtu, "{name}");
    }
    // The unchanged guests never lost carrier.
    for dev in ["tap-web", db.as_str()] {
        assert!(
            has_flag(&must_link(h, dev), "LOWER_UP"),
            "{dev} lost carrier"
        );
    }
    assert_eq!(
        (carrier_changes(h, "tap-web"), carrier_changes(h, &db)),
        carrier_before,
        "carrier of tap-web / {db} flapped during the apply"
    );
    assert_eq!(
        must_link(t.g1.name(), "eth0")["address"],
        "52:54:00:00:00:02"
    );

    // And v2 is now idempotent too.
    let settled_after = settled_snapshot(h);
    assert_no_changes(&t.hv.apply(&t.v2), "re-apply of v2");
    assert_snapshot(h, &settled_after, &"re-apply of v2");
}

#[test]
fn plan_and_dry_run_change_nothing_and_dry_run_commands_reproduce_apply() {
    if !require_root() {
        return;
    }
    // `a`: applied by hvnet; `b`: built by running hvnet's dry-run commands in a shell.
    let a = Topo::new();
    let b = Topo::new();
    for t in [&a, &b] {
        let before = snapshot(t.h());
        let p = t.hv.run(&t.v1, &["plan"]);
        assert_eq!(plan_ops(&p.ok().stdout).len(), 18);
        let v = t.hv.run(&t.v1, &["validate"]);
        assert!(
            v.ok()
                .stdout
                .contains("ok (2 network(s), 4 guest(s), 4 NIC(s))"),
            "{v}"
        );
        assert_snapshot(t.h(), &before, &"plan / validate");
        for g in [&t.g1, &t.g2, &t.g3] {
            assert_eq!(link_names(g.name()), ["lo".to_string()].into());
        }
    }
    a.hv.apply(&a.v1);

    let dry = b.hv.run(&b.v1, &["apply", "--dry-run"]);
    let cmds: Vec<String> = dry.ok().stdout.lines().map(str::to_string).collect();
    assert_eq!(cmds.len(), 18, "{dry}");
    assert_eq!(
        link_names(b.h()),
        ["lo".to_string()].into(),
        "--dry-run created links"
    );
    // Run each printed command inside the namespace. (Never as printed, from the root
    // namespace: see the BUG check at the end — only the first command of an `&&` chain
    // carries the `ip netns exec` prefix.)
    let prefix = format!("ip netns exec {} ", b.h());
    for c in &cmds {
        let body = c
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{c:?} lacks {prefix:?}"));
        let r = std::process::Command::new("ip")
            .args(["netns", "exec", b.h(), "sh", "-c", body])
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "dry-run command failed: {c}\n{}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
    // hvnet considers the result of its own commands to be the configured state...
    let p = b.hv.run(&b.v1, &["plan"]);
    assert_eq!(
        p.ok().stdout.trim(),
        "no changes",
        "after running the --dry-run commands, hvnet still wants changes"
    );
    // ...and it looks the same as what apply made (interface indexes aside).
    let norm = |ns: &str| {
        let mut s = snapshot(ns).without_ifindex();
        // Operational state depends on carrier, not on how the links were made.
        for v in s.0.values_mut() {
            let o = v.as_object_mut().unwrap();
            o.remove("operstate");
            o.remove("flags");
        }
        s
    };
    let (sa, sb) = (norm(a.h()), norm(b.h()));
    assert!(sa == sb, "apply vs dry-run commands:\n{}", sa.diff(&sb));

    // The remaining checks are collected, so that one failure does not hide another.
    let mut problems = Vec::new();
    // apply (NewVeth) gives *both* ends the MTU, so the printed command must name it in the
    // peer's part too (`... peer name eth0 address ... mtu N netns G`).
    for (ga, gb) in [(&a.g1, &b.g1), (&a.g2, &b.g2)] {
        let (sa, sb) = (norm(ga.name()), norm(gb.name()));
        if sa != sb {
            problems.push(format!(
                "guest side, apply vs dry-run commands:\n{}",
                sa.diff(&sb)
            ));
        }
    }

    // `Op::command` joins several commands with ` && ` (create + alias): with `--netns`
    // every one of them must be namespaced, or pasting the line would touch a same-named
    // link of the root namespace.
    for c in &cmds {
        for part in c.split(" && ") {
            if !(part.starts_with(&prefix) || part.starts_with(&format!("ip -n {} ", b.h()))) {
                problems.push(format!(
                    "`{part}` (from `{c}`) would run in the root namespace"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn refuses_to_take_over_a_foreign_link_of_the_same_name() {
    if !require_root() {
        return;
    }
    let host = Netns::new("foreign");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    host.ip(&["link", "add", "userbr", "type", "bridge"]);
    host.ip(&["tuntap", "add", "dev", "usertap", "mode", "tap"]);
    host.ip(&["link", "set", "usertap", "master", "userbr", "up"]);
    let cfg = dir.write(
        "clash.toml",
        r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "userbr"
address = "10.55.0.1/24"

[[guest]]
name = "g"
[[guest.nic]]
network = "lan"
"#,
    );
    let before = settled_snapshot(host.name());
    let r = hv.run(&cfg, &["apply"]);
    assert!(
        r.code == 1 || r.code == 2,
        "a foreign interface of the same name must be refused\n{r}"
    );
    assert!(
        r.stderr.contains("userbr") && r.stderr.contains("not owned by hvnet"),
        "{r}"
    );
    assert_snapshot(host.name(), &before, &"refused apply");
}

#[test]
fn a_guest_attaching_without_vnet_hdr_keeps_its_tap() {
    if !require_root() {
        return;
    }
    let host = Netns::new("vnethdr");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let h = host.name();
    let cfg = dir.write(
        "c.toml",
        "[[network]]\nname = \"lan\"\nkind = \"internal\"\nbridge = \"vhbr0\"\n\n\
         [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"lan\"\nifname = \"vh-tap\"\n",
    );
    hv.apply(&cfg);
    assert_eq!(
        must_link(h, "vh-tap")["linkinfo"]["info_data"]["vnet_hdr"],
        true
    );

    // A hypervisor that does not use IFF_VNET_HDR attaches (QEMU with vnet_hdr=off, or any
    // program that opens the tap without the flag). TUNSETIFF rewrites the persistent
    // device's vnet_hdr flag to the attacher's choice.
    let _q = attach_tap(h, "vh-tap", false, false);
    wait_carrier(h, "vh-tap");
    let before = settled_snapshot(h);
    let flips = carrier_changes(h, "vh-tap");

    // vnet_hdr is chosen by whoever attaches (TUNSETIFF overwrites it), so it is no identity
    // of the tap: a tap a guest is attached to must never be recreated because of it.
    let plan = hv.run(&cfg, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    assert!(
        !ops.iter().any(|o| o == "delete vh-tap"),
        "hvnet wants to recreate a tap a guest is attached to:\n{}",
        plan.stdout
    );
    assert_no_changes(&hv.apply(&cfg), "re-apply with a guest attached");
    assert_snapshot(h, &before, &"re-apply with a guest attached");
    assert_eq!(carrier_changes(h, "vh-tap"), flips);
}
