//! Root integration tests of traffic control over `hvnet_linux::netlink`:
//! tbf, htb, ingress + u32 + mirred + ifb, the tc dumps, link statistics.
//!
//! Every test works in namespaces of its own, never in the host's: named
//! ones (`hvt-tc-<pid>-<tag>`, deleted on drop, also after a failure) where
//! the test cross-checks with iproute2's `tc -n NAME`, and a freshly
//! unshared one otherwise; netlink work runs on a thread inside the
//! namespace. Without root the tests print a message and pass.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use hvnet_linux::netlink::{
    consts, tc_handle, ClassSpec, FilterSpec, Link, LinkChange, Mirred, MirredAction, NlError,
    Qdisc, QdiscKind, QdiscSpec, Request, Rtnl, TbfInfo,
};
use hvnet_linux::{netns, ping};

mod common;
use common::{all_ok, in_fresh_netns, link, one, skip, status_of, veth, NetnsGuard};

/// Skips the test (returning `true`) without root or without iproute2's
/// `tc`, which it uses to cross-check.
fn skip_without_tc(test: &str) -> bool {
    if skip(test) {
        return true;
    }
    let found = Command::new("tc")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping {test}: needs iproute2's tc");
    }
    !found
}

/// A named namespace for one test, deleted when dropped.
struct Ns(NetnsGuard);

impl Ns {
    fn new(tag: &str) -> Ns {
        Ns(NetnsGuard::create(format!(
            "hvt-tc-{}-{tag}",
            std::process::id()
        )))
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    /// Runs `f` on a thread inside the namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        netns::run_in(self.name(), f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `tc -n NS ARGS...`, which must succeed; its standard output.
    fn tc(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.tc_status(args);
        assert!(ok, "tc {args:?}: {err}");
        out
    }

    /// `tc -n NS ARGS...`: success, standard output, standard error.
    fn tc_status(&self, args: &[&str]) -> (bool, String, String) {
        status_of(
            Command::new("tc").arg("-n").arg(self.name()).args(args),
            "run tc",
        )
    }
}

fn up(ifindex: u32) -> Request {
    Request::SetLink {
        ifindex,
        change: LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    }
}

/// Creates veth `va`/`vb` (both up) and returns their ifindexes.
fn veth_pair(rtnl: &mut Rtnl) -> (u32, u32) {
    all_ok(rtnl.execute(&[veth("va", "vb")]));
    let (va, vb) = (link(rtnl, "va").ifindex, link(rtnl, "vb").ifindex);
    all_ok(rtnl.execute(&[up(va), up(vb)]));
    (va, vb)
}

fn tbf(rate: u64, burst: u32, limit: u32) -> QdiscKind {
    QdiscKind::Tbf {
        rate_bytes_per_sec: rate,
        burst_bytes: burst,
        limit_bytes: limit,
        peak_bytes_per_sec: None,
        mtu: None,
    }
}

fn root_qdisc(ifindex: u32, major: u16, kind: QdiscKind) -> QdiscSpec {
    QdiscSpec {
        ifindex,
        parent: consts::TC_H_ROOT,
        handle: tc_handle(major, 0),
        kind,
    }
}

/// The qdisc at `parent` of a device.
fn qdisc_at(rtnl: &mut Rtnl, ifindex: u32, parent: u32) -> Option<Qdisc> {
    rtnl.dump_qdiscs()
        .expect("dump qdiscs")
        .into_iter()
        .find(|q| q.ifindex == ifindex && q.parent == parent)
}

/// The bytes one 64 ns tick is worth at `rate`, rounded up: the precision
/// of a bucket size read back from the kernel.
fn tick_bytes(rate: u64) -> u64 {
    (rate * 64).div_ceil(1_000_000_000)
}

/// Asserts a bucket read back from the kernel is the configured one, up to
/// its precision.
fn assert_burst(got: u32, want: u32, rate: u64) {
    let diff = u64::from(got.abs_diff(want));
    assert!(
        diff <= tick_bytes(rate) + 2,
        "burst {got}, configured {want} (rate {rate} B/s)"
    );
}

/// The unsigned number after `"key":` in tc's JSON output (from `from` on).
fn json_u64(json: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat)? + pat.len();
    let digits: String = json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The string after `"key":` in tc's JSON output.
fn json_str<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let at = json.find(&pat)? + pat.len();
    let len = json[at..].find('"')?;
    Some(&json[at..at + len])
}

