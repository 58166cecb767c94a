//! SR-IOV VF pools through the engine on the in-memory host: allocation, MAC/VLAN/flags,
//! vfio binding, release by `guest down` and `down`, stable re-allocation, exhaustion, and
//! a failure or a crash at every op of `guest up`, `guest down`, `apply` and `down`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeKernel, Taps};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, Intent, Scope};
use hvnet_core::observed::ObservedState;
use hvnet_core::sriov::{ObservedVf, PciAddr, VfState, VFIO_PCI};
use hvnet_core::types::{IfName, MacAddr};

/// A managed pool of eth3's VFs with a VLAN, a pool of two listed VFs of eth4, and guests
/// with a VF each (web also has a tap, db two VFs).
const CFG: &str = r#"
[[network]]
name = "passthrough"
kind = "hostdev"
pf = "eth3"
managed = true
vlan = 42
spoofchk = true

[[network]]
name = "listed"
kind = "hostdev"
vfs = ["0000:04:10.0", "0000:04:10.1"]

[[network]]
name = "lan"
kind = "isolated"
bridge = "br-lan"

[[guest]]
name = "web"
[[guest.nic]]
network = "passthrough"
mac = "52:54:00:00:00:01"
[[guest.nic]]
network = "lan"

[[guest]]
name = "db"
[[guest.nic]]
network = "passthrough"
trust = true
max_tx_rate = 1000
[[guest.nic]]
network = "listed"
vlan = 7
"#;

fn cfg(text: &str) -> Config {
    Config::parse(text, "sriov.toml").unwrap()
}

fn pci(s: &str) -> PciAddr {
    s.parse().unwrap()
}

fn vf(pf: &str, index: u32, addr: &str, mac: u8) -> ObservedVf {
    ObservedVf {
        pci: pci(addr),
        pf: IfName::new(pf).unwrap(),
        index,
        driver: Some("ixgbevf".into()),
        state: Some(VfState {
            // What a VF has after boot: a random MAC.
            mac: MacAddr::new([0x8a, 0x1f, 0, 0, 0, mac]),
            vlan: 0,
            spoofchk: Some(false),
            trust: Some(false),
            max_tx_rate: 0,
        }),
    }
}

/// eth3 with three VFs, eth4 with two.
fn start() -> FakeKernel {
    let mut k = FakeKernel::new();
    k.state.sriov.vfs = vec![
        vf("eth3", 0, "0000:03:10.0", 1),
        vf("eth3", 1, "0000:03:10.2", 2),
        vf("eth3", 2, "0000:03:10.4", 3),
        vf("eth4", 0, "0000:04:10.0", 4),
        vf("eth4", 1, "0000:04:10.1", 5),
    ];
    k
}

fn engine(k: FakeKernel) -> Engine<FakeKernel> {
    Engine::new(k, Taps).with_source("sriov.toml")
}

fn run(k: FakeKernel, c: &Config, scope: &Scope, intent: Intent) -> FakeKernel {
    let mut e = engine(k);
    e.run(c, scope, intent).unwrap();
    e.into_host()
}

fn guest(name: &str) -> Scope {
    Scope::Guest(name.into())
}

/// Links, VFs and records, comparable.
fn view(s: &ObservedState) -> String {
    let mut links: Vec<String> = s
        .links
        .iter()
        .map(|l| format!("{} {:?} {:?}", l.name, l.kind, l.alias))
        .collect();
    links.sort();
    format!(
        "links {links:#?}\nvfs {:#?}\nrecords {:#?}",
        s.sriov.vfs, s.sriov.records
    )
}

#[track_caller]
fn same(have: &str, want: &str, context: &str) {
    if have == want {
        return;
    }
    let (h, w): (Vec<&str>, Vec<&str>) = (have.lines().collect(), want.lines().collect());
    let extra: Vec<_> = h.iter().filter(|l| !w.contains(l)).collect();
    let missing: Vec<_> = w.iter().filter(|l| !h.contains(l)).collect();
    panic!("{context}: differs\n  extra:   {extra:#?}\n  missing: {missing:#?}");
}

fn the_vf<'a>(k: &'a FakeKernel, addr: &str) -> &'a ObservedVf {
    k.state.sriov.vf(pci(addr)).unwrap()
}

