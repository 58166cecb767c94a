//! A libvirt `<network>` with `<forward mode='hostdev'>` (a pool of SR-IOV VFs, seed 004's
//! "Assignment from a pool of SRIOV VFs") → an hvnet `kind = "hostdev"` network.
//!
//! | libvirt | hvnet |
//! |---|---|
//! | `<forward mode='hostdev' managed='yes'>` | `kind = "hostdev"`, `managed = true` (`'no'` or absent: not written, false) |
//! | `<pf dev='eth3'/>` | `pf = "eth3"` (the VF `<address>`es libvirt lists beside it once started are derived from it: warned) |
//! | `<address type='pci' domain bus slot function/>`… (no `<pf>`) | `vfs = ["DDDD:BB:SS.F", …]` |
//! | `<vlan><tag id/></vlan>` (one tag) | `vlan` |
//! | `<driver name='vfio'/>` | nothing (hvnet binds to vfio-pci); other drivers warned |
//!
//! ```
//! use hvnet_kvm::import::libvirt_network::import_hostdev;
//! let xml = "<network>\n  <name>passthrough</name>\n  <forward mode='hostdev' managed='yes'>\n    \
//!            <pf dev='eth3'/>\n  </forward>\n</network>\n";
//! let out = import_hostdev(xml, "passthrough.xml").unwrap();
//! assert!(out.toml.ends_with("name = \"passthrough\"\nkind = \"hostdev\"\npf = \"eth3\"\nmanaged = true\n"));
//! ```

use hvnet_core::import::{self as shared, comment, ImportFailure};
use hvnet_core::sriov::{PciAddr, VfPool, VfSettings, VfSource, MAX_VLAN};
use hvnet_core::types::IfName;
use roxmltree::{Document, Node};
use serde::Serialize;

use super::{check_name, checked, document, ImportError, Reader, Warning};

/// The result of importing a VF pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPool {
    /// What was read.
    pub pool: VfPool,
    /// The hvnet config (the network only).
    pub toml: String,
    /// Skipped elements and adjustments.
    pub warnings: Vec<Warning>,
}

/// Whether `text` is a `<network>` whose `<forward>` has `mode='hostdev'`.
pub(super) fn is_hostdev(text: &str) -> bool {
    Document::parse(text).is_ok_and(|d| {
        let root = d.root_element();
        root.tag_name().name() == "network"
            && root.children().any(|c| {
                c.tag_name().name() == "forward"
                    && c.attribute("mode").map(str::trim) == Some("hostdev")
            })
    })
}

/// Reads a `<forward mode='hostdev'>` network and emits its TOML, checked with hvnet's
/// validator.
///
/// # Errors
///
/// The XML syntax error, every invalid element and attribute (a `<pf>` and no VF, an
/// address that is not PCI, a VLAN out of range), or an output hvnet refuses; with the
/// warnings found.
pub fn import_hostdev(
    text: &str,
    source: &str,
) -> Result<ImportedPool, ImportFailure<ImportError>> {
    let doc = document(text)?;
    let mut r = Reader {
        doc: &doc,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let pool = r.pool(doc.root_element());
    let (pool, warnings) = match pool {
        Some(p) if r.errors.is_empty() => (p, r.warnings),
        _ => {
            return Err(ImportFailure {
                errors: r.errors,
                warnings: r.warnings,
            })
        }
    };
    let (toml, warnings) = checked(pool_toml(&pool, source), warnings)?;
    Ok(ImportedPool {
        pool,
        toml,
        warnings,
    })
}

#[derive(Serialize)]
struct OutConfig<'a> {
    network: [OutPool<'a>; 1],
}

#[derive(Serialize)]
struct OutPool<'a> {
    name: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pf: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vfs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    managed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<u16>,
}

fn pool_toml(p: &VfPool, source: &str) -> Result<String, String> {
    let mut o = comment(&format!(
        "hvnet config imported from {source} (libvirt network {:?}) by `hvnet import libvirt-network`.",
        p.name
    ));
    o.push_str(&comment(&format!(
        "A pool of SR-IOV VFs: attach guests with [[guest]] and [[guest.nic]] network = {:?}.",
        p.name
    )));
    let (pf, vfs) = match &p.source {
        VfSource::Pf(pf) => (Some(pf.as_str()), None),
        VfSource::Vfs(list) => (None, Some(list.iter().map(ToString::to_string).collect())),
    };
    let out = OutConfig {
        network: [OutPool {
            name: &p.name,
            kind: "hostdev",
            pf,
            vfs,
            managed: p.managed.then_some(true),
            vlan: p.settings.vlan,
        }],
    };
    o.push('\n');
    o.push_str(&shared::to_toml(&out)?);
    Ok(o)
}

/// `0x`-prefixed (or bare) hex, at most `max`.
fn hex(v: &str, max: u32) -> Result<u32, String> {
    let digits = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    match u32::from_str_radix(digits, 16) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{v:?} is not a hex number up to {max:#x}")),
    }
}

