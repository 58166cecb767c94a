//! SR-IOV against a fake sysfs tree (no SR-IOV hardware here): VF enumeration, driver
//! binding and the allocation records; and, as root in a fresh namespace whose veth "eth3"
//! stands in for the PF, the whole `guest up` through `LinuxHost` — the kernel refuses the
//! VF request (a veth has no VFs), and the transaction rolls back the record it wrote.
//!
//! The fake tree has the shape of the real one (`class/net/PF/device/virtfnN`,
//! `bus/pci/devices/VF/{physfn,driver,driver_override}`, `bus/pci/drivers/D/{bind,unbind}`)
//! but plain files: a write to `bind` does not move the `driver` link. Where a test needs
//! the kernel's reaction it moves the link itself, and says so.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use hvnet_core::backend::{Execute, Observe, Query};
use hvnet_core::op::Op;
use hvnet_core::sriov::{PciAddr, VfRecord, VfSource, VFIO_PCI};
use hvnet_core::types::IfName;
use hvnet_linux::sriov::{read_records, write_record, Sysfs};

const PF: &str = "0000:03:00.0";
const VFS: [&str; 3] = ["0000:03:10.0", "0000:03:10.2", "0000:03:10.4"];

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "hvnet-sriov-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn pci(s: &str) -> PciAddr {
    s.parse().unwrap()
}

/// The PF `eth3` at 0000:03:00.0 with three VFs bound to ixgbevf; drivers ixgbevf and
/// (with `vfio`) vfio-pci loaded.
fn fake_sysfs(root: &Path, vfio: bool) {
    let devices = root.join("bus/pci/devices");
    let pf = devices.join(PF);
    fs::create_dir_all(pf.join("net/eth3")).unwrap();
    let mut drivers = vec!["ixgbevf"];
    if vfio {
        drivers.push(VFIO_PCI);
    }
    for d in drivers {
        let dir = root.join("bus/pci/drivers").join(d);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("bind"), "").unwrap();
        fs::write(dir.join("unbind"), "").unwrap();
    }
    for (i, vf) in VFS.iter().enumerate() {
        let dev = devices.join(vf);
        fs::create_dir_all(&dev).unwrap();
        symlink(format!("../{PF}"), dev.join("physfn")).unwrap();
        symlink("../../../../bus/pci/drivers/ixgbevf", dev.join("driver")).unwrap();
        fs::write(dev.join("driver_override"), "(null)\n").unwrap();
        symlink(format!("../{vf}"), pf.join(format!("virtfn{i}"))).unwrap();
    }
    let net = root.join("class/net/eth3");
    fs::create_dir_all(&net).unwrap();
    symlink(&pf, net.join("device")).unwrap();
}

fn read(p: PathBuf) -> String {
    fs::read_to_string(p).unwrap()
}

/// What the kernel does after a successful bind: the device's `driver` link moves.
fn kernel_moves_driver_link(root: &Path, vf: &str, driver: &str) {
    let link = root.join("bus/pci/devices").join(vf).join("driver");
    fs::remove_file(&link).unwrap();
    symlink(format!("../../../../bus/pci/drivers/{driver}"), link).unwrap();
}

#[test]
fn vfs_of_a_pf_and_the_pf_of_a_vf() {
    let t = Scratch::new("enum");
    fake_sysfs(&t.0, true);
    let sys = Sysfs::new(&t.0);
    assert_eq!(
        sys.pf_vfs("eth3").unwrap(),
        vec![(0, pci(VFS[0])), (1, pci(VFS[1])), (2, pci(VFS[2]))]
    );
    assert_eq!(
        sys.vf_of(pci(VFS[2])).unwrap(),
        (IfName::new("eth3").unwrap(), 2)
    );
    assert_eq!(sys.driver(pci(VFS[1])).as_deref(), Some("ixgbevf"));
    let err = sys.pf_vfs("eth9").unwrap_err();
    assert!(err.contains("no PCI network device eth9"), "{err}");
    // The PF itself is not a VF; an address that is not there is said so.
    let err = sys.vf_of(pci(PF)).unwrap_err();
    assert!(
        err.contains("is not an SR-IOV VF (no physfn link)"),
        "{err}"
    );
    let err = sys.vf_of(pci("0000:09:00.0")).unwrap_err();
    assert!(err.contains("no PCI device 0000:09:00.0"), "{err}");
}

