//! The libxl vif hotplug against a real xenstored 4.17 (fakexen shim) and real links in a
//! scratch network namespace per test; veths and taps stand in for netback's vifs and QEMU's
//! taps. Runs the `hvnet` binary the way libxl runs a vif script (build it first:
//! `cargo build --bins`). Needs root; skips otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;

use common::{ok, Call, Netns, TempDir, Xenstored};

const HOST_MAC: &str = "fe:ff:ff:ff:ff:ff";

/// One test's world: a daemon, a namespace with bridge `xenbr0` (MTU 1400), a lock dir.
struct World {
    xs: Xenstored,
    ns: Netns,
    locks: TempDir,
}

impl World {
    fn new() -> World {
        let ns = Netns::new();
        ns.bridge("xenbr0", 1400);
        World {
            xs: Xenstored::start(),
            ns,
            locks: TempDir::new(),
        }
    }

    fn call(&self, ids: (u32, u32)) -> Call<'_> {
        Call {
            xs: &self.xs,
            ns: &self.ns,
            lock_dir: &self.locks.0,
            ids,
            tap: false,
            argv0: None,
            env: &[],
        }
    }

    fn be(&self, ids: (u32, u32), key: &str) -> Option<String> {
        self.xs.read(&format!(
            "/local/domain/0/backend/vif/{}/{}/{key}",
            ids.0, ids.1
        ))
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn online_as_vif_bridge_attaches_sets_mac_mtu_up_and_connects() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    let call = Call {
        argv0: Some("vif-bridge"),
        ..w.call((5, 0))
    };
    ok(&call.run("online"));
    let l = w.ns.link("vif5.0").unwrap();
    assert_eq!(l.master.as_deref(), Some("xenbr0"));
    assert_eq!(l.mac, HOST_MAC);
    assert_eq!(l.mtu, 1400, "the bridge's MTU");
    assert!(l.up);
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    assert_eq!(w.be((5, 0), "hotplug-error"), None);
    assert_eq!(
        w.xs.read("/local/domain/5/device/vif/0/mtu").as_deref(),
        Some("1400")
    );
}

#[test]
fn repeated_online_is_idempotent_and_mtu_key_wins() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("mtu", "1300")]);
    ok(&w.call((5, 0)).run("online"));
    let first = w.ns.link("vif5.0").unwrap();
    assert_eq!(first.mtu, 1300);
    // libxl would not reset it, but prove that the second run writes it again.
    w.xs.write(&[("/local/domain/0/backend/vif/5/0/hotplug-status", "")]);
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(w.ns.link("vif5.0").unwrap(), first);
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    assert_eq!(
        w.xs.read("/local/domain/5/device/vif/0/mtu").as_deref(),
        Some("1300")
    );
}

#[test]
fn offline_detaches_and_leaves_status() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    ok(&w.call((5, 0)).run("online"));
    // No ip key, no rules: no mark (and no iptables run at all).
    assert!(!w.locks.0.join("hvnet-xen/vif-guards/vif5.0").exists());
    ok(&w.call((5, 0)).run("offline"));
    let l = w.ns.link("vif5.0").unwrap();
    assert_eq!(l.master, None);
    assert!(!l.up);
    // offline does not touch hotplug-status (netback removes it).
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
}

#[test]
fn offline_of_a_vanished_vif_exits_0() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    ok(&w.call((5, 0)).run("online"));
    w.ns.ip(&["link", "del", "vif5.0"]);
    ok(&w.call((5, 0)).run("offline"));
    // Never existed at all, and the bridge gone too.
    w.ns.ip(&["link", "del", "xenbr0"]);
    w.xs.add_vif(6, 1, Some("xenbr0"), &[]);
    ok(&w.call((6, 1)).run("offline"));
    assert_eq!(w.be((6, 1), "hotplug-status").as_deref(), Some(""));
}

#[test]
fn missing_bridge_reports_error_and_exits_1() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("nosuchbr"), &[]);
    let out = Call {
        argv0: Some("vif-bridge"),
        ..w.call((5, 0))
    }
    .run("online");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = "Could not find bridge device nosuchbr";
    assert_eq!(w.be((5, 0), "hotplug-error").as_deref(), Some(msg));
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("error"));
    assert_eq!(stderr(&out).trim(), format!("vif-bridge: {msg}"));
    assert_eq!(w.ns.link("vif5.0").unwrap().master, None);
}

