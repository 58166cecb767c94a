//! The Xen vif as hvnet's NIC backend: netback creates `vif<domid>.<devid>` (and QEMU its
//! `-emu` tap) when the guest starts, so hvnet never creates the host side of a Xen NIC; it
//! names it, and the hotplug ([`crate::hotplug`]) attaches or routes it when libxl calls.

use hvnet_core::backend::NicBackend;
use hvnet_core::config::{Guest, Network, Nic};
use hvnet_core::state::{LinkKind, LinkSpec};
use hvnet_core::types::IfName;

/// The Xen NIC backend: a guest NIC's host link is netback's vif, a port of its network's
/// bridge that hvnet does not own.
///
/// ```
/// use hvnet_core::backend::NicBackend;
/// assert_eq!(hvnet_xen::vif::XenBackend.name(), "xen");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct XenBackend;

impl NicBackend for XenBackend {
    fn name(&self) -> &'static str {
        "xen"
    }

    fn ifname_prefix(&self, _nic: &Nic) -> &'static str {
        "vif"
    }

    fn host_link(&self, _guest: &Guest, _nic: &Nic, network: &Network, name: IfName) -> LinkSpec {
        LinkSpec {
            name,
            kind: LinkKind::External,
            owner: None,
            master: Some(network.bridge.clone()),
            mtu: network.mtu,
            mac: Some(hvnet_core::types::MacAddr::from(
                crate::hotplug::plan::HOST_MAC,
            )),
            up: true,
        }
    }
}
