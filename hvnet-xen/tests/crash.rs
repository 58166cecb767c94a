//! The Xen hotplug is one journaled transaction: a fault at any op leaves the host as it
//! was, and a SIGKILL at any moment is rolled back by the next call, which then does the
//! whole work (issue "one engine": "a Xen online" in the crash test).
//!
//! Three calls touch every kind of op the hotplug has: a routed `-emu` tap `add` with a
//! `vifname` (rename), two `ip` entries (address, routes, proxy_arp, ip_forward, the vif's
//! firewall guard) and a `rate` (IFB, tbf, ingress redirect); a NAT vif `online` (router
//! address, masquerade, the dnsmasq hostsfile entry); a bridged vif `online` with `vifname`,
//! `mtu` and `ip` (host MAC, MTU, attach, bridged anti-spoofing). The kill delays come from
//! a seeded generator; the seed is printed (`HVNET_CRASH_SEED` replays a run).

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Call, Netns, TempDir, Xenstored};

const HOST: &str = "192.168.1.20";

/// Which call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// A routed `-emu` tap `add`: renamed to `web0-emu`, two ip entries, a rate.
    RoutedTap,
    /// A NAT vif `online` (default 10.0.5.1 addressing, a hostsfile entry).
    NatVif,
    /// A bridged vif `online` on `xenbr0`, renamed to `web0`, mtu 1400, one ip entry.
    BridgedVif,
}

impl Case {
    fn action(self) -> (&'static str, &'static str) {
        match self {
            Case::RoutedTap => ("add", "remove"),
            _ => ("online", "offline"),
        }
    }
}

struct World {
    xs: Xenstored,
    host: Netns,
    locks: TempDir,
    case: Case,
    hosts_file: std::path::PathBuf,
    /// The guards' firewall backend (`HVNET_FIREWALL`).
    fw: &'static str,
}

