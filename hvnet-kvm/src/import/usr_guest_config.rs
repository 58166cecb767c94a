//! `usr_guest_config.sh` (seed 000's KVM hypervisor guest-network settings) → hvnet TOML.
//!
//! The file is a shell script of settings. It is read as **data** and never executed: a
//! line is either blank, a comment, `export NAME`, or a plain assignment `NAME=VALUE` /
//! `NAME[i]=VALUE` (optionally after `export`, with `'…'`/`"…"` quoting, `\` escapes and a
//! trailing `# comment`). Anything else — `if`, `for`, `$(…)`, `` `…` ``, `$VAR`, `;`,
//! several words — is shell code: it is skipped with a [`Warning`] naming the line. An
//! assignment inside `if … fi` (or `case`, `for`, `while`) is taken as written, with a
//! warning that in the shell it is conditional. A UTF-8 byte order mark is ignored.
//!
//! Every assignment is either translated or warned about ("not imported: why"): unknown
//! variables, variables of a section that is off, settings only `netif_mode=0` uses,
//! `dns_m`, and assignments a later one overrides (the last wins, as in the shell). An
//! empty value (`brip_m=`, `netif_m=""`) is a placeholder: the same as not set. A known
//! variable with a malformed value is an [`ImportError`] with its line. The output is
//! serialised with the `toml` crate and checked with hvnet's validator.
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
//! assert_eq!(err.errors[0].in_file("x.sh"), "x.sh:1: netif_mode: expected 0 (manual), 1 (automatic) or 2 (no host IP), got \"7\"");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use hvnet_core::import::{self as shared, check_output, comment, ImportFailure};
use hvnet_core::types::{IfName, Ipv4Cidr};
use serde::Serialize;

pub use hvnet_core::import::ImportWarning as Warning;

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

/// Reads `text` (the contents of `source`, named in the output's header) and emits the TOML,
/// checked with hvnet's validator.
///
/// # Errors
///
/// Every malformed known variable, each with its line, or an output the validator refuses
/// (line 0); with the warnings found.
pub fn import(text: &str, source: &str) -> Result<Imported, ImportFailure<ImportError>> {
    let (settings, mut warnings) = parse(text)?;
    let toml = to_toml(&settings, source, &mut warnings)
        .and_then(|t| check_output(&t, "imported.toml").map(|_| t));
    match toml {
        Ok(toml) => Ok(Imported {
            settings,
            toml,
            warnings,
        }),
        Err(message) => Err(ImportFailure {
            errors: vec![ImportError {
                line: 0,
                variable: "output".into(),
                message,
            }],
            warnings,
        }),
    }
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

/// Shell words that open a compound command, and the ones that close it.
const OPENERS: [&str; 4] = ["if", "case", "for", "while"];
const CLOSERS: [&str; 3] = ["fi", "esac", "done"];

/// Parses the settings.
///
/// # Errors
///
/// Every malformed known variable, each with its line; with the warnings found.
pub fn parse(text: &str) -> Result<(Settings, Vec<Warning>), ImportFailure<ImportError>> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut vars = Vars::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Lines of the open `if`/`case`/`for`/`while` blocks.
    let mut blocks: Vec<usize> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let first = raw
            .split(|c: char| c.is_whitespace() || c == ';')
            .find(|w| !w.is_empty());
        if first.is_some_and(|w| OPENERS.contains(&w)) {
            blocks.push(line);
        }
        if raw
            .split(|c: char| c.is_whitespace() || c == ';')
            .any(|w| CLOSERS.contains(&w))
        {
            blocks.pop();
        }
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((name, index, value))) => {
                if let Some(open) = blocks.last() {
                    warnings.push(Warning::changed(
                        line,
                        0,
                        var_name(&name, index),
                        format!("conditional: inside the shell block of line {open}, which hvnet does not run; imported as if it is run"),
                    ));
                }
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
                let shown = var_name(&name, index);
                if let Some(old) = vars.insert((name, index), Assign { line, value }) {
                    warnings.push(Warning::not_imported(
                        old.line,
                        0,
                        shown,
                        format!("assigned again on line {line}; the last assignment wins, as in the shell"),
                    ));
                }
            }
            Err(why) => warnings.push(Warning::not_imported(
                line,
                0,
                "",
                format!(
                    "shell code is never executed: {why}: {}",
                    shared::escaped(raw.trim())
                ),
            )),
        }
    }
    let mut p = Parser {
        vars: &vars,
        errors: &mut errors,
        warnings: &mut warnings,
    };
    let settings = p.settings();
    // With errors the settings are partial: only unknown variables are surely unused.
    unused(&vars, &settings, !errors.is_empty(), &mut warnings);
    warnings.sort_by_key(|w| w.line);
    if errors.is_empty() {
        Ok((settings, warnings))
    } else {
        errors.sort_by_key(|e| e.line);
        Err(ImportFailure { errors, warnings })
    }
}

