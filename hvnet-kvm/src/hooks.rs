//! QEMU's `script=` and `downscript=` (`hvnet kvm ifup|ifdown TAP`) as scoped runs of the
//! engine.
//!
//! QEMU creates the tap (`-netdev tap,ifname=TAP,script=…,downscript=…`) and runs the script
//! with the tap's name. The tap is matched to a guest NIC of the config by name (the NIC's
//! `ifname`) or, failing that, by MAC (the tap carries the guest's MAC, or its host-side
//! `fe:` form as libvirt sets it). `ifup` adopts the tap (tags it `hvnet:GUEST` in the same
//! transaction), gives it the host-side MAC and the bridge's MTU, attaches it, brings it up,
//! and applies the NIC's rate limits and hairpin — creating a dynamic bridge with its first
//! guest; the tap's own flags (vnet_hdr, multiqueue, owner), which QEMU chose, are kept.
//! `ifdown` removes the NIC's links (and a dynamic bridge left without guests).
//!
//! `ifup` takes only a tap that is nobody else's, and a second tap for a NIC replaces the
//! first in the same transaction (the old port leaves the bridge): see [`hvnet_core::adopt`].
//!
//! ```
//! use hvnet_core::{config::Config, engine::Engine, memhost::MemHost};
//! use hvnet_core::observed::ObservedKind;
//! use hvnet_kvm::{hooks, KvmBackend};
//! let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br-guest'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nifname='vm0'\n", "x.toml").unwrap();
//! let mut host = MemHost::new();
//! host.add_link("vm0", ObservedKind::Tap(Default::default()), None); // what QEMU made
//! let mut engine = Engine::new(host, KvmBackend);
//! let planned = hooks::plan(&mut engine, &cfg, &"vm0".parse().unwrap(), true).unwrap();
//! engine.apply(&planned).unwrap();
//! let seen = &engine.host().state;
//! assert_eq!(seen.link("vm0").and_then(|l| l.owner()).unwrap().name(), "g");
//! assert_eq!(seen.master_name(seen.link("vm0").unwrap()), Some("br-guest"));
//! ```

use hvnet_core::config::{Config, NicType};
use hvnet_core::engine::{Engine, EngineError, Host, Intent, Planned, Scope};
use hvnet_core::observed::{ObservedKind, ObservedState};
use hvnet_core::op::Op;
use hvnet_core::state::Owner;
use hvnet_core::types::IfName;

/// The (guest, NIC) indexes `tap` stands for: by the NIC's `ifname`, else by MAC.
pub fn find_nic(cfg: &Config, observed: &ObservedState, tap: &IfName) -> Option<(usize, usize)> {
    by_name(cfg, tap).or_else(|| {
        let mac = observed.link(tap.as_str())?.mac?;
        cfg.guests.iter().enumerate().find_map(|(gi, g)| {
            g.nics
                .iter()
                .position(|n| n.mac == mac || n.mac.with_first_octet(crate::HOST_SIDE_OCTET) == mac)
                .map(|ni| (gi, ni))
        })
    })
}

fn by_name(cfg: &Config, tap: &IfName) -> Option<(usize, usize)> {
    cfg.guests.iter().enumerate().find_map(|(gi, g)| {
        g.nics
            .iter()
            .position(|n| n.ifname.as_ref() == Some(tap))
            .map(|ni| (gi, ni))
    })
}

/// Plans `kvm ifup` (`up`) or `kvm ifdown` of `tap` with one observation.
///
/// # Errors
///
/// [`EngineError::Input`]: the tap matches no NIC, does not exist (ifup) or is not a tap or
/// belongs to another owner; or what [`Engine::plan_from`] refuses.
pub fn plan<H: Host>(
    engine: &mut Engine<H>,
    cfg: &Config,
    tap: &IfName,
    up: bool,
) -> Result<Planned, EngineError> {
    // The NIC named by ifname tells whose links to read; a match by MAC needs the tap's
    // MAC first, so then every link's qdiscs are read.
    let mut query = match by_name(cfg, tap) {
        Some((gi, ni)) => engine.query(
            cfg,
            &Scope::Nic {
                guest: cfg.guests[gi].name.clone(),
                nic: ni,
            },
        ),
        None => {
            let mut q = engine.query(cfg, &Scope::Config);
            q.firewall = false;
            q.sysctls.clear();
            q
        }
    };
    query.tc_links.insert(tap.to_string());
    let mut observed = engine.observe_query(&query)?;
    let (gi, ni) = find_nic(cfg, &observed, tap).ok_or_else(|| {
        EngineError::Input(format!(
            "{}: tap {tap} matches no guest NIC (neither a NIC's ifname nor its MAC)",
            engine.source()
        ))
    })?;
    let guest = cfg.guests[gi].name.clone();
    // The NIC is this tap, whatever name the config would have generated, and it keeps the
    // flags QEMU gave it: recreating it would cut QEMU off.
    let mut cfg = cfg.clone();
    let nic = &mut cfg.guests[gi].nics[ni];
    nic.ifname = Some(tap.clone());
    if let (
        Some(ObservedKind::Tap(opts)),
        NicType::Tap {
            vnet_hdr,
            queues,
            uid,
            gid,
        },
    ) = (observed.link(tap.as_str()).map(|l| &l.kind), &mut nic.kind)
    {
        *vnet_hdr = opts.vnet_hdr;
        *queues = if opts.multi_queue {
            (*queues).max(2)
        } else {
            1
        };
        *uid = opts.uid;
        *gid = opts.gid;
    }
    let mut prefix = if up {
        adopt(&mut observed, tap, &cfg, (gi, ni))?
    } else {
        Vec::new()
    };
    let scope = Scope::Nic { guest, nic: ni };
    let intent = if up { Intent::Up } else { Intent::Down };
    let mut planned = engine.plan_from(&cfg, &scope, intent, observed)?;
    planned.verb = format!("kvm {} {tap}", if up { "ifup" } else { "ifdown" });
    prefix.append(&mut planned.plan.ops);
    planned.plan.ops = prefix;
    Ok(planned)
}

/// Adopts a tap QEMU made for NIC `ni` of guest `gi`, in `observed` and as first ops
/// (undone on rollback), so the planner treats it as hvnet's own: only a tap that is nobody
/// else's is taken ([`hvnet_core::adopt`]); it gets the guest's tag, and older ports of the
/// same NIC leave the bridge in the same transaction.
fn adopt(
    observed: &mut ObservedState,
    tap: &IfName,
    cfg: &Config,
    (gi, ni): (usize, usize),
) -> Result<Vec<Op>, EngineError> {
    let (g, nic) = (&cfg.guests[gi], &cfg.guests[gi].nics[ni]);
    let net = cfg.network(&nic.network).ok_or_else(|| {
        EngineError::Input(format!(
            "{tap}: guest {} has no network {:?}",
            g.name, nic.network
        ))
    })?;
    let a = hvnet_core::adopt::check(observed, tap, g, nic, net)
        .map_err(|e| EngineError::Input(e.to_string()))?;
    let mut ops = Vec::new();
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
    Ok(ops)
}
