//! What every command needs: the namespace entered, the config loaded, the lock held.

use std::path::{Path, PathBuf};

use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, LockMode};
use hvnet_kvm::KvmBackend;
use hvnet_linux::accounts::SystemAccounts;
use hvnet_linux::{netns, LinuxHost};

use crate::cli::{FirewallBackendArg, Global, IptablesFlavour};
use crate::error::{CliError, CliResult};
use hvnet_core::firewall::FirewallChoice;
use hvnet_linux::firewall::{Choice, Firewall, Variant};

/// The config's `[host] firewall`, once a config was loaded (see [`prepare`]).
static CONFIG_FIREWALL: std::sync::OnceLock<Option<FirewallChoice>> = std::sync::OnceLock::new();

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

/// A loaded config. It is never dropped: a command loads one config and the process ends
/// after it, and freeing every guest's NICs one by one cost a scoped verb on a 256-guest
/// config as much as a fifth of its own work.
pub type Loaded = std::mem::ManuallyDrop<Config>;

/// Reads and validates the config file (`-` is standard input); every problem is an input
/// error (exit 2).
pub fn load_config(g: &Global) -> CliResult<Loaded> {
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
    // Standard input is never cached (nothing names it again).
    let cache = state_dir(g);
    let cache = (!stdin).then_some(cache.as_path());
    let cfg = hvnet_linux::config_cache::load(&bytes, &name, cache, &SystemAccounts)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let _ = CONFIG_FIREWALL.set(cfg.host.firewall);
    match &g.host_name {
        Some(host) => cfg
            .for_host(host)
            .map(Loaded::new)
            .map_err(|e| CliError::Input(e.to_string())),
        None => Ok(Loaded::new(cfg)),
    }
}

/// The config's `[host] firewall`: from the loaded config, else read quietly from the file
/// (its errors are the command's to report; standard input is read only once).
fn config_firewall(g: &Global) -> Option<FirewallChoice> {
    if let Some(c) = CONFIG_FIREWALL.get() {
        return *c;
    }
    if g.config.as_os_str() == "-" {
        return None;
    }
    let bytes = std::fs::read(&g.config).ok()?;
    Config::parse_bytes(&bytes, "", &SystemAccounts)
        .ok()?
        .host
        .firewall
}

/// The engine over this namespace's kernel, with the options' state directory, firewall
/// flavour, lock timeout and `HVNET_FAULT_AT`; messages name the config file.
pub fn engine(g: &Global) -> CliResult<Engine<LinuxHost>> {
    let mut host = host()?;
    prepare(g, &mut host)?;
    host.set_lock_timeout(g.lock_timeout.as_std());
    // A state directory on persistent storage shared with what outlives a reboot may want
    // its journal synced (see hvnet_linux::journal).
    host.set_journal_sync(std::env::var_os("HVNET_JOURNAL_FSYNC").is_some_and(|v| v == "1"));
    let mut engine = Engine::new(host, KvmBackend).with_source(g.config.display().to_string());
    engine.fault_at = fault_at()?;
    Ok(engine)
}

/// The same engine holding the host lock shared (reading verbs).
pub fn reader(g: &Global) -> CliResult<Engine<LinuxHost>> {
    let mut e = engine(g)?;
    e.lock(LockMode::Shared).map_err(engine_error)?;
    Ok(e)
}

/// An engine error as the CLI reports it (and its exit code).
pub fn engine_error(e: EngineError) -> CliError {
    match e {
        EngineError::Input(m) => CliError::Input(m),
        EngineError::Lock(l) if l.timed_out => CliError::Lock(format!(
            "{}; another hvnet is applying — try again, or raise --lock-timeout",
            l.message
        )),
        other => CliError::runtime(other),
    }
}

/// Points `host` at the state directory and the firewall backend the options ask for:
/// `--firewall` (`HVNET_FIREWALL`), else the config's `[host] firewall`, else iptables when
/// `--iptables` names a flavour, else auto.
pub fn prepare(g: &Global, host: &mut LinuxHost) -> CliResult {
    host.set_state_dir(state_dir(g));
    host.set_sysfs_root(&g.sysfs);
    let flavour = match g.iptables {
        IptablesFlavour::Auto => None,
        IptablesFlavour::Nft => Some(Variant::Nft),
        IptablesFlavour::Legacy => Some(Variant::Legacy),
    };
    let chosen = match g.firewall {
        Some(FirewallBackendArg::Auto) => FirewallChoice::Auto,
        Some(FirewallBackendArg::Nftables) => FirewallChoice::Nftables,
        Some(FirewallBackendArg::Iptables) => FirewallChoice::Iptables,
        None => match (config_firewall(g), flavour) {
            (Some(c), _) => c,
            (None, Some(_)) => FirewallChoice::Iptables,
            (None, None) => FirewallChoice::Auto,
        },
    };
    let choice = match chosen {
        FirewallChoice::Auto => Choice::Auto,
        FirewallChoice::Nftables => Choice::Nftables,
        FirewallChoice::Iptables => Choice::Iptables(flavour),
    };
    if choice != Choice::Auto {
        // Named explicitly: its tools must be there (an input error otherwise).
        let backend =
            Firewall::select(choice).map_err(|e| CliError::Input(format!("--firewall: {e}")))?;
        host.set_firewall(backend);
    } else {
        host.set_firewall_choice(choice);
    }
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
