//! The invocation: argv and environment exactly as libxl sets them (reference §2–§3).
//!
//! libxl runs `SCRIPT online type_if=vif` / `SCRIPT offline type_if=vif` for the netback vif
//! and `SCRIPT add type_if=tap` / `SCRIPT remove type_if=tap` for the QEMU tap of an HVM
//! `type=ioemu` NIC, with `XENBUS_PATH` (usually relative, `backend/vif/<domid>/<devid>`),
//! `vif`, `INTERFACE` (tap only) and `netdev` in the environment. As the stock scripts do, the
//! command is the first argument without `=`, and every `k=v` argument is a variable.

use std::fmt;

/// What libxl asks for (`argv[1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The netback vif appeared (`type_if=vif`).
    Online,
    /// The netback vif is going away (`type_if=vif`).
    Offline,
    /// The QEMU tap appeared (`type_if=tap`).
    Add,
    /// The QEMU tap is going away (`type_if=tap`).
    Remove,
}

impl Action {
    /// The word libxl passes (`online`, `offline`, `add`, `remove`).
    pub fn word(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Add => "add",
            Self::Remove => "remove",
        }
    }

    /// `online`/`add`: set the device up (as opposed to tearing it down).
    pub fn is_up(self) -> bool {
        matches!(self, Action::Online | Action::Add)
    }

    /// The argv spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Online => "online",
            Action::Offline => "offline",
            Action::Add => "add",
            Action::Remove => "remove",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which device the call is about (`type_if=`, default `vif`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeIf {
    /// Netback's `vif<domid>.<devid>`.
    Vif,
    /// QEMU's `vif<domid>.<devid>-emu`.
    Tap,
}

impl TypeIf {
    /// The argv spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeIf::Vif => "vif",
            TypeIf::Tap => "tap",
        }
    }
}

/// Bad argv or environment: nothing was touched and nothing can be reported in xenstore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// No argument without `=`.
    #[error("no command given (expected online, offline, add or remove)")]
    NoCommand,
    /// A command other than the four libxl uses.
    #[error("unknown command {0:?} (expected online, offline, add or remove)")]
    UnknownCommand(String),
    /// `type_if=` other than `vif` or `tap`.
    #[error("unknown type_if={0:?} (expected vif or tap)")]
    UnknownTypeIf(String),
    /// A variable the call needs is missing.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable has an unusable value.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// One parsed hotplug invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The command.
    pub action: Action,
    /// `type_if` (default `vif`).
    pub type_if: TypeIf,
    /// `XENBUS_PATH` as given (may be relative to `/local/domain/0`), or for a tap call
    /// without it, derived from `INTERFACE` like the stock scripts do.
    pub xenbus_path: String,
    /// `vif`: netback's name for the device.
    pub vif: Option<String>,
    /// `INTERFACE`: QEMU's tap name.
    pub interface: Option<String>,
    /// `netdev` (the backend `gatewaydev`), empty if unset.
    pub netdev: Option<String>,
    /// `bridge` from the environment or a `bridge=` argument; the xenstore key wins.
    pub bridge: Option<String>,
}

impl Invocation {
    /// `true` if this command/type combination does anything: `online`/`offline` only act
    /// for `type_if=vif`, `add`/`remove` only for `type_if=tap` (the others exit 0).
    pub fn acts(action: Action, type_if: TypeIf) -> bool {
        matches!(
            (action, type_if),
            (Action::Online | Action::Offline, TypeIf::Vif)
                | (Action::Add | Action::Remove, TypeIf::Tap)
        )
    }

    /// Parses argv (without `argv[0]`) and the environment (`env(NAME)`).
    ///
    /// Returns `Ok(None)` for a combination that does nothing (e.g. `add type_if=vif`). `k=v`
    /// arguments override the environment, as in the stock scripts.
    pub fn parse(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Invocation>, EnvError> {
        let mut command = None;
        let mut vars: Vec<(&str, &str)> = Vec::new();
        for a in args {
            match a.split_once('=') {
                Some((k, v)) => vars.push((k, v)),
                None if command.is_none() => command = Some(a.as_str()),
                None => {}
            }
        }
        let var = |name: &str| -> Option<String> {
            vars.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| env(name))
                .filter(|v| !v.is_empty())
        };
        let action = match command.ok_or(EnvError::NoCommand)? {
            "online" => Action::Online,
            "offline" => Action::Offline,
            "add" => Action::Add,
            "remove" => Action::Remove,
            other => return Err(EnvError::UnknownCommand(other.to_owned())),
        };
        let type_if = match var("type_if").as_deref() {
            None | Some("vif") => TypeIf::Vif,
            Some("tap") => TypeIf::Tap,
            Some(other) => return Err(EnvError::UnknownTypeIf(other.to_owned())),
        };
        if !Self::acts(action, type_if) {
            return Ok(None);
        }
        let vif = var("vif");
        let interface = var("INTERFACE");
        let xenbus_path = match (var("XENBUS_PATH"), type_if) {
            (Some(p), _) => p,
            (None, TypeIf::Vif) => return Err(EnvError::Missing("XENBUS_PATH")),
            (None, TypeIf::Tap) => {
                let name = interface
                    .as_deref()
                    .ok_or(EnvError::Missing("XENBUS_PATH"))?;
                let (domid, devid) =
                    super::naming::parse_default_name(name).ok_or_else(|| EnvError::Invalid {
                        name: "INTERFACE",
                        value: name.to_owned(),
                        reason: "XENBUS_PATH is not set and the name is not vif<domid>.<devid>-emu"
                            .to_owned(),
                    })?;
                format!("/local/domain/0/backend/vif/{domid}/{devid}")
            }
        };
        check_path("XENBUS_PATH", &xenbus_path)?;
        Ok(Some(Invocation {
            action,
            type_if,
            xenbus_path,
            vif,
            interface,
            netdev: var("netdev"),
            bridge: var("bridge"),
        }))
    }

