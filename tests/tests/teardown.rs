//! `hvnet down` and `hvnet brdelall`: remove exactly hvnet's objects, never a user's.
//!
//! `apply` speaks for every hvnet-owned link of the host (applying config A alone would
//! remove config B's links), so "an hvnet object of another config" is made by applying the
//! union A+B and then taking down A only.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;
use serde_json::Value;

const NET_A: &str = r#"
[[network]]
name = "neta"
kind = "isolated"
bridge = "tdbr-a"
address = "10.66.0.1/24"

[[guest]]
name = "ga1"
[[guest.nic]]
network = "neta"
ifname = "ga1-tap"

[[guest]]
name = "ga2"
[[guest.nic]]
network = "neta"
type = "veth"
netns = "@G1@"
"#;

const NET_B: &str = r#"
[[network]]
name = "netb"
kind = "internal"
bridge = "tdbr-b"

[[guest]]
name = "gb1"
[[guest.nic]]
network = "netb"
"#;

/// A network bridged to an uplink hvnet does not own.
const NET_U: &str = r#"
[[network]]
name = "netu"
kind = "bridge"
bridge = "tdbr-u"
uplink = "upl0"
"#;

const NET_C: &str = r#"
[[network]]
name = "netc"
kind = "internal"
bridge = "tdbr-c"
"#;

/// A user's own bridge with a user's tap on it, made with iproute2.
fn user_bridge(ns: &Netns) {
    ns.ip(&["link", "add", "userbr", "type", "bridge"]);
    ns.ip(&["tuntap", "add", "dev", "usertap", "mode", "tap"]);
    ns.ip(&["link", "set", "usertap", "master", "userbr", "up"]);
    ns.ip(&["link", "set", "userbr", "up"]);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", "userbr"]);
}