#[test]
fn missing_device_and_bad_key_report_errors() {
    require_env!();
    let w = World::new();
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    let out = w.call((5, 0)).run("online");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        w.be((5, 0), "hotplug-error").as_deref(),
        Some("Could not find device vif5.0")
    );
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("error"));
    assert!(stderr(&out).contains("Could not find device vif5.0"));

    w.ns.fake_vif("vif7.0");
    w.xs.add_vif(7, 0, Some("xenbr0"), &[("mtu", "jumbo")]);
    let out = w.call((7, 0)).run("online");
    assert_eq!(out.status.code(), Some(1));
    let err = w.be((7, 0), "hotplug-error").unwrap();
    assert!(
        err.contains("backend/vif/7/0/mtu") && err.contains("jumbo"),
        "{err}"
    );
    assert_eq!(w.be((7, 0), "hotplug-status").as_deref(), Some("error"));
    assert_eq!(w.ns.link("vif7.0").unwrap().master, None, "nothing touched");
}

#[test]
fn no_bridge_key_uses_the_first_bridge() {
    require_env!();
    let w = World::new();
    w.ns.bridge("xenbr1", 1500);
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, None, &[]);
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(
        w.ns.link("vif5.0").unwrap().master.as_deref(),
        Some("xenbr0")
    );
}

#[test]
fn vifname_renames_and_publishes_mtu_at_the_frontend_path() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("vifname", "web0")]);
    ok(&w.call((5, 0)).run("online"));
    assert!(w.ns.link("vif5.0").is_none());
    let l = w.ns.link("web0").unwrap();
    assert_eq!(l.master.as_deref(), Some("xenbr0"));
    assert!(l.up);
    assert_eq!(l.mac, HOST_MAC);
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    assert_eq!(
        w.xs.read("/local/domain/5/device/vif/0/mtu").as_deref(),
        Some("1400")
    );
    // Not the upstream script's bogus node.
    assert_eq!(w.xs.read("/local/domain/web0/device/vif/web0/mtu"), None);
    // Again (already renamed), then offline.
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(w.ns.link("web0").unwrap().master.as_deref(), Some("xenbr0"));
    ok(&w.call((5, 0)).run("offline"));
    assert_eq!(w.ns.link("web0").unwrap().master, None);
}

#[test]
fn vifname_clash_and_length_errors() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(
        5,
        0,
        Some("xenbr0"),
        &[("vifname", "averyveryverylongname")],
    );
    let out = w.call((5, 0)).run("online");
    assert_eq!(out.status.code(), Some(1));
    let err = w.be((5, 0), "hotplug-error").unwrap();
    assert!(err.contains("averyveryverylongname"), "{err}");
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("error"));

    // An emulated NIC's vifname must leave room for "-emu": caught already on `online`.
    w.ns.fake_vif("vif6.0");
    w.xs.add_vif(
        6,
        0,
        Some("xenbr0"),
        &[("vifname", "abcdefghijkl"), ("type", "vif_ioemu")],
    );
    let out = w.call((6, 0)).run("online");
    assert_eq!(out.status.code(), Some(1));
    let err = w.be((6, 0), "hotplug-error").unwrap();
    assert!(
        err.contains("IFNAMSIZ") && err.contains("at most 11"),
        "{err}"
    );
    assert!(w.ns.link("vif6.0").is_some(), "not renamed");

    // Renaming onto an existing link.
    w.ns.fake_vif("vif7.0");
    w.xs.add_vif(7, 0, Some("xenbr0"), &[("vifname", "xenbr0")]);
    let out = w.call((7, 0)).run("online");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        w.be((7, 0), "hotplug-error").as_deref(),
        Some("Cannot rename interface vif7.0. An interface with name xenbr0 already exists.")
    );
}

