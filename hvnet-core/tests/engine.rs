//! The whole pipeline without root: the engine over the in-memory host — plan, apply,
//! check, down, one guest up and down, a live rate; a failure injected at every op; a
//! "kill -9" before every op, followed by the next command's recovery.

#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeKernel, Taps};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, Intent, Scope};
use hvnet_core::observed::ObservedState;
use hvnet_core::services::ip_forward_key;

/// A nat network with DHCP and a port forward (firewall, dnsmasq, ip_forward), an isolated
/// one, a dynamic one, rate limits (IFBs, tbfs, redirects).
const A: &str = r#"
[[network]]
name = "nat"
kind = "nat"
bridge = "virbr7"
address = "192.168.77.1/24"
uplink = "eth0"
[network.dhcp]

[[network]]
name = "iso"
kind = "isolated"
bridge = "iso0"
address = "10.66.0.1/24"

[[network]]
name = "dyn"
kind = "internal"
bridge = "vmbridge"
lifetime = "dynamic"

[[guest]]
name = "web"
[[guest.nic]]
network = "nat"
ip = "192.168.77.10"
rate = "10mbit"
[[guest.forward]]
host_port = 8080
guest_port = 80

[[guest]]
name = "db"
[[guest.nic]]
network = "iso"
[[guest.nic]]
network = "dyn"
"#;

/// A change of A: a guest gone, another added, a rate changed, the forward moved.
const B: &str = r#"
[[network]]
name = "nat"
kind = "nat"
bridge = "virbr7"
address = "192.168.77.1/24"
uplink = "eth0"
[network.dhcp]

[[network]]
name = "iso"
kind = "isolated"
bridge = "iso0"
address = "10.66.0.1/24"

[[guest]]
name = "web"
[[guest.nic]]
network = "nat"
ip = "192.168.77.10"
rate = "20mbit"
[[guest.forward]]
host_port = 8081
guest_port = 80

[[guest]]
name = "cache"
[[guest.nic]]
network = "iso"
"#;

fn cfg(text: &str) -> Config {
    Config::parse(text, "engine.toml").unwrap()
}

/// A host with a default route out of eth0 and ip_forward off.
fn start() -> FakeKernel {
    let mut k = FakeKernel::new();
    let eth0 = k.state.link("eth0").unwrap().ifindex;
    k.state.routes.push(hvnet_core::observed::ObservedRoute {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("10.0.0.1".parse().unwrap()),
        oif: Some(eth0),
        src: None,
        metric: None,
        table: 254,
        protocol: 3,
    });
    k.state.sysctls.insert(ip_forward_key(), "0".into());
    k
}

/// What the tests compare: everything a command may change (except the name hints), with
/// links named rather than numbered (a link recreated by a rollback gets a new index).
fn view(s: &ObservedState) -> String {
    let name = |i: u32| s.by_index(i).map_or(format!("#{i}"), |l| l.name.clone());
    let mut links: Vec<_> = s
        .links
        .iter()
        .map(|l| {
            let master = l.master.map(name);
            format!(
                "{} {:?} {master:?} {} {:?} {} {:?}",
                l.name, l.kind, l.mtu, l.mac, l.up, l.alias
            )
        })
        .collect();
    links.sort();
    let mut addrs: Vec<_> = s
        .addrs
        .iter()
        .map(|a| format!("{} {}", name(a.ifindex), a.cidr))
        .collect();
    addrs.sort();
    let mut routes: Vec<_> = s
        .routes
        .iter()
        .map(|r| {
            format!(
                "{} {:?} {:?} {}",
                r.dst,
                r.gateway,
                r.oif.map(name),
                r.protocol
            )
        })
        .collect();
    routes.sort();
    let mut qdiscs: Vec<_> = s
        .qdiscs
        .iter()
        .map(|q| format!("{} {} {} {:?}", name(q.ifindex), q.handle, q.root, q.kind))
        .collect();
    qdiscs.sort();
    let mut redirects: Vec<_> = s
        .redirects
        .iter()
        .map(|r| format!("{}>{}", name(r.ifindex), name(r.target)))
        .collect();
    redirects.sort();
    let hairpin: Vec<_> = s.hairpin.iter().map(|i| name(*i)).collect();
    let running: Vec<_> = s
        .dhcp
        .iter()
        .filter(|d| d.pid.is_some())
        .map(|d| (&d.network, &d.conf, &d.hosts))
        .collect();
    let chains: Vec<String> = s
        .firewall
        .as_ref()
        .and_then(|f| f.current())
        .map(|r| r.descriptors())
        .unwrap_or_default();
    format!(
        "links {links:#?}\naddrs {addrs:?}\nroutes {routes:?}\nqdiscs {qdiscs:#?}\nredirects {redirects:?}\nsysctls {:?}\nsaved {:?}\nhairpin {hairpin:?}\ndhcp {running:?}\nfirewall {chains:#?}",
        s.sysctls, s.saved_sysctls,
    )
}

