//! The tap benchmark (default mode): N guest taps on one bridge applied and removed by
//! hvnet, against `ip -batch` of the same operations and a shell loop of single `ip` calls.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::common::{hvnet_bin, median, ns_name, run, Ns, Res};

struct Figures {
    n: usize,
    hvnet_apply: f64,
    ip_batch: f64,
    shell_loop: f64,
    noop: f64,
    noop_writes: String,
    hvnet_down: f64,
    ip_batch_del: f64,
}

fn config(n: usize) -> String {
    let mut t =
        String::from("[[network]]\nname = \"bench\"\nkind = \"internal\"\nbridge = \"bbr0\"\n");
    for i in 0..n {
        let _ = write!(
            t,
            "[[guest]]\nname = \"g{i}\"\n[[guest.nic]]\nnetwork = \"bench\"\nifname = \"tb{i}\"\n"
        );
    }
    t
}

fn measure(n: usize, dir: &Path, hvnet: &Path) -> Res<Figures> {
    let cfg = dir.join(format!("bench-{n}.toml"));
    std::fs::write(&cfg, config(n)).map_err(|e| e.to_string())?;
    let state = dir.join(format!("state-{n}"));
    let hv = |ns: &str, verb: &str| {
        let mut c = Command::new(hvnet);
        c.arg("--netns")
            .arg(ns)
            .arg("-c")
            .arg(&cfg)
            .arg("--state-dir")
            .arg(&state)
            .arg(verb);
        c
    };

    // hvnet: apply, no-op re-apply, down (bulk delete).
    let ns = Ns::new("hv")?;
    let (hvnet_apply, _) = run(&mut hv(&ns.0, "apply"))?;
    let (noop, out) = run(&mut hv(&ns.0, "apply"))?;
    let noop_writes = out
        .split("kernel writes")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .map_or_else(|| format!("? ({})", out.trim()), |s| s.trim().to_string());
    let (hvnet_down, _) = run(&mut hv(&ns.0, "down"))?;
    drop(ns);

    // The same ops as iproute2 commands: hvnet's own `apply --dry-run` of this config on an
    // empty namespace (bridge, then per tap: tuntap add + address/alias, master, up).
    let ns = Ns::new("dry")?;
    let (_, dry) = run(hv(&ns.0, "apply").arg("--dry-run"))?;
    drop(ns);
    let prefix = format!("ip netns exec {} ip ", ns_name("dry"));
    let cmds: Vec<String> = dry
        .lines()
        .flat_map(|l| l.split(" && "))
        .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
        .collect();
    if cmds.len() < 2 * n {
        return Err(format!("unexpected dry-run output:\n{dry}"));
    }

    // ip -batch of those commands, then one-by-one deletes.
    let ns = Ns::new("ipb")?;
    let mut del = String::new();
    for i in 0..n {
        let _ = writeln!(del, "link del dev tb{i}");
    }
    let (addf, delf) = (dir.join("add.batch"), dir.join("del.batch"));
    std::fs::write(&addf, cmds.join("\n") + "\n").map_err(|e| e.to_string())?;
    std::fs::write(&delf, del).map_err(|e| e.to_string())?;
    let (ip_batch, _) = run(Command::new("ip")
        .arg("-n")
        .arg(&ns.0)
        .arg("-batch")
        .arg(&addf))?;
    let (ip_batch_del, _) = run(Command::new("ip")
        .arg("-n")
        .arg(&ns.0)
        .arg("-batch")
        .arg(&delf))?;
    drop(ns);

    // The same commands as single ip invocations from a shell script.
    let ns = Ns::new("sh")?;
    let script: String = cmds
        .iter()
        .map(|c| format!("ip -n {} {c} || exit 1\n", ns.0))
        .collect();
    let scriptf = dir.join("loop.sh");
    std::fs::write(&scriptf, script).map_err(|e| e.to_string())?;
    let (shell_loop, _) = run(Command::new("sh").arg(&scriptf))?;
    drop(ns);

    Ok(Figures {
        n,
        hvnet_apply,
        ip_batch,
        shell_loop,
        noop,
        noop_writes,
        hvnet_down,
        ip_batch_del,
    })
}

/// The median of each figure over several runs.
fn medians(runs: Vec<Figures>) -> Res<Figures> {
    let pick = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
    let first = runs.first().ok_or("no runs")?;
    let mut writes: Vec<&str> = runs.iter().map(|r| r.noop_writes.as_str()).collect();
    writes.dedup();
    Ok(Figures {
        n: first.n,
        hvnet_apply: pick(|f| f.hvnet_apply),
        ip_batch: pick(|f| f.ip_batch),
        shell_loop: pick(|f| f.shell_loop),
        noop: pick(|f| f.noop),
        noop_writes: writes.join("/"),
        hvnet_down: pick(|f| f.hvnet_down),
        ip_batch_del: pick(|f| f.ip_batch_del),
    })
}

/// The tap benchmark: `runs` runs for each size in `sizes`, files in `dir`; prints the table.
pub fn bench(sizes: &[usize], runs: usize, dir: &Path) -> Res<()> {
    let hvnet = hvnet_bin()?;
    let figs = sizes
        .iter()
        .map(|&n| {
            medians(
                (0..runs)
                    .map(|_| measure(n, dir, &hvnet))
                    .collect::<Res<Vec<_>>>()?,
            )
        })
        .collect::<Res<Vec<_>>>()?;
    println!(
        "medians of {runs} runs; times are wall clock of whole commands (process start included)"
    );
    println!("| N | hvnet apply | ip -batch | shell loop | apply ÷ ip -batch | shell loop ÷ apply | no-op re-apply | writes in no-op | hvnet down | ip -batch del | del ÷ down |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for f in figs {
        println!(
            "| {} | {:.3} s | {:.3} s | {:.3} s | {:.2}× | {:.1}× | {:.1} ms | {} | {:.3} s | {:.3} s | {:.1}× |",
            f.n,
            f.hvnet_apply,
            f.ip_batch,
            f.shell_loop,
            f.hvnet_apply / f.ip_batch,
            f.shell_loop / f.hvnet_apply,
            f.noop * 1e3,
            f.noop_writes,
            f.hvnet_down,
            f.ip_batch_del,
            f.ip_batch_del / f.hvnet_down
        );
    }
    Ok(())
}