impl Reader<'_, '_> {
    fn pool(&mut self, root: Node<'_, '_>) -> Option<VfPool> {
        if root.tag_name().name() != "network" {
            self.err(root, "expected a libvirt <network>");
            return None;
        }
        self.other_attrs(
            root,
            &[],
            &[(
                "connections",
                "libvirt's count of attached guests, a run-time value",
            )],
        );
        let mut name = None;
        let mut forward = None;
        let mut vlan = None;
        for c in root.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "name" => {
                    let n = c.text().unwrap_or("").trim().to_string();
                    if let Err(m) = check_name(&n) {
                        self.err(c, m);
                    }
                    name = Some(n);
                }
                "uuid" | "title" | "description" | "metadata" => self.skip(
                    c,
                    "libvirt's own bookkeeping; an hvnet network is known by its name",
                ),
                "forward" => forward = self.hostdev_forward(c),
                "vlan" => vlan = self.vlan(c),
                other => self.skip(
                    c,
                    format!("<{other}> does not apply to a pool of SR-IOV VFs (no bridge, no addresses)"),
                ),
            }
        }
        let Some(name) = name else {
            self.err(root, "missing <name>");
            return None;
        };
        let (source, managed) = forward?;
        Some(VfPool {
            name,
            source,
            managed,
            settings: VfSettings {
                vlan,
                ..VfSettings::default()
            },
        })
    }

    /// `<forward mode='hostdev' managed=…>` with `<pf>` or `<address>`es.
    fn hostdev_forward(&mut self, f: Node<'_, '_>) -> Option<(VfSource, bool)> {
        let managed = self.attr(f, "managed", |v| match v {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(format!("managed={v:?}: expected 'yes' or 'no'")),
        });
        self.other_attrs(f, &["mode", "managed"], &[]);
        let mut pf: Option<(Node<'_, '_>, IfName)> = None;
        let mut vfs: Vec<(Node<'_, '_>, PciAddr)> = Vec::new();
        let mut bad = false;
        for c in f.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "pf" => {
                    self.other_attrs(c, &["dev"], &[]);
                    if pf.is_some() {
                        self.err(
                            c,
                            "a second <pf>: libvirt takes one physical function per network",
                        );
                        continue;
                    }
                    if let Some(dev) =
                        self.req(c, "dev", |v| IfName::new(v).map_err(|e| e.to_string()))
                    {
                        pf = Some((c, dev));
                    }
                }
                "address" => match self.pci_address(c) {
                    Some(a) => vfs.push((c, a)),
                    None => bad = true,
                },
                "driver" => match c.attribute("name").map(str::trim) {
                    Some("vfio") | None => {
                        self.other_attrs(c, &["name"], &[]);
                    }
                    Some(other) => self.skip_attr(
                        c,
                        "name",
                        format!("driver {other:?}: hvnet binds managed VFs to vfio-pci"),
                    ),
                },
                other => self.skip(c, format!("<{other}> has no hvnet equivalent in a VF pool")),
            }
        }
        let source = match pf {
            Some((_, dev)) => {
                for (node, _) in &vfs {
                    self.skip(
                        *node,
                        "libvirt lists the VFs it derived from <pf>; hvnet reads the PF's VFs itself",
                    );
                }
                VfSource::Pf(dev)
            }
            // An invalid address has been reported already.
            None if bad => return None,
            None if vfs.is_empty() => {
                self.err(
                    f,
                    "forward mode hostdev needs <pf dev='…'/> or <address type='pci' …/> elements (the VFs)",
                );
                return None;
            }
            None => VfSource::Vfs(vfs.into_iter().map(|(_, a)| a).collect()),
        };
        Some((source, managed.unwrap_or(false)))
    }

    /// `<address type='pci' domain bus slot function/>`.
    fn pci_address(&mut self, a: Node<'_, '_>) -> Option<PciAddr> {
        self.other_attrs(a, &["type", "domain", "bus", "slot", "function"], &[]);
        let kind = self.req(a, "type", |v| match v {
            "pci" => Ok(()),
            other => Err(format!(
                "address type {other:?}: only PCI VFs can be pooled"
            )),
        });
        let domain = self.req(a, "domain", |v| hex(v, u32::MAX));
        let bus = self.req(a, "bus", |v| hex(v, 0xff));
        let slot = self.req(a, "slot", |v| hex(v, 0x1f));
        let function = self.req(a, "function", |v| hex(v, 7));
        kind?;
        Some(PciAddr {
            domain: domain?,
            bus: u8::try_from(bus?).ok()?,
            slot: u8::try_from(slot?).ok()?,
            function: u8::try_from(function?).ok()?,
        })
    }

    /// `<vlan><tag id/></vlan>`: one untrunked tag.
    fn vlan(&mut self, v: Node<'_, '_>) -> Option<u16> {
        self.other_attrs(v, &[], &[("trunk", "a VF carries one VLAN (no trunk)")]);
        let tags: Vec<Node<'_, '_>> = v
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "tag")
            .collect();
        for c in v
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() != "tag")
        {
            self.skip(c, "a VF's VLAN is one tag");
        }
        let [tag] = tags.as_slice() else {
            self.err(v, "a VF takes exactly one <tag id='…'/> (no trunk)");
            return None;
        };
        self.other_attrs(
            *tag,
            &["id"],
            &[("nativeMode", "a VF's VLAN tags everything it sends")],
        );
        self.req(*tag, "id", |s| match s.parse::<u16>() {
            Ok(id) if id <= MAX_VLAN => Ok(id),
            _ => Err(format!("VLAN id {s:?} is out of range: 0 to {MAX_VLAN}")),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Seed 004's pool, as defined and as `virsh net-dumpxml` shows it once started.
    const SEED_DEFINED: &str = "<network>\n   <name>passthrough</name>\n   <forward mode='hostdev' managed='yes'>\n     <pf dev='eth3'/>\n   </forward>\n </network>\n";
    const SEED_STARTED: &str = "<network connections='1'>\n   <name>passthrough</name>\n   <uuid>a6b49429-d353-d7ad-3185-4451cc786437</uuid>\n   <forward mode='hostdev' managed='yes'>\n     <pf dev='eth3'/>\n     <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x1'/>\n     <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x3'/>\n   </forward>\n </network>\n";

    #[test]
    fn seed_pool_as_defined_and_as_started() {
        for xml in [SEED_DEFINED, SEED_STARTED] {
            let out = import_hostdev(xml, "p.xml").unwrap();
            assert_eq!(
                out.toml,
                "# hvnet config imported from p.xml (libvirt network \"passthrough\") by `hvnet import libvirt-network`.\n\
                 # A pool of SR-IOV VFs: attach guests with [[guest]] and [[guest.nic]] network = \"passthrough\".\n\
                 \n\
                 [[network]]\n\
                 name = \"passthrough\"\n\
                 kind = \"hostdev\"\n\
                 pf = \"eth3\"\n\
                 managed = true\n"
            );
        }
        let started = import_hostdev(SEED_STARTED, "p.xml").unwrap();
        let w: Vec<String> = started
            .warnings
            .iter()
            .map(|w| w.in_file("p.xml"))
            .collect();
        assert!(w.iter().any(|w| w.starts_with("p.xml:6:6: warning: network/forward/address: not imported: libvirt lists the VFs it derived from <pf>")), "{w:#?}");
        assert!(
            w.iter()
                .any(|w| w.starts_with("p.xml:1:10: warning: network/@connections")),
            "{w:#?}"
        );
    }

    #[test]
    fn address_list_and_vlan() {
        let xml = "<network>\n<name>vfs</name>\n<forward mode='hostdev'>\n\
                   <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x0'/>\n\
                   <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x2'/>\n\
                   <driver name='vfio'/>\n</forward>\n<vlan><tag id='42'/></vlan>\n</network>\n";
        let out = import_hostdev(xml, "v.xml").unwrap();
        assert!(
            out.toml.ends_with(
                "name = \"vfs\"\nkind = \"hostdev\"\nvfs = [\"0000:03:10.0\", \"0000:03:10.2\"]\nvlan = 42\n"
            ),
            "{}",
            out.toml
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn errors_name_the_line_and_attribute() {
        let errs = |xml: &str| -> Vec<String> {
            import_hostdev(xml, "e.xml")
                .unwrap_err()
                .errors
                .iter()
                .map(|e| e.in_file("e.xml"))
                .collect()
        };
        let e = errs("<network>\n<name>p</name>\n<forward mode='hostdev'>\n<address type='pci' domain='0' bus='0x03' slot='0x20' function='0'/>\n</forward>\n</network>\n");
        assert!(
            e == ["e.xml:4:43: network/forward/address/@slot: \"0x20\" is not a hex number up to 0x1f"],
            "{e:?}"
        );
        let e = errs(
            "<network>\n<name>p</name>\n<forward mode='hostdev' managed='yes'/>\n</network>\n",
        );
        assert_eq!(
            e,
            ["e.xml:3:1: network/forward: forward mode hostdev needs <pf dev='…'/> or <address type='pci' …/> elements (the VFs)"]
        );
        let e = errs("<network>\n<name>p</name>\n<forward mode='hostdev'><pf dev='eth3'/></forward>\n<vlan><tag id='4096'/></vlan>\n</network>\n");
        assert!(
            e[0].contains("network/vlan/tag/@id: VLAN id \"4096\" is out of range"),
            "{e:?}"
        );
    }

    #[test]
    fn the_dispatcher_takes_both_kinds() {
        let (toml, _) = super::super::import_any(SEED_DEFINED, "p.xml").unwrap();
        assert!(toml.contains("kind = \"hostdev\""));
        let nat = "<network><name>n</name><forward mode='nat'/><bridge name='virbr9'/><ip address='10.9.0.1' prefix='24'/></network>";
        let (toml, _) = super::super::import_any(nat, "n.xml").unwrap();
        assert!(toml.contains("kind = \"nat\""));
    }
}
