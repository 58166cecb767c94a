//! `usr_guest_config.sh` (seed 000's KVM hypervisor guest-network settings) → hvnet TOML.
//!
//! The file is a shell script of settings. It is read as **data** and never executed: a
//! line is either blank, a comment, `export NAME`, or a plain assignment `NAME=VALUE` /
//! `NAME[i]=VALUE` (optionally after `export`, with `'…'`/`"…"` quoting, `\` escapes and a
//! trailing `# comment`). Anything else — `if`, `for`, `$(…)`, `` `…` ``, `$VAR`, `;`,
//! several words — is shell code: it is skipped with a [`Warning`] naming the line.
//! Unknown variables are ignored; the last assignment of a variable wins (as in the shell).
//! A known variable with a malformed value is an [`ImportError`] with its line.
//!
//! | settings | network | bridge | kind, lifetime |
//! |---|---|---|---|
//! | `external_nw=1`, `netif_mode`, `netif_m`, `defaultgw_m`, `dns_m`, `brip_m`, `brnm_m` | `external` | `vmbridge` | bridge (uplink `netif_m`), dynamic |
//! | `phys_nw=1`, `physnw_dev[i]`, `physnw_ip[i]`, `physnw_repmac[i]` | `phys-DEVICE` | `br-DEVICE` | bridge (uplink DEVICE), static |
//! | `rtosvnet_nw=1`, `rtosvnet_br_ip` (default 192.168.157.1) | `rtosvnet` | `br-rtosvnet` | isolated, static, `rtosvnet_br_ip/24` |
//! | `vnet_nw=1` | `vnet` | `vmvnetbridge` | isolated, dynamic, 192.168.157.1/24 |
//! | `guest_nw=1`, `guest_br_ip` (`no` or `IP/LEN`) | `guest` | `br-guest` | internal, or isolated with the address; static |
//!
//! `netif_mode` becomes `host_ip`: 0 (manual) is `"static"` with `address =
//! brip_m/brnm_m` and `gateway = defaultgw_m`; 1 (automatic) is `"dhcp"`; 2 is `"none"`.
//! `physnw_repmac[i]=1` (MAC replication) becomes `replicate_mac = true` on `br-DEVICE`;
//! the guest NIC's `mac` (the physical NIC's) is set when the guest is defined, as a
//! comment says. What the config contract cannot say is a TOML comment: `dns_m`.
//!
//! Addresses must not overlap (hvnet's validator refuses it). The seed gives both
//! `br-rtosvnet` and `vmvnetbridge` 192.168.157.1/24 (and tells the admin to use only one of
//! them at a time); when an address overlaps one emitted earlier, the later network is
//! emitted without it, with a comment and a warning, so the output always validates.
//!
//! ```
//! use hvnet_kvm::import::usr_guest_config::import;
//! let sh = "# usr_guest_config.sh\nexport external_nw=1\nnetif_mode=1\nnetif_m=eth0\n\
//!           rtosvnet_nw=1\nrtosvnet_br_ip=\"192.168.157.1\"\n";
//! let out = import(sh, "usr_guest_config.sh").unwrap();
//! assert!(out.warnings.is_empty());
//! assert!(out.toml.contains("bridge = \"vmbridge\"\nlifetime = \"dynamic\"\nuplink = \"eth0\""));
//! assert!(out.toml.contains("address = \"192.168.157.1/24\""));
//! hvnet_core::config::Config::parse(&out.toml, "out.toml").unwrap();
//!
//! let err = import("netif_mode=7\n", "x.sh").unwrap_err();
//! assert_eq!(err[0].in_file("x.sh"), "x.sh:1: netif_mode: expected 0 (manual), 1 (automatic) or 2 (no host IP), got \"7\"");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use hvnet_core::types::{IfName, Ipv4Cidr};

/// The fixed host address of seed 000's dynamic virtual network bridge `vmvnetbridge`.
pub const VNET_ADDRESS: &str = "192.168.157.1/24";
/// The default of `rtosvnet_br_ip`.
pub const RTOSVNET_DEFAULT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 157, 1);

/// A malformed known variable (or a missing one a section needs): the import fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line of the assignment (or of the setting that needs the missing variable).
    pub line: usize,
    /// The variable, e.g. `netif_mode` or `physnw_dev[1]`.
    pub variable: String,
    /// What is wrong.
    pub message: String,
}

impl ImportError {
    /// `FILE:LINE: VARIABLE: MESSAGE`.
    pub fn in_file(&self, file: &str) -> String {
        format!("{file}:{}: {}: {}", self.line, self.variable, self.message)
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.variable, self.message)
    }
}

impl std::error::Error for ImportError {}

/// Something skipped or assumed; the import goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line it is about; 0 when it is about the output as a whole.
    pub line: usize,
    /// What was skipped or assumed.
    pub message: String,
}

impl Warning {
    /// `FILE:LINE: warning: MESSAGE` (`FILE: warning: MESSAGE` for line 0).
    pub fn in_file(&self, file: &str) -> String {
        match self.line {
            0 => format!("{file}: warning: {}", self.message),
            l => format!("{file}:{l}: warning: {}", self.message),
        }
    }
}