fn holder(k: &FakeKernel, g: &str, nic: usize) -> Option<PciAddr> {
    k.state
        .sriov
        .records
        .iter()
        .find(|r| r.active && r.guest == g && r.nic == nic)
        .map(|r| r.pci)
}

#[test]
fn guest_up_sets_the_vf_and_binds_it_guest_down_gives_it_back() {
    let c = cfg(CFG);
    let before = start();
    let k = run(before.clone(), &c, &guest("web"), Intent::Up);
    // The first VF of eth3, with web's MAC, the pool's VLAN and spoof check, on vfio-pci.
    let v = the_vf(&k, "0000:03:10.0");
    let s = v.state.unwrap();
    assert_eq!(s.mac.to_string(), "52:54:00:00:00:01");
    assert_eq!((s.vlan, s.spoofchk, s.trust), (42, Some(true), Some(false)));
    assert_eq!(v.driver.as_deref(), Some(VFIO_PCI));
    assert_eq!(holder(&k, "web", 0), Some(pci("0000:03:10.0")));
    // The other VFs are untouched, and web's tap exists.
    same(
        &format!("{:?}", the_vf(&k, "0000:03:10.2")),
        &format!("{:?}", the_vf(&before, "0000:03:10.2")),
        "other VF",
    );
    assert!(k.state.links.iter().any(|l| l.name.starts_with("vnet")));
    // Planning again changes nothing.
    let mut e = engine(k);
    let again = e.plan(&c, &guest("web"), Intent::Up).unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan);
    let k = e.into_host();
    // Down: the driver, MAC, VLAN and flags are as before; the record is kept, free.
    let k = run(k, &c, &guest("web"), Intent::Down);
    let mut want = before.state.sriov.vfs.clone();
    want.sort_by_key(|v| v.pci);
    let mut have = k.state.sriov.vfs.clone();
    have.sort_by_key(|v| v.pci);
    assert_eq!(have, want);
    assert_eq!(holder(&k, "web", 0), None);
    let rec = k.state.sriov.record(pci("0000:03:10.0")).unwrap();
    assert!(!rec.active && rec.guest == "web");
    assert!(!k.state.links.iter().any(|l| l.name.starts_with("vnet")));
}

#[test]
fn the_plan_reads_like_ip_and_sysfs() {
    let c = cfg(CFG);
    let mut e = engine(start());
    let p = e.plan(&c, &guest("db"), Intent::Up).unwrap();
    let cmds = p.plan.commands();
    assert!(
        cmds.contains(
            &"ip link set dev eth3 vf 0 mac 52:54:00:ae:7c:1f vlan 42 spoofchk on trust on min_tx_rate 0 max_tx_rate 1000"
                .replace("52:54:00:ae:7c:1f", &c.guests[1].nics[0].mac.to_string())
        ),
        "{cmds:#?}"
    );
    assert!(
        cmds.contains(&"echo 'vfio-pci' > /sys/bus/pci/devices/0000:03:10.0/driver_override && echo 0000:03:10.0 > /sys/bus/pci/drivers/ixgbevf/unbind && echo 0000:03:10.0 > /sys/bus/pci/drivers/vfio-pci/bind".to_string()),
        "{cmds:#?}"
    );
    // The unmanaged pool is not bound; its VF gets the NIC's VLAN.
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("ip link set dev eth4 vf 0 mac ") && c.ends_with(" vlan 7")),
        "{cmds:#?}"
    );
    assert!(!cmds
        .iter()
        .any(|c| c.contains("0000:04:10.0/driver_override")));
    let text = p.plan.to_string();
    assert!(
        text.contains(
            "allocate VF 0000:03:10.0 (eth3 vf 0) of network passthrough to guest db nic 0"
        ),
        "{text}"
    );
}

