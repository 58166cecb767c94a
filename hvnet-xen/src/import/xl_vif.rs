//! `hvnet import xl-vif INPUT`: the NICs of an xl domain config turned into one `[[guest]]`
//! with its `[[guest.nic]]`s.
//!
//! INPUT is any of what users paste:
//!
//! * one spec, `mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms`;
//! * one spec with its quotes, `'mac=…,bridge=br0'` or `"…"`;
//! * a whole list, `vif = [ 'mac=…,bridge=br0', 'bridge=br1' ]` (or just `[ … ]`): one NIC
//!   per entry, in order, each with its own MAC.
//!
//! Each spec is split the way xl's `parse_nic_config` (`tools/xl/xl_parse.c`) splits it:
//! tokens separated by `,` and trimmed, no quoting inside (a value never holds a comma), a
//! token `key=value` split at the first `=`, `trusted`/`untrusted` bare flags, a key given
//! twice keeps the last value (with a warning), keys case-sensitive.
//!
//! Every key is either translated or reported as an [`ImportWarning`] ("not imported: why"):
//!
//! | xl key | hvnet |
//! |---|---|
//! | `mac` | `mac` (warning outside Xen's OUI). Without it, a MAC in `00:16:3e` is generated: derived from `--guest NAME` and the NIC's index, or random like libxl without `--guest` |
//! | `bridge` (default `xenbr0`) | `network = "<bridge>"` (bridge mode) |
//! | `script=vif-bridge` / `vif-hvnet` | bridge mode, as above |
//! | `script=vif-route` (`vif-route-ifup`) / `vif-nat` | `network = "xen-route"` / `"xen-nat"`: a `routed` / `nat` network the config must define with an address whose subnet holds the NIC's `ip` |
//! | `ip` | the NIC's `ip` (the first IPv4 address) and `ip6` (the first IPv6 one, [`super::xl_vif6`]); more addresses, or a prefix other than /32 (/128), are warned |
//! | `vifname` | `ifname` (at most 11 bytes so that `<vifname>-emu` fits IFNAMSIZ) |
//! | `rate` | `rate = { egress = "RATE@INTERVAL" }`, xl's own text: hvnet's config takes xl's interval form and limits as netback's credit does (netback polices guest transmit only, hence egress) |
//! | `type`, `model`, `gatewaydev`/`netdev`, `vlan`, `mtu`, `backend`, `devid`, `forwarddev`, `accel`, `colo_*`, `trusted`/`untrusted`, other scripts, unknown keys | warned, each with why |
//!
//! The output is checked with hvnet's own validator before it is returned, together with a
//! stand-in for each network it needs (the snippet is meant to be added to a config that
//! defines them); an output that would not validate fails the import with the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hvnet_core::import::{check_output, comment, to_toml, ImportFailure, ImportWarning};
use hvnet_core::types::{IfName, Ipv4Cidr, Ipv6Cidr, MacAddr, MacPrefix, XlRate};
use serde::Serialize;

/// The bridge libxl uses when the spec has no `bridge=`.
pub const DEFAULT_BRIDGE: &str = "xenbr0";

/// The network a `script=vif-route` NIC joins.
pub const ROUTE_NETWORK: &str = "xen-route";

/// The network a `script=vif-nat` NIC joins.
pub const NAT_NETWORK: &str = "xen-nat";

/// The longest `vifname` hvnet accepts: `IfName::MAX_LEN` (15) minus the 4 bytes of the
/// `-emu` suffix an emulated (ioemu) NIC's tap gets.
pub const MAX_VIFNAME_LEN: usize = IfName::MAX_LEN - "-emu".len();

/// The guest name used when none is given.
pub const DEFAULT_GUEST: &str = "xen-guest";

/// xl's `type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XlNicType {
    /// `type=vif`: a paravirtual NIC only (libxl `LIBXL_NIC_TYPE_VIF`).
    Vif,
    /// `type=ioemu`: an emulated NIC (QEMU tap `vif<domid>.<devid>-emu`) alongside the PV one
    /// (libxl `LIBXL_NIC_TYPE_VIF_IOEMU`, the default for HVM guests).
    Ioemu,
}

/// The hotplug mode a `script=` selects, by the script's basename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptMode {
    /// `vif-bridge` (libxl's default script).
    Bridge,
    /// `vif-route` or openSUSE's `vif-route-ifup`.
    Routed,
    /// `vif-nat`.
    Nat,
    /// `vif-hvnet`: hvnet picks the mode from its config.
    Hvnet,
    /// Any other script, by its basename.
    Other(String),
}

impl ScriptMode {
    /// The mode for a `script=` value (a path or a bare name).
    #[must_use]
    pub fn from_script(script: &str) -> Self {
        let base = script.rsplit('/').next().unwrap_or(script);
        match base {
            "vif-bridge" => Self::Bridge,
            "vif-route" | "vif-route-ifup" => Self::Routed,
            "vif-nat" => Self::Nat,
            "vif-hvnet" => Self::Hvnet,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ScriptMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bridge => f.write_str("bridge mode (vif-bridge)"),
            Self::Routed => f.write_str("routed mode (vif-route)"),
            Self::Nat => f.write_str("nat mode (vif-nat)"),
            Self::Hvnet => f.write_str("hvnet's own mode selection (vif-hvnet)"),
            Self::Other(name) => write!(f, "a custom script {name:?}"),
        }
    }
}

/// One parsed xl vif spec. Every field is `None` / empty when the key was absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XlVif {
    /// `mac=`.
    pub mac: Option<MacAddr>,
    /// `bridge=`; libxl uses [`DEFAULT_BRIDGE`] when absent.
    pub bridge: Option<IfName>,
    /// `ip=`: its space-separated IPv4 addresses (a bare address is a /32).
    pub ip: Vec<Ipv4Cidr>,
    /// `ip=`: its IPv6 addresses (a bare address is a /128).
    pub ip6: Vec<Ipv6Cidr>,
    /// `script=`, as given.
    pub script: Option<String>,
    /// `vifname=`, at most [`MAX_VIFNAME_LEN`] bytes.
    pub vifname: Option<IfName>,
    /// `type=`.
    pub nic_type: Option<XlNicType>,
    /// `model=` (the emulated device model, e.g. `e1000`).
    pub model: Option<String>,
    /// `rate=`, exactly as xl parses it.
    pub rate: Option<XlRate>,
    /// `gatewaydev=` (or its deprecated spelling `netdev=`).
    pub gatewaydev: Option<String>,
    /// Known xl keys that hvnet has no field for (`backend`, `mtu`, `vlan`, `devid`,
    /// `forwarddev`, `trusted`, …), in spec order, as `(key, value)`; bare flags have an
    /// empty value.
    pub passthrough: Vec<(String, String)>,
}