/// tc's view of a device's qdiscs: `tc -j -s qdisc show dev DEV`.
fn tc_qdisc_json(ns: &Ns, dev: &str) -> String {
    ns.tc(&["-j", "-s", "qdisc", "show", "dev", dev])
}

/// Checks tc's view of a root tbf against what was configured. tc prints
/// the burst from the kernel's bucket time truncated to whole
/// microseconds, so it may be off by up to one microsecond's worth.
fn assert_tc_tbf(ns: &Ns, dev: &str, handle: &str, rate: u64, burst: u32) {
    let json = tc_qdisc_json(ns, dev);
    assert_eq!(json_str(&json, "kind"), Some("tbf"), "{json}");
    assert_eq!(json_str(&json, "handle"), Some(handle), "{json}");
    assert_eq!(json_u64(&json, "rate"), Some(rate), "{json}");
    let tc_burst = json_u64(&json, "burst").expect("burst");
    let slack = rate.div_ceil(1_000_000) + tick_bytes(rate) + 2;
    assert!(
        tc_burst.abs_diff(u64::from(burst)) <= slack,
        "tc burst {tc_burst}, configured {burst}: {json}"
    );
}

#[test]
fn tbf_add_read_back_replace_delete() {
    if skip_without_tc("tbf_add_read_back_replace_delete") {
        return;
    }
    let ns = Ns::new("tbf");
    let (va, vb) = ns.run(|| {
        let mut rtnl = Rtnl::open().expect("open");
        veth_pair(&mut rtnl)
    });

    // tc qdisc add dev va root handle 1: tbf rate 10mbit burst 16kb latency 50ms
    let (rate, burst) = (1_250_000, 16 * 1024);
    let first = ns.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        let kind = QdiscKind::tbf_with_latency(rate, burst, Duration::from_millis(50));
        one(&mut rtnl, Request::NewQdisc(root_qdisc(va, 1, kind))).expect("add tbf");
        qdisc_at(&mut rtnl, va, consts::TC_H_ROOT).expect("root qdisc")
    });
    assert_eq!(
        (first.kind.as_str(), first.handle),
        ("tbf", tc_handle(1, 0))
    );
    let info = first.tbf.expect("tbf parameters");
    assert_eq!(info.rate_bytes_per_sec, rate);
    assert_burst(info.burst_bytes, burst, rate);
    assert_eq!(info.limit_bytes, 78884);
    assert_eq!((info.peak_bytes_per_sec, info.mtu), (None, None));
    assert_tc_tbf(&ns, "va", "1:", rate, burst);

    // Replace: only the rate changes; same handle, same qdisc.
    let new_rate = 2_500_000;
    let (replaced, count) = ns.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        let kind = tbf(new_rate, burst, 78884);
        one(&mut rtnl, Request::ReplaceQdisc(root_qdisc(va, 1, kind))).expect("replace tbf");
        let tbfs = rtnl
            .dump_qdiscs()
            .expect("dump")
            .into_iter()
            .filter(|q| q.kind == "tbf")
            .count();
        (
            qdisc_at(&mut rtnl, va, consts::TC_H_ROOT).expect("root"),
            tbfs,
        )
    });
    assert_eq!(count, 1);
    assert_eq!(replaced.handle, first.handle);
    let new_info = replaced.tbf.expect("tbf");
    assert_eq!(new_info.rate_bytes_per_sec, new_rate);
    assert_burst(new_info.burst_bytes, burst, new_rate);
    assert_eq!(new_info.limit_bytes, info.limit_bytes);
    assert_tc_tbf(&ns, "va", "1:", new_rate, burst);

    // More than 4 GiB/s, with a peak rate, on the other end.
    let (big, peak) = (5_000_000_000u64, 6_000_000_000u64);
    let big_info = ns.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        let kind = QdiscKind::Tbf {
            rate_bytes_per_sec: big,
            burst_bytes: 1 << 20,
            limit_bytes: 4 << 20,
            peak_bytes_per_sec: Some(peak),
            mtu: Some(64 * 1024),
        };
        one(&mut rtnl, Request::NewQdisc(root_qdisc(vb, 2, kind))).expect("add big tbf");
        qdisc_at(&mut rtnl, vb, consts::TC_H_ROOT)
            .and_then(|q| q.tbf)
            .expect("tbf")
    });
    assert_eq!(big_info.rate_bytes_per_sec, big);
    assert_burst(big_info.burst_bytes, 1 << 20, big);
    assert_eq!(big_info.peak_bytes_per_sec, Some(peak));
    assert_burst(big_info.mtu.expect("peak bucket"), 64 * 1024, peak);
    // tc 6.1 shows the peak bucket ("minburst"), not the peak rate, in JSON.
    let json = tc_qdisc_json(&ns, "vb");
    assert_eq!(json_u64(&json, "rate"), Some(big), "{json}");
    let minburst = json_u64(&json, "minburst").expect("minburst");
    let slack = peak.div_ceil(1_000_000) + tick_bytes(peak) + 2;
    assert!(minburst.abs_diff(64 * 1024) <= slack, "{json}");

    // Delete both: back to the default qdisc.
    let after = ns.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[
            Request::DelQdisc {
                ifindex: va,
                parent: consts::TC_H_ROOT,
                handle: tc_handle(1, 0),
            },
            Request::DelQdisc {
                ifindex: vb,
                parent: consts::TC_H_ROOT,
                handle: 0,
            },
        ]));
        let gone = one(
            &mut rtnl,
            Request::DelQdisc {
                ifindex: va,
                parent: consts::TC_H_ROOT,
                handle: 0,
            },
        )
        .expect_err("nothing left to delete");
        (rtnl.dump_qdiscs().expect("dump"), gone)
    });
    let (qdiscs, gone) = after;
    assert!(qdiscs.iter().all(|q| q.kind != "tbf"), "{qdiscs:?}");
    assert_eq!(gone.errno, libc::ENOENT, "{gone}");
    assert_eq!(gone.context, format!("delete qdisc root on ifindex {va}"));
    assert!(!tc_qdisc_json(&ns, "va").contains("tbf"));
}

