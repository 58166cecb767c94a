//! The backend `rate` key against a real xenstored 4.17 (fakexen shim) and real links in a
//! scratch namespace: validation for PV vifs, the IFB + tbf of an `-emu` tap, and
//! `hvnet xen rate`. Needs root and `tc`; skips otherwise. Build the binary first
//! (`cargo build --bins`).

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output, Stdio};

use common::{ok, Call, Netns, TempDir, Xenstored};
use hvnet_xen::hotplug::rate::ifb_name;

const TAP: &str = "vif5.0-emu";

struct World {
    xs: Xenstored,
    ns: Netns,
    locks: TempDir,
}

impl World {
    fn new() -> World {
        let ns = Netns::new();
        ns.bridge("xenbr0", 1500);
        World {
            xs: Xenstored::start(),
            ns,
            locks: TempDir::new(),
        }
    }

    fn call(&self, tap: bool) -> Call<'_> {
        Call {
            xs: &self.xs,
            ns: &self.ns,
            lock_dir: &self.locks.0,
            ids: (5, 0),
            tap,
            argv0: None,
            env: &[],
        }
    }

    fn be(&self, key: &str) -> Option<String> {
        self.xs
            .read(&format!("/local/domain/0/backend/vif/5/0/{key}"))
    }

    /// `hvnet --netns NS xen rate ARGS...` with the daemon's socket.
    fn rate(&self, args: &[&str]) -> Output {
        Command::new(common::hvnet_bin())
            .args(["--netns", self.ns.name(), "xen", "rate"])
            .args(args)
            .env("XENSTORED_PATH", self.xs.socket())
            .env("HVNET_XEN_LOCK_DIR", &self.locks.0)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `tc -j qdisc show dev DEV` in the namespace; empty if the device is gone.
    fn qdiscs(&self, dev: &str) -> Vec<serde_json::Value> {
        let out = self.ns.exec(&["tc", "-j", "qdisc", "show", "dev", dev]);
        if !out.status.success() {
            return Vec::new();
        }
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The rate (bytes/s) and burst of hvnet's tbf (handle 4856:) on DEV.
    fn tbf(&self, dev: &str) -> Option<(u64, u64)> {
        self.qdiscs(dev)
            .into_iter()
            .find(|q| q["kind"] == "tbf" && q["handle"] == "4856:" && q["root"] == true)
            .map(|q| {
                (
                    q["options"]["rate"].as_u64().unwrap(),
                    q["options"]["burst"].as_u64().unwrap(),
                )
            })
    }

    /// Whether DEV's ingress is redirected to `to` (u32 match-all + mirred).
    fn redirected(&self, dev: &str, to: &str) -> bool {
        if !self.qdiscs(dev).iter().any(|q| q["kind"] == "ingress") {
            return false;
        }
        let out = self
            .ns
            .exec_ok(&["tc", "filter", "show", "dev", dev, "ingress"]);
        out.contains("mirred") && out.contains(&format!("Redirect to device {to}"))
    }
}

fn tc_available() -> bool {
    Command::new("tc").arg("-V").output().is_ok()
}

macro_rules! require_tc {
    () => {
        require_env!();
        if !tc_available() {
            eprintln!("SKIPPED: tc missing");
            return;
        }
    };
}

#[test]
fn emu_tap_add_limits_guest_transmit_and_remove_cleans_up() {
    require_tc!();
    let w = World::new();
    w.ns.fake_tap(TAP);
    w.xs.add_vif(
        5,
        0,
        Some("xenbr0"),
        &[("type", "vif_ioemu"), ("rate", "250000,20000")],
    );
    ok(&w.call(true).run("add"));
    let ifb = ifb_name(TAP);
    // 100Mb/s@20ms: 250000 bytes per 20 ms = 12.5 MB/s, netback's bucket = the credit.
    let (rate, burst) = w
        .tbf(&ifb)
        .unwrap_or_else(|| panic!("{:?}", w.qdiscs(&ifb)));
    assert_eq!(rate, 12_500_000);
    assert!((249_000..=250_000).contains(&burst), "burst {burst}");
    assert!(w.redirected(TAP, &ifb));
    // Guest receive (the tap's own egress) is not limited, as with netback.
    assert!(w.tbf(TAP).is_none(), "{:?}", w.qdiscs(TAP));
    assert_eq!(w.ns.link(TAP).unwrap().master.as_deref(), Some("xenbr0"));
    assert!(w.ns.link(&ifb).unwrap().up);
    // The tap call never writes hotplug-status.
    assert_eq!(w.be("hotplug-status").as_deref(), Some(""));

    // A repeated add keeps one redirect and the same tbf.
    ok(&w.call(true).run("add"));
    assert_eq!(w.tbf(&ifb).map(|t| t.0), Some(12_500_000));
    let filters =
        w.ns.exec_ok(&["tc", "filter", "show", "dev", TAP, "ingress"]);
    assert_eq!(
        filters.matches("Redirect to device").count(),
        1,
        "{filters}"
    );

    ok(&w.call(true).run("remove"));
    assert!(w.ns.link(&ifb).is_none(), "the IFB must be deleted");
    assert!(!w.qdiscs(TAP).iter().any(|q| q["kind"] == "ingress"));
    assert_eq!(w.ns.link(TAP).unwrap().master, None);
}

#[test]
fn remove_after_qemu_deleted_the_tap_still_deletes_the_ifb() {
    require_tc!();
    let w = World::new();
    w.ns.fake_tap(TAP);
    w.xs.add_vif(
        5,
        0,
        Some("xenbr0"),
        &[("type", "vif_ioemu"), ("rate", "62500,50000")],
    );
    ok(&w.call(true).run("add"));
    let ifb = ifb_name(TAP);
    assert_eq!(w.tbf(&ifb).map(|t| t.0), Some(1_250_000));
    w.ns.ip(&["link", "del", TAP]);
    ok(&w.call(true).run("remove"));
    assert!(w.ns.link(&ifb).is_none());
}

#[test]
fn emu_tap_without_rate_gets_no_tc() {
    require_tc!();
    let w = World::new();
    w.ns.fake_tap(TAP);
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("type", "vif_ioemu")]);
    ok(&w.call(true).run("add"));
    assert!(w.ns.link(&ifb_name(TAP)).is_none());
    assert!(!w.qdiscs(TAP).iter().any(|q| q["kind"] == "ingress"));
}