/// A spec hvnet refuses: which key, its text, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlVifError {
    /// The key (empty for the spec or input as a whole).
    pub key: String,
    /// The offending text.
    pub text: String,
    /// Why it is refused.
    pub message: String,
}

impl fmt::Display for XlVifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = hvnet_core::import::escaped(&self.text);
        if self.key.is_empty() {
            write!(f, "xl vif spec \"{text}\": {}", self.message)
        } else {
            write!(f, "xl vif {}=\"{text}\": {}", self.key, self.message)
        }
    }
}

impl std::error::Error for XlVifError {}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The parsed specs, in order (one per NIC).
    pub vifs: Vec<XlVif>,
    /// The `[[guest]]` snippet (comments, then TOML serialised from typed values).
    pub toml: String,
    /// What was not translated as it stands, with its column in the input.
    pub warnings: Vec<ImportWarning>,
    /// Per NIC, the MAC generated because its spec had none.
    pub generated_macs: Vec<Option<GeneratedMac>>,
}

/// Keys xl's `parse_nic_config` knows that hvnet has no field for, with why.
const PASSTHROUGH_KEYS: [(&str, &str); 7] = [
    (
        "backend",
        "hvnet runs in the domain that holds the bridge; a driver domain runs its own hvnet",
    ),
    (
        "mtu",
        "a guest port takes the MTU of its network: set `mtu` on the [[network]]",
    ),
    (
        "vlan",
        "hvnet has no per-NIC VLAN tag: join a network whose bridge or uplink carries the VLAN",
    ),
    (
        "devid",
        "the device number is libxl's business; hvnet keeps the NICs in this order",
    ),
    (
        "forwarddev",
        "xl's forwarding device for COLO; hvnet has no COLO support",
    ),
    ("accel", "xl's accelerator option has no hvnet equivalent"),
    (
        "queues",
        "the number of netback queues is set by the guest and xl, not by hvnet",
    ),
];

/// Bare flags xl's `parse_nic_config` knows.
const FLAGS: [&str; 2] = ["trusted", "untrusted"];

fn error(key: &str, text: &str, message: impl Into<String>) -> XlVifError {
    XlVifError {
        key: key.to_owned(),
        text: text.to_owned(),
        message: message.into(),
    }
}

/// One spec of the input, with its byte offset in it.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    text: &'a str,
    offset: usize,
}

