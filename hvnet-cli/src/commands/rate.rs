//! `hvnet rate GUEST NIC [RATE] [--egress R] [--ingress R]`: change one NIC's rate limits
//! live — only that NIC's tbf, redirect and IFB are touched, the link never flaps.
//!
//! The change is not written to the config file: the next `apply` of an unchanged config
//! returns to the configured limits (and `plan` shows the difference until then).

use hvnet_core::backend::Observe;
use hvnet_core::config::NicRate;
use hvnet_core::plan::{plan, Plan};
use hvnet_core::resolve::{ifb_name, resolve};
use hvnet_core::types::RateSpec;
use hvnet_kvm::KvmBackend;

use crate::cli::Global;
use crate::commands::execute;
use crate::context::{host, load_config, lock};
use crate::error::{CliError, CliResult};

/// A limit given on the command line: a rate spec, or `none` to remove the limit.
fn limit(text: &str, what: &str) -> CliResult<Option<RateSpec>> {
    if text == "none" {
        return Ok(None);
    }
    let spec = text
        .parse::<RateSpec>()
        .map_err(|e| CliError::Input(format!("{what}: {e}")))?;
    match hvnet_core::state::Tbf::refusal(&spec) {
        Some(why) => Err(CliError::Input(format!("{what}: {why}"))),
        None => Ok(Some(spec)),
    }
}

/// The arguments of `hvnet rate`.
pub struct RateArgs<'a> {
    /// The guest's name.
    pub guest: &'a str,
    /// The NIC: its index in the guest's `[[guest.nic]]` list, or its host-side ifname.
    pub nic: &'a str,
    /// Both directions.
    pub rate: Option<&'a str>,
    /// The guest's egress only.
    pub egress: Option<&'a str>,
    /// The guest's ingress only.
    pub ingress: Option<&'a str>,
    /// Print the commands instead.
    pub dry_run: bool,
}

pub fn run(g: &Global, a: &RateArgs<'_>) -> CliResult {
    let mut cfg = load_config(g)?;
    let Some(gi) = cfg.guests.iter().position(|x| x.name == a.guest) else {
        return Err(CliError::Input(format!(
            "no guest named {:?} in {}",
            a.guest,
            g.config.display()
        )));
    };
    let _lock = if a.dry_run { None } else { Some(lock(g)?) };
    let mut host = host()?;
    let observed = host.observe(&[]).map_err(CliError::runtime)?;
    // Find the NIC by index or by the name its host side has (given or generated).
    let before = resolve(&cfg, &observed, &KvmBackend);
    let guest = &cfg.guests[gi];
    let owned: Vec<_> = before
        .links
        .iter()
        .filter(|l| l.owner.as_ref().is_some_and(|o| o.name() == guest.name))
        .filter(|l| !matches!(l.kind, hvnet_core::state::LinkKind::Ifb))
        .map(|l| l.name.clone())
        .collect();
    let ni = match a.nic.parse::<usize>() {
        Ok(i) if i < guest.nics.len() => i,
        _ => owned
            .iter()
            .position(|n| n.as_str() == a.nic)
            .ok_or_else(|| {
                CliError::Input(format!(
                    "guest {:?} has no NIC {:?} (give its index 0..{} or one of: {})",
                    guest.name,
                    a.nic,
                    guest.nics.len(),
                    owned
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
    };
    let link = owned.get(ni).cloned().ok_or_else(|| {
        CliError::Input(format!(
            "NIC {ni} of guest {:?} has no host link",
            guest.name
        ))
    })?;

    let mut rate = cfg.guests[gi].nics[ni].rate.clone();
    if let Some(both) = a.rate {
        let spec = limit(both, "rate")?;
        rate = NicRate {
            egress: spec,
            ingress: spec,
        };
    }
    if let Some(e) = a.egress {
        rate.egress = limit(e, "--egress")?;
    }
    if let Some(i) = a.ingress {
        rate.ingress = limit(i, "--ingress")?;
    }
    cfg.guests[gi].nics[ni].rate = rate;

    let desired = resolve(&cfg, &observed, &KvmBackend);
    let full = plan(&observed, &desired).map_err(|e| CliError::Input(e.to_string()))?;
    let ifb = ifb_name(&link);
    let only_this_nic = Plan {
        ops: full
            .ops
            .into_iter()
            .filter(|op| op.link().is_some_and(|l| *l == link || *l == ifb))
            .collect(),
    };
    if a.dry_run {
        crate::commands::print_commands(g, &only_this_nic);
        return Ok(());
    }
    execute(&mut host, &only_this_nic, "changed")?;
    eprintln!(
        "note: {} is not changed; the next `hvnet apply` restores its limits",
        g.config.display()
    );
    Ok(())
}