#[test]
fn pv_vif_rate_is_left_to_netback_and_a_blocking_rate_is_an_error() {
    require_tc!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("rate", "250000,20000")]);
    ok(&w.call(false).run("online"));
    assert_eq!(w.be("hotplug-status").as_deref(), Some("connected"));
    assert!(w.ns.link(&ifb_name("vif5.0")).is_none());
    assert!(w.qdiscs("vif5.0").iter().all(|q| q["kind"] != "ingress"));
    assert!(w.tbf("vif5.0").is_none());

    // 100b/s: xl writes 0,50000 and netback would never let the guest transmit.
    w.ns.fake_vif("vif6.0");
    w.xs.add_vif(6, 0, Some("xenbr0"), &[("rate", "0,50000")]);
    let call = Call {
        ids: (6, 0),
        ..w.call(false)
    };
    let out = call.run("online");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let be = "/local/domain/0/backend/vif/6/0";
    assert_eq!(
        w.xs.read(&format!("{be}/hotplug-status")).as_deref(),
        Some("error")
    );
    let err = w.xs.read(&format!("{be}/hotplug-error")).unwrap();
    assert!(
        err.starts_with("bad xenstore key backend/vif/6/0/rate=\"0,50000\": would block the guest"),
        "{err}"
    );
    assert_eq!(w.ns.link("vif6.0").unwrap().master, None, "nothing touched");

    // A value netback cannot parse (it would silently run unlimited) is refused too.
    w.ns.fake_vif("vif7.0");
    w.xs.add_vif(7, 0, Some("xenbr0"), &[("rate", "100Mb/s")]);
    let call = Call {
        ids: (7, 0),
        ..w.call(false)
    };
    assert_eq!(call.run("online").status.code(), Some(1));
    let err =
        w.xs.read("/local/domain/0/backend/vif/7/0/hotplug-error")
            .unwrap();
    assert!(err.contains("BYTES,MICROSECONDS"), "{err}");
    // offline ignores the key: teardown must not fail on it.
    ok(&call.run("offline"));
}