/// 1-based line and column of byte `offset` of `input`.
fn line_col(input: &str, offset: usize) -> (usize, usize) {
    let before = input.get(..offset).unwrap_or(input);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Splits the input into specs: one bare spec, one quoted spec, or a `vif = [ … ]` list.
fn entries(input: &str) -> Result<Vec<Entry<'_>>, XlVifError> {
    let trimmed = input.trim_start_matches('\u{feff}').trim();
    let start = input.len() - input.trim_start_matches('\u{feff}').trim_start().len();
    if trimmed.is_empty() {
        return Err(error("", input, "the spec is empty"));
    }
    // `vif = [ … ]` or `[ … ]`.
    let after_key = trimmed
        .strip_prefix("vif")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .map(str::trim_start);
    let list = match after_key {
        Some(r) if r.starts_with('[') => Some(r),
        Some(_) => {
            return Err(error(
                "",
                input,
                "a `vif = …` line must be a list: vif = [ 'SPEC', 'SPEC' ]",
            ))
        }
        None if trimmed.starts_with('[') => Some(trimmed),
        None => None,
    };
    let Some(list) = list else {
        return match trimmed.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let inner = trimmed[1..].strip_suffix(q).ok_or_else(|| {
                    error(
                        "",
                        input,
                        format!("the spec starts with {q} but does not end with it"),
                    )
                })?;
                if inner.contains(q) {
                    return Err(error(
                        "",
                        input,
                        format!("more than one quoted spec: use `vif = [ … ]` for several NICs, or remove the {q} quotes"),
                    ));
                }
                Ok(vec![Entry {
                    text: inner,
                    offset: start + 1,
                }])
            }
            _ => {
                if let Some(q) = trimmed
                    .chars()
                    .find(|c| matches!(c, '\'' | '"' | '[' | ']'))
                {
                    return Err(error(
                        "",
                        input,
                        format!("{q:?} inside a spec: xl specs have no quoting; paste one spec, one quoted spec, or the whole `vif = [ … ]` line"),
                    ));
                }
                Ok(vec![Entry {
                    text: trimmed,
                    offset: start,
                }])
            }
        };
    };
    let list_start = start + (trimmed.len() - list.len());
    let body = list
        .strip_prefix('[')
        .and_then(|b| {
            b.trim_end()
                .trim_end_matches(';')
                .trim_end()
                .strip_suffix(']')
        })
        .ok_or_else(|| error("", input, "the list has no closing ]"))?;
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut expect_entry = true;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' if expect_entry => {
                let close = body[i + 1..].find(char::from(c)).ok_or_else(|| {
                    error(
                        "",
                        input,
                        format!("an entry of the list has no closing {}", char::from(c)),
                    )
                })?;
                out.push(Entry {
                    text: &body[i + 1..i + 1 + close],
                    offset: list_start + 1 + i + 1,
                });
                i += close + 2;
                expect_entry = false;
            }
            b',' if !expect_entry => {
                expect_entry = true;
                i += 1;
            }
            _ => {
                return Err(error(
                    "",
                    input,
                    format!(
                        "unexpected {:?} in the list: entries are quoted specs separated by commas",
                        body[i..].chars().next().unwrap_or(' ')
                    ),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(error("", input, "the list has no entry"));
    }
    Ok(out)
}

/// Parses one xl vif spec, returning it with what was not translated as it stands.
/// Warnings carry the column of the key within `spec` (line 1).
///
/// # Errors
///
/// An [`XlVifError`] naming the key and text for an empty spec, a bad `mac`, `bridge`,
/// `vifname`, `ip` or `gatewaydev`, a `rate` xl rejects or that truncates to 0 bytes per
/// interval, or an unknown `type`.
pub fn parse(spec: &str) -> Result<(XlVif, Vec<ImportWarning>), XlVifError> {
    let mut warnings = Vec::new();
    let vif = parse_at(spec, spec, 0, &mut warnings)?;
    Ok((vif, warnings))
}

fn parse_at(
    input: &str,
    spec: &str,
    base: usize,
    warnings: &mut Vec<ImportWarning>,
) -> Result<XlVif, XlVifError> {
    let mut vif = XlVif::default();
    if spec.trim().is_empty() {
        return Err(error("", spec, "the spec is empty"));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut offset = base;
    for raw in spec.split(',') {
        let token = raw.trim();
        let at = offset + (raw.len() - raw.trim_start().len());
        offset += raw.len() + 1;
        let (line, col) = line_col(input, at);
        let skip = |w: &mut Vec<ImportWarning>, key: &str, why: String| {
            w.push(ImportWarning::not_imported(line, col, key, why));
        };
        if token.is_empty() {
            skip(
                warnings,
                "",
                "an empty entry (two commas in a row, or a trailing comma)".into(),
            );
            continue;
        }
        let Some((key, value)) = token.split_once('=') else {
            if FLAGS.contains(&token) {
                vif.passthrough.push((token.to_owned(), String::new()));
                skip(
                    warnings,
                    token,
                    "hvnet has no trusted/untrusted marking of NICs (xl passes it to the guest's frontend)"
                        .into(),
                );
            } else {
                skip(warnings, token, "not a key=value entry xl knows".into());
            }
            continue;
        };
        if seen.contains(&key) {
            warnings.push(ImportWarning::changed(
                line,
                col,
                key,
                format!("given more than once; the last one ({value:?}) wins, as in xl"),
            ));
        }
        seen.push(key);
        match key {
            "mac" => {
                let mac: MacAddr = value
                    .parse()
                    .map_err(|e| error(key, value, format!("{e}")))?;
                if !mac.is_unicast() || mac.is_zero() {
                    return Err(error(
                        key,
                        value,
                        "a guest MAC must be a non-zero unicast address",
                    ));
                }
                if !MacPrefix::XEN.contains(&mac) {
                    warnings.push(ImportWarning::changed(
                        line,
                        col,
                        key,
                        format!("{mac} is outside Xen's OUI 00:16:3e (imported as is: make sure it is unique)"),
                    ));
                }
                vif.mac = Some(mac);
            }
            "bridge" => {
                let name = IfName::new(value).map_err(|e| error(key, value, format!("{e}")))?;
                vif.bridge = Some(name);
            }
            "vifname" => {
                let name = IfName::new(value).map_err(|e| error(key, value, format!("{e}")))?;
                if name.len() > MAX_VIFNAME_LEN {
                    return Err(error(
                        key,
                        value,
                        format!(
                            "is {} bytes; at most {MAX_VIFNAME_LEN} are allowed, because an \
                             emulated NIC's tap is named \"{value}-emu\", which would exceed \
                             Linux's {}-byte limit (IFNAMSIZ)",
                            name.len(),
                            IfName::MAX_LEN
                        ),
                    ));
                }
                vif.vifname = Some(name);
            }
            "ip" => {
                vif.ip.clear();
                vif.ip6.clear();
                for addr in value.split_ascii_whitespace() {
                    if addr.contains(':') {
                        vif.ip6.push(
                            super::xl_vif6::parse_ip6(addr).map_err(|m| error(key, value, m))?,
                        );
                    } else {
                        vif.ip
                            .push(parse_ip(addr).map_err(|m| error(key, value, m))?);
                    }
                }
                if vif.ip.is_empty() && vif.ip6.is_empty() {
                    skip(warnings, key, "ip= is empty".into());
                }
            }
            "script" => {
                if value.is_empty() {
                    return Err(error(key, value, "the script is empty"));
                }
                vif.script = Some(value.to_owned());
            }
            "type" => {
                vif.nic_type = Some(match value {
                    "vif" => XlNicType::Vif,
                    "ioemu" => XlNicType::Ioemu,
                    _ => {
                        return Err(error(
                            key,
                            value,
                            "unknown type; xl accepts \"vif\" or \"ioemu\"",
                        ))
                    }
                });
                skip(warnings, key, "xl chooses the PV vif and the emulated (-emu) tap from it; vif-hvnet sets up whichever exists from this one [[guest.nic]], so there is nothing to set".into());
            }
            "model" => {
                if value.is_empty() {
                    return Err(error(key, value, "the model is empty"));
                }
                vif.model = Some(value.to_owned());
                skip(
                    warnings,
                    key,
                    format!(
                        "the emulated device model ({value}) is QEMU's setting, not the network's"
                    ),
                );
            }
            "rate" => {
                let rate: XlRate = value
                    .parse()
                    .map_err(|e| error(key, value, format!("{e}")))?;
                vif.rate = Some(rate);
            }
            "gatewaydev" | "netdev" => {
                IfName::new(value).map_err(|e| error(key, value, format!("{e}")))?;
                vif.gatewaydev = Some(value.to_owned());
                let deprecated = if key == "netdev" {
                    " (netdev= is xl's deprecated spelling of gatewaydev=)"
                } else {
                    ""
                };
                skip(warnings, key, format!("the device vif-route/vif-nat route through is the `uplink` of hvnet's routed or nat network: set `uplink = \"{value}\"` there{deprecated}"));
            }
            _ => {
                if let Some((_, why)) = PASSTHROUGH_KEYS.iter().find(|(k, _)| *k == key) {
                    vif.passthrough.push((key.to_owned(), value.to_owned()));
                    skip(warnings, key, (*why).to_owned());
                } else if key.starts_with("colo_") {
                    vif.passthrough.push((key.to_owned(), value.to_owned()));
                    skip(warnings, key, "hvnet has no COLO support".into());
                } else {
                    skip(warnings, key, "a key xl does not know".into());
                }
            }
        }
    }
    Ok(vif)
}

/// One `ip=` entry: `a.b.c.d` (a /32) or `a.b.c.d/len`.
fn parse_ip(addr: &str) -> Result<Ipv4Cidr, String> {
    if addr.contains('/') {
        return addr.parse::<Ipv4Cidr>().map_err(|e| e.to_string());
    }
    let ip: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    Ipv4Cidr::new(ip, 32).map_err(|e| e.to_string())
}

impl XlVif {
    /// The bridge the NIC joins: `bridge=`, or libxl's default `xenbr0`.
    #[must_use]
    pub fn bridge_or_default(&self) -> &str {
        self.bridge.as_ref().map_or(DEFAULT_BRIDGE, IfName::as_str)
    }

    /// The hotplug mode of the spec's `script=` (bridge mode without one).
    #[must_use]
    pub fn mode(&self) -> ScriptMode {
        self.script
            .as_deref()
            .map_or(ScriptMode::Bridge, ScriptMode::from_script)
    }

    /// The hvnet network the NIC joins: the bridge in bridge mode, [`ROUTE_NETWORK`] or
    /// [`NAT_NETWORK`] for vif-route and vif-nat.
    #[must_use]
    pub fn network(&self) -> &str {
        match self.mode() {
            ScriptMode::Routed => ROUTE_NETWORK,
            ScriptMode::Nat => NAT_NETWORK,
            _ => self.bridge_or_default(),
        }
    }
}

/// How a MAC missing from the spec was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacSource {
    /// [`derived_mac`] from the guest name.
    Derived,
    /// [`random_mac`], as libxl does.
    Random,
}

/// A MAC generated because the spec had no `mac=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedMac {
    /// The address.
    pub mac: MacAddr,
    /// How it was made.
    pub source: MacSource,
}