#[test]
fn binding_to_vfio_and_back_writes_what_the_kernel_expects() {
    let t = Scratch::new("bind");
    fake_sysfs(&t.0, true);
    let sys = Sysfs::new(&t.0);
    let dev = t.0.join("bus/pci/devices").join(VFS[1]);
    let drv = |d: &str, f: &str| t.0.join("bus/pci/drivers").join(d).join(f);
    sys.bind(pci(VFS[1]), Some(VFIO_PCI)).unwrap();
    assert_eq!(read(dev.join("driver_override")), "vfio-pci");
    assert_eq!(read(drv("ixgbevf", "unbind")), VFS[1]);
    assert_eq!(read(drv(VFIO_PCI, "bind")), VFS[1]);
    assert_eq!(read(drv("ixgbevf", "bind")), "");
    kernel_moves_driver_link(&t.0, VFS[1], VFIO_PCI);
    // Back: the override cleared, unbound from vfio-pci, bound to ixgbevf by name.
    sys.bind(pci(VFS[1]), Some("ixgbevf")).unwrap();
    assert_eq!(read(dev.join("driver_override")), "\n");
    assert_eq!(read(drv(VFIO_PCI, "unbind")), VFS[1]);
    assert_eq!(read(drv("ixgbevf", "bind")), VFS[1]);
    // The other VFs were not touched.
    assert_eq!(
        read(
            t.0.join("bus/pci/devices")
                .join(VFS[0])
                .join("driver_override")
        ),
        "(null)\n"
    );
}

#[test]
fn vfio_not_loaded_is_an_error_before_any_write() {
    let t = Scratch::new("novfio");
    fake_sysfs(&t.0, false);
    let err = Sysfs::new(&t.0)
        .bind(pci(VFS[0]), Some(VFIO_PCI))
        .unwrap_err();
    assert!(
        err.contains("driver vfio-pci is not loaded (load it: modprobe vfio-pci)"),
        "{err}"
    );
    let dev = t.0.join("bus/pci/devices").join(VFS[0]);
    assert_eq!(read(dev.join("driver_override")), "(null)\n");
    assert_eq!(read(t.0.join("bus/pci/drivers/ixgbevf/unbind")), "");
}

#[test]
fn records_round_trip_and_are_removed() {
    let t = Scratch::new("records");
    let dir = t.0.join("sriov");
    assert!(read_records(&dir).unwrap().is_empty());
    let r = VfRecord {
        pci: pci(VFS[2]),
        pf: IfName::new("eth3").unwrap(),
        vf: 2,
        pool: "passthrough".into(),
        guest: "web".into(),
        nic: 0,
        active: true,
        managed: true,
        driver: Some("ixgbevf".into()),
        saved: None,
    };
    write_record(&dir, r.pci, Some(&r)).unwrap();
    assert_eq!(read_records(&dir).unwrap(), vec![r.clone()]);
    assert!(dir.join("0000:03:10.4.json").exists());
    write_record(&dir, r.pci, None).unwrap();
    assert!(read_records(&dir).unwrap().is_empty());
    // Removing what is not there is fine; a garbled record names its file.
    write_record(&dir, r.pci, None).unwrap();
    fs::write(dir.join("0000:03:10.0.json"), "{").unwrap();
    let err = read_records(&dir).unwrap_err();
    assert!(err.contains("0000:03:10.0.json: not a VF record"), "{err}");
}

