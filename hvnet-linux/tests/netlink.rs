//! Root integration tests of `hvnet_linux::netlink`.
//!
//! Every test runs on its own thread in a fresh network namespace (unshare
//! affects only that thread, and the namespace disappears with it), so
//! nothing touches the host's namespace. Without root the tests print a
//! message and pass.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Instant;

use hvnet_linux::netlink::{
    consts, BridgeInfo, BridgeOpts, Link, LinkChange, Request, RouteSpec, Rtnl,
};
use nix::sched::{setns, unshare, CloneFlags};

mod common;
use common::{all_ok, ip, is_root, link, one, veth};

/// Runs `f` on a new thread in a fresh network namespace; skips without root.
fn in_fresh_netns(test: &str, f: impl FnOnce() + Send + 'static) {
    if !common::skip(test) {
        common::in_fresh_netns(f);
    }
}

/// A second fresh namespace, kept alive by the returned file.
fn another_netns() -> File {
    thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        File::open("/proc/thread-self/ns/net").expect("open own netns")
    })
    .join()
    .expect("netns thread")
}

/// Runs `f` on a new thread inside namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &File, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.try_clone().expect("dup netns fd");
    match thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn bridge(name: &str) -> Request {
    Request::NewBridge {
        name: name.into(),
        mtu: None,
        mac: None,
        stp: None,
        forward_delay_cs: None,
        group: None,
    }
}

fn set(ifindex: u32, change: LinkChange) -> Request {
    Request::SetLink { ifindex, change }
}

const MAC_A: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

#[test]
fn bridge_is_created_down_with_its_settings() {
    in_fresh_netns("bridge_is_created_down_with_its_settings", || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[Request::NewBridge {
            name: "hvbr0".into(),
            mtu: Some(9000),
            mac: Some(MAC_A),
            stp: Some(true),
            forward_delay_cs: Some(400),
            group: Some(5),
        }]));
        assert_eq!(rtnl.writes(), 1);

        let links = rtnl.dump_links().expect("dump");
        let br = links
            .iter()
            .find(|l| l.name == "hvbr0")
            .expect("bridge in dump");
        assert_eq!(br.kind.as_deref(), Some("bridge"));
        assert_eq!(br.mtu, 9000);
        assert_eq!(br.mac, Some(MAC_A));
        assert_eq!(br.group, 5);
        assert!(!br.is_up(), "created down");
        assert_eq!(
            br.bridge,
            Some(BridgeInfo {
                stp_state: 1,
                forward_delay_cs: 400
            })
        );
        assert!(links.iter().any(|l| l.name == "lo" && l.kind.is_none()));
        // A second, fresh socket sees the same.
        let mut other = Rtnl::open().expect("open");
        assert_eq!(&link(&mut other, "hvbr0"), br);
        assert_eq!(other.writes(), 0);
        // And so does iproute2.
        let shown = ip(&["-d", "link", "show", "dev", "hvbr0"]);
        assert!(shown.contains("mtu 9000"), "{shown}");
        assert!(shown.contains("52:54:00:12:34:56"), "{shown}");
        assert!(shown.contains("forward_delay 400"), "{shown}");
        assert!(shown.contains("stp_state 1"), "{shown}");

        // Change the bridge settings on the existing bridge.
        let ifindex = br.ifindex;
        all_ok(rtnl.execute(&[set(
            ifindex,
            LinkChange {
                bridge: Some(BridgeOpts {
                    stp: Some(false),
                    forward_delay_cs: Some(0),
                }),
                ..LinkChange::default()
            },
        )]));
        assert_eq!(
            link(&mut rtnl, "hvbr0").bridge,
            Some(BridgeInfo {
                stp_state: 0,
                forward_delay_cs: 0
            })
        );

        // Creating it again fails (never replaces), naming the bridge.
        let err = one(&mut rtnl, bridge("hvbr0")).expect_err("duplicate");
        assert_eq!(err.errno, libc::EEXIST);
        assert!(err.is_exists());
        assert_eq!(err.context, "create bridge hvbr0");
        assert!(
            err.to_string()
                .starts_with("create bridge hvbr0: File exists (os error 17)"),
            "{err}"
        );
    });
}

