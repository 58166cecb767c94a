//! `hvnet demo`: the embedded default. Builds a host-only network with DHCP (hvnet's
//! dnsmasq, its firewall chains) in a throwaway namespace, attaches two namespace guests by
//! veth and one tap; the guests take their addresses by DHCP (busybox `udhcpc`, or
//! `busybox udhcpc` without the udhcpc package; one has a reservation) — or, with neither,
//! are configured by hand. It proves guest↔guest and
//! guest↔host ping, lists the leases, shows the result, re-applies (expecting no change),
//! tears everything down (dnsmasq included) and checks that nothing is left. The scenario
//! is `hvnet_linux::demo`; this file holds the embedded config and maps its errors.

use hvnet_kvm::KvmBackend;
use hvnet_linux::demo::{self, DemoError};

use crate::cli::Global;
use crate::context::engine_error;
use crate::error::{CliError, CliResult};

const DEMO_TOML: &str = include_str!("../demo.toml");

pub fn run(_g: &Global, keep: bool) -> CliResult {
    demo::run(DEMO_TOML, KvmBackend, keep, &mut std::io::stdout()).map_err(|e| match e {
        DemoError::Config(m) => CliError::Input(m),
        DemoError::Engine(e) => engine_error(e),
        DemoError::Failed(m) => CliError::Runtime(m),
    })
}
