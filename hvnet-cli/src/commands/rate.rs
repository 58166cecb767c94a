//! `hvnet rate GUEST NIC [RATE] [--egress R] [--ingress R]`: change one NIC's rate limits
//! live — only that NIC's tbf, redirect and IFB are touched, the link never flaps.
//!
//! The change is not written to the config file: the next `apply` of an unchanged config
//! returns to the configured limits (and `plan` shows the difference until then).

use hvnet_core::config::NicRate;
use hvnet_core::engine::{Intent, Scope};
use hvnet_core::resolve::resolve_guest;
use hvnet_core::types::RateSpec;
use hvnet_kvm::KvmBackend;

use crate::cli::Global;
use crate::commands::{execute, print_commands, recover};
use crate::context::{engine, engine_error, load_config};
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
    let mut engine = engine(g)?;
    if a.dry_run {
        engine
            .lock(hvnet_core::engine::LockMode::Shared)
            .map_err(engine_error)?;
    } else {
        recover(&mut engine)?;
    }
    let scope = Scope::Guest(a.guest.to_string());
    let observed = engine.observe(&cfg, &scope).map_err(engine_error)?;
    // Find the NIC by index or by the name its host side has (given or generated).
    let before = resolve_guest(&cfg, &observed, &KvmBackend, a.guest);
    let guest = &cfg.guests[gi];
    let owned: Vec<_> = before
        .nic_links
        .iter()
        .filter(|l| l.guest == guest.name)
        .map(|l| (l.nic, l.link.clone()))
        .collect();
    let ni = match a.nic.parse::<usize>() {
        Ok(i) if i < guest.nics.len() => i,
        _ => owned
            .iter()
            .find(|(_, n)| n.as_str() == a.nic)
            .map(|(i, _)| *i)
            .ok_or_else(|| {
                CliError::Input(format!(
                    "guest {:?} has no NIC {:?} (give its index 0..{} or one of: {})",
                    guest.name,
                    a.nic,
                    guest.nics.len(),
                    owned
                        .iter()
                        .map(|(_, n)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
    };

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

    let scope = Scope::Nic {
        guest: a.guest.to_string(),
        nic: ni,
    };
    let planned = engine
        .plan_from(&cfg, &scope, Intent::Retune, observed)
        .map_err(engine_error)?;
    if a.dry_run {
        print_commands(g, engine.host(), &planned.plan);
        return Ok(());
    }
    execute(&mut engine, &planned, "changed")?;
    eprintln!(
        "note: {} is not changed; the next `hvnet apply` restores its limits",
        g.config.display()
    );
    Ok(())
}
