//! What QEMU's `script=` hook (`hvnet kvm ifup TAP`) may take: the checks made before a
//! tap QEMU created is adopted as a guest NIC's host link.
//!
//! A tap is adopted (tagged `hvnet:GUEST`, given the NIC's host-side MAC, the bridge's MTU,
//! the NIC's limits, and enslaved) only if nothing else has claimed it:
//!
//! * it exists and is a tap;
//! * it carries no owner tag, or this guest's;
//! * it is a port of no bridge, or of this network's own (hvnet-owned) bridge;
//! * it has no qdisc but the kernel's default, or, when it is already this guest's,
//!   hvnet's own.
//!
//! Anything else is the user's, and the hook refuses it (exit 2) without changing a thing.
//!
//! **One NIC, one port.** A second tap for the same NIC (QEMU restarted with a new tap name
//! while the old tap lingers, or a hot-plug retry) *replaces* the first: the guest's older
//! ports on the network's bridge that carry the NIC's MAC (the guest's or its host-side
//! `fe:` form) leave the bridge in the same transaction that attaches the new one, so the
//! bridge never holds two ports with one MAC. The old tap itself is left to its owner (a
//! QEMU may still hold it open); `ifdown` or `apply` removes it. A port with that MAC that
//! is not this guest's is not hvnet's to move: the hook refuses.
//!
//! ```
//! use hvnet_core::adopt::{check, AdoptError};
//! use hvnet_core::config::Config;
//! use hvnet_core::observed::{ObservedKind, ObservedLink, ObservedState};
//! use hvnet_core::state::{BridgeOpts, TapOpts};
//! use hvnet_core::types::IfName;
//! let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
//! let tap = |ifindex, name: &str, master| ObservedLink {
//!     ifindex, name: name.into(), kind: ObservedKind::Tap(TapOpts::default()), master,
//!     mtu: 1500, mac: None, up: false, lower_up: false, alias: None, wireless: false,
//!     group: 0,
//! };
//! let mut obs = ObservedState::default();
//! obs.links.push(tap(1, "qtap0", None));
//! obs.links.push(ObservedLink { kind: ObservedKind::Bridge(BridgeOpts { stp: false, forward_delay_cs: 0 }), ..tap(2, "userbr", None) });
//! obs.links.push(tap(3, "usertap", Some(2)));
//! let (g, n) = (&cfg.guests[0], &cfg.guests[0].nics[0]);
//! let net = &cfg.networks[0];
//! assert!(check(&obs, &IfName::new("qtap0").unwrap(), g, n, net).is_ok());
//! let err = check(&obs, &IfName::new("usertap").unwrap(), g, n, net).unwrap_err();
//! assert!(matches!(err, AdoptError::ForeignMaster { .. }));
//! ```

use crate::config::{Guest, Network, Nic};
use crate::observed::{ObservedKind, ObservedState, QdiscKind};
use crate::op::HVNET_QDISC_HANDLE;
use crate::state::Owner;
use crate::types::IfName;

/// Why a tap is not hvnet's to adopt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    /// No link by that name.
    #[error("tap {tap} does not exist (QEMU creates it before running the script)")]
    Missing {
        /// The tap.
        tap: IfName,
    },
    /// The link is not a tap.
    #[error("{tap} is not a tap device (it is a {kind})")]
    NotTap {
        /// The link.
        tap: IfName,
        /// What it is.
        kind: String,
    },
    /// Another owner's tag.
    #[error("{tap} belongs to {owner}, not to guest {guest}; nothing was changed")]
    ForeignOwner {
        /// The tap.
        tap: IfName,
        /// Its tag.
        owner: String,
        /// The guest asking.
        guest: String,
    },
    /// A port of a bridge that is not the network's.
    #[error("{tap} is a port of bridge {master:?}, not of network {network:?}'s bridge {bridge}: it is not hvnet's to move; nothing was changed")]
    ForeignMaster {
        /// The tap.
        tap: IfName,
        /// Its bridge (or the index, if the bridge was not seen).
        master: String,
        /// The NIC's network.
        network: String,
        /// That network's bridge.
        bridge: IfName,
    },
    /// A qdisc hvnet did not put there.
    #[error("{tap} has a {what} qdisc hvnet did not put there ({kind}): it is not hvnet's to replace; nothing was changed")]
    ForeignQdisc {
        /// The tap.
        tap: IfName,
        /// `root` or `ingress`.
        what: &'static str,
        /// The qdisc's kind.
        kind: String,
    },
    /// A port of the bridge that is not the guest's already has the NIC's MAC.
    #[error("port {port} of bridge {bridge} already carries the MAC of guest {guest}'s NIC and is not that guest's; nothing was changed")]
    MacTaken {
        /// The other port.
        port: String,
        /// The bridge.
        bridge: IfName,
        /// The guest.
        guest: String,
    },
}

