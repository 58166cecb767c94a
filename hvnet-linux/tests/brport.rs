//! Root integration tests of bridge port options ([`BridgePortOpts`]):
//! hairpin mode and port isolation set through `Request::SetLink`, checked
//! against iproute2's view (`ip -j -d link show`) and our own dump.
//!
//! Every test runs on its own thread in a fresh network namespace; without
//! root the tests print a message and pass.

use hvnet_linux::netlink::{BridgePortInfo, BridgePortOpts, LinkChange, Request, Rtnl};

mod common;
use common::{all_ok, ip, link, one, veth};

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

fn set_port(ifindex: u32, port: BridgePortOpts) -> Request {
    Request::SetLink {
        ifindex,
        change: LinkChange {
            port: Some(port),
            ..LinkChange::default()
        },
    }
}

/// The `"info_slave_data"` object of `ip -j -d link show dev NAME`
/// (compact JSON, no nested objects in a bridge port's data).
fn slave_data(name: &str) -> String {
    let out = ip(&["-j", "-d", "link", "show", "dev", name]);
    let start = out
        .find("\"info_slave_data\":{")
        .unwrap_or_else(|| panic!("no info_slave_data for {name}: {out}"));
    let rest = &out[start..];
    rest[..=rest.find('}').expect("closing brace")].to_owned()
}

/// iproute2's view of one boolean port flag.
fn ip_flag(name: &str, flag: &str) -> bool {
    let data = slave_data(name);
    if data.contains(&format!("\"{flag}\":true")) {
        true
    } else if data.contains(&format!("\"{flag}\":false")) {
        false
    } else {
        panic!("{flag} missing from {data}")
    }
}

#[test]
fn hairpin_and_isolated_on_and_off() {
    if common::skip("hairpin_and_isolated_on_and_off") {
        return;
    }
    common::in_fresh_netns(|| {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        all_ok(rtnl.execute(&[bridge("br0"), veth("vg1", "vg2")]));
        let br = link(&mut rtnl, "br0");
        let vg1 = link(&mut rtnl, "vg1");
        assert_eq!(br.port, None, "a bridge that is no port");
        assert_eq!(vg1.port, None, "not enslaved yet");
        one(
            &mut rtnl,
            Request::SetLink {
                ifindex: vg1.ifindex,
                change: LinkChange {
                    master: Some(br.ifindex),
                    ..LinkChange::default()
                },
            },
        )
        .expect("enslave vg1");
        let defaults = BridgePortInfo {
            hairpin: false,
            isolated: false,
            learning: true,
            flood: true,
        };
        assert_eq!(link(&mut rtnl, "vg1").port, Some(defaults));
        assert!(!ip_flag("vg1", "hairpin"));

        for on in [true, false] {
            one(
                &mut rtnl,
                set_port(
                    vg1.ifindex,
                    BridgePortOpts {
                        hairpin: Some(on),
                        ..BridgePortOpts::default()
                    },
                ),
            )
            .unwrap_or_else(|e| panic!("hairpin {on}: {e}"));
            assert_eq!(ip_flag("vg1", "hairpin"), on, "ip: hairpin {on}");
            assert_eq!(
                link(&mut rtnl, "vg1").port,
                Some(BridgePortInfo {
                    hairpin: on,
                    ..defaults
                })
            );
            // The dump agrees with get_link.
            let dumped = rtnl.dump_links().expect("dump links");
            let port = dumped.iter().find(|l| l.name == "vg1").expect("vg1");
            assert_eq!(port.port.map(|p| p.hairpin), Some(on));
        }

        for on in [true, false] {
            one(
                &mut rtnl,
                set_port(
                    vg1.ifindex,
                    BridgePortOpts {
                        isolated: Some(on),
                        ..BridgePortOpts::default()
                    },
                ),
            )
            .unwrap_or_else(|e| panic!("isolated {on}: {e}"));
            assert_eq!(ip_flag("vg1", "isolated"), on, "ip: isolated {on}");
            assert_eq!(
                link(&mut rtnl, "vg1").port,
                Some(BridgePortInfo {
                    isolated: on,
                    ..defaults
                })
            );
        }

        // All four at once, then back to the defaults.
        let all = BridgePortOpts {
            hairpin: Some(true),
            isolated: Some(true),
            learning: Some(false),
            flood: Some(false),
        };
        one(&mut rtnl, set_port(vg1.ifindex, all)).expect("all four");
        assert_eq!(
            link(&mut rtnl, "vg1").port,
            Some(BridgePortInfo {
                hairpin: true,
                isolated: true,
                learning: false,
                flood: false,
            })
        );
        assert!(ip_flag("vg1", "hairpin") && ip_flag("vg1", "isolated"));
        assert!(!ip_flag("vg1", "learning") && !ip_flag("vg1", "flood"));
        let back = BridgePortOpts {
            hairpin: Some(false),
            isolated: Some(false),
            learning: Some(true),
            flood: Some(true),
        };
        one(&mut rtnl, set_port(vg1.ifindex, back)).expect("defaults");
        assert_eq!(link(&mut rtnl, "vg1").port, Some(defaults));
    });
}

#[test]
fn enslave_and_set_port_in_one_change() {
    if common::skip("enslave_and_set_port_in_one_change") {
        return;
    }
    common::in_fresh_netns(|| {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        all_ok(rtnl.execute(&[bridge("br0"), veth("vg1", "vg2")]));
        let br = link(&mut rtnl, "br0");
        let vg1 = link(&mut rtnl, "vg1");
        one(
            &mut rtnl,
            Request::SetLink {
                ifindex: vg1.ifindex,
                change: LinkChange {
                    master: Some(br.ifindex),
                    port: Some(BridgePortOpts {
                        hairpin: Some(true),
                        ..BridgePortOpts::default()
                    }),
                    ..LinkChange::default()
                },
            },
        )
        .expect("enslave with hairpin");
        let port = link(&mut rtnl, "vg1").port.expect("a bridge port");
        assert!(port.hairpin);
        assert!(ip_flag("vg1", "hairpin"));
    });
}

#[test]
fn port_options_on_a_non_port_fail_naming_the_link() {
    if common::skip("port_options_on_a_non_port_fail_naming_the_link") {
        return;
    }
    common::in_fresh_netns(|| {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        all_ok(rtnl.execute(&[veth("vg1", "vg2")]));
        let vg1 = link(&mut rtnl, "vg1");
        let err = one(
            &mut rtnl,
            set_port(
                vg1.ifindex,
                BridgePortOpts {
                    hairpin: Some(true),
                    ..BridgePortOpts::default()
                },
            ),
        )
        .expect_err("hairpin on a link without a master");
        assert_eq!(err.errno, libc::EOPNOTSUPP, "{err}");
        let naming = format!("set link ifindex {} (hairpin on)", vg1.ifindex);
        assert_eq!(err.context, naming);
        assert!(err.to_string().contains(&naming), "{err}");
        assert_eq!(link(&mut rtnl, "vg1").port, None);
    });
}
