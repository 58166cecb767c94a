//! The EVPN control plane as `hvnet show` and `hvnet check` report it: hvnet's FRR asked
//! through vtysh ([`crate::frr::status`]) for its BGP sessions and advertised VNIs, judged
//! against the config.

use std::borrow::Cow;

use hvnet_core::config::Config;
use hvnet_core::observed::ObservedState;

use crate::frr::Status;

/// The EVPN control plane's status, when this host speaks BGP EVPN and hvnet's FRR answers
/// (`Err`: why it cannot be asked).
pub fn status(cfg: &Config, o: &ObservedState) -> Option<Result<Status, String>> {
    hvnet_core::evpn::speaker(cfg, o)?.ok()?;
    let frr = o.frr.as_ref()?;
    if frr.bgpd_pid.is_none() || frr.zebra_pid.is_none() {
        return Some(Err("hvnet's FRR (zebra, bgpd) is not running".into()));
    }
    Some(crate::frr::status(&frr.dir).map_err(|e| e.to_string()))
}

/// What `check` reports of the control plane, from an observation that read hvnet's
/// services (`Engine::check`'s does): every BGP neighbour whose session is not established
/// and every EVPN network's VNI that is not advertised, for `cfg` as this host reads it.
/// Empty when all is well or this host speaks no EVPN.
///
/// ```no_run
/// # fn f(cfg: &hvnet_core::config::Config, e: &mut hvnet_core::engine::Engine<hvnet_linux::LinuxHost>) -> Result<(), hvnet_core::engine::EngineError> {
/// let checked = e.check(cfg)?;
/// for p in hvnet_linux::evpn::problems(cfg, &checked.observed) {
///     println!("{p}");
/// }
/// # Ok(()) }
/// ```
pub fn problems(cfg: &Config, o: &ObservedState) -> Vec<String> {
    if cfg.evpn.is_none() {
        return Vec::new();
    }
    let here = hvnet_core::overlay::for_host(cfg, o).map_or_else(|_| cfg.clone(), Cow::into_owned);
    let status = match status(&here, o) {
        None => return Vec::new(),
        Some(Err(e)) => return vec![format!("EVPN: {e}")],
        Some(Ok(s)) => s,
    };
    judge(&here, &status)
}

/// The problems in `status` for `cfg`: neighbours without an established session, EVPN VNIs
/// not advertised.
fn judge(cfg: &Config, status: &Status) -> Vec<String> {
    let mut out = Vec::new();
    for n in cfg.evpn_neighbors() {
        match status.session(&n.to_string()) {
            Some(s) if s.state == "Established" => {}
            Some(s) => out.push(format!(
                "EVPN: the BGP session with {n} is not established ({})",
                s.state
            )),
            None => out.push(format!("EVPN: bgpd has no session with {n}")),
        }
    }
    for net in cfg.evpn_networks() {
        let Some(ov) = &net.overlay else { continue };
        if !status.advertised.contains(&ov.vni.get()) {
            out.push(format!(
                "EVPN: VNI {} of network {} is not advertised",
                ov.vni, net.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::Session;

    #[test]
    fn names_sessions_down_and_vnis_not_advertised() {
        let text = "[overlay.evpn]\nasn = 65000\nneighbors = ['172.16.0.2', '172.16.0.3']\n\
            [[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
            [network.overlay]\nvni = 7\ncontrol = 'evpn'\nlocal = '172.16.0.1'\n";
        let cfg = Config::parse(text, "h.toml").unwrap();
        let mut status = Status {
            sessions: vec![Session {
                peer: "172.16.0.2".into(),
                state: "Active".into(),
                prefixes: 0,
            }],
            ..Status::default()
        };
        assert_eq!(
            judge(&cfg, &status),
            [
                "EVPN: the BGP session with 172.16.0.2 is not established (Active)",
                "EVPN: bgpd has no session with 172.16.0.3",
                "EVPN: VNI 7 of network ov is not advertised",
            ]
        );
        status.sessions[0].state = "Established".into();
        status.sessions.push(Session {
            peer: "172.16.0.3".into(),
            state: "Established".into(),
            prefixes: 2,
        });
        status.advertised = vec![7];
        assert!(judge(&cfg, &status).is_empty());
    }
}
