//! DHCP (and optional DNS) for a network, served by dnsmasq: the configuration
//! file and the static-host file hvnet writes for it. Pure: this module only
//! renders text; `hvnet_linux::dnsmasq` writes the files and runs the daemon.
//!
//! Two files per network, both in the network's state directory:
//!
//! * the **conf** ([`DhcpConfig::conf`]), fixed for the daemon's life
//!   (changing it means a restart);
//! * the **hostsfile** ([`DhcpConfig::hostsfile`]), always written even when
//!   empty, so that static hosts can be added or removed at run time by
//!   rewriting it and sending dnsmasq `SIGHUP` — never a restart.
//!
//! Both renderings are deterministic: the same config gives byte-identical
//! files, so "are the files current?" is a plain comparison.
//!
//! # The ping check (`no-ping`)
//!
//! Before offering a *dynamic* address it has never leased, dnsmasq pings it
//! and waits up to ~3 s for an answer (libvirt's guests wait those 3 s on
//! every first boot). The check protects against hosts that configured a pool
//! address by hand. hvnet disables it (`no-ping`) only when it is provably
//! redundant, i.e. when [`DhcpConfig::no_ping_safe`] holds: neither the
//! host's own address nor the router lies inside the dynamic pool. Every
//! other address a guest of an hvnet network is meant to have is a
//! reservation in the hostsfile (static hosts and guest NICs with an `ip`),
//! which dnsmasq never hands out dynamically. Combined with
//! `dhcp-authoritative` on a bridge that only hvnet's dnsmasq serves, every
//! pool address is then either free or leased by this very daemon (whose
//! leasefile it remembers). Otherwise the check is kept as a safety net.
//! Config validation rejects a host address inside the range, so in practice
//! hvnet always emits `no-ping`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::types::{Duration, IfName, Ipv4Range, MacAddr};

/// File name of the dnsmasq configuration inside a network's state directory.
pub const CONF_FILE: &str = "dnsmasq.conf";
/// File name of the static-host file (`dhcp-hostsfile`).
pub const HOSTS_FILE: &str = "hosts";
/// File name of the lease database (`dhcp-leasefile`).
pub const LEASE_FILE: &str = "leases";
/// File name of dnsmasq's pid file.
pub const PID_FILE: &str = "dnsmasq.pid";
/// File name of dnsmasq's log (its stdout and stderr).
pub const LOG_FILE: &str = "dnsmasq.log";

/// dnsmasq raises shorter lease times to this minimum; hvnet writes it
/// explicitly so that the file says what the daemon does.
pub const MIN_LEASE_SECS: u64 = 120;

/// A static DHCP reservation: `mac` always gets `ip` (and `name`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DhcpHost {
    /// The client's MAC address.
    pub mac: MacAddr,
    /// The address reserved for it.
    pub ip: Ipv4Addr,
    /// The host name handed out with it (a DNS name: letters, digits, `-`, `.`).
    pub name: Option<String>,
}

/// Where dnsmasq keeps its files (all referenced from the conf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpPaths {
    /// The static-host file (`dhcp-hostsfile`).
    pub hostsfile: PathBuf,
    /// The lease database (`dhcp-leasefile`).
    pub leasefile: PathBuf,
    /// dnsmasq's pid file (`pid-file`).
    pub pidfile: PathBuf,
}

impl DhcpPaths {
    /// The standard layout inside a network's state directory `dir`
    /// ([`HOSTS_FILE`], [`LEASE_FILE`], [`PID_FILE`]), the one
    /// `hvnet_linux::dnsmasq` expects.
    ///
    /// ```
    /// use hvnet_core::dhcp::DhcpPaths;
    /// let p = DhcpPaths::in_dir("/run/hvnet/net/default".as_ref());
    /// assert_eq!(p.pidfile.to_str(), Some("/run/hvnet/net/default/dnsmasq.pid"));
    /// ```
    pub fn in_dir(dir: &Path) -> Self {
        DhcpPaths {
            hostsfile: dir.join(HOSTS_FILE),
            leasefile: dir.join(LEASE_FILE),
            pidfile: dir.join(PID_FILE),
        }
    }
}

