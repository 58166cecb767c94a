//! The firewall benchmark (`--firewall`): one intent rendered by both backends — the nftables
//! transaction and the iptables-restore batches — against one `nft`/`iptables` exec per rule.

use std::process::Command;

use hvnet_core::firewall::{
    split_words, FirewallIntent, Forward, FwKind, FwNetwork, IpNet, Proto, Table,
};
use hvnet_core::types::IfName;
use hvnet_linux::firewall::iptables::ruleset::{self, RuleSet};
use hvnet_linux::firewall::nftables::{self, NftTable};
use hvnet_linux::firewall::{FirewallBackend, Iptables, Nftables, Variant};

use crate::common::{median, run, timed_in, Ns, Res};

/// Networks, guests per network and port forwards of the firewall benchmark.
const FW_NETS: usize = 4;
const FW_GUESTS_PER_NET: usize = 64;
const FW_FORWARDS: usize = 1000;

/// The firewall benchmark's rule set: `FW_NETS` nat networks `fwn<i>` (bridge `fwbr<i>`,
/// 10.80.<i>.0/24) with `FW_GUESTS_PER_NET` guests each at .10 upwards, and `FW_FORWARDS`
/// forwards, alternately TCP and UDP, host port 20000 + k to guest k mod 256, port 1000 + k.
fn fw_intent() -> Res<FirewallIntent> {
    let mut nets = Vec::new();
    for i in 0..FW_NETS {
        nets.push(FwNetwork {
            name: format!("fwn{i}"),
            kind: FwKind::Nat {
                uplink: None,
                port_range: None,
                nat6: false,
            },
            bridge: IfName::new(&format!("fwbr{i}")).map_err(|e| e.to_string())?,
            subnets: vec![format!("10.80.{i}.0/24")
                .parse::<IpNet>()
                .map_err(|e| e.to_string())?],
            mss_clamp: false,
        });
    }
    let guests = FW_NETS * FW_GUESTS_PER_NET;
    let forwards: Vec<Forward> = (0..FW_FORWARDS)
        .map(|k| {
            let g = k % guests;
            let (net, host) = (g / FW_GUESTS_PER_NET, g % FW_GUESTS_PER_NET);
            Forward {
                proto: if k % 2 == 0 { Proto::Tcp } else { Proto::Udp },
                host_addr: None,
                host_port: 20000 + k as u16,
                guest_ip: std::net::Ipv4Addr::new(10, 80, net as u8, 10 + host as u8).into(),
                guest_port: 1000 + k as u16,
                network: format!("fwn{net}"),
            }
        })
        .collect();
    FirewallIntent::new(nets, forwards).map_err(|e| e.to_string())
}

/// The same rule set as single `iptables` argument vectors: `-N` for every chain, `-A` for
/// every rule, then the hooks inserted at the top last first (the order in which `apply`'s
/// restore batch inserts the jumps a fresh namespace lacks).
fn fw_commands(rs: &RuleSet) -> Vec<Vec<String>> {
    let pre = |t: Table| vec!["-w".to_string(), "-t".into(), t.name().into()];
    let mut cmds = Vec::new();
    for (t, c) in ruleset::CHAINS {
        let mut a = pre(*t);
        a.extend(["-N".to_string(), (*c).to_string()]);
        cmds.push(a);
    }
    for r in rs.rules() {
        let mut a = pre(r.table);
        a.extend(["-A".to_string(), r.chain.to_string()]);
        a.extend(split_words(&r.spec));
        cmds.push(a);
    }
    for h in RuleSet::hooks().iter().rev() {
        let mut a = pre(h.table);
        a.extend(["-I".to_string(), h.builtin.to_string(), "1".into()]);
        a.extend(h.args());
        cmds.push(a);
    }
    cmds
}

