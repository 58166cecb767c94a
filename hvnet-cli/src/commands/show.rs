//! `hvnet show`: bridges with their ports and addresses, hvnet's services and — when the
//! config can be read — each guest's NICs; as text or JSON (the model and both forms are
//! `hvnet_linux::show`).

use hvnet_kvm::KvmBackend;
use hvnet_linux::show::{
    guest_rows, guests_json, render, render_guests, render_services, services_json, to_json,
};

use crate::cli::Global;
use crate::context::load_config;
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, as_json: bool) -> CliResult {
    // Links, dnsmasq, host DHCP clients, saved sysctls and hvnet's firewall chains, read
    // under the shared lock (never half-built).
    let observed = crate::context::reader(g)?
        .observe_query(&hvnet_core::backend::Query::everything())
        .map_err(crate::context::engine_error)?;
    // The kernel view needs no config; the guest view uses it when there is one.
    let cfg = if g.config.exists() || g.config.as_os_str() == "-" {
        match load_config(g) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("hvnet: guests not shown: {e}");
                None
            }
        }
    } else {
        None
    };
    // Guests pinned to other hosts of an overlay are theirs.
    let cfg = cfg.map(|c| match hvnet_core::overlay::for_host(&c, &observed) {
        Ok(here) => crate::context::Loaded::new(here.into_owned()),
        Err(_) => c,
    });
    let guests = cfg.as_ref().map(|c| guest_rows(c, &observed, &KvmBackend));
    if as_json {
        let mut v = to_json(&observed);
        if let Some(rows) = &guests {
            v["guests"] = guests_json(rows);
        }
        v["services"] = services_json(&observed);
        if let Some(c) = &cfg {
            v["overlays"] = crate::commands::overlay_view::to_json(c, &observed);
        }
        let text = serde_json::to_string_pretty(&v).map_err(CliError::runtime)?;
        println!("{text}");
    } else {
        print!("{}", render(&observed));
        print!("{}", render_services(&observed));
        if let Some(c) = &cfg {
            print!("{}", crate::commands::overlay_view::render(c, &observed));
        }
        if let Some(rows) = &guests {
            print!("{}", render_guests(rows));
        }
    }
    Ok(())
}