#[test]
fn veth_pair_in_same_namespace() {
    in_fresh_netns("veth_pair_in_same_namespace", || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[Request::NewVeth {
            name: "ve-a".into(),
            mtu: Some(1400),
            mac: Some(MAC_A),
            group: Some(3),
            peer_name: "ve-b".into(),
            peer_mac: Some(MAC_B),
            peer_netns_fd: None,
        }]));
        let a = link(&mut rtnl, "ve-a");
        let b = link(&mut rtnl, "ve-b");
        for l in [&a, &b] {
            assert_eq!(l.kind.as_deref(), Some("veth"));
            assert_eq!(l.mtu, 1400);
            assert_eq!(l.link_netnsid, None);
            assert!(!l.is_up());
        }
        assert_eq!((a.mac, b.mac), (Some(MAC_A), Some(MAC_B)));
        assert_eq!((a.group, b.group), (3, 0));
        assert_eq!((a.link, b.link), (Some(b.ifindex), Some(a.ifindex)));

        // Deleting one end deletes both.
        all_ok(rtnl.execute(&[Request::DelLink { ifindex: a.ifindex }]));
        assert_eq!(rtnl.get_link("ve-a").expect("get"), None);
        assert_eq!(rtnl.get_link("ve-b").expect("get"), None);
    });
}

#[test]
fn veth_peer_in_another_namespace() {
    in_fresh_netns("veth_peer_in_another_namespace", || {
        let guest = another_netns();
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[Request::NewVeth {
            name: "ve-host".into(),
            mtu: Some(1450),
            mac: None,
            group: None,
            peer_name: "eth0".into(),
            peer_mac: Some(MAC_B),
            peer_netns_fd: Some(guest.as_raw_fd()),
        }]));
        let host = link(&mut rtnl, "ve-host");
        assert_eq!(host.kind.as_deref(), Some("veth"));
        assert!(host.link_netnsid.is_some(), "{host:?}");
        assert_eq!(rtnl.get_link("eth0").expect("get"), None);

        let peer = in_netns(&guest, || {
            let mut rtnl = Rtnl::open().expect("open in guest");
            let links = rtnl.dump_links().expect("dump in guest");
            assert_eq!(links.len(), 2, "lo and eth0: {links:?}");
            link(&mut rtnl, "eth0")
        });
        assert_eq!(peer.kind.as_deref(), Some("veth"));
        assert_eq!(peer.mac, Some(MAC_B));
        assert_eq!(peer.mtu, 1450);
        assert!(peer.link_netnsid.is_some());
        assert_eq!(peer.link, Some(host.ifindex));
    });
}

#[test]
fn set_link_changes() {
    in_fresh_netns("set_link_changes", || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[bridge("br0"), veth("v0", "v1")]));
        let br = link(&mut rtnl, "br0");
        let v0 = link(&mut rtnl, "v0");

        all_ok(rtnl.execute(&[
            set(
                br.ifindex,
                LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            ),
            set(
                v0.ifindex,
                LinkChange {
                    master: Some(br.ifindex),
                    mtu: Some(1280),
                    mac: Some(MAC_A),
                    up: Some(true),
                    alias: Some("uplink to br0".into()),
                    group: Some(42),
                    bridge: None,
                    port: None,
                },
            ),
        ]));
        let got = link(&mut rtnl, "v0");
        assert_eq!(got.master, Some(br.ifindex));
        assert_eq!(got.mtu, 1280);
        assert_eq!(got.mac, Some(MAC_A));
        assert!(got.is_up());
        assert_eq!(got.alias.as_deref(), Some("uplink to br0"));
        assert_eq!(got.group, 42);
        assert!(link(&mut rtnl, "br0").is_up());
        let shown = ip(&["link", "show", "dev", "v0"]);
        assert!(shown.contains("master br0"), "{shown}");
        assert!(shown.contains("alias uplink to br0"), "{shown}");

        all_ok(rtnl.execute(&[set(
            v0.ifindex,
            LinkChange {
                master: Some(0),
                up: Some(false),
                alias: Some(String::new()),
                group: Some(0),
                ..LinkChange::default()
            },
        )]));
        let got = link(&mut rtnl, "v0");
        assert_eq!(got.master, None);
        assert!(!got.is_up());
        assert_eq!(got.alias, None);
        assert_eq!(got.group, 0);
        assert_eq!(got.mtu, 1280, "untouched");
        assert!(!ip(&["link", "show", "dev", "v0"]).contains("alias"));

        // A change to a missing link.
        let err = one(
            &mut rtnl,
            set(
                999_999,
                LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            ),
        )
        .expect_err("no such link");
        assert_eq!(err.errno, libc::ENODEV);
        assert!(err.is_not_found());
        assert_eq!(err.context, "set link ifindex 999999 (up)");
    });
}

