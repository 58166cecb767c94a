//! The firewall benchmark (`--firewall`): hvnet's iptables backend against one `iptables`
//! exec per rule.

use std::process::Command;

use hvnet_core::firewall::{self, Forward, FwKind, FwNetwork, Proto, RuleSet, Table};
use hvnet_core::types::{IfName, Ipv4Cidr};
use hvnet_linux::firewall::{FirewallBackend, Iptables, Variant};

use crate::common::{median, run, timed_in, Ns, Res};

/// Networks, guests per network and port forwards of the firewall benchmark.
const FW_NETS: usize = 4;
const FW_GUESTS_PER_NET: usize = 64;
const FW_FORWARDS: usize = 1000;

/// The firewall benchmark's rule set: `FW_NETS` nat networks `fwn<i>` (bridge `fwbr<i>`,
/// 10.80.<i>.0/24) with `FW_GUESTS_PER_NET` guests each at .10 upwards, and `FW_FORWARDS`
/// forwards, alternately TCP and UDP, host port 20000 + k to guest k mod 256, port 1000 + k.
fn fw_ruleset() -> Res<RuleSet> {
    let mut nets = Vec::new();
    for i in 0..FW_NETS {
        nets.push(FwNetwork {
            name: format!("fwn{i}"),
            kind: FwKind::Nat {
                uplink: None,
                port_range: None,
            },
            bridge: IfName::new(&format!("fwbr{i}")).map_err(|e| e.to_string())?,
            subnet: format!("10.80.{i}.1/24")
                .parse::<Ipv4Cidr>()
                .map_err(|e| e.to_string())?,
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
                guest_ip: std::net::Ipv4Addr::new(10, 80, net as u8, 10 + host as u8),
                guest_port: 1000 + k as u16,
                network: format!("fwn{net}"),
            }
        })
        .collect();
    firewall::rules(&nets, &forwards).map_err(|e| e.to_string())
}

/// The same rule set as single `iptables` argument vectors: `-N` for every chain, `-A` for
/// every rule, then the hooks inserted at the top last first (the order in which `apply`'s
/// restore batch inserts the jumps a fresh namespace lacks).
fn fw_commands(rs: &RuleSet) -> Vec<Vec<String>> {
    let pre = |t: Table| vec!["-w".to_string(), "-t".into(), t.name().into()];
    let mut cmds = Vec::new();
    for (t, c) in firewall::CHAINS {
        let mut a = pre(*t);
        a.extend(["-N".to_string(), (*c).to_string()]);
        cmds.push(a);
    }
    for r in rs.rules() {
        let mut a = pre(r.table);
        a.extend(["-A".to_string(), r.chain.to_string()]);
        a.extend(firewall::split_words(&r.spec));
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

struct FwFigures {
    batch: f64,
    per_rule: f64,
    check: f64,
    remove: f64,
}

/// One run of the firewall benchmark for one flavour (`bin` is its `iptables` binary).
fn fw_measure(ipt: &Iptables, bin: &str, rs: &RuleSet, cmds: &[Vec<String>]) -> Res<FwFigures> {
    // hvnet: apply (restore batches + hooks), check (must find no drift), remove.
    let ns = Ns::new_linkless("fwb")?;
    let (b, r) = (ipt.clone(), rs.clone());
    let (batch, ()) = timed_in(&ns.0, move || b.apply(&r).map_err(|e| e.to_string()))?;
    let (b, r) = (ipt.clone(), rs.clone());
    let (check, drift) = timed_in(&ns.0, move || b.check(&r).map_err(|e| e.to_string()))?;
    if !drift.is_empty() {
        return Err(format!("check after apply found drift: {}", drift[0]));
    }
    let b = ipt.clone();
    let (remove, ()) = timed_in(&ns.0, move || b.remove().map_err(|e| e.to_string()))?;
    drop(ns);

    // One iptables exec per chain, rule and hook.
    let ns = Ns::new_linkless("fwe")?;
    let (bin, all) = (bin.to_string(), cmds.to_vec());
    let (per_rule, ()) = timed_in(&ns.0, move || {
        for a in &all {
            run(Command::new(&bin).args(a))?;
        }
        Ok(())
    })?;
    let (b, r) = (ipt.clone(), rs.clone());
    let (_, drift) = timed_in(&ns.0, move || b.check(&r).map_err(|e| e.to_string()))?;
    if !drift.is_empty() {
        return Err(format!(
            "check after per-rule execs found drift: {}",
            drift[0]
        ));
    }
    drop(ns);
    Ok(FwFigures {
        batch,
        per_rule,
        check,
        remove,
    })
}

/// The firewall benchmark (`--firewall`).
pub fn bench(runs: usize) -> Res<()> {
    let rs = fw_ruleset()?;
    let cmds = fw_commands(&rs);
    let count = |t: Table| rs.rules().filter(|r| r.table == t).count();
    let (filter, nat) = (count(Table::Filter), count(Table::Nat));
    let hooks = RuleSet::hooks().len();
    let mut flavours = Vec::new();
    let default = Iptables::detect().map_err(|e| e.to_string())?;
    let default_name = match default.variant() {
        Variant::Nft => "iptables (default, nf_tables)",
        Variant::Legacy => "iptables (default, legacy)",
    };
    let default_variant = default.variant();
    flavours.push((default_name, default, "iptables"));
    if default_variant != Variant::Legacy {
        if let Some(l) = Iptables::with_variant(Variant::Legacy) {
            flavours.push(("iptables-legacy", l, "iptables-legacy"));
        }
    }
    println!(
        "firewall: {FW_NETS} nat networks × {FW_GUESTS_PER_NET} guests, {FW_FORWARDS} port forwards → {} rules ({filter} filter + {nat} nat) in {} chains + {hooks} hooks; per-rule = {} iptables execs",
        filter + nat,
        firewall::CHAINS.len(),
        cmds.len()
    );
    println!(
        "medians of {runs} runs; each apply in a fresh namespace; wall clock incl. process starts"
    );
    println!(
        "| flavour | rules | batch apply | per-rule execs | per-rule ÷ batch | check | remove |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, ipt, bin) in flavours {
        let figs = (0..runs)
            .map(|_| fw_measure(&ipt, bin, &rs, &cmds))
            .collect::<Res<Vec<_>>>()?;
        let pick = |f: fn(&FwFigures) -> f64| median(figs.iter().map(f).collect());
        let (batch, per_rule) = (pick(|f| f.batch), pick(|f| f.per_rule));
        println!(
            "| {name} | {} | {:.3} s | {:.2} s | {:.0}× | {:.1} ms | {:.1} ms |",
            filter + nat,
            batch,
            per_rule,
            per_rule / batch,
            pick(|f| f.check) * 1e3,
            pick(|f| f.remove) * 1e3
        );
    }
    Ok(())
}
