//! Networks that span hosts (issue #12): static VXLAN overlays between "hypervisor"
//! namespaces joined by an underlay bridge in another namespace. Every host applies the same
//! config file, selecting itself with `HVNET_HOST_NAME`; one gateway host runs the
//! network's address and dnsmasq; guests on every host lease from it and reach each other.
//! A new host joining changes only flood entries on the others, without losing a ping of a
//! running flow.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hvnet_tests::lab::*;
use hvnet_tests::*;

/// The shared config of an overlay of `hosts` hypervisors: host `hvI` has underlay address
/// 172.16.0.I and one guest `gI` (a veth into namespace `guest_ns[I-1]`); `hv1` is the
/// gateway host of network `ov` (10.60.0.1/16, DHCP).
fn config(hosts: usize, guest_ns: &[String]) -> String {
    let mut t = String::new();
    for i in 1..=hosts {
        t.push_str(&format!(
            "[[overlay.host]]\nname = \"hv{i}\"\naddress = \"172.16.0.{i}\"\n\n"
        ));
    }
    t.push_str(
        "[[network]]\nname = \"ov\"\nkind = \"isolated\"\nbridge = \"br-ov\"\n\
         address = \"10.60.0.1/16\"\ngateway_hosts = [\"hv1\"]\n\
         [network.overlay]\nvni = 4242\n[network.dhcp]\n\n",
    );
    for i in 1..=hosts {
        t.push_str(&format!(
            "[[guest]]\nname = \"g{i}\"\nhost = \"hv{i}\"\n[[guest.nic]]\nnetwork = \"ov\"\n\
             type = \"veth\"\nnetns = \"{}\"\n\n",
            guest_ns[i - 1]
        ));
    }
    t
}

/// A background process in a namespace, killed if the test fails.
struct Bg(Option<Child>, PathBuf);

impl Bg {
    fn start(ns: &str, args: &[&str], out: PathBuf) -> Bg {
        let f = std::fs::File::create(&out).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        Bg(Some(child), out)
    }

