//! SR-IOV VF pools through the `hvnet` binary. No SR-IOV hardware here: a fake sysfs tree
//! (`--sysfs`, `HVNET_SYSFS`) describes a PF `eth3` with three VFs, and in the test's
//! namespace a veth named `eth3` stands in for the PF (the kernel refuses VF requests on
//! it, which shows the rollback through the CLI).

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use hvnet_tests::*;

const PF: &str = "0000:03:00.0";
const VFS: [&str; 3] = ["0000:03:10.0", "0000:03:10.2", "0000:03:10.4"];

/// The PF eth3 with three VFs on ixgbevf, and the ixgbevf and vfio-pci drivers.
fn fake_sysfs(root: &Path) {
    let devices = root.join("bus/pci/devices");
    let pf = devices.join(PF);
    fs::create_dir_all(pf.join("net/eth3")).unwrap();
    for d in ["ixgbevf", "vfio-pci"] {
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
    fs::create_dir_all(root.join("class/net/eth3")).unwrap();
    symlink(&pf, root.join("class/net/eth3/device")).unwrap();
}

const POOL: &str = r#"
[[network]]
name = "passthrough"
kind = "hostdev"
pf = "eth3"
managed = true
vlan = 42
"#;

fn guests(names: &[&str]) -> String {
    names
        .iter()
        .map(|g| format!("\n[[guest]]\nname = \"{g}\"\n[[guest.nic]]\nnetwork = \"passthrough\"\n"))
        .collect()
}

/// A namespace with the veth `eth3` standing in for the PF, a state directory, and the
/// fake sysfs tree (its root returned); the namespace goes when the first value is dropped.
fn setup(tag: &str) -> (Netns, TempDir, Hv, std::path::PathBuf) {
    let host = Netns::new(tag);
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    host.ip(&[
        "link", "add", "eth3", "type", "veth", "peer", "name", "eth3p",
    ]);
    let sys = dir.path().join("sys");
    fake_sysfs(&sys);
    (host, dir, hv, sys)
}

#[test]
fn a_vf_pool_through_the_cli() {
    if !require_root() {
        return;
    }
    let (_host, dir, hv, sys) = setup("sriov");
    let env = [("HVNET_SYSFS", sys.to_str().unwrap())];
    let records = dir.path().join("state/sriov");

    // What `guest up` would allocate, read from the (fake) host.
    let two = dir.write("two.toml", &format!("{POOL}{}", guests(&["web", "db"])));
    let args = hv.run_env(&two, &["guest", "args", "db"], &env);
    args.ok();
    assert_eq!(
        args.stdout,
        "-device vfio-pci,host=0000:03:10.0,id=hostdev0\n"
    );
    let xml = hv.run_env(&two, &["guest", "xml", "web", "--offline"], &env);
    assert!(
        xml.ok().stdout.contains(
            "<!-- nic 0: SR-IOV VF from network passthrough is allocated by `hvnet guest up`"
        ),
        "{xml}"
    );

    // More NICs than VFs: a runtime error (exit 1) before anything is done.
    let four = dir.write(
        "four.toml",
        &format!("{POOL}{}", guests(&["a", "b", "c", "d"])),
    );
    let r = hv.run_env(&four, &["apply"], &env);
    r.expect_code(1);
    assert!(
        r.stderr.contains("network \"passthrough\" (PF eth3) has no free VF for guest d nic 0: all 3 VF(s) are taken"),
        "{r}"
    );
    assert!(!records.exists());

    // guest up: the kernel refuses the VF request on a veth; the record is rolled back,
    // nothing is bound, and the next `check`-like read sees no allocation.
    let r = hv.run_env(&two, &["guest", "up", "web"], &env);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains("set eth3 vf 0 mac ") && r.stderr.contains("Operation not supported"),
        "{r}"
    );
    assert!(r.stderr.contains("rolled back"), "{r}");
    assert!(fs::read_dir(&records).map_or(true, |mut d| d.next().is_none()));
    assert_eq!(
        fs::read_to_string(sys.join("bus/pci/drivers/vfio-pci/bind")).unwrap(),
        ""
    );
    let dry = hv.run_env(&two, &["guest", "up", "web", "--dry-run"], &env);
    assert!(
        dry.ok().stdout.contains("ip link set dev eth3 vf 0 mac "),
        "{dry}"
    );
}

