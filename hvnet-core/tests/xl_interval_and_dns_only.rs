//! Issue 15 §5, config side: xl's interval rate form wherever a rate is accepted, and the
//! DNS-only dnsmasq (`[network.dhcp] dns_only = true`) from config to dnsmasq conf.

#![allow(clippy::unwrap_used)]

use hvnet_core::config::Config;
use hvnet_core::services::dhcp_config;

const NET: &str =
    "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br1\"\naddress = \"10.1.0.1/24\"\n";

fn parse(text: &str) -> Config {
    Config::parse(text, "t.toml").unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

fn error(text: &str) -> String {
    match Config::parse(text, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Regression (issue 15): seed 003's `rate=100Mb/s@20ms` was refused ("unknown unit").
#[test]
fn xl_interval_rate_on_nics_and_networks() {
    let text = format!(
        "{NET}rate = \"100Mb/s@20ms\"\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\n\
         rate = \"10Mb/s@50ms\"\n[[guest.nic]]\nnetwork = \"n\"\nrate = {{ egress = \"100Mb/s@20ms\", ingress = \"1gbit\", burst = \"64kb\" }}\n"
    );
    let c = parse(&text);
    // Network: 250000 bytes every 20 ms = 100 Mbit/s, bucket 250000 bytes.
    let r = c.networks[0].rate.egress.unwrap();
    assert_eq!(
        (r.rate().bits_per_sec(), r.burst().map(|b| b.bytes())),
        (100_000_000, Some(250_000))
    );
    assert_eq!(c.networks[0].rate.ingress, c.networks[0].rate.egress);
    // NIC: 62500 bytes per 50 ms; netback's bucket floor of 128 KiB.
    let n0 = c.guests[0].nics[0].rate.egress.unwrap();
    assert_eq!(
        (n0.rate().bits_per_sec(), n0.burst().map(|b| b.bytes())),
        (10_000_000, Some(131_072))
    );
    // In a table the interval's bucket is the direction's own; `burst` applies to the other.
    let n1 = &c.guests[0].nics[1].rate;
    assert_eq!(n1.egress.unwrap().burst().map(|b| b.bytes()), Some(250_000));
    assert_eq!(n1.ingress.unwrap().burst().map(|b| b.bytes()), Some(65_536));
    // Refused with the position: an interval with a burst, and what xl refuses.
    let e = error(&format!("{NET}rate = \"100Mb/s@20ms burst 64kb\"\n"));
    assert!(
        e.contains("t.toml:6:8") && e.contains("interval sets the bucket"),
        "{e}"
    );
    let e = error(&format!("{NET}rate = \"100b/s@20ms\"\n"));
    assert!(
        e.contains("t.toml:6:8") && e.contains("would block the guest"),
        "{e}"
    );
}

#[test]
fn dns_only_resolves_to_a_dhcp_less_dnsmasq() {
    let text = format!(
        "{NET}[network.dhcp]\ndns_only = true\ndomain = \"lan\"\n\
         [[guest]]\nname = \"web\"\n[[guest.nic]]\nnetwork = \"n\"\nip = \"10.1.0.11\"\n"
    );
    let c = parse(&text);
    let d = c.networks[0].dhcp.as_ref().unwrap();
    assert!(d.dns_only && d.dns);
    let svc = dhcp_config(&c, &c.networks[0]).unwrap();
    assert!(!svc.serve_dhcp);
    let conf = svc.conf(&hvnet_core::dhcp::DhcpPaths::in_dir("/run/x".as_ref()));
    assert!(
        !conf.contains("dhcp-range") && !conf.contains("dhcp-leasefile"),
        "{conf}"
    );
    assert!(
        conf.contains("addn-hosts=/run/x/hosts\n") && conf.contains("expand-hosts\n"),
        "{conf}"
    );
    assert_eq!(svc.hostsfile(), "10.1.0.11 web\n");
}

#[test]
fn dns_only_refuses_what_only_dhcp_uses() {
    for (extra, field) in [
        (
            "range = \"10.1.0.100-10.1.0.200\"\n",
            "network[0].dhcp.range",
        ),
        ("lease_time = \"1h\"\n", "network[0].dhcp.lease_time"),
        ("dns = false\n", "network[0].dhcp.dns"),
        (
            "[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.1.0.5\"\n",
            "network[0].dhcp.host",
        ),
    ] {
        let e = error(&format!("{NET}[network.dhcp]\ndns_only = true\n{extra}"));
        assert!(
            e.contains("t.toml:8:") || e.contains("t.toml:9:") || e.contains("t.toml:10:"),
            "{e}"
        );
        assert!(e.contains(field), "{extra}: {e}");
    }
    // Not on a network without a host address.
    let e = error("[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br1\"\n[network.dhcp]\ndns_only = true\n");
    assert!(e.contains("network[0].dhcp"), "{e}");
}