#[test]
fn del_group_deletes_exactly_the_group() {
    in_fresh_netns("del_group_deletes_exactly_the_group", || {
        let mut rtnl = Rtnl::open().expect("open");
        let mut reqs: Vec<Request> = (0..6)
            .map(|i| Request::NewBridge {
                name: format!("gbr{i}"),
                mtu: None,
                mac: None,
                stp: None,
                forward_delay_cs: None,
                group: Some(if i < 4 { 10 } else { 11 }),
            })
            .collect();
        reqs.push(Request::NewVeth {
            name: "gv0".into(),
            mtu: None,
            mac: None,
            group: Some(10),
            peer_name: "gv1".into(),
            peer_mac: None,
            peer_netns_fd: None,
        });
        reqs.push(bridge("plain"));
        all_ok(rtnl.execute(&reqs));
        assert_eq!(rtnl.dump_links().expect("dump").len(), 1 + 6 + 2 + 1);

        let writes = rtnl.writes();
        let err = one(&mut rtnl, Request::DelGroup { group: 0 }).expect_err("group 0");
        assert_eq!(err.errno, libc::EINVAL);
        assert_eq!(rtnl.writes(), writes, "refused before sending");

        all_ok(rtnl.execute(&[Request::DelGroup { group: 10 }]));
        let mut left: Vec<String> = rtnl
            .dump_links()
            .expect("dump")
            .into_iter()
            .map(|l| l.name)
            .collect();
        left.sort();
        assert_eq!(left, ["gbr4", "gbr5", "lo", "plain"]);
    });
}

#[test]
fn addresses_add_dump_delete() {
    in_fresh_netns("addresses_add_dump_delete", || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[bridge("abr")]));
        let br = link(&mut rtnl, "abr").ifindex;
        let v4: IpAddr = Ipv4Addr::new(10, 77, 0, 1).into();
        let host: IpAddr = Ipv4Addr::new(10, 77, 1, 1).into();
        let v6: IpAddr = "fd00:77::1".parse::<Ipv6Addr>().expect("ipv6").into();
        let add = |address, prefix_len| Request::NewAddr {
            ifindex: br,
            address,
            prefix_len,
        };
        all_ok(rtnl.execute(&[
            set(
                br,
                LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            ),
            add(v4, 24),
            add(host, 32),
            add(v6, 64),
        ]));

        let addrs = rtnl.dump_addrs().expect("dump");
        let find = |a: IpAddr| addrs.iter().find(|x| x.address == a && x.ifindex == br);
        let a4 = find(v4).expect("10.77.0.1");
        assert_eq!((a4.prefix_len, a4.scope), (24, consts::RT_SCOPE_UNIVERSE));
        assert_eq!(a4.label.as_deref(), Some("abr"));
        assert!(a4.flags & consts::IFA_F_PERMANENT != 0);
        assert_eq!(find(host).expect("10.77.1.1").prefix_len, 32);
        assert_eq!(find(v6).expect("fd00:77::1").prefix_len, 64);
        // Asked by link: the same addresses of that link, none of another's, and a link
        // that does not exist has none (its dump fails with ENODEV in the kernel).
        all_ok(rtnl.execute(&[bridge("obr")]));
        let other = link(&mut rtnl, "obr").ifindex;
        all_ok(rtnl.execute(&[Request::NewAddr {
            ifindex: other,
            address: Ipv4Addr::new(10, 78, 0, 1).into(),
            prefix_len: 24,
        }]));
        let mine: Vec<_> = addrs.iter().filter(|a| a.ifindex == br).cloned().collect();
        let asked = rtnl
            .dump_addrs_of_links(&[br, 999_999])
            .expect("dump of one link");
        assert_eq!(asked, mine);
        assert_eq!(rtnl.dump_addrs_of_links(&[other]).expect("dump").len(), 1);
        // The socket's other dumps work as before afterwards.
        assert!(rtnl.dump_ports(br).expect("ports").is_empty());
        let shown = ip(&["-4", "addr", "show", "dev", "abr"]);
        assert!(
            shown.contains("inet 10.77.0.1/24 brd 10.77.0.255"),
            "{shown}"
        );
        assert!(!shown.contains("10.77.1.1/32 brd"), "{shown}");

        let err = one(&mut rtnl, add(v4, 24)).expect_err("duplicate address");
        assert_eq!(err.errno, libc::EEXIST);
        assert_eq!(
            err.context,
            format!("add address 10.77.0.1/24 on ifindex {br}")
        );

        let del = |address, prefix_len| Request::DelAddr {
            ifindex: br,
            address,
            prefix_len,
        };
        all_ok(rtnl.execute(&[del(v4, 24), del(v6, 64)]));
        let addrs = rtnl.dump_addrs().expect("dump");
        assert!(!addrs.iter().any(|a| a.address == v4 || a.address == v6));
        assert!(addrs.iter().any(|a| a.address == host));
        let err = one(&mut rtnl, del(v4, 24)).expect_err("already deleted");
        assert!(err.is_not_found(), "{err}");
    });
}

