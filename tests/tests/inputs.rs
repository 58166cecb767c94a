//! Inputs as users, the kernel and the tools really give them (issue 15): what `validate`
//! accepts `apply` does, in one go and for good (a re-apply writes nothing); QEMU's hook
//! takes only taps that are nobody else's; diagnostics stay located and on one line.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use hvnet_tests::*;

fn master(ns: &str, dev: &str) -> Option<String> {
    must_link(ns, dev)["master"].as_str().map(str::to_string)
}

/// apply, then `check` must exit 0 and a second apply must write nothing.
fn assert_converges(hv: &Hv, cfg: &std::path::Path, what: &str) {
    let first = hv.run(cfg, &["apply"]);
    first.ok();
    let check = hv.run(cfg, &["check"]);
    assert_eq!(check.code, 0, "{what}: check after apply: {check}");
    let again = hv.run(cfg, &["apply"]);
    again.ok();
    assert!(
        again.stdout.contains("no changes ("),
        "{what}: the second apply wrote: {again}"
    );
}

#[test]
fn values_the_kernel_normalises_converge() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("converge");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    // A nat network needs a way out.
    ns.ip(&["route", "add", "default", "dev", "lo"]);
    let guest = "[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\nip = \"10.77.0.7\"\n[[guest.forward]]\nhost_port = 8080\n";
    for (what, net) in [
        // iptables prints --to-ports 65535 for a range of one port.
        (
            "nat_ports of one port",
            "kind = \"nat\"\naddress = \"10.77.0.1/24\"\nnat_ports = \"65535-65535\"\n",
        ),
        // iptables -S drops "-s 0.0.0.0/0".
        ("a routed /0", "kind = \"routed\"\naddress = \"10.77.0.1/0\"\n"),
        // The bucket is compared in the kernel's 64 ns ticks.
        (
            "a tbf of an odd rate and burst",
            "kind = \"routed\"\naddress = \"10.77.0.1/24\"\nrate = { egress = \"123457bit\", burst = \"3001\" }\n",
        ),
    ] {
        let cfg = dir.write(
            "c.toml",
            &format!("[[network]]\nname = \"n\"\nbridge = \"br-conv\"\n{net}{guest}"),
        );
        assert_converges(&hv, &cfg, what);
        hv.run(&cfg, &["down"]).ok();
    }
}

#[test]
fn a_live_rate_the_kernel_cannot_hold_is_refused() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("liverate");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let cfg = dir.write(
        "c.toml",
        "[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br-l\"\n\
         [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\n",
    );
    hv.apply(&cfg);
    let before = settled_snapshot(ns.name());
    let r = hv.run(&cfg, &["rate", "g", "0", "8bit"]);
    r.expect_code(2);
    assert!(r.stderr.contains("lasts 16384 s at 8bit"), "{r}");
    assert_snapshot(ns.name(), &before, &"hvnet rate 8bit");
}

#[test]
fn a_missing_veth_namespace_is_refused_before_any_write() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("vethns");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let h = ns.name();
    let missing = unique("nosuch");
    let cfg = dir.write(
        "c.toml",
        &format!(
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br-v\"\naddress = \"10.78.0.1/24\"\n\
             [[guest]]\nname = \"box\"\n[[guest.nic]]\nnetwork = \"n\"\ntype = \"veth\"\nnetns = \"{missing}\"\n"
        ),
    );
    let before = settled_snapshot(h);
    for cmd in [&["apply"][..], &["plan"], &["guest", "up", "box"]] {
        let r = hv.run(&cfg, cmd);
        r.expect_code(2);
        let at = format!(
            "{}:11:9: guest[0].nic[0].netns: network namespace",
            cfg.display()
        );
        assert!(r.stderr.contains(&at), "{cmd:?}: {r}");
    }
    assert_snapshot(h, &before, &"apply with a missing veth namespace");
}

/// The config of the QEMU hook tests: one guest NIC by name, on a dynamic bridge.
const KVM: &str = r#"
[[network]]
name = "vm"
kind = "internal"
bridge = "vmbr"
lifetime = "dynamic"

[[guest]]
name = "q"
[[guest.nic]]
network = "vm"
ifname = "qtap0"
mac = "52:54:00:00:0c:01"
"#;

#[test]
fn kvm_ifup_takes_only_a_tap_that_is_nobody_elses() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("adopt");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let cfg = dir.write("c.toml", KVM);
    let h = ns.name();
    ns.ip(&["link", "add", "userbr", "type", "bridge"]);
    let cases: [(&str, &[&[&str]], &str); 3] = [
        (
            "enslaved to the user's bridge",
            &[&["link", "set", "qtap0", "master", "userbr"]],
            "is a port of bridge \"userbr\"",
        ),
        (
            "with the user's qdisc",
            &[],
            "has a root qdisc hvnet did not put there",
        ),
        (
            "tagged by another owner",
            &[&["link", "set", "qtap0", "alias", "hvnet:someone"]],
            "belongs to hvnet:someone",
        ),
    ];
    for (what, setup, msg) in cases {
        ns.ip(&["tuntap", "add", "dev", "qtap0", "mode", "tap"]);
        for args in setup {
            ns.ip(args);
        }
        if what == "with the user's qdisc" {
            ns.exec(
                "tc",
                &[
                    "qdisc", "add", "dev", "qtap0", "root", "handle", "5:", "tbf", "rate", "1mbit",
                    "burst", "10k", "latency", "50ms",
                ],
            );
        }
        let before = settled_snapshot(h);
        let r = hv.run(&cfg, &["kvm", "ifup", "qtap0"]);
        r.expect_code(2);
        assert!(r.stderr.contains(msg), "{what}: {r}");
        assert_snapshot(h, &before, &format!("kvm ifup of a tap {what}"));
        ns.ip(&["link", "del", "qtap0"]);
    }
}

