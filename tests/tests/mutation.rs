//! Deterministic mutation run (issue 15 §6): thousands of mutants of the example configs and
//! the test fixtures go through the config parser and validator, the three importers, xl
//! rates and xenstore values, in-process ([`hvnet_tests::inputs`]). Every mutant must give
//! no panic, finish well under a second (a hang detector, not a timing goal: the bound is
//! generous), and every rejection must carry its position (`FILE:LINE:COL` for a config).
//!
//! The run is seeded; the seed is printed, and `HVNET_MUTATION_SEED=N` repeats a run. A
//! failure prints the seed, the target and the mutant. No root needed.

#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hvnet_tests::inputs::{self, Outcome};

/// The seed used when `HVNET_MUTATION_SEED` is not set.
const DEFAULT_SEED: u64 = 0x4856_4e45_5431_3505;

/// Far above any parse of these inputs (well under a millisecond each), far below a hang.
const HANG_BOUND: Duration = Duration::from_secs(1);

/// splitmix64: a small deterministic generator (the run must repeat exactly from its seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What mutants are made of besides the seed's own bytes: syntax, boundaries, odd bytes.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "=",
    ",",
    "\n",
    "#",
    "{",
    "}",
    "<",
    ">",
    "/>",
    "</",
    "@",
    "/",
    ":",
    ".",
    "-",
    "\\",
    "\0",
    "\u{feff}",
    "\u{7f}",
    "\t",
    " ",
    "0",
    "1",
    "-1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999",
    "0.5",
    "1e9",
    "nan",
    "true",
    "false",
    "none",
    "infinite",
    "255.255.255.255",
    "0.0.0.0",
    "10.0.0.1/0",
    "/32",
    "/33",
    "00:16:3e:00:00:01",
    "ff:ff:ff:ff:ff:ff",
    "@20ms",
    "@0ms",
    "Mb/s",
    "MB/s",
    "mbit",
    "kbps",
    "KiB",
    "burst",
    "peak",
    "if ",
    "fi",
    "then",
    "$(",
    "`",
    "export ",
    "vif = [",
    "'mac=",
    "bridge=",
    "ip=",
    "rate=",
    "script=vif-route",
    "é",
    "€",
    "\u{1F600}",
    "xenbr0",
    "name = ",
    "kind = \"nat\"",
    "[network.dhcp]",
    "dns_only = true",
    "<dhcp/>",
    "<dns enable='no'/>",
    "<bandwidth>",
    "expiry='",
    "unit='hours'",
];

/// 1 to 4 random edits of `seed` (with a splice from `other`).
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let len = m.len();
        let at = if len == 0 { 0 } else { rng.below(len + 1) };
        match rng.below(9) {
            0 if len > 0 => {
                let n = 1 + rng.below(len.min(16));
                let at = at.min(len - n.min(len));
                m.drain(at..(at + n).min(len));
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                m.splice(at..at, t.iter().copied());
            }
            2 if len > 0 => {
                let i = at.min(len - 1);
                m[i] = (rng.next() & 0xff) as u8;
            }
            3 if len > 0 => {
                // Duplicate a chunk (repeated keys, tables, elements).
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let chunk = m[start..end].to_vec();
                m.splice(at..at, chunk);
            }
            4 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(80)).min(other.len());
                m.splice(at..at, other[start..end].iter().copied());
            }
            5 => m.truncate(at),
            6 => {
                // Replace a run of digits by a boundary number.
                if let Some(p) = m.iter().skip(at).position(u8::is_ascii_digit) {
                    let s = at + p;
                    let e = m[s..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(m.len(), |q| s + q);
                    let t =
                        ["0", "65535", "4294967296", "18446744073709551616", "007"][rng.below(5)];
                    m.splice(s..e, t.bytes());
                }
            }
            7 => {
                // Swap two lines.
                let text = String::from_utf8_lossy(&m).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                if lines.len() > 1 {
                    let a = rng.below(lines.len());
                    let b = rng.below(lines.len());
                    lines.swap(a, b);
                    m = lines.join("\n").into_bytes();
                }
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let end = (at + 1 + rng.below(8)).min(m.len());
                if at < end {
                    m.splice(at..end, t.iter().copied());
                }
            }
        }
    }
    m
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file in `dir` ending in `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

/// The README's ```toml examples.
fn readme_tomls() -> Vec<Vec<u8>> {
    let text = String::from_utf8(read(&root().join("README.md"))).unwrap();
    text.split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(t, _)| t.as_bytes().to_vec()))
        .collect()
}

/// A libvirt network with the elements §5 translates or warns about.
const RICH_XML: &str = "<network ipv6='yes' trustGuestRxFilters='no'>\n  <name>rich</name>\n\
  <uuid>0b5ac0a0-4d8c-4a44-a6f0-5b4b0b5b7f50</uuid>\n  <forward mode='nat' dev='eth0'><nat><port start='1024' end='65535'/></nat></forward>\n\
  <bridge name='virbr7' stp='on' delay='0' macTableManager='libvirt' zone='trusted'/>\n  <mac address='52:54:00:0a:0b:0c'/>\n  <mtu size='9000'/>\n\
  <domain name='example.lan' localOnly='yes'/>\n  <dns enable='yes'><forwarder addr='8.8.8.8'/><host ip='10.7.0.9'><hostname>h</hostname></host></dns>\n\
  <bandwidth><inbound average='1000' peak='2000' burst='64'/><outbound average='500'/></bandwidth>\n\
  <ip address='10.7.0.1' prefix='24' localPtr='yes'>\n    <dhcp>\n      <range start='10.7.0.100' end='10.7.0.200'><lease expiry='18446744073709551615' unit='hours'/></range>\n\
      <host mac='52:54:00:00:00:01' ip='10.7.0.5' name='vm1'><lease expiry='5'/></host>\n    </dhcp>\n  </ip>\n\
  <ip family='ipv6' address='fd00::1' prefix='64'/>\n</network>\n";