#[test]
fn routes_add_dump_delete() {
    in_fresh_netns("routes_add_dump_delete", || {
        let mut rtnl = Rtnl::open().expect("open");
        all_ok(rtnl.execute(&[bridge("rbr")]));
        let br = link(&mut rtnl, "rbr").ifindex;
        let v6_gw: IpAddr = "fd00:8::2".parse::<Ipv6Addr>().expect("ipv6").into();
        all_ok(rtnl.execute(&[
            set(
                br,
                LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            ),
            Request::NewAddr {
                ifindex: br,
                address: Ipv4Addr::new(10, 8, 0, 1).into(),
                prefix_len: 24,
            },
            Request::NewAddr {
                ifindex: br,
                address: "fd00:8::1".parse::<Ipv6Addr>().expect("ipv6").into(),
                prefix_len: 64,
            },
        ]));
        let v4 = RouteSpec {
            table: consts::RT_TABLE_MAIN,
            dst: Ipv4Addr::new(10, 9, 0, 0).into(),
            dst_len: 24,
            gateway: Some(Ipv4Addr::new(10, 8, 0, 2).into()),
            oif: None,
            prefsrc: Some(Ipv4Addr::new(10, 8, 0, 1).into()),
            protocol: 104,
            scope: consts::RT_SCOPE_UNIVERSE,
            priority: Some(20),
        };
        let v6 = RouteSpec {
            table: 1000,
            dst: "fd00:99::".parse::<Ipv6Addr>().expect("ipv6").into(),
            dst_len: 64,
            gateway: Some(v6_gw),
            oif: Some(br),
            prefsrc: None,
            protocol: 104,
            scope: consts::RT_SCOPE_UNIVERSE,
            priority: None,
        };
        all_ok(rtnl.execute(&[Request::NewRoute(v4.clone()), Request::NewRoute(v6.clone())]));

        let routes = rtnl.dump_routes().expect("dump");
        let r4 = routes
            .iter()
            .find(|r| r.dst == v4.dst && r.dst_len == 24)
            .expect("IPv4 route");
        assert_eq!(r4.table, consts::RT_TABLE_MAIN);
        assert_eq!(r4.gateway, v4.gateway);
        assert_eq!(r4.oif, Some(br));
        assert_eq!(r4.prefsrc, v4.prefsrc);
        assert_eq!(
            (r4.protocol, r4.scope, r4.kind),
            (104, 0, consts::RTN_UNICAST)
        );
        assert_eq!(r4.priority, Some(20));
        let r6 = routes
            .iter()
            .find(|r| r.dst == v6.dst && r.dst_len == 64)
            .expect("IPv6 route");
        assert_eq!(
            (r6.table, r6.gateway, r6.oif),
            (1000, Some(v6_gw), Some(br))
        );
        assert_eq!(r6.protocol, 104);
        // The kernel's own routes, of all tables.
        assert!(routes
            .iter()
            .any(|r| r.dst == IpAddr::from(Ipv4Addr::new(10, 8, 0, 0))
                && r.dst_len == 24
                && r.protocol == consts::RTPROT_KERNEL
                && r.scope == consts::RT_SCOPE_LINK));
        assert!(routes.iter().any(|r| r.table == consts::RT_TABLE_LOCAL
            && r.kind == consts::RTN_LOCAL
            && r.dst == IpAddr::from(Ipv4Addr::new(10, 8, 0, 1))));
        let shown = ip(&["route", "show", "proto", "104"]);
        assert!(
            shown.contains("10.9.0.0/24 via 10.8.0.2 dev rbr"),
            "{shown}"
        );

        // An unreachable gateway: the kernel explains why.
        let bad = RouteSpec {
            dst: Ipv4Addr::new(10, 10, 0, 0).into(),
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1).into()),
            prefsrc: None,
            ..v4.clone()
        };
        let err = one(&mut rtnl, Request::NewRoute(bad)).expect_err("unreachable gateway");
        assert_eq!(err.errno, libc::ENETUNREACH);
        assert!(err.ext_ack.is_some(), "{err:?}");
        assert!(err
            .context
            .starts_with("add route 10.10.0.0/24 via 192.0.2.1"));
        eprintln!("ext ack example: {err}");

        all_ok(rtnl.execute(&[Request::DelRoute(v4.clone()), Request::DelRoute(v6.clone())]));
        let routes = rtnl.dump_routes().expect("dump");
        assert!(!routes.iter().any(|r| r.protocol == 104));
        let err = one(&mut rtnl, Request::DelRoute(v4)).expect_err("already deleted");
        assert!(err.is_not_found(), "{err}");
    });
}

