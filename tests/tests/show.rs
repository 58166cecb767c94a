//! `hvnet show`: bridges with their ports, as the kernel (read with `ip -j`) has them.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use hvnet_tests::*;
use serde_json::Value;

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "shbr0"
address = "10.22.0.1/24"
mtu = 1400

[[network]]
name = "iso"
kind = "internal"
bridge = "shbr1"
stp = true
forward_delay = 3

[[guest]]
name = "web"
[[guest.nic]]
network = "lan"
ifname = "sh-web"
mac = "52:54:00:12:34:01"

[[guest]]
name = "db"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G1@"
mac = "52:54:00:12:34:02"

[[guest]]
name = "mq"
[[guest.nic]]
network = "iso"
queues = 2
"#;

/// What `hvnet show --json` should say about a link, from `ip -j -d link`.
fn check_link(ns: &str, shown: &Value, ip: &Value, v4: &[String]) {
    let name = ip["ifname"].as_str().unwrap();
    assert_eq!(shown["name"], ip["ifname"], "{shown}");
    assert_eq!(shown["ifindex"], ip["ifindex"], "{name}: {shown}");
    assert_eq!(shown["mtu"], ip["mtu"], "{name}: {shown}");
    assert_eq!(shown["mac"], ip["address"], "{name}: {shown}");
    assert_eq!(shown["up"], has_flag(ip, "UP"), "{name}: {shown}");
    assert_eq!(
        shown["carrier"],
        has_flag(ip, "LOWER_UP"),
        "{name}: {shown}"
    );
    let owner = ip["ifalias"]
        .as_str()
        .and_then(|a| a.strip_prefix("hvnet:"));
    assert_eq!(shown["owner"].as_str(), owner, "{name}: {shown}");
    let want_kind = match (kind(ip), ip["linkinfo"]["info_data"]["type"].as_str()) {
        ("tun", Some("tap")) => "tap",
        (k, _) => k,
    };
    assert_eq!(shown["kind"], want_kind, "{name}: {shown}");
    let addrs: Vec<String> = shown["addresses"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no addresses array: {shown}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(addrs, v4, "{name} in {ns}");
}

#[test]
fn show_json_matches_the_kernel() {
    if !require_root() {
        return;
    }
    let host = Netns::new("show");
    let g1 = Netns::new("show-g1");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let h = host.name();
    host.ip(&["link", "add", "userbr", "type", "bridge"]);
    host.ip(&["tuntap", "add", "dev", "usertap", "mode", "tap"]);
    host.ip(&["link", "set", "usertap", "master", "userbr", "up"]);
    let cfg = dir.write("c.toml", &CONFIG.replace("@G1@", g1.name()));
    hv.apply(&cfg);
    g1.ip(&["link", "set", "eth0", "up"]);
    let db = links_with_alias(h, "hvnet:db")[0]["ifname"]
        .as_str()
        .unwrap()
        .to_string();
    wait_carrier(h, &db);
    settled_snapshot(h);

    let r = hv.run(&cfg, &["show", "--json"]);
    let v: Value = serde_json::from_str(&r.ok().stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    let ip_links = links(h);
    let v4 = ipv4_by_link(h);
    let v4_of = |n: &str| v4.get(n).cloned().unwrap_or_default();
    let by_name = |n: &str| ip_links.iter().find(|l| l["ifname"] == n).unwrap().clone();

    // Every bridge of the namespace, the user's included, sorted by name.
    let shown: Vec<&Value> = v["bridges"]
        .as_array()
        .expect("bridges array")
        .iter()
        .collect();
    let names: Vec<&str> = shown.iter().map(|b| b["name"].as_str().unwrap()).collect();
    let mut ip_bridges: Vec<&str> = ip_links
        .iter()
        .filter(|l| kind(l) == "bridge")
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    ip_bridges.sort();
    assert_eq!(names, ip_bridges, "{r}");
    assert_eq!(names, ["shbr0", "shbr1", "userbr"]);

    for b in shown {
        let name = b["name"].as_str().unwrap();
        let ipb = by_name(name);
        check_link(h, b, &ipb, &v4_of(name));
        let data = &ipb["linkinfo"]["info_data"];
        assert_eq!(
            b["stp"],
            data["stp_state"].as_u64().unwrap() != 0,
            "{name}: {b}"
        );
        assert_eq!(b["forward_delay_cs"], data["forward_delay"], "{name}: {b}");
        // Ports: exactly the links whose master is this bridge.
        let ports: Vec<&Value> = b["ports"].as_array().expect("ports array").iter().collect();
        let shown_ports: BTreeSet<&str> =
            ports.iter().map(|p| p["name"].as_str().unwrap()).collect();
        let ip_ports: BTreeSet<&str> = ip_links
            .iter()
            .filter(|l| l["master"] == name)
            .map(|l| l["ifname"].as_str().unwrap())
            .collect();
        assert_eq!(shown_ports, ip_ports, "ports of {name}");
        for p in ports {
            let pn = p["name"].as_str().unwrap();
            check_link(h, p, &by_name(pn), &v4_of(pn));
        }
    }
    assert_eq!(
        v["bridges"][0]["addresses"],
        serde_json::json!(["10.22.0.1/24"])
    );
    assert_eq!(v["bridges"][0]["ports"].as_array().unwrap().len(), 2);
    assert_eq!(v["bridges"][2]["owner"], Value::Null);
    // Every hvnet link is on a bridge: no loose links.
    assert_eq!(v["links"], serde_json::json!([]), "{r}");

    // A detached hvnet link is listed under "links".
    host.ip(&["link", "set", "sh-web", "nomaster"]);
    let r = hv.run(&cfg, &["show", "--json"]);
    let v: Value = serde_json::from_str(&r.ok().stdout).unwrap();
    let loose = v["links"].as_array().unwrap();
    assert_eq!(loose.len(), 1, "{r}");
    check_link(h, &loose[0], &must_link(h, "sh-web"), &[]);

    // The text form names the bridges and their ports.
    let r = hv.run(&cfg, &["show"]);
    let text = &r.ok().stdout;
    for w in [
        "shbr0",
        "shbr1",
        "userbr",
        "usertap",
        db.as_str(),
        "sh-web",
        "10.22.0.1/24",
    ] {
        assert!(text.contains(w), "show lacks {w}:\n{text}");
    }
    // And, from the config, each guest's NICs as hv_guest_start -view lists them.
    assert!(text.contains("guest db\n"), "{text}");
    assert!(text.contains(" network MAC = "), "{text}");
    assert!(text.contains(&format!("{db} (")), "{text}");
    let v: Value = serde_json::from_str(&hv.run(&cfg, &["show", "--json"]).ok().stdout).unwrap();
    let guests = v["guests"].as_array().unwrap();
    assert!(
        guests
            .iter()
            .any(|g| g["guest"] == "db" && g["link"] == db.as_str()),
        "{v}"
    );
}

#[test]
fn show_in_a_missing_namespace_is_exit_2() {
    if !require_root() {
        return;
    }
    let missing = unique("missing-ns");
    assert!(!netns_names().contains(&missing));
    let r = hvnet_run(&["--netns", &missing, "show"], &[]);
    r.expect_code(2);
    assert!(r.stderr.contains(&missing), "{r}");
    assert!(r.stderr.contains("does not exist"), "{r}");
    let r = hvnet_run(&["--netns", &missing, "show", "--json"], &[]);
    r.expect_code(2);
    assert!(!netns_names().contains(&missing), "hvnet created {missing}");
}
