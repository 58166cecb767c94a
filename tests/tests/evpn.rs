//! BGP EVPN overlays through FRR (issue #12 part 2): four "hypervisor" namespaces and a route
//! reflector (a fifth hvnet host whose config has only `[overlay.evpn]`, with
//! `route_reflectors` naming it), joined by an underlay bridge. hvnet starts its own zebra
//! and bgpd in every host namespace; the guests ping each other, every host's `bridge fdb`
//! holds the other hosts' guest MACs as entries zebra installed from BGP (`extern_learn`,
//! with the remote VTEP), a guest "migrated" to another host is reachable again (the time is
//! printed), `check` names a session that is not established, and `down` stops the daemons
//! and removes hvnet's FRR configuration.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hvnet_tests::lab::*;
use hvnet_tests::*;

/// Guest hosts; the route reflector is host `HOSTS` (0-based), `hv5`.
const HOSTS: usize = 4;
const VNI: u32 = 4243;

/// The `[overlay]` part every host shares: the five hosts, hv5 the route reflector.
fn overlay_part() -> String {
    let mut t = "[overlay.evpn]\nasn = 65000\nroute_reflectors = [\"hv5\"]\n\n".to_string();
    for i in 1..=HOSTS + 1 {
        t.push_str(&format!(
            "[[overlay.host]]\nname = \"hv{i}\"\naddress = \"172.16.0.{i}\"\n\n"
        ));
    }
    t
}

/// The guest hosts' config: network `ov` (VNI 4243, EVPN) and guest `gI` on host `hvI`.
fn config(guest_ns: &[String]) -> String {
    let mut t = overlay_part();
    t.push_str(&format!(
        "[[network]]\nname = \"ov\"\nkind = \"internal\"\nbridge = \"br-ov\"\n\
         [network.overlay]\nvni = {VNI}\ncontrol = \"evpn\"\n\n"
    ));
    for i in 1..=HOSTS {
        t.push_str(&format!(
            "[[guest]]\nname = \"g{i}\"\nhost = \"hv{i}\"\n[[guest.nic]]\nnetwork = \"ov\"\n\
             type = \"veth\"\nnetns = \"{}\"\n\n",
            guest_ns[i - 1]
        ));
    }
    t
}

/// FRR's daemons, or a SKIP line.
fn frr_installed() -> bool {
    let ok = ["zebra", "bgpd"]
        .iter()
        .all(|d| Path::new("/usr/lib/frr").join(d).is_file())
        && on_path("vtysh");
    if !ok {
        println!("SKIP: FRR is not installed (apt-get install frr)");
    }
    ok
}

/// Kills (by pid) every process whose command line names a path under the lab directory —
/// the zebra and bgpd hvnet started there — when the test ends, also after a panic, so the
/// namespaces can go.
struct FrrGuard(PathBuf);

impl FrrGuard {
    fn pids(&self) -> Vec<i32> {
        let needle = self.0.as_os_str().as_encoded_bytes().to_vec();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let argv0 = cmd.split(|&b| b == 0).next().unwrap_or_default();
            let frr = argv0.ends_with(b"/zebra") || argv0.ends_with(b"/bgpd");
            if frr && cmd.windows(needle.len()).any(|w| w == needle.as_slice()) {
                out.push(pid);
            }
        }
        out
    }
}

impl Drop for FrrGuard {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = run("kill", &["-9", &pid.to_string()], 5);
        }
    }
}