/// The seed of [`derived_mac`]: `<guest>/nic<index>`, the seed hvnet's config uses for a
/// guest's NIC, so the address is what hvnet derives with `mac_prefix = "00:16:3e"`.
pub fn mac_seed(guest: &str, index: usize) -> String {
    format!("{guest}/nic{index}")
}

/// A stable MAC for NIC `index` of guest `guest`: `00:16:3e` plus 23 bits of a hash of
/// [`mac_seed`] (the top bit of the fourth octet cleared, as libxl's random ones).
pub fn derived_mac(guest: &str, index: usize) -> MacAddr {
    MacAddr::derive(&MacPrefix::XEN, &mac_seed(guest, index))
}

/// A random MAC as libxl makes one (`libxl__device_nic_setdefault`): `00:16:3e:(r0 & 0x7f):r1:r2`,
/// 23 random bits. The bytes come from `/dev/urandom` (or, should that fail, a hash of the
/// time and the process id).
pub fn random_mac() -> MacAddr {
    use std::io::Read as _;
    let mut r = [0u8; 3];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut r));
    if read.is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let h =
            hvnet_core::types::stable_hash64(format!("{now}/{}", std::process::id()).as_bytes())
                .to_be_bytes();
        r.copy_from_slice(&h[..3]);
    }
    MacAddr::from_prefix_and_bytes(&MacPrefix::XEN, &r)
}

#[derive(Serialize)]
struct OutConfig<'a> {
    guest: [OutGuest<'a>; 1],
}

#[derive(Serialize)]
struct OutGuest<'a> {
    name: &'a str,
    nic: Vec<OutNic>,
}

#[derive(Serialize)]
struct OutNic {
    network: String,
    mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<OutRate>,
}

#[derive(Serialize)]
struct OutRate {
    egress: String,
}