/// Warns about every assignment the settings do not use, with why (`only_unknown`: only
/// about the variables hvnet does not know).
fn unused(vars: &Vars, s: &Settings, only_unknown: bool, warnings: &mut Vec<Warning>) {
    let manual = s
        .external
        .as_ref()
        .is_some_and(|e| e.mode == NetifMode::Manual);
    for ((name, index), a) in vars {
        let known = SCALARS.contains(&name.as_str()) || ARRAYS.contains(&name.as_str());
        if a.value.is_empty() || (only_unknown && known) {
            // A placeholder (nothing to import), or a setting of partial settings.
            continue;
        }
        let why = match name.as_str() {
            n if FLAGS.contains(&n) => continue,
            "netif_mode" | "netif_m" if s.external.is_some() => continue,
            "defaultgw_m" | "brip_m" | "brnm_m" if manual => continue,
            "dns_m" if manual => "the host's DNS servers stay the host resolver's business (hvnet does not write resolv.conf)".to_owned(),
            "defaultgw_m" | "brip_m" | "brnm_m" | "dns_m" if s.external.is_some() => {
                "only netif_mode=0 (manual) uses it".to_owned()
            }
            n if external_setting(n) => "external_nw is not 1".to_owned(),
            "rtosvnet_br_ip" if s.rtosvnet.is_some() => continue,
            "rtosvnet_br_ip" => "rtosvnet_nw is not 1".to_owned(),
            "guest_br_ip" if s.guest.is_some() => continue,
            "guest_br_ip" => "guest_nw is not 1".to_owned(),
            n if ARRAYS.contains(&n) => {
                if s.phys.iter().any(|p| Some(p.index) == *index) {
                    continue;
                }
                "phys_nw is not 1".to_owned()
            }
            _ => "not a guest-network setting of usr_guest_config.sh".to_owned(),
        };
        warnings.push(Warning::not_imported(
            a.line,
            0,
            var_name(name, *index),
            why,
        ));
    }
}