/// `netif_mode`: how the host's address on `vmbridge` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetifMode {
    /// 0: manual (`brip_m`/`brnm_m`, `defaultgw_m`, `dns_m`).
    Manual,
    /// 1: automatic (DHCP), the seed's default.
    Automatic,
    /// 2: no IP for the host on the external network.
    NoHostIp,
}

/// The automatic external network (`external_nw=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// `netif_mode`.
    pub mode: NetifMode,
    /// `netif_m`: the physical NIC bridged into `vmbridge`.
    pub netif: IfName,
    /// `brip_m`/`brnm_m` (manual mode).
    pub address: Option<Ipv4Cidr>,
    /// `defaultgw_m` (manual mode).
    pub gateway: Option<Ipv4Addr>,
    /// `dns_m` (manual mode).
    pub dns: Vec<Ipv4Addr>,
}

/// One statically bridged physical NIC (`physnw_dev[i]` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysNic {
    /// The array index `i`.
    pub index: u32,
    /// `physnw_dev[i]`.
    pub dev: IfName,
    /// `physnw_ip[i]` (`no` = none).
    pub address: Option<Ipv4Cidr>,
    /// `physnw_repmac[i]=1`: the guest NIC takes the physical NIC's MAC.
    pub replicate_mac: bool,
}

/// The settings of a `usr_guest_config.sh`, only the enabled sections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// `external_nw=1`.
    pub external: Option<External>,
    /// `phys_nw=1`: the NICs, by index.
    pub phys: Vec<PhysNic>,
    /// `rtosvnet_nw=1`: the address of `br-rtosvnet`.
    pub rtosvnet: Option<Ipv4Cidr>,
    /// `vnet_nw=1`.
    pub vnet: bool,
    /// `guest_nw=1`: `Some(None)` without host address (`guest_br_ip=no`).
    pub guest: Option<Option<Ipv4Cidr>>,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// What was read.
    pub settings: Settings,
    /// The hvnet config (networks only; guests are added per guest).
    pub toml: String,
    /// Skipped lines and assumptions.
    pub warnings: Vec<Warning>,
}

/// Reads `text` (the contents of `source`, named in the output's header) and emits the TOML.
///
/// # Errors
///
/// Every malformed known variable, each with its line.
pub fn import(text: &str, source: &str) -> Result<Imported, Vec<ImportError>> {
    let (settings, mut warnings) = parse(text)?;
    let toml = to_toml(&settings, source, &mut warnings);
    Ok(Imported {
        settings,
        toml,
        warnings,
    })
}

/// One plain assignment.
#[derive(Debug, Clone)]
struct Assign {
    line: usize,
    value: String,
}

/// `(name, index)` → the last assignment. Array variables assigned without index use 0.
type Vars = BTreeMap<(String, Option<u32>), Assign>;

const FLAGS: [&str; 5] = [
    "external_nw",
    "phys_nw",
    "rtosvnet_nw",
    "vnet_nw",
    "guest_nw",
];
const SCALARS: [&str; 13] = [
    "external_nw",
    "phys_nw",
    "rtosvnet_nw",
    "vnet_nw",
    "guest_nw",
    "netif_mode",
    "netif_m",
    "defaultgw_m",
    "dns_m",
    "brip_m",
    "brnm_m",
    "rtosvnet_br_ip",
    "guest_br_ip",
];
const ARRAYS: [&str; 3] = ["physnw_dev", "physnw_ip", "physnw_repmac"];

/// Parses the settings.
///
/// # Errors
///
/// Every malformed known variable, each with its line.
pub fn parse(text: &str) -> Result<(Settings, Vec<Warning>), Vec<ImportError>> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut vars = Vars::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((name, index, value))) => {
                let known_scalar = SCALARS.contains(&name.as_str());
                let index = if ARRAYS.contains(&name.as_str()) {
                    Some(index.unwrap_or(0))
                } else if known_scalar && index.is_some() {
                    errors.push(ImportError {
                        line,
                        variable: name,
                        message: "is a plain setting, not an array".into(),
                    });
                    continue;
                } else {
                    index
                };
                vars.insert((name, index), Assign { line, value });
            }
            Err(why) => warnings.push(Warning {
                line,
                message: format!(
                    "skipped (shell code is never executed): {why}: {}",
                    raw.trim()
                ),
            }),
        }
    }
    let mut p = Parser {
        vars: &vars,
        errors: &mut errors,
        warnings: &mut warnings,
    };
    let settings = p.settings();
    if errors.is_empty() {
        Ok((settings, warnings))
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// `Ok(None)`: nothing to take (blank, comment, `export NAME`); `Err`: shell code.
fn parse_line(raw: &str) -> Result<Option<(String, Option<u32>, String)>, String> {
    let s = raw.trim();
    if s.is_empty() || s.starts_with('#') {
        return Ok(None);
    }
    let (s, exported) = match s.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => (rest.trim_start(), true),
        _ => (s, false),
    };
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("not a NAME=VALUE assignment".into());
    }
    let mut rest = &s[name_end..];
    let mut index = None;
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']').ok_or("unterminated array index")?;
        let idx = &r[..close];
        if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("array index {idx:?} is not a number"));
        }
        index = Some(idx.parse::<u32>().map_err(|_| "array index too large")?);
        rest = &r[close + 1..];
    }
    if exported && index.is_none() && (rest.is_empty() || rest.starts_with('#')) {
        return Ok(None);
    }
    let value = rest
        .strip_prefix('=')
        .ok_or("not a NAME=VALUE assignment")?;
    if value.starts_with('(') {
        return Err("array literal".into());
    }
    Ok(Some((name.to_owned(), index, shell_word(value)?)))
}