#[test]
fn ifb_ingress_redirect_shapes_traffic() {
    if skip_without_tc("ifb_ingress_redirect_shapes_traffic") {
        return;
    }
    let host = Ns::new("ifb");
    let guest = Ns::new("ifb-guest");
    let guest_fd = netns::open(guest.name()).expect("open guest namespace");
    let (rate, burst) = (6_250_000u64, 32 * 1024);

    // Host side: va (peer "eth0" in the guest namespace), ifb, the three
    // tc objects of the IFB method.
    let fd = guest_fd.as_raw_fd();
    let (va, ifb, filters, qdisc, stats_before) = host.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[
            Request::NewVeth {
                name: "va".into(),
                mtu: None,
                mac: None,
                group: None,
                peer_name: "eth0".into(),
                peer_mac: None,
                peer_netns_fd: Some(fd),
            },
            Request::NewIfb {
                name: "ifb-va".into(),
                mtu: Some(1500),
                txqlen: Some(0),
                group: None,
            },
        ]));
        let va = link(&mut rtnl, "va").ifindex;
        let ifb = link(&mut rtnl, "ifb-va");
        assert_eq!(ifb.kind.as_deref(), Some("ifb"));
        assert_eq!(ifb.mtu, 1500);
        let ifb = ifb.ifindex;
        all_ok(rtnl.execute(&[
            up(va),
            up(ifb),
            Request::NewAddr {
                ifindex: va,
                address: Ipv4Addr::new(10, 99, 0, 1).into(),
                prefix_len: 24,
            },
            Request::NewQdisc(QdiscSpec::ingress(va)),
            Request::NewFilter(FilterSpec {
                ifindex: va,
                parent: consts::TC_H_INGRESS_QDISC,
                prio: 1,
                protocol: consts::ETH_P_ALL,
                handle: 0,
                classid: None,
                mirred: Some(Mirred {
                    action: MirredAction::EgressRedirect,
                    ifindex: ifb,
                }),
            }),
            Request::ReplaceQdisc(root_qdisc(
                ifb,
                1,
                QdiscKind::tbf_with_latency(rate, burst, Duration::from_millis(50)),
            )),
        ]));
        let filters = rtnl
            .dump_filters(va, consts::TC_H_INGRESS_QDISC)
            .expect("dump filters");
        let qdisc = qdisc_at(&mut rtnl, ifb, consts::TC_H_ROOT).expect("ifb qdisc");
        let stats = rtnl
            .dump_links_with_stats()
            .expect("dump links")
            .into_iter()
            .find(|l| l.ifindex == ifb)
            .and_then(|l| l.stats)
            .expect("ifb stats");
        (va, ifb, filters, qdisc, stats)
    });

    // Read back: ingress qdisc, the u32 rule with its redirect, the ifb's tbf.
    let rule = filters
        .iter()
        .find(|f| f.mirred.is_some())
        .unwrap_or_else(|| panic!("no mirred rule in {filters:?}"));
    assert_eq!((rule.kind.as_str(), rule.prio), ("u32", 1));
    assert_eq!(rule.protocol, consts::ETH_P_ALL);
    assert_eq!(
        rule.mirred,
        Some(Mirred {
            action: MirredAction::EgressRedirect,
            ifindex: ifb
        })
    );
    let u32_rule = rule.u32.as_ref().expect("u32 details");
    assert!(u32_rule.terminal && u32_rule.matches_all(), "{u32_rule:?}");
    let json = host.tc(&["-j", "filter", "show", "dev", "va", "parent", "ffff:"]);
    assert_eq!(json_str(&json, "to_dev"), Some("ifb-va"), "{json}");
    assert_eq!(json_str(&json, "mirred_action"), Some("redirect"), "{json}");
    let ingress = tc_qdisc_json(&host, "va");
    assert!(
        ingress.contains(r#""kind":"ingress","handle":"ffff:","parent":"ffff:fff1""#),
        "{ingress}"
    );
    let TbfInfo {
        rate_bytes_per_sec,
        burst_bytes,
        ..
    } = qdisc.tbf.expect("tbf on the ifb");
    assert_eq!(rate_bytes_per_sec, rate);
    assert_burst(burst_bytes, burst, rate);
    assert_tc_tbf(&host, "ifb-va", "1:", rate, burst);

    // Traffic from the guest enters va, is redirected through the ifb's
    // tbf, and comes back: pings are answered and the tbf counts them.
    let packets_before = qdisc.stats.packets;
    guest.run(|| {
        let mut rtnl = Rtnl::open().expect("open");
        let eth0 = link(&mut rtnl, "eth0").ifindex;
        all_ok(rtnl.execute(&[
            up(eth0),
            Request::NewAddr {
                ifindex: eth0,
                address: Ipv4Addr::new(10, 99, 0, 2).into(),
                prefix_len: 24,
            },
        ]));
    });
    let report = ping::ping(
        Some(guest.name()),
        Ipv4Addr::new(10, 99, 0, 1),
        5,
        Duration::from_secs(10),
    )
    .expect("ping");
    assert_eq!((report.sent, report.received), (5, 5), "{report:?}");
    let (after, stats_after) = host.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        let q = qdisc_at(&mut rtnl, ifb, consts::TC_H_ROOT).expect("ifb qdisc");
        let stats = rtnl
            .dump_links_with_stats()
            .expect("dump links")
            .into_iter()
            .find(|l| l.ifindex == ifb)
            .and_then(|l| l.stats)
            .expect("ifb stats");
        (q, stats)
    });
    assert!(
        after.stats.packets >= packets_before + 5,
        "tbf on the ifb counted {} packets, {packets_before} before",
        after.stats.packets
    );
    assert!(after.stats.bytes >= 5 * 98, "{:?}", after.stats);
    assert_eq!(after.stats.drops, 0);
    let json = tc_qdisc_json(&host, "ifb-va");
    assert_eq!(
        json_u64(&json, "packets"),
        Some(after.stats.packets),
        "{json}"
    );
    assert!(stats_after.tx_packets >= stats_before.tx_packets + 5);
    assert!(stats_after.rx_packets >= stats_before.rx_packets + 5);

    // Undo: deleting the ingress qdisc takes the filter with it.
    let filters_left = host.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[
            Request::DelFilter {
                ifindex: va,
                parent: consts::TC_H_INGRESS_QDISC,
                prio: 1,
                protocol: consts::ETH_P_ALL,
                handle: 0,
            },
            Request::DelQdisc {
                ifindex: va,
                parent: consts::TC_H_INGRESS,
                handle: consts::TC_H_INGRESS_QDISC,
            },
        ]));
        rtnl.dump_filters(va, consts::TC_H_INGRESS_QDISC)
            .expect("dump filters")
    });
    assert!(filters_left.is_empty(), "{filters_left:?}");
    drop(guest_fd);
}