#[test]
fn failures_in_a_batch_are_reported_each() {
    in_fresh_netns("failures_in_a_batch_are_reported_each", || {
        let mut rtnl = Rtnl::open().expect("open");
        let results = rtnl.execute(&[
            veth("this-name-is-far-too-long", "peer0"),
            bridge("ok0"),
            bridge("ok0"),
            bridge("bad\0name"),
            set(
                999_999,
                LinkChange {
                    mtu: Some(1400),
                    ..LinkChange::default()
                },
            ),
            bridge("ok1"),
        ]);
        assert_eq!(results.len(), 6);
        let err = results[0].as_ref().expect_err("name too long");
        // EINVAL or ERANGE, depending on the kernel's policy checks.
        assert!(matches!(err.errno, libc::EINVAL | libc::ERANGE), "{err}");
        assert_eq!(
            err.context,
            "create veth this-name-is-far-too-long (peer peer0)"
        );
        let text = err.ext_ack.as_deref().expect("kernel explains");
        assert!(err.to_string().ends_with(&format!("({text})")), "{err}");
        eprintln!("ext ack example: {err}");
        assert_eq!(results[1], Ok(()));
        assert_eq!(results[2].as_ref().map_err(|e| e.errno), Err(libc::EEXIST));
        assert_eq!(results[3].as_ref().map_err(|e| e.errno), Err(libc::EINVAL));
        assert_eq!(results[4].as_ref().map_err(|e| e.errno), Err(libc::ENODEV));
        assert_eq!(results[5], Ok(()));
        assert_eq!(rtnl.writes(), 5, "the NUL name was never sent");
        assert!(rtnl.get_link("ok1").expect("get").is_some());

        // Lookups of missing links, short and long (alternative) names.
        assert_eq!(rtnl.get_link("missing").expect("get"), None);
        assert_eq!(
            rtnl.get_link("a-very-long-alternative-name").expect("get"),
            None
        );
    });
}

