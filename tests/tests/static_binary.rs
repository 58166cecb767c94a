//! The shipped binary is linked static-pie (`scripts/build.sh`). `scripts/test.sh` relinks
//! `target/debug/hvnet` that way after the rest of the suite and runs these with
//! `--ignored`: the binary has no program interpreter and stays position-independent, and
//! a tap `owner`/`group` resolves without glibc loading NSS modules into it (a name
//! `/etc/passwd` does not hold sends glibc to `libnss_systemd.so.2`, and a static binary
//! that loads it crashes).

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

const IGNORED: &str = "needs target/debug/hvnet linked static-pie: scripts/test.sh relinks it";

/// `(e_type, program header types)` of a 64-bit little-endian ELF file.
fn elf_headers(bytes: &[u8]) -> (u16, Vec<u32>) {
    assert_eq!(
        &bytes[..6],
        b"\x7fELF\x02\x01",
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = usize::try_from(u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap())).unwrap();
    let (size, count) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    let types = (0..count).map(|i| u32_at(phoff + i * size)).collect();
    (u16_at(0x10), types)
}

#[test]
#[ignore = "needs target/debug/hvnet linked static-pie: scripts/test.sh relinks it"]
fn hvnet_is_static_pie() {
    const ET_DYN: u16 = 3;
    const PT_INTERP: u32 = 3;
    let bytes = std::fs::read(hvnet_bin()).unwrap();
    let (kind, types) = elf_headers(&bytes);
    assert_eq!(kind, ET_DYN, "{IGNORED}: not position-independent");
    assert!(
        !types.contains(&PT_INTERP),
        "{IGNORED}: it has a program interpreter"
    );
}

const CONFIG: &str = r#"
[[network]]
name = "stat"
kind = "internal"
bridge = "statbr0"

[[guest]]
name = "vm1"
[[guest.nic]]
network = "stat"
ifname = "stat-tap0"
owner = "OWNER"
group = "nogroup"
"#;

#[test]
#[ignore = "needs target/debug/hvnet linked static-pie: scripts/test.sh relinks it"]
fn static_hvnet_resolves_tap_owners_without_nss_modules() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("static");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);

    // A user no NSS source knows: an input error naming the field, not a crash.
    let unknown = dir.write(
        "unknown.toml",
        &CONFIG.replace("OWNER", "no-such-user-hvnet"),
    );
    let r = hv.run(&unknown, &["apply"]);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("unknown.toml:12:9") && r.stderr.contains("no user named"),
        "{r}"
    );
    let names: Vec<_> = links(ns.name())
        .iter()
        .map(|l| l["ifname"].clone())
        .collect();
    assert_eq!(names, ["lo"], "an input error changed the host");

    // A user of /etc/passwd, through the per-guest verb's own parse.
    let known = dir.write("known.toml", &CONFIG.replace("OWNER", "nobody"));
    hv.run(&known, &["apply"]).ok();
    hv.run(&known, &["guest", "down", "vm1"]).ok();
    hv.run(&known, &["guest", "up", "vm1"]).ok();
    let tap = must_link(ns.name(), "stat-tap0");
    assert_eq!(tap["linkinfo"]["info_data"]["user"], "nobody", "{tap}");
    assert_eq!(tap["linkinfo"]["info_data"]["group"], "nogroup", "{tap}");
    hv.run(&known, &["down"]).ok();
}
