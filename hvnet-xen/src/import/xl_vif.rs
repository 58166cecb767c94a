//! `hvnet import xl-vif SPEC`: one entry of an xl domain config's `vif = [ ... ]` list, such as
//! `mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms`, turned into a `[[guest]]` /
//! `[[guest.nic]]` TOML snippet.
//!
//! The spec is split the way xl's `parse_nic_config` (`tools/xl/xl_parse.c`) splits it:
//!
//! * tokens are separated by `,` and trimmed of surrounding whitespace; there is **no quoting
//!   or escaping**, so a value can never contain a comma (`ip=` lists use spaces for that
//!   reason);
//! * a token is `key=value`, split at the first `=` (so a value may contain `=`); keys are
//!   case-sensitive;
//! * `trusted` and `untrusted` are bare flags;
//! * a key given twice keeps the last value (xl overwrites; hvnet also warns);
//! * an unrecognised token is only a warning in xl, and here too.
//!
//! What each key becomes (see `xen-hotplug.md` §4, §14–§16):
//!
//! | xl key | hvnet |
//! |---|---|
//! | `mac` | `mac`; warning when outside Xen's `00:16:3e` OUI. Without `mac=`, one is generated in Xen's OUI as libxl does: derived from the guest name when `--guest` is given ([`derived_mac`]), random like libxl otherwise ([`random_mac`]) |
//! | `bridge` (default `xenbr0`) | `network = "<bridge>"`; a network of that name and bridge must exist |
//! | `vifname` | `ifname`; at most 11 bytes so that `<vifname>-emu` fits IFNAMSIZ |
//! | `rate` | parsed exactly like xl ([`XlRate`]), then `rate = { egress = "…" }` |
//! | `ip`, `script`, `type`, `model`, `gatewaydev`/`netdev`, `backend`, `mtu`, `devid`, … | comments |
//!
//! xl's `rate` limits only what the guest **sends** (netback polices guest transmit), so it
//! becomes an `egress` limit, not `rate = "…"`, which would also limit what the guest receives.

use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use hvnet_core::types::{IfName, Ipv4Cidr, MacAddr, MacPrefix, Rate, RateSpec, XlRate};

/// The bridge libxl uses when the spec has no `bridge=`.
pub const DEFAULT_BRIDGE: &str = "xenbr0";

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
    /// `ip=`: space-separated addresses (a bare address is a /32).
    pub ip: Vec<Ipv4Cidr>,
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
    /// Known xl keys that hvnet has no field for (`backend`, `mtu`, `devid`, `forwarddev`,
    /// `trusted`, …), in spec order, as `(key, value)`; bare flags have an empty value.
    pub passthrough: Vec<(String, String)>,
}

/// A spec hvnet refuses: which key, its text, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlVifError {
    /// The key (empty for the spec as a whole).
    pub key: String,
    /// The offending text.
    pub text: String,
    /// Why it is refused.
    pub message: String,
}

impl fmt::Display for XlVifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "xl vif spec {:?}: {}", self.text, self.message)
        } else {
            write!(f, "xl vif {}={:?}: {}", self.key, self.text, self.message)
        }
    }
}

impl std::error::Error for XlVifError {}

/// The result of an import: the TOML snippet and the warnings to show on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The parsed spec.
    pub vif: XlVif,
    /// The `[[guest]]` snippet, ending in a newline.
    pub toml: String,
    /// Warnings, one line each.
    pub warnings: Vec<String>,
    /// The MAC generated because the spec had none.
    pub generated_mac: Option<GeneratedMac>,
}

/// Keys xl's `parse_nic_config` knows that have no hvnet field; they are kept as comments.
const PASSTHROUGH_KEYS: [&str; 5] = ["backend", "mtu", "devid", "forwarddev", "accel"];

/// Bare flags xl's `parse_nic_config` knows.
const FLAGS: [&str; 2] = ["trusted", "untrusted"];

fn error(key: &str, text: &str, message: impl Into<String>) -> XlVifError {
    XlVifError {
        key: key.to_owned(),
        text: text.to_owned(),
        message: message.into(),
    }
}