/// Parses a tc rate as printed by `tc class show` (`100Mbit`, `5Gbit`,
/// `800Kbit`, `12bit`) into bytes per second.
fn tc_rate(word: &str) -> u64 {
    let (num, mult) = if let Some(n) = word.strip_suffix("Gbit") {
        (n, 1e9)
    } else if let Some(n) = word.strip_suffix("Mbit") {
        (n, 1e6)
    } else if let Some(n) = word.strip_suffix("Kbit") {
        (n, 1e3)
    } else if let Some(n) = word.strip_suffix("bit") {
        (n, 1.0)
    } else {
        panic!("not a tc rate: {word}")
    };
    let bits = num.parse::<f64>().expect("number") * mult;
    (bits / 8.0).round() as u64
}

/// The word after `key` in tc's text output.
fn tc_word<'a>(text: &'a str, key: &str) -> &'a str {
    let mut words = text.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == key)
        .unwrap_or_else(|| panic!("no {key} in {text}"));
    words
        .next()
        .unwrap_or_else(|| panic!("nothing after {key}"))
}

#[test]
fn htb_qdisc_class_filter_round_trip() {
    if skip_without_tc("htb_qdisc_class_filter_round_trip") {
        return;
    }
    let ns = Ns::new("htb");
    let class = |ifindex, minor, rate, ceil| ClassSpec {
        ifindex,
        parent: tc_handle(1, 0),
        classid: tc_handle(1, minor),
        rate_bytes_per_sec: rate,
        ceil_bytes_per_sec: ceil,
        burst_bytes: 16 * 1024,
        cburst_bytes: 32 * 1024,
        quantum: None,
    };
    let (va, qdisc, classes) = ns.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        let (va, _) = veth_pair(&mut rtnl);
        all_ok(rtnl.execute(&[
            Request::NewQdisc(root_qdisc(
                va,
                1,
                QdiscKind::Htb {
                    default_class: 0x10,
                    r2q: None,
                },
            )),
            // 100mbit/200mbit: tc would get "quantum ... is big" here.
            Request::NewClass(class(va, 0x10, 12_500_000, 25_000_000)),
            // 5gbit/40gbit: 64-bit ceil.
            Request::NewClass(class(va, 0x20, 625_000_000, 5_000_000_000)),
            Request::NewFilter(FilterSpec {
                ifindex: va,
                parent: tc_handle(1, 0),
                prio: 2,
                protocol: consts::ETH_P_IP,
                handle: 0,
                classid: Some(tc_handle(1, 0x20)),
                mirred: None,
            }),
        ]));
        let qdisc = qdisc_at(&mut rtnl, va, consts::TC_H_ROOT).expect("htb");
        (va, qdisc, rtnl.dump_classes(va).expect("dump classes"))
    });
    assert_eq!(
        (qdisc.kind.as_str(), qdisc.handle),
        ("htb", tc_handle(1, 0))
    );
    let htb = qdisc.htb.expect("htb parameters");
    assert_eq!((htb.default_class, htb.r2q), (0x10, 10));
    assert_eq!(htb.direct_qlen, Some(1000)); // the veth's txqlen
    assert_eq!(classes.len(), 2, "{classes:?}");
    for (c, (minor, rate, ceil)) in classes.iter().zip([
        (0x10, 12_500_000, 25_000_000),
        (0x20, 625_000_000, 5_000_000_000),
    ]) {
        assert_eq!(
            (c.classid, c.parent),
            (tc_handle(1, minor), consts::TC_H_ROOT)
        );
        assert_eq!(c.kind, "htb");
        let h = c.htb.expect("htb class parameters");
        assert_eq!((h.rate_bytes_per_sec, h.ceil_bytes_per_sec), (rate, ceil));
        assert_burst(h.burst_bytes, 16 * 1024, rate);
        assert_burst(h.cburst_bytes, 32 * 1024, ceil);
        assert_eq!((h.quantum, h.level), (200_000, 0));
    }

    // tc agrees (htb classes have no JSON output in iproute2 6.1).
    let text = ns.tc(&["class", "show", "dev", "va", "classid", "1:10"]);
    assert_eq!(tc_rate(tc_word(&text, "rate")), 12_500_000, "{text}");
    assert_eq!(tc_rate(tc_word(&text, "ceil")), 25_000_000, "{text}");
    let text = ns.tc(&["class", "show", "dev", "va", "classid", "1:20"]);
    assert_eq!(tc_rate(tc_word(&text, "ceil")), 5_000_000_000, "{text}");
    let json = ns.tc(&["-j", "filter", "show", "dev", "va", "parent", "1:"]);
    assert_eq!(json_str(&json, "flowid"), Some("1:20"), "{json}");

    // Replace changes a class in place; a class a filter points to cannot
    // go; deleting the qdisc takes classes and filters along.
    let (changed, filters, busy, qdiscs) = ns.run(move || {
        let mut rtnl = Rtnl::open().expect("open");
        let mut spec = class(va, 0x10, 6_250_000, 25_000_000);
        spec.quantum = Some(3000);
        one(&mut rtnl, Request::ReplaceClass(spec)).expect("replace class");
        let changed = rtnl
            .dump_classes(va)
            .expect("dump")
            .into_iter()
            .find(|c| c.classid == tc_handle(1, 0x10))
            .and_then(|c| c.htb)
            .expect("class 1:10");
        let filters = rtnl.dump_filters(va, tc_handle(1, 0)).expect("filters");
        let busy = one(
            &mut rtnl,
            Request::DelClass {
                ifindex: va,
                classid: tc_handle(1, 0x20),
            },
        )
        .expect_err("class in use");
        one(
            &mut rtnl,
            Request::DelQdisc {
                ifindex: va,
                parent: consts::TC_H_ROOT,
                handle: tc_handle(1, 0),
            },
        )
        .expect("delete htb");
        (
            changed,
            filters,
            busy,
            rtnl.dump_qdiscs().expect("dump qdiscs"),
        )
    });
    assert_eq!(changed.rate_bytes_per_sec, 6_250_000);
    assert_eq!(changed.quantum, 3000);
    let rule = filters
        .iter()
        .find(|f| f.classid.is_some())
        .unwrap_or_else(|| panic!("{filters:?}"));
    assert_eq!(rule.classid, Some(tc_handle(1, 0x20)));
    assert_eq!((rule.prio, rule.protocol), (2, consts::ETH_P_IP));
    assert_eq!(busy.errno, libc::EBUSY, "{busy}");
    assert_eq!(busy.context, format!("delete class 1:20 on ifindex {va}"));
    assert!(qdiscs.iter().all(|q| q.kind != "htb"), "{qdiscs:?}");
}

