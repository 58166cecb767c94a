//! `hvnet demo`: builds a network in throwaway namespaces, proves it works, and leaves
//! nothing behind.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

#[test]
fn demo_passes_and_leaves_no_namespace() {
    if !require_root() {
        return;
    }
    let is_demo = |n: &String| n.starts_with("hvnet-demo-");
    let before: Vec<String> = netns_names().into_iter().filter(is_demo).collect();

    let r = hvnet_run(&["demo"], &[]);
    r.ok();
    assert!(r.stdout.contains("all checks passed"), "{r}");
    assert!(
        r.stdout.contains("no changes"),
        "the re-apply changed something\n{r}"
    );
    // The guests took their addresses from hvnet's dnsmasq (udhcpc is installed by the
    // project's scripts), node-2 its reservation; down left nothing running.
    assert!(r.stdout.contains("node-1   leased an address"), "{r}");
    assert!(r.stdout.contains("lease 192.168.110.12 "), "{r}");
    assert!(r.stdout.contains("dnsmasq of demo"), "{r}");
    assert!(
        r.stdout
            .contains("no hvnet links, dnsmasq or firewall chains left"),
        "{r}"
    );

    // The namespaces it announced are gone, and no other demo namespace appeared.
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("namespaces: "))
        .unwrap_or_else(|| panic!("no `namespaces:` line\n{r}"));
    let announced: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("hvnet-demo-"))
        .collect();
    assert_eq!(announced.len(), 3, "{line}");
    let now = netns_names();
    for ns in &announced {
        assert!(!now.contains(*ns), "{ns} still exists");
    }
    for ns in &announced {
        assert!(
            !std::path::Path::new("/run/hvnet/netns").join(ns).exists(),
            "the demo left its state directory /run/hvnet/netns/{ns}"
        );
    }
    let after: Vec<String> = now.into_iter().filter(is_demo).collect();
    assert_eq!(after, before, "hvnet-demo-* namespaces left behind");
    assert!(
        after.is_empty(),
        "hvnet-demo-* namespaces exist (left over from an earlier run?): {after:?}"
    );
}