/// Parses `input` (one spec, a quoted spec, or a `vif = [ … ]` line) and renders the
/// `[[guest]]` of guest `guest` with one `[[guest.nic]]` per spec.
///
/// Without `mac=`, a NIC gets a MAC in Xen's OUI: [`derived_mac`] of the guest name and its
/// index when a name was given (anything but [`DEFAULT_GUEST`]), else [`random_mac`] like
/// libxl.
///
/// # Errors
///
/// The errors of [`parse`] (for a list, the first failing entry), an invalid guest name, or
/// an output hvnet's validator refuses; with every warning found up to then.
pub fn import(input: &str, guest: &str) -> Result<Imported, ImportFailure<XlVifError>> {
    let mut warnings = Vec::new();
    let fail = |e: XlVifError, warnings: Vec<ImportWarning>| ImportFailure {
        errors: vec![e],
        warnings,
    };
    if !valid_name(guest) {
        return Err(fail(
            error(
                "--guest",
                guest,
                "invalid guest name: use 1-64 characters from A-Z a-z 0-9 - _ ., starting with a \
                 letter or digit",
            ),
            warnings,
        ));
    }
    let entries = match entries(input) {
        Ok(e) => e,
        Err(e) => return Err(fail(e, warnings)),
    };
    let mut vifs = Vec::new();
    for e in &entries {
        match parse_at(input, e.text, e.offset, &mut warnings) {
            Ok(v) => vifs.push(v),
            Err(err) => return Err(fail(err, warnings)),
        }
    }
    let mut nics = Vec::new();
    let mut generated_macs = Vec::new();
    let mut header = String::new();
    header.push_str(&comment(&format!(
        "Imported by `hvnet import xl-vif` from: {}",
        input.trim()
    )));
    let mut needs: BTreeMap<String, (ScriptMode, Vec<Ipv4Addr>)> = BTreeMap::new();
    let mut needs6: BTreeMap<String, Vec<Ipv6Addr>> = BTreeMap::new();
    for (index, (vif, entry)) in vifs.iter().zip(&entries).enumerate() {
        let (line, col) = line_col(input, entry.offset);
        let generated = vif.mac.is_none().then(|| {
            if guest == DEFAULT_GUEST {
                GeneratedMac {
                    mac: random_mac(),
                    source: MacSource::Random,
                }
            } else {
                GeneratedMac {
                    mac: derived_mac(guest, index),
                    source: MacSource::Derived,
                }
            }
        });
        if let Some(g) = generated {
            let how = match g.source {
                MacSource::Derived => format!(
                    "derived from the guest name (seed {:?}, stable across imports)",
                    mac_seed(guest, index)
                ),
                MacSource::Random => {
                    "random, as libxl picks one (pass --guest NAME for a stable one)".to_owned()
                }
            };
            header.push_str(&comment(&format!(
                "NIC {index}: no mac= in the spec: {} generated in Xen's OUI 00:16:3e, {how}",
                g.mac
            )));
        }
        if !valid_name(vif.network()) {
            return Err(fail(
                error(
                    "bridge",
                    vif.network(),
                    "the NIC's network is named after its bridge, and this is no valid hvnet network name (1-64 of A-Z a-z 0-9 - _ ., starting with a letter or digit)",
                ),
                warnings,
            ));
        }
        let mode = vif.mode();
        match &mode {
            ScriptMode::Other(name) => warnings.push(ImportWarning::not_imported(
                line,
                col,
                "script",
                format!("the custom hotplug script {name:?} does not run under hvnet (vif-hvnet sets the NIC up); the NIC is imported in bridge mode"),
            )),
            ScriptMode::Routed | ScriptMode::Nat if vif.bridge.is_some() => {
                warnings.push(ImportWarning::not_imported(
                    line,
                    col,
                    "bridge",
                    format!("{mode} uses no bridge; the NIC joins hvnet network {:?}", vif.network()),
                ));
            }
            _ => {}
        }
        let ip = vif.ip.first().map(|c| c.addr());
        let ip6 = vif.ip6.first().map(|c| c.addr());
        let entries = |cidrs: Vec<(String, String, bool)>, v6: bool| IpEntries {
            line,
            col,
            cidrs,
            v6,
        };
        entries(
            vif.ip
                .iter()
                .map(|c| (c.to_string(), c.addr().to_string(), c.prefix_len() == 32))
                .collect(),
            false,
        )
        .warn(&mut warnings);
        entries(
            vif.ip6
                .iter()
                .map(|c| (c.to_string(), c.addr().to_string(), c.prefix_len() == 128))
                .collect(),
            true,
        )
        .warn(&mut warnings);
        let network = vif.network().to_owned();
        let need = needs
            .entry(network.clone())
            .or_insert_with(|| (mode.clone(), Vec::new()));
        need.1.extend(ip);
        if let Some(a) = ip6 {
            needs6.entry(network.clone()).or_default().push(a);
        }
        nics.push(OutNic {
            network,
            mac: vif
                .mac
                .or(generated.map(|g| g.mac))
                .map(|m| m.to_string())
                .unwrap_or_default(),
            ifname: vif.vifname.as_ref().map(ToString::to_string),
            ip: ip.map(|i| i.to_string()),
            ip6: ip6.map(|i| i.to_string()),
            rate: vif.rate.map(|r| OutRate {
                egress: r.to_string(),
            }),
        });
        if let Some(r) = vif.rate {
            header.push_str(&comment(&format!(
                "NIC {index}: xl rate {r} = {} bytes every {} us (backend key rate = \"{}\"); netback polices what the guest sends, so it is the egress limit",
                r.bytes_per_interval(),
                r.interval_usecs(),
                r.xenstore_value()
            )));
        }
        generated_macs.push(generated);
    }
    for (name, (mode, ips)) in &needs {
        let what = match mode {
            ScriptMode::Routed => {
                "kind = \"routed\", with an address whose subnet holds the NICs' ip"
            }
            ScriptMode::Nat => "kind = \"nat\", with an address whose subnet holds the NICs' ip",
            _ if !ips.is_empty() => {
                "bridge = the xl bridge, and an address whose subnet holds the NICs' ip"
            }
            _ => "bridge = the xl bridge",
        };
        let v6 = if needs6.contains_key(name) {
            ", and address6 with [network.dhcp6] mode = \"stateful\", whose prefix holds the NICs' ip6"
        } else {
            ""
        };
        header.push_str(&comment(&format!(
            "Needs a [[network]] named {name:?} ({what}{v6})."
        )));
    }
    let body = match to_toml(&OutConfig {
        guest: [OutGuest {
            name: guest,
            nic: nics,
        }],
    }) {
        Ok(b) => b,
        Err(m) => return Err(fail(error("", input, m), warnings)),
    };
    let toml = format!("{header}{body}");
    if let Err(m) = check_output(
        &format!("{}{toml}", stand_ins(&needs, &needs6)),
        "xl-vif output",
    ) {
        return Err(fail(error("", input, m), warnings));
    }
    Ok(Imported {
        vifs,
        toml,
        warnings,
        generated_macs,
    })
}

/// One family's `ip=` entries of a spec: `(cidr, address, is a host)`, first first.
struct IpEntries {
    line: usize,
    col: usize,
    cidrs: Vec<(String, String, bool)>,
    v6: bool,
}

impl IpEntries {
    /// The first entry's prefix (dropped: it comes from the network) and the other entries
    /// (an hvnet NIC has one address per family), as warnings.
    fn warn(&self, warnings: &mut Vec<ImportWarning>) {
        let (nic_key, net_key, family) = if self.v6 {
            ("ip6", "address6", "IPv6 ")
        } else {
            ("ip", "address", "")
        };
        let Some((first, addr, host)) = self.cidrs.first() else {
            return;
        };
        if !host {
            warnings.push(ImportWarning::changed(
                self.line,
                self.col,
                "ip",
                format!("{first}: the NIC's {nic_key} is {addr}; the prefix comes from its network's {net_key}"),
            ));
        }
        for (extra, _, _) in self.cidrs.iter().skip(1) {
            warnings.push(ImportWarning::not_imported(
                self.line,
                self.col,
                "ip",
                format!("{extra}: an hvnet NIC has one fixed {family}address (the first, {addr})"),
            ));
        }
    }
}

#[derive(Serialize)]
struct StandIn {
    network: Vec<StandInNet>,
}

#[derive(Serialize)]
struct StandInNet {
    name: String,
    kind: &'static str,
    bridge: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uplink: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dhcp6: Option<StandInDhcp6>,
}

#[derive(Serialize)]
struct StandInDhcp6 {
    mode: &'static str,
}