#[test]
fn emu_tap_add_and_remove() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.ns.fake_tap("vif5.0-emu");
    w.xs.add_vif(
        5,
        0,
        Some("xenbr0"),
        &[("type", "vif_ioemu"), ("vifname", "web0")],
    );
    // The vif first (online), then the tap (add), as libxl does.
    ok(&w.call((5, 0)).run("online"));
    w.xs.write(&[("/local/domain/0/backend/vif/5/0/hotplug-status", "")]);
    w.xs.write(&[("/local/domain/5/device/vif/0/mtu", "1500")]);
    let tap = Call {
        tap: true,
        ..w.call((5, 0))
    };
    ok(&tap.run("add"));
    let l = w.ns.link("web0-emu").unwrap();
    assert_eq!(l.master.as_deref(), Some("xenbr0"));
    assert_eq!(l.mac, HOST_MAC);
    assert_eq!(l.mtu, 1400);
    assert!(l.up);
    // The tap call writes neither hotplug-status nor the frontend MTU.
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some(""));
    assert_eq!(
        w.xs.read("/local/domain/5/device/vif/0/mtu").as_deref(),
        Some("1500")
    );
    // online/offline with type_if=tap and add/remove with type_if=vif are no-ops.
    ok(&tap.run("offline"));
    assert_eq!(
        w.ns.link("web0-emu").unwrap().master.as_deref(),
        Some("xenbr0")
    );
    ok(&tap.run("remove"));
    let l = w.ns.link("web0-emu").unwrap();
    assert_eq!(l.master, None);
    assert!(!l.up);
    ok(&w.call((5, 0)).run("remove"));
    assert_eq!(w.ns.link("web0").unwrap().master.as_deref(), Some("xenbr0"));
}

#[test]
fn vif_hvnet_and_symlinks_pick_route_and_nat_modes() {
    require_env!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(
        5,
        0,
        Some("xenbr0"),
        &[("script", "/etc/xen/scripts/vif-route")],
    );
    // `hvnet xen hotplug` picks the mode from the script key: routed needs an uplink, and
    // this namespace has no default route.
    let out = w.call((5, 0)).run("online");
    assert_eq!(out.status.code(), Some(1));
    let err = w.be((5, 0), "hotplug-error").unwrap();
    assert!(err.starts_with("no uplink"), "{err}");
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("error"));
    assert_eq!(w.ns.link("vif5.0").unwrap().master, None);

    // vif-hvnet asks hvnet's config instead; a guest it does not know is bridged.
    let out = Call {
        argv0: Some("vif-hvnet"),
        env: &[("HVNET_CONFIG", "/nonexistent/hvnet.toml")],
        ..w.call((5, 0))
    }
    .run("online");
    ok(&out);
    assert_eq!(
        w.ns.link("vif5.0").unwrap().master.as_deref(),
        Some("xenbr0")
    );
    ok(&Call {
        argv0: Some("vif-hvnet"),
        ..w.call((5, 0))
    }
    .run("offline"));

    // vif-nat needs no uplink (it then masquerades out of anything but the vif).
    w.ns.fake_vif("vif6.0");
    w.xs.add_vif(6, 0, Some("xenbr0"), &[]);
    let out = Call {
        argv0: Some("vif-nat"),
        env: &[(
            "HVNET_XEN_DHCP_HOSTS",
            &*w.locks.0.join("dhcp-hosts").to_string_lossy(),
        )],
        ..w.call((6, 0))
    }
    .run("online");
    ok(&out);
    assert_eq!(w.be((6, 0), "hotplug-status").as_deref(), Some("connected"));
    let addrs =
        w.ns.exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "vif6.0"]);
    assert!(addrs.contains("10.0.6.128/32"), "{addrs}");
    let nat = w.ns.exec_ok(&["iptables", "-t", "nat", "-S", "HVNET-XNAT"]);
    assert!(
        nat.contains("-A HVNET-XNAT -s 10.0.6.1/32 ! -o vif6.0 -m comment --comment \"hvnet-xen:vif6.0\" -j MASQUERADE"),
        "{nat}"
    );
}