#[test]
fn errors_carry_ext_ack_and_name_device_and_qdisc() {
    if skip("errors_carry_ext_ack_and_name_device_and_qdisc") {
        return;
    }
    in_fresh_netns(|| {
        let mut rtnl = Rtnl::open().expect("open");
        let (va, vb) = veth_pair(&mut rtnl);
        let spec = root_qdisc(va, 1, tbf(125_000, 16 * 1024, 64 * 1024));
        one(&mut rtnl, Request::NewQdisc(spec.clone())).expect("add");

        let results = rtnl.execute(&[
            // Same qdisc again.
            Request::NewQdisc(spec.clone()),
            // A filter on an ingress qdisc that does not exist.
            Request::NewFilter(FilterSpec {
                ifindex: va,
                parent: consts::TC_H_INGRESS_QDISC,
                prio: 1,
                protocol: consts::ETH_P_ALL,
                handle: 0,
                classid: None,
                mirred: Some(Mirred {
                    action: MirredAction::EgressRedirect,
                    ifindex: va,
                }),
            }),
            // A class of a qdisc that does not exist.
            Request::NewClass(ClassSpec {
                ifindex: vb,
                parent: tc_handle(1, 0),
                classid: tc_handle(1, 1),
                rate_bytes_per_sec: 1000,
                ceil_bytes_per_sec: 1000,
                burst_bytes: 1600,
                cburst_bytes: 1600,
                quantum: None,
            }),
            // A missing device.
            Request::NewQdisc(QdiscSpec {
                ifindex: 9999,
                ..spec.clone()
            }),
        ]);
        let errors: Vec<NlError> = results
            .into_iter()
            .map(|r| r.expect_err("must fail"))
            .collect();
        for e in &errors {
            eprintln!("{e}");
        }
        assert_eq!(errors[0].errno, libc::EEXIST);
        assert_eq!(
            errors[0].context,
            format!("add qdisc tbf 1: root on ifindex {va}")
        );
        assert!(errors[0].ext_ack.is_some(), "{}", errors[0]);
        assert_eq!(errors[1].errno, libc::EINVAL);
        assert!(
            errors[1].context.starts_with(&format!(
                "add u32 filter prio 1 parent ffff: on ifindex {va}"
            )),
            "{}",
            errors[1]
        );
        assert!(errors[1].ext_ack.is_some(), "{}", errors[1]);
        assert_eq!(
            errors[2].context,
            format!("add htb class 1:1 parent 1: on ifindex {vb}")
        );
        assert_eq!(errors[2].errno, libc::ENOENT, "{}", errors[2]);
        assert!(errors[2].is_not_found());
        assert_eq!(errors[3].errno, libc::ENODEV);
        assert!(errors[3].context.ends_with("on ifindex 9999"));
        // The socket is still fine.
        assert!(qdisc_at(&mut rtnl, va, consts::TC_H_ROOT).is_some());
    });
}

