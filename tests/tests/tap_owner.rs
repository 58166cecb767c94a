//! A tap's `owner` and `group` (names or ids) reach the kernel (TUNSETOWNER/TUNSETGROUP), so
//! an unprivileged QEMU can open it; re-applying changes nothing.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "own"
kind = "internal"
bridge = "ownbr0"

[[guest]]
name = "qemu-vm"
[[guest.nic]]
network = "own"
ifname = "own-tap0"
owner = "nobody"
group = "nogroup"

[[guest]]
name = "qemu-vm2"
[[guest.nic]]
network = "own"
ifname = "own-tap1"
owner = 4242
group = 4343
"#;

#[test]
fn tap_owner_and_group_are_set_and_kept() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("owner");
    let dir = TempDir::new();
    let cfg = dir.write("owner.toml", CONFIG);
    let hv = Hv::new(&ns, &dir);
    hv.apply(&cfg);
    let t0 = must_link(ns.name(), "own-tap0");
    let d0 = &t0["linkinfo"]["info_data"];
    assert_eq!(d0["user"], "nobody", "{t0}");
    assert_eq!(d0["group"], "nogroup", "{t0}");
    let t1 = must_link(ns.name(), "own-tap1");
    let d1 = &t1["linkinfo"]["info_data"];
    assert_eq!(d1["user"].to_string().trim_matches('"'), "4242", "{t1}");
    assert_eq!(d1["group"].to_string().trim_matches('"'), "4343", "{t1}");
    let again = hv.run(&cfg, &["apply"]);
    assert!(
        again
            .ok()
            .stdout
            .starts_with("no changes (0 kernel writes)"),
        "{again}"
    );
}