impl World {
    /// A host with uplink `up0` (192.168.1.20/24, default route), a bridge `xenbr0`, the
    /// case's device and backend keys; the guards in backend `fw`.
    fn new(case: Case, fw: &'static str) -> World {
        let host = Netns::new();
        host.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "out0"]);
        host.ip(&["addr", "add", &format!("{HOST}/24"), "dev", "up0"]);
        host.ip(&["link", "set", "up0", "up"]);
        host.ip(&["link", "set", "out0", "up"]);
        host.ip(&["route", "add", "default", "via", "192.168.1.1"]);
        host.bridge("xenbr0", 1500);
        let xs = Xenstored::start();
        match case {
            Case::RoutedTap => {
                host.fake_tap("vif5.0-emu");
                xs.add_vif(
                    5,
                    0,
                    None,
                    &[
                        ("script", "/etc/xen/scripts/vif-route"),
                        ("ip", "10.99.0.5 10.99.2.0/28"),
                        ("vifname", "web0"),
                        ("type", "vif_ioemu"),
                        ("rate", "250000,20000"),
                    ],
                );
            }
            Case::NatVif => {
                host.fake_vif("vif5.0");
                xs.add_vif(5, 0, None, &[("script", "/etc/xen/scripts/vif-nat")]);
            }
            Case::BridgedVif => {
                host.fake_vif("vif5.0");
                host.ip(&["link", "set", "vif5.0", "up"]);
                xs.add_vif(
                    5,
                    0,
                    Some("xenbr0"),
                    &[("vifname", "web0"), ("mtu", "1400"), ("ip", "10.99.0.5")],
                );
            }
        }
        let locks = TempDir::new();
        let hosts_file = locks.0.join("dhcp-hosts");
        // Someone else's entry, which must survive everything.
        std::fs::write(&hosts_file, "00:16:3e:00:09:00,10.0.9.1,dom9\n").unwrap();
        World {
            xs,
            host,
            locks,
            case,
            hosts_file,
            fw,
        }
    }

    fn call<'a>(&'a self, env: &'a [(&'a str, &'a str)]) -> Call<'a> {
        Call {
            xs: &self.xs,
            ns: &self.host,
            lock_dir: &self.locks.0,
            ids: (5, 0),
            tap: self.case == Case::RoutedTap,
            argv0: None,
            env,
        }
    }

    /// Runs the case's up (`true`) or down call with extra environment.
    fn run(&self, up: bool, env: &[(&str, &str)]) -> Output {
        let (on, off) = self.case.action();
        let hosts = self.hosts_file.to_str().unwrap();
        let mut all = vec![("HVNET_XEN_DHCP_HOSTS", hosts), ("HVNET_FIREWALL", self.fw)];
        all.extend_from_slice(env);
        self.call(&all).run(if up { on } else { off })
    }

    /// What the hotplug may change, without indexes or counters: links (name, master, up),
    /// IPv4 addresses and routes, qdiscs, the vif rules of both tables, proxy_arp of the
    /// tap under either name, and the journal.
    /// Whether the journal holds a transaction (between transactions it is empty or absent).
    fn journal_pending(&self) -> bool {
        std::fs::read(self.locks.0.join("hvnet-xen/journal")).is_ok_and(|j| !j.is_empty())
    }

    fn snapshot(&self) -> String {
        let mut s = String::new();
        let links: serde_json::Value =
            serde_json::from_str(&self.host.exec_ok(&["ip", "-j", "link", "show"])).unwrap();
        let mut names: Vec<String> = links
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                // The fake vifs' peers have per-test names.
                let n = l["ifname"].as_str().unwrap();
                !(n.starts_with('p') && n.contains('-'))
            })
            .map(|l| {
                let up = l["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f.as_str() == Some("UP"));
                format!(
                    "link {} master={} up={up}",
                    l["ifname"].as_str().unwrap(),
                    l["master"].as_str().unwrap_or("-")
                )
            })
            .collect();
        names.sort();
        s.push_str(&names.join("\n"));
        s.push('\n');
        for cmd in [
            &["ip", "-4", "-o", "addr", "show"][..],
            &["ip", "-4", "route", "show", "table", "main"][..],
        ] {
            let out = self.host.exec_ok(cmd);
            // Without interface indexes (`ip -o addr` starts with them).
            for line in out.lines() {
                let line = line.split_once(": ").map_or(line, |(_, rest)| rest);
                let line = line.split(" brd ").next().unwrap_or(line);
                s.push_str(line.split(" valid_lft").next().unwrap_or(line));
                s.push('\n');
            }
        }
        for dev in ["vif5.0-emu", "web0-emu", "vif5.0", "web0"] {
            if let Some(l) = self.host.link(dev) {
                // A new link's MAC is random: only hvnet's fixed one is compared.
                let mac = if l.mac == "fe:ff:ff:ff:ff:ff" {
                    "host"
                } else {
                    "own"
                };
                s.push_str(&format!("{dev} mtu {} mac {mac}\n", l.mtu));
                // hvnet's qdiscs only: a link that was up once keeps the kernel's default.
                let tc = self.host.exec_ok(&["tc", "qdisc", "show", "dev", dev]);
                let ours = tc
                    .lines()
                    .filter(|l| l.contains("ingress") || l.contains("4856:"))
                    .count();
                s.push_str(&format!("{dev} hvnet qdiscs: {ours}\n"));
                let pa = self
                    .host
                    .exec_ok(&["cat", &format!("/proc/sys/net/ipv4/conf/{dev}/proxy_arp")]);
                s.push_str(&format!("{dev} proxy_arp {}", pa));
            }
        }
        for table in ["filter", "nat"] {
            let rules = self.host.exec_ok(&["iptables", "-w", "-t", table, "-S"]);
            let n = rules.lines().filter(|l| l.contains("hvnet-xen:")).count();
            let chains = rules.lines().filter(|l| l.contains("HVNET-X")).count();
            s.push_str(&format!(
                "{table} vif rules: {n}, HVNET-X* lines: {chains}\n"
            ));
        }
        let tables = self.host.exec_ok(&["nft", "list", "tables"]);
        for fam in ["bridge", "inet"] {
            if tables.contains(&format!("table {fam} hvnet_xen")) {
                let t = ["nft", "-s", "list", "table", fam, "hvnet_xen"];
                s.push_str(&self.host.exec_ok(&t));
            }
        }
        s.push_str(&format!("journal pending: {}\n", self.journal_pending()));
        let hosts = std::fs::read_to_string(&self.hosts_file).unwrap_or_default();
        s.push_str(&format!("dhcp hosts:\n{hosts}"));
        s
    }
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The reference: a clean up and down call (with the states before, between and after).
fn reference(case: Case, fw: &'static str) -> (String, String, String) {
    let w = World::new(case, fw);
    let before = w.snapshot();
    ok(&w.run(true, &[]), "up");
    let added = w.snapshot();
    ok(&w.run(false, &[]), "down");
    (before, added, w.snapshot())
}

/// A fault at each op of the case's up call leaves the host as it was, reports the error
/// in xenstore, and the next call does the whole work. Returns the number of ops.
fn fault_at_every_op(case: Case, fw: &'static str) -> usize {
    let (before, added, removed) = reference(case, fw);
    let mut k = 1;
    loop {
        let w = World::new(case, fw);
        assert_eq!(w.snapshot(), before);
        let at = k.to_string();
        let out = w.run(true, &[("HVNET_FAULT_AT", at.as_str())]);
        if out.status.success() {
            assert_eq!(
                w.snapshot(),
                added,
                "{case:?}: fault at {k} is past the last op"
            );
            return k - 1;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("injected fault"),
            "{case:?} fault at {k}: {err}"
        );
        assert!(err.contains("rolled back"), "{case:?} fault at {k}: {err}");
        assert_eq!(
            w.xs.read("/local/domain/0/backend/vif/5/0/hotplug-status")
                .as_deref(),
            Some("error"),
            "{case:?}: fault at {k}"
        );
        assert_eq!(
            w.snapshot(),
            before,
            "{case:?}: fault at op {k} was not rolled back"
        );
        ok(&w.run(true, &[]), "up after a fault");
        assert_eq!(w.snapshot(), added, "{case:?}: up after a fault at {k}");
        ok(&w.run(false, &[]), "down");
        assert_eq!(w.snapshot(), removed, "{case:?}: down after a fault at {k}");
        k += 1;
        assert!(k < 40, "{case:?}: the call never finished");
    }
}