/// A problem that would make the rendered files wrong or unsafe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    /// A host or domain name that is not a DNS name (it could inject options
    /// into the hostsfile or the conf).
    #[error("invalid DHCP name {name:?}: only letters, digits, '-' and '.' are allowed, 1-253 bytes, labels of 1-63 bytes")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// Two static hosts share a MAC address.
    #[error("duplicate static DHCP MAC {mac}")]
    DuplicateMac {
        /// The MAC.
        mac: MacAddr,
    },
    /// Two static hosts share an IP address.
    #[error("duplicate static DHCP IP {ip}")]
    DuplicateIp {
        /// The address.
        ip: Ipv4Addr,
    },
    /// A path used in the conf contains a newline.
    #[error("path {path:?} contains a newline")]
    BadPath {
        /// The path, lossily.
        path: String,
    },
}

/// dnsmasq's DHCP (and optionally DNS) service for one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    /// The bridge dnsmasq binds to (and only it).
    pub interface: IfName,
    /// The host's address on that bridge.
    pub listen: Ipv4Addr,
    /// The dynamic pool; `None` serves static hosts only.
    pub range: Option<Ipv4Range>,
    /// The subnet mask handed out.
    pub netmask: Ipv4Addr,
    /// Lease time (at least [`MIN_LEASE_SECS`] is written); `None` is infinite.
    pub lease_time: Option<Duration>,
    /// The default router handed out; `None` (isolated networks) sends an
    /// empty router option, so clients install no default route.
    pub router: Option<Ipv4Addr>,
    /// Whether dnsmasq answers DNS on the listen address (`false`: `port=0`,
    /// and no DNS server option is sent).
    pub dns: bool,
    /// Whether dnsmasq serves DHCP. `false` is the DNS-only mode (`[network.dhcp]
    /// dns_only = true`): no `dhcp-range` and no lease file; the hosts (with a name)
    /// are DNS records read from the hostsfile as an `addn-hosts` file, which
    /// `SIGHUP` re-reads just like a `dhcp-hostsfile`.
    pub serve_dhcp: bool,
    /// Static reservations.
    pub hosts: Vec<DhcpHost>,
    /// The DNS domain of the network (`domain=`; also `local=/DOMAIN/` when
    /// `dns` is on).
    pub domain: Option<String>,
}

impl DhcpConfig {
    /// Checks what the renderers rely on: names are DNS names, static MACs
    /// and IPs are unique, paths have no newline.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`DhcpError`].
    pub fn validate(&self, paths: &DhcpPaths) -> Result<(), DhcpError> {
        for name in self
            .hosts
            .iter()
            .filter_map(|h| h.name.as_deref())
            .chain(self.domain.as_deref())
        {
            if !is_dns_name(name) {
                return Err(DhcpError::InvalidName {
                    name: name.to_owned(),
                });
            }
        }
        let mut macs: Vec<MacAddr> = self.hosts.iter().map(|h| h.mac).collect();
        macs.sort();
        if let Some(w) = macs.windows(2).find(|w| w[0] == w[1]) {
            return Err(DhcpError::DuplicateMac { mac: w[0] });
        }
        let mut ips: Vec<Ipv4Addr> = self.hosts.iter().map(|h| h.ip).collect();
        ips.sort();
        if let Some(w) = ips.windows(2).find(|w| w[0] == w[1]) {
            return Err(DhcpError::DuplicateIp { ip: w[0] });
        }
        for p in [&paths.hostsfile, &paths.leasefile, &paths.pidfile] {
            let s = p.to_string_lossy();
            if s.contains('\n') || s.contains('\r') {
                return Err(DhcpError::BadPath {
                    path: s.into_owned(),
                });
            }
        }
        Ok(())
    }