#[test]
fn a_guest_gets_its_vf_again_while_it_is_free() {
    let c = cfg(CFG);
    let k = run(start(), &c, &guest("web"), Intent::Up);
    let k = run(k, &c, &guest("db"), Intent::Up);
    let (web, db) = (holder(&k, "web", 0).unwrap(), holder(&k, "db", 0).unwrap());
    assert_ne!(web, db);
    // Down and up in the other order: each gets the VF it had.
    let k = run(k, &c, &guest("web"), Intent::Down);
    let k = run(k, &c, &guest("db"), Intent::Down);
    let k = run(k, &c, &guest("db"), Intent::Up);
    let k = run(k, &c, &guest("web"), Intent::Up);
    assert_eq!(holder(&k, "web", 0), Some(web));
    assert_eq!(holder(&k, "db", 0), Some(db));
    // A third guest takes web's VF while web is down: web gets another one.
    let three =
        format!("{CFG}\n[[guest]]\nname = \"cache\"\n[[guest.nic]]\nnetwork = \"passthrough\"\n");
    let c3 = cfg(&three);
    let k = run(k, &c3, &guest("web"), Intent::Down);
    let k = run(k, &c3, &guest("cache"), Intent::Up);
    let cache = holder(&k, "cache", 0).unwrap();
    // cache prefers a VF nobody held: the third one.
    assert_eq!(cache, pci("0000:03:10.4"));
    let k = run(k, &c3, &guest("web"), Intent::Up);
    assert_eq!(holder(&k, "web", 0), Some(web));
}