/// The networks the output needs, as stand-ins for the validity check: a network of the
/// mode's kind, addressed (when NICs have an `ip`) with the smallest subnet holding every
/// NIC address and a free host address. Names that are no interface name get a bridge
/// name of their own (the network name is what the check is about).
fn stand_ins(
    needs: &BTreeMap<String, (ScriptMode, Vec<Ipv4Addr>)>,
    needs6: &BTreeMap<String, Vec<Ipv6Addr>>,
) -> String {
    let network = needs
        .iter()
        .enumerate()
        .map(|(i, (name, (mode, ips)))| {
            let address = stand_in_address(ips);
            let address6 = needs6
                .get(name)
                .and_then(|v6| super::xl_vif6::stand_in_address6(v6));
            let kind = match (mode, &address) {
                (ScriptMode::Routed, Some(_)) => "routed",
                (ScriptMode::Nat, Some(_)) => "nat",
                (_, Some(_)) => "isolated",
                (_, None) if address6.is_some() => "isolated",
                (_, None) => "internal",
            };
            StandInNet {
                name: name.clone(),
                kind,
                bridge: IfName::new(name).map_or_else(|_| format!("hvstand{i}"), |b| b.to_string()),
                uplink: None,
                address: address.map(|a| a.to_string()),
                dhcp6: address6.map(|_| StandInDhcp6 { mode: "stateful" }),
                address6: address6.map(|a| a.to_string()),
            }
        })
        .collect();
    to_toml(&StandIn { network }).unwrap_or_default()
}

/// The longest-prefix subnet holding every one of `ips` with room for a host address that
/// is none of them; `None` without addresses.
fn stand_in_address(ips: &[Ipv4Addr]) -> Option<Ipv4Cidr> {
    let first = *ips.first()?;
    for len in (1..=30u8).rev() {
        let Ok(net) = Ipv4Cidr::new(first, len) else {
            continue;
        };
        if !ips.iter().all(|ip| net.contains(*ip)) {
            continue;
        }
        let hosts = net.host_range();
        let host = (u32::from(hosts.start())..=u32::from(hosts.end()))
            .map(Ipv4Addr::from)
            .find(|h| !ips.contains(h));
        if let Some(h) = host {
            return Ipv4Cidr::new(h, len).ok();
        }
    }
    None
}