fn owned_names(ns: &str) -> Vec<String> {
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

fn alias_of(ns: &str, owner: &str) -> Vec<Value> {
    links_with_alias(ns, &format!("hvnet:{owner}"))
}

#[test]
fn down_removes_exactly_the_configs_objects() {
    if !require_root() {
        return;
    }
    let host = Netns::new("down");
    let g1 = Netns::new("down-g1");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let h = host.name();
    user_bridge(&host);
    // The uplink of `netu`: a user's link (a veth pair standing in for a physical NIC).
    host.ip(&[
        "link", "add", "upl0", "type", "veth", "peer", "name", "upl0-far",
    ]);

    let a_text = format!("{}\n{NET_U}", NET_A.replace("@G1@", g1.name()));
    let cfg_a = dir.write("a.toml", &a_text);
    let cfg_ab = dir.write("ab.toml", &format!("{a_text}\n{NET_B}"));
    hv.apply(&cfg_ab);
    assert_eq!(alias_of(h, "neta").len(), 1);
    assert_eq!(alias_of(h, "netu").len(), 1);
    assert_eq!(alias_of(h, "ga2").len(), 1);
    assert_eq!(alias_of(h, "gb1").len(), 1);
    assert!(link(g1.name(), "eth0").is_some());
    assert_eq!(must_link(h, "upl0")["master"], "tdbr-u");
    let name_of = |owner: &str| {
        alias_of(h, owner)[0]["ifname"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ga2_port, gb1_port) = (name_of("ga2"), name_of("gb1"));
    let before = settled_snapshot(h);

    // --dry-run: detach the uplink, one `ip link del` per link of A, and the removal of
    // hvnet's firewall (only A's isolated network had rules); nothing changes.
    let dry = hv.run(&cfg_a, &["down", "--dry-run"]);
    let (fw, mut cmds): (Vec<String>, Vec<String>) = dry
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .partition(|c| c.contains(" iptables ") || c.contains("nft -f"));
    assert_eq!(fw.len(), 1, "{dry}");
    // Whichever backend `auto` picked: nftables deletes its table, iptables its chains.
    assert!(
        fw[0].contains("delete table inet hvnet")
            || fw[0].contains("iptables -w -t nat -X HVNET-PRT"),
        "{dry}"
    );
    cmds.sort();
    let mut want: Vec<String> = [
        "ip link set dev upl0 nomaster".to_string(),
        "ip link del dev ga1-tap".to_string(),
        format!("ip link del dev {ga2_port}"),
        "ip link del dev tdbr-a".to_string(),
        "ip link del dev tdbr-u".to_string(),
    ]
    .iter()
    .map(|c| format!("ip netns exec {h} {c}"))
    .collect();
    want.sort();
    assert_eq!(cmds, want, "{dry}");
    assert_snapshot(h, &before, &"down --dry-run");

    let out = hv.run(&cfg_a, &["down"]);
    assert_eq!(op_count(&out.ok().stdout, "removed"), 6, "{out}");
    assert!(
        !host.exec("iptables", &["-w", "-S"]).contains("HVNET"),
        "hvnet's chains survived down"
    );
    let after = snapshot(h);
    let left: Vec<&str> = after.0.keys().map(String::as_str).collect();
    let mut want_left = vec![
        "lo",
        "userbr",
        "usertap",
        "upl0",
        "upl0-far",
        "tdbr-b",
        gb1_port.as_str(),
    ];
    want_left.sort();
    assert_eq!(left, want_left, "{after:?}");
    // What is left is untouched (same ifindex, master, flags, addresses...), except that the
    // uplink was detached from the bridge that went away.
    for n in want_left {
        let (mut a, mut b) = (after.0[n].clone(), before.0[n].clone());
        if n == "upl0" {
            assert!(a["master"].is_null(), "uplink still attached: {a}");
            for v in [&mut a, &mut b] {
                let o = v.as_object_mut().unwrap();
                o.remove("master");
                // Leaving the bridge may change its carrier/operstate: not hvnet's doing.
                o.remove("flags");
                o.remove("operstate");
            }
        }
        assert_eq!(a, b, "{n} was touched by `down` of another config");
    }
    // The veth went with its peer.
    assert_eq!(link_names(g1.name()), ["lo".to_string()].into());
    assert_eq!(ipv4(h, "userbr"), ["10.99.0.1/24"]);

    // Again: nothing to do.
    assert_no_changes(&hv.run(&cfg_a, &["down"]).ok().stdout, "second down");

    // Down of the union removes B too, and still not the user's links.
    let out = hv.run(&cfg_ab, &["down"]);
    assert_eq!(op_count(&out.ok().stdout, "removed"), 2, "{out}");
    assert!(owned_names(h).is_empty(), "{:?}", owned_names(h));
    let fin = snapshot(h);
    assert_eq!(fin.0.len(), 5, "{fin:?}");
    for n in ["lo", "userbr", "usertap"] {
        assert_eq!(fin.0[n], before.0[n], "{n} was touched");
    }
    assert!(fin.0.contains_key("upl0") && fin.0.contains_key("upl0-far"));
}

#[test]
fn brdelall_refuses_busy_bridges_and_force_removes_only_hvnet_bridges() {
    if !require_root() {
        return;
    }
    let host = Netns::new("brdel");
    let g1 = Netns::new("brdel-g1");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let h = host.name();
    user_bridge(&host);

    let cfg = dir.write(
        "abc.toml",
        &format!("{}\n{NET_B}\n{NET_C}", NET_A.replace("@G1@", g1.name())),
    );
    hv.apply(&cfg);
    let ga2_port = alias_of(h, "ga2")[0]["ifname"]
        .as_str()
        .unwrap()
        .to_string();
    let gb1_port = alias_of(h, "gb1")[0]["ifname"]
        .as_str()
        .unwrap()
        .to_string();
    let before = settled_snapshot(h);

    // Busy bridges: refused, nothing removed (not even the empty tdbr-c).
    let r = hv.run(&cfg, &["brdelall"]);
    r.expect_code(1);
    for word in [
        "tdbr-a",
        "tdbr-b",
        "ga1-tap",
        ga2_port.as_str(),
        gb1_port.as_str(),
    ] {
        assert!(r.stderr.contains(word), "message should name {word}:\n{r}");
    }
    assert!(r.stderr.contains("--force"), "{r}");
    assert!(
        !r.stderr.contains("userbr"),
        "the user's bridge is none of hvnet's business\n{r}"
    );
    assert_snapshot(h, &before, &"refused brdelall");

    // --force: every hvnet bridge goes, the user's bridge and tap stay as they were.
    let out = hv.run(&cfg, &["brdelall", "--force"]);
    assert_eq!(op_count(&out.ok().stdout, "removed"), 3, "{out}");
    let after = snapshot(h);
    for b in ["tdbr-a", "tdbr-b", "tdbr-c"] {
        assert!(!after.0.contains_key(b), "{b} still exists: {after:?}");
    }
    for n in ["lo", "userbr", "usertap"] {
        assert_eq!(
            after.0[n], before.0[n],
            "{n} was touched by brdelall --force"
        );
    }
    let bridges: Vec<String> = links(h)
        .iter()
        .filter(|l| kind(l) == "bridge")
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bridges, ["userbr"]);
    // Guest links that survive are no longer ports of anything.
    for l in links(h) {
        if l["ifalias"]
            .as_str()
            .is_some_and(|a| a.starts_with("hvnet:"))
        {
            assert!(l["master"].is_null(), "{l}");
        }
    }
    assert_no_changes(&hv.run(&cfg, &["brdelall"]).ok().stdout, "second brdelall");

    // A bridge without guest ports needs no --force.
    let only_c = dir.write("c.toml", NET_C);
    hv.apply(&only_c);
    assert!(link(h, "tdbr-c").is_some());
    let out = hv.run(&only_c, &["brdelall"]);
    assert_eq!(op_count(&out.ok().stdout, "removed"), 1, "{out}");
    assert!(link(h, "tdbr-c").is_none());
    let fin = snapshot(h);
    for n in ["lo", "userbr", "usertap"] {
        assert_eq!(fin.0[n], before.0[n], "{n} was touched");
    }
}