/// The MAC of `eth0` in namespace `ns`.
fn mac(ns: &str) -> String {
    let r = run("ip", &["-n", ns, "-j", "link", "show", "eth0"], 5);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

/// `hvnet check` on host `i` until it passes (up to `within`); the last run.
fn converge(lab: &Lab, i: usize, cfg: &Path, within: Duration) -> Run {
    let start = Instant::now();
    loop {
        let r = lab.on(i, cfg, &["check"]);
        if r.code == 0 || start.elapsed() > within {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The lines of `bridge fdb show dev vxlanVNI` on host namespace `ns` that name `mac`.
fn fdb_lines(ns: &str, mac: &str) -> Vec<String> {
    let dev = format!("vxlan{VNI}");
    run("bridge", &["-n", ns, "fdb", "show", "dev", &dev], 10)
        .stdout
        .lines()
        .filter(|l| l.starts_with(mac))
        .map(str::to_string)
        .collect()
}

#[test]
fn four_hosts_and_a_route_reflector_learn_guest_macs_from_bgp() {
    if !require_root()
        || !tools_available(&["ping", "bridge"])
        || !vxlan_supported()
        || !frr_installed()
    {
        return;
    }
    let lab = Lab::new(HOSTS + 1);
    let _frr = FrrGuard(lab.dir.path().to_path_buf());
    let names = lab.guest_names();
    let cfg = lab.write("evpn.toml", &config(&names));
    let rr_cfg = lab.write("rr.toml", &overlay_part());
    lab.on(HOSTS, &rr_cfg, &["apply"]).ok();
    for i in 0..HOSTS {
        lab.on(i, &cfg, &["apply"]).ok();
        let ns = lab.hosts[i].name();
        let vx = must_link(ns, &format!("vxlan{VNI}"));
        assert_eq!(vx["linkinfo"]["info_data"]["learning"], false, "{vx}");
        // …and its bridge port learns nothing from received frames either.
        assert_eq!(vx["linkinfo"]["info_slave_data"]["learning"], false, "{vx}");
        assert_eq!(vx["master"], "br-ov", "{vx}");
        let g = &lab.guests[i];
        g.ip(&[
            "addr",
            "add",
            &format!("10.61.0.{}/24", i + 1),
            "dev",
            "eth0",
        ]);
        g.ip(&["link", "set", "eth0", "up"]);
    }
    // Sessions come up (each guest host with the reflector, the reflector with all four) and
    // the VNI is advertised: `check` passes everywhere.
    let start = Instant::now();
    for i in 0..HOSTS {
        converge(&lab, i, &cfg, Duration::from_secs(30)).ok();
    }
    converge(&lab, HOSTS, &rr_cfg, Duration::from_secs(30)).ok();
    println!(
        "EVPN sessions established and VNI advertised on all hosts after {:?}",
        start.elapsed()
    );
    // Every guest pings every other.
    let mut failed = Vec::new();
    for from in 0..HOSTS {
        for to in 0..HOSTS {
            if from != to && !lab.pings(from, &format!("10.61.0.{}", to + 1)) {
                failed.push(format!("g{} -> g{}", from + 1, to + 1));
            }
        }
    }
    assert!(failed.is_empty(), "pings failed: {failed:?}");
    // On every host, each other host's guest MAC is an entry zebra installed from BGP:
    // `extern_learn`, on the VXLAN device with the guest's host as remote VTEP (the device
    // does not learn from packets).
    let macs: Vec<String> = lab
        .guests
        .iter()
        .take(HOSTS)
        .map(|g| mac(g.name()))
        .collect();
    for i in 0..HOSTS {
        let ns = lab.hosts[i].name();
        for (j, m) in macs.iter().enumerate() {
            if i == j {
                continue;
            }
            let lines = fdb_lines(ns, m);
            let remote = format!("dst 172.16.0.{} self extern_learn", j + 1);
            assert!(
                lines.iter().any(|l| l.contains(&remote)),
                "host hv{}: g{}'s MAC {m} not from BGP: {lines:?}",
                i + 1,
                j + 1
            );
            assert!(
                lines.iter().all(|l| l.contains("extern_learn")),
                "host hv{}: g{}'s MAC {m} learned by flooding too: {lines:?}",
                i + 1,
                j + 1
            );
        }
    }
    // `show` draws the overlay with the session to the reflector.
    let show = lab.on(1, &cfg, &["show"]);
    show.ok();
    assert!(
        show.stdout
            .contains(&format!("ov vni {VNI} on vxlan{VNI} (up), local 172.16.0.2, port 4789, evpn peers, 3 learned MAC(s)")),
        "{show}"
    );
    assert!(
        show.stdout.contains("bgp  172.16.0.5      Established"),
        "{show}"
    );
    // Migration: g1's port moves from hv1's bridge to hv2's while g3 pings it every 20 ms.
    // g3 reaches g1 again once its frames find it (flooded while hv3 has no entry) and hv3
    // installs the entry hv2 advertised (MAC mobility: a higher sequence number). Figures:
    // from the move to g3's first answer after it, and to hv3's entry pointing at hv2.
    let hv2 = lab.hosts[1].name();
    let log = lab.dir.path().join("migration-ping.log");
    let mut watch = std::process::Command::new("ip")
        .args(["netns", "exec", lab.guests[2].name(), "ping", "-D", "-O"])
        .args(["-i", "0.02", "-w", "5", "10.61.0.1"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    lab.hosts[0].ip(&["link", "set", "vnet0", "down"]);
    lab.hosts[0].ip(&["link", "set", "vnet0", "name", "mig1"]);
    let moved_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let moved = Instant::now();
    lab.hosts[0].ip(&["link", "set", "mig1", "netns", hv2]);
    lab.hosts[1].ip(&["link", "set", "mig1", "master", "br-ov", "up"]);
    let mut installed = None;
    while installed.is_none() && moved.elapsed() < Duration::from_secs(4) {
        if fdb_lines(lab.hosts[2].name(), &macs[0])
            .iter()
            .any(|l| l.contains("dst 172.16.0.2 self extern_learn"))
        {
            installed = Some(moved.elapsed());
        }
    }
    watch.wait().unwrap();
    // `[EPOCH] 64 bytes from …`: the first answer stamped after the move.
    let out = std::fs::read_to_string(&log).unwrap();
    let back = out
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse::<f64>().ok())
        .find(|t| *t > moved_at)
        .map(|t| Duration::from_secs_f64(t - moved_at))
        .unwrap_or_else(|| panic!("g3 got no answer from g1 after its migration:\n{out}"));
    for h in [0, 2, 3] {
        let lines = fdb_lines(lab.hosts[h].name(), &macs[0]);
        assert!(
            lines.iter().all(|l| l.contains("extern_learn")),
            "hv{}: g1's MAC learned by flooding after the migration: {lines:?}",
            h + 1
        );
    }
    println!(
        "g1 migrated hv1 -> hv2: g3's pings answered again after {back:?}; hv3's entry points at hv2 after {installed:?} (polled)"
    );
    let lines = fdb_lines(lab.hosts[2].name(), &macs[0]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("dst 172.16.0.2 self extern_learn")),
        "hv3 does not point g1's MAC at hv2: {lines:?}"
    );
    assert!(
        back < Duration::from_secs(2),
        "the issue asks for 2 s, took {back:?}"
    );
    // A session that is down is named by `check` (the reflector goes away).
    lab.on(HOSTS, &rr_cfg, &["down"]).ok();
    let check = converge(&lab, 0, &cfg, Duration::ZERO);
    let start = Instant::now();
    let mut check = check;
    while !check.stdout.contains("not established") && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(300));
        check = lab.on(0, &cfg, &["check"]);
    }
    check.expect_code(1);
    assert!(
        check
            .stdout
            .contains("EVPN: the BGP session with 172.16.0.5 is not established"),
        "{check}"
    );
    // `down` stops hvnet's zebra and bgpd and removes its FRR configuration and links.
    for i in 0..HOSTS {
        lab.on(i, &cfg, &["down"]).ok();
        let frr = lab.dir.path().join(format!("state{i}")).join("frr");
        assert!(!frr.join("bgpd.conf").exists(), "host {i} kept bgpd.conf");
        assert!(link(lab.hosts[i].name(), &format!("vxlan{VNI}")).is_none());
    }
    let left = FrrGuard(lab.dir.path().to_path_buf()).pids();
    assert!(left.is_empty(), "FRR daemons left after down: {left:?}");
}

/// Bad EVPN input: exit 2 naming FILE:LINE:COL and the field; FRR missing: exit 1 naming the
/// package. Nothing changed either way.
#[test]
fn bad_evpn_input_and_missing_frr_change_nothing() {
    if !require_root() || !vxlan_supported() {
        return;
    }
    let lab = Lab::new(2);
    // Guests g3 and g4 run on hosts this lab does not make: their namespaces never matter.
    let mut names: Vec<String> = lab.guest_names();
    names.extend(["hvt-absent-3".to_string(), "hvt-absent-4".to_string()]);
    let ns = lab.hosts[0].name();
    let before = settled_snapshot(ns);
    let good = config(&names);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            good.replace(&format!("vni = {VNI}"), "vni = 16777216"),
            "network[0].overlay.vni",
            "out of range",
        ),
        (
            good.replace(
                "route_reflectors = [\"hv5\"]",
                "neighbors = [\"172.16.0.1\"]",
            ),
            "overlay.evpn.neighbors[0]",
            "this host's own address",
        ),
        (
            good.replace(
                &format!("vni = {VNI}"),
                &format!("vni = {VNI}\nlearning = true"),
            ),
            "network[0].overlay.learning",
            "EVPN learns remote MACs from BGP",
        ),
        (
            good.replace("bridge = \"br-ov\"", "bridge = \"br-ov\"\nmtu = 1500"),
            "network[0].mtu",
            "cannot fit",
        ),
    ];
    for (k, (text, field, fragment)) in cases.iter().enumerate() {
        let path = lab.write(&format!("bad{k}.toml"), text);
        let r = lab.on(0, &path, &["apply"]);
        r.expect_code(2);
        let file = format!("{}:", path.display());
        assert!(
            r.stderr.lines().any(|l| l.contains(&file)
                && l.contains(&format!(": {field}: "))
                && l.contains(fragment)),
            "case {k}: expected {file}LINE:COL: {field}: …{fragment}…\n{r}"
        );
        assert_eq!(settled_snapshot(ns), before, "case {k} changed the host");
    }
    // FRR not installed (its daemons looked for in an empty directory): exit 1 with the
    // package to install, nothing changed, no daemon, no FRR directory.
    let empty = lab.dir.path().join("no-frr");
    std::fs::create_dir_all(&empty).unwrap();
    let path = lab.write("good.toml", &good);
    let r = lab.hv(0).run_env(
        &path,
        &["apply"],
        &[
            ("HVNET_HOST_NAME", "hv1"),
            ("HVNET_FRR_DIR", empty.to_str().unwrap()),
        ],
    );
    r.expect_code(1);
    assert!(r.stderr.contains("apt-get install frr"), "{r}");
    assert_eq!(
        settled_snapshot(ns),
        before,
        "a refused EVPN apply changed the host"
    );
    assert!(!lab
        .dir
        .path()
        .join("state0")
        .join("frr")
        .join("bgpd.conf")
        .exists());

    // Another FRR in the host's namespace (a stand-in: `sleep` under the name zebra, which is
    // all hvnet looks at): exit 1 naming it, nothing changed, no daemon of hvnet's started.
    if frr_installed() {
        let fake = lab.dir.path().join("zebra");
        std::fs::copy("/bin/sleep", &fake).unwrap();
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let child = Kill(
            std::process::Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(&fake)
                .arg("60")
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(200));
        let r = lab.on(0, &path, &["apply"]);
        r.expect_code(1);
        assert!(
            r.stderr.contains(&format!(
                "FRR's zebra (pid {}) already runs in this network namespace",
                child.0.id()
            )),
            "{r}"
        );
        assert_eq!(
            settled_snapshot(ns),
            before,
            "an apply beside a foreign FRR changed the host"
        );
        drop(child);
    }
}
