//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// hvnet — declarative guest networking for KVM hosts and Xen Dom0s.
#[derive(Debug, Parser)]
#[command(name = "hvnet", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// `--iptables`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IptablesFlavour {
    /// The system's `iptables`.
    Auto,
    /// `iptables-nft`.
    Nft,
    /// `iptables-legacy`.
    Legacy,
}

/// `--firewall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FirewallBackendArg {
    /// nftables when `nft` is installed and `iptables` is nft-based or absent, else iptables.
    Auto,
    /// hvnet's own nftables table (`table inet hvnet`), one `nft -f` transaction per apply.
    Nftables,
    /// hvnet's own iptables chains (flavour from `--iptables`).
    Iptables,
}

impl From<FirewallBackendArg> for hvnet_core::firewall::FirewallChoice {
    fn from(a: FirewallBackendArg) -> Self {
        match a {
            FirewallBackendArg::Auto => Self::Auto,
            FirewallBackendArg::Nftables => Self::Nftables,
            FirewallBackendArg::Iptables => Self::Iptables,
        }
    }
}

/// `hvnet show --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Tables (the default).
    Text,
    /// JSON (as --json).
    Json,
    /// A Graphviz digraph.
    Dot,
    /// The digraph laid out as SVG by Graphviz's `dot`.
    Svg,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Run inside this named network namespace (/run/netns/NAME).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// The configuration file (`-`: read it from standard input).
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        value_name = "FILE",
        default_value = "/etc/hvnet/hvnet.toml"
    )]
    pub config: PathBuf,
    /// Where hvnet keeps its lock and state [default: /run/hvnet, or /run/hvnet/netns/NAME with --netns].
    #[arg(long, global = true, value_name = "DIR", env = "HVNET_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where sysfs is: SR-IOV VFs are found and bound there (a fake tree in tests).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "HVNET_SYSFS",
        default_value = "/sys"
    )]
    pub sysfs: PathBuf,
    /// How long to wait for another hvnet holding the host lock.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s")]
    pub lock_timeout: hvnet_core::types::Duration,
    /// Which iptables flavour the iptables firewall backend uses: the system default (`auto`,
    /// detected from `iptables --version`), `nft` (iptables-nft) or `legacy`
    /// (iptables-legacy); naming one selects the iptables backend unless `--firewall` or the
    /// config's `[host] firewall` says otherwise.
    #[arg(
        long,
        global = true,
        value_name = "FLAVOUR",
        env = "HVNET_IPTABLES",
        default_value = "auto"
    )]
    pub iptables: IptablesFlavour,
    /// This host's name in the config's `[[overlay.host]]` (overrides `[host] name`), so one
    /// config file serves every host of an overlay.
    #[arg(long, global = true, value_name = "NAME", env = "HVNET_HOST_NAME")]
    pub host_name: Option<String>,
    /// Which firewall backend writes hvnet's rules: `auto` (nftables when `nft` is installed
    /// and the host's `iptables` is nft-based or absent, else iptables), `nftables` or
    /// `iptables` [default: the config's `[host] firewall`, else `iptables` when `--iptables`
    /// names a flavour, else auto].
    #[arg(long, global = true, value_name = "BACKEND", env = "HVNET_FIREWALL")]
    pub firewall: Option<FirewallBackendArg>,
    /// Log every op as it runs (-vv for debug detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration file; exit 2 listing every problem.
    Validate,
    /// Show what `apply` would change.
    Plan {
        /// Print the equivalent commands, one per op, as `apply --dry-run` does (the
        /// firewall's in the selected backend's syntax).
        #[arg(long)]
        commands: bool,
    },
    /// Make the host match the configuration (transactionally).
    Apply {
        /// Print the equivalent commands, one per op, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Revert automatically unless `hvnet confirm` comes within this time (like
        /// `netplan try`), so a change that cuts the admin off undoes itself.
        #[arg(long, value_name = "DURATION", conflicts_with = "dry_run")]
        confirm: Option<hvnet_core::types::Duration>,
    },
    /// Keep what a pending `apply --confirm` changed.
    Confirm,
    /// Compare the live host with the config; exit 1 listing each difference.
    Check {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// DHCP leases of the config's networks (like `virsh net-dhcp-leases`).
    Leases {
        /// Only this network.
        network: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show bridges with their ports and addresses, or draw the networks (--format dot|svg).
    Show {
        /// Machine-readable output (the same as --format json).
        #[arg(long)]
        json: bool,
        /// text, json, or a picture: dot (Graphviz) or svg (laid out by Graphviz's `dot`
        /// when installed, else DOT is printed): networks, guests with their NICs,
        /// forwards and each network's way out.
        #[arg(
            long,
            value_name = "FORMAT",
            default_value = "text",
            conflicts_with = "json"
        )]
        format: ShowFormat,
        /// With --format dot|svg: draw from the config alone, without reading the host.
        #[arg(long)]
        offline: bool,
    },
    /// Remove everything the configuration created.
    Down {
        /// Print the equivalent commands and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove every hvnet-owned bridge (like hv_brdelall).
    Brdelall {
        /// Also when guest ports are attached.
        #[arg(long)]
        force: bool,
    },
    /// Per-interface traffic: bytes, packets, drops and current rates (like `iftop -i vif5.0`).
    #[command(long_about = STATS_ABOUT)]
    Stats(StatsArgs),
    /// Change one guest NIC's rate limits live (not written to the config file).
    Rate {
        /// The guest.
        guest: String,
        /// The NIC: its index in the guest's NIC list, or its host-side interface name.
        nic: String,
        /// New limit for both directions, e.g. 100mbit, 10MB/s, "50mbit burst 64kb"; `none` removes it.
        rate: Option<String>,
        /// New limit on what the guest sends (`none` removes it).
        #[arg(long, value_name = "RATE")]
        egress: Option<String>,
        /// New limit on what the guest receives (`none` removes it).
        #[arg(long, value_name = "RATE")]
        ingress: Option<String>,
        /// Print the commands and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A guest's NICs as QEMU arguments, libvirt XML or its MAC plan.
    Guest {
        #[command(subcommand)]
        cmd: crate::commands::guest::GuestCmd,
    },
    /// QEMU's script=/downscript= hooks for taps QEMU creates.
    Kvm {
        #[command(subcommand)]
        cmd: crate::commands::kvm::KvmCmd,
    },
    /// Turn another tool's network settings into hvnet TOML (printed on stdout).
    Import {
        #[command(subcommand)]
        what: crate::commands::import::ImportWhat,
    },
    /// Xen dom0 integration: the libxl vif hotplug entrypoint (`hvnet xen hotplug`).
    #[cfg(feature = "xen")]
    Xen {
        #[command(subcommand)]
        cmd: crate::commands::xen::XenCmd,
    },
    /// Build a throwaway demo network in fresh namespaces, prove it works, remove it.
    Demo {
        /// Keep the namespaces and links for inspection instead of tearing down.
        #[arg(long)]
        keep: bool,
    },
    /// Print the shell completion script for SHELL on stdout
    /// (e.g. `hvnet completions bash > /usr/share/bash-completion/completions/hvnet`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of the config file (what `hvnet.schema.json` holds), for editors'
    /// TOML language servers: `#:schema /usr/share/hvnet/hvnet.schema.json` as the first line.
    Schema,
    /// Write the man pages (hvnet.1 and one per subcommand, e.g. hvnet-apply.1) into DIR.
    Man {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}

const STATS_ABOUT: &str = "\
Per-interface traffic: bytes, packets, drops and current rates (like `iftop -i vif5.0`).

Shows the hvnet-owned links (alias `hvnet:...`) and the bridges they are ports of, or the
links named. The counters are read twice, INTERVAL apart, and the rates are the differences
divided by the time that actually passed between the two readings.

Everything is from the host's point of view: RX is what the host side of a link received,
i.e. what the guest sent; TX is what the host sent towards the guest. DROPS adds the
link's rx_dropped and tx_dropped and the packets dropped by hvnet's rate-limiting tbf
qdiscs for the link (the one on the link, which limits traffic towards the guest, and the
one on the ifb its ingress is redirected to, which limits traffic from the guest).

With --json, each sample is one object (pretty-printed; one line per sample with --watch):
{\"interval_ms\": <measured ms>, \"links\": [{\"name\", \"owner\", \"rx_bytes\", \"tx_bytes\",
\"rx_packets\", \"tx_packets\", \"rx_dropped\", \"tx_dropped\", \"qdisc_drops\", \"rx_bps\",
\"tx_bps\"}]}; counters are totals since the link was made, rates are bits/s (null for a
link that appeared during the interval).

An interface name that does not exist is invalid input (exit 2). With --watch, SIGINT
(Ctrl-C) or SIGTERM ends it with exit 0.";

/// `hvnet stats` options.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// One JSON object per sample (pretty-printed; one line per sample with --watch).
    #[arg(long)]
    pub json: bool,
    /// Time between the two readings a rate is computed from [default: 1s].
    #[arg(short = 'i', long, value_name = "DURATION", value_parser = positive_duration)]
    pub interval: Option<hvnet_core::types::Duration>,
    /// Print again every INTERVAL [default: --interval] until interrupted (Ctrl-C exits 0).
    #[arg(
        short = 'w',
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        value_parser = watch_interval
    )]
    pub watch: Option<Option<hvnet_core::types::Duration>>,
    /// Interfaces to show [default: hvnet-owned links and their bridges].
    #[arg(value_name = "IFNAME")]
    pub ifnames: Vec<String>,
}

/// A duration longer than zero.
fn positive_duration(s: &str) -> Result<hvnet_core::types::Duration, String> {
    let d: hvnet_core::types::Duration = s.parse().map_err(|e| format!("{e}"))?;
    if d.is_zero() {
        return Err("the interval must be longer than 0".into());
    }
    Ok(d)
}

/// `--watch`'s optional interval, with a hint for an interface name taken for one.
fn watch_interval(s: &str) -> Result<hvnet_core::types::Duration, String> {
    if s.parse::<hvnet_core::types::Duration>().is_err() {
        return Err(format!(
            "{s:?} is not a duration (name interfaces before --watch, or write --watch=1s)"
        ));
    }
    positive_duration(s)
}
