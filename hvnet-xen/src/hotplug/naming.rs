//! Device names (reference §14): netback's `vif<domid>.<devid>`, QEMU's
//! `vif<domid>.<devid>-emu`, and the rename target when the backend has a `vifname`.
//!
//! domid and devid always come from the backend keys `frontend-id` and `handle` (or
//! `XENBUS_PATH`), never from a device name, which a `vifname` makes arbitrary.

use hvnet_core::types::IfName;

/// The suffix of the QEMU tap of an emulated NIC (`TAP_DEVICE_SUFFIX` in libxl).
pub const TAP_SUFFIX: &str = "-emu";

/// The longest interface name, in bytes (`IFNAMSIZ - 1`).
pub const MAX_NAME: usize = IfName::MAX_LEN;

/// The longest `vifname` that still leaves room for [`TAP_SUFFIX`].
pub const MAX_VIFNAME_WITH_TAP: usize = MAX_NAME - TAP_SUFFIX.len();

/// A name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// The `vifname` key is not a valid interface name.
    #[error("vifname {name:?} is not a valid interface name: {reason}")]
    Invalid {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The `vifname` plus `-emu` exceeds IFNAMSIZ.
    #[error(
        "vifname {name:?} is {len} bytes: the emulated NIC's tap would be named \
         {name:?}+\"-emu\" ({total} bytes), over the {MAX_NAME}-byte interface name limit \
         (IFNAMSIZ); a vifname of an emulated (ioemu) NIC may be at most \
         {MAX_VIFNAME_WITH_TAP} bytes",
        total = name.len() + TAP_SUFFIX.len(),
        len = name.len()
    )]
    TooLongForTap {
        /// The name.
        name: String,
    },
    /// Neither the environment nor the backend keys give the default name.
    #[error("cannot name the device: {0}")]
    Unknown(String),
}

/// Netback's name for a guest NIC: `vif<domid>.<devid>`.
pub fn netback_name(domid: u32, devid: u32) -> String {
    format!("vif{domid}.{devid}")
}

/// `vif<domid>.<devid>` or `vif<domid>.<devid>-emu` back to `(domid, devid)`; `None` for any
/// other name.
pub fn parse_default_name(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("vif")?;
    let rest = rest.strip_suffix(TAP_SUFFIX).unwrap_or(rest);
    let (d, n) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(d) || !digits(n) {
        return None;
    }
    Some((d.parse().ok()?, n.parse().ok()?))
}

/// The device a call is about: the name it has when libxl calls (`current`) and the name it
/// must end up with (`target`, different when the backend has a `vifname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNames {
    /// The name netback (or QEMU) gave the device.
    pub current: String,
    /// The name after the rename; equal to `current` without a `vifname`.
    pub target: String,
}

impl DeviceNames {
    /// Works the names out.
    ///
    /// * `tap`: the QEMU tap (`type_if=tap`) rather than netback's vif;
    /// * `given`: the environment's name for the device (`vif`, or `INTERFACE` for a tap);
    /// * `ids`: `(frontend-id, handle)`, to name the device when `given` is unset;
    /// * `vifname`: the backend `vifname` key;
    /// * `emulated`: the NIC also has a QEMU tap (backend `type=vif_ioemu`), so a `vifname`
    ///   must leave room for `-emu` already on the vif's call.
    pub fn resolve(
        tap: bool,
        given: Option<&str>,
        ids: Option<(u32, u32)>,
        vifname: Option<&str>,
        emulated: bool,
    ) -> Result<DeviceNames, NamingError> {
        let suffix = if tap { TAP_SUFFIX } else { "" };
        let current = match (given, ids) {
            (Some(g), _) => g.to_owned(),
            (None, Some((d, n))) => format!("{}{suffix}", netback_name(d, n)),
            (None, None) => {
                return Err(NamingError::Unknown(format!(
                    "{} is not set and the backend has no frontend-id/handle",
                    if tap { "INTERFACE" } else { "vif" }
                )))
            }
        };
        let target = match vifname {
            None => current.clone(),
            Some(v) => {
                IfName::new(v).map_err(|e| NamingError::Invalid {
                    name: v.to_owned(),
                    reason: e.to_string(),
                })?;
                if (tap || emulated) && v.len() > MAX_VIFNAME_WITH_TAP {
                    return Err(NamingError::TooLongForTap { name: v.to_owned() });
                }
                format!("{v}{suffix}")
            }
        };
        Ok(DeviceNames { current, target })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_names() {
        assert_eq!(netback_name(5, 0), "vif5.0");
        assert_eq!(netback_name(32000, 100), "vif32000.100");
        assert_eq!(parse_default_name("vif5.0"), Some((5, 0)));
        assert_eq!(parse_default_name("vif12.3-emu"), Some((12, 3)));
        for bad in [
            "web0", "vif5", "vif.0", "vif5.", "vif5.0x", "vifa.0", "vif-1.0", "xvif5i0",
        ] {
            assert_eq!(parse_default_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn vif_without_and_with_vifname() {
        let n = DeviceNames::resolve(false, Some("vif5.0"), Some((5, 0)), None, false).unwrap();
        assert_eq!(
            (n.current.as_str(), n.target.as_str()),
            ("vif5.0", "vif5.0")
        );
        let n = DeviceNames::resolve(false, Some("vif5.0"), None, Some("web0"), false).unwrap();
        assert_eq!((n.current.as_str(), n.target.as_str()), ("vif5.0", "web0"));
        // Without `vif` in the environment, the ids name the device, not the vifname.
        let n = DeviceNames::resolve(false, None, Some((9, 2)), Some("web0"), false).unwrap();
        assert_eq!((n.current.as_str(), n.target.as_str()), ("vif9.2", "web0"));
        assert!(matches!(
            DeviceNames::resolve(false, None, None, None, false),
            Err(NamingError::Unknown(_))
        ));
    }

    #[test]
    fn tap_names() {
        let n = DeviceNames::resolve(true, Some("vif5.0-emu"), None, None, true).unwrap();
        assert_eq!(n.target, "vif5.0-emu");
        let n = DeviceNames::resolve(true, None, Some((5, 1)), Some("web0"), true).unwrap();
        assert_eq!(
            (n.current.as_str(), n.target.as_str()),
            ("vif5.1-emu", "web0-emu")
        );
        // 11 bytes is the longest vifname that fits with -emu.
        let n = DeviceNames::resolve(true, None, Some((5, 1)), Some("abcdefghijk"), true).unwrap();
        assert_eq!(n.target, "abcdefghijk-emu");
        assert_eq!(n.target.len(), MAX_NAME);
    }

    #[test]
    fn vifname_limits() {
        // 12..15 bytes: fine for a PV-only vif, not for a NIC that also has a tap.
        let v = "abcdefghijkl";
        assert!(DeviceNames::resolve(false, Some("vif5.0"), None, Some(v), false).is_ok());
        let e = DeviceNames::resolve(false, Some("vif5.0"), None, Some(v), true).unwrap_err();
        assert_eq!(e, NamingError::TooLongForTap { name: v.into() });
        let msg = DeviceNames::resolve(true, Some("vif5.0-emu"), None, Some(v), true)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("at most 11 bytes"), "{msg}");
        assert!(msg.contains("16 bytes"), "{msg}");
        // Over 15 bytes, or not a name at all: invalid everywhere.
        for bad in ["averyveryverylongname", "a/b", "with space", "", "tap%d"] {
            let e = DeviceNames::resolve(false, Some("vif5.0"), None, Some(bad), false);
            assert!(
                matches!(e, Err(NamingError::Invalid { .. })),
                "{bad}: {e:?}"
            );
        }
    }
}
