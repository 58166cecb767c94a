//! SR-IOV on the host: VFs found in sysfs, their settings read from the PF over rtnetlink,
//! driver binding through sysfs, and hvnet's allocation records in the state directory.
//!
//! Everything in sysfs is read and written below a root directory ([`Sysfs::new`];
//! `/sys` on a real host, [`crate::LinuxHost::set_sysfs_root`]), so the same code runs
//! against a fake tree in tests:
//!
//! * `ROOT/class/net/PF/device/virtfnN` → the VF's PCI address (the link's last component);
//! * `ROOT/bus/pci/devices/VF/physfn` → its PF's PCI device, whose `net/` names the PF;
//! * `ROOT/bus/pci/devices/VF/driver` → its driver (the link's last component);
//! * binding: `driver_override`, then `ROOT/bus/pci/drivers/OLD/unbind`, then
//!   `ROOT/bus/pci/drivers/NEW/bind`.
//!
//! Records are JSON files `STATE/sriov/DDDD:BB:SS.F.json`, written to a temporary file and
//! renamed into place.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hvnet_core::backend::Query;
use hvnet_core::observed::ObservedState;
use hvnet_core::sriov::{ObservedVf, PciAddr, VfRecord, VfSource, VfState, VFIO_PCI};
use hvnet_core::types::{IfName, MacAddr};

use crate::host::LinuxHost;

/// The directory of the allocation records below the state directory.
pub const RECORD_DIR: &str = "sriov";

/// A sysfs tree (the real `/sys` or a fake one).
///
/// ```no_run
/// use hvnet_linux::sriov::Sysfs;
/// let sys = Sysfs::new("/sys");
/// for (index, pci) in sys.pf_vfs("eth3")? {
///     println!("vf {index}: {pci} driver {:?}", sys.driver(pci));
/// }
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

fn last_component(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

impl Sysfs {
    /// The tree at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn device(&self, pci: PciAddr) -> PathBuf {
        self.root.join("bus/pci/devices").join(pci.to_string())
    }

    fn driver_dir(&self, driver: &str) -> PathBuf {
        self.root.join("bus/pci/drivers").join(driver)
    }

    /// The VFs of PF netdev `pf` as (index, PCI address), by index.
    ///
    /// # Errors
    ///
    /// `pf` is not a PCI network device here.
    pub fn pf_vfs(&self, pf: &str) -> Result<Vec<(u32, PciAddr)>, String> {
        let dir = self.root.join("class/net").join(pf).join("device");
        let entries = fs::read_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!(
                    "{} does not exist: no PCI network device {pf}",
                    dir.display()
                )
            }
            _ => format!("{}: {e}", dir.display()),
        })?;
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(index) = name.strip_prefix("virtfn").and_then(|n| n.parse().ok()) else {
                continue;
            };
            let pci = last_component(&e.path())
                .and_then(|p| p.parse::<PciAddr>().ok())
                .ok_or_else(|| format!("{}: not a link to a PCI device", e.path().display()))?;
            out.push((index, pci));
        }
        out.sort();
        Ok(out)
    }

    /// The PF netdev and VF index of VF `pci`.
    ///
    /// # Errors
    ///
    /// `pci` is not a VF, or its PF has no netdev.
    pub fn vf_of(&self, pci: PciAddr) -> Result<(IfName, u32), String> {
        let dev = self.device(pci);
        if !dev.exists() {
            return Err(format!(
                "no PCI device {pci} ({} does not exist)",
                dev.display()
            ));
        }
        let pf_pci = last_component(&dev.join("physfn"))
            .and_then(|p| p.parse::<PciAddr>().ok())
            .ok_or_else(|| format!("PCI device {pci} is not an SR-IOV VF (no physfn link)"))?;
        let pf_dev = self.device(pf_pci);
        let netdev = fs::read_dir(pf_dev.join("net"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .ok_or_else(|| format!("the PF {pf_pci} of VF {pci} has no network device"))?;
        let pf = IfName::new(&netdev).map_err(|e| format!("PF {pf_pci}: {e}"))?;
        let index = fs::read_dir(&pf_dev)
            .map_err(|e| format!("{}: {e}", pf_dev.display()))?
            .flatten()
            .find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let index: u32 = name.strip_prefix("virtfn")?.parse().ok()?;
                (last_component(&e.path())? == pci.to_string()).then_some(index)
            })
            .ok_or_else(|| format!("PF {pf_pci} lists no virtfn link to {pci}"))?;
        Ok((pf, index))
    }

    /// The driver `pci` is bound to.
    pub fn driver(&self, pci: PciAddr) -> Option<String> {
        last_component(&self.device(pci).join("driver"))
    }

    fn write(path: &Path, value: &str) -> Result<(), String> {
        // Attributes exist; never create a file (a missing driver is an error).
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        f.write_all(value.as_bytes())
            .map_err(|e| format!("writing {value:?} to {}: {e}", path.display()))
    }

    /// Binds `pci` to `driver` (`None`: leaves it unbound): sets `driver_override` (to
    /// `vfio-pci`, which has no ID table; cleared for any other driver), unbinds it from the
    /// driver it has now, if another, and binds it.
    ///
    /// # Errors
    ///
    /// A sysfs write failed (a driver that is not loaded has no `bind` file).
    pub fn bind(&self, pci: PciAddr, driver: Option<&str>) -> Result<(), String> {
        let dev = self.device(pci);
        if let Some(d) = driver {
            if !self.driver_dir(d).join("bind").exists() {
                let hint = if d == VFIO_PCI {
                    " (load it: modprobe vfio-pci)"
                } else {
                    ""
                };
                return Err(format!(
                    "cannot bind VF {pci}: driver {d} is not loaded{hint}"
                ));
            }
        }
        let over = driver.filter(|d| *d == VFIO_PCI).unwrap_or("\n");
        Self::write(&dev.join("driver_override"), over)?;
        let now = self.driver(pci);
        if now.as_deref() == driver {
            return Ok(());
        }
        if let Some(cur) = &now {
            Self::write(&self.driver_dir(cur).join("unbind"), &pci.to_string())?;
        }
        if let Some(d) = driver {
            Self::write(&self.driver_dir(d).join("bind"), &pci.to_string())?;
        }
        Ok(())
    }
}

