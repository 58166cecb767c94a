//! `hvnet show --format dot|svg`: a picture of the guest networks, drawn by
//! `hvnet_core::topology` as Graphviz DOT; SVG is DOT laid out by Graphviz's `dot`
//! (`hvnet_linux::graphviz`) when it is installed. `--offline` draws from the config
//! alone; otherwise the live host adds what exists and its state (links up or missing,
//! leased addresses, ports hvnet did not make).

use std::io::Write as _;

use hvnet_core::topology::{dot, Live};
use hvnet_kvm::KvmBackend;
use hvnet_linux::graphviz::svg;

use crate::cli::{Global, ShowFormat};
use crate::context::load_config;
use crate::error::{CliError, CliResult};

/// `hvnet show --format dot|svg [--offline]`.
pub fn run(g: &Global, format: ShowFormat, offline: bool) -> CliResult {
    let cfg = load_config(g)?;
    let text = if offline {
        dot(&cfg, None, &KvmBackend)
    } else {
        // As `hvnet show`: read under the shared lock (never half-built).
        let observed = crate::context::reader(g)?
            .observe_query(&hvnet_core::backend::Query::everything())
            .map_err(crate::context::engine_error)?;
        let leases = observed
            .dhcp
            .iter()
            .filter_map(|d| {
                hvnet_linux::dnsmasq::leases(&d.dir.join(hvnet_core::dhcp::LEASE_FILE)).ok()
            })
            .flatten()
            .map(|l| (l.mac, l.ip))
            .collect();
        dot(
            &cfg,
            Some(&Live {
                observed: &observed,
                leases,
            }),
            &KvmBackend,
        )
    };
    let out = match format {
        ShowFormat::Svg => match svg(&text) {
            Ok(svg) => svg,
            Err(why) => {
                eprintln!("hvnet: SVG needs Graphviz's `dot` ({why}; Debian: apt-get install graphviz); printing DOT instead");
                text.into_bytes()
            }
        },
        _ => text.into_bytes(),
    };
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| CliError::Runtime(format!("writing the picture: {e}")))
}