/// `guest down` through the binary gives a held VF back: a record left by an earlier
/// `guest up` (written here as hvnet writes it, with no settings to restore, so no VF
/// request is needed) and the VF on vfio-pci; the release unbinds it from vfio-pci, binds
/// it to its driver by name with the override cleared, and marks the record free.
#[test]
fn guest_down_releases_a_held_vf_through_the_cli() {
    if !require_root() {
        return;
    }
    let (_host, dir, hv, sys) = setup("sriov-down");
    let vf = sys.join("bus/pci/devices").join(VFS[1]);
    fs::remove_file(vf.join("driver")).unwrap();
    symlink("../../../../bus/pci/drivers/vfio-pci", vf.join("driver")).unwrap();
    fs::write(vf.join("driver_override"), "vfio-pci\n").unwrap();
    let records = dir.path().join("state/sriov");
    fs::create_dir_all(&records).unwrap();
    let record = format!(
        r#"{{"pci":"{}","pf":"eth3","vf":1,"pool":"passthrough","guest":"web","nic":0,"active":true,"managed":true,"driver":"ixgbevf","saved":null}}"#,
        VFS[1]
    );
    fs::write(records.join(format!("{}.json", VFS[1])), record).unwrap();
    let env = [("HVNET_SYSFS", sys.to_str().unwrap())];
    let cfg = dir.write("c.toml", &format!("{POOL}{}", guests(&["web"])));

    // While it is held, `guest args` shows it.
    let args = hv.run_env(&cfg, &["guest", "args", "web"], &env);
    assert_eq!(
        args.ok().stdout,
        format!("-device vfio-pci,host={},id=hostdev0\n", VFS[1])
    );
    let r = hv.run_env(&cfg, &["guest", "down", "web"], &env);
    r.ok();
    let read = |p: &Path| fs::read_to_string(p).unwrap();
    assert_eq!(read(&vf.join("driver_override")), "\n");
    assert_eq!(read(&sys.join("bus/pci/drivers/vfio-pci/unbind")), VFS[1]);
    assert_eq!(read(&sys.join("bus/pci/drivers/ixgbevf/bind")), VFS[1]);
    let after = read(&records.join(format!("{}.json", VFS[1])));
    assert!(after.contains("\"active\": false"), "{after}");
    assert!(after.contains("\"guest\": \"web\""), "{after}");
}

/// Seed 004's pool, through `hvnet import libvirt-network`, is a config `validate` takes
/// with a guest on it.
#[test]
fn the_seed_pool_imports_and_validates() {
    let dir = TempDir::new();
    let xml = dir.write(
        "passthrough.xml",
        "<network>\n  <name>passthrough</name>\n  <forward mode='hostdev' managed='yes'>\n    <pf dev='eth3'/>\n  </forward>\n</network>\n",
    );
    let r = hvnet_run(&["import", "libvirt-network", xml.to_str().unwrap()], &[]);
    r.ok();
    assert!(
        r.stdout
            .contains("kind = \"hostdev\"\npf = \"eth3\"\nmanaged = true\n"),
        "{r}"
    );
    let cfg = dir.write(
        "c.toml",
        &format!(
            "{}\n[[guest]]\nname = \"vm\"\n[[guest.nic]]\nnetwork = \"passthrough\"\nmac = \"52:54:00:6d:90:02\"\n",
            r.stdout
        ),
    );
    hvnet_run(&["-c", cfg.to_str().unwrap(), "validate"], &[]).ok();
}
