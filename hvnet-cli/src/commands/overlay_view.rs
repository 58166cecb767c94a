//! `hvnet show`'s overlay section: per overlay network its VNI, VXLAN device, local address
//! and peers with their state (static: flood entry installed or missing; EVPN: the flood
//! list zebra installed and the BGP sessions with their state), and how many remote MACs
//! the device has learned (EVPN: installed from BGP).

use hvnet_core::config::Config;
use hvnet_core::observed::ObservedState;
use hvnet_core::overlay::{for_host, status, OverlayStatus};
use serde_json::{json, Value};

/// The overlays of `cfg` as this host has them (the config as this host reads it, or as
/// written when it cannot be read for this host).
fn overlays(cfg: &Config, o: &ObservedState) -> Vec<OverlayStatus> {
    match for_host(cfg, o) {
        Ok(here) => status(&here, o),
        Err(_) => status(cfg, o),
    }
}

/// The config as this host reads it.
fn here(cfg: &Config, o: &ObservedState) -> Config {
    for_host(cfg, o).map_or_else(|_| cfg.clone(), std::borrow::Cow::into_owned)
}

/// The text section (empty without overlay networks).
pub fn render(cfg: &Config, o: &ObservedState) -> String {
    let mut out = String::new();
    let evpn = hvnet_linux::evpn::status(&here(cfg, o), o);
    for s in overlays(cfg, o) {
        let local = s.local.map_or_else(|| "?".to_string(), |l| l.to_string());
        let dev_state = if s.up { "up" } else { "missing or down" };
        out.push_str(&format!(
            "  {} vni {} on {} ({dev_state}), local {local}, port {}, {} peers, {} learned MAC(s)\n",
            s.network,
            s.vni,
            s.device,
            s.port,
            s.control,
            s.learned_macs
        ));
        for (peer, installed) in &s.peers {
            let state = if *installed {
                "static entry"
            } else {
                "MISSING"
            };
            out.push_str(&format!("    peer {peer:<15} {state}\n"));
        }
        for peer in &s.stray_peers {
            out.push_str(&format!("    peer {peer:<15} not in the config\n"));
        }
        for vtep in &s.vteps {
            out.push_str(&format!("    vtep {vtep:<15} flood list from BGP\n"));
        }
        if s.control == "evpn" {
            match &evpn {
                Some(Ok(st)) => {
                    for x in &st.sessions {
                        out.push_str(&format!(
                            "    bgp  {:<15} {}, {} EVPN prefix(es) received\n",
                            x.peer, x.state, x.prefixes
                        ));
                    }
                }
                Some(Err(e)) => out.push_str(&format!("    bgp  unknown: {e}\n")),
                None => out.push_str("    bgp  no speaker on this host\n"),
            }
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("overlays\n{out}")
    }
}

/// The JSON form: one object per overlay network.
pub fn to_json(cfg: &Config, o: &ObservedState) -> Value {
    let evpn = match hvnet_linux::evpn::status(&here(cfg, o), o) {
        Some(Ok(st)) => serde_json::to_value(st).unwrap_or(Value::Null),
        Some(Err(e)) => json!({ "error": e }),
        None => Value::Null,
    };
    Value::Array(
        overlays(cfg, o)
            .iter()
            .map(|s| {
                json!({
                    "network": s.network,
                    "vni": s.vni,
                    "device": s.device,
                    "up": s.up,
                    "local": s.local.map(|l| l.to_string()),
                    "port": s.port,
                    "control": s.control,
                    "peers": s.peers.iter().map(|(p, ok)| json!({
                        "address": p.to_string(),
                        "state": if *ok { "static" } else { "missing" },
                    })).collect::<Vec<_>>(),
                    "stray_peers": s.stray_peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "learned_macs": s.learned_macs,
                    "vteps": s.vteps.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "evpn": if s.control == "evpn" { evpn.clone() } else { Value::Null },
                })
            })
            .collect(),
    )
}
