//! The Xen hotplug is one journaled transaction: a fault at any op leaves the host as it
//! was, and a SIGKILL at any moment is rolled back by the next call, which then does the
//! whole work (issue "one engine": "a Xen online" in the crash test).
//!
//! The call under test touches every kind of op the hotplug has: a routed `-emu` tap with a
//! `vifname` (rename), two `ip` entries (address, routes, proxy_arp, ip_forward, the vif's
//! firewall guard) and a `rate` (IFB, tbf, ingress redirect). The kill delays come from a
//! seeded generator; the seed is printed (`HVNET_CRASH_SEED` replays a run).

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Call, Netns, TempDir, Xenstored};

const HOST: &str = "192.168.1.20";

struct World {
    xs: Xenstored,
    host: Netns,
    locks: TempDir,
}

impl World {
    /// A host with uplink `up0` (192.168.1.20/24, default route), a QEMU tap `vif5.0-emu`
    /// and its backend keys: routed, renamed to `web0-emu`, two ip entries, a rate.
    fn new() -> World {
        let host = Netns::new();
        host.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "out0"]);
        host.ip(&["addr", "add", &format!("{HOST}/24"), "dev", "up0"]);
        host.ip(&["link", "set", "up0", "up"]);
        host.ip(&["link", "set", "out0", "up"]);
        host.ip(&["route", "add", "default", "via", "192.168.1.1"]);
        host.fake_tap("vif5.0-emu");
        let xs = Xenstored::start();
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
        World {
            xs,
            host,
            locks: TempDir::new(),
        }
    }

    fn call<'a>(&'a self, env: &'a [(&'a str, &'a str)]) -> Call<'a> {
        Call {
            xs: &self.xs,
            ns: &self.host,
            lock_dir: &self.locks.0,
            ids: (5, 0),
            tap: true,
            argv0: None,
            env,
        }
    }

    /// What the hotplug may change, without indexes or counters: links (name, master, up),
    /// IPv4 addresses and routes, qdiscs, the vif rules of both tables, proxy_arp of the
    /// tap under either name, and the journal.
    fn snapshot(&self) -> String {
        let mut s = String::new();
        let links: serde_json::Value =
            serde_json::from_str(&self.host.exec_ok(&["ip", "-j", "link", "show"])).unwrap();
        let mut names: Vec<String> = links
            .as_array()
            .unwrap()
            .iter()
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
                s.push_str(line.split(" valid_lft").next().unwrap_or(line));
                s.push('\n');
            }
        }
        for dev in ["vif5.0-emu", "web0-emu"] {
            if self.host.link(dev).is_some() {
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
        let journal = self.locks.0.join("hvnet-xen/journal").exists();
        s.push_str(&format!("journal: {journal}\n"));
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

/// The reference: a clean `add` and `remove` (with the states before, between and after).
fn reference() -> (String, String, String) {
    let w = World::new();
    let before = w.snapshot();
    ok(&w.call(&[]).run("add"), "add");
    let added = w.snapshot();
    ok(&w.call(&[]).run("remove"), "remove");
    (before, added, w.snapshot())
}

#[test]
fn a_fault_at_every_op_of_an_emu_tap_add_leaves_the_host_as_it_was() {
    require_env!();
    let (before, added, removed) = reference();
    assert!(added.contains("link web0-emu master=- up=true"), "{added}");
    assert!(added.contains("10.99.2.0/28 dev web0-emu"), "{added}");
    assert!(added.contains("filter vif rules: 6"), "{added}");
    // Nothing of hvnet's in the firewall once the only vif is gone.
    assert!(
        removed.contains("filter vif rules: 0, HVNET-X* lines: 0"),
        "{removed}"
    );
    assert!(
        removed.contains("nat vif rules: 0, HVNET-X* lines: 0"),
        "{removed}"
    );
    assert!(added.contains("link hvi"), "the IFB: {added}");
    // How many ops the add has: a fault beyond the last changes nothing.
    let mut k = 1;
    loop {
        let w = World::new();
        assert_eq!(w.snapshot(), before);
        let at = k.to_string();
        let env = [("HVNET_FAULT_AT", at.as_str())];
        let out = w.call(&env).run("add");
        if out.status.success() {
            assert_eq!(w.snapshot(), added, "fault at {k} is past the last op");
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("injected fault"), "fault at {k}: {err}");
        assert!(err.contains("rolled back"), "fault at {k}: {err}");
        assert_eq!(
            w.xs.read("/local/domain/0/backend/vif/5/0/hotplug-status")
                .as_deref(),
            Some("error"),
            "fault at {k}"
        );
        assert_eq!(w.snapshot(), before, "fault at op {k} was not rolled back");
        // And the next call does the whole work.
        ok(&w.call(&[]).run("add"), "add after a fault");
        assert_eq!(w.snapshot(), added, "add after a fault at {k}");
        ok(&w.call(&[]).run("remove"), "remove");
        assert_eq!(w.snapshot(), removed, "remove after a fault at {k}");
        k += 1;
        assert!(k < 40, "the add never finished");
    }
    println!(
        "the add has {} op(s); a fault at each was rolled back",
        k - 1
    );
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
    let (before, added, removed) = reference();
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
    let w = World::new();
    assert_eq!(w.snapshot(), before);
    for i in 0..30 {
        // A hotplug call takes ~5–15 ms here; kill anywhere in 0–12 ms.
        let delay = Duration::from_micros(rng.next() % 12_000);
        let mut child = w
            .call(&[])
            .command("add")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let context = format!("try {i}: killed after {delay:?} (seed {seed})");
        if w.locks.0.join("hvnet-xen/journal").exists() {
            journal_left += 1;
        }
        ok(&w.call(&[]).run("add"), &context);
        assert_eq!(w.snapshot(), added, "{context}");
        ok(&w.call(&[]).run("remove"), &context);
        assert_eq!(w.snapshot(), removed, "{context}");
    }
    println!("30 kills, {journal_left} left a transaction in the journal; all recovered");
}