/// Parses an xl vif spec, returning it with the warnings found on the way.
///
/// # Errors
///
/// An [`XlVifError`] naming the key and text for an empty spec, a bad `mac`, `bridge`,
/// `vifname`, `ip` or `gatewaydev`, a `rate` xl rejects or that truncates to 0 bytes per
/// interval, or an unknown `type`.
pub fn parse(spec: &str) -> Result<(XlVif, Vec<String>), XlVifError> {
    let mut vif = XlVif::default();
    let mut warnings = Vec::new();
    if spec.trim().is_empty() {
        return Err(error("", spec, "the spec is empty"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for token in spec.split(',').map(str::trim) {
        if token.is_empty() {
            warnings.push(format!("xl vif spec {spec:?}: empty entry ignored"));
            continue;
        }
        let Some((key, value)) = token.split_once('=') else {
            if FLAGS.contains(&token) {
                vif.passthrough.push((token.to_owned(), String::new()));
            } else {
                warnings.push(format!("xl vif: unrecognised entry {token:?} ignored"));
            }
            continue;
        };
        if seen.contains(&key) {
            warnings.push(format!(
                "xl vif: {key}= given more than once; the last one ({value:?}) wins, as in xl"
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
                    warnings.push(format!(
                        "xl vif: mac={mac} is outside Xen's OUI 00:16:3e (allowed, but \
                         make sure it is unique)"
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
                for addr in value.split_ascii_whitespace() {
                    vif.ip
                        .push(parse_ip(addr).map_err(|m| error(key, value, m))?);
                }
                if vif.ip.is_empty() {
                    warnings.push("xl vif: ip= is empty; ignored".to_owned());
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
            }
            "model" => {
                if value.is_empty() {
                    return Err(error(key, value, "the model is empty"));
                }
                vif.model = Some(value.to_owned());
            }
            "rate" => {
                let rate: XlRate = value
                    .parse()
                    .map_err(|e| error(key, value, format!("{e}")))?;
                vif.rate = Some(rate);
            }
            "gatewaydev" | "netdev" => {
                IfName::new(value).map_err(|e| error(key, value, format!("{e}")))?;
                if key == "netdev" {
                    warnings.push(
                        "xl vif: netdev= is deprecated in xl; read as gatewaydev=".to_owned(),
                    );
                }
                vif.gatewaydev = Some(value.to_owned());
            }
            _ if PASSTHROUGH_KEYS.contains(&key) || key.starts_with("colo_") => {
                vif.passthrough.push((key.to_owned(), value.to_owned()));
            }
            _ => warnings.push(format!("xl vif: unknown key {key}={value:?} ignored")),
        }
    }
    Ok((vif, warnings))
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

    /// hvnet's limit for what the guest sends, from xl's `rate=` (bits per second, rounded;
    /// xl's replenishment interval has no hvnet equivalent).
    #[must_use]
    pub fn egress(&self) -> Option<RateSpec> {
        let rate: Rate = self.rate?.rate();
        RateSpec::new(rate, None, None).ok()
    }

    /// The `[[guest]]` / `[[guest.nic]]` TOML for this NIC in guest `guest` (without `mac=`
    /// in the spec, the NIC gets no `mac`: see [`import`] for the generated one).
    #[must_use]
    pub fn to_toml(&self, guest: &str, spec: &str) -> String {
        self.render(guest, spec, None)
    }

    fn render(&self, guest: &str, spec: &str, generated: Option<&GeneratedMac>) -> String {
        let mut out = String::new();
        let bridge = self.bridge_or_default();
        // `writeln!` to a String cannot fail.
        let _ = writeln!(out, "# Imported from the xl vif spec {}", comment(spec));
        let _ = writeln!(
            out,
            "# Needs a [[network]] named {} with bridge = {}.",
            quote(bridge),
            quote(bridge)
        );
        if self.bridge.is_none() {
            let _ = writeln!(
                out,
                "# (no bridge= in the spec: libxl's default {DEFAULT_BRIDGE})"
            );
        }
        out.push_str("[[guest]]\n");
        let _ = writeln!(out, "name = {}", quote(guest));
        out.push_str("\n[[guest.nic]]\n");
        let _ = writeln!(out, "network = {}", quote(bridge));
        match (self.mac, generated) {
            (Some(mac), _) => {
                let _ = writeln!(out, "mac = \"{mac}\"");
            }
            (None, Some(g)) => {
                let how = match g.source {
                    MacSource::Derived => format!(
                        "derived from the guest name (seed {:?}, stable across imports)",
                        mac_seed(guest)
                    ),
                    MacSource::Random => "random, as libxl picks one (pass --guest NAME for a \
                                          stable one)"
                        .to_owned(),
                };
                let _ = writeln!(
                    out,
                    "# no mac= in the spec: generated in Xen's OUI 00:16:3e, {how}"
                );
                let _ = writeln!(out, "mac = \"{}\"", g.mac);
            }
            (None, None) => out.push_str(
                "# no mac= in the spec: xl would pick a random 00:16:3e MAC; hvnet derives a \
                 stable one\n",
            ),
        }
        if let Some(name) = &self.vifname {
            let _ = writeln!(out, "ifname = {}", quote(name));
        }
        if let (Some(xl), Some(egress)) = (self.rate, self.egress()) {
            let _ = writeln!(
                out,
                "# xl rate {xl}: {} bytes every {} us (backend key rate = \"{}\"); netback \
                 polices guest transmit only, so this is an egress limit. hvnet has no \
                 replenishment interval.",
                xl.bytes_per_interval(),
                xl.interval_usecs(),
                xl.xenstore_value()
            );
            let _ = writeln!(out, "rate = {{ egress = \"{}\" }}", egress.rate());
        }
        if !self.ip.is_empty() {
            let list: Vec<String> = self.ip.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "# xl ip = {} (hvnet's NIC ip field arrives with the virtual-networks issue)",
                list.join(" ")
            );
        }
        if let Some(script) = &self.script {
            let _ = writeln!(
                out,
                "# xl script = {}: {}",
                comment(script),
                ScriptMode::from_script(script)
            );
        }
        if let Some(t) = self.nic_type {
            let what = match t {
                XlNicType::Vif => "vif: paravirtual NIC only",
                XlNicType::Ioemu => "ioemu: emulated NIC (tap <name>-emu) plus the PV one",
            };
            let _ = writeln!(out, "# xl type = {what}");
        }
        if let Some(model) = &self.model {
            let _ = writeln!(
                out,
                "# xl model = {} (emulated device model)",
                comment(model)
            );
        }
        if let Some(dev) = &self.gatewaydev {
            let _ = writeln!(out, "# xl gatewaydev = {}", comment(dev));
        }
        for (key, value) in &self.passthrough {
            if value.is_empty() {
                let _ = writeln!(out, "# xl {key} (no hvnet equivalent)");
            } else {
                let _ = writeln!(out, "# xl {key} = {} (no hvnet equivalent)", comment(value));
            }
        }
        out
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

/// The seed of [`derived_mac`]: `<guest>/nic0`, the seed hvnet's config uses for a guest's
/// first NIC, so the address is what hvnet derives with `mac_prefix = "00:16:3e"`.
pub fn mac_seed(guest: &str) -> String {
    format!("{guest}/nic0")
}

/// A stable MAC for guest `guest`'s NIC: `00:16:3e` plus 23 bits of a hash of
/// [`mac_seed`] (the top bit of the fourth octet cleared, as libxl's random ones).
pub fn derived_mac(guest: &str) -> MacAddr {
    MacAddr::derive(&MacPrefix::XEN, &mac_seed(guest))
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

/// Parses `spec` and renders the TOML for guest `guest`.
///
/// Without `mac=` in the spec, the NIC gets a MAC in Xen's OUI: [`derived_mac`] of the guest
/// name when one was given (anything but [`DEFAULT_GUEST`]), else [`random_mac`] like libxl.
///
/// # Errors
///
/// See [`parse`]; also an empty guest name.
pub fn import(spec: &str, guest: &str) -> Result<Imported, XlVifError> {
    if !valid_name(guest) {
        return Err(error(
            "--guest",
            guest,
            "invalid guest name: use 1-64 characters from A-Z a-z 0-9 - _ ., starting with a \
             letter or digit",
        ));
    }
    let (vif, mut warnings) = parse(spec)?;
    if !valid_name(vif.bridge_or_default()) {
        warnings.push(format!(
            "xl vif: bridge {:?} is not a valid hvnet network name; rename the network and \
             edit `network =`",
            vif.bridge_or_default()
        ));
    }
    let generated = vif.mac.is_none().then(|| {
        if guest == DEFAULT_GUEST {
            GeneratedMac {
                mac: random_mac(),
                source: MacSource::Random,
            }
        } else {
            GeneratedMac {
                mac: derived_mac(guest),
                source: MacSource::Derived,
            }
        }
    });
    let toml = vif.render(guest, spec, generated.as_ref());
    Ok(Imported {
        vif,
        toml,
        warnings,
        generated_mac: generated,
    })
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

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text safe inside a one-line TOML comment: plain when printable, else quoted with escapes.
fn comment(s: &str) -> String {
    if s.chars().any(char::is_control) {
        quote(s)
    } else {
        s.to_owned()
    }
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

    fn bad(spec: &str) -> XlVifError {
        import(spec, DEFAULT_GUEST).unwrap_err()
    }

    #[test]
    fn issue_example_exact_toml() {
        let out = import(EXAMPLE, DEFAULT_GUEST).unwrap();
        assert_eq!(
            out.toml,
            "# Imported from the xl vif spec mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms\n\
             # Needs a [[network]] named \"br0\" with bridge = \"br0\".\n\
             [[guest]]\n\
             name = \"xen-guest\"\n\
             \n\
             [[guest.nic]]\n\
             network = \"br0\"\n\
             mac = \"00:16:3e:4f:94:a9\"\n\
             # xl rate 100Mb/s@20ms: 250000 bytes every 20000 us (backend key rate = \
             \"250000,20000\"); netback polices guest transmit only, so this is an egress \
             limit. hvnet has no replenishment interval.\n\
             rate = { egress = \"100mbit\" }\n"
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let cfg = parses_with_network(&out.toml, "br0");
        let g = cfg.guest("xen-guest").unwrap();
        assert_eq!(g.nics.len(), 1);
        let nic = &g.nics[0];
        assert_eq!(nic.network, "br0");
        assert_eq!(nic.mac.to_string(), "00:16:3e:4f:94:a9");
        assert!(nic.mac_given);
        assert_eq!(
            nic.rate.egress.map(|r| r.rate().bits_per_sec()),
            Some(100_000_000)
        );
        assert_eq!(nic.rate.ingress, None);
    }

    #[test]
    fn every_key() {
        let spec = " mac=00:16:3e:00:00:01 , bridge=xbr1,ip=192.0.2.10 192.0.2.0/28,\
                    script=/etc/xen/scripts/vif-route,vifname=web0,type=ioemu,model=e1000,\
                    rate=10MB/s,gatewaydev=eth0,backend=dom0,mtu=9000,devid=2,trusted";
        let out = import(spec, "web").unwrap();
        let v = &out.vif;
        assert_eq!(v.mac.unwrap().to_string(), "00:16:3e:00:00:01");
        assert_eq!(v.bridge.as_deref(), Some("xbr1"));
        assert_eq!(
            v.ip.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["192.0.2.10/32", "192.0.2.0/28"]
        );
        assert_eq!(v.script.as_deref(), Some("/etc/xen/scripts/vif-route"));
        assert_eq!(v.vifname.as_deref(), Some("web0"));
        assert_eq!(v.nic_type, Some(XlNicType::Ioemu));
        assert_eq!(v.model.as_deref(), Some("e1000"));
        assert_eq!(v.rate.unwrap().xenstore_value(), "500000,50000");
        assert_eq!(v.gatewaydev.as_deref(), Some("eth0"));
        assert_eq!(
            v.passthrough,
            [
                ("backend".to_owned(), "dom0".to_owned()),
                ("mtu".to_owned(), "9000".to_owned()),
                ("devid".to_owned(), "2".to_owned()),
                ("trusted".to_owned(), String::new()),
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let t = &out.toml;
        for line in [
            "name = \"web\"",
            "network = \"xbr1\"",
            "ifname = \"web0\"",
            "rate = { egress = \"80mbit\" }",
            "# xl ip = 192.0.2.10/32 192.0.2.0/28 (hvnet's NIC ip field arrives with the \
             virtual-networks issue)",
            "# xl script = /etc/xen/scripts/vif-route: routed mode (vif-route)",
            "# xl type = ioemu: emulated NIC (tap <name>-emu) plus the PV one",
            "# xl model = e1000 (emulated device model)",
            "# xl gatewaydev = eth0",
            "# xl backend = dom0 (no hvnet equivalent)",
            "# xl mtu = 9000 (no hvnet equivalent)",
            "# xl trusted (no hvnet equivalent)",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
        }
        let cfg = parses_with_network(t, "xbr1");
        let nic = &cfg.guest("web").unwrap().nics[0];
        assert_eq!(nic.ifname.as_deref(), Some("web0"));
    }

    #[test]
    fn missing_mac_is_generated_like_libxl() {
        // --guest given: derived from the name, stable, in 00:16:3e:00:00:00-7f:ff:ff.
        let a = import("bridge=xenbr0", "web1").unwrap();
        let g = a.generated_mac.unwrap();
        assert_eq!(g.source, MacSource::Derived);
        assert_eq!(g.mac.to_string(), "00:16:3e:7e:f9:cf");
        assert_eq!(g.mac, derived_mac("web1"));
        assert_eq!(import("bridge=xenbr0", "web1").unwrap().toml, a.toml);
        assert!(
            a.toml.contains("mac = \"00:16:3e:7e:f9:cf\"\n"),
            "{}",
            a.toml
        );
        assert!(a.toml.contains("seed \"web1/nic0\""), "{}", a.toml);
        let cfg = parses_with_network(&a.toml, "xenbr0");
        assert_eq!(cfg.guest("web1").unwrap().nics[0].mac, g.mac);
        assert_ne!(derived_mac("web2"), g.mac);

        // No --guest: random like libxl, 23 bits in Xen's OUI.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..32 {
            let r = import("bridge=xenbr0", DEFAULT_GUEST).unwrap();
            let g = r.generated_mac.unwrap();
            assert_eq!(g.source, MacSource::Random);
            let o = g.mac.octets();
            assert_eq!(&o[..3], &[0x00, 0x16, 0x3e]);
            assert!(o[3] < 0x80, "{}", g.mac);
            assert!(r.toml.contains(&format!("mac = \"{}\"", g.mac)));
            assert!(r.toml.contains("random, as libxl"));
            seen.insert(g.mac);
        }
        assert!(seen.len() > 1, "random MACs repeat: {seen:?}");

        // mac= given: nothing generated.
        let m = import("mac=00:16:3e:01:02:03", "web1").unwrap();
        assert_eq!(m.generated_mac, None);
    }

    #[test]
    fn defaults_and_modes() {
        let out = import("type=vif", "g").unwrap();
        assert!(out.toml.contains("network = \"xenbr0\""));
        assert!(out.toml.contains("libxl's default xenbr0"));
        assert!(out.toml.contains("# no mac= in the spec"));
        assert!(!out.toml.contains("rate ="));
        parses_with_network(&out.toml, "xenbr0");
        for (script, mode) in [
            ("vif-bridge", ScriptMode::Bridge),
            ("/etc/xen/scripts/vif-route-ifup", ScriptMode::Routed),
            ("vif-nat", ScriptMode::Nat),
            ("/usr/lib/hvnet/vif-hvnet", ScriptMode::Hvnet),
            ("my-script", ScriptMode::Other("my-script".to_owned())),
        ] {
            assert_eq!(ScriptMode::from_script(script), mode, "{script}");
        }
        assert!(import("script=vif-nat", "g")
            .unwrap()
            .toml
            .contains("# xl script = vif-nat: nat mode (vif-nat)"));
    }

    #[test]
    fn warnings() {
        let out = import(
            "mac=52:54:00:12:34:56,foo=bar,,bridge=a,bridge=br0,netdev=eth0,oops",
            "g",
        )
        .unwrap();
        let w = out.warnings.join("\n");
        for fragment in [
            "outside Xen's OUI 00:16:3e",
            "unknown key foo=\"bar\" ignored",
            "empty entry ignored",
            "bridge= given more than once",
            "netdev= is deprecated",
            "unrecognised entry \"oops\"",
        ] {
            assert!(w.contains(fragment), "missing {fragment:?} in\n{w}");
        }
        assert_eq!(out.vif.bridge.as_deref(), Some("br0"));
        parses_with_network(&out.toml, "br0");
    }

    #[test]
    fn value_may_contain_equals_but_not_comma() {
        // Split at the first '=': the value keeps the rest.
        assert_eq!(bad("model=a=b,type=x").key, "type");
        let out = import("model=a=b", "g").unwrap();
        assert_eq!(out.vif.model.as_deref(), Some("a=b"));
        // A comma always ends the token: "ip=1.2.3.4,5.6.7.8" leaves a bare "5.6.7.8".
        let out = import("ip=192.0.2.1,192.0.2.2", "g").unwrap();
        assert_eq!(out.vif.ip.len(), 1);
        assert!(out.warnings[0].contains("unrecognised entry \"192.0.2.2\""));
    }

    #[test]
    fn bad_inputs_name_key_and_text() {
        let cases = [
            ("", "", "", "empty"),
            ("  ", "", "  ", "empty"),
            ("mac=00:16:3e:4f:94", "mac", "00:16:3e:4f:94", "MAC"),
            ("mac=zz:16:3e:4f:94:a9", "mac", "zz:16:3e:4f:94:a9", "MAC"),
            (
                "mac=01:16:3e:4f:94:a9",
                "mac",
                "01:16:3e:4f:94:a9",
                "unicast",
            ),
            ("rate=100kb/s", "rate", "100kb/s", "invalid rate"),
            ("rate=0Mb/s", "rate", "0Mb/s", "rate overflow"),
            ("rate=1MB/s@0ms", "rate", "1MB/s@0ms", "interval overflow"),
            ("rate=", "rate", "", "no rate specified"),
            ("rate=100b/s", "rate", "100b/s", "would block the guest"),
            (
                "rate=1KB/s@1us",
                "rate",
                "1KB/s@1us",
                "would block the guest",
            ),
            ("type=pv", "type", "pv", "\"vif\" or \"ioemu\""),
            ("vifname=averylongname", "vifname", "averylongname", "-emu"),
            (
                "vifname=abcdefghijkl",
                "vifname",
                "abcdefghijkl",
                "at most 11",
            ),
            (
                "vifname=averyveryverylongname",
                "vifname",
                "averyveryverylongname",
                "at most 15",
            ),
            ("bridge=br/0", "bridge", "br/0", "'/'"),
            ("ip=192.0.2.300", "ip", "192.0.2.300", "IPv4"),
        ];
        for (spec, key, text, fragment) in cases {
            let e = bad(spec);
            assert_eq!((e.key.as_str(), e.text.as_str()), (key, text), "{spec:?}");
            let msg = e.to_string();
            assert!(msg.contains(fragment), "{spec:?}: {msg}");
            if !key.is_empty() {
                assert!(
                    msg.contains(&format!("{key}=\"{text}\"")),
                    "{spec:?}: {msg}"
                );
            }
        }
        // The 11-byte limit is inclusive.
        assert!(import("vifname=abcdefghijk", "g").is_ok());
        assert_eq!(import(EXAMPLE, "").unwrap_err().key, "--guest");
        assert_eq!(import(EXAMPLE, "we\"ird").unwrap_err().key, "--guest");
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
        assert_eq!(comment("x\ny"), "\"x\\u000Ay\"");
        assert_eq!(comment("vif-nat"), "vif-nat");
    }
}
