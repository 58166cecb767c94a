//! The firewall of one Xen vif, as intent: which sources its guest may send from
//! (anti-spoofing), what is forwarded to it, and (vif-nat) the masquerade of its addresses.
//!
//! The Xen hotplug plans one [`crate::op::Op::SetVifGuard`] per vif; the firewall renderer in
//! hvnet-linux turns a guard into rules tagged with the vif's name, so one vif's rules are
//! replaced or removed without touching another vif's or `hvnet apply`'s.
//!
//! ```
//! use hvnet_core::vif_guard::{GuardMode, VifGuard};
//! let g = VifGuard::new(GuardMode::Bridged, vec!["192.0.2.10/32".parse().unwrap()], None);
//! assert_eq!(g.unwrap().to_string(), "bridged, from 192.0.2.10/32");
//! // A bridged vif without addresses is not restricted: no rules at all.
//! assert_eq!(VifGuard::new(GuardMode::Bridged, vec![], None), None);
//! ```

use std::fmt;

use crate::types::{IfName, Ipv4Cidr};

/// How the vif reaches the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum GuardMode {
    /// A port of a bridge (`vif-bridge`): matched as a bridge port (br_netfilter).
    Bridged,
    /// Routed by the host (`vif-route`).
    Routed,
    /// Routed and masqueraded (`vif-nat`): only replies come in.
    Nat,
}

/// One vif's firewall intent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct VifGuard {
    /// How the vif is connected.
    pub mode: GuardMode,
    /// The guest's addresses (the backend `ip` key). Empty: not restricted.
    pub nets: Vec<Ipv4Cidr>,
    /// [`GuardMode::Nat`]: the device masqueraded out of (`None`: any but the vif).
    pub uplink: Option<IfName>,
}

impl VifGuard {
    /// The guard, or `None` where the stock scripts write no rules (a bridged vif without
    /// addresses).
    pub fn new(mode: GuardMode, nets: Vec<Ipv4Cidr>, uplink: Option<IfName>) -> Option<Self> {
        if mode == GuardMode::Bridged && nets.is_empty() {
            return None;
        }
        Some(Self { mode, nets, uplink })
    }
}

impl fmt::Display for VifGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            GuardMode::Bridged => "bridged",
            GuardMode::Routed => "routed",
            GuardMode::Nat => "nat",
        };
        f.write_str(mode)?;
        if self.nets.is_empty() {
            f.write_str(", unrestricted")?;
        } else {
            let nets: Vec<String> = self.nets.iter().map(ToString::to_string).collect();
            write!(f, ", from {}", nets.join(" "))?;
        }
        if self.mode == GuardMode::Nat {
            match &self.uplink {
                Some(u) => write!(f, ", masqueraded out of {u}")?,
                None => f.write_str(", masqueraded")?,
            }
        }
        Ok(())
    }
}
