//! `hvnet stats`: its counters are the kernel's (read with iproute2 before and after, so
//! they must lie in between), its rates show traffic while a guest floods, hvnet's tbf
//! drops are counted, `--watch` ends cleanly on SIGINT, unknown interfaces are exit 2.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hvnet_tests::*;
use serde_json::Value;

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "stbr0"
address = "10.93.0.1/24"

[[guest]]
name = "a"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@GA@"

[[guest]]
name = "b"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@GB@"
@RATE_B@
"#;

/// A host namespace with bridge `stbr0` (10.93.0.1) and two veth guests, `a` in `ga`
/// (10.93.0.2) and `b` in `gb` (10.93.0.3), that reach the host; `rate_b` is a `rate = …`
/// line for b's NIC, or empty.
struct Net {
    host: Netns,
    ga: Netns,
    gb: Netns,
    _dir: TempDir,
    hv: Hv,
    cfg: std::path::PathBuf,
    /// Host-side veth of guest a, of guest b.
    va: String,
    vb: String,
}

impl Net {
    fn new(tag: &str, rate_b: &str) -> Net {
        let host = Netns::new(tag);
        let ga = Netns::new(&format!("{tag}-a"));
        let gb = Netns::new(&format!("{tag}-b"));
        let dir = TempDir::new();
        let hv = Hv::new(&host, &dir);
        let cfg = dir.write(
            "c.toml",
            &CONFIG
                .replace("@GA@", ga.name())
                .replace("@GB@", gb.name())
                .replace("@RATE_B@", rate_b),
        );
        hv.apply(&cfg);
        let side = |owner: &str| {
            let veths: Vec<Value> = links_with_alias(host.name(), &format!("hvnet:{owner}"))
                .into_iter()
                .filter(|l| kind(l) == "veth")
                .collect();
            assert_eq!(veths.len(), 1, "{veths:?}");
            veths[0]["ifname"].as_str().unwrap().to_string()
        };
        let (va, vb) = (side("a"), side("b"));
        for (g, addr) in [(&ga, "10.93.0.2/24"), (&gb, "10.93.0.3/24")] {
            g.ip(&["addr", "add", addr, "dev", "eth0"]);
            g.ip(&["link", "set", "eth0", "up"]);
        }
        wait_carrier(host.name(), &va);
        wait_carrier(host.name(), &vb);
        // Both guests reach the host (and the neighbours are resolved).
        ga.exec("ping", &["-c", "1", "-W", "2", "10.93.0.1"]);
        gb.exec("ping", &["-c", "1", "-W", "2", "10.93.0.1"]);
        Net {
            host,
            ga,
            gb,
            _dir: dir,
            hv,
            cfg,
            va,
            vb,
        }
    }

    /// `hvnet stats --json ARGS...`, which must succeed.
    fn stats_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["stats", "--json"];
        all.extend_from_slice(args);
        let r = self.hv.run(&self.cfg, &all);
        serde_json::from_str(&r.ok().stdout).unwrap_or_else(|e| panic!("{e}\n{r}"))
    }
}

/// `ping -f` run in a namespace, killed on drop.
struct Flood(Child);

impl Flood {
    fn start(ns: &Netns, dst: &str, size: &str, secs: &str) -> Flood {
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "ping", "-q", "-f", "-s", size])
            .args(["-w", secs, dst])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ping");
        Flood(child)
    }

    fn wait(mut self) {
        let _ = self.0.wait();
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The kernel's counters of `dev` (`ip -j -s link show`): rx/tx bytes, packets, dropped.
fn ip_counters(ns: &str, dev: &str) -> [u64; 6] {
    let out = ip(&["-j", "-s", "-n", ns, "link", "show", "dev", dev]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let s = &v[0]["stats64"];
    let n = |dir: &str, what: &str| {
        s[dir][what]
            .as_u64()
            .unwrap_or_else(|| panic!("no {dir}.{what} for {dev}: {out}"))
    };
    [
        n("rx", "bytes"),
        n("tx", "bytes"),
        n("rx", "packets"),
        n("tx", "packets"),
        n("rx", "dropped"),
        n("tx", "dropped"),
    ]
}

/// The same six counters from a `hvnet stats --json` link.
fn hv_counters(l: &Value) -> [u64; 6] {
    [
        "rx_bytes",
        "tx_bytes",
        "rx_packets",
        "tx_packets",
        "rx_dropped",
        "tx_dropped",
    ]
    .map(|k| l[k].as_u64().unwrap_or_else(|| panic!("no {k} in {l}")))
}

/// The drops of the root tbf with handle `handle` of `dev` (`tc -s -j qdisc show`).
fn tbf_drops(ns: &str, dev: &str, handle: &str) -> u64 {
    let out = Command::new("tc")
        .args(["-s", "-j", "-n", ns, "qdisc", "show", "dev", dev])
        .output()
        .expect("run tc");
    assert!(out.status.success(), "tc failed: {out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|q| q["kind"] == "tbf" && q["handle"] == handle && q["root"] == true)
        .unwrap_or_else(|| panic!("no tbf {handle} on {dev}: {v}"))["drops"]
        .as_u64()
        .unwrap()
}

fn tc(ns: &str, args: &[&str]) {
    let out = Command::new("tc")
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run tc");
    assert!(out.status.success(), "tc {args:?}: {out:?}");
}

fn by_name<'a>(sample: &'a Value, name: &str) -> &'a Value {
    sample["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {sample}"))
}

