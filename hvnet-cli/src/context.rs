//! What every command needs: the namespace entered, the config loaded, the lock held.

use std::path::{Path, PathBuf};

use hvnet_core::config::Config;
use hvnet_linux::accounts::SystemAccounts;
use hvnet_linux::lock::{HostLock, LockError};
use hvnet_linux::{netns, LinuxHost};

use crate::cli::{Global, IptablesFlavour};
use crate::error::{CliError, CliResult};
use hvnet_linux::firewall::{Iptables, Variant};

/// Enters `--netns` (if given) for the whole process. Must run before any thread or socket
/// is created, so everything after it lives in that namespace.
pub fn enter_netns(g: &Global) -> CliResult {
    if let Some(ns) = &g.netns {
        if !netns::exists(ns) {
            return Err(CliError::Input(format!(
                "network namespace {ns:?} does not exist (/run/netns/{ns})"
            )));
        }
        netns::enter(ns).map_err(|e| {
            CliError::Runtime(format!("cannot enter network namespace {ns:?}: {e}"))
        })?;
    }
    Ok(())
}

/// The state directory: `--state-dir`, else /run/hvnet (per namespace with `--netns`).
pub fn state_dir(g: &Global) -> PathBuf {
    match (&g.state_dir, &g.netns) {
        (Some(d), _) => d.clone(),
        (None, Some(ns)) => Path::new("/run/hvnet/netns").join(ns),
        (None, None) => PathBuf::from("/run/hvnet"),
    }
}

/// Reads and validates the config file (`-` is standard input); every problem is an input
/// error (exit 2).
pub fn load_config(g: &Global) -> CliResult<Config> {
    let path = &g.config;
    let stdin = path.as_os_str() == "-";
    let bytes = if stdin {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b).map(|_| b)
    } else {
        std::fs::read(path)
    }
    .map_err(|e| CliError::Input(format!("{}: cannot read config: {e}", path.display())))?;
    let name = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    Config::parse_bytes(&bytes, &name, &SystemAccounts).map_err(|e| CliError::Input(e.to_string()))
}

/// Takes the host's apply lock, waiting up to `--lock-timeout`.
pub fn lock(g: &Global) -> CliResult<HostLock> {
    let path = state_dir(g).join("lock");
    HostLock::acquire(&path, g.lock_timeout.as_std()).map_err(|e| match e {
        LockError::Timeout { .. } => CliError::Lock(format!(
            "{e}; another hvnet is applying — try again, or raise --lock-timeout"
        )),
        other => CliError::runtime(other),
    })
}

/// Points `host` at the state directory and the firewall flavour the options ask for.
pub fn prepare(g: &Global, host: &mut LinuxHost) -> CliResult {
    host.set_state_dir(state_dir(g));
    let variant = match g.iptables {
        IptablesFlavour::Auto => return Ok(()),
        IptablesFlavour::Nft => Variant::Nft,
        IptablesFlavour::Legacy => Variant::Legacy,
    };
    let backend = Iptables::with_variant(variant).ok_or_else(|| {
        CliError::Input(format!(
            "--iptables {variant:?}: its iptables and iptables-restore binaries are not installed"
        ))
    })?;
    host.set_firewall(backend);
    Ok(())
}

/// Opens the kernel of the current namespace.
pub fn host() -> CliResult<LinuxHost> {
    LinuxHost::open().map_err(|e| CliError::Runtime(format!("cannot open rtnetlink: {e}")))
}

/// `HVNET_FAULT_AT=k`: tests make op k of the plan fail to prove the rollback.
pub fn fault_at() -> CliResult<Option<usize>> {
    match std::env::var("HVNET_FAULT_AT") {
        Err(_) => Ok(None),
        Ok(v) => {
            v.trim().parse::<usize>().map(Some).map_err(|_| {
                CliError::Input(format!("HVNET_FAULT_AT={v:?} is not a positive number"))
            })
        }
    }
}

/// The value of a sysctl in the current namespace, if it exists.
pub fn read_sysctl(key: &hvnet_core::state::SysctlKey) -> Option<String> {
    hvnet_linux::sysctl::read(&key.path()).ok()
}
