//! Which stock script hvnet stands in for: chosen by the name it was run as (`vif-bridge`,
//! ...) or, for `vif-hvnet` and `hvnet xen hotplug`, by the backend's `script` key.

use std::fmt;

/// A vif hotplug mode, named after the stock script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `vif-bridge`: attach the vif to a bridge.
    Bridge,
    /// `vif-route`: routed vif with proxy ARP.
    Route,
    /// openSUSE `vif-route-ifup`: as `vif-route`, plus `ifup`/`ifdown`.
    RouteIfup,
    /// `vif-nat`: private addressing, masquerade.
    Nat,
}

impl Mode {
    /// The mode of a script name or path (its basename): `vif-bridge`, `vif-route`,
    /// `vif-route-ifup`, `vif-nat`; `None` for anything else.
    pub fn from_script(name: &str) -> Option<Mode> {
        let base = name.rsplit('/').next().unwrap_or(name);
        match base {
            "vif-bridge" => Some(Mode::Bridge),
            "vif-route" => Some(Mode::Route),
            "vif-route-ifup" => Some(Mode::RouteIfup),
            "vif-nat" => Some(Mode::Nat),
            _ => None,
        }
    }

    /// The mode for `vif-hvnet`: from the backend `script` key, bridge if unset or unknown.
    pub fn from_script_key(script: Option<&str>) -> Mode {
        script.and_then(Mode::from_script).unwrap_or(Mode::Bridge)
    }

    /// The stock script's name.
    pub fn script_name(self) -> &'static str {
        match self {
            Mode::Bridge => "vif-bridge",
            Mode::Route => "vif-route",
            Mode::RouteIfup => "vif-route-ifup",
            Mode::Nat => "vif-nat",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.script_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(
            Mode::from_script("/etc/xen/scripts/vif-bridge"),
            Some(Mode::Bridge)
        );
        assert_eq!(Mode::from_script("vif-route"), Some(Mode::Route));
        assert_eq!(Mode::from_script("vif-route-ifup"), Some(Mode::RouteIfup));
        assert_eq!(Mode::from_script("/x/vif-nat"), Some(Mode::Nat));
        assert_eq!(Mode::from_script("vif-hvnet"), None);
        assert_eq!(Mode::from_script_key(None), Mode::Bridge);
        assert_eq!(
            Mode::from_script_key(Some("/etc/xen/scripts/vif-openvswitch")),
            Mode::Bridge
        );
        assert_eq!(
            Mode::from_script_key(Some("/etc/xen/scripts/vif-nat")),
            Mode::Nat
        );
    }
}