#[test]
fn thousand_pipelined_requests() {
    in_fresh_netns("thousand_pipelined_requests", || {
        // Veths: unlike bridges, the kernel deletes them quickly.
        const PAIRS: usize = 500;
        const N: usize = 2 * PAIRS;
        let mut rtnl = Rtnl::open().expect("open");
        let create: Vec<Request> = (0..PAIRS)
            .map(|i| veth(&format!("pa{i}"), &format!("pb{i}")))
            .collect();
        let t = Instant::now();
        let results = rtnl.execute(&create);
        let t_create = t.elapsed();
        assert_eq!(results.len(), PAIRS);
        all_ok(results);

        let t = Instant::now();
        let links = rtnl.dump_links().expect("dump");
        let t_dump = t.elapsed();
        assert_eq!(links.len(), N + 1);

        let change: Vec<Request> = links
            .iter()
            .filter(|l| l.name.starts_with('p'))
            .map(|l| {
                set(
                    l.ifindex,
                    LinkChange {
                        up: Some(true),
                        alias: Some(format!("alias of {}", l.name)),
                        group: Some(9),
                        ..LinkChange::default()
                    },
                )
            })
            .collect();
        assert_eq!(change.len(), N);
        let t = Instant::now();
        let results = rtnl.execute(&change);
        let t_set = t.elapsed();
        assert_eq!(results.len(), N);
        all_ok(results);
        assert_eq!(rtnl.writes(), (PAIRS + N) as u64);

        let links = rtnl.dump_links().expect("dump");
        let changed: Vec<&Link> = links.iter().filter(|l| l.group == 9).collect();
        assert_eq!(changed.len(), N);
        assert!(changed
            .iter()
            .all(|l| l.is_up()
                && l.alias.as_deref() == Some(format!("alias of {}", l.name).as_str())));

        let t = Instant::now();
        all_ok(rtnl.execute(&[Request::DelGroup { group: 9 }]));
        let t_del = t.elapsed();
        assert_eq!(rtnl.dump_links().expect("dump").len(), 1);
        eprintln!(
            "{N} veths: create {t_create:?}, dump {t_dump:?}, {N} pipelined SetLink {t_set:?}, \
             DelGroup {t_del:?}"
        );
    });
}

/// Compares with `ip -batch` (run alone with `--ignored --nocapture`: the
/// kernel tears namespaces full of bridges down slowly, holding the RTNL, and
/// that would skew any measurement running meanwhile).
#[test]
#[ignore = "benchmark"]
fn bench_against_ip_batch() {
    const N: usize = 1024;
    if !is_root() {
        eprintln!("skipping bench_against_ip_batch: needs root");
        return;
    }
    // Both namespaces live until both runs are done.
    let (ns_ip, ns_hvnet) = (another_netns(), another_netns());
    in_netns(&ns_ip, || {
        let path = std::env::temp_dir().join(format!("hvnet-bench-{}", std::process::id()));
        let run = |script: String| {
            std::fs::write(&path, script).expect("write batch");
            let t = Instant::now();
            ip(&["-batch", path.to_str().expect("utf-8 path")]);
            t.elapsed()
        };
        let t_add = run((0..N)
            .map(|i| format!("link add ib{i} type bridge\n"))
            .collect());
        let t_up = run((0..N).map(|i| format!("link set ib{i} up\n")).collect());
        let _ = std::fs::remove_file(&path);
        eprintln!("ip -batch: {N} bridges created in {t_add:?}, set up in {t_up:?}");
    });
    in_netns(&ns_hvnet, || {
        let mut rtnl = Rtnl::open().expect("open");
        let create: Vec<Request> = (0..N).map(|i| bridge(&format!("hb{i}"))).collect();
        let t = Instant::now();
        all_ok(rtnl.execute(&create));
        let t_add = t.elapsed();
        let t = Instant::now();
        let links = rtnl.dump_links().expect("dump");
        let t_dump = t.elapsed();
        let up: Vec<Request> = links
            .iter()
            .filter(|l| l.name.starts_with("hb"))
            .map(|l| {
                set(
                    l.ifindex,
                    LinkChange {
                        up: Some(true),
                        ..LinkChange::default()
                    },
                )
            })
            .collect();
        let t = Instant::now();
        all_ok(rtnl.execute(&up));
        let t_up = t.elapsed();
        eprintln!(
            "hvnet:     {N} bridges created in {t_add:?}, dumped in {t_dump:?}, set up in {t_up:?}"
        );
    });
}
