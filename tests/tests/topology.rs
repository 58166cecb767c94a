//! `hvnet show --format dot|svg`: the picture from the config alone (`--offline`) and from
//! a live namespace, SVG through Graphviz's `dot`, DOT with a message without it.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use hvnet_tests::*;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/example.toml")
        .display()
        .to_string()
}

#[test]
fn offline_svg_through_graphviz_and_dot_without_it() {
    let cfg = example();
    let have_dot = on_path("dot");
    if have_dot {
        let r = hvnet_run(&["-c", &cfg, "show", "--format", "svg", "--offline"], &[]);
        r.ok();
        assert!(
            r.stdout.contains("<svg") && r.stdout.contains("</svg>"),
            "{r}"
        );
        assert!(r.stdout.contains("default"), "{r}");
    } else {
        eprintln!("SKIP the SVG half: Graphviz's dot is not installed");
    }
    let dir = TempDir::new();
    let path = path_without(&dir, &["dot"]);
    let r = hvnet_run(
        &["-c", &cfg, "show", "--format", "svg", "--offline"],
        &[("PATH", &path)],
    );
    r.ok();
    assert!(r.stderr.contains("SVG needs Graphviz"), "{r}");
    assert!(r.stdout.starts_with("digraph hvnet {"), "{r}");

    // --offline only draws; --json still works and conflicts with --format.
    hvnet_run(&["-c", &cfg, "show", "--offline"], &[]).expect_code(2);
    hvnet_run(&["-c", &cfg, "show", "--json", "--format", "dot"], &[]).expect_code(2);
}

#[test]
fn live_picture_shows_state_and_foreign_ports() {
    if !require_root() {
        return;
    }
    let host = Netns::new("topo");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let cfg = dir.write(
        "c.toml",
        r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "tpbr0"
address = "10.23.0.1/24"
[network.dhcp]

[[guest]]
name = "web"
[[guest.nic]]
network = "lan"
ifname = "tp-web"
ip = "10.23.0.10"
rate = "10mbit"
"#,
    );
    hv.apply(&cfg);
    // A port hvnet did not make (as a Xen vif or a libvirt tap would be).
    host.ip(&["tuntap", "add", "dev", "vif5.0", "mode", "tap"]);
    host.ip(&["link", "set", "vif5.0", "master", "tpbr0", "up"]);
    let r = hv.run(&cfg, &["show", "--format", "dot"]);
    r.ok();
    assert!(r.stdout.contains("live host"), "{r}");
    assert!(r.stdout.contains("<i>bridge up</i>"), "{r}");
    assert!(r.stdout.contains("other ports: vif5.0"), "{r}");
    assert!(r.stdout.contains(">tp-web"), "{r}");
    assert!(
        r.stdout.contains("10.23.0.10") && r.stdout.contains("10mbit"),
        "{r}"
    );
    // --json keeps working.
    let j = hv.run(&cfg, &["show", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.ok().stdout).unwrap();
    assert!(v["bridges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["name"] == "tpbr0"));
    hv.run(&cfg, &["down"]).ok();
}