fn names(sample: &Value) -> Vec<&str> {
    sample["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect()
}

#[test]
fn stats_match_the_kernel_and_show_traffic() {
    if !require_root() {
        return;
    }
    let net = Net::new("stats", "");
    let h = net.host.name();
    let (va, vb) = (net.va.as_str(), net.vb.as_str());

    // An unknown interface is invalid input, named in the message, before any waiting.
    let r = net.hv.run(&net.cfg, &["stats", "-i", "5s", va, "nosuch0"]);
    r.expect_code(2);
    assert!(r.stderr.contains("nosuch0"), "{r}");
    assert!(!r.stderr.contains(va), "{r}");
    assert_eq!(r.stdout, "", "{r}");

    // Guest a floods the host: the host side of its veth receives (rx) the requests and
    // sends (tx) the replies.
    let flood = Flood::start(&net.ga, "10.93.0.1", "1000", "5");
    std::thread::sleep(Duration::from_millis(100));
    let devs = ["stbr0", va, vb];
    let before = devs.map(|d| ip_counters(h, d));
    let s1 = net.stats_json(&["-i", "500ms"]);
    let after = devs.map(|d| ip_counters(h, d));

    // The default view: the hvnet links, the bridge first, then its ports by name.
    let mut ports = [va, vb];
    ports.sort();
    assert_eq!(names(&s1), ["stbr0", ports[0], ports[1]], "{s1}");
    for (dev, owner) in [("stbr0", "lan"), (va, "a"), (vb, "b")] {
        assert_eq!(by_name(&s1, dev)["owner"], owner, "{s1}");
    }
    let ms = s1["interval_ms"].as_f64().unwrap();
    assert!((500.0..1500.0).contains(&ms), "{s1}");
    // Every counter is the kernel's at a moment between the two iproute2 readings.
    for (i, dev) in devs.iter().enumerate() {
        let got = hv_counters(by_name(&s1, dev));
        for k in 0..6 {
            assert!(
                before[i][k] <= got[k] && got[k] <= after[i][k],
                "{dev} counter {k}: {} <= {} <= {} fails\n{s1}",
                before[i][k],
                got[k],
                after[i][k]
            );
        }
        assert_eq!(by_name(&s1, dev)["qdisc_drops"], 0, "{s1}");
    }
    // Rates: positive during the flood, and no more than what the counters grew by since
    // before the first reading.
    let a = by_name(&s1, va);
    let a_now = hv_counters(a);
    for (rate, k) in [("rx_bps", 0), ("tx_bps", 1)] {
        let bps = a[rate].as_u64().unwrap();
        assert!(bps > 0, "{va} {rate} is 0 during a flood\n{s1}");
        let bytes_in_interval = bps as f64 * ms / 8000.0;
        let grown = (a_now[k] - before[1][k]) as f64;
        assert!(
            bytes_in_interval <= grown + 1.0,
            "{va} {rate}: {bps} bit/s over {ms} ms but only {grown} bytes\n{s1}"
        );
    }
    assert!(
        by_name(&s1, "stbr0")["rx_bps"].as_u64().unwrap() > 0,
        "{s1}"
    );

    // A second reading of just one link: the counters went on growing.
    let s2 = net.stats_json(&["-i", "200ms", va]);
    assert_eq!(names(&s2), [va], "{s2}");
    let a2 = hv_counters(by_name(&s2, va));
    assert!(a2[0] > a_now[0] && a2[2] > a_now[2], "{s1}\n{s2}");

    // The text form: the named links in the order given, rates with units.
    let r = net.hv.run(&net.cfg, &["stats", "-i", "200ms", va, "stbr0"]);
    let lines: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(
        lines[0].starts_with("IFACE") && lines[0].ends_with("DROPS"),
        "{r}"
    );
    assert!(
        lines[1].starts_with(va) && lines[1].contains("bit/s"),
        "{r}"
    );
    assert!(
        lines[2].starts_with("stbr0 ") && lines[2].contains(" lan "),
        "{r}"
    );

    // --watch prints one JSON line per interval until SIGINT, which exits 0.
    let child = Command::new(hvnet_bin())
        .args(["--netns", h, "stats", "--json", "--watch", "100ms", va])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hvnet stats --watch");
    std::thread::sleep(Duration::from_millis(550));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let samples: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!((3..=6).contains(&samples.len()), "{stdout}");
    let rx: Vec<u64> = samples
        .iter()
        .map(|s| hv_counters(by_name(s, va))[0])
        .collect();
    assert!(
        rx.windows(2).all(|w| w[0] < w[1]),
        "rx bytes must grow: {rx:?}"
    );
    drop(flood);
}

#[test]
fn stats_count_the_drops_of_hvnet_tbf_qdiscs() {
    if !require_root() {
        return;
    }
    // Guest b limited to 8 kbit/s both ways by hvnet: a tbf on the host side of its NIC
    // (towards b) and an IFB with a tbf its received traffic is redirected to (from b).
    // The small bucket makes the queue hold one packet, so a flood is mostly dropped.
    let net = Net::new(
        "stdrop",
        r#"rate = { egress = "8kbit", ingress = "8kbit", burst = "2KiB" }"#,
    );
    let h = net.host.name();
    let (va, vb) = (net.va.as_str(), net.vb.as_str());
    let ifb: Vec<Value> = links_with_alias(h, "hvnet:b")
        .into_iter()
        .filter(|l| kind(l) == "ifb")
        .collect();
    assert_eq!(ifb.len(), 1, "{ifb:?}");
    let ifb = ifb[0]["ifname"].as_str().unwrap().to_string();
    // Someone else's tbf (another handle) towards unlimited guest a: not hvnet's drops.
    tc(
        h,
        &[
            "qdisc", "add", "dev", va, "root", "handle", "1:", "tbf", "rate", "8kbit", "burst",
            "1600", "limit", "1600",
        ],
    );
    // Floods through each of the three for a second; almost everything is dropped.
    let floods = [
        Flood::start(&net.host, "10.93.0.2", "1400", "1"),
        Flood::start(&net.host, "10.93.0.3", "1400", "1"),
        Flood::start(&net.gb, "10.93.0.1", "1400", "1"),
    ];
    for f in floods {
        f.wait();
    }

    let drops = || {
        [
            tbf_drops(h, vb, "4856:"),
            tbf_drops(h, &ifb, "4856:"),
            tbf_drops(h, va, "1:"),
        ]
    };
    let before = drops();
    let s = net.stats_json(&["-i", "100ms", va, vb, &ifb]);
    let after = drops();
    assert!(before.iter().all(|&d| d > 0), "no drops: {before:?}");
    let got = |dev: &str| by_name(&s, dev)["qdisc_drops"].as_u64().unwrap();
    // b's row: both of its tbfs; the IFB's row: its own.
    let want_b = (before[0] + before[1])..=(after[0] + after[1]);
    assert!(want_b.contains(&got(vb)), "{vb}: not in {want_b:?}\n{s}");
    assert!(
        (before[1]..=after[1]).contains(&got(&ifb)),
        "{ifb}: {before:?}\n{s}"
    );
    assert_eq!(got(va), 0, "{s}");

    // The text form adds them to the device's own drops.
    let r = net.hv.run(&net.cfg, &["stats", "-i", "100ms", vb]);
    let row = r.ok().stdout.lines().nth(1).unwrap().to_string();
    let shown: u64 = row.split_whitespace().last().unwrap().parse().unwrap();
    let s = net.stats_json(&["-i", "100ms", vb]);
    let b = by_name(&s, vb);
    let total: u64 = ["rx_dropped", "tx_dropped", "qdisc_drops"]
        .iter()
        .map(|k| b[k].as_u64().unwrap())
        .sum();
    assert!(*want_b.start() <= shown && shown <= total, "{row}\n{s}");
}
