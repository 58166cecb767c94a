//! `hvnet kvm ifup TAP` / `hvnet kvm ifdown TAP`: QEMU's `script=` and `downscript=`.
//!
//! QEMU creates the tap (`-netdev tap,ifname=TAP,script=…,downscript=…`) and runs the script
//! with the tap's name. The tap is matched to a guest NIC of the config by name (the NIC's
//! `ifname`) or, failing that, by MAC (the tap carries the guest's MAC, or its host-side
//! `fe:` form as libvirt sets it). `ifup` adopts the tap (tags it `hvnet:GUEST`), gives it
//! the host-side MAC and the bridge's MTU, attaches it, brings it up, and applies the NIC's
//! rate limits and hairpin — creating a dynamic bridge with its first guest; the tap's own
//! flags (vnet_hdr, multiqueue, owner), which QEMU chose, are kept. `ifdown` removes the
//! NIC's links (and a dynamic bridge left without guests). Both are transactional.
//!
//! `ifup` takes only a tap that is nobody else's, and a second tap for a NIC replaces the
//! first in the same transaction (the old port leaves the bridge): see [`hvnet_core::adopt`].

use clap::Subcommand;
use hvnet_core::backend::Observe;
use hvnet_core::config::Config;
use hvnet_core::lifecycle::{self as life, Nics};
use hvnet_core::observed::{ObservedKind, ObservedState};
use hvnet_core::op::Op;
use hvnet_core::plan::{plan, Plan};
use hvnet_core::resolve::resolve;
use hvnet_core::services::dhcp_clients;
use hvnet_core::state::{LinkKind, Owner};
use hvnet_core::types::IfName;
use hvnet_kvm::KvmBackend;

use crate::cli::Global;
use crate::commands::execute;
use crate::context::{host, load_config, lock, prepare};
use crate::error::{CliError, CliResult};

/// `hvnet kvm …` subcommands.
#[derive(Debug, Subcommand)]
pub enum KvmCmd {
    /// QEMU `script=`: attach the tap QEMU made to its guest NIC's network.
    Ifup {
        /// The tap (QEMU passes its name).
        tap: String,
    },
    /// QEMU `downscript=`: remove the tap's NIC links (and an emptied dynamic bridge).
    Ifdown {
        /// The tap (QEMU passes its name).
        tap: String,
    },
}

pub fn run(g: &Global, cmd: &KvmCmd) -> CliResult {
    let (tap, up) = match cmd {
        KvmCmd::Ifup { tap } => (tap, true),
        KvmCmd::Ifdown { tap } => (tap, false),
    };
    let tap = IfName::new(tap).map_err(|e| CliError::Input(format!("tap name {tap:?}: {e}")))?;
    let cfg = load_config(g)?;
    let _lock = lock(g)?;
    let mut host = host()?;
    prepare(g, &mut host)?;
    let mut observed = host.observe(&[]).map_err(CliError::runtime)?;
    host.observe_services(&mut observed, hvnet_linux::FirewallRead::Never)
        .map_err(CliError::runtime)?;
    // One guest's change says nothing about the firewall or sysctls (apply's business):
    // left unobserved (the firewall is not even read), the planner leaves them alone.
    observed.saved_sysctls.clear();
    let (gi, ni) = find_nic(&cfg, &observed, &tap).ok_or_else(|| {
        CliError::Input(format!(
            "{}: tap {tap} matches no guest NIC (neither a NIC's ifname nor its MAC)",
            g.config.display()
        ))
    })?;
    let guest = cfg.guests[gi].name.clone();
    // The NIC is this tap, whatever name the config would have generated.
    let mut cfg = cfg;
    cfg.guests[gi].nics[ni].ifname = Some(tap.clone());
    let mut prefix = Vec::new();
    if up {
        adopt(&mut observed, &tap, &cfg, (gi, ni), &mut prefix)?;
    }
    let mut full = resolve(&cfg, &observed, &KvmBackend);
    full.dhcp_clients = dhcp_clients(&cfg, &crate::context::state_dir(g), &full);
    // Keep the flags QEMU gave the tap: recreating it would cut QEMU off.
    if let Some(ObservedKind::Tap(opts)) = observed.link(tap.as_str()).map(|l| &l.kind) {
        for l in full.links.iter_mut().filter(|l| l.name == tap) {
            l.kind = LinkKind::Tap(*opts);
        }
    }
    let want = if up {
        life::up(&cfg, &full, &guest, Nics::One(ni))
    } else {
        life::down(&cfg, &full, &observed, &guest, Nics::One(ni))
    }
    .map_err(|e| CliError::Input(e.to_string()))?;
    let mut p = plan(&observed, &want).map_err(|e| CliError::Input(e.to_string()))?;
    prefix.append(&mut p.ops);
    let p = Plan { ops: prefix };
    execute(&mut host, &p, if up { "ifup" } else { "ifdown" })
}

/// The (guest, NIC) indexes `tap` stands for: by the NIC's `ifname`, else by MAC.
fn find_nic(cfg: &Config, observed: &ObservedState, tap: &IfName) -> Option<(usize, usize)> {
    let by_name = cfg.guests.iter().enumerate().find_map(|(gi, g)| {
        g.nics
            .iter()
            .position(|n| n.ifname.as_ref() == Some(tap))
            .map(|ni| (gi, ni))
    });
    if by_name.is_some() {
        return by_name;
    }
    let mac = observed.link(tap.as_str())?.mac?;
    cfg.guests.iter().enumerate().find_map(|(gi, g)| {
        g.nics
            .iter()
            .position(|n| n.mac == mac || n.mac.with_first_octet(0xfe) == mac)
            .map(|ni| (gi, ni))
    })
}

/// Tags a tap QEMU made as the guest's, in `observed` and as a first op (undone on
/// rollback), so the planner treats it as hvnet's own; older ports of the same NIC leave
/// the bridge in the same transaction. Only a tap that is nobody else's is taken
/// ([`hvnet_core::adopt`]).
fn adopt(
    observed: &mut ObservedState,
    tap: &IfName,
    cfg: &Config,
    (gi, ni): (usize, usize),
    ops: &mut Vec<Op>,
) -> CliResult {
    let (g, nic) = (&cfg.guests[gi], &cfg.guests[gi].nics[ni]);
    let net = cfg.network(&nic.network).ok_or_else(|| {
        CliError::Input(format!(
            "{tap}: guest {} has no network {:?}",
            g.name, nic.network
        ))
    })?;
    let a = hvnet_core::adopt::check(observed, tap, g, nic, net)
        .map_err(|e| CliError::Input(e.to_string()))?;
    for old in &a.replaced {
        ops.push(Op::SetMaster {
            link: old.clone(),
            master: None,
            old: Some(net.bridge.clone()),
        });
        if let Some(l) = observed.links.iter_mut().find(|l| l.name == old.as_str()) {
            l.master = None;
        }
    }
    if a.tag {
        let tag = Owner::new(&g.name).tag();
        if let Some(link) = observed.links.iter_mut().find(|l| l.name == tap.as_str()) {
            ops.push(Op::SetAlias {
                link: tap.clone(),
                alias: Some(tag.clone()),
                old: link.alias.clone(),
            });
            link.alias = Some(tag);
        }
    }
    Ok(())
}