/// hvnet's rule for guest and network names: 1-64 of `A-Z a-z 0-9 - _ .`, starting with a
/// letter or digit.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvnet_core::config::Config;

    const EXAMPLE: &str = "mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms";

    /// Appends `toml` to a config holding a bridge network named and bridged `bridge`.
    fn parses_with_network(toml: &str, bridge: &str) -> Config {
        let text = format!(
            "[[network]]\nname = \"{bridge}\"\nkind = \"bridge\"\nbridge = \"{bridge}\"\nuplink = \"eth0\"\n\n{toml}"
        );
        Config::parse(&text, "test.toml").unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn ok(input: &str, guest: &str) -> Imported {
        import(input, guest).unwrap_or_else(|e| panic!("{input}: {:?}", e.errors))
    }

    fn bad(spec: &str) -> XlVifError {
        import(spec, DEFAULT_GUEST)
            .map(|i| i.toml)
            .unwrap_err()
            .errors
            .remove(0)
    }

    fn warned(out: &Imported) -> String {
        out.warnings
            .iter()
            .map(|w| w.in_file("arg"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn issue_example_exact_toml() {
        let out = ok(EXAMPLE, DEFAULT_GUEST);
        assert_eq!(
            out.toml,
            "# Imported by `hvnet import xl-vif` from: mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms\n\
             # NIC 0: xl rate 100Mb/s@20ms = 250000 bytes every 20000 us (backend key rate = \
             \"250000,20000\"); netback polices what the guest sends, so it is the egress limit\n\
             # Needs a [[network]] named \"br0\" (bridge = the xl bridge).\n\
             [[guest]]\n\
             name = \"xen-guest\"\n\
             \n\
             [[guest.nic]]\n\
             network = \"br0\"\n\
             mac = \"00:16:3e:4f:94:a9\"\n\
             \n\
             [guest.nic.rate]\n\
             egress = \"100Mb/s@20ms\"\n"
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let cfg = parses_with_network(&out.toml, "br0");
        let nic = &cfg.guest("xen-guest").unwrap().nics[0];
        assert_eq!(nic.mac.to_string(), "00:16:3e:4f:94:a9");
        let egress = nic.rate.egress.unwrap();
        // netback's credit: 250000 bytes per 20 ms, bucket 250000 bytes.
        assert_eq!(egress.rate().bits_per_sec(), 100_000_000);
        assert_eq!(egress.burst().map(|b| b.bytes()), Some(250_000));
        assert_eq!(nic.rate.ingress, None);
    }

    /// Regression (issue 15): a spec pasted with its quotes gave `network = "xenbr0'"` and a
    /// new MAC.
    #[test]
    fn quoted_spec_keeps_bridge_and_mac() {
        for input in [
            "'mac=00:16:3e:00:00:01,bridge=xenbr0'",
            "\"mac=00:16:3e:00:00:01,bridge=xenbr0\"",
            "  'mac=00:16:3e:00:00:01,bridge=xenbr0'  ",
        ] {
            let out = ok(input, "g");
            assert_eq!(out.vifs.len(), 1);
            assert!(out.toml.contains("network = \"xenbr0\"\n"), "{}", out.toml);
            assert!(
                out.toml.contains("mac = \"00:16:3e:00:00:01\"\n"),
                "{}",
                out.toml
            );
            assert_eq!(out.generated_macs, [None]);
        }
        assert!(bad("'mac=00:16:3e:00:00:01")
            .message
            .contains("does not end"));
        assert!(bad("mac=00:16:3e:00:00:01,bridge=xenbr0'")
            .message
            .contains("no quoting"));
    }

    /// Regression (issue 15): a whole `vif = [ … ]` line kept only the last entry, without
    /// its MAC.
    #[test]
    fn vif_list_gives_one_guest_with_nics_in_order() {
        let line = "vif = [ 'mac=00:16:3e:00:00:01,bridge=br0', \"bridge=br1,mac=00:16:3e:00:00:02\",'bridge=br2' ]";
        let out = ok(line, "web");
        assert_eq!(out.vifs.len(), 3);
        let text = format!(
            "[[network]]\nname = \"br0\"\nkind = \"internal\"\nbridge = \"br0\"\n\
             [[network]]\nname = \"br1\"\nkind = \"internal\"\nbridge = \"br1\"\n\
             [[network]]\nname = \"br2\"\nkind = \"internal\"\nbridge = \"br2\"\n{}",
            out.toml
        );
        let cfg = Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let g = cfg.guest("web").unwrap();
        let got: Vec<(String, String)> = g
            .nics
            .iter()
            .map(|n| (n.network.clone(), n.mac.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("br0".to_owned(), "00:16:3e:00:00:01".to_owned()),
                ("br1".to_owned(), "00:16:3e:00:00:02".to_owned()),
                ("br2".to_owned(), derived_mac("web", 2).to_string()),
            ]
        );
        // A bare list and a trailing comma are fine too; an empty list or a junk token is not.
        assert_eq!(ok("['bridge=br0',]", "g").vifs.len(), 1);
        assert!(bad("vif = []").message.contains("no entry"));
        assert!(bad("vif = [ 'bridge=br0' 'bridge=br1' ]")
            .message
            .contains("unexpected"));
        assert!(bad("vif = [ 'bridge=br0'").message.contains("closing ]"));
        assert!(bad("vif = 'bridge=br0'").message.contains("must be a list"));
        // Warnings point at the entry's key in the line.
        let out = ok("vif = [ 'bridge=br0', 'bridge=br1,mtu=9000' ]", "g");
        assert_eq!(warned(&out), "arg:1:35: warning: mtu: not imported: a guest port takes the MTU of its network: set `mtu` on the [[network]]");
    }

    /// IPv6 `ip=` entries: the first is the NIC's `ip6`, the others warned; the output
    /// validates against a network with `address6` and stateful DHCPv6.
    #[test]
    fn ipv6_ip_entries_become_the_nics_ip6() {
        let out = ok(
            "mac=00:16:3e:00:00:01,script=vif-route,ip=192.0.2.10 2001:db8::10 2001:db8::11",
            "g",
        );
        assert_eq!(out.vifs[0].ip6.len(), 2);
        assert!(out.toml.contains("ip = \"192.0.2.10\"\n"), "{}", out.toml);
        assert!(
            out.toml.contains("ip6 = \"2001:db8::10\"\n"),
            "{}",
            out.toml
        );
        assert!(
            out.toml.contains("address6 with [network.dhcp6]"),
            "{}",
            out.toml
        );
        assert!(
            warned(&out).contains("ip: not imported: 2001:db8::11/128: an hvnet NIC has one fixed IPv6 address (the first, 2001:db8::10)"),
            "{}",
            warned(&out)
        );
        let text = format!(
            "[[network]]\nname = \"xen-route\"\nkind = \"routed\"\nbridge = \"xenbr-r\"\naddress = \"192.0.2.1/24\"\naddress6 = \"2001:db8::1/64\"\n[network.dhcp6]\nmode = \"stateful\"\n{}",
            out.toml
        );
        let cfg = Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            cfg.guests[0].nics[0].ip6,
            Some("2001:db8::10".parse().unwrap())
        );
        // IPv6 only, in bridge mode; a bad IPv6 entry is an error naming it.
        let out = ok("mac=00:16:3e:00:00:02,bridge=br0,ip=2001:db8:5::7/64", "g");
        assert!(
            out.toml.contains("ip6 = \"2001:db8:5::7\"\n"),
            "{}",
            out.toml
        );
        assert!(
            warned(&out).contains("the NIC's ip6 is 2001:db8:5::7"),
            "{}",
            warned(&out)
        );
        let e = import("ip=2001:db8::zz", "g").unwrap_err();
        assert!(
            e.errors[0].message.contains("not an IPv6 address"),
            "{}",
            e.errors[0]
        );
    }

    /// Regression (issue 15): `ip=` was only a comment; vif-route/vif-nat became bridged NICs.
    #[test]
    fn ip_and_route_nat_scripts_are_translated() {
        let out = ok("mac=00:16:3e:00:00:01,bridge=xenbr0,ip=192.0.2.10", "g");
        assert!(out.toml.contains("ip = \"192.0.2.10\"\n"), "{}", out.toml);
        assert!(out.warnings.is_empty(), "{}", warned(&out));
        let out = ok(
            "mac=00:16:3e:00:00:01,script=/etc/xen/scripts/vif-route,ip=192.0.2.10 192.0.2.11/28",
            "g",
        );
        assert!(
            out.toml.contains("network = \"xen-route\"\n"),
            "{}",
            out.toml
        );
        assert!(out.toml.contains("ip = \"192.0.2.10\"\n"));
        assert!(
            out.toml.contains("named \"xen-route\" (kind = \"routed\""),
            "{}",
            out.toml
        );
        assert!(
            warned(&out)
                .contains("ip: not imported: 192.0.2.11/28: an hvnet NIC has one fixed address"),
            "{}",
            warned(&out)
        );
        let text = format!(
            "[[network]]\nname = \"xen-route\"\nkind = \"routed\"\nbridge = \"xenbr-r\"\naddress = \"192.0.2.1/24\"\n{}",
            out.toml
        );
        let cfg = Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.guests[0].nics[0].ip, Some(Ipv4Addr::new(192, 0, 2, 10)));
        let out = ok("script=vif-nat,ip=10.0.0.2,bridge=br9", "g");
        assert!(out.toml.contains("network = \"xen-nat\"\n"));
        assert!(warned(&out).contains("bridge: not imported: nat mode (vif-nat) uses no bridge"));
        let out = ok("script=my-script", "g");
        assert!(
            warned(&out).contains("script: not imported: the custom hotplug script \"my-script\"")
        );
        for s in ["vif-bridge", "/usr/lib/hvnet/vif-hvnet"] {
            let out = ok(&format!("script={s},bridge=br0"), "g");
            assert!(out.warnings.is_empty() && out.toml.contains("network = \"br0\""));
        }
    }

    /// Regression (issue 15): vlan was "unknown"; mtu, gatewaydev, model, type were silent
    /// comments.
    #[test]
    fn every_untranslated_key_is_warned_with_why() {
        let spec =
            "mac=00:16:3e:00:00:01,bridge=xbr1,vlan=10,mtu=9000,gatewaydev=eth0,model=e1000,\
                    type=ioemu,backend=dom0,devid=2,trusted,colo_x=1,foo=bar,,oops,vifname=web0";
        let out = ok(spec, "web");
        let w = warned(&out);
        for (key, why) in [
            ("vlan", "no per-NIC VLAN tag"),
            ("mtu", "MTU of its network"),
            ("gatewaydev", "`uplink = \"eth0\"`"),
            ("model", "QEMU's setting"),
            ("type", "nothing to set"),
            ("backend", "driver domain"),
            ("devid", "libxl's business"),
            ("trusted", "trusted/untrusted"),
            ("colo_x", "COLO"),
            ("foo", "xl does not know"),
            ("oops", "not a key=value"),
        ] {
            let line = w
                .lines()
                .find(|l| l.contains(&format!(" {key}: not imported: ")))
                .unwrap_or_else(|| panic!("no warning for {key} in\n{w}"));
            assert!(line.contains(why), "{line}");
        }
        assert!(w.contains("warning: not imported: an empty entry"), "{w}");
        assert!(out.toml.contains("ifname = \"web0\"\n"));
        parses_with_network(&out.toml, "xbr1");
        // The column points at the key.
        let out = ok("bridge=br0, mtu=9000", "g");
        assert_eq!(out.warnings[0].col, 13);
        assert!(ok("netdev=eth1", "g").warnings[0]
            .message
            .contains("deprecated"));
    }

    #[test]
    fn missing_mac_is_generated_like_libxl() {
        let a = ok("bridge=xenbr0", "web1");
        let g = a.generated_macs[0].unwrap();
        assert_eq!(g.source, MacSource::Derived);
        assert_eq!(g.mac.to_string(), "00:16:3e:7e:f9:cf");
        assert_eq!(g.mac, derived_mac("web1", 0));
        assert_eq!(ok("bridge=xenbr0", "web1").toml, a.toml);
        assert!(
            a.toml.contains("mac = \"00:16:3e:7e:f9:cf\"\n"),
            "{}",
            a.toml
        );
        assert!(a.toml.contains("seed \"web1/nic0\""), "{}", a.toml);
        let cfg = parses_with_network(&a.toml, "xenbr0");
        assert_eq!(cfg.guest("web1").unwrap().nics[0].mac, g.mac);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..32 {
            let r = ok("bridge=xenbr0", DEFAULT_GUEST);
            let g = r.generated_macs[0].unwrap();
            assert_eq!(g.source, MacSource::Random);
            let o = g.mac.octets();
            assert_eq!(&o[..3], &[0x00, 0x16, 0x3e]);
            assert!(o[3] < 0x80, "{}", g.mac);
            seen.insert(g.mac);
        }
        assert!(seen.len() > 1, "random MACs repeat: {seen:?}");
    }

    #[test]
    fn rate_without_interval_gets_xls_default_interval() {
        let out = ok("bridge=br0,rate=10MB/s", "g");
        assert!(
            out.toml.contains("egress = \"10MB/s@50ms\"\n"),
            "{}",
            out.toml
        );
        let cfg = parses_with_network(&out.toml, "br0");
        let e = cfg.guests[0].nics[0].rate.egress.unwrap();
        assert_eq!(
            (e.rate().bits_per_sec(), e.burst().map(|b| b.bytes())),
            (80_000_000, Some(500_000))
        );
    }

    #[test]
    fn warnings_survive_a_failing_import() {
        let e = import("mtu=9000,mac=zz", "g").unwrap_err();
        assert_eq!(e.errors[0].key, "mac");
        assert_eq!(e.warnings.len(), 1);
        assert!(e.warnings[0].message.contains("MTU"));
        // A bridge that cannot name an hvnet network fails the import with the reason.
        let e = import("mtu=1,bridge=br@0", "g").unwrap_err();
        assert!(
            e.errors[0].message.contains("no valid hvnet network name"),
            "{}",
            e.errors[0]
        );
        assert_eq!(e.warnings.len(), 1);
        // An output the validator refuses fails the import with the reason: two NICs with
        // one MAC.
        let e = import("['mac=00:16:3e:00:00:01','mac=00:16:3e:00:00:01']", "g").unwrap_err();
        assert!(
            e.errors[0].message.contains("does not validate"),
            "{}",
            e.errors[0]
        );
        assert!(
            e.errors[0].message.contains("already used"),
            "{}",
            e.errors[0]
        );
    }

    #[test]
    fn bad_inputs_name_key_and_text() {
        let cases = [
            ("", "", "", "empty"),
            ("  ", "", "  ", "empty"),
            ("mac=00:16:3e:4f:94", "mac", "00:16:3e:4f:94", "MAC"),
            (
                "mac=01:16:3e:4f:94:a9",
                "mac",
                "01:16:3e:4f:94:a9",
                "unicast",
            ),
            ("rate=100kb/s", "rate", "100kb/s", "invalid rate"),
            ("rate=0Mb/s", "rate", "0Mb/s", "rate overflow"),
            ("rate=1MB/s@0ms", "rate", "1MB/s@0ms", "interval overflow"),
            ("rate=100b/s", "rate", "100b/s", "would block the guest"),
            ("type=pv", "type", "pv", "\"vif\" or \"ioemu\""),
            (
                "vifname=abcdefghijkl",
                "vifname",
                "abcdefghijkl",
                "at most 11",
            ),
            ("bridge=br/0", "bridge", "br/0", "'/'"),
            ("ip=192.0.2.300", "ip", "192.0.2.300", "IPv4"),
        ];
        for (spec, key, text, fragment) in cases {
            let e = bad(spec);
            assert_eq!((e.key.as_str(), e.text.as_str()), (key, text), "{spec:?}");
            let msg = e.to_string();
            assert!(msg.contains(fragment), "{spec:?}: {msg}");
        }
        assert!(import("vifname=abcdefghijk", "g").is_ok());
        assert_eq!(import(EXAMPLE, "").unwrap_err().errors[0].key, "--guest");
        assert_eq!(
            import(EXAMPLE, "we\"ird").unwrap_err().errors[0].key,
            "--guest"
        );
    }

    #[test]
    fn value_may_contain_equals_but_not_comma() {
        assert_eq!(bad("model=a=b,type=x").key, "type");
        let (v, _) = parse("model=a=b").unwrap();
        assert_eq!(v.model.as_deref(), Some("a=b"));
        let out = ok("ip=192.0.2.1,192.0.2.2", "g");
        assert_eq!(out.vifs[0].ip.len(), 1);
        assert!(warned(&out).contains("192.0.2.2: not imported: not a key=value"));
    }

    #[test]
    fn stand_in_addresses() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            stand_in_address(&[a("10.0.0.1")]).unwrap().to_string(),
            "10.0.0.2/30"
        );
        assert_eq!(
            stand_in_address(&[a("10.0.0.1"), a("10.0.0.9")])
                .unwrap()
                .to_string(),
            "10.0.0.2/28"
        );
        assert_eq!(stand_in_address(&[]), None);
    }
}