#[test]
fn a_second_tap_for_a_nic_replaces_the_first() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("retap");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let h = ns.name();
    // The NIC is found by MAC (libvirt's way): no ifname in the config.
    let cfg = dir.write(
        "c.toml",
        "[[network]]\nname = \"vm\"\nkind = \"internal\"\nbridge = \"vmbr\"\n\
         [[guest]]\nname = \"q\"\n[[guest.nic]]\nnetwork = \"vm\"\nmac = \"52:54:00:00:0c:01\"\n",
    );
    for tap in ["tapold", "tapnew"] {
        ns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]);
        ns.ip(&["link", "set", tap, "address", "fe:54:00:00:0c:01"]);
        hv.run(&cfg, &["kvm", "ifup", tap]).ok();
    }
    assert_eq!(master(h, "tapnew").as_deref(), Some("vmbr"));
    assert_eq!(master(h, "tapold"), None, "the old tap is still a port");
    let with_mac: Vec<String> = links(h)
        .iter()
        .filter(|l| l["master"] == "vmbr" && l["address"] == "fe:54:00:00:0c:01")
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(with_mac, ["tapnew"]);
    // A port with that MAC that is not the guest's is left alone: exit 2, nothing moved.
    ns.ip(&["link", "set", "tapold", "alias", "user's"]);
    ns.ip(&["link", "set", "tapold", "master", "vmbr"]);
    ns.ip(&["tuntap", "add", "dev", "tapthird", "mode", "tap"]);
    ns.ip(&["link", "set", "tapthird", "address", "fe:54:00:00:0c:01"]);
    let before = settled_snapshot(h);
    let r = hv.run(&cfg, &["kvm", "ifup", "tapthird"]);
    r.expect_code(2);
    assert!(r.stderr.contains("already carries the MAC"), "{r}");
    assert_snapshot(h, &before, &"kvm ifup next to a foreign port with the MAC");
}

/// `hvnet -c - ARGS` with `stdin` as standard input.
fn hvnet_stdin(args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    let mut c = Command::new(hvnet_bin())
        .args(["-c", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = c.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_from_standard_input_and_diagnostics_on_one_line() {
    let good = b"[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br0\"\n";
    assert_eq!(hvnet_stdin(&["validate"], good).0, Some(0));
    // Not UTF-8: located at the first bad byte.
    let (code, err) = hvnet_stdin(&["validate"], b"[[network]]\nname = \"caf\xe9\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("<stdin>:2:12: network[0].name: invalid UTF-8: byte 0xe9"),
        "{err}"
    );
    // A newline in a name stays escaped: one problem, one line.
    let (code, err) = hvnet_stdin(
        &["validate"],
        b"[[network]]\nname = \"a\\nb\"\nkind = \"internal\"\nbridge = \"br0\"\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"x\\ny\"\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 2, "{err}");
    assert!(err.contains("\"a\\nb\""), "{err}");
}

#[test]
fn leases_skip_bad_lines_and_refuse_what_is_not_a_file() {
    let dir = TempDir::new();
    let cfg = dir.write(
        "c.toml",
        "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n[network.dhcp]\n",
    );
    let state = dir.path().join("state");
    let net = state.join("net").join("n");
    std::fs::create_dir_all(&net).unwrap();
    let leases = net.join("leases");
    let args = [
        "-c",
        cfg.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "leases",
    ];
    std::fs::write(
        &leases,
        b"1795456800 52:54:00:00:00:01 10.0.0.5 web *\n1795456800 52:54:00:00:00:02 10.0.0.6 w\xffb *\n",
    )
    .unwrap();
    let r = hvnet_run(&args, &[]);
    r.ok();
    assert!(r.stdout.contains("10.0.0.5/24"), "{r}");
    assert!(
        r.stderr
            .contains("leases:2: skipped: the line is not UTF-8"),
        "{r}"
    );
    // A FIFO must not hang it, /dev/zero must not be read forever.
    std::fs::remove_file(&leases).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&leases)
        .status()
        .unwrap()
        .success());
    let r = hvnet_run(&args, &[]);
    r.expect_code(1);
    assert!(r.stderr.contains("not a regular file"), "{r}");
    std::fs::remove_file(&leases).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &leases).unwrap();
    let r = hvnet_run(&args, &[]);
    r.expect_code(1);
    assert!(r.stderr.contains("not a regular file"), "{r}");
}