#[test]
fn concurrent_onlines_on_one_bridge_all_connect() {
    require_env!();
    const N: u32 = 32;
    let w = World::new();
    for d in 1..=N {
        w.ns.fake_vif(&format!("vif{d}.0"));
        w.xs.add_vif(d, 0, Some("xenbr0"), &[]);
    }
    let outs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=N)
            .map(|d| {
                let call = w.call((d, 0));
                s.spawn(move || call.run("online"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outs {
        ok(out);
    }
    for d in 1..=N {
        let l = w.ns.link(&format!("vif{d}.0")).unwrap();
        assert_eq!(l.master.as_deref(), Some("xenbr0"), "vif{d}.0");
        assert!(l.up, "vif{d}.0");
        assert_eq!(
            w.be((d, 0), "hotplug-status").as_deref(),
            Some("connected"),
            "{d}"
        );
    }
    // The lock file is released (deleted) by every run.
    assert!(!w.locks.0.join("iptables").exists());
}

#[test]
fn waits_for_the_stock_scripts_iptables_lock() {
    require_env!();
    const LOCKING_SH: &str = "/etc/xen/scripts/locking.sh";
    if !std::path::Path::new(LOCKING_SH).exists() {
        eprintln!("SKIPPED: {LOCKING_SH} missing");
        return;
    }
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    let held = w.locks.0.join("held");
    // The stock scripts' claim_lock/release_lock, on the test's lock directory.
    let script = format!(
        ". {LOCKING_SH}; LOCK_BASEDIR={dir}; claim_lock iptables; touch {held}; sleep 0.8; \
         release_lock iptables",
        dir = w.locks.0.display(),
        held = held.display()
    );
    let mut stock = std::process::Command::new("bash")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !held.exists() {
        assert!(
            start.elapsed().as_secs() < 5,
            "locking.sh never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let t = std::time::Instant::now();
    let out = w.call((5, 0)).run("online");
    let waited = t.elapsed();
    assert!(stock.wait().unwrap().success());
    ok(&out);
    assert!(
        waited.as_millis() >= 500,
        "did not wait for the lock: {waited:?}"
    );
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    assert!(!w.locks.0.join("iptables").exists(), "released (deleted)");
}

#[test]
fn vif_hvnet_follows_the_guest_in_hvnets_config_and_bridge_keys_may_name_networks() {
    require_env!();
    let w = World::new();
    w.ns.bridge("br-lan", 1500);
    let cfg = w.locks.0.join("hvnet.toml");
    std::fs::write(
        &cfg,
        "[[network]]\nname = \"lan\"\nkind = \"internal\"\nbridge = \"br-lan\"\n\
         [[network]]\nname = \"routed\"\nkind = \"routed\"\nbridge = \"br-r\"\naddress = \"10.77.0.1/24\"\n\
         [[guest]]\nname = \"web\"\n[[guest.nic]]\nnetwork = \"lan\"\n[[guest.nic]]\nnetwork = \"routed\"\nip = \"10.77.0.5\"\n",
    )
    .unwrap();
    let cfg_s = cfg.to_string_lossy().into_owned();
    // Domain 5 is "web": its NIC 0 joins network "lan", whatever the backend's bridge key.
    w.xs.write(&[("/local/domain/5/name", "web")]);
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    let env = [("HVNET_CONFIG", cfg_s.as_str())];
    ok(&Call {
        argv0: Some("vif-hvnet"),
        env: &env,
        ..w.call((5, 0))
    }
    .run("online"));
    assert_eq!(
        w.ns.link("vif5.0").unwrap().master.as_deref(),
        Some("br-lan")
    );
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    // Its NIC 1 is on a routed network: vif-route, with the NIC's fixed ip (this namespace
    // has no uplink, so the routed setup reports that).
    w.ns.fake_vif("vif5.1");
    w.xs.add_vif(5, 1, Some("xenbr0"), &[]);
    let out = Call {
        argv0: Some("vif-hvnet"),
        env: &env,
        ..w.call((5, 1))
    }
    .run("online");
    assert_eq!(out.status.code(), Some(1));
    assert!(w
        .be((5, 1), "hotplug-error")
        .unwrap()
        .starts_with("no uplink"));
    // A bridge key naming an hvnet network means that network's bridge.
    w.ns.fake_vif("vif6.0");
    w.xs.add_vif(6, 0, Some("lan"), &[]);
    let out = {
        let mut c = std::process::Command::new(common::hvnet_bin());
        c.args([
            "--netns",
            w.ns.name(),
            "-c",
            &cfg_s,
            "xen",
            "hotplug",
            "online",
            "type_if=vif",
        ])
        .env("XENSTORED_PATH", w.xs.socket())
        .env("HVNET_XEN_LOCK_DIR", &w.locks.0)
        .env("XENBUS_PATH", "backend/vif/6/0")
        .env("vif", "vif6.0");
        c.output().unwrap()
    };
    ok(&out);
    assert_eq!(
        w.ns.link("vif6.0").unwrap().master.as_deref(),
        Some("br-lan")
    );
}
