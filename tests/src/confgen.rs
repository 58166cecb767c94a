//! Random *valid* hvnet configs for property tests: networks of kind isolated, nat and
//! routed (with rates, MTUs, `nat_ports`, now and then a routed `/0`), guests with tap NICs
//! (with rates and fixed addresses) and port forwards. Shared by the pure test in
//! hvnet-core (`#[path]`-included, so it needs nothing but `proptest` and `std`) and the
//! root test on the real kernel.
//!
//! Every generated text must pass `hvnet validate`; the tests check that too.

use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

/// A rate limit: egress and/or ingress in bit/s, and an optional burst in bytes.
#[derive(Debug, Clone)]
pub struct RateGen {
    egress: Option<u64>,
    ingress: Option<u64>,
    burst: Option<u64>,
}

/// One network.
#[derive(Debug, Clone)]
pub struct NetGen {
    kind: usize,
    prefix: u8,
    has_address: bool,
    zero_prefix: bool,
    mtu: Option<u32>,
    rate: Option<RateGen>,
    nat_ports: Option<(u16, u16)>,
}

/// One tap NIC.
#[derive(Debug, Clone)]
pub struct NicGen {
    net: usize,
    rate: Option<RateGen>,
    ip: bool,
    forward: bool,
}

/// A whole config, before it is written out.
#[derive(Debug, Clone)]
pub struct ConfGen {
    nets: Vec<NetGen>,
    guests: Vec<Vec<NicGen>>,
}

const KINDS: [&str; 3] = ["isolated", "nat", "routed"];

fn bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        8_000u64..100_000,
        100_000u64..10_000_000,
        10_000_000u64..10_000_000_000,
        Just(8_000u64),
    ]
}

fn rate() -> impl Strategy<Value = RateGen> {
    (
        proptest::option::of(bits()),
        proptest::option::of(bits()),
        proptest::option::of(1_600u64..1_000_000),
    )
        .prop_map(|(egress, ingress, burst)| RateGen {
            egress: egress.or(if ingress.is_none() {
                Some(1_000_000)
            } else {
                None
            }),
            ingress,
            burst,
        })
}

fn net() -> impl Strategy<Value = NetGen> {
    (
        0usize..3,
        16u8..=24,
        any::<bool>(),
        proptest::bool::weighted(0.15),
        proptest::option::of(1280u32..=9000),
        proptest::option::weighted(0.4, rate()),
        proptest::option::of(prop_oneof![
            Just((65535u16, 65535u16)),
            (1024u16..=65535).prop_flat_map(|lo| (Just(lo), lo..=65535)),
        ]),
    )
        .prop_map(
            |(kind, prefix, has_address, zero_prefix, mtu, rate, nat_ports)| NetGen {
                kind,
                prefix,
                has_address,
                zero_prefix,
                mtu,
                rate,
                nat_ports,
            },
        )
}

fn nic() -> impl Strategy<Value = NicGen> {
    (
        0usize..3,
        proptest::option::weighted(0.4, rate()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(net, rate, ip, forward)| NicGen {
            net,
            rate,
            ip,
            forward,
        })
}

/// The strategy: 1 to 3 networks, 0 to 3 guests of 1 or 2 tap NICs.
pub fn config() -> impl Strategy<Value = ConfGen> {
    (
        proptest::collection::vec(net(), 1..=3),
        proptest::collection::vec(proptest::collection::vec(nic(), 1..=2), 0..=3),
    )
        .prop_map(|(nets, guests)| ConfGen { nets, guests })
}

/// The burst, kept within what the kernel holds at the lowest rate of `r` (274 s of
/// traffic, see `Tbf::kernel_burst`): at most 200 s of traffic.
fn rate_toml(r: &RateGen) -> String {
    let slowest = [r.egress, r.ingress]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(8_000);
    let burst = r.burst.map(|b| b.min(slowest / 8 * 200).max(1));
    match (r.egress, r.ingress, burst) {
        (Some(e), Some(i), None) if e == i => format!("\"{e}bit\""),
        _ => {
            let mut parts = Vec::new();
            if let Some(e) = r.egress {
                parts.push(format!("egress = \"{e}bit\""));
            }
            if let Some(i) = r.ingress {
                parts.push(format!("ingress = \"{i}bit\""));
            }
            if let Some(b) = burst {
                parts.push(format!("burst = \"{b}\""));
            }
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

impl ConfGen {
    /// The config file. Bridges are `hvpbr0`…; network `i` owns 10.(60+i).0.0/16.
    pub fn toml(&self) -> String {
        let mut t = String::new();
        let one = self.nets.len() == 1;
        // Per network: whether it has an address, and its kind.
        let mut addressed = Vec::new();
        for (i, n) in self.nets.iter().enumerate() {
            let kind = KINDS[n.kind];
            let has_address = n.has_address || kind != "isolated";
            addressed.push((has_address, kind));
            t.push_str(&format!(
                "[[network]]\nname = \"n{i}\"\nkind = \"{kind}\"\nbridge = \"hvpbr{i}\"\n"
            ));
            if has_address {
                // A routed /0 only when it is the only network (it overlaps every other).
                let prefix = if one && kind == "routed" && n.zero_prefix {
                    0
                } else {
                    n.prefix
                };
                t.push_str(&format!("address = \"10.{}.0.1/{prefix}\"\n", 60 + i));
            }
            if let Some(m) = n.mtu {
                t.push_str(&format!("mtu = {m}\n"));
            }
            if let Some(r) = &n.rate {
                t.push_str(&format!("rate = {}\n", rate_toml(r)));
            }
            if let (Some((lo, hi)), "nat") = (n.nat_ports, kind) {
                t.push_str(&format!("nat_ports = \"{lo}-{hi}\"\n"));
            }
        }
        let mut host_port = 8000;
        let mut next_ip = vec![10u32; self.nets.len()];
        for (g, nics) in self.guests.iter().enumerate() {
            t.push_str(&format!("[[guest]]\nname = \"g{g}\"\n"));
            let mut forwards = Vec::new();
            for (k, nic) in nics.iter().enumerate() {
                let net = nic.net % self.nets.len();
                let (has_address, kind) = addressed[net];
                t.push_str(&format!("[[guest.nic]]\nnetwork = \"n{net}\"\n"));
                if let Some(r) = &nic.rate {
                    t.push_str(&format!("rate = {}\n", rate_toml(r)));
                }
                if nic.ip && has_address {
                    t.push_str(&format!("ip = \"10.{}.0.{}\"\n", 60 + net, next_ip[net]));
                    next_ip[net] += 1;
                    if nic.forward && kind != "isolated" {
                        forwards.push((k, host_port));
                        host_port += 1;
                    }
                }
            }
            for (k, port) in forwards {
                t.push_str(&format!(
                    "[[guest.forward]]\nhost_port = {port}\nguest_port = 80\nnic = {k}\n"
                ));
            }
        }
        t
    }
}

/// The seed of a property run: `HVNET_PROP_SEED` (hex, up to 64 digits) if set, else
/// one from the clock. Printed by the tests so a failure can be replayed.
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let text = std::env::var("HVNET_PROP_SEED").unwrap_or_else(|_| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{now:032x}")
    });
    for (i, b) in seed.iter_mut().enumerate() {
        *b = text
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    seed
}

/// `seed` as `HVNET_PROP_SEED` takes it.
pub fn seed_hex(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

/// A runner of `cases` cases from `seed`, without persisted failures (the seed is the
/// record).
pub fn runner(cases: u32, seed: &[u8; 32]) -> TestRunner {
    let config = proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, seed))
}
