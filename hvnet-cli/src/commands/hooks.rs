//! hvnet run under a QEMU hook's name: `scripts/install.sh --qemu-hooks` links
//! `/etc/hvnet/qemu-ifup` and `/etc/hvnet/qemu-ifdown` to the binary, for
//! `-netdev tap,script=/etc/hvnet/qemu-ifup,downscript=/etc/hvnet/qemu-ifdown`; QEMU runs them
//! with the tap's name, which becomes `hvnet kvm ifup|ifdown TAP`.

use std::ffi::OsString;
use std::path::Path;

/// The command line to parse: `[hvnet, kvm, ifup|ifdown, ARGS…]` when the binary was run as
/// `qemu-ifup` or `qemu-ifdown` (any directory), else `args` unchanged.
pub fn qemu_argv(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let verb = args
        .first()
        .and_then(|a0| Path::new(a0).file_name())
        .and_then(|n| match n.to_str() {
            Some("qemu-ifup") => Some("ifup"),
            Some("qemu-ifdown") => Some("ifdown"),
            _ => None,
        });
    if let Some(verb) = verb {
        args.splice(0..1, ["hvnet".into(), "kvm".into(), verb.into()]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        qemu_argv(words.iter().map(OsString::from))
    }

    #[test]
    fn qemu_hook_names_become_kvm_commands() {
        assert_eq!(
            argv(&["/etc/hvnet/qemu-ifup", "tap0"]),
            argv(&["hvnet", "kvm", "ifup", "tap0"])
        );
        assert_eq!(
            argv(&["qemu-ifdown", "tap0"]),
            ["hvnet", "kvm", "ifdown", "tap0"]
                .map(OsString::from)
                .to_vec()
        );
        assert_eq!(
            argv(&["/usr/bin/hvnet", "plan"]),
            ["/usr/bin/hvnet", "plan"].map(OsString::from).to_vec()
        );
    }
}