/// One shell word without expansions, then nothing but blanks and a comment.
fn shell_word(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                let tail = s[at..].trim_start();
                if tail.is_empty() || tail.starts_with('#') {
                    break;
                }
                return Err(
                    "more than one word after '=' (a command or several assignments)".into(),
                );
            }
            '\'' => loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, c)) => out.push(c),
                    None => return Err("unterminated quote".into()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c @ ('$' | '`' | '"' | '\\'))) => out.push(c),
                        Some((_, c)) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("unterminated quote".into()),
                    },
                    Some((_, '$' | '`')) => return Err("expansion ($ or `) in the value".into()),
                    Some((_, c)) => out.push(c),
                    None => return Err("unterminated quote".into()),
                }
            },
            '\\' => match chars.next() {
                Some((_, c)) => out.push(c),
                None => return Err("line continuation".into()),
            },
            '$' | '`' => return Err("expansion ($ or `) in the value".into()),
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                return Err(format!("shell operator {c:?}"));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    vars: &'a Vars,
    errors: &'a mut Vec<ImportError>,
    warnings: &'a mut Vec<Warning>,
}

impl Parser<'_> {
    fn get(&self, name: &str, index: Option<u32>) -> Option<&Assign> {
        self.vars.get(&(name.to_owned(), index))
    }

    fn err(&mut self, line: usize, variable: String, message: String) {
        self.errors.push(ImportError {
            line,
            variable,
            message,
        });
    }

    /// Parses a present variable with `f`; records the error and returns `None` if malformed.
    fn typed<T>(
        &mut self,
        name: &str,
        index: Option<u32>,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<(T, usize)> {
        let a = self.get(name, index)?.clone();
        match f(&a.value) {
            Ok(v) => Some((v, a.line)),
            Err(m) => {
                self.err(a.line, var_name(name, index), m);
                None
            }
        }
    }

    fn settings(&mut self) -> Settings {
        // Type-check every known variable, enabled or not: a malformed setting is an error
        // even in a disabled section (it would be one as soon as the section is enabled).
        let mut flags = BTreeMap::new();
        for f in FLAGS {
            if let Some((v, line)) = self.typed(f, None, flag) {
                flags.insert(f, (v, line));
            }
        }
        let on = |f: &str| flags.get(f).filter(|(v, _)| *v).map(|(_, l)| *l);
        let mode = self.typed("netif_mode", None, netif_mode);
        let netif = self.typed("netif_m", None, ifname);
        let gateway = self.typed("defaultgw_m", None, ipv4);
        let dns = self.typed("dns_m", None, dns_list);
        let brip = self.typed("brip_m", None, ipv4);
        let brnm = self.typed("brnm_m", None, netmask);
        let rtos_ip = self.typed("rtosvnet_br_ip", None, |v| cidr(v, Some(24)));
        let guest_ip = self.typed("guest_br_ip", None, |v| {
            if v.eq_ignore_ascii_case("no") {
                Ok(None)
            } else {
                cidr(v, None).map(Some)
            }
        });
        let phys = self.phys(on("phys_nw"));
        let external = on("external_nw").and_then(|line| {
            let (mode, _) = mode.unwrap_or((NetifMode::Automatic, line));
            let Some((netif, _)) = netif else {
                if self.get("netif_m", None).is_none() {
                    self.err(
                        line,
                        "netif_m".into(),
                        "external_nw=1 needs netif_m, the physical NIC to bridge".into(),
                    );
                }
                return None;
            };
            let mut address = None;
            if mode == NetifMode::Manual {
                match (brip, brnm) {
                    (Some((ip, l)), Some((len, _))) => match host_cidr(ip, len) {
                        Ok(c) => address = Some(c),
                        Err(m) => self.err(l, "brip_m".into(), m),
                    },
                    (None, _) if self.get("brip_m", None).is_none() => self.err(
                        line,
                        "brip_m".into(),
                        "netif_mode=0 (manual) needs brip_m and brnm_m".into(),
                    ),
                    (_, None) if self.get("brnm_m", None).is_none() => self.err(
                        line,
                        "brnm_m".into(),
                        "netif_mode=0 (manual) needs brip_m and brnm_m".into(),
                    ),
                    _ => {}
                }
            }
            let manual = mode == NetifMode::Manual;
            Some(External {
                mode,
                netif,
                address,
                gateway: gateway.filter(|_| manual).map(|(g, _)| g),
                dns: dns.filter(|_| manual).map(|(d, _)| d).unwrap_or_default(),
            })
        });
        if let (Some(e), true) = (&external, self.errors.is_empty()) {
            for p in &phys {
                if p.dev == e.netif {
                    let line = self.get("physnw_dev", Some(p.index)).map_or(0, |a| a.line);
                    self.err(
                        line,
                        var_name("physnw_dev", Some(p.index)),
                        format!(
                            "{} is also netif_m (vmbridge's uplink); a NIC can be in one bridge only",
                            p.dev
                        ),
                    );
                }
            }
        }
        let rtosvnet = on("rtosvnet_nw").and_then(|_| match rtos_ip {
            Some((c, _)) => Some(c),
            None if self.get("rtosvnet_br_ip", None).is_some() => None,
            None => Ipv4Cidr::new(RTOSVNET_DEFAULT_IP, 24).ok(),
        });
        let guest = on("guest_nw").map(|_| guest_ip.and_then(|(g, _)| g));
        Settings {
            external,
            phys,
            rtosvnet,
            vnet: on("vnet_nw").is_some(),
            guest,
        }
    }

    fn phys(&mut self, enabled: Option<usize>) -> Vec<PhysNic> {
        let mut indexes: Vec<u32> = self
            .vars
            .keys()
            .filter(|(n, _)| ARRAYS.contains(&n.as_str()))
            .filter_map(|(_, i)| *i)
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut out: Vec<PhysNic> = Vec::new();
        for i in indexes {
            let dev = self.typed("physnw_dev", Some(i), |v| {
                let d = ifname(v)?;
                IfName::new(&format!("br-{d}")).map_err(|e| {
                    format!("its bridge br-{d} would be an invalid interface name: {e}")
                })?;
                Ok(d)
            });
            let ip = self.typed("physnw_ip", Some(i), |v| {
                if v.eq_ignore_ascii_case("no") {
                    Ok(None)
                } else {
                    cidr(v, Some(24)).map(Some)
                }
            });
            let repmac = self.typed("physnw_repmac", Some(i), flag);
            let Some(phys_line) = enabled else { continue };
            let Some((dev, dev_line)) = dev else {
                if self.get("physnw_dev", Some(i)).is_none() {
                    let line = ["physnw_ip", "physnw_repmac"]
                        .iter()
                        .find_map(|n| self.get(n, Some(i)))
                        .map_or(phys_line, |a| a.line);
                    self.err(
                        line,
                        var_name("physnw_dev", Some(i)),
                        format!(
                            "physnw_ip[{i}]/physnw_repmac[{i}] are set but physnw_dev[{i}] is not"
                        ),
                    );
                }
                continue;
            };
            for (name, present) in [
                ("physnw_ip", ip.is_some()),
                ("physnw_repmac", repmac.is_some()),
            ] {
                if !present && self.get(name, Some(i)).is_none() {
                    self.warnings.push(Warning {
                        line: dev_line,
                        message: format!(
                            "{} is not set; assuming {}",
                            var_name(name, Some(i)),
                            if name == "physnw_ip" { "no" } else { "0" }
                        ),
                    });
                }
            }
            if let Some(first) = out.iter().find(|p| p.dev == dev) {
                let msg = format!(
                    "{dev} is already physnw_dev[{}]; a NIC can be in one bridge only",
                    first.index
                );
                self.err(dev_line, var_name("physnw_dev", Some(i)), msg);
                continue;
            }
            out.push(PhysNic {
                index: i,
                dev,
                address: ip.and_then(|(a, _)| a),
                replicate_mac: repmac.is_some_and(|(r, _)| r),
            });
        }
        out
    }
}

