//! `hvnet guest up|down` read only their scope (the guest's links, found through the owner
//! index in the state directory, and the networks' bridges), on the real kernel: among
//! many foreign links a guest still finds its bridge and its own links, skips a generated
//! name a foreign link holds, and refuses a fixed name an untagged link holds, as when
//! every link was read. Without the index (removed) a verb reads the whole host and
//! writes it again.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "a"
kind = "internal"
bridge = "br-a"

[[guest]]
name = "g0"
[[guest.nic]]
network = "a"
mac = "52:54:00:00:0d:01"

[[guest]]
name = "g1"
[[guest.nic]]
network = "a"
ifname = "ftap5"

[[guest]]
name = "g2"
[[guest.nic]]
network = "a"
"#;

fn master(ns: &str, dev: &str) -> Option<String> {
    must_link(ns, dev)["master"].as_str().map(str::to_string)
}

#[test]
fn a_guest_among_foreign_links_reads_only_its_scope() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("scoped");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let cfg = dir.write("c.toml", CONFIG);
    let h = ns.name();
    // 64 foreign taps, and one holding the first name hvnet would generate.
    let mut batch = String::new();
    for i in 0..64 {
        batch.push_str(&format!("tuntap add dev ftap{i} mode tap\n"));
    }
    batch.push_str("tuntap add dev vnet0 mode tap\n");
    let file = dir.write("foreign.batch", &batch);
    ns.ip(&["-batch", file.to_str().unwrap()]);

    // The first verb finds no owner index: it reads every link and writes the index.
    hv.run(&cfg, &["guest", "up", "g0"]).ok();
    let index = dir.path().join("state/owners");
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(text.contains("vnet1 g0\n"), "{text}");
    assert_eq!(master(h, "vnet1").as_deref(), Some("br-a"));
    assert!(
        must_link(h, "vnet0")["ifalias"].is_null(),
        "a foreign link was tagged"
    );

    // Scoped from now on: g0's link is found by owner, the bridge by name.
    let again = hv.run(&cfg, &["guest", "up", "g0"]).ok().stdout.clone();
    assert!(again.starts_with("no changes"), "{again}");
    hv.run(&cfg, &["guest", "up", "g2"]).ok();
    assert_eq!(master(h, "vnet2").as_deref(), Some("br-a"));
    assert_eq!(must_link(h, "vnet2")["ifalias"], "hvnet:g2");

    // A fixed name an untagged link holds: refused, exit 2, nothing changed.
    let before = snapshot(h);
    let r = hv.run(&cfg, &["guest", "up", "g1"]);
    r.expect_code(2);
    assert!(r.stderr.contains("ftap5"), "{r}");
    assert_eq!(snapshot(h), before, "a refused guest up changed the host");

    // Down removes g2's tap only; the index forgets it.
    hv.run(&cfg, &["guest", "down", "g2"]).ok();
    let names = link_names(h);
    assert!(!names.contains("vnet2") && names.contains("vnet1") && names.contains("br-a"));
    let text = std::fs::read_to_string(&index).unwrap();
    let last: std::collections::BTreeMap<&str, &str> = text
        .lines()
        .map(|l| l.split_once(' ').unwrap_or((l, "")))
        .collect();
    assert_eq!(last.get("vnet2"), Some(&""), "{text}");

    // Without the index, the whole host is read again (g0 still found) and it is rewritten.
    std::fs::remove_file(&index).unwrap();
    let again = hv.run(&cfg, &["guest", "up", "g0"]).ok().stdout.clone();
    assert!(again.starts_with("no changes"), "{again}");
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(
        text.contains("vnet1 g0\n") && !text.contains("vnet2"),
        "{text}"
    );
}
