//! `hvnet demo`: builds a network in throwaway namespaces, proves it works, and leaves
//! nothing behind.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

use std::path::Path;

#[test]
fn demo_passes_and_leaves_no_namespace() {
    if !require_root() {
        return;
    }
    let r = demo(&[]);
    // The guests took their addresses from hvnet's dnsmasq (udhcpc is installed by the
    // project's scripts), node-2 its reservation.
    assert!(r.stdout.contains("node-1   leased an address"), "{r}");
    assert!(r.stdout.contains("lease 192.168.110.12 "), "{r}");
}

/// Regression (issue 13): on a host with busybox but without the `udhcpc` package,
/// `ip netns exec NS udhcpc` started fine and only its inner exec failed, so the demo
/// reported "got no lease" for every guest. It now runs `busybox udhcpc`.
#[test]
fn demo_falls_back_to_busybox_udhcpc() {
    if !require_root() {
        return;
    }
    let has_applet = std::process::Command::new("busybox")
        .arg("--list")
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "udhcpc")
        });
    if !has_applet {
        eprintln!("SKIP: no busybox with the udhcpc applet on this host");
        return;
    }
    let dir = TempDir::new();
    let path = path_without(&dir, &["udhcpc"]);
    let r = demo(&[("PATH", &path)]);
    let busybox = Path::new(&path).join("busybox");
    assert!(
        r.stdout
            .contains(&format!("DHCP client: {} udhcpc", busybox.display())),
        "{r}"
    );
    assert!(r.stdout.contains("node-1   leased an address"), "{r}");
    assert!(r.stdout.contains("lease 192.168.110.12 "), "{r}");
}

/// Without any DHCP client the demo says so and configures the guests by hand (and still
/// passes) instead of reporting failed leases.
#[test]
fn demo_without_dhcp_client_sets_addresses_by_hand() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new();
    let path = path_without(&dir, &["udhcpc", "busybox"]);
    let r = demo(&[("PATH", &path)]);
    assert!(r.stdout.contains("no DHCP client"), "{r}");
    assert!(
        r.stdout
            .contains("node-1   address set by hand (192.168.110.11)"),
        "{r}"
    );
    assert!(!r.stdout.contains("got no lease"), "{r}");
}

/// Runs `hvnet demo` with `env`; asserts it passed, re-applied without change and left
/// nothing behind (processes, links, chains, its namespaces, state).
fn demo(env: &[(&str, &str)]) -> Run {
    // (Other demo tests run in parallel: only this run's namespaces must be gone.)
    let r = hvnet_run(&["demo"], env);
    r.ok();
    assert!(r.stdout.contains("all checks passed"), "{r}");
    assert!(
        r.stdout.contains("no changes"),
        "the re-apply changed something\n{r}"
    );
    // down left nothing running.
    assert!(r.stdout.contains("dnsmasq of demo"), "{r}");
    assert!(
        r.stdout
            .contains("no hvnet links, dnsmasq or firewall chains left"),
        "{r}"
    );

    // The namespaces it announced are gone.
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
    r
}