/// What this kernel supports beyond u32 + mirred: probed with tc in a
/// scratch namespace, reported, never required.
#[test]
fn probe_police_and_matchall() {
    if skip_without_tc("probe_police_and_matchall") {
        return;
    }
    let ns = Ns::new("probe");
    ns.run(|| {
        let mut rtnl = Rtnl::open().expect("open");
        let (va, _) = veth_pair(&mut rtnl);
        one(&mut rtnl, Request::NewQdisc(QdiscSpec::ingress(va))).expect("ingress");
    });
    let probes: [(&str, &[&str]); 4] = [
        (
            "police action",
            &[
                "filter", "add", "dev", "va", "parent", "ffff:", "prio", "1", "protocol", "all",
                "u32", "match", "u32", "0", "0", "police", "rate", "1mbit", "burst", "10k", "drop",
            ],
        ),
        (
            "matchall classifier",
            &[
                "filter", "add", "dev", "va", "parent", "ffff:", "prio", "2", "protocol", "all",
                "matchall", "action", "mirred", "egress", "redirect", "dev", "vb",
            ],
        ),
        (
            "flower classifier",
            &[
                "filter", "add", "dev", "va", "parent", "ffff:", "prio", "3", "protocol", "ip",
                "flower", "action", "mirred", "egress", "redirect", "dev", "vb",
            ],
        ),
        (
            "fq_codel qdisc",
            &["qdisc", "add", "dev", "vb", "root", "fq_codel"],
        ),
    ];
    for (what, args) in probes {
        let (ok, _, err) = ns.tc_status(args);
        let verdict = if ok {
            "supported".to_owned()
        } else {
            format!("NOT supported: {}", err.lines().next().unwrap_or("").trim())
        };
        eprintln!("probe: {what}: {verdict}");
    }
}

