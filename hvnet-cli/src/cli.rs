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

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Run inside this named network namespace (/run/netns/NAME).
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// The configuration file.
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
    /// How long to wait for another hvnet holding the host lock.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s")]
    pub lock_timeout: hvnet_core::types::Duration,
    /// Log every op as it runs (-vv for debug detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration file; exit 2 listing every problem.
    Validate,
    /// Show what `apply` would change.
    Plan,
    /// Make the host match the configuration (transactionally).
    Apply {
        /// Print the equivalent commands, one per op, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show bridges with their ports and addresses.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
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
    /// Build a throwaway demo network in fresh namespaces, prove it works, remove it.
    Demo {
        /// Keep the namespaces and links for inspection instead of tearing down.
        #[arg(long)]
        keep: bool,
    },
}