#[test]
fn a_fault_at_every_op_of_an_emu_tap_add_leaves_the_host_as_it_was() {
    require_env!();
    let (_, added, removed) = reference(Case::RoutedTap, "iptables");
    assert!(added.contains("link web0-emu master=- up=true"), "{added}");
    assert!(added.contains("10.99.2.0/28 dev web0-emu"), "{added}");
    assert!(added.contains("filter vif rules: 6"), "{added}");
    assert!(added.contains("link hvi"), "the IFB: {added}");
    // Nothing of hvnet's in the firewall once the only vif is gone.
    assert!(
        removed.contains("filter vif rules: 0, HVNET-X* lines: 0"),
        "{removed}"
    );
    assert!(
        removed.contains("nat vif rules: 0, HVNET-X* lines: 0"),
        "{removed}"
    );
    let n = fault_at_every_op(Case::RoutedTap, "iptables");
    println!("the routed tap add has {n} op(s); a fault at each was rolled back");
}

#[test]
fn a_fault_at_every_op_of_a_nat_online_leaves_the_host_and_the_hostsfile_as_they_were() {
    require_env!();
    let (before, added, removed) = reference(Case::NatVif, "iptables");
    assert!(added.contains("00:16:3e:00:05:00,10.0.5.1,dom5"), "{added}");
    assert!(added.contains("nat vif rules: 1"), "{added}");
    assert_eq!(before, removed);
    let n = fault_at_every_op(Case::NatVif, "iptables");
    println!("the nat online has {n} op(s); a fault at each was rolled back");
}

#[test]
fn a_fault_at_every_op_of_a_bridged_online_leaves_the_host_as_it_was() {
    require_env!();
    let (_, added, _) = reference(Case::BridgedVif, "iptables");
    assert!(added.contains("link web0 master=xenbr0 up=true"), "{added}");
    assert!(added.contains("web0 mtu 1400 mac host"), "{added}");
    let n = fault_at_every_op(Case::BridgedVif, "iptables");
    println!("the bridged online has {n} op(s); a fault at each was rolled back");
}

/// The three cases with the guards in nftables (`table inet|bridge hvnet_xen`): a fault
/// at each op leaves them as they were too.
#[test]
fn a_fault_at_every_op_with_nftables_guards_leaves_the_host_as_it_was() {
    require_env!();
    for (case, table) in [
        (Case::RoutedTap, "table inet hvnet_xen"),
        (Case::NatVif, "table inet hvnet_xen"),
        (Case::BridgedVif, "table bridge hvnet_xen"),
    ] {
        let (_, added, removed) = reference(case, "nftables");
        assert!(added.contains(table), "{case:?}: {added}");
        assert!(added.contains("filter vif rules: 0"), "{case:?}: {added}");
        assert!(!removed.contains("hvnet_xen"), "{case:?}: {removed}");
        let n = fault_at_every_op(case, "nftables");
        println!("{case:?} with nftables: {n} op(s); a fault at each was rolled back");
    }
}

/// xorshift64*, seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn sigkill_at_random_moments_of_an_emu_tap_add_is_recovered_by_the_next_call() {
    require_env!();
    let (before, added, removed) = reference(Case::RoutedTap, "iptables");
    let seed = std::env::var("HVNET_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("HVNET_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut journal_left = 0;
    // One world for all tries: after each kill, the next add must succeed and the remove
    // must bring the host back to where it started.
    let w = World::new(Case::RoutedTap, "iptables");
    assert_eq!(w.snapshot(), before);
    for i in 0..30 {
        // A hotplug call takes ~5–15 ms here; kill anywhere in 0–12 ms.
        let delay = Duration::from_micros(rng.next() % 12_000);
        let hosts = w.hosts_file.to_str().unwrap();
        let mut child = w
            .call(&[("HVNET_XEN_DHCP_HOSTS", hosts)])
            .command("add")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let context = format!("try {i}: killed after {delay:?} (seed {seed})");
        if w.journal_pending() {
            journal_left += 1;
        }
        ok(&w.run(true, &[]), &context);
        assert_eq!(w.snapshot(), added, "{context}");
        ok(&w.run(false, &[]), &context);
        assert_eq!(w.snapshot(), removed, "{context}");
    }
    println!("30 kills, {journal_left} left a transaction in the journal; all recovered");
}
