//! Crash safety on a real kernel: `hvnet` killed with SIGKILL at random moments of `apply`
//! (from scratch and of a change), `down` and `guest up`; after every kill the next
//! mutating command must roll the half-done transaction back and succeed, `check` must then
//! find the host in sync, and `down` must leave nothing of hvnet's: no link, no daemon, no
//! firewall chain, every sysctl as before the first apply.
//!
//! The delays are drawn from a seeded generator; the seed is printed (set `HVNET_CRASH_SEED`
//! to replay a run). After some kills the state directory loses more: dnsmasq's pid file
//! (deleted or garbled) or the journal itself.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvnet_tests::*;

/// A nat network with DHCP (dnsmasq), a port forward (both firewall tables), rate limits
/// (IFBs, tbfs, redirects), an isolated network and a dynamic bridge.
const A: &str = r#"
[[network]]
name = "cnat"
kind = "nat"
bridge = "cbr0"
address = "172.31.7.1/24"
uplink = "up0"
[network.dhcp]

[[network]]
name = "ciso"
kind = "isolated"
bridge = "cbr1"
address = "172.31.8.1/24"

[[network]]
name = "cdyn"
kind = "internal"
bridge = "cdyn0"
lifetime = "dynamic"

[[guest]]
name = "web"
[[guest.nic]]
network = "cnat"
ip = "172.31.7.10"
rate = "10mbit"
[[guest.forward]]
host_port = 8080
guest_port = 80

[[guest]]
name = "db"
[[guest.nic]]
network = "ciso"
rate = { egress = "5mbit" }
[[guest.nic]]
network = "cdyn"
"#;

/// A changed A: one guest gone, one added, a rate and the forward changed.
const B: &str = r#"
[[network]]
name = "cnat"
kind = "nat"
bridge = "cbr0"
address = "172.31.7.1/24"
uplink = "up0"
[network.dhcp]

[[network]]
name = "ciso"
kind = "isolated"
bridge = "cbr1"
address = "172.31.8.1/24"

[[guest]]
name = "web"
[[guest.nic]]
network = "cnat"
ip = "172.31.7.10"
rate = "20mbit"
[[guest.forward]]
host_port = 8081
guest_port = 80

[[guest]]
name = "cache"
[[guest.nic]]
network = "ciso"
"#;

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Host {
    ns: Netns,
    hv: Hv,
    dir: TempDir,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
}

impl Host {
    fn new() -> Host {
        let ns = Netns::new("crash");
        // The uplink: a veth whose peer stays in the namespace (no traffic is sent).
        ns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
        ns.ip(&["addr", "add", "10.251.0.1/24", "dev", "up0"]);
        ns.ip(&["link", "set", "up0", "up"]);
        ns.ip(&["link", "set", "up0p", "up"]);
        ns.ip(&["route", "add", "default", "via", "10.251.0.2", "dev", "up0"]);
        let dir = TempDir::new();
        let hv = Hv::new(&ns, &dir);
        let a = dir.write("a.toml", A);
        let b = dir.write("b.toml", B);
        Host { ns, hv, dir, a, b }
    }

    /// The hvnet command line for `args` with config `cfg`.
    fn argv(&self, cfg: &std::path::Path, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--netns".into(),
            self.ns.name().into(),
            "-c".into(),
            cfg.display().to_string(),
            "--state-dir".into(),
            self.hv.state_dir.as_ref().unwrap().display().to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// Starts hvnet, kills it with SIGKILL after `delay`; whether it was still running.
    fn kill_after(&self, cfg: &std::path::Path, args: &[&str], delay: Duration) -> bool {
        let mut child = Command::new(hvnet_bin())
            .args(self.argv(cfg, args))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("HVNET_FAULT_AT")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        running
    }

    /// Both tools' listings (see [`firewall_listing`]).
    fn firewall(&self) -> String {
        firewall_listing(self.ns.name())
    }

    fn ip_forward(&self) -> String {
        self.ns
            .exec("sysctl", &["-n", "net.ipv4.ip_forward"])
            .trim()
            .to_string()
    }

    /// Nothing of hvnet's is left: only the test's own links, no process in the
    /// namespace, no HVNET chain or rule, `ip_forward` as it was.
    fn assert_clean(&self, forward_before: &str, context: &str) {
        let names = link_names(self.ns.name());
        let want: std::collections::BTreeSet<String> = ["lo", "up0", "up0p"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names, want, "{context}: links left");
        let pids = Command::new("ip")
            .args(["netns", "pids", self.ns.name()])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&pids.stdout).trim().is_empty(),
            "{context}: processes left: {}",
            String::from_utf8_lossy(&pids.stdout)
        );
        let fw = self.firewall();
        assert!(!has_hvnet_firewall(&fw), "{context}: firewall left:\n{fw}");
        assert_eq!(self.ip_forward(), forward_before, "{context}: ip_forward");
    }
}

