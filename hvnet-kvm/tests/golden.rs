//! Golden files for `hvnet guest args|xml|macs`: the output for a fixed config is compared
//! byte for byte with `tests/golden/*`. `HVNET_BLESS=1 cargo test -p hvnet-kvm --test golden`
//! rewrites them (review the diff).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use hvnet_core::config::Config;
use hvnet_core::observed::ObservedState;
use hvnet_core::resolve::resolve;
use hvnet_kvm::{guest_nics, libvirt, macs, qemu, GuestNic, KvmBackend};

/// Two guests: `vm` with a multiqueue tap with rates, a tap without vnet_hdr on a second
/// network, a veth and an unnamed tap with a derived MAC; `single` with one named tap;
/// `rtos` with a tap and seed 000's private network (QEMU's user NAT sharing a directory).
const CONFIG: &str = r#"
[[network]]
name = "hostntw"
kind = "isolated"
bridge = "virbr2"
address = "192.168.110.1/24"

[[network]]
name = "guestnet"
kind = "internal"
bridge = "br-guest"

[[guest]]
name = "single"
[[guest.nic]]
network = "hostntw"
ifname = "tap-single"
mac = "52:54:00:00:00:10"

[[guest]]
name = "vm"
[[guest.nic]]
network = "hostntw"
mac = "52:54:00:d7:8d:61"
queues = 4
rate = { egress = "10MB/s", ingress = "100mbit", burst = "64KiB" }
[[guest.nic]]
network = "guestnet"
mac = "52:54:00:ab:cd:ef"
vnet_hdr = false
rate = "1gbit"
[[guest.nic]]
network = "guestnet"
type = "veth"
netns = "vm-ns"
mac = "52:54:00:00:00:20"
[[guest.nic]]
network = "hostntw"

[[guest]]
name = "rtos"
[[guest.nic]]
network = "hostntw"
mac = "0a:ca:c3:23:05:01"
[[guest.nic]]
type = "user"
mac = "0a:c1:c3:23:05:01"
smb = "/srv/hv/share"
net = "10.0.2.0/24"
"#;

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("HVNET_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (HVNET_BLESS=1 writes it)", path.display()));
    assert!(
        actual == expected,
        "{name} differs from the golden file\n--- expected\n{expected}--- actual\n{actual}"
    );
}

fn with_nics(guest: &str, f: impl FnOnce(&[GuestNic<'_>])) {
    let cfg = Config::parse(CONFIG, "golden.toml").unwrap();
    let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
    let g = cfg.guest(guest).unwrap();
    let nics = guest_nics(&cfg, g, &want).unwrap();
    f(&nics);
}

#[test]
fn qemu_args() {
    with_nics("vm", |n| check("args_vm.txt", &qemu::args(n)));
    with_nics("single", |n| check("args_single.txt", &qemu::args(n)));
}

#[test]
fn libvirt_xml() {
    with_nics("vm", |n| check("xml_vm.xml", &libvirt::interfaces(n)));
    with_nics("single", |n| {
        check("xml_single.xml", &libvirt::interfaces(n))
    });
}

#[test]
fn mac_plan() {
    with_nics("vm", |n| {
        check("setmac_vm.txt", &macs::setmac(n));
        check("macs_vm.txt", &macs::plain(n));
    });
}

#[test]
fn user_nic_is_qemus_own_nat() {
    with_nics("rtos", |n| {
        check("args_rtos.txt", &qemu::args(n));
        check("xml_rtos.xml", &libvirt::interfaces(n));
        check("view_rtos.txt", &macs::view(n));
    });
}

#[test]
fn names_follow_resolve() {
    with_nics("vm", |n| {
        let names: Vec<&str> = n
            .iter()
            .map(|n| n.ifname.as_ref().map_or("", |i| i.as_str()))
            .collect();
        assert_eq!(names, ["vnet0", "vnet1", "vnet2", "vnet3"]);
    });
}

#[test]
fn libvirt_bandwidth_round_trips() {
    use hvnet_core::types::RateSpec;
    for text in [
        "100mbit",
        "1gbit burst 64kb",
        "8mbit peak 16mbit burst 10kb",
    ] {
        let spec: RateSpec = text.parse().unwrap();
        let attrs = libvirt::bandwidth_attrs(&spec);
        let num = |key: &str| -> Option<u64> {
            let at = attrs.find(&format!("{key}='"))? + key.len() + 2;
            attrs[at..].split('\'').next()?.parse().ok()
        };
        let back =
            RateSpec::from_libvirt(num("average").unwrap(), num("peak"), num("burst")).unwrap();
        assert_eq!(back.rate(), spec.rate(), "{text}: {attrs}");
        assert_eq!(back.peak(), spec.peak(), "{text}: {attrs}");
        assert!(
            back.burst().unwrap() >= spec.burst_or_default(),
            "{text}: {attrs}"
        );
    }
}

/// A guest with a tap and two SR-IOV VFs (a managed pool with a VLAN, an unmanaged listed
/// one), with the VFs `guest up` would allocate on a host that has them; and offline,
/// where none is known.
#[test]
fn hostdev_nics_are_vfio_devices() {
    use hvnet_core::lifecycle::Nics;
    use hvnet_core::sriov::{for_guest, ObservedVf};
    let text = format!(
        "{CONFIG}\n[[network]]\nname = \"passthrough\"\nkind = \"hostdev\"\npf = \"eth3\"\nmanaged = true\nvlan = 42\n\
         [[network]]\nname = \"listed\"\nkind = \"hostdev\"\nvfs = [\"0000:81:02.3\"]\n\
         [[guest]]\nname = \"sriov\"\n[[guest.nic]]\nnetwork = \"hostntw\"\nmac = \"52:54:00:00:00:30\"\n\
         [[guest.nic]]\nnetwork = \"passthrough\"\nmac = \"52:54:00:6d:90:02\"\n\
         [[guest.nic]]\nnetwork = \"listed\"\nmac = \"52:54:00:6d:90:03\"\n"
    );
    let cfg = Config::parse(&text, "golden.toml").unwrap();
    let mut seen = ObservedState::default();
    for (pf, index, pci) in [
        ("eth3", 0, "0000:03:10.0"),
        ("eth3", 1, "0000:03:10.2"),
        ("eth4", 5, "0000:81:02.3"),
    ] {
        seen.sriov.vfs.push(ObservedVf {
            pci: pci.parse().unwrap(),
            pf: pf.parse().unwrap(),
            index,
            driver: Some("ixgbevf".into()),
            state: None,
        });
    }
    let g = cfg.guest("sriov").unwrap();
    let mut want = resolve(&cfg, &seen, &KvmBackend);
    want.vfs = for_guest(&cfg, &seen, "sriov", Nics::All, true).unwrap();
    let nics = guest_nics(&cfg, g, &want).unwrap();
    check("args_sriov.txt", &qemu::args(&nics));
    check("xml_sriov.xml", &libvirt::interfaces(&nics));
    check("macs_sriov.txt", &macs::plain(&nics));
    // Offline: no VF is known.
    let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
    let nics = guest_nics(&cfg, g, &want).unwrap();
    check("args_sriov_offline.txt", &qemu::args(&nics));
}
