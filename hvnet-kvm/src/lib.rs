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

pub mod hooks;
pub mod import;

pub mod libvirt;
pub mod macs;
pub mod macvtap;
pub mod qemu;

use hvnet_core::backend::NicBackend;
use hvnet_core::config::{Config, Guest, Network, Nic, NicType};
use hvnet_core::state::{DesiredState, LinkKind, LinkSpec, Owner, TapOpts, VethPeer};
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
            NicType::Tap {
                vnet_hdr,
                queues,
                uid,
                gid,
            } => LinkKind::Tap(TapOpts {
                vnet_hdr: *vnet_hdr,
                multi_queue: *queues > 1,
                uid: *uid,
                gid: *gid,
            }),
            // Never asked: user and hostdev NICs join no bridge, so they get no host link.
            NicType::User { .. } | NicType::Hostdev(_) => LinkKind::Tap(TapOpts::default()),
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

/// One guest NIC with what the output formatters ([`qemu`], [`libvirt`], [`macs`]) need:
/// the NIC, its network and the host-side interface name `resolve` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNic<'a> {
    /// The NIC's index in the guest's NIC list (file order).
    pub index: usize,
    /// The NIC as configured.
    pub nic: &'a Nic,
    /// The network it joins (`None` for a `type = "user"` NIC, QEMU's own NAT).
    pub network: Option<&'a Network>,
    /// The host-side interface name (tap or host end of the veth; `None` for a user NIC,
    /// which has no host link).
    pub ifname: Option<IfName>,
    /// A hostdev NIC's SR-IOV VF (`None`: none allocated, or not a hostdev NIC).
    pub vf: Option<hvnet_core::sriov::VfAssignment>,
    /// For a NIC on a `kind = "direct"` network (`network` is then `None`): its macvtap's
    /// uplink, mode and device owner.
    pub macvtap: Option<hvnet_core::macvtap::MacvtapOpts>,
}

impl GuestNic<'_> {
    /// The name of the network the NIC joins: its bridge's, a hostdev NIC's VF pool, a
    /// direct network (`None`: QEMU's user NAT).
    pub fn network_name(&self) -> Option<&str> {
        match (self.network, &self.macvtap, &self.nic.kind) {
            (Some(net), _, _) => Some(&net.name),
            (None, Some(_), _) | (None, None, NicType::Hostdev(_)) => Some(&self.nic.network),
            (None, None, _) => None,
        }
    }
}

/// A guest NIC the desired state has no host link for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guest {guest:?} nic {index}: no host-side interface could be resolved")]
pub struct UnresolvedNic {
    /// The guest.
    pub guest: String,
    /// The NIC's index.
    pub index: usize,
}

/// Guest `guest`'s NICs with the host side `guest up` gives them (or gave them), against
/// `observed`: a live host's observation of the guest's scope (only this guest is resolved,
/// as `guest up` resolves it), or an empty one (`live = false`: names from the config and
/// generation only). Hostdev NICs get the VF they hold, or the one `guest up` would take.
/// What `hvnet guest args|xml|macs` print from.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
/// let nics = hvnet_kvm::planned_nics(&cfg, &ObservedState::default(), &cfg.guests[0], false).unwrap();
/// assert_eq!(nics[0].ifname.as_ref().map(|n| n.as_str()), Some("vnet0"));
/// ```
///
/// # Errors
///
/// [`UnresolvedNic`], as [`guest_nics`].
pub fn planned_nics<'a>(
    config: &'a Config,
    observed: &hvnet_core::observed::ObservedState,
    guest: &'a Guest,
    live: bool,
) -> Result<Vec<GuestNic<'a>>, UnresolvedNic> {
    let mut desired = if live {
        hvnet_core::resolve::resolve_guest(config, observed, &KvmBackend, &guest.name)
    } else {
        hvnet_core::resolve::resolve(config, observed, &KvmBackend)
    };
    desired.vfs = hvnet_core::sriov::for_guest(
        config,
        observed,
        &guest.name,
        hvnet_core::lifecycle::Nics::All,
        true,
    )
    .unwrap_or_default();
    guest_nics(config, guest, &desired)
}

/// Pairs each NIC of `guest` with the host-side link [`KvmBackend`] produced for it in
/// `desired` (the output of `hvnet_core::resolve::resolve`), matched by owner and host-side
/// MAC (the guest MAC with the first octet `fe`), so the names are exactly those `apply`
/// creates or keeps.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
/// use hvnet_kvm::{guest_nics, KvmBackend};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-guest'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n[[guest.nic]]\nnetwork='n'\nifname='tap-g'\n",
///     "x.toml").unwrap();
/// let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
/// let nics = guest_nics(&cfg, &cfg.guests[0], &want).unwrap();
/// let names: Vec<&str> = nics.iter().map(|n| n.ifname.as_ref().map_or("", |i| i.as_str())).collect();
/// assert_eq!(names, ["vnet0", "tap-g"]);
/// ```
///
/// # Errors
///
/// [`UnresolvedNic`] for the first NIC without a host link (its network is missing, or no
/// free `vnetN` name was left).
pub fn guest_nics<'a>(
    config: &'a Config,
    guest: &'a Guest,
    desired: &DesiredState,
) -> Result<Vec<GuestNic<'a>>, UnresolvedNic> {
    let owner = Owner::new(&guest.name);
    guest
        .nics
        .iter()
        .enumerate()
        .map(|(index, nic)| {
            let host_mac = nic.mac.with_first_octet(HOST_SIDE_OCTET);
            let link = desired.links.iter().find(|l| {
                l.owner.as_ref() == Some(&owner)
                    && match l.kind {
                        LinkKind::Tap(_) | LinkKind::Veth(_) => l.mac == Some(host_mac),
                        // A macvtap carries the guest's own MAC.
                        LinkKind::Macvtap(_) => l.mac == Some(nic.mac),
                        _ => false,
                    }
            });
            if matches!(nic.kind, NicType::User { .. } | NicType::Hostdev(_)) {
                return Ok(GuestNic {
                    index,
                    nic,
                    network: None,
                    ifname: None,
                    vf: desired
                        .vfs
                        .iter()
                        .find(|a| a.guest == guest.name && a.nic == index)
                        .cloned(),
                    macvtap: None,
                });
            }
            if let (Some(link), Some(_)) = (link, config.direct_network(&nic.network)) {
                if let LinkKind::Macvtap(opts) = &link.kind {
                    return Ok(GuestNic {
                        index,
                        nic,
                        network: None,
                        ifname: Some(link.name.clone()),
                        vf: None,
                        macvtap: Some(opts.clone()),
                    });
                }
            }
            match (link, config.network(&nic.network)) {
                (Some(link), Some(network)) => Ok(GuestNic {
                    index,
                    nic,
                    network: Some(network),
                    ifname: Some(link.name.clone()),
                    vf: None,
                    macvtap: None,
                }),
                _ => Err(UnresolvedNic {
                    guest: guest.name.clone(),
                    index,
                }),
            }
        })
        .collect()
}