#[derive(Clone, Copy, Debug)]
enum Verb {
    ApplyFromScratch,
    ApplyChange,
    Down,
    GuestUp,
}

#[test]
fn sigkill_at_random_moments_is_recovered_by_the_next_command() {
    if !require_root() {
        return;
    }
    let seed = std::env::var("HVNET_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("HVNET_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let h = Host::new();
    let forward_before = h.ip_forward();
    let tries: usize = std::env::var("HVNET_CRASH_TRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(104);

    // How long each verb takes when not killed: the kills are spread over that. The
    // shortest of three runs, so that one slow run (cold caches, a busy machine) does not
    // put most kills after the end.
    let mut took = std::collections::BTreeMap::new();
    for verb in [
        Verb::ApplyFromScratch,
        Verb::ApplyChange,
        Verb::Down,
        Verb::GuestUp,
    ] {
        for _ in 0..3 {
            prepare(&h, verb);
            let (cfg, args) = command(&h, verb);
            let t0 = Instant::now();
            h.hv.run(cfg, &args).ok();
            let t = t0.elapsed();
            let best = took.entry(format!("{verb:?}")).or_insert(t);
            *best = (*best).min(t);
            finish(&h, &forward_before, &format!("{verb:?} unkilled"));
        }
    }
    println!("verb durations: {took:?}");

    let mut killed_running = 0;
    let mut recovered = 0;
    let verbs = [
        Verb::ApplyFromScratch,
        Verb::ApplyChange,
        Verb::Down,
        Verb::GuestUp,
    ];
    for i in 0..tries {
        let verb = verbs[i % verbs.len()];
        prepare(&h, verb);
        let (cfg, args) = command(&h, verb);
        let full = took[&format!("{verb:?}")];
        let delay = Duration::from_micros(rng.below(full.as_micros() as u64 + 1));
        let context = format!("try {i}: {verb:?} killed after {delay:?} (seed {seed})");
        if h.kill_after(cfg, &args, delay) {
            killed_running += 1;
        }
        // Sometimes the state directory loses more: dnsmasq's pid file deleted or garbled
        // (daemons are found in /proc), or the journal itself (links hvnet made are in the
        // pending group, chains are found by name: the next command still converges).
        let state = h.hv.state_dir.clone().unwrap();
        let pid_file = state.join("net/cnat/dnsmasq.pid");
        match rng.below(6) {
            0 => {
                let _ = std::fs::remove_file(&pid_file);
            }
            1 => {
                let _ = std::fs::write(&pid_file, "garbage\n");
            }
            2 => {
                let _ = std::fs::remove_file(state.join("journal"));
            }
            _ => {}
        }
        // The next mutating command recovers and does its work.
        let again = h.hv.run(cfg, &args);
        assert_eq!(again.code, 0, "{context}: the next command failed\n{again}");
        if again.stderr.contains("rolled back the interrupted") {
            recovered += 1;
        }
        if matches!(verb, Verb::ApplyFromScratch | Verb::ApplyChange) {
            let c = h.hv.run(cfg, &["check"]);
            assert_eq!(c.code, 0, "{context}: check\n{c}");
        }
        finish(&h, &forward_before, &context);
    }
    println!(
        "{tries} tries, {killed_running} killed while running, {recovered} interrupted transactions rolled back"
    );
    assert!(
        recovered > 0,
        "no kill hit a transaction: the test proves nothing"
    );
    assert!(
        killed_running * 2 >= tries,
        "most kills should hit a running hvnet ({killed_running} of {tries})"
    );
    drop(h.dir);
}

/// Brings the host to where `verb` starts from (from a clean host).
fn prepare(h: &Host, verb: Verb) {
    match verb {
        Verb::ApplyFromScratch => {}
        Verb::ApplyChange | Verb::Down => {
            h.hv.run(&h.a, &["apply"]).ok();
        }
        Verb::GuestUp => {
            h.hv.run(&h.a, &["apply"]).ok();
            h.hv.run(&h.a, &["guest", "down", "db"]).ok();
        }
    }
}

fn command(h: &Host, verb: Verb) -> (&std::path::Path, Vec<&'static str>) {
    match verb {
        Verb::ApplyFromScratch => (&h.a, vec!["apply"]),
        Verb::ApplyChange => (&h.b, vec!["apply"]),
        Verb::Down => (&h.a, vec!["down"]),
        Verb::GuestUp => (&h.a, vec!["guest", "up", "db"]),
    }
}

/// `down` of both configs, then the host must be clean.
fn finish(h: &Host, forward_before: &str, context: &str) {
    for cfg in [&h.a, &h.b] {
        let r = h.hv.run(cfg, &["down"]);
        assert_eq!(r.code, 0, "{context}: down\n{r}");
    }
    h.assert_clean(forward_before, context);
}

/// A failed firewall commit leaves the firewall as it was, on both backends: iptables with
/// `HVNET_FAULT_FIREWALL_TABLE=nat` (the nat batch fails after the filter batch committed,
/// which is undone), nftables with the same variable (the kernel refuses the one
/// transaction after the table's deletion was queued) — from nothing, and from another
/// config's rules.
#[test]
fn a_failure_between_the_firewall_tables_undoes_the_first() {
    if !require_root() {
        return;
    }
    for backend in ["iptables", "nftables"] {
        let tool = if backend == "iptables" {
            "iptables"
        } else {
            "nft"
        };
        if !on_path(tool) {
            println!("skipped {backend}: {tool} is not installed");
            continue;
        }
        let h = Host::new();
        let forward_before = h.ip_forward();
        let fault = [
            ("HVNET_FAULT_FIREWALL_TABLE", "nat"),
            ("HVNET_FIREWALL", backend),
        ];
        let r = h.hv.run_env(&h.a, &["apply"], &fault);
        assert_eq!(r.code, 1, "{backend}: {r}");
        h.assert_clean(
            &forward_before,
            &format!("{backend}: failed apply from scratch"),
        );

        let ok = [("HVNET_FIREWALL", backend)];
        h.hv.run_env(&h.a, &["apply"], &ok).ok();
        let before = h.firewall();
        assert!(
            before.contains("HVNET-DNAT") || before.contains("dnat4any"),
            "{backend}: {before}"
        );
        let r = h.hv.run_env(&h.b, &["apply"], &fault);
        assert_eq!(r.code, 1, "{backend}: {r}");
        assert_eq!(
            h.firewall(),
            before,
            "{backend}: the firewall was not put back"
        );
        h.hv.run_env(&h.a, &["check"], &ok).ok();
        h.hv.run_env(&h.a, &["down"], &ok).ok();
        h.assert_clean(
            &forward_before,
            &format!("{backend}: after the failed change"),
        );
    }
}

/// What a failed command must leave as it found: links (by name, masters by name), IPv4
/// addresses, qdiscs, the firewall, `ip_forward` and whether dnsmasq runs.
fn state_view(h: &Host) -> (Snapshot, String, String, String, bool) {
    let tc = h.ns.exec("tc", &["qdisc", "show"]);
    let mut tc: Vec<String> = tc
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // "refcnt N" counts users, not configuration.
            let mut out = Vec::new();
            let mut skip = false;
            for x in w {
                if skip {
                    skip = false;
                    continue;
                }
                if x == "refcnt" {
                    skip = true;
                    continue;
                }
                out.push(x);
            }
            out.join(" ")
        })
        .collect();
    tc.sort();
    let dnsmasq = Command::new("ip")
        .args(["netns", "pids", h.ns.name()])
        .output()
        .map(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
        .unwrap_or(false);
    // An IFB's MAC is random and unused: one recreated by a rollback gets another. Carrier
    // and operstate follow on the kernel's schedule (linkwatch), not hvnet's.
    let mut links = snapshot(h.ns.name()).without_ifindex();
    for v in links.0.values_mut() {
        let ifb = v["kind"] == "ifb";
        if let Some(o) = v.as_object_mut() {
            o.remove("operstate");
            if ifb {
                o.remove("address");
            }
            if let Some(f) = o.get_mut("flags").and_then(|f| f.as_array_mut()) {
                f.retain(|x| x != "LOWER_UP" && x != "NO-CARRIER");
            }
        }
    }
    (links, tc.join("\n"), h.firewall(), h.ip_forward(), dnsmasq)
}

/// `HVNET_FAULT_AT=k` at every op of `down`, `guest up` and `guest down`: each exits 1 and
/// leaves the host as it was (links recreated by the rollback get new indexes).
#[test]
fn a_fault_at_every_op_of_down_and_guest_verbs_rolls_back() {
    if !require_root() {
        return;
    }
    let h = Host::new();
    let forward_before = h.ip_forward();
    let verbs: [(&str, &[&str]); 3] = [
        ("down", &["down"]),
        ("guest up", &["guest", "up", "db"]),
        ("guest down", &["guest", "down", "db"]),
    ];
    let mut tried = 0;
    for (what, args) in verbs {
        let prepare = || {
            h.hv.apply(&h.a);
            if what == "guest up" {
                h.hv.run(&h.a, &["guest", "down", "db"]).ok();
            }
        };
        prepare();
        let mut dry: Vec<&str> = args.to_vec();
        dry.push("--dry-run");
        let n = h.hv.run(&h.a, &dry).ok().stdout.lines().count();
        assert!(n >= 3, "{what}: {n} ops");
        for k in 1..=n {
            prepare();
            let before = state_view(&h);
            let kk = k.to_string();
            let r = h.hv.run_env(&h.a, args, &[("HVNET_FAULT_AT", &kk)]);
            assert_eq!(r.code, 1, "{what} with a fault at op {k}\n{r}");
            let after = state_view(&h);
            let context = format!("{what}: fault at op {k} of {n}");
            assert_eq!(before.0.diff(&after.0), "", "{context}: links changed\n{r}");
            assert_eq!(before.1, after.1, "{context}: qdiscs changed");
            assert_eq!(before.2, after.2, "{context}: firewall changed");
            assert_eq!(before.3, after.3, "{context}: ip_forward changed");
            assert_eq!(before.4, after.4, "{context}: dnsmasq");
            tried += 1;
        }
        finish(&h, &forward_before, what);
    }
    println!("{tried} injected faults rolled back");
}

/// A link hvnet created but was killed before tagging sits untagged in the pending device
/// group (26742): `apply` adopts it when the config wants it and deletes it otherwise, even
/// without the journal that names it; an untagged link outside that group stays foreign.
#[test]
fn untagged_links_in_the_pending_group_are_hvnets() {
    if !require_root() {
        return;
    }
    let h = Host::new();
    let forward_before = h.ip_forward();
    // As a killed hvnet leaves them: created in the pending group, never tagged.
    h.ns.ip(&["link", "add", "cbr1", "group", "26742", "type", "bridge"]);
    h.ns.ip(&["link", "add", "stray0", "group", "26742", "type", "bridge"]);
    h.hv.apply(&h.a);
    let cbr1 = must_link(h.ns.name(), "cbr1");
    assert_eq!(cbr1["ifalias"], "hvnet:ciso", "{cbr1}");
    assert_eq!(cbr1["group"], "default", "{cbr1}");
    assert!(
        link(h.ns.name(), "stray0").is_none(),
        "the stray pending link stays"
    );
    h.hv.run(&h.a, &["check"]).ok();
    // A foreign untagged link with a wanted name is still refused.
    finish(&h, &forward_before, "after adoption");
    h.ns.ip(&["link", "add", "cbr1", "type", "bridge"]);
    let r = h.hv.run(&h.a, &["apply"]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("not owned by hvnet"), "{r}");
    h.ns.ip(&["link", "del", "cbr1"]);
}

/// `hvnet rate` on a guest whose links are down refuses (exit 1) and creates nothing; on a
/// guest that is up it touches only that NIC's shaping, also with its network's bridge gone.
#[test]
fn rate_never_resurrects_a_guest() {
    if !require_root() {
        return;
    }
    let h = Host::new();
    let forward_before = h.ip_forward();
    h.hv.apply(&h.a);
    h.hv.run(&h.a, &["guest", "down", "web"]).ok();
    let before = link_names(h.ns.name());
    let r = h.hv.run(&h.a, &["rate", "web", "0", "5mbit"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("guest web is down; `hvnet guest up web` first"),
        "{r}"
    );
    assert_eq!(link_names(h.ns.name()), before, "rate created links");
    h.hv.run(&h.a, &["guest", "up", "web"]).ok();
    // Its network's bridge deleted behind hvnet's back: the rate still only retunes.
    h.ns.ip(&["link", "del", "cbr0"]);
    let r = h.hv.run(&h.a, &["rate", "web", "0", "5mbit"]);
    assert_eq!(r.code, 0, "{r}");
    // Both directions retuned in the kernel: the tap's tbf and its IFB's, 5 Mbit/s each.
    let rates = tbf_rates(&h, "hvnet:web");
    assert_eq!(rates.len(), 2, "{rates:?}");
    assert!(rates.iter().all(|(_, r)| *r == 625_000), "{rates:?}");
    assert!(
        link(h.ns.name(), "cbr0").is_none(),
        "rate recreated the bridge"
    );
    finish(&h, &forward_before, "rate");
}

/// The root tbf rate (bytes/s) of every link tagged `alias`, as `tc -j` reports it.
fn tbf_rates(h: &Host, alias: &str) -> Vec<(String, u64)> {
    links_with_alias(h.ns.name(), alias)
        .iter()
        .filter_map(|l| {
            let dev = l["ifname"].as_str()?.to_string();
            let out = h.ns.exec("tc", &["-j", "qdisc", "show", "dev", &dev]);
            let v: serde_json::Value = serde_json::from_str(&out).ok()?;
            let rate = v
                .as_array()?
                .iter()
                .find(|q| q["kind"] == "tbf" && q["root"] == true)?["options"]["rate"]
                .as_u64()?;
            Some((dev, rate))
        })
        .collect()
}
