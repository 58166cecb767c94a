//! `kind = "direct"` networks: guests on macvtap links over an uplink, without a bridge.

use crate::macvtap::MacvtapMode;
use crate::types::IfName;

/// A `[[network]]` of `kind = "direct"` (libvirt's `<forward mode='bridge'|'vepa'|'private'|
/// 'passthrough'>`): each guest NIC on it is a macvtap link on one of its uplinks, and
/// the guests are on the uplink's LAN. hvnet makes no bridge, address, DHCP or firewall
/// rule for it; the uplinks are never changed.
///
/// ```
/// use hvnet_core::{config::Config, macvtap::MacvtapMode};
/// let cfg = Config::parse("[[network]]\nname='lan'\nkind='direct'\nuplink='eth0'\nmode='bridge'\n",
///     "h.toml").unwrap();
/// let d = cfg.direct_network("lan").unwrap();
/// assert_eq!((d.uplinks[0].as_str(), d.mode), ("eth0", MacvtapMode::Bridge));
/// ```
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DirectNetwork {
    /// Unique name (among all networks).
    pub name: String,
    /// The uplinks (`uplink = "eth0"` is a pool of one): `passthrough` gives each NIC one
    /// of its own; the other modes spread the NICs over them round-robin.
    pub uplinks: Vec<IfName>,
    /// The macvtaps' mode (default `vepa`, libvirt's).
    pub mode: MacvtapMode,
    /// MTU of the macvtaps (at most the uplink's); `None`: the uplink's.
    pub mtu: Option<u32>,
}

impl DirectNetwork {
    /// The mode a direct network has when the file gives none (libvirt's default).
    pub const DEFAULT_MODE: MacvtapMode = MacvtapMode::Vepa;
}
