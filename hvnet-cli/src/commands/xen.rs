//! `hvnet xen hotplug ACTION [k=v]...`, and the same when the binary runs as `vif-bridge`,
//! `vif-route`, `vif-route-ifup`, `vif-nat` or `vif-hvnet` (a symlink in /etc/xen/scripts):
//! the libxl vif hotplug entrypoint.
//!
//! libxl runs the script as `SCRIPT online|offline type_if=vif` and
//! `SCRIPT add|remove type_if=tap` with `XENBUS_PATH`, `vif`, `INTERFACE` and `netdev` in the
//! environment; see hvnet_xen::hotplug. Exit 0 on success (and for calls that are no-ops),
//! 1 when the hotplug failed (`hotplug-error` and `hotplug-status=error` are written),
//! 2 for an unusable argv/environment, 3 when the hotplug lock stayed busy.
//!
//! `hvnet xen rate DOMID DEVID RATE`: rewrites a vif's backend `rate` key (netback retunes
//! live) and the limit of its `-emu` tap on this host; see hvnet_xen::hotplug::rate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use hvnet_core::firewall::FirewallChoice;
use hvnet_core::types::XlRate;
use hvnet_xen::hotplug::{self, ErrorKind, Invocation, Mode, ModeChoice, Options, XsStore};

use crate::error::{CliError, CliResult};

/// `hvnet xen ...`.
#[derive(Debug, Subcommand)]
pub enum XenCmd {
    /// Run the libxl vif hotplug (what /etc/xen/scripts/vif-bridge, vif-route, vif-nat or
    /// openSUSE's vif-route-ifup do), e.g.
    /// `hvnet xen hotplug online type_if=vif` with libxl's environment (XENBUS_PATH, vif, ...).
    Hotplug {
        /// Which script to stand in for; `auto` takes it from the backend `script` key
        /// (vif-bridge if unset or unknown).
        #[arg(long, value_enum, default_value = "auto")]
        mode: ModeArg,
        /// The command (online, offline, add, remove) and `k=v` variables such as
        /// `type_if=vif|tap`, exactly as libxl passes them to the script.
        #[arg(required = true, num_args = 1.., value_name = "ARG")]
        args: Vec<String>,
    },
    /// Set a vif's rate limit live, e.g. `hvnet xen rate 5 0 100Mb/s@20ms`: rewrites
    /// /local/domain/0/backend/vif/DOMID/DEVID/rate (netback watches it and retunes the PV
    /// vif, limiting what the guest sends) and gives the NIC's -emu tap on this host, if any,
    /// the same limit with tc. `none` removes the key and the tc limit.
    Rate {
        /// The guest's domain id.
        domid: u32,
        /// The NIC's device id (its index in the xl `vif = [ ... ]` list).
        devid: u32,
        /// xl's `RATE[@INTERVAL]` (`100Mb/s@20ms`, `10MB/s`; default interval 50ms, a bare
        /// interval number means seconds, a leading 0 octal), the backend form
        /// `BYTES,USECS`, or `none`.
        rate: String,
    },
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// From the backend `script` key.
    Auto,
    /// As `vif-hvnet`: from the guest's entry in hvnet's config (`-c`).
    Hvnet,
    /// vif-bridge.
    Bridge,
    /// vif-route: routed vif with proxy ARP, forwarding and anti-spoofing.
    Route,
    /// openSUSE's vif-route-ifup: as route, plus ifup/ifdown when an ifcfg-DEV exists.
    RouteIfup,
    /// vif-nat: private 10.x addressing, masquerade, DHCP host entry.
    Nat,
}

impl ModeArg {
    fn choice(self) -> ModeChoice {
        match self {
            ModeArg::Auto => ModeChoice::FromScriptKey,
            ModeArg::Hvnet => ModeChoice::FromConfig,
            ModeArg::Bridge => ModeChoice::Fixed(Mode::Bridge),
            ModeArg::Route => ModeChoice::Fixed(Mode::Route),
            ModeArg::RouteIfup => ModeChoice::Fixed(Mode::RouteIfup),
            ModeArg::Nat => ModeChoice::Fixed(Mode::Nat),
        }
    }
}

/// Runs `hvnet xen ...` (the namespace has been entered already); `config` is `-c`, `fw`
/// `--firewall` (else `HVNET_FIREWALL` or the config's, see [`Options`]).
pub fn run(cmd: &XenCmd, config: &Path, fw: Option<FirewallChoice>) -> CliResult {
    match cmd {
        XenCmd::Hotplug { mode, args } => hotplug_run(mode.choice(), args, config, fw),
        XenCmd::Rate { domid, devid, rate } => rate_run(*domid, *devid, rate),
    }
}

/// Parses `hvnet xen rate`'s RATE: `None` for `none`.
fn parse_rate(text: &str) -> Result<Option<XlRate>, CliError> {
    if text == "none" {
        return Ok(None);
    }
    text.parse::<XlRate>()
        .map(Some)
        .map_err(|e| CliError::Input(format!("RATE: {e}")))
}

fn rate_run(domid: u32, devid: u32, text: &str) -> CliResult {
    let rate = parse_rate(text)?;
    let store = XsStore::open().map_err(CliError::runtime)?;
    let lock_dir = Options::lock_dir_from_env();
    let done = hotplug::rate::retune(&store, domid, devid, rate.as_ref(), &lock_dir)
        .map_err(hotplug_error)?;
    println!("vif{domid}.{devid}: {done}");
    Ok(())
}

fn hotplug_error(e: hotplug::HotplugError) -> CliError {
    match e.kind {
        ErrorKind::Lock => CliError::Lock(e.message),
        ErrorKind::Runtime => CliError::Runtime(e.message),
    }
}

fn hotplug_run(
    mode: ModeChoice,
    args: &[String],
    config: &Path,
    fw: Option<FirewallChoice>,
) -> CliResult {
    let inv = match Invocation::parse(args, |k| std::env::var(k).ok()) {
        Ok(Some(inv)) => inv,
        Ok(None) => return Ok(()),
        Err(e) => return Err(CliError::Input(e.to_string())),
    };
    let store = XsStore::open().map_err(CliError::runtime)?;
    let opts = Options::from_env(mode, config).with_firewall(fw);
    hotplug::run(&inv, &store, &opts).map_err(hotplug_error)
}

/// When the binary runs under a hotplug script name (`vif-bridge`, `vif-route`,
/// `vif-route-ifup`, `vif-nat`, `vif-hvnet`), runs the hotplug with
/// argv as libxl passed it and returns the exit code; `None` for any other name.
pub fn from_argv0() -> Option<ExitCode> {
    let mut argv = std::env::args_os();
    let argv0 = PathBuf::from(argv.next()?);
    let name = argv0.file_name()?.to_str()?.to_owned();
    let mode = ModeChoice::from_script_name(&name)?;
    let args: Vec<String> = argv.map(|a| a.to_string_lossy().into_owned()).collect();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    // The hvnet config: HVNET_CONFIG, else the default path (libxl passes no options).
    let config = std::env::var_os("HVNET_CONFIG")
        .map_or_else(|| PathBuf::from("/etc/hvnet/hvnet.toml"), PathBuf::from);
    match hotplug_run(mode, &args, &config, None) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("{name}: {e}");
            Some(ExitCode::from(e.exit_code()))
        }
    }
}