const XL_SPECS: &[&str] = &[
    "mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms",
    "'mac=00:16:3e:4f:94:a9,bridge=xenbr0'",
    "vif = [ 'mac=00:16:3e:00:00:01,bridge=br0', \"bridge=br1,ip=10.0.0.5\", 'script=vif-nat,ip=10.1.0.2' ]",
    "mac=00:16:3e:00:00:01,script=/etc/xen/scripts/vif-route,ip=192.0.2.10 192.0.2.11/28,gatewaydev=eth0",
    "bridge=xbr1,vlan=10,mtu=9000,model=e1000,type=ioemu,vifname=web0,backend=dom0,devid=2,trusted,colo_x=1",
];

const RATES: &[&str] = &[
    "100Mb/s@20ms",
    "10MB/s",
    "1Kb/s@50ms",
    "010Mb/s@020ms",
    "250000,20000",
    "100mbit",
    "100mbit burst 64kb peak 200mbit",
    "12.5mbps",
    "4294967295GB/s@1us",
    "1B/s@4294967295us",
];

const XENSTORE: &[&str] = &[
    "bridge=xenbr0\nmac=00:16:3e:00:00:01\nrate=250000,20000\nmtu=1500\nfrontend-id=5\nhandle=0\ntype=vif_ioemu\n",
    "ip=10.0.0.5 10.0.0.6\nscript=/etc/xen/scripts/vif-hvnet\nvifname=web0\ngatewaydev=eth0\nrate=0,50000\n",
];

type Entry = fn(&[u8]) -> Outcome;

struct Tally {
    accepted: usize,
    rejected: usize,
    slowest: Duration,
}

/// Runs `count` mutants of `seeds` through `entry`; failures are appended to `failures`.
fn run(
    name: &str,
    entry: Entry,
    seeds: &[Vec<u8>],
    count: usize,
    rng: &mut Rng,
    failures: &mut Vec<String>,
) -> Tally {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut t = Tally {
        accepted: 0,
        rejected: 0,
        slowest: Duration::ZERO,
    };
    for i in 0..count {
        // The unmutated seeds first: they must pass too.
        let m = if i < seeds.len() {
            seeds[i].clone()
        } else {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            mutate(a, b, rng)
        };
        let start = Instant::now();
        let got = catch_unwind(AssertUnwindSafe(|| entry(&m)));
        let took = start.elapsed();
        t.slowest = t.slowest.max(took);
        let shown = || {
            let s = String::from_utf8_lossy(&m);
            let s: String = s.chars().take(2000).collect();
            format!("{s:?}")
        };
        match got {
            Ok(Outcome::Accepted) => t.accepted += 1,
            Ok(Outcome::Rejected) => t.rejected += 1,
            Err(_) => failures.push(format!(
                "{name} mutant {i} panicked (message above): {}",
                shown()
            )),
        }
        if took > HANG_BOUND {
            failures.push(format!(
                "{name} mutant {i} took {took:?} (> {HANG_BOUND:?}): {}",
                shown()
            ));
        }
    }
    t
}

#[test]
fn mutants_never_panic_hang_or_lose_their_position() {
    let seed = std::env::var("HVNET_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("mutation run seed: {seed} (repeat with HVNET_MUTATION_SEED={seed})");
    let mut rng = Rng(seed);
    // The hand-written seeds are valid inputs: mutants start from accepted ground.
    assert_eq!(inputs::libvirt(RICH_XML.as_bytes()), Outcome::Accepted);
    for s in XL_SPECS {
        assert_eq!(inputs::xl_vif(s.as_bytes()), Outcome::Accepted, "{s}");
    }
    for s in RATES {
        assert_eq!(inputs::rates(s.as_bytes()), Outcome::Accepted, "{s}");
    }
    assert_eq!(inputs::xenstore(XENSTORE[0].as_bytes()), Outcome::Accepted);
    let mut configs = files("tests/malformed", ".toml");
    configs.push(read(&root().join("hvnet-cli/src/demo.toml")));
    configs.extend(readme_tomls());
    let mut xml = files("hvnet-kvm/tests/data/libvirt", ".xml");
    xml.extend(files("hvnet-kvm/tests/golden", ".xml"));
    xml.push(RICH_XML.as_bytes().to_vec());
    let sh = vec![read(
        &root().join("hvnet-kvm/tests/data/usr_guest_config.sh"),
    )];
    let bytes = |l: &[&str]| l.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let targets: [(&str, Entry, Vec<Vec<u8>>, usize); 6] = [
        ("config", inputs::config, configs, 3000),
        ("libvirt-network", inputs::libvirt, xml, 1000),
        ("usr-guest-config", inputs::usr_guest, sh, 600),
        ("xl-vif", inputs::xl_vif, bytes(XL_SPECS), 600),
        ("xl-rate", inputs::rates, bytes(RATES), 500),
        ("xenstore", inputs::xenstore, bytes(XENSTORE), 300),
    ];
    let mut failures = Vec::new();
    let mut total = 0;
    let started = Instant::now();
    for (name, entry, seeds, count) in &targets {
        let t = run(name, *entry, seeds, *count, &mut rng, &mut failures);
        total += count;
        println!(
            "{name}: {count} inputs ({} seeds), {} accepted, {} rejected, slowest {:?}",
            seeds.len(),
            t.accepted,
            t.rejected,
            t.slowest
        );
    }
    println!("{total} inputs in {:?}", started.elapsed());
    assert!(total >= 5000);
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
