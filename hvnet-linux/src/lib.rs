//! hvnet-linux: the only hvnet crate that talks to the kernel.
//!
//! * [`netlink`] — rtnetlink over neli: dumps and pipelined link/address/route requests.
//! * [`tap`] — persistent TAP devices through `/dev/net/tun` ioctls.
//! * [`dnsmasq`] — supervising one dnsmasq (DHCP/DNS) per network: files, start, SIGHUP, leases.
//! * [`firewall`] — hvnet's firewall intent rendered, observed and compared by its nftables
//!   table (one `nft -f` transaction) or its iptables chains (one batch per table).
//! * [`netns`] — named network namespaces (`/run/netns/NAME`): create, enter, delete.
//! * [`config_cache`] — the validated config kept in the state directory for the next command.
//! * [`evpn`] — the EVPN control plane as `show` and `check` report it (hvnet's FRR asked
//!   through vtysh, judged against the config).
//! * [`sysctl`] — reading and writing `/proc/sys`.
//! * [`lock`] — the per-host exclusive apply lock (flock with a timeout).
//! * [`ping`] — a minimal ICMP echo prober used by the demo and tests.
//! * [`stats`] — per-link traffic counters with the drops of their shaping qdiscs.
//! * [`LinuxHost`] — the kernel as hvnet-core's observer (`observe.rs`), executor
//!   (`execute.rs`) and [`journal`]: the host the engine (`hvnet_core::engine`) runs on.
//!
//! Embedding hvnet — one guest brought up as `hvnet guest up web` would:
//!
//! ```no_run
//! use hvnet_core::config::Config;
//! use hvnet_core::engine::{Engine, Intent, Scope};
//! use hvnet_kvm::KvmBackend;
//! use hvnet_linux::LinuxHost;
//!
//! let text = std::fs::read_to_string("/etc/hvnet/hvnet.toml")?;
//! let cfg = Config::parse(&text, "/etc/hvnet/hvnet.toml")?;
//! let mut host = LinuxHost::open()?;
//! host.set_state_dir("/run/hvnet");
//! let mut engine = Engine::new(host, KvmBackend);
//! engine.recover()?; // roll back what a killed hvnet left half-done
//! let planned = engine.plan(&cfg, &Scope::Guest("web".into()), Intent::Up)?;
//! print!("{}", planned.plan);
//! engine.apply(&planned)?; // journaled; rolled back on failure
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod accounts;
pub mod config_cache;
mod daemon;
pub mod demo;
pub mod dhcp_client;
pub mod dnsmasq;
pub mod evpn;
mod execute;
pub mod firewall;
pub mod frr;
pub mod graphviz;
mod host;
pub mod journal;
pub mod lines;
pub mod lock;
pub mod macvtap;
pub mod netlink;
pub mod netns;
mod observe;
mod owners;
pub mod ping;
mod services;
pub mod show;
pub mod sriov;
mod state_file;
pub mod stats;
pub mod sysctl;
pub mod tap;
pub mod wireless;

pub use execute::ExecError;
pub use host::LinuxHost;
pub use observe::ObserveError;
pub use services::ServiceError;