    /// Whether dnsmasq's ping check can be turned off: no address hvnet
    /// assigns itself (listen address, router, static hosts) is in the
    /// dynamic pool. See the module documentation.
    pub fn no_ping_safe(&self) -> bool {
        let Some(range) = self.range else {
            return true;
        };
        let fixed = std::iter::once(self.listen).chain(self.router);
        !fixed.into_iter().any(|ip| range.contains(ip))
    }

    /// Lease time as dnsmasq's `dhcp-range` takes it: whole seconds (at least
    /// [`MIN_LEASE_SECS`]) or `infinite`.
    pub fn lease_text(&self) -> String {
        match self.lease_time {
            Some(d) => d.as_secs().max(MIN_LEASE_SECS).to_string(),
            None => "infinite".to_string(),
        }
    }

    /// The dnsmasq configuration file, one option a line.
    ///
    /// It assumes [`validate`](Self::validate) passed. DNS, when on, answers
    /// only from the static hosts and leases (`no-resolv`, `no-hosts`: no
    /// upstream, never the host's `/etc/hosts`).
    pub fn conf(&self, paths: &DhcpPaths) -> String {
        let mut s = String::new();
        s.push_str("# Generated by hvnet; rewritten on apply, do not edit.\n");
        let mut line = |l: &str| {
            s.push_str(l);
            s.push('\n');
        };
        line("strict-order");
        line("no-resolv");
        line("no-hosts");
        if !self.dns {
            line("port=0");
        }
        if let Some(d) = &self.domain {
            line(&format!("domain={d}"));
            if self.dns {
                line(&format!("local=/{d}/"));
            }
            if !self.serve_dhcp {
                line("expand-hosts");
            }
        }
        line("except-interface=lo");
        line("bind-interfaces");
        line(&format!("interface={}", self.interface.as_str()));
        line(&format!("listen-address={}", self.listen));
        if !self.serve_dhcp {
            line(&format!("addn-hosts={}", paths.hostsfile.display()));
            line(&format!("pid-file={}", paths.pidfile.display()));
            return s;
        }
        line("dhcp-authoritative");
        line("dhcp-no-override");
        match self.range {
            Some(r) => line(&format!(
                "dhcp-range={},{},{},{}",
                r.start(),
                r.end(),
                self.netmask,
                self.lease_text()
            )),
            None => line(&format!(
                "dhcp-range={},static,{},{}",
                Ipv4Addr::from(u32::from(self.listen) & u32::from(self.netmask)),
                self.netmask,
                self.lease_text()
            )),
        }
        // Every address of the subnet could hold a lease. Not derived from the static
        // hosts, so that adding one leaves the conf (and the running daemon) untouched.
        let max = u64::from(!u32::from(self.netmask)).saturating_sub(1).max(1);
        line(&format!("dhcp-lease-max={max}"));
        match self.router {
            Some(r) => line(&format!("dhcp-option=3,{r}")),
            None => line("dhcp-option=3"),
        }
        if self.no_ping_safe() {
            line("no-ping");
        }
        line(&format!("dhcp-hostsfile={}", paths.hostsfile.display()));
        line(&format!("dhcp-leasefile={}", paths.leasefile.display()));
        line(&format!("pid-file={}", paths.pidfile.display()));
        s
    }

    /// The static-host file: one `MAC,IP[,NAME]` line per host, sorted by IP
    /// then MAC. Empty (but still to be written) without hosts.
    ///
    /// Without DHCP ([`serve_dhcp`](Self::serve_dhcp) `false`) it is a hosts(5) file
    /// instead: one `IP NAME` line per host that has a name.
    pub fn hostsfile(&self) -> String {
        let mut hosts: Vec<&DhcpHost> = self.hosts.iter().collect();
        hosts.sort_by_key(|h| (h.ip, h.mac));
        let mut s = String::new();
        if !self.serve_dhcp {
            for h in hosts {
                if let Some(n) = &h.name {
                    let _ = writeln!(s, "{} {n}", h.ip);
                }
            }
            return s;
        }
        for h in hosts {
            // Writing to a String cannot fail.
            let _ = write!(s, "{},{}", h.mac, h.ip);
            if let Some(n) = &h.name {
                let _ = write!(s, ",{n}");
            }
            s.push('\n');
        }
        s
    }
}