/// What adopting a tap takes, once [`check`] has allowed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Adoption {
    /// The tap carries no tag yet: it gets the guest's.
    pub tag: bool,
    /// Older ports of the same NIC on the network's bridge: they leave the bridge in the
    /// same transaction.
    pub replaced: Vec<IfName>,
}

/// Whether `tap` may become the host link of `nic` of `guest` on `network`, and what that
/// takes. Pure: reads `observed` only.
///
/// # Errors
///
/// Why the tap is not hvnet's to take ([`AdoptError`]).
pub fn check(
    observed: &ObservedState,
    tap: &IfName,
    guest: &Guest,
    nic: &Nic,
    network: &Network,
) -> Result<Adoption, AdoptError> {
    let link = observed
        .link(tap.as_str())
        .ok_or_else(|| AdoptError::Missing { tap: tap.clone() })?;
    if !matches!(link.kind, ObservedKind::Tap(_)) {
        return Err(AdoptError::NotTap {
            tap: tap.clone(),
            kind: format!("{:?}", link.kind),
        });
    }
    let owned = match link.owner() {
        Some(o) if o.name() == guest.name => true,
        Some(o) => {
            return Err(AdoptError::ForeignOwner {
                tap: tap.clone(),
                owner: o.tag(),
                guest: guest.name.clone(),
            })
        }
        None => false,
    };
    let net_owner = Owner::new(&network.name);
    let bridge = observed
        .link(network.bridge.as_str())
        .filter(|b| b.owner().as_ref() == Some(&net_owner));
    if let Some(m) = link.master {
        if bridge.is_none_or(|b| b.ifindex != m) {
            return Err(AdoptError::ForeignMaster {
                tap: tap.clone(),
                master: observed
                    .by_index(m)
                    .map_or_else(|| format!("#{m}"), |b| b.name.clone()),
                network: network.name.clone(),
                bridge: network.bridge.clone(),
            });
        }
    }
    for q in observed.qdiscs.iter().filter(|q| q.ifindex == link.ifindex) {
        let ours = owned
            && match q.kind {
                QdiscKind::Tbf(_) => q.root && q.handle == HVNET_QDISC_HANDLE,
                QdiscKind::Ingress => !q.root,
                QdiscKind::Other(_) => false,
            };
        if !ours {
            return Err(AdoptError::ForeignQdisc {
                tap: tap.clone(),
                what: if q.root { "root" } else { "ingress" },
                kind: match &q.kind {
                    QdiscKind::Tbf(t) => format!("tbf {t}"),
                    QdiscKind::Ingress => "ingress".to_string(),
                    QdiscKind::Other(k) => k.clone(),
                },
            });
        }
    }
    let mut replaced = Vec::new();
    if let Some(b) = bridge {
        let host_mac = nic.mac.with_first_octet(0xfe);
        for port in observed.ports_of(b) {
            if port.ifindex == link.ifindex
                || !port.mac.is_some_and(|m| m == nic.mac || m == host_mac)
            {
                continue;
            }
            let mine = port.owner().is_some_and(|o| o.name() == guest.name);
            match IfName::new(&port.name) {
                Ok(name) if mine => replaced.push(name),
                _ => {
                    return Err(AdoptError::MacTaken {
                        port: port.name.clone(),
                        bridge: network.bridge.clone(),
                        guest: guest.name.clone(),
                    })
                }
            }
        }
    }
    Ok(Adoption {
        tag: !owned,
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::observed::{ObservedLink, ObservedQdisc};
    use crate::state::{BridgeOpts, TapOpts, Tbf};

    fn cfg() -> Config {
        Config::parse(
            "[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
             [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nmac='52:54:00:00:00:01'\n",
            "x.toml",
        )
        .unwrap()
    }

    fn link(ifindex: u32, name: &str, kind: ObservedKind, alias: Option<&str>) -> ObservedLink {
        ObservedLink {
            ifindex,
            name: name.into(),
            kind,
            master: None,
            mtu: 1500,
            mac: None,
            up: true,
            lower_up: true,
            alias: alias.map(str::to_string),
            wireless: false,
            group: 0,
        }
    }

    fn bridge() -> ObservedKind {
        ObservedKind::Bridge(BridgeOpts {
            stp: false,
            forward_delay_cs: 0,
        })
    }

    fn tap() -> ObservedKind {
        ObservedKind::Tap(TapOpts::default())
    }

    fn run(obs: &ObservedState, name: &str) -> Result<Adoption, AdoptError> {
        let c = cfg();
        let g = &c.guests[0];
        check(
            obs,
            &IfName::new(name).unwrap(),
            g,
            &g.nics[0],
            &c.networks[0],
        )
    }

    fn qdisc(ifindex: u32, handle: u32, root: bool, kind: QdiscKind) -> ObservedQdisc {
        ObservedQdisc {
            ifindex,
            handle,
            root,
            kind,
        }
    }

    #[test]
    fn owners_masters_and_qdiscs() {
        let mut obs = ObservedState::default();
        obs.links.push(link(1, "br0", bridge(), Some("hvnet:n")));
        obs.links.push(link(2, "t", tap(), None));
        assert_eq!(
            run(&obs, "t").unwrap(),
            Adoption {
                tag: true,
                replaced: vec![]
            }
        );
        assert!(matches!(run(&obs, "nope"), Err(AdoptError::Missing { .. })));
        assert!(matches!(run(&obs, "br0"), Err(AdoptError::NotTap { .. })));
        // On the network's own bridge already: fine.
        obs.links[1].master = Some(1);
        assert!(run(&obs, "t").is_ok());
        obs.links[1].master = None;
        obs.links[1].alias = Some("hvnet:other".into());
        assert!(matches!(
            run(&obs, "t"),
            Err(AdoptError::ForeignOwner { .. })
        ));
        // hvnet's own tbf on the guest's tap is fine; on an untagged tap it is not ours.
        let tbf = Tbf {
            rate_bytes_per_sec: 125_000,
            burst_bytes: 16384,
            limit_bytes: 22634,
        };
        obs.qdiscs
            .push(qdisc(2, HVNET_QDISC_HANDLE, true, QdiscKind::Tbf(tbf)));
        obs.links[1].alias = Some("hvnet:g".into());
        assert!(!run(&obs, "t").unwrap().tag);
        obs.links[1].alias = None;
        assert!(matches!(
            run(&obs, "t"),
            Err(AdoptError::ForeignQdisc { what: "root", .. })
        ));
        obs.qdiscs = vec![qdisc(2, 0x1_0000, true, QdiscKind::Other("fq".into()))];
        obs.links[1].alias = Some("hvnet:g".into());
        assert!(matches!(
            run(&obs, "t"),
            Err(AdoptError::ForeignQdisc { .. })
        ));
    }

    #[test]
    fn an_older_port_of_the_nic_is_replaced_a_foreign_one_refuses() {
        let host_mac = "fe:54:00:00:00:01".parse().unwrap();
        let mut obs = ObservedState::default();
        obs.links.push(link(1, "br0", bridge(), Some("hvnet:n")));
        obs.links.push(link(2, "new", tap(), None));
        let mut old = link(3, "old", tap(), Some("hvnet:g"));
        old.master = Some(1);
        old.mac = Some(host_mac);
        obs.links.push(old);
        let a = run(&obs, "new").unwrap();
        assert_eq!(a.replaced, [IfName::new("old").unwrap()]);
        obs.links[2].alias = Some("user".into());
        assert!(matches!(run(&obs, "new"), Err(AdoptError::MacTaken { .. })));
    }
}
