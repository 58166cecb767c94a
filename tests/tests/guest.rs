//! `hvnet guest args|xml|macs`: the interface names printed are those `apply` created, as
//! the kernel (read with `ip -j`) has them.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "gsbr0"
address = "10.33.0.1/24"

[[guest]]
name = "vm"
[[guest.nic]]
network = "lan"
mac = "52:54:00:33:00:01"
queues = 2
[[guest.nic]]
network = "lan"
mac = "52:54:00:33:00:02"
vnet_hdr = false
[[guest.nic]]
network = "lan"
ifname = "gs-named"
mac = "52:54:00:33:00:03"
"#;

/// The `ifname=` values of `guest args` output.
fn arg_ifnames(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split("ifname=").nth(1))
        .map(|rest| rest.split(',').next().unwrap().to_string())
        .collect()
}

#[test]
fn guest_args_name_the_links_apply_created() {
    if !require_root() {
        return;
    }
    let host = Netns::new("guest");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let h = host.name();
    // A foreign vnet0 makes the generated names differ from an empty host's.
    host.ip(&["link", "add", "vnet0", "type", "bridge"]);
    let cfg = dir.write("c.toml", CONFIG);
    hv.apply(&cfg);

    let created: BTreeSet<String> = links_with_alias(h, "hvnet:vm")
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), 3, "{created:?}");
    assert!(created.contains("gs-named"), "{created:?}");
    assert!(!created.contains("vnet0"), "{created:?}");

    let r = hv.run(&cfg, &["guest", "args", "vm"]);
    let out = r.ok().stdout.clone();
    assert_eq!(arg_ifnames(&out), created, "{r}");
    assert_eq!(out.lines().count(), 3, "{r}");
    assert!(out.contains("queues=2"), "{r}");
    assert!(out.contains("mac=52:54:00:33:00:02"), "{r}");

    // xml and macs name the same links.
    let xml = hv.run(&cfg, &["guest", "xml", "vm"]).ok().stdout.clone();
    for name in &created {
        assert!(xml.contains(&format!("<target dev='{name}'/>")), "{xml}");
    }
    let table = hv.run(&cfg, &["guest", "macs", "vm"]).ok().stdout.clone();
    for name in &created {
        assert!(table.contains(name.as_str()), "{table}");
    }

    // Offline, the foreign vnet0 is not seen: the first unnamed NIC gets vnet0.
    let r = hv.run(&cfg, &["guest", "args", "vm", "--offline"]);
    assert!(arg_ifnames(&r.ok().stdout).contains("vnet0"), "{r}");

    // An unknown guest is invalid input naming the file and the known guests.
    let r = hv.run(&cfg, &["guest", "xml", "nope"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("c.toml") && r.stderr.contains("vm"),
        "{r}"
    );
}