/// A DNS name: dot-separated labels of letters, digits and `-` (not at a
/// label's ends), 1–63 bytes each, 253 in all.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    fn mac(s: &str) -> MacAddr {
        s.parse().expect("mac")
    }

    fn nat() -> DhcpConfig {
        DhcpConfig {
            interface: IfName::new("virbr0").expect("ifname"),
            listen: ip("192.168.122.1"),
            range: Some("192.168.122.2-192.168.122.254".parse().expect("range")),
            netmask: ip("255.255.255.0"),
            lease_time: Some(Duration::from_secs(3600)),
            router: Some(ip("192.168.122.1")),
            dns: true,
            serve_dhcp: true,
            hosts: vec![],
            domain: None,
        }
    }

    #[test]
    fn dns_only_conf_has_no_dhcp() {
        let mut c = nat();
        c.serve_dhcp = false;
        c.domain = Some("lan".into());
        c.hosts.push(DhcpHost {
            mac: mac("52:54:00:00:00:05"),
            ip: ip("192.168.122.5"),
            name: Some("web".into()),
        });
        c.hosts.push(DhcpHost {
            mac: mac("52:54:00:00:00:06"),
            ip: ip("192.168.122.6"),
            name: None,
        });
        assert!(c.validate(&paths()).is_ok());
        assert_eq!(
            c.conf(&paths()),
            "# Generated by hvnet; rewritten on apply, do not edit.\n\
             strict-order\nno-resolv\nno-hosts\ndomain=lan\nlocal=/lan/\nexpand-hosts\n\
             except-interface=lo\nbind-interfaces\ninterface=virbr0\nlisten-address=192.168.122.1\n\
             addn-hosts=/run/hvnet/default/hosts\npid-file=/run/hvnet/default/dnsmasq.pid\n"
        );
        assert_eq!(c.hostsfile(), "192.168.122.5 web\n");
    }

    fn paths() -> DhcpPaths {
        DhcpPaths::in_dir(Path::new("/run/hvnet/default"))
    }

    #[test]
    fn dhcp_nat_conf_golden() {
        let mut c = nat();
        c.range = Some("192.168.122.100-192.168.122.199".parse().expect("range"));
        c.hosts.push(DhcpHost {
            mac: mac("52:54:00:00:00:01"),
            ip: ip("192.168.122.10"),
            name: Some("web".into()),
        });
        c.domain = Some("lab.example".into());
        assert_eq!(
            c.conf(&paths()),
            "# Generated by hvnet; rewritten on apply, do not edit.
strict-order
no-resolv
no-hosts
domain=lab.example
local=/lab.example/
except-interface=lo
bind-interfaces
interface=virbr0
listen-address=192.168.122.1
dhcp-authoritative
dhcp-no-override
dhcp-range=192.168.122.100,192.168.122.199,255.255.255.0,3600
dhcp-lease-max=254
dhcp-option=3,192.168.122.1
no-ping
dhcp-hostsfile=/run/hvnet/default/hosts
dhcp-leasefile=/run/hvnet/default/leases
pid-file=/run/hvnet/default/dnsmasq.pid
"
        );
        assert_eq!(c.validate(&paths()), Ok(()));
    }

    #[test]
    fn dhcp_isolated_conf_golden() {
        let mut c = nat();
        c.interface = IfName::new("hostonly0").expect("ifname");
        c.listen = ip("10.9.0.1");
        c.range = Some("10.9.0.50-10.9.0.59".parse().expect("range"));
        c.router = None;
        c.dns = false;
        c.lease_time = Some(Duration::from_secs(30)); // raised to dnsmasq's minimum
        assert_eq!(
            c.conf(&paths()),
            "# Generated by hvnet; rewritten on apply, do not edit.
strict-order
no-resolv
no-hosts
port=0
except-interface=lo
bind-interfaces
interface=hostonly0
listen-address=10.9.0.1
dhcp-authoritative
dhcp-no-override
dhcp-range=10.9.0.50,10.9.0.59,255.255.255.0,120
dhcp-lease-max=254
dhcp-option=3
no-ping
dhcp-hostsfile=/run/hvnet/default/hosts
dhcp-leasefile=/run/hvnet/default/leases
pid-file=/run/hvnet/default/dnsmasq.pid
"
        );
    }

    #[test]
    fn dhcp_ping_check_kept_when_pool_holds_a_fixed_address() {
        // The default libvirt-like pool .2-.254 does not hold .1 ...
        assert!(nat().no_ping_safe());
        // ... and a static host inside it is a reservation dnsmasq never hands out
        // dynamically, so the check stays off.
        let mut c = nat();
        c.hosts.push(DhcpHost {
            mac: mac("52:54:00:00:00:01"),
            ip: ip("192.168.122.50"),
            name: None,
        });
        assert!(c.no_ping_safe());
        // A listen address inside the pool keeps dnsmasq's ping check.
        let mut c = nat();
        c.listen = ip("192.168.122.2");
        assert!(!c.no_ping_safe());
        assert!(!c.conf(&paths()).contains("no-ping"));
        // Static hosts only: no pool, nothing to ping.
        let mut c = nat();
        c.range = None;
        c.lease_time = None;
        assert!(c.no_ping_safe());
        assert!(c
            .conf(&paths())
            .contains("dhcp-range=192.168.122.0,static,255.255.255.0,infinite\n"));
    }

    #[test]
    fn dhcp_hostsfile_sorted_and_deterministic() {
        let mut c = nat();
        c.hosts = vec![
            DhcpHost {
                mac: mac("02:00:00:00:00:12"),
                ip: ip("192.168.100.22"),
                name: Some("guest2".into()),
            },
            DhcpHost {
                mac: mac("02:00:00:00:00:11"),
                ip: ip("192.168.100.21"),
                name: None,
            },
            DhcpHost {
                mac: mac("02:00:00:00:00:0A"),
                ip: ip("192.168.100.100"),
                name: Some("big".into()),
            },
        ];
        let golden = "02:00:00:00:00:11,192.168.100.21
02:00:00:00:00:12,192.168.100.22,guest2
02:00:00:00:00:0a,192.168.100.100,big
";
        assert_eq!(c.hostsfile(), golden);
        c.hosts.reverse();
        assert_eq!(c.hostsfile(), golden);
        assert_eq!(nat().hostsfile(), "");
    }

    #[test]
    fn dhcp_validate_rejects_injection_and_duplicates() {
        let host = |m: &str, i: &str, n: Option<&str>| DhcpHost {
            mac: mac(m),
            ip: ip(i),
            name: n.map(str::to_owned),
        };
        let mut c = nat();
        c.hosts = vec![host("02:00:00:00:00:01", "10.0.0.1", Some("a,b\nport=53"))];
        assert!(matches!(
            c.validate(&paths()),
            Err(DhcpError::InvalidName { .. })
        ));
        c.hosts = vec![
            host("02:00:00:00:00:01", "10.0.0.1", None),
            host("02:00:00:00:00:01", "10.0.0.2", None),
        ];
        assert_eq!(
            c.validate(&paths()),
            Err(DhcpError::DuplicateMac {
                mac: mac("02:00:00:00:00:01")
            })
        );
        c.hosts = vec![
            host("02:00:00:00:00:01", "10.0.0.1", None),
            host("02:00:00:00:00:02", "10.0.0.1", None),
        ];
        assert_eq!(
            c.validate(&paths()),
            Err(DhcpError::DuplicateIp { ip: ip("10.0.0.1") })
        );
        let mut c = nat();
        c.domain = Some("-bad".into());
        assert!(c.validate(&paths()).is_err());
        c.domain = Some("ok.example".into());
        assert!(c
            .validate(&DhcpPaths::in_dir(Path::new("/tmp/a\nb")))
            .is_err());
    }
}