fn record_path(dir: &Path, pci: PciAddr) -> PathBuf {
    dir.join(format!("{pci}.json"))
}

/// The allocation records in `dir` (`STATE/sriov`; none when it does not exist).
///
/// # Errors
///
/// A record cannot be read or parsed (it names its file).
pub fn read_records(dir: &Path) -> Result<Vec<VfRecord>, String> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let r: VfRecord = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a VF record: {e}", path.display()))?;
        out.push(r);
    }
    out.sort_by_key(|r| r.pci);
    Ok(out)
}

/// Writes (`Some`) or removes (`None`) the record of `pci` in `dir`.
///
/// # Errors
///
/// The directory or file could not be written.
pub fn write_record(dir: &Path, pci: PciAddr, record: Option<&VfRecord>) -> Result<(), String> {
    let path = record_path(dir, pci);
    let Some(r) = record else {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("{}: {e}", path.display()))
            }
            _ => Ok(()),
        };
    };
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(".{pci}.tmp"));
    fs::write(&tmp, text + "\n").map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The VFs `query` asks for (and those `records` name) found under `sys`, with their
/// drivers; settings are filled in by the caller. Sources that cannot be read are
/// returned with why.
pub fn enumerate(
    sys: &Sysfs,
    query: &Query,
    records: &[VfRecord],
) -> (Vec<ObservedVf>, Vec<(VfSource, String)>) {
    let mut found: Vec<(IfName, u32, PciAddr)> = Vec::new();
    let mut unreadable = Vec::new();
    for src in &query.vf_pools {
        match src {
            VfSource::Pf(pf) => match sys.pf_vfs(pf.as_str()) {
                Ok(list) if list.is_empty() => unreadable.push((
                    src.clone(),
                    format!("{pf} has no VFs (its sriov_numvfs is 0)"),
                )),
                Ok(list) => found.extend(list.into_iter().map(|(i, p)| (pf.clone(), i, p))),
                Err(e) => unreadable.push((src.clone(), e)),
            },
            VfSource::Vfs(list) => {
                for pci in list {
                    match sys.vf_of(*pci) {
                        Ok((pf, i)) => found.push((pf, i, *pci)),
                        Err(e) => unreadable.push((src.clone(), e)),
                    }
                }
            }
        }
    }
    for r in records {
        if !found.iter().any(|(_, _, p)| *p == r.pci) {
            if let Ok((pf, i)) = sys.vf_of(r.pci) {
                found.push((pf, i, r.pci));
            }
        }
    }
    found.sort_by_key(|(_, _, p)| *p);
    found.dedup_by_key(|(_, _, p)| *p);
    let vfs = found
        .into_iter()
        .map(|(pf, index, pci)| ObservedVf {
            driver: sys.driver(pci),
            pci,
            pf,
            index,
            state: None,
        })
        .collect();
    (vfs, unreadable)
}

impl LinuxHost {
    /// The sysfs tree VFs are found and bound in.
    pub(crate) fn sysfs(&self) -> Sysfs {
        Sysfs::new(&self.sysfs_root)
    }

    fn record_dir(&self) -> PathBuf {
        hvnet_core::engine::Host::state_dir(self).join(RECORD_DIR)
    }

    /// Fills `observed.sriov`: records (with `services`), the VFs of the pools asked for
    /// and of the records, their drivers and, from each PF, their settings.
    pub(crate) fn observe_sriov(
        &mut self,
        query: &Query,
        observed: &mut ObservedState,
    ) -> Result<(), String> {
        let records = if query.services {
            read_records(&self.record_dir())?
        } else {
            Vec::new()
        };
        if query.vf_pools.is_empty() && records.is_empty() {
            return Ok(());
        }
        let (mut vfs, unreadable) = enumerate(&self.sysfs(), query, &records);
        let mut pfs: Vec<IfName> = vfs.iter().map(|v| v.pf.clone()).collect();
        pfs.sort();
        pfs.dedup();
        for pf in pfs {
            // A PF in another namespace (or gone) reports nothing: settings stay unknown.
            let Ok(Some(infos)) = self.rtnl.get_vfs(pf.as_str()) else {
                continue;
            };
            for v in vfs.iter_mut().filter(|v| v.pf == pf) {
                v.state = infos.iter().find(|i| i.vf == v.index).map(|i| VfState {
                    mac: MacAddr::new(i.mac),
                    vlan: i.vlan,
                    spoofchk: i.spoofchk,
                    trust: i.trust,
                    max_tx_rate: i.max_tx_rate,
                });
            }
        }
        observed.sriov.vfs = vfs;
        observed.sriov.records = records;
        observed.sriov.unreadable = unreadable;
        Ok(())
    }

    /// [`hvnet_core::op::Op::BindVf`].
    pub(crate) fn bind_vf(&mut self, pci: PciAddr, driver: Option<&str>) -> Result<(), String> {
        self.other_writes += 1;
        self.sysfs().bind(pci, driver)
    }

    /// [`hvnet_core::op::Op::RecordVf`].
    pub(crate) fn record_vf(
        &mut self,
        pci: PciAddr,
        record: Option<&VfRecord>,
    ) -> Result<(), String> {
        write_record(&self.record_dir(), pci, record)
    }
}