/// Asserts two views are equal, showing only the lines that differ.
#[track_caller]
fn same(have: &str, want: &str, context: &str) {
    if have == want {
        return;
    }
    let (h, w): (Vec<&str>, Vec<&str>) = (have.lines().collect(), want.lines().collect());
    let extra: Vec<_> = h.iter().filter(|l| !w.contains(l)).collect();
    let missing: Vec<_> = w.iter().filter(|l| !h.contains(l)).collect();
    panic!("{context}: differs\n  extra:   {extra:#?}\n  missing: {missing:#?}");
}

fn engine(k: FakeKernel) -> Engine<FakeKernel> {
    Engine::new(k, Taps).with_source("engine.toml")
}

/// Runs a mutating verb as the CLI does: recover, plan, apply.
fn run(k: FakeKernel, c: &Config, scope: &Scope, intent: Intent) -> FakeKernel {
    let mut e = engine(k);
    e.run(c, scope, intent).unwrap();
    e.into_host()
}

fn in_sync(k: FakeKernel, c: &Config) -> FakeKernel {
    let mut e = engine(k);
    let p = e.check(c).unwrap();
    assert!(p.plan.is_empty(), "check after apply:\n{}", p.plan);
    e.into_host()
}

#[test]
fn apply_check_down_on_the_in_memory_host() {
    let (a, b) = (cfg(A), cfg(B));
    let k = run(start(), &a, &Scope::Config, Intent::Up);
    assert!(k.state.link("virbr7").is_some() && k.state.link("vmbridge").is_some());
    assert_eq!(k.state.sysctls[&ip_forward_key()], "1");
    assert!(k.state.dhcp.iter().any(|d| d.pid.is_some()));
    assert!(k.journal.is_none());
    let k = in_sync(k, &a);
    let k = run(k, &b, &Scope::Config, Intent::Up);
    let k = in_sync(k, &b);
    let k = run(k, &b, &Scope::Config, Intent::Down);
    same(&view(&k.state), &view(&start().state), "down");
}

/// Plans of each verb, from the state each verb starts from.
fn scenarios() -> Vec<(&'static str, FakeKernel, Config, Scope, Intent)> {
    let (a, b) = (cfg(A), cfg(B));
    let applied = run(start(), &a, &Scope::Config, Intent::Up);
    // A host with the networks but without guest db (for guest up).
    let without_db = run(
        applied.clone(),
        &a,
        &Scope::Guest("db".into()),
        Intent::Down,
    );
    vec![
        (
            "apply from scratch",
            start(),
            a.clone(),
            Scope::Config,
            Intent::Up,
        ),
        (
            "apply of a change",
            applied.clone(),
            b,
            Scope::Config,
            Intent::Up,
        ),
        (
            "down",
            applied.clone(),
            a.clone(),
            Scope::Config,
            Intent::Down,
        ),
        (
            "guest up",
            without_db,
            a.clone(),
            Scope::Guest("db".into()),
            Intent::Up,
        ),
        (
            "guest down",
            applied,
            a,
            Scope::Guest("db".into()),
            Intent::Down,
        ),
    ]
}

/// A failure at op k of any verb leaves the host exactly as it was, with no record left.
#[test]
fn a_fault_at_every_op_rolls_back_completely() {
    let mut tried = 0;
    for (what, host, c, scope, intent) in scenarios() {
        let n = {
            let mut e = engine(host.clone());
            e.plan(&c, &scope, intent).unwrap().plan.len()
        };
        assert!(n > 2, "{what}: {n} ops");
        for k in 1..=n {
            let mut e = engine(host.clone());
            e.fault_at = Some(k);
            let planned = e.plan(&c, &scope, intent).unwrap();
            match e.apply(&planned) {
                Err(EngineError::Txn(t)) => {
                    assert_eq!(t.step, k, "{what}");
                    assert!(t.rollback_errors.is_empty(), "{what} at {k}: {t}");
                }
                other => panic!("{what} at {k}: {other:?}"),
            }
            let after = e.into_host();
            assert!(after.journal.is_none(), "{what} at {k}");
            same(
                &view(&after.state),
                &view(&host.state),
                &format!("{what}: fault at op {k}"),
            );
            tried += 1;
        }
    }
    assert!(tried > 50, "{tried}");
}