#[test]
fn link_stats_and_dump_timing() {
    if skip("link_stats_and_dump_timing") {
        return;
    }
    in_fresh_netns(|| {
        const PAIRS: usize = 250;
        let mut rtnl = Rtnl::open().expect("open");
        let reqs: Vec<Request> = (0..PAIRS)
            .map(|i| veth(&format!("sa{i}"), &format!("sb{i}")))
            .collect();
        all_ok(rtnl.execute(&reqs));
        let lo = link(&mut rtnl, "lo").ifindex;
        one(&mut rtnl, up(lo)).expect("lo up");
        let report =
            ping::ping(None, Ipv4Addr::LOCALHOST, 3, Duration::from_secs(5)).expect("ping");
        assert_eq!(report.received, 3);

        let plain = rtnl.dump_links().expect("dump");
        assert_eq!(plain.len(), 2 * PAIRS + 1);
        assert!(plain.iter().all(|l| l.stats.is_none()));
        let with = rtnl.dump_links_with_stats().expect("dump with stats");
        assert_eq!(with.len(), plain.len());
        assert!(with.iter().all(|l| l.stats.is_some()));
        let lo_stats = with
            .iter()
            .find(|l| l.ifindex == lo)
            .and_then(|l| l.stats)
            .expect("lo stats");
        // Three echo requests and three replies, both ways through lo.
        assert!(
            lo_stats.tx_packets >= 6 && lo_stats.rx_packets >= 6,
            "{lo_stats:?}"
        );
        assert_eq!(lo_stats.rx_bytes, lo_stats.tx_bytes);
        // Apart from the stats, the same links.
        let stripped: Vec<Link> = with
            .into_iter()
            .map(|l| Link { stats: None, ..l })
            .collect();
        assert_eq!(stripped, plain);

        let median = |f: &mut dyn FnMut()| {
            let mut times: Vec<Duration> = (0..7)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .collect();
            times.sort();
            times[3]
        };
        let t_plain = median(&mut || {
            rtnl.dump_links().expect("dump");
        });
        let mut rtnl2 = Rtnl::open().expect("open");
        let t_stats = median(&mut || {
            rtnl2.dump_links_with_stats().expect("dump");
        });
        eprintln!(
            "dump of {} links: {t_plain:?} without stats, {t_stats:?} with stats (medians of 7)",
            2 * PAIRS + 1
        );
    });
}
