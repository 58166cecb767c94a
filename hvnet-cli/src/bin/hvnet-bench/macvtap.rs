//! The macvtap benchmark (`--macvtap`): 256 guest NICs on a `kind = "direct"` network (one
//! macvtap each on a veth uplink, mode bridge) applied, re-applied (no-op) and removed by
//! hvnet, against `ip -batch` of the same links (hvnet's own `apply --dry-run` commands:
//! per macvtap `link add link up0 … type macvtap mode bridge`, `link set … alias …`, `up`)
//! and of their deletions, each in a fresh namespace. hvnet also finds each macvtap's
//! device number in sysfs and makes sure `/dev/tapN` exists with the NIC's owner, which the
//! `ip -batch` does not do.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::common::{hvnet_bin, median, ns_name, run, Ns, Res};

/// How many macvtaps.
pub const N: usize = 256;

fn config(n: usize) -> String {
    let mut t = String::from(
        "[[network]]\nname = \"lan\"\nkind = \"direct\"\nuplink = \"up0\"\nmode = \"bridge\"\n",
    );
    for i in 0..n {
        let _ = write!(
            t,
            "[[guest]]\nname = \"g{i}\"\n[[guest.nic]]\nnetwork = \"lan\"\nifname = \"mv{i}\"\n"
        );
    }
    t
}

/// A fresh namespace with the uplink `up0` (a veth, up).
fn with_uplink(tag: &str) -> Res<Ns> {
    let ns = Ns::new(tag)?;
    run(Command::new("ip").args([
        "-n", &ns.0, "link", "add", "up0", "type", "veth", "peer", "name", "up0p",
    ]))?;
    run(Command::new("ip").args(["-n", &ns.0, "link", "set", "up0", "up"]))?;
    Ok(ns)
}

struct Figures {
    apply: f64,
    noop: f64,
    down: f64,
    ip_batch: f64,
    ip_batch_del: f64,
}

fn measure(dir: &Path, hvnet: &Path) -> Res<Figures> {
    let cfg = dir.join("macvtap.toml");
    std::fs::write(&cfg, config(N)).map_err(|e| e.to_string())?;
    let state = dir.join("state-macvtap");
    let hv = |ns: &str, verb: &str| {
        let mut c = Command::new(hvnet);
        c.arg("--netns").arg(ns).arg("-c").arg(&cfg);
        c.arg("--state-dir").arg(&state).arg(verb);
        c
    };
    let ns = with_uplink("mvhv")?;
    let (apply, _) = run(&mut hv(&ns.0, "apply"))?;
    let (noop, out) = run(&mut hv(&ns.0, "apply"))?;
    if !out.contains("no changes") {
        return Err(format!("the second apply changed something: {out}"));
    }
    let (down, _) = run(&mut hv(&ns.0, "down"))?;
    drop(ns);

    let ns = with_uplink("mvdry")?;
    let (_, dry) = run(hv(&ns.0, "apply").arg("--dry-run"))?;
    drop(ns);
    let prefix = format!("ip netns exec {} ip ", ns_name("mvdry"));
    let cmds: Vec<String> = dry
        .lines()
        .flat_map(|l| l.split(" && "))
        .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
        .collect();
    if cmds.len() < 2 * N {
        return Err(format!("unexpected dry-run output:\n{dry}"));
    }
    let del: String = (0..N).map(|i| format!("link del dev mv{i}\n")).collect();
    let (addf, delf) = (dir.join("mv-add.batch"), dir.join("mv-del.batch"));
    std::fs::write(&addf, cmds.join("\n") + "\n").map_err(|e| e.to_string())?;
    std::fs::write(&delf, del).map_err(|e| e.to_string())?;
    let ns = with_uplink("mvipb")?;
    let batch = |f: &Path| {
        let mut c = Command::new("ip");
        c.arg("-n").arg(&ns.0).arg("-batch").arg(f);
        c
    };
    let (ip_batch, _) = run(&mut batch(&addf))?;
    let (ip_batch_del, _) = run(&mut batch(&delf))?;
    drop(ns);
    Ok(Figures {
        apply,
        noop,
        down,
        ip_batch,
        ip_batch_del,
    })
}

/// `runs` runs; prints the medians as a Markdown table.
pub fn bench(runs: usize, dir: &Path) -> Res<()> {
    let hvnet = hvnet_bin()?;
    let all = (0..runs)
        .map(|_| measure(dir, &hvnet))
        .collect::<Res<Vec<_>>>()?;
    let pick = |f: fn(&Figures) -> f64| median(all.iter().map(f).collect());
    let (apply, noop, down) = (pick(|f| f.apply), pick(|f| f.noop), pick(|f| f.down));
    let (batch, batch_del) = (pick(|f| f.ip_batch), pick(|f| f.ip_batch_del));
    println!("medians of {runs} runs, {N} macvtaps; wall clock of whole commands");
    println!("| hvnet apply | ip -batch | apply ÷ ip -batch | no-op re-apply | hvnet down | ip -batch del | down ÷ ip -batch del |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {:.3} s | {:.3} s | {:.2}× | {:.1} ms | {:.3} s | {:.3} s | {:.2}× |",
        apply,
        batch,
        apply / batch,
        noop * 1e3,
        down,
        batch_del,
        down / batch_del
    );
    Ok(())
}