#[test]
fn xen_rate_rewrites_the_key_and_retunes_the_tap() {
    require_tc!();
    let w = World::new();
    w.ns.fake_tap(TAP);
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("type", "vif_ioemu")]);
    ok(&w.call(true).run("add"));
    let ifb = ifb_name(TAP);
    assert!(w.ns.link(&ifb).is_none());

    let out = w.rate(&["5", "0", "10Mb/s@50ms"]);
    ok(&out);
    assert_eq!(w.be("rate").as_deref(), Some("62500,50000"));
    // 62500 bytes per 50 ms = 1.25 MB/s; netback's bucket floor of 128 KiB.
    let (rate, burst) = w.tbf(&ifb).unwrap();
    assert_eq!(rate, 1_250_000);
    assert!((131_000..=131_072).contains(&burst), "burst {burst}");
    assert!(w.redirected(TAP, &ifb));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("62500,50000"), "{stdout}");
    assert!(stdout.contains(TAP), "{stdout}");

    // Retune: same IFB, new rate.
    let index =
        w.ns.exec_ok(&["cat", &format!("/sys/class/net/{ifb}/ifindex")]);
    ok(&w.rate(&["5", "0", "100Mb/s@20ms"]));
    assert_eq!(w.be("rate").as_deref(), Some("250000,20000"));
    assert_eq!(w.tbf(&ifb).map(|t| t.0), Some(12_500_000));
    assert_eq!(
        w.ns.exec_ok(&["cat", &format!("/sys/class/net/{ifb}/ifindex")]),
        index
    );

    // The xenstore form is accepted as well (xl rejects any comma, so no clash).
    ok(&w.rate(&["5", "0", "20000,20000"]));
    assert_eq!(w.tbf(&ifb).map(|t| t.0), Some(1_000_000));

    ok(&w.rate(&["5", "0", "none"]));
    assert_eq!(w.be("rate"), None);
    assert!(w.ns.link(&ifb).is_none());
    assert!(!w.qdiscs(TAP).iter().any(|q| q["kind"] == "ingress"));
    // none again: nothing to do, still fine.
    ok(&w.rate(&["5", "0", "none"]));
}

#[test]
fn xen_rate_on_a_pv_vif_only_writes_the_key() {
    require_tc!();
    let w = World::new();
    w.ns.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[]);
    ok(&w.rate(&["5", "0", "1MB/s@20ms"]));
    assert_eq!(w.be("rate").as_deref(), Some("20000,20000"));
    assert!(w.ns.link(&ifb_name(TAP)).is_none());
    assert!(w.tbf("vif5.0").is_none());
}

#[test]
fn xen_rate_bad_input_exits_2_and_a_missing_vif_exits_1() {
    require_tc!();
    let w = World::new();
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("rate", "250000,20000")]);
    for (bad, why) in [
        ("100b/s", "would block the guest"),
        ("1mb/s", "invalid rate"),
        ("0Mb/s", "rate overflow"),
        ("1MB/s@0", "interval overflow"),
        ("1MB/s@20MS", "invalid replenishment interval"),
        ("018Mb/s", "octal"),
        ("", "no rate specified"),
        ("0,50000", "would block the guest"),
    ] {
        let out = w.rate(&["5", "0", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{bad}: {err}");
    }
    let out = w.rate(&["x", "0", "1MB/s"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(w.be("rate").as_deref(), Some("250000,20000"), "untouched");

    let out = w.rate(&["9", "0", "1MB/s"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no vif 9.0"), "{err}");
    assert_eq!(w.xs.read("/local/domain/0/backend/vif/9/0/rate"), None);
}