fn var_name(name: &str, index: Option<u32>) -> String {
    match index {
        Some(i) => format!("{name}[{i}]"),
        None => name.to_owned(),
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("expected 0 or 1, got {v:?}")),
    }
}

fn netif_mode(v: &str) -> Result<NetifMode, String> {
    match v {
        "0" => Ok(NetifMode::Manual),
        "1" => Ok(NetifMode::Automatic),
        "2" => Ok(NetifMode::NoHostIp),
        _ => Err(format!(
            "expected 0 (manual), 1 (automatic) or 2 (no host IP), got {v:?}"
        )),
    }
}

fn ifname(v: &str) -> Result<IfName, String> {
    IfName::new(v).map_err(|e| e.to_string())
}

fn ipv4(v: &str) -> Result<Ipv4Addr, String> {
    v.parse()
        .map_err(|_| format!("{v:?} is not an IPv4 address"))
}

fn dns_list(v: &str) -> Result<Vec<Ipv4Addr>, String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(ipv4)
        .collect()
}

/// A prefix length (`24`) or a dotted netmask (`255.255.255.0`).
fn netmask(v: &str) -> Result<u8, String> {
    if let Ok(n) = v.parse::<u8>() {
        if n <= 32 {
            return Ok(n);
        }
    }
    let m =
        u32::from(v.parse::<Ipv4Addr>().map_err(|_| {
            format!("{v:?} is neither a netmask (255.255.255.0) nor a prefix length")
        })?);
    if m.leading_ones() + m.trailing_zeros() != 32 {
        return Err(format!("{v} is not a contiguous netmask"));
    }
    u8::try_from(m.leading_ones()).map_err(|e| e.to_string())
}

/// `IP/LEN`, `IP/NETMASK`, or (with a default) a bare `IP`; must be a host address.
fn cidr(v: &str, default_len: Option<u8>) -> Result<Ipv4Cidr, String> {
    let (ip, len) = match v.split_once('/') {
        Some((ip, len)) => (ip, netmask(len)?),
        None => match default_len {
            Some(l) => (v, l),
            None => {
                return Err(format!(
                    "expected `no` or an address with prefix length (IP/LEN), got {v:?}"
                ))
            }
        },
    };
    host_cidr(ipv4(ip)?, len)
}