/// The nftables table as single `nft` commands: the table, each set/map, each chain, each
/// rule and each element its own exec.
fn nft_commands(t: &NftTable) -> Vec<String> {
    let tb = format!("inet {}", nftables::TABLE);
    let mut cmds = vec![format!("add table {tb}")];
    for s in &t.sets {
        cmds.push(format!(
            "add {} {tb} {} {{ {}; }}",
            s.keyword,
            s.name,
            s.header.join("; ")
        ));
        for e in &s.elements {
            cmds.push(format!("add element {tb} {} {{ {e} }}", s.name));
        }
    }
    for c in &t.chains {
        match &c.header {
            Some(h) => cmds.push(format!("add chain {tb} {} {{ {h} }}", c.name)),
            None => cmds.push(format!("add chain {tb} {}", c.name)),
        }
    }
    for c in &t.chains {
        for r in &c.rules {
            cmds.push(format!("add rule {tb} {} {r}", c.name));
        }
    }
    cmds
}

struct FwFigures {
    batch: f64,
    check: f64,
    remove: f64,
}

/// How long one exec per rule took: all of them, or (`done` < `total`) the lower bound
/// after the deadline stopped the loop.
struct PerRule {
    secs: f64,
    done: usize,
    total: usize,
}

/// The per-rule loop stops here: on a loaded 2-vCPU machine `nft add element` into a table
/// of thousands of elements costs a full cache fetch per exec, and the lower bound is
/// enough for the ratio.
const PER_RULE_DEADLINE_S: f64 = 240.0;

/// One run of the firewall benchmark for one backend: apply in a fresh namespace, the
/// re-apply check (observe + compare, which must find nothing to write, so the engine plans
/// no firewall op), remove.
fn fw_measure<B: FirewallBackend + Clone + Send + 'static>(
    backend: &B,
    intent: &FirewallIntent,
) -> Res<FwFigures> {
    let ns = Ns::new_linkless("fwb")?;
    let (b, i) = (backend.clone(), intent.clone());
    let (batch, ()) = timed_in(&ns.0, move || b.apply(&i).map_err(|e| e.to_string()))?;
    let (b, i) = (backend.clone(), intent.clone());
    let (check, drift) = timed_in(&ns.0, move || b.check(&i).map_err(|e| e.to_string()))?;
    if !drift.is_empty() {
        return Err(format!("check after apply found drift: {}", drift[0]));
    }
    let b = backend.clone();
    let (remove, ()) = timed_in(&ns.0, move || b.remove().map_err(|e| e.to_string()))?;
    drop(ns);
    Ok(FwFigures {
        batch,
        check,
        remove,
    })
}

/// The same objects written by one exec each (`bin` with `cmds`) in a fresh namespace,
/// until [`PER_RULE_DEADLINE_S`]; when all ran, `check` must find no drift.
fn per_rule<B: FirewallBackend + Clone + Send + 'static>(
    backend: &B,
    intent: &FirewallIntent,
    bin: &str,
    cmds: &[Vec<String>],
) -> Res<PerRule> {
    let ns = Ns::new_linkless("fwe")?;
    let (bin, all) = (bin.to_string(), cmds.to_vec());
    let (secs, done) = timed_in(&ns.0, move || {
        let start = std::time::Instant::now();
        for (k, a) in all.iter().enumerate() {
            if start.elapsed().as_secs_f64() > PER_RULE_DEADLINE_S {
                return Ok(k);
            }
            run(Command::new(&bin).args(a))?;
        }
        Ok(all.len())
    })?;
    if done == cmds.len() {
        let (b, i) = (backend.clone(), intent.clone());
        let (_, drift) = timed_in(&ns.0, move || b.check(&i).map_err(|e| e.to_string()))?;
        if !drift.is_empty() {
            return Err(format!(
                "check after per-rule execs found drift: {}",
                drift[0]
            ));
        }
    }
    drop(ns);
    Ok(PerRule {
        secs,
        done,
        total: cmds.len(),
    })
}