/// Through `LinuxHost`, in a fresh namespace where the veth `eth3` stands in for the PF.
#[test]
fn linux_host_observes_binds_records_and_rolls_back_a_refused_vf_request() {
    if common::skip("linux_host_observes_binds_records_and_rolls_back_a_refused_vf_request") {
        return;
    }
    let t = Scratch::new("host");
    fake_sysfs(&t.0, true);
    let root = t.0.clone();
    common::in_fresh_netns(move || {
        common::ip(&[
            "link", "add", "eth3", "type", "veth", "peer", "name", "eth3p",
        ]);
        let state = root.join("state");
        fs::create_dir_all(&state).unwrap();
        let mut host = hvnet_linux::LinuxHost::open().unwrap();
        host.set_state_dir(&state);
        host.set_sysfs_root(&root);
        let query = Query {
            vf_pools: vec![VfSource::Pf(IfName::new("eth3").unwrap())],
            ..Query::everything()
        };
        let seen = host.observe(&query).unwrap();
        let vfs = &seen.sriov.vfs;
        assert_eq!(vfs.len(), 3);
        assert_eq!((vfs[1].pf.as_str(), vfs[1].index), ("eth3", 1));
        assert_eq!(vfs[1].driver.as_deref(), Some("ixgbevf"));
        // A veth reports no VF list: the settings are unknown, not made up.
        assert!(vfs.iter().all(|v| v.state.is_none()));

        // BindVf and RecordVf as ops.
        let rec = VfRecord {
            pci: pci(VFS[0]),
            pf: IfName::new("eth3").unwrap(),
            vf: 0,
            pool: "passthrough".into(),
            guest: "web".into(),
            nic: 0,
            active: true,
            managed: true,
            driver: Some("ixgbevf".into()),
            saved: None,
        };
        host.execute(&[
            Op::RecordVf {
                pci: rec.pci,
                record: Some(Box::new(rec.clone())),
                old: None,
            },
            Op::BindVf {
                pci: rec.pci,
                driver: Some(VFIO_PCI.into()),
                old: Some("ixgbevf".into()),
            },
        ])
        .unwrap();
        assert_eq!(
            read(root.join("bus/pci/drivers/vfio-pci/bind")),
            VFS[0],
            "bound"
        );
        let seen = host.observe(&query).unwrap();
        assert_eq!(seen.sriov.records, vec![rec.clone()]);
        host.execute(&[Op::RecordVf {
            pci: rec.pci,
            record: None,
            old: Some(Box::new(rec)),
        }])
        .unwrap();
        fs::write(root.join("bus/pci/drivers/vfio-pci/bind"), "").unwrap();

        // `guest up` of a guest on the pool: the kernel refuses the VF request on a veth;
        // the transaction rolls back the record it wrote, and nothing is bound.
        let cfg = hvnet_core::config::Config::parse(
            "[[network]]\nname = \"passthrough\"\nkind = \"hostdev\"\npf = \"eth3\"\nmanaged = true\n\
             [[guest]]\nname = \"web\"\n[[guest.nic]]\nnetwork = \"passthrough\"\n",
            "sriov.toml",
        )
        .unwrap();
        let mut engine = hvnet_core::engine::Engine::new(host, hvnet_kvm::KvmBackend);
        let err = engine
            .run(
                &cfg,
                &hvnet_core::engine::Scope::Guest("web".into()),
                hvnet_core::engine::Intent::Up,
            )
            .unwrap_err()
            .to_string();
        println!("refused as expected: {err}");
        assert!(
            err.contains("eth3 vf 1") || err.contains("eth3 vf 0"),
            "{err}"
        );
        assert!(err.contains("Operation not supported"), "{err}");
        // Only the record had been written (the bind never ran after the refusal).
        assert!(err.contains("rolled back (1 op(s) undone)"), "{err}");
        let left = read_records(&state.join("sriov")).unwrap();
        assert!(left.is_empty(), "{left:#?}");
        assert_eq!(read(root.join("bus/pci/drivers/vfio-pci/bind")), "");
        // No transaction is pending: the journal is empty (or was never made).
        let journal = std::fs::read(state.join("journal")).unwrap_or_default();
        assert!(journal.is_empty(), "{}", String::from_utf8_lossy(&journal));
    });
}