/// Killed before op k (k = 0 … n) of any verb: the next mutating command rolls the half-done
/// transaction back (the host is as before the killed command), goes on to do its own work,
/// and everything ends clean.
#[test]
fn a_crash_before_every_op_is_recovered_by_the_next_command() {
    let mut tried = 0;
    for (what, host, c, scope, intent) in scenarios() {
        let n = engine(host.clone())
            .plan(&c, &scope, intent)
            .unwrap()
            .plan
            .len();
        for k in 0..=n {
            let mut crashing = host.clone();
            crashing.crash_at_count = Some(crashing.executed + k);
            let mut e = engine(crashing);
            let _ = e.run(&c, &scope, intent);
            let mut dead = e.into_host();
            assert!(dead.crashed() || k == n, "{what}: {k}");
            dead.revive();
            if k < n {
                assert!(
                    dead.journal.is_some(),
                    "{what}: crash before op {k} lost the record"
                );
            }
            // The next command first recovers: back to where the killed one started.
            let mut e = engine(dead);
            e.recover().unwrap();
            let recovered = e.into_host();
            assert!(recovered.journal.is_none());
            if k < n {
                same(
                    &view(&recovered.state),
                    &view(&host.state),
                    &format!("{what}: crash before op {k}"),
                );
            }
            // And the verb, run again, converges; `down` then leaves nothing.
            let again = run(recovered, &c, &scope, intent);
            let again = if scope == Scope::Config && intent == Intent::Up {
                in_sync(again, &c)
            } else {
                again
            };
            let gone = run(again, &c, &Scope::Config, Intent::Down);
            let gone = run(gone, &cfg(B), &Scope::Config, Intent::Down);
            same(
                &view(&gone.state),
                &view(&start().state),
                &format!("{what}: after a crash before op {k}, `down`"),
            );
            tried += 1;
        }
    }
    assert!(tried > 50, "{tried}");
}

/// `rate` on a guest whose links are down is refused and creates nothing.
#[test]
fn rate_of_a_guest_that_is_down_is_refused() {
    let a = cfg(A);
    let k = run(start(), &a, &Scope::Guest("web".into()), Intent::Down);
    let before = view(&k.state);
    let mut e = engine(k);
    let scope = Scope::Nic {
        guest: "web".into(),
        nic: 0,
    };
    match e.plan(&a, &scope, Intent::Retune) {
        Err(EngineError::Refused(m)) => {
            assert!(
                m.contains("guest web is down; `hvnet guest up web` first"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(view(&e.into_host().state), before);
}

/// A live rate change touches only the NIC's shaping, nothing else.
#[test]
fn rate_changes_only_the_nics_shaping() {
    let a = cfg(A);
    let k = run(start(), &a, &Scope::Config, Intent::Up);
    let mut faster = a.clone();
    faster.guests[0].nics[0].rate.egress = Some("50mbit".parse().unwrap());
    let mut e = engine(k);
    let scope = Scope::Nic {
        guest: "web".into(),
        nic: 0,
    };
    let p = e.plan(&faster, &scope, Intent::Retune).unwrap();
    assert_eq!(p.plan.len(), 1, "{}", p.plan);
    assert!(
        p.plan.ops[0].to_string().starts_with("limit hvi"),
        "{}",
        p.plan
    );
}

/// The journal holds the whole plan before the first op runs, and is gone after.
#[test]
fn the_journal_records_before_and_clears_after() {
    let a = cfg(A);
    let mut e = engine(start());
    let p = e.plan(&a, &Scope::Config, Intent::Up).unwrap();
    let mut k = e.into_host();
    k.crash_at_count = Some(k.executed);
    let mut e = engine(k);
    let _ = e.apply(&p);
    let k = e.into_host();
    let rec = k.journal.clone().unwrap();
    assert_eq!(rec.verb, "apply");
    assert_eq!(rec.ops, p.plan.ops);
    // A record survives a round trip through its serialised form.
    let json = serde_json::to_string(&rec).unwrap();
    let back: hvnet_core::backend::Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rec);
}
