//! `hvnet leases [NETWORK] [--json]`: the DHCP leases of the config's networks, read from
//! each dnsmasq's leasefile, like `virsh net-dhcp-leases`.

use hvnet_core::dhcp::LEASE_FILE;
use hvnet_core::import::escaped;
use hvnet_core::services::dhcp_dir;
use hvnet_linux::dnsmasq;
use serde_json::json;

use crate::cli::Global;
use crate::context::{load_config, state_dir};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, network: Option<&str>, as_json: bool) -> CliResult {
    let cfg = load_config(g)?;
    // Under the shared host lock: no apply is half-way through restarting a daemon.
    let _reader = crate::context::reader(g)?;
    let nets: Vec<_> = cfg
        .networks
        .iter()
        .filter(|n| n.dhcp.is_some() || n.dhcp6.is_some())
        .filter(|n| network.is_none_or(|w| w == n.name))
        .collect();
    if let Some(w) = network {
        if nets.is_empty() {
            return Err(CliError::Input(format!(
                "{}: no network {w:?} with [network.dhcp] or [network.dhcp6]",
                g.config.display()
            )));
        }
    }
    let mut rows = Vec::new();
    for net in nets {
        let path = dhcp_dir(&state_dir(g), &net.name).join(LEASE_FILE);
        let prefix = net.address.map_or(32, |a| a.prefix_len());
        let (leases, warnings) = dnsmasq::leases_with_warnings(&path).map_err(CliError::runtime)?;
        for w in warnings {
            eprintln!("hvnet: warning: {w}");
        }
        for l in leases {
            rows.push(Row {
                network: net.name.clone(),
                expiry: l.expiry,
                mac: Some(l.mac),
                ip: format!("{}/{prefix}", l.ip),
                family: "ipv4",
                hostname: l.hostname,
                client_id: l.client_id,
            });
        }
        let prefix6 = net.address6.map_or(128, |a| a.prefix_len());
        for l in dnsmasq::leases6(&path).map_err(CliError::runtime)? {
            rows.push(Row {
                network: net.name.clone(),
                expiry: l.expiry,
                mac: l.mac(),
                ip: format!("{}/{prefix6}", l.ip),
                family: "ipv6",
                hostname: l.hostname,
                client_id: l.duid,
            });
        }
    }
    if as_json {
        let doc: Vec<_> = rows
            .iter()
            .map(|l| {
                let (ip, prefix) = l.ip.split_once('/').unwrap_or((&l.ip, ""));
                json!({
                    "network": l.network,
                    "expiry": l.expiry,
                    "expiry_time": expiry_text(l.expiry),
                    "mac": l.mac.map(|m| m.to_string()),
                    "ip": ip,
                    "prefix": prefix.parse::<u8>().ok(),
                    "family": l.family,
                    "hostname": l.hostname,
                    "client_id": l.client_id,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(CliError::runtime)?
        );
        return Ok(());
    }
    println!(
        " {:<12} {:<23} {:<19} {:<8} {:<20} {:<16} Client ID",
        "Network", "Expiry Time (UTC)", "MAC address", "Protocol", "IP address", "Hostname"
    );
    println!("{}", "-".repeat(120));
    for l in &rows {
        println!(
            " {:<12} {:<23} {:<19} {:<8} {:<20} {:<16} {}",
            l.network,
            expiry_text(l.expiry),
            l.mac.map_or("-".into(), |m| m.to_string()),
            l.family,
            l.ip,
            // A guest names itself: control characters must not break the table.
            l.hostname.as_deref().map_or("-".into(), escaped),
            l.client_id.as_deref().map_or("-".into(), escaped),
        );
    }
    Ok(())
}

/// One lease of either family, as listed.
struct Row {
    network: String,
    expiry: u64,
    /// The client's MAC (a DHCPv6 client's only when its DUID carries it).
    mac: Option<hvnet_core::types::MacAddr>,
    /// `ADDRESS/PREFIX`.
    ip: String,
    family: &'static str,
    hostname: Option<String>,
    /// The DHCPv4 client id or the DHCPv6 DUID.
    client_id: Option<String>,
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a leasefile expiry; `never` for infinite leases.
fn expiry_text(epoch: u64) -> String {
    if epoch == 0 {
        return "never".into();
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    // RFC 3339 (`2026-11-23T18:00:00Z`) written the way virsh lists leases.
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_formatted_in_utc() {
        assert_eq!(expiry_text(0), "never");
        assert_eq!(expiry_text(1), "1970-01-01 00:00:01");
        // 2026-11-23 18:00:00 UTC
        assert_eq!(expiry_text(1_795_456_800), "2026-11-23 18:00:00");
        assert_eq!(expiry_text(951_782_400), "2000-02-29 00:00:00");
    }
}
