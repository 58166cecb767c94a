//! hvnet-kvm: the KVM/QEMU backend — how a guest NIC appears on the host.
//!
//! A `tap` NIC becomes a persistent TAP device (QEMU opens it with `-netdev tap,ifname=…`),
//! a `veth` NIC a veth pair whose peer sits in the guest's network namespace. Either way the
//! host side is a port of the network's bridge, carries the network's MTU, and has the
//! guest's MAC with the first octet replaced by `fe` (as libvirt does, so the bridge never
//! picks a guest's MAC as its own and the host side never collides with the guest).
//!
//! ```
//! use hvnet_core::{backend::NicBackend, config::Config, state::LinkKind};
//! use hvnet_kvm::KvmBackend;
//! let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-guest'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nmac='52:54:00:12:34:56'\n", "x.toml").unwrap();
//! let (g, n) = (&cfg.guests[0], &cfg.guests[0].nics[0]);
//! let link = KvmBackend.host_link(g, n, &cfg.networks[0], "vnet0".parse().unwrap());
//! assert!(matches!(link.kind, LinkKind::Tap(_)));
//! assert_eq!(link.mac.unwrap().to_string(), "fe:54:00:12:34:56");
//! assert_eq!(link.master.unwrap().as_str(), "br-guest");
//! ```

#![warn(missing_docs)]

use hvnet_core::backend::NicBackend;
use hvnet_core::config::{Guest, Network, Nic, NicType};
use hvnet_core::state::{LinkKind, LinkSpec, Owner, TapOpts, VethPeer};
use hvnet_core::types::IfName;

/// The first octet of every host-side NIC MAC.
pub const HOST_SIDE_OCTET: u8 = 0xfe;

/// The KVM/QEMU NIC backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvmBackend;

impl NicBackend for KvmBackend {
    fn name(&self) -> &'static str {
        "kvm"
    }

    fn ifname_prefix(&self, _nic: &Nic) -> &'static str {
        "vnet"
    }

    fn host_link(&self, guest: &Guest, nic: &Nic, network: &Network, name: IfName) -> LinkSpec {
        let kind = match &nic.kind {
            NicType::Tap { vnet_hdr, queues } => LinkKind::Tap(TapOpts {
                vnet_hdr: *vnet_hdr,
                multi_queue: *queues > 1,
                uid: None,
                gid: None,
            }),
            NicType::Veth { netns, peer } => LinkKind::Veth(VethPeer {
                name: peer.clone(),
                netns: netns.clone(),
                mac: Some(nic.mac),
            }),
        };
        LinkSpec {
            name,
            kind,
            owner: Some(Owner::new(&guest.name)),
            master: Some(network.bridge.clone()),
            mtu: network.mtu,
            mac: Some(nic.mac.with_first_octet(HOST_SIDE_OCTET)),
            up: true,
        }
    }
}
