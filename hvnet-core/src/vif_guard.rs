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
//! // Both families: the IPv6 nets are guarded only when there are some.
//! let g = VifGuard::new(
//!     GuardMode::Routed,
//!     vec!["192.0.2.10/32".parse().unwrap(), "2001:db8::10/128".parse().unwrap()],
//!     None,
//! )
//! .unwrap();
//! assert_eq!(g.nets4().len(), 1);
//! assert_eq!(g.nets6()[0].to_string(), "2001:db8::10/128");
//! ```

use std::fmt;

use crate::types::{IfName, IpCidr, Ipv4Cidr, Ipv6Cidr};

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
    /// The guest's addresses of either family (the backend `ip` key). Empty: not
    /// restricted. A family without nets is not restricted either (a guest whose key has
    /// no IPv6 entry sends IPv6 unfiltered, as before IPv6 guards existed).
    pub nets: Vec<IpCidr>,
    /// [`GuardMode::Nat`]: the device masqueraded out of (`None`: any but the vif).
    pub uplink: Option<IfName>,
}

impl VifGuard {
    /// The guard, or `None` where the stock scripts write no rules (a bridged vif without
    /// addresses).
    pub fn new(mode: GuardMode, nets: Vec<IpCidr>, uplink: Option<IfName>) -> Option<Self> {
        if mode == GuardMode::Bridged && nets.is_empty() {
            return None;
        }
        Some(Self { mode, nets, uplink })
    }

    /// The IPv4 nets, in order.
    pub fn nets4(&self) -> Vec<Ipv4Cidr> {
        self.nets.iter().filter_map(IpCidr::v4).collect()
    }

    /// The IPv6 nets, in order.
    pub fn nets6(&self) -> Vec<Ipv6Cidr> {
        self.nets.iter().filter_map(IpCidr::v6).collect()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A record written before IPv6 guards (IPv4 nets as strings) still reads.
    #[test]
    fn ipv4_only_records_still_parse() {
        let g: VifGuard =
            serde_json::from_str(r#"{"mode":"Nat","nets":["10.0.5.1/32"],"uplink":"eth0"}"#)
                .unwrap();
        assert_eq!(g.nets4()[0].to_string(), "10.0.5.1/32");
        assert!(g.nets6().is_empty());
        assert_eq!(
            g.to_string(),
            "nat, from 10.0.5.1/32, masqueraded out of eth0"
        );
    }
}