    /// `XENBUS_PATH/key`.
    pub fn key(&self, key: &str) -> String {
        format!("{}/{key}", self.xenbus_path.trim_end_matches('/'))
    }

    /// domid and devid from the last two components of `XENBUS_PATH`
    /// (`.../backend/vif/<domid>/<devid>`), if it has that shape.
    pub fn path_ids(&self) -> Option<(u32, u32)> {
        let mut parts = self.xenbus_path.trim_end_matches('/').rsplit('/');
        let devid = parts.next()?.parse().ok()?;
        let domid = parts.next()?.parse().ok()?;
        Some((domid, devid))
    }
}

/// A xenstore path must be non-empty, printable and without whitespace (xenstored answers
/// `EINVAL` otherwise).
fn check_path(name: &'static str, path: &str) -> Result<(), EnvError> {
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EnvError::Invalid {
            name,
            value: path.to_owned(),
            reason: "contains whitespace or control characters".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn libxl_vif_online() {
        let env = [
            ("XENBUS_PATH", "backend/vif/5/0"),
            ("vif", "vif5.0"),
            ("netdev", ""),
            ("XENBUS_TYPE", "vif"),
        ];
        let inv = Invocation::parse(&args(&["online", "type_if=vif"]), env_of(&env))
            .unwrap()
            .unwrap();
        assert_eq!(inv.action, Action::Online);
        assert_eq!(inv.type_if, TypeIf::Vif);
        assert_eq!(inv.xenbus_path, "backend/vif/5/0");
        assert_eq!(inv.vif.as_deref(), Some("vif5.0"));
        assert_eq!(inv.netdev, None);
        assert_eq!(inv.key("bridge"), "backend/vif/5/0/bridge");
        assert_eq!(inv.path_ids(), Some((5, 0)));
    }

    #[test]
    fn type_if_defaults_to_vif_and_command_is_first_word() {
        let env = [("XENBUS_PATH", "/local/domain/0/backend/vif/7/3/")];
        let inv = Invocation::parse(&args(&["bridge=br1", "offline", "extra"]), env_of(&env))
            .unwrap()
            .unwrap();
        assert_eq!(inv.action, Action::Offline);
        assert_eq!(inv.type_if, TypeIf::Vif);
        assert_eq!(inv.bridge.as_deref(), Some("br1"));
        assert_eq!(inv.key("mtu"), "/local/domain/0/backend/vif/7/3/mtu");
        assert_eq!(inv.path_ids(), Some((7, 3)));
    }

    #[test]
    fn no_op_combinations() {
        let env = [("XENBUS_PATH", "backend/vif/5/0")];
        for a in [
            &["add", "type_if=vif"][..],
            &["remove"][..],
            &["online", "type_if=tap"][..],
            &["offline", "type_if=tap"][..],
        ] {
            assert_eq!(
                Invocation::parse(&args(a), env_of(&env)).unwrap(),
                None,
                "{a:?}"
            );
        }
    }

    #[test]
    fn tap_derives_path_from_interface() {
        let env = [("INTERFACE", "vif12.1-emu")];
        let inv = Invocation::parse(&args(&["add", "type_if=tap"]), env_of(&env))
            .unwrap()
            .unwrap();
        assert_eq!(inv.xenbus_path, "/local/domain/0/backend/vif/12/1");
        assert_eq!(inv.interface.as_deref(), Some("vif12.1-emu"));
        let env = [("INTERFACE", "web0-emu")];
        assert!(matches!(
            Invocation::parse(&args(&["add", "type_if=tap"]), env_of(&env)),
            Err(EnvError::Invalid {
                name: "INTERFACE",
                ..
            })
        ));
    }

    #[test]
    fn errors() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            Invocation::parse(&args(&["type_if=vif"]), env_of(&none)),
            Err(EnvError::NoCommand)
        );
        assert_eq!(
            Invocation::parse(&args(&["start"]), env_of(&none)),
            Err(EnvError::UnknownCommand("start".into()))
        );
        assert_eq!(
            Invocation::parse(&args(&["online", "type_if=vbd"]), env_of(&none)),
            Err(EnvError::UnknownTypeIf("vbd".into()))
        );
        assert_eq!(
            Invocation::parse(&args(&["online"]), env_of(&none)),
            Err(EnvError::Missing("XENBUS_PATH"))
        );
        let env = [("XENBUS_PATH", "backend/vif/5/0 x")];
        assert!(matches!(
            Invocation::parse(&args(&["online"]), env_of(&env)),
            Err(EnvError::Invalid {
                name: "XENBUS_PATH",
                ..
            })
        ));
    }
}