/// The firewall benchmark (`--firewall`).
pub fn bench(runs: usize) -> Res<()> {
    let intent = fw_intent()?;
    let rs = ruleset::rules(&intent);
    let ipt_cmds = fw_commands(&rs);
    let count = |t: Table| rs.rules().filter(|r| r.table == t).count();
    let (filter, nat) = (count(Table::Filter), count(Table::Nat));
    let descriptors = intent.descriptors().len();
    let hooks = RuleSet::hooks().len();
    let table = nftables::render(&intent);
    let nft_rules: usize = table.chains.iter().map(|c| c.rules.len()).sum();
    let nft_elements: usize = table.sets.iter().map(|s| s.elements.len()).sum();
    let nft_cmds: Vec<Vec<String>> = nft_commands(&table).into_iter().map(|c| vec![c]).collect();
    println!(
        "firewall: {FW_NETS} nat networks × {FW_GUESTS_PER_NET} guests, {FW_FORWARDS} port forwards"
    );
    println!(
        "  iptables: {} rules ({filter} filter + {nat} nat; {descriptors} of them the intent's descriptors) in {} chains + {hooks} hooks; per-rule = {} iptables execs",
        filter + nat,
        ruleset::CHAINS.len(),
        ipt_cmds.len()
    );
    println!(
        "  nftables: {nft_rules} rules ({descriptors} of them descriptors) + {nft_elements} map/set elements in table inet {}; per-rule = {} `nft add …` execs",
        nftables::TABLE,
        nft_cmds.len()
    );
    println!(
        "medians of {runs} runs; each apply in a fresh namespace; wall clock incl. process starts; \
         re-apply = observe + compare (finds nothing to write, so no firewall write is issued)"
    );
    println!("| backend | apply (one commit) | per-rule execs | per-rule ÷ apply | re-apply check | remove |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, figs: Vec<FwFigures>, p: PerRule| {
        let pick = |f: fn(&FwFigures) -> f64| median(figs.iter().map(f).collect());
        let batch = pick(|f| f.batch);
        let (per, ratio) = if p.done == p.total {
            (
                format!("{:.2} s", p.secs),
                format!("{:.0}×", p.secs / batch),
            )
        } else {
            (
                format!(
                    "≥ {:.0} s (stopped after {} of {})",
                    p.secs, p.done, p.total
                ),
                format!("≥ {:.0}×", p.secs / batch),
            )
        };
        println!(
            "| {name} | {:.1} ms | {per} | {ratio} | {:.1} ms | {:.1} ms |",
            batch * 1e3,
            pick(|f| f.check) * 1e3,
            pick(|f| f.remove) * 1e3
        );
    };
    match Nftables::detect() {
        Some(n) => {
            let figs = (0..runs)
                .map(|_| fw_measure(&n, &intent))
                .collect::<Res<Vec<_>>>()?;
            let p = per_rule(&n, &intent, "nft", &nft_cmds)?;
            row("nftables (nft -f)", figs, p);
        }
        None => println!("| nftables | nft not installed | | | | |"),
    }
    let mut flavours = Vec::new();
    if let Ok(default) = Iptables::detect() {
        let name = match default.variant() {
            Variant::Nft => "iptables-restore (default, nf_tables)",
            Variant::Legacy => "iptables-restore (default, legacy)",
        };
        let v = default.variant();
        flavours.push((name, default, "iptables"));
        if v != Variant::Legacy {
            if let Some(l) = Iptables::with_variant(Variant::Legacy) {
                flavours.push(("iptables-legacy-restore", l, "iptables-legacy"));
            }
        }
    }
    for (name, ipt, bin) in flavours {
        let figs = (0..runs)
            .map(|_| fw_measure(&ipt, &intent))
            .collect::<Res<Vec<_>>>()?;
        let p = per_rule(&ipt, &intent, bin, &ipt_cmds)?;
        row(name, figs, p);
    }
    Ok(())
}