fn host_cidr(ip: Ipv4Addr, len: u8) -> Result<Ipv4Cidr, String> {
    let c = Ipv4Cidr::new(ip, len).map_err(|e| e.to_string())?;
    if len < 31 && (c.is_network_address() || c.is_broadcast_address()) {
        return Err(format!("{c} is not a host address of its subnet"));
    }
    Ok(c)
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// A network name from a device name (`[A-Za-z0-9._-]`, as the validator wants).
fn net_name(prefix: &str, dev: &str) -> String {
    let d: String = dev
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}{d}")
}

struct Net<'a> {
    comments: Vec<String>,
    name: String,
    kind: &'a str,
    bridge: String,
    lifetime: &'a str,
    uplink: Option<String>,
    address: Option<Ipv4Cidr>,
    host_ip: Option<&'a str>,
    gateway: Option<Ipv4Addr>,
    replicate_mac: bool,
}

/// Emits the TOML for `s`; overlapping addresses are dropped from the later network (with
/// a comment and a warning).
pub fn to_toml(s: &Settings, source: &str, warnings: &mut Vec<Warning>) -> String {
    let mut nets: Vec<Net<'_>> = Vec::new();
    if let Some(e) = &s.external {
        let mut c = vec![
            "external_nw=1: the automatic external connection, shared by all guests and the host;".into(),
            format!("vmbridge is created with the first guest on it and removed after the last (uplink netif_m={}).", e.netif),
        ];
        let (host_ip, address, gateway) = match e.mode {
            NetifMode::Automatic => {
                c.push("netif_mode=1 (automatic): the host's address and routes move from the uplink onto vmbridge,".into());
                c.push("where hvnet runs the host's DHCP client (the bridge keeps the uplink's MAC, hence the lease).".into());
                (Some("dhcp"), None, None)
            }
            NetifMode::NoHostIp => {
                c.push("netif_mode=2: the host has no IP on this network.".into());
                (Some("none"), None, None)
            }
            NetifMode::Manual => {
                c.push("netif_mode=0 (manual): the uplink's addresses and routes move onto vmbridge, which gets".into());
                c.push("brip_m/brnm_m and the default route via defaultgw_m.".into());
                if !e.dns.is_empty() {
                    let d: Vec<String> = e.dns.iter().map(ToString::to_string).collect();
                    c.push(format!(
                        "DNS {} (dns_m) stays the host resolver's business.",
                        d.join(", ")
                    ));
                }
                (Some("static"), e.address, e.gateway)
            }
        };
        nets.push(Net {
            comments: c,
            name: "external".into(),
            kind: "bridge",
            bridge: "vmbridge".into(),
            lifetime: "dynamic",
            uplink: Some(e.netif.to_string()),
            address,
            host_ip,
            gateway,
            replicate_mac: false,
        });
    }
    for p in &s.phys {
        let i = p.index;
        let mut c = vec![format!(
            "phys_nw=1, physnw_dev[{i}]={}: physical NIC statically bridged, typically for one guest.",
            p.dev
        )];
        if p.replicate_mac {
            c.push(format!("physnw_repmac[{i}]=1: MAC replication — the one guest NIC on this network takes {}'s MAC", p.dev));
            c.push(format!(
                "(set that [[guest.nic]]'s `mac` to `cat /sys/class/net/{}/address`); {} wears a stand-in while bridged.",
                p.dev, p.dev
            ));
        } else {
            c.push(format!("physnw_repmac[{i}]=0: the guest NIC keeps its own MAC (seed 000: ethmacPHYS[{i}])."));
        }
        nets.push(Net {
            comments: c,
            name: net_name("phys-", &p.dev),
            kind: "bridge",
            bridge: format!("br-{}", p.dev),
            lifetime: "static",
            uplink: Some(p.dev.to_string()),
            address: p.address,
            host_ip: None,
            gateway: None,
            replicate_mac: p.replicate_mac,
        });
    }
    if let Some(a) = s.rtosvnet {
        nets.push(Net {
            comments: vec![
                "rtosvnet_nw=1: the virtual network to RTOS guests, statically bridged (rtosvnet_br_ip).".into(),
            ],
            name: "rtosvnet".into(),
            kind: "isolated",
            bridge: "br-rtosvnet".into(),
            lifetime: "static",
            uplink: None,
            address: Some(a),
            host_ip: None,
            gateway: None,
            replicate_mac: false,
        });
    }
    if s.vnet {
        nets.push(Net {
            comments: vec![
                "vnet_nw=1: the virtual network, dynamically bridged (host address fixed by the seed).".into(),
            ],
            name: "vnet".into(),
            kind: "isolated",
            bridge: "vmvnetbridge".into(),
            lifetime: "dynamic",
            uplink: None,
            address: VNET_ADDRESS.parse().ok(),
            host_ip: None,
            gateway: None,
            replicate_mac: false,
        });
    }
    if let Some(g) = s.guest {
        let (kind, comment) = match g {
            None => (
                "internal",
                "guest_nw=1, guest_br_ip=no: guest-internal network, the host is not on it.",
            ),
            Some(_) => (
                "isolated",
                "guest_nw=1: guest-internal network, the host is on it (guest_br_ip).",
            ),
        };
        nets.push(Net {
            comments: vec![comment.into()],
            name: "guest".into(),
            kind,
            bridge: "br-guest".into(),
            lifetime: "static",
            uplink: None,
            address: g,
            host_ip: None,
            gateway: None,
            replicate_mac: false,
        });
    }
    // Overlapping addresses: the later network loses its address.
    for j in 0..nets.len() {
        let Some(y) = nets[j].address else { continue };
        let clash = nets[..j]
            .iter()
            .find(|n| n.address.is_some_and(|x| x.overlaps(&y)))
            .map(|n| (n.name.clone(), n.bridge.clone()));
        if let Some((other, other_br)) = clash {
            let n = &mut nets[j];
            n.address = None;
            n.comments.push(format!(
                "Without its address {y}: it overlaps network {other:?} ({other_br}), which hvnet refuses."
            ));
            n.comments.push(format!(
                "Seed 000 uses one of the two at a time (hv_brdelall before switching); drop {other:?} and add"
            ));
            n.comments
                .push(format!("`address = \"{y}\"` here to use this one."));
            warnings.push(Warning {
                line: 0,
                message: format!(
                    "network {:?} ({}) is emitted without address {y}: it overlaps network {other:?}",
                    n.name, n.bridge
                ),
            });
        }
    }
    let mut out = format!(
        "# hvnet config imported from {} by `hvnet import usr-guest-config`.\n\
         # Networks only: add each guest as [[guest]] with one [[guest.nic]] per network it uses.\n",
        source.replace(['\n', '\r'], " ")
    );
    if nets.is_empty() {
        out.push_str(
            "# No network is enabled (external_nw, phys_nw, rtosvnet_nw, vnet_nw, guest_nw).\n",
        );
    }
    for n in &nets {
        out.push('\n');
        for c in &n.comments {
            let _ = writeln!(out, "# {c}");
        }
        let _ = writeln!(out, "[[network]]");
        let _ = writeln!(out, "name = {}", quote(&n.name));
        let _ = writeln!(out, "kind = {}", quote(n.kind));
        let _ = writeln!(out, "bridge = {}", quote(&n.bridge));
        let _ = writeln!(out, "lifetime = {}", quote(n.lifetime));
        if let Some(u) = &n.uplink {
            let _ = writeln!(out, "uplink = {}", quote(u));
        }
        if let Some(h) = n.host_ip {
            let _ = writeln!(out, "host_ip = {}", quote(h));
        }
        if let Some(a) = n.address {
            let _ = writeln!(out, "address = {}", quote(&a.to_string()));
        }
        if let Some(g) = n.gateway {
            let _ = writeln!(out, "gateway = {}", quote(&g.to_string()));
        }
        if n.replicate_mac {
            out.push_str("replicate_mac = true\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hvnet_core::config::{Config, HostIp, Lifetime, NetworkKind};

    fn ok(sh: &str) -> Imported {
        let out = import(sh, "t.sh").unwrap_or_else(|e| panic!("{e:?}\n{sh}"));
        Config::parse(&out.toml, "out.toml").unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
        out
    }

    fn errs(sh: &str) -> Vec<String> {
        import(sh, "t.sh")
            .unwrap_err()
            .iter()
            .map(|e| e.in_file("t.sh"))
            .collect()
    }

    /// (name, kind, bridge, lifetime, uplink, address)
    type Want = (
        String,
        NetworkKind,
        &'static str,
        Lifetime,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn every_combination() {
        let guest_ips = [("no", None), ("192.168.100.1/24", Some("192.168.100.1/24"))];
        for mask in 0u32..32 {
            let on = |bit: u32| u32::from(mask & (1 << bit) != 0);
            for mode in 0..3 {
                for repmac in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    for (gip, gaddr) in guest_ips {
                        let sh = format!(
                            "external_nw={}\nnetif_mode={mode}\nnetif_m=eth0\ndefaultgw_m=10.0.0.1\n\
                             dns_m=\"10.0.0.1 10.0.0.2\"\nbrip_m=10.0.0.5\nbrnm_m=255.255.255.0\n\
                             phys_nw={}\nphysnw_dev[0]=enp1s0\nphysnw_ip[0]=no\nphysnw_repmac[0]={}\n\
                             physnw_dev[1]=enp2s0\nphysnw_ip[1]=10.1.0.1/16\nphysnw_repmac[1]={}\n\
                             rtosvnet_nw={}\nrtosvnet_br_ip=192.168.157.1\nvnet_nw={}\n\
                             guest_nw={}\nguest_br_ip={gip}\n",
                            on(0),
                            on(1),
                            repmac.0,
                            repmac.1,
                            on(2),
                            on(3),
                            on(4)
                        );
                        let out = ok(&sh);
                        let cfg = Config::parse(&out.toml, "out.toml").unwrap();
                        let mut want: Vec<Want> = Vec::new();
                        if on(0) == 1 {
                            want.push((
                                "external".into(),
                                NetworkKind::Bridge,
                                "vmbridge",
                                Lifetime::Dynamic,
                                Some("eth0"),
                                (mode == 0).then_some("10.0.0.5/24"),
                            ));
                            let mode_text = ["netif_mode=0", "netif_mode=1", "netif_mode=2"][mode];
                            assert!(out.toml.contains(mode_text), "{}", out.toml);
                            let host_ip = cfg.network("external").unwrap().host_ip;
                            assert_eq!(
                                host_ip,
                                Some([HostIp::Static, HostIp::Dhcp, HostIp::None][mode])
                            );
                            assert_eq!(
                                cfg.network("external").unwrap().gateway.is_some(),
                                mode == 0 && out.toml.contains("gateway = ")
                            );
                            assert_eq!(out.toml.contains("DNS 10.0.0.1, 10.0.0.2"), mode == 0);
                        }
                        if on(1) == 1 {
                            want.push((
                                "phys-enp1s0".into(),
                                NetworkKind::Bridge,
                                "br-enp1s0",
                                Lifetime::Static,
                                Some("enp1s0"),
                                None,
                            ));
                            want.push((
                                "phys-enp2s0".into(),
                                NetworkKind::Bridge,
                                "br-enp2s0",
                                Lifetime::Static,
                                Some("enp2s0"),
                                Some("10.1.0.1/16"),
                            ));
                            assert_eq!(
                                out.toml.contains("physnw_repmac[0]=1: MAC replication"),
                                repmac.0 == 1
                            );
                            assert_eq!(
                                out.toml.contains("physnw_repmac[1]=1: MAC replication"),
                                repmac.1 == 1
                            );
                            assert_eq!(
                                out.settings
                                    .phys
                                    .iter()
                                    .map(|p| p.replicate_mac)
                                    .collect::<Vec<_>>(),
                                [repmac.0 == 1, repmac.1 == 1]
                            );
                        } else {
                            assert!(out.settings.phys.is_empty());
                        }
                        if on(2) == 1 {
                            want.push((
                                "rtosvnet".into(),
                                NetworkKind::Isolated,
                                "br-rtosvnet",
                                Lifetime::Static,
                                None,
                                Some("192.168.157.1/24"),
                            ));
                        }
                        if on(3) == 1 {
                            // Overlaps br-rtosvnet's subnet: emitted without it then.
                            let addr = (on(2) == 0).then_some("192.168.157.1/24");
                            want.push((
                                "vnet".into(),
                                NetworkKind::Isolated,
                                "vmvnetbridge",
                                Lifetime::Dynamic,
                                None,
                                addr,
                            ));
                            assert_eq!(out.warnings.len(), usize::from(on(2) == 1));
                        } else {
                            assert!(out.warnings.is_empty(), "{:?}", out.warnings);
                        }
                        if on(4) == 1 {
                            let kind = if gaddr.is_some() {
                                NetworkKind::Isolated
                            } else {
                                NetworkKind::Internal
                            };
                            want.push((
                                "guest".into(),
                                kind,
                                "br-guest",
                                Lifetime::Static,
                                None,
                                gaddr,
                            ));
                        }
                        let got: Vec<(&str, NetworkKind, Lifetime)> = cfg
                            .networks
                            .iter()
                            .map(|n| (n.name.as_str(), n.kind, n.lifetime))
                            .collect();
                        let expected: Vec<(&str, NetworkKind, Lifetime)> =
                            want.iter().map(|w| (w.0.as_str(), w.1, w.3)).collect();
                        assert_eq!(got, expected, "{sh}\n{}", out.toml);
                        assert_eq!(cfg.networks.len(), want.len());
                        for (n, w) in cfg.networks.iter().zip(&want) {
                            assert_eq!(n.bridge.as_str(), w.2);
                            assert_eq!(n.uplink.as_ref().map(IfName::as_str), w.4);
                            assert_eq!(n.address.map(|a| a.to_string()).as_deref(), w.5);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fixture() {
        let sh = include_str!("../../tests/data/usr_guest_config.sh");
        let out = ok(sh);
        let names: Vec<&str> = out
            .toml
            .lines()
            .filter_map(|l| l.strip_prefix("name = "))
            .collect();
        assert_eq!(
            names,
            [
                "\"external\"",
                "\"phys-enp1s0\"",
                "\"phys-enp2s0\"",
                "\"rtosvnet\"",
                "\"vnet\"",
                "\"guest\""
            ]
        );
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0]
            .message
            .contains("overlaps network \"rtosvnet\""));
    }

    #[test]
    fn nothing_enabled() {
        let out = ok("# all off\nexternal_nw=0\n");
        assert!(out.toml.contains("No network is enabled"));
        assert_eq!(out.settings, Settings::default());
    }

    #[test]
    fn shell_syntax_as_data() {
        let sh = "#!/bin/bash\n\
                  export external_nw='1'   # on\n\
                  export netif_m=\"eth1\"\n\
                  export physnw_dev\n\
                  phys_nw=1\n\
                  physnw_dev=enp3s0\n\
                  physnw_repmac[0]=\\1\n\
                  physnw_ip[0]=\"10.2.0.1/255.255.0.0\"\n\
                  \n\
                  guest_nw=1\nguest_br_ip=no\nguest_br_ip=192.168.5.1/24\n\
                  some_unknown_thing=whatever\n\
                  if [ -f /etc/x ]; then\n\
                  \x20 rtosvnet_nw=1\n\
                  fi\n\
                  for i in 1 2; do echo $i; done\n\
                  netif_mode=$(cat /etc/mode)\n\
                  vnet_nw=`echo 1`\n\
                  a=1; b=2\n\
                  dns_m=(1 2)\n";
        let out = ok(sh);
        let s = &out.settings;
        assert_eq!(s.external.as_ref().unwrap().netif.as_str(), "eth1");
        assert_eq!(s.external.as_ref().unwrap().mode, NetifMode::Automatic);
        assert_eq!(s.phys.len(), 1);
        assert_eq!(s.phys[0].dev.as_str(), "enp3s0");
        assert!(s.phys[0].replicate_mac);
        assert_eq!(s.phys[0].address.unwrap().to_string(), "10.2.0.1/16");
        // The last assignment wins.
        assert_eq!(s.guest.unwrap().unwrap().to_string(), "192.168.5.1/24");
        // Inside the skipped `if`, the assignment is taken as written.
        assert!(s.rtosvnet.is_some());
        assert!(!s.vnet);
        let lines: Vec<usize> = out.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [14, 16, 17, 18, 19, 20, 21], "{:?}", out.warnings);
        assert!(out.warnings[3]
            .in_file("t.sh")
            .starts_with("t.sh:18: warning: skipped"));
        assert!(out.warnings[3]
            .message
            .contains("netif_mode=$(cat /etc/mode)"));
    }

    #[test]
    fn manual_mode() {
        let out = ok("external_nw=1\nnetif_mode=0\nnetif_m=eth0\nbrip_m=192.168.1.10\nbrnm_m=24\n");
        let e = out.settings.external.unwrap();
        assert_eq!(e.address.unwrap().to_string(), "192.168.1.10/24");
        assert!(e.gateway.is_none());
        assert_eq!(
            errs("external_nw=1\nnetif_mode=0\nnetif_m=eth0\n"),
            ["t.sh:1: brip_m: netif_mode=0 (manual) needs brip_m and brnm_m",]
        );
    }

    #[test]
    fn malformed() {
        let cases: [(&str, &str); 14] = [
            ("netif_mode=7\n", "t.sh:1: netif_mode: expected 0 (manual), 1 (automatic) or 2 (no host IP), got \"7\""),
            ("\n\nguest_nw=yes\n", "t.sh:3: guest_nw: expected 0 or 1, got \"yes\""),
            ("physnw_repmac[1]=2\n", "t.sh:1: physnw_repmac[1]: expected 0 or 1, got \"2\""),
            ("rtosvnet_br_ip=192.168.157.300\n", "t.sh:1: rtosvnet_br_ip: \"192.168.157.300\" is not an IPv4 address"),
            ("guest_br_ip=192.168.5.1\n", "t.sh:1: guest_br_ip: expected `no` or an address with prefix length (IP/LEN), got \"192.168.5.1\""),
            ("guest_br_ip=192.168.5.0/24\n", "t.sh:1: guest_br_ip: 192.168.5.0/24 is not a host address of its subnet"),
            ("brnm_m=255.0.255.0\n", "t.sh:1: brnm_m: 255.0.255.0 is not a contiguous netmask"),
            ("defaultgw_m=gateway\n", "t.sh:1: defaultgw_m: \"gateway\" is not an IPv4 address"),
            ("netif_mode[1]=1\n", "t.sh:1: netif_mode: is a plain setting, not an array"),
            ("external_nw=1\n", "t.sh:1: netif_m: external_nw=1 needs netif_m, the physical NIC to bridge"),
            ("phys_nw=1\nphysnw_repmac[2]=1\n", "t.sh:2: physnw_dev[2]: physnw_ip[2]/physnw_repmac[2] are set but physnw_dev[2] is not"),
            ("phys_nw=1\nphysnw_dev[0]=eth0\nphysnw_dev[1]=eth0\n", "t.sh:3: physnw_dev[1]: eth0 is already physnw_dev[0]; a NIC can be in one bridge only"),
            ("external_nw=1\nnetif_m=eth0\nphys_nw=1\nphysnw_dev[0]=eth0\n", "t.sh:4: physnw_dev[0]: eth0 is also netif_m (vmbridge's uplink); a NIC can be in one bridge only"),
            ("physnw_dev[0]=enp0s20f0u1u2\n", "t.sh:1: physnw_dev[0]: its bridge br-enp0s20f0u1u2 would be an invalid interface name"),
        ];
        for (sh, want) in cases {
            let got = errs(sh);
            assert_eq!(got.len(), 1, "{sh}: {got:?}");
            assert!(
                got[0].starts_with(want),
                "{sh}:\n got {}\nwant {want}",
                got[0]
            );
        }
        // Every problem is reported, in line order.
        let got = errs("vnet_nw=2\nnetif_mode=9\nguest_br_ip=x\n");
        assert_eq!(got.len(), 3);
        assert!(got[0].starts_with("t.sh:1: vnet_nw") && got[2].starts_with("t.sh:3: guest_br_ip"));
    }

    #[test]
    fn missing_phys_values_are_assumed() {
        let out = ok("phys_nw=1\nphysnw_dev[0]=eth3\n");
        assert_eq!(out.warnings.len(), 2);
        assert_eq!(
            out.warnings[0].in_file("t.sh"),
            "t.sh:2: warning: physnw_ip[0] is not set; assuming no"
        );
        assert!(!out.settings.phys[0].replicate_mac);
    }

    #[test]
    fn quoting() {
        assert_eq!(
            shell_word("'a b'\"c\\\"d\"e\\ f  # x").unwrap(),
            "a bc\"de f"
        );
        assert_eq!(shell_word("a#b").unwrap(), "a#b");
        assert!(shell_word("'open").is_err());
        assert!(shell_word("\"$HOME\"").is_err());
        assert!(shell_word("x y").is_err());
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