    fn wait(mut self, timeout: Duration) -> String {
        let mut c = self.0.take().unwrap();
        let start = Instant::now();
        while c.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < timeout, "background process still runs");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(&self.1).unwrap()
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `(transmitted, received)` from ping's summary.
fn ping_counts(out: &str) -> (u32, u32) {
    let line = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary:\n{out}"));
    let nums: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn sixteen_hosts_share_one_overlay_and_a_seventeenth_joins_without_loss() {
    if !require_root() || !tools_available(&["busybox", "ping", "dnsmasq"]) || !vxlan_supported() {
        return;
    }
    const N: usize = 16;
    let lab = Lab::new(N + 1);
    let names = lab.guest_names();
    let cfg16 = lab.write("hvnet16.toml", &config(N, &names));
    for i in 0..N {
        let r = lab.on(i, &cfg16, &["apply"]);
        r.ok();
    }
    // Every host: the VXLAN device on the bridge, guest MTU = 1500 - 50, a flood entry per
    // other host; only hv1 has the address and dnsmasq.
    for i in 0..N {
        let ns = lab.hosts[i].name();
        let vx = must_link(ns, "vxlan4242");
        assert_eq!(vx["master"], "br-ov", "{vx}");
        assert_eq!(vx["mtu"], 1450);
        assert_eq!(must_link(ns, "vnet0")["mtu"], 1450);
        let fdb = run("bridge", &["-n", ns, "fdb", "show", "dev", "vxlan4242"], 10);
        let flood = fdb
            .stdout
            .lines()
            .filter(|l| l.starts_with("00:00:00:00:00:00 dst"))
            .count();
        assert_eq!(flood, N - 1, "host {i}:\n{}", fdb.stdout);
        assert_eq!(
            ipv4(ns, "br-ov").is_empty(),
            i != 0,
            "only hv1 has the gateway address"
        );
        lab.on(i, &cfg16, &["check"]).ok();
    }
    // One dnsmasq serves every host's guest; each pings every other host's guest.
    let ips: Vec<String> = (0..N).map(|i| lab.lease(i)).collect();
    let mut failed = Vec::new();
    for from in 0..N {
        for (to, ip) in ips.iter().enumerate() {
            if from != to && !lab.pings(from, ip) {
                failed.push(format!("g{} -> g{} ({ip})", from + 1, to + 1));
            }
        }
    }
    assert!(failed.is_empty(), "pings failed: {failed:?}");
    println!(
        "{} guests leased from hv1 and pinged each other ({} pairs)",
        N,
        N * (N - 1)
    );

    // `show` draws the overlay on a host.
    let show = lab.on(3, &cfg16, &["show"]);
    show.ok();
    assert!(
        show.stdout
            .contains("ov vni 4242 on vxlan4242 (up), local 172.16.0.4"),
        "{show}"
    );
    assert!(
        show.stdout.contains("peer 172.16.0.1      static entry"),
        "{show}"
    );

    // A 17th host joins. The others' plans are one flood entry each; a flow between g1 and
    // g2 runs through the change and loses nothing; no link of theirs flaps.
    let cfg17 = lab.write("hvnet17.toml", &config(N + 1, &names));
    for i in 0..N {
        lab.plan_is(i, &cfg17, "1. add flood peer 172.16.0.17 to vxlan4242");
    }
    let before: Vec<(String, u64)> = (0..N)
        .map(|i| {
            let ns = lab.hosts[i].name();
            (
                must_link(ns, "vxlan4242")["ifindex"].to_string(),
                carrier_changes(ns, "vxlan4242"),
            )
        })
        .collect();
    let flow = Bg::start(
        lab.guests[0].name(),
        &["ping", "-i", "0.01", "-c", "400", "-W", "1", &ips[1]],
        lab.dir.path().join("flow.log"),
    );
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..N {
        lab.on(i, &cfg17, &["apply"]).ok();
    }
    lab.on(N, &cfg17, &["apply"]).ok();
    let out = flow.wait(Duration::from_secs(30));
    let (sent, got) = ping_counts(&out);
    assert_eq!(
        (sent, got),
        (400, 400),
        "pings lost during the join:\n{out}"
    );
    for (i, was) in before.iter().enumerate() {
        let ns = lab.hosts[i].name();
        assert_eq!(
            (
                must_link(ns, "vxlan4242")["ifindex"].to_string(),
                carrier_changes(ns, "vxlan4242")
            ),
            *was,
            "host {i}'s vxlan device was recreated or flapped"
        );
        lab.on(i, &cfg17, &["check"]).ok();
    }
    // The new host's guest leases from hv1 and reaches every other guest.
    let ip17 = lab.lease(N);
    for (to, ip) in ips.iter().enumerate() {
        assert!(lab.pings(N, ip), "g17 -> g{} ({ip})", to + 1);
    }
    assert!(lab.pings(0, &ip17), "g1 -> g17");
    // Leaving: hv17 goes away from the config; the others drop exactly its flood entry.
    for i in 0..N {
        lab.plan_is(i, &cfg16, "1. remove flood peer 172.16.0.17 from vxlan4242");
    }
    lab.on(N, &cfg17, &["down"]).ok();
    assert!(
        link(lab.hosts[N].name(), "vxlan4242").is_none(),
        "down removes the device"
    );
}

/// Bad overlay input: exit 2 naming FILE:LINE:COL and the field, nothing changed.
#[test]
fn bad_overlays_are_refused_with_exit_2_and_change_nothing() {
    if !require_root() || !vxlan_supported() {
        return;
    }
    let lab = Lab::new(2);
    let names = lab.guest_names();
    let good = lab.write("good.toml", &config(2, &names));
    lab.on(0, &good, &["apply"]).ok();
    let ns = lab.hosts[0].name();
    let before = settled_snapshot(ns);
    let cases: Vec<(String, &str, usize, &str)> = vec![
        (
            config(2, &names).replace("vni = 4242", "vni = 16777216"),
            "network[0].overlay.vni",
            16,
            "out of range",
        ),
        (
            config(2, &names).replace(
                "vni = 4242",
                "vni = 4242\npeers = [\"172.16.0.2\", \"172.16.0.1\"]",
            ),
            "network[0].overlay.peers[1]",
            17,
            "this host's own address",
        ),
        (
            config(2, &names).replace(
                "address = \"10.60.0.1/16\"",
                "address = \"10.60.0.1/16\"\nmtu = 1500",
            ),
            "network[0].mtu",
            14,
            "cannot fit",
        ),
    ];
    for (k, (text, field, line, fragment)) in cases.iter().enumerate() {
        let path = lab.write(&format!("bad{k}.toml"), text);
        let r = lab.on(0, &path, &["apply"]);
        r.expect_code(2);
        let at = format!("{}:{line}:", path.display());
        assert!(
            r.stderr.lines().any(|l| l.contains(&at)
                && l.contains(&format!(": {field}: "))
                && l.contains(fragment)),
            "case {k}: expected {at} {field} {fragment}\n{r}"
        );
        assert_eq!(settled_snapshot(ns), before, "case {k} changed the host");
    }
}

/// A flood entry removed behind hvnet's back is drift: `check` exits 1 naming it, `apply`
/// puts back exactly it; `show --json` reports the peer missing meanwhile. The underlay
/// device gives the local address (`underlay`, no `local`), and learning is off.
#[test]
fn a_missing_flood_entry_is_drift_that_apply_repairs() {
    if !require_root() || !vxlan_supported() {
        return;
    }
    let lab = Lab::new(2);
    let text = "[[network]]\nname = \"ov\"\nkind = \"internal\"\nbridge = \"br-ov\"\n\
                [network.overlay]\nvni = 31\nunderlay = \"under\"\nlearning = false\n\
                peers = [\"172.16.0.2\", \"172.16.0.9\"]\n";
    let cfg = lab.write("drift.toml", text);
    let hv = lab.hv(0);
    hv.apply(&cfg);
    let ns = lab.hosts[0].name();
    let vx = must_link(ns, "vxlan31");
    assert_eq!(vx["linkinfo"]["info_data"]["local"], "172.16.0.1", "{vx}");
    assert_eq!(vx["linkinfo"]["info_data"]["learning"], false, "{vx}");
    hv.run(&cfg, &["check"]).ok();
    run(
        "bridge",
        &[
            "-n",
            ns,
            "fdb",
            "del",
            "00:00:00:00:00:00",
            "dev",
            "vxlan31",
            "dst",
            "172.16.0.9",
            "self",
        ],
        10,
    )
    .ok();
    let check = hv.run(&cfg, &["check"]);
    check.expect_code(1);
    assert!(
        check
            .stdout
            .contains("add flood peer 172.16.0.9 to vxlan31"),
        "{check}"
    );
    let show = hv.run(&cfg, &["show", "--json"]);
    show.ok();
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    let peers = &v["overlays"][0]["peers"];
    assert_eq!(peers[0]["state"], "static", "{v}");
    assert_eq!(peers[1]["state"], "missing", "{v}");
    let ifindex = vx["ifindex"].clone();
    let applied = hv.run(&cfg, &["apply"]);
    applied.ok();
    assert!(applied.stdout.contains("applied: 1 op(s)"), "{applied}");
    assert_eq!(
        must_link(ns, "vxlan31")["ifindex"],
        ifindex,
        "the device was not recreated"
    );
    hv.run(&cfg, &["check"]).ok();
}