/// Whether `name` is a setting of the external network (`external_nw`): `netif_mode` to
/// `brnm_m` in [`SCALARS`].
fn external_setting(name: &str) -> bool {
    SCALARS[5..11].contains(&name)
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
    /// The assignment of `name[index]`; an empty value is a placeholder, the same as none.
    fn get(&self, name: &str, index: Option<u32>) -> Option<&Assign> {
        self.vars
            .get(&(name.to_owned(), index))
            .filter(|a| !a.value.is_empty())
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
                    self.warnings.push(Warning::changed(
                        dev_line,
                        0,
                        var_name(name, Some(i)),
                        format!(
                            "is not set; assuming {}",
                            if name == "physnw_ip" { "no" } else { "0" }
                        ),
                    ));
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

#[derive(Serialize)]
struct Net<'a> {
    #[serde(skip)]
    comments: Vec<String>,
    name: String,
    kind: &'a str,
    bridge: String,
    lifetime: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uplink: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display")]
    address: Option<Ipv4Cidr>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display")]
    gateway: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replicate_mac: bool,
}

/// Serialises an optional value as its text.
fn display<T: fmt::Display, S: serde::Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

#[derive(Serialize)]
struct OneNetwork<'a, 'b> {
    network: [&'b Net<'a>; 1],
}

/// Emits the TOML for `s`; overlapping addresses are dropped from the later network (with
/// a comment and a warning).
///
/// # Errors
///
/// The serialiser's message (cannot happen for the values [`Settings`] hold).
pub fn to_toml(s: &Settings, source: &str, warnings: &mut Vec<Warning>) -> Result<String, String> {
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
            warnings.push(Warning::changed(
                0,
                0,
                "",
                format!(
                    "network {:?} ({}) is emitted without address {y}: it overlaps network {other:?}",
                    n.name, n.bridge
                ),
            ));
        }
    }
    let mut out = comment(&format!(
        "hvnet config imported from {source} by `hvnet import usr-guest-config`."
    ));
    out.push_str(&comment(
        "Networks only: add each guest as [[guest]] with one [[guest.nic]] per network it uses.",
    ));
    if nets.is_empty() {
        out.push_str(&comment(
            "No network is enabled (external_nw, phys_nw, rtosvnet_nw, vnet_nw, guest_nw).",
        ));
    }
    for n in &nets {
        out.push('\n');
        for c in &n.comments {
            out.push_str(&comment(c));
        }
        out.push_str(&shared::to_toml(&OneNetwork { network: [n] })?);
    }
    Ok(out)
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
            .errors
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

    /// The warnings about overlapping addresses.
    fn overlaps(out: &Imported) -> usize {
        out.warnings
            .iter()
            .filter(|w| w.message.contains("overlaps"))
            .count()
    }

    /// The warnings, one `FILE:LINE: warning: …` line each.
    fn warned(out: &Imported) -> Vec<String> {
        out.warnings.iter().map(|w| w.in_file("t.sh")).collect()
    }

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
                            assert_eq!(
                                out.warnings.iter().any(|w| w.at == "dns_m"
                                    && w.message.contains("host resolver's business")),
                                mode == 0
                            );
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
                            assert_eq!(overlaps(&out), usize::from(on(2) == 1));
                        } else {
                            assert_eq!(overlaps(&out), 0, "{:?}", out.warnings);
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
        assert_eq!(
            warned(&out),
            [
                "t.sh:10: warning: defaultgw_m: not imported: only netif_mode=0 (manual) uses it",
                "t.sh:11: warning: dns_m: not imported: only netif_mode=0 (manual) uses it",
                "t.sh:12: warning: brip_m: not imported: only netif_mode=0 (manual) uses it",
                "t.sh:13: warning: brnm_m: not imported: only netif_mode=0 (manual) uses it",
                "t.sh:36: warning: smb_enable: not imported: not a guest-network setting of usr_guest_config.sh",
                "t.sh: warning: network \"vnet\" (vmvnetbridge) is emitted without address 192.168.157.1/24: it overlaps network \"rtosvnet\"",
            ]
        );
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
        assert_eq!(
            lines,
            [11, 13, 14, 15, 16, 17, 18, 19, 20, 21],
            "{:?}",
            out.warnings
        );
        let w = warned(&out);
        assert_eq!(w[0], "t.sh:11: warning: guest_br_ip: not imported: assigned again on line 12; the last assignment wins, as in the shell");
        assert_eq!(w[1], "t.sh:13: warning: some_unknown_thing: not imported: not a guest-network setting of usr_guest_config.sh");
        assert_eq!(w[3], "t.sh:15: warning: rtosvnet_nw: conditional: inside the shell block of line 14, which hvnet does not run; imported as if it is run");
        assert!(
            w[6].starts_with(
                "t.sh:18: warning: not imported: shell code is never executed: expansion"
            ),
            "{}",
            w[6]
        );
        assert!(w[6].contains("netif_mode=$(cat /etc/mode)"));
    }

    /// Regression (issue 15): empty placeholders of a section that is off aborted the import.
    #[test]
    fn empty_placeholders_in_an_off_section() {
        let out = ok("external_nw=0\nnetif_mode=\nnetif_m=\"\"\nbrip_m=\nbrnm_m=''\nguest_nw=1\nguest_br_ip=no\n");
        assert_eq!(out.settings.external, None);
        assert!(out.settings.guest.is_some());
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // Switched on, a needed placeholder is a missing setting.
        assert_eq!(
            errs("external_nw=1\nnetif_m=\"\"\n"),
            ["t.sh:1: netif_m: external_nw=1 needs netif_m, the physical NIC to bridge"]
        );
        // A placeholder of an optional setting is no setting.
        let out = ok("external_nw=1\nnetif_m=eth0\nnetif_mode=\n");
        assert_eq!(out.settings.external.unwrap().mode, NetifMode::Automatic);
    }

    /// Regression (issue 15): a UTF-8 byte order mark hid line 1.
    #[test]
    fn byte_order_mark_does_not_hide_line_one() {
        let out = ok("\u{feff}guest_nw=1\nguest_br_ip=no\n");
        assert!(out.settings.guest.is_some());
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(
            errs("\u{feff}netif_mode=7\n")[0],
            "t.sh:1: netif_mode: expected 0 (manual), 1 (automatic) or 2 (no host IP), got \"7\""
        );
    }

    /// Regression (issue 15): assignments inside `if … fi` were taken silently.
    #[test]
    fn assignments_in_shell_blocks_are_conditional() {
        let sh = "if [ \"$x\" = 1 ]; then\n  guest_nw=1\nelse\n  vnet_nw=1\nfi\ncase $y in\n a) rtosvnet_nw=1 ;;\nesac\nphys_nw=0\n";
        let out = ok(sh);
        let w = warned(&out);
        let conditional: Vec<&String> = w.iter().filter(|l| l.contains("conditional")).collect();
        assert_eq!(conditional.len(), 2, "{w:?}");
        assert!(conditional[0].starts_with(
            "t.sh:2: warning: guest_nw: conditional: inside the shell block of line 1"
        ));
        assert!(conditional[1].starts_with("t.sh:4: warning: vnet_nw: conditional"));
        // After `fi`, assignments are plain again (phys_nw on line 9 is not conditional);
        // the `case` arm is shell code (it has `;;`), skipped.
        assert!(!w.iter().any(|l| l.starts_with("t.sh:9:")), "{w:?}");
        assert!(
            w.iter()
                .any(|l| l.starts_with("t.sh:7: warning: not imported: shell code")),
            "{w:?}"
        );
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
            "t.sh:2: warning: physnw_ip[0]: is not set; assuming no"
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
    }
}