#[test]
fn more_nics_than_vfs_is_refused_with_nothing_changed() {
    let mut text = CFG.to_string();
    for g in ["a", "b"] {
        text.push_str(&format!(
            "\n[[guest]]\nname = \"{g}\"\n[[guest.nic]]\nnetwork = \"passthrough\"\n"
        ));
    }
    let c = cfg(&text);
    let before = start();
    let mut e = engine(before.clone());
    match e.run(&c, &Scope::Config, Intent::Up) {
        Err(EngineError::Refused(m)) => assert!(
            m.contains("network \"passthrough\" (PF eth3) has no free VF for guest b nic 0: all 3 VF(s) are taken"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    same(
        &view(&e.into_host().state),
        &view(&before.state),
        "refused apply",
    );
    // One guest at a time works until the pool is empty.
    let k = run(before, &c, &guest("web"), Intent::Up);
    let k = run(k, &c, &guest("db"), Intent::Up);
    let k = run(k, &c, &guest("a"), Intent::Up);
    let mut e = engine(k);
    let err = e.run(&c, &guest("b"), Intent::Up).unwrap_err().to_string();
    assert!(
        err.contains("all 3 VF(s) are taken (0000:03:10.0 guest web nic 0, 0000:03:10.2 guest db nic 0, 0000:03:10.4 guest a nic 0)"),
        "{err}"
    );
}

#[test]
fn a_pf_without_vfs_is_a_clear_error() {
    let c = cfg(CFG);
    let mut k = start();
    k.state.sriov.vfs.retain(|v| v.pf.as_str() != "eth3");
    k.state.sriov.unreadable.push((
        hvnet_core::sriov::VfSource::Pf(IfName::new("eth3").unwrap()),
        "eth3 has no VFs (its sriov_numvfs is 0)".into(),
    ));
    let mut e = engine(k);
    let err = e
        .run(&c, &guest("web"), Intent::Up)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("network \"passthrough\" (PF eth3): no VFs found (eth3 has no VFs (its sriov_numvfs is 0))"),
        "{err}"
    );
}

#[test]
fn apply_allocates_every_nic_and_down_releases_them() {
    let c = cfg(CFG);
    let k = run(start(), &c, &Scope::Config, Intent::Up);
    assert_eq!(k.state.sriov.records.iter().filter(|r| r.active).count(), 3);
    let mut e = engine(k);
    assert!(e.check(&c).unwrap().plan.is_empty());
    let k = run(e.into_host(), &c, &Scope::Config, Intent::Down);
    let mut have = k.state.sriov.vfs.clone();
    have.sort_by_key(|v| v.pci);
    let mut want = start().state.sriov.vfs;
    want.sort_by_key(|v| v.pci);
    assert_eq!(have, want);
    assert!(k.state.sriov.records.iter().all(|r| !r.active));
}

/// The verbs, from the state each starts from.
fn scenarios() -> Vec<(&'static str, FakeKernel, Scope, Intent)> {
    let c = cfg(CFG);
    let applied = run(start(), &c, &Scope::Config, Intent::Up);
    let web_up = run(start(), &c, &guest("web"), Intent::Up);
    vec![
        ("guest up", start(), guest("db"), Intent::Up),
        (
            "guest up beside another",
            web_up.clone(),
            guest("db"),
            Intent::Up,
        ),
        ("guest down", web_up, guest("web"), Intent::Down),
        ("apply", start(), Scope::Config, Intent::Up),
        ("down", applied, Scope::Config, Intent::Down),
    ]
}

#[test]
fn a_fault_at_every_op_rolls_back_the_vfs() {
    let c = cfg(CFG);
    let mut tried = 0;
    for (what, host, scope, intent) in scenarios() {
        let n = engine(host.clone())
            .plan(&c, &scope, intent)
            .unwrap()
            .plan
            .len();
        assert!(n >= 3, "{what}: {n} ops");
        for k in 1..=n {
            let mut e = engine(host.clone());
            e.fault_at = Some(k);
            let planned = e.plan(&c, &scope, intent).unwrap();
            match e.apply(&planned) {
                Err(EngineError::Txn(t)) => {
                    assert!(t.rollback_errors.is_empty(), "{what} at {k}: {t}")
                }
                other => panic!("{what} at {k}: {other:?}"),
            }
            let after = e.into_host();
            assert!(after.journal.is_none());
            same(
                &view(&after.state),
                &view(&host.state),
                &format!("{what}: fault at op {k}"),
            );
            tried += 1;
        }
    }
    assert!(tried > 20, "{tried}");
}

#[test]
fn a_crash_before_every_op_is_recovered() {
    let c = cfg(CFG);
    let mut tried = 0;
    for (what, host, scope, intent) in scenarios() {
        let n = engine(host.clone())
            .plan(&c, &scope, intent)
            .unwrap()
            .plan
            .len();
        for k in 0..n {
            let mut crashing = host.clone();
            crashing.crash_at_count = Some(crashing.executed + k);
            let mut e = engine(crashing);
            let _ = e.run(&c, &scope, intent);
            let mut dead = e.into_host();
            assert!(dead.crashed(), "{what}: {k}");
            dead.revive();
            assert!(
                dead.journal.is_some(),
                "{what}: crash before op {k} lost the record"
            );
            let mut e = engine(dead);
            e.recover().unwrap();
            let recovered = e.into_host();
            assert!(recovered.journal.is_none());
            same(
                &view(&recovered.state),
                &view(&host.state),
                &format!("{what}: crash before op {k}"),
            );
            // The verb again, then `down`: every VF as it was at boot.
            let again = run(recovered, &c, &scope, intent);
            let gone = run(again, &c, &Scope::Config, Intent::Down);
            let mut have = gone.state.sriov.vfs.clone();
            have.sort_by_key(|v| v.pci);
            let mut want = start().state.sriov.vfs;
            want.sort_by_key(|v| v.pci);
            assert_eq!(have, want, "{what}: after a crash before op {k}, `down`");
            tried += 1;
        }
    }
    assert!(tried > 20, "{tried}");
}

/// `apply` of a changed config: a guest gone from the config gives its VF back; a changed
/// VLAN is one VF request; nothing else moves.
#[test]
fn apply_follows_config_changes() {
    let c = cfg(CFG);
    let k = run(start(), &c, &Scope::Config, Intent::Up);
    let db_vf = holder(&k, "db", 0).unwrap();
    let web_vf = holder(&k, "web", 0).unwrap();
    // db removed, the pool's VLAN changed.
    let mut text = CFG.replace("vlan = 42", "vlan = 43");
    let db_at = text.find("[[guest]]\nname = \"db\"").unwrap();
    text.truncate(db_at);
    let c2 = cfg(&text);
    let mut e = engine(k);
    let p = e.plan(&c2, &Scope::Config, Intent::Up).unwrap();
    let cmds = p.plan.commands();
    assert!(
        cmds.contains(&"ip link set dev eth3 vf 0 vlan 43".to_string()),
        "{cmds:#?}"
    );
    e.apply(&p).unwrap();
    let k = e.into_host();
    assert_eq!(holder(&k, "web", 0), Some(web_vf));
    assert_eq!(holder(&k, "db", 0), None);
    assert_eq!(holder(&k, "db", 1), None);
    let freed = the_vf(&k, &db_vf.to_string());
    assert_eq!(freed.driver.as_deref(), Some("ixgbevf"));
    assert_eq!(freed.state.unwrap().vlan, 0);
    let mut e = engine(k);
    assert!(e.check(&c2).unwrap().plan.is_empty());
}
