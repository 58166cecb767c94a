//! libvirt domain XML for a guest's NICs (`hvnet guest xml NAME`), in the form of seed 004:
//! one `<interface type='bridge'>` per tap NIC, to paste into the domain's `<devices>`.
//!
//! Rates are written as libvirt's `<bandwidth>`: `inbound` is what the guest receives (its
//! ingress), `outbound` what it sends (its egress). libvirt hands `average` and `peak` to tc
//! as `<n>kbps` (1000 bytes/s) and `burst` as `<n>kb` (1024 bytes) — the convention
//! [`RateSpec::from_libvirt`](hvnet_core::types::RateSpec::from_libvirt) reads — so here
//! `average = ⌈bytes/s ÷ 1000⌉`, `peak` likewise, and `burst = ⌈bytes ÷ 1024⌉` of the burst
//! hvnet applies (the configured one or its default). Rounding up never makes libvirt's
//! limit stricter than hvnet's.
//!
//! Note that libvirt, for `type='bridge'`, creates its own tap: the `<target dev=…/>` name
//! is a request, and libvirt ignores names starting with `vnet`, which it reserves for the
//! taps it generates.
//!
//! ```
//! use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
//! use hvnet_kvm::{guest_nics, libvirt, KvmBackend};
//! let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='virbr2'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nmac='52:54:00:12:34:56'\nrate='100mbit'\n",
//!     "x.toml").unwrap();
//! let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
//! let xml = libvirt::interfaces(&guest_nics(&cfg, &cfg.guests[0], &want).unwrap());
//! assert!(xml.contains("<source bridge='virbr2'/>"));
//! assert!(xml.contains("<inbound average='12500' burst='62'/>"));
//! ```

use std::fmt::Write as _;

use hvnet_core::config::NicType;
use hvnet_core::types::RateSpec;

use crate::GuestNic;

/// The `<interface>` elements for `nics`, two-space indented; a veth NIC, which libvirt
/// cannot attach to a VM, is an XML comment instead.
///
/// A multiqueue tap (`queues = N > 1`) adds `<driver name='vhost' queues='N'/>`.
pub fn interfaces(nics: &[GuestNic<'_>]) -> String {
    let mut out = String::new();
    for n in nics {
        match &n.nic.kind {
            NicType::Tap { .. } if n.macvtap.is_some() => {
                out.push_str(&crate::macvtap::interface_xml(n).unwrap_or_default());
            }
            NicType::Tap { queues, .. } => {
                out.push_str("<interface type='bridge'>\n");
                let _ = writeln!(
                    out,
                    "  <source bridge='{}'/>",
                    escape(n.network.map_or("", |net| net.bridge.as_str()))
                );
                let _ = writeln!(
                    out,
                    "  <target dev='{}'/>",
                    escape(n.ifname.as_ref().map_or("", |i| i.as_str()))
                );
                let _ = writeln!(out, "  <mac address='{}'/>", n.nic.mac);
                out.push_str("  <model type='virtio'/>\n");
                if *queues > 1 {
                    let _ = writeln!(out, "  <driver name='vhost' queues='{queues}'/>");
                }
                out.push_str(&bandwidth_xml(&n.nic.rate));
                out.push_str("</interface>\n");
            }
            NicType::Veth { netns, .. } => {
                let text = format!(
                    "nic {}: veth {} into netns {} is not a tap; libvirt cannot use it, skipped",
                    n.index,
                    n.ifname.as_ref().map_or("", |i| i.as_str()),
                    netns
                );
                let _ = writeln!(out, "<!-- {} -->", comment_text(&text));
            }
            NicType::Hostdev(_) => match &n.vf {
                Some(vf) => {
                    let managed = if vf.managed { "yes" } else { "no" };
                    let _ = writeln!(out, "<interface type='hostdev' managed='{managed}'>");
                    let _ = writeln!(out, "  <mac address='{}'/>", n.nic.mac);
                    out.push_str("  <source>\n");
                    let p = vf.pci;
                    let _ = writeln!(
                        out,
                        "    <address type='pci' domain='0x{:04x}' bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'/>",
                        p.domain, p.bus, p.slot, p.function
                    );
                    out.push_str("  </source>\n");
                    if let Some(tag) = vf.settings.vlan.filter(|v| *v != 0) {
                        let _ = writeln!(out, "  <vlan>\n    <tag id='{tag}'/>\n  </vlan>");
                    }
                    out.push_str("</interface>\n");
                }
                None => {
                    let text = format!(
                        "nic {}: SR-IOV VF from network {} is allocated by `hvnet guest up` (none is free or allocated now)",
                        n.index, n.nic.network
                    );
                    let _ = writeln!(out, "<!-- {} -->", comment_text(&text));
                }
            },
            NicType::User { smb, .. } => {
                out.push_str("<interface type='user'>\n");
                let _ = writeln!(out, "  <mac address='{}'/>", n.nic.mac);
                out.push_str("  <model type='virtio'/>\n");
                out.push_str("</interface>\n");
                if let Some(dir) = smb {
                    let text = format!(
                        "nic {}: libvirt has no smb= for user interfaces; share {dir} with <filesystem> or a qemu:commandline instead",
                        n.index
                    );
                    let _ = writeln!(out, "<!-- {} -->", comment_text(&text));
                }
            }
        }
    }
    out
}

/// A NIC's `<bandwidth>` element (empty without limits), indented for `<interface>`.
pub(crate) fn bandwidth_xml(rate: &hvnet_core::config::NicRate) -> String {
    let mut out = String::new();
    if rate.ingress.is_some() || rate.egress.is_some() {
        out.push_str("  <bandwidth>\n");
        if let Some(spec) = &rate.ingress {
            let _ = writeln!(out, "    <inbound {}/>", bandwidth_attrs(spec));
        }
        if let Some(spec) = &rate.egress {
            let _ = writeln!(out, "    <outbound {}/>", bandwidth_attrs(spec));
        }
        out.push_str("  </bandwidth>\n");
    }
    out
}

/// `average='…' [peak='…'] burst='…'` for one direction, in libvirt's units.
///
/// ```
/// use hvnet_kvm::libvirt::bandwidth_attrs;
/// let spec = "100mbit burst 64kb peak 200mbit".parse().unwrap();
/// assert_eq!(bandwidth_attrs(&spec), "average='12500' peak='25000' burst='64'");
/// // The inverse of RateSpec::from_libvirt:
/// let back = hvnet_core::types::RateSpec::from_libvirt(12_500, Some(25_000), Some(64)).unwrap();
/// assert_eq!(back, spec);
/// ```
pub fn bandwidth_attrs(spec: &RateSpec) -> String {
    let kb_per_s = |bytes_per_sec: u64| bytes_per_sec.div_ceil(1000).max(1);
    let mut s = format!("average='{}'", kb_per_s(spec.rate().bytes_per_sec()));
    if let Some(peak) = spec.peak() {
        let _ = write!(s, " peak='{}'", kb_per_s(peak.bytes_per_sec()));
    }
    let burst = spec.burst_or_default().bytes().div_ceil(1024).max(1);
    let _ = write!(s, " burst='{burst}'");
    s
}

/// Escapes text for an XML attribute value or text node (`&`, `<`, `>`, `'`, `"`).
///
/// ```
/// assert_eq!(hvnet_kvm::libvirt::escape("a<b>&'c\""), "a&lt;b&gt;&amp;&apos;c&quot;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for an XML comment: escaped, and without `--` (not allowed inside a comment).
fn comment_text(text: &str) -> String {
    let mut s = escape(text);
    while s.contains("--") {
        s = s.replace("--", "-&#45;");
    }
    s
}
