//! hvnet-core: the backend-agnostic heart of hvnet. Pure: no syscalls, no I/O.
//!
//! The flow of every command:
//!
//! 1. [`config::Config::parse`] — the TOML file, validated, every problem located.
//! 2. [`resolve::resolve`] — the config becomes a [`state::DesiredState`] (bridges, guest
//!    NIC links with generated names and MACs, addresses), with a [`backend::NicBackend`]
//!    deciding how a guest NIC looks on the host.
//!    [`services::services`] adds dnsmasq, firewall rules and sysctls of virtual networks.
//! 3. An [`backend::Observe`] implementation reads an [`observed::ObservedState`].
//! 4. [`plan::plan`] diffs them into a minimal, ordered [`plan::Plan`] of [`op::Op`]s.
//! 5. [`txn::run`] feeds the plan to an [`backend::Execute`] implementation and rolls back
//!    on failure; a [`backend::Journal`] records it first, so a transaction cut short by a
//!    crash is rolled back by the next command ([`recovery`]).
//!
//! [`engine::Engine`] runs that pipeline for every verb (apply, check, down, one guest up or
//! down, one NIC's rate) over any [`engine::Host`]: the real kernel (`hvnet_linux::LinuxHost`)
//! or the in-memory [`memhost::MemHost`].
//!
//! Typed values ([`types::IfName`], [`types::MacAddr`], [`types::Ipv4Cidr`], …) are parsed
//! once at the edge and trusted afterwards.

#![warn(missing_docs)]

pub mod adopt;
pub mod backend;
pub mod config;
pub mod dhcp;
pub mod dhcp6;
pub mod engine;
pub mod evpn;
pub mod firewall;
pub mod import;
pub mod ipv6;
pub mod lifecycle;
pub mod macvtap;
pub mod memhost;
pub mod observed;
pub mod op;
pub mod overlay;
pub mod plan;
pub mod preflight;
pub mod recovery;
pub mod resolve;
pub mod scoped;
pub mod services;
pub mod sriov;
pub mod state;
pub mod teardown;
pub mod topology;
pub mod txn;
pub mod types;
pub mod vif_guard;
