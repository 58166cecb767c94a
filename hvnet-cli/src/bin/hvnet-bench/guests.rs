//! The guest-lifecycle benchmark (`--guests`): 256 guests with two tap NICs each (one on
//! each of two static internal networks) brought up one by one with `hvnet guest up`,
//! against the same commands through `ip`: one `ip -batch` per guest, and every command as
//! its own `ip` process; then taken down again with `hvnet guest down` against `ip -batch`
//! per guest and one `ip link del` per link.
//!
//! The `ip` commands are hvnet's own: `hvnet guest up gI --dry-run` of each guest, taken in
//! a namespace of their own where guests `g0..gI-1` are already up (names are generated, so
//! guest I's dry-run depends on who came before), with the `ip netns exec NS ip ` prefix
//! stripped; the deletions are `hvnet guest down gI --dry-run` of each guest once all are up.
//! The links that namespace ends up with are the reference every method must reproduce.
//!
//! In every method the bridges exist before timing starts (`hvnet apply` of a config holding
//! only the two networks), each method runs in a fresh namespace, and after each up and
//! each down the namespace's links (name, kind, master, MAC, MTU, alias, up flag) must equal
//! the reference's, or the benchmark fails.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::{hvnet_bin, median, run, Ns, Res};

/// Guests per run.
const GUESTS: usize = 256;

/// The two static networks, and with `guests` the 256 guests with one tap on each.
fn config(guests: bool) -> String {
    let mut t = String::new();
    for n in 0..2 {
        let _ = write!(
            t,
            "[[network]]\nname = \"gnet{n}\"\nkind = \"internal\"\nbridge = \"gbr{n}\"\nmtu = 1500\n"
        );
    }
    if guests {
        for i in 0..GUESTS {
            let _ = write!(
                t,
                "[[guest]]\nname = \"g{i}\"\n[[guest.nic]]\nnetwork = \"gnet0\"\n[[guest.nic]]\nnetwork = \"gnet1\"\n"
            );
        }
    }
    t
}

/// Config files and the `hvnet` binary.
struct Setup {
    hvnet: PathBuf,
    nets: PathBuf,
    full: PathBuf,
    dir: PathBuf,
}

impl Setup {
    /// `hvnet --netns NS -c CFG --state-dir STATE ARGS…`.
    fn hv(&self, ns: &str, cfg: &Path, state: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.hvnet);
        c.arg("--netns")
            .arg(ns)
            .arg("-c")
            .arg(cfg)
            .arg("--state-dir")
            .arg(state)
            .args(args);
        c
    }

    /// A fresh state directory for `tag`.
    fn state(&self, tag: &str) -> Res<PathBuf> {
        let s = self.dir.join(format!("state-{tag}"));
        let _ = std::fs::remove_dir_all(&s);
        std::fs::create_dir_all(&s).map_err(|e| format!("{}: {e}", s.display()))?;
        Ok(s)
    }

    /// A fresh namespace holding the two bridges (made by `hvnet apply` of the networks).
    fn ns_with_bridges(&self, tag: &str) -> Res<(Ns, PathBuf)> {
        let ns = Ns::new(tag)?;
        let state = self.state(tag)?;
        run(&mut self.hv(&ns.0, &self.nets, &state, &["apply"]))?;
        Ok((ns, state))
    }
}

/// One link as compared between methods.
fn links(ns: &str) -> Res<BTreeSet<String>> {
    let (_, out) = run(Command::new("ip").args(["-j", "-d", "-n", ns, "link", "show"]))?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("ip -j link show: {e}"))?;
    let arr = v.as_array().ok_or("ip -j link show: not an array")?;
    fn s<'a>(l: &'a serde_json::Value, k: &str) -> &'a str {
        l.get(k).and_then(|x| x.as_str()).unwrap_or("-")
    }
    Ok(arr
        .iter()
        .map(|l| {
            let kind = l
                .pointer("/linkinfo/info_kind")
                .and_then(|x| x.as_str())
                .unwrap_or("-");
            let tap = l
                .pointer("/linkinfo/info_data/type")
                .and_then(|x| x.as_str())
                .unwrap_or("");
            let up = l
                .get("flags")
                .and_then(|f| f.as_array())
                .is_some_and(|f| f.iter().any(|x| x == "UP"));
            format!(
                "{} kind={kind}{}{tap} master={} mac={} mtu={} alias={} {}",
                s(l, "ifname"),
                if tap.is_empty() { "" } else { "/" },
                s(l, "master"),
                s(l, "address"),
                l.get("mtu").map_or_else(|| "-".into(), |m| m.to_string()),
                s(l, "ifalias"),
                if up { "up" } else { "down" }
            )
        })
        .collect())
}

/// Fails, listing the differences, unless `ns` holds exactly the links of `want`.
fn verify(ns: &str, want: &BTreeSet<String>, what: &str) -> Res<()> {
    let have = links(ns)?;
    if &have == want {
        return Ok(());
    }
    let mut msg = format!("{what}: the namespace's links differ from the reference\n");
    for l in want.difference(&have).take(10) {
        let _ = writeln!(msg, "  missing: {l}");
    }
    for l in have.difference(want).take(10) {
        let _ = writeln!(msg, "  extra:   {l}");
    }
    eprintln!("hvnet-bench: error: {msg}");
    Err(msg)
}

/// `ip` commands (without the leading `ip `) from a `--dry-run` in namespace `ns`.
fn ip_cmds(dry: &str, ns: &str) -> Res<Vec<String>> {
    let prefix = format!("ip netns exec {ns} ip ");
    dry.lines()
        .flat_map(|l| l.split(" && "))
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            c.strip_prefix(&prefix)
                .map(str::to_string)
                .ok_or_else(|| format!("unexpected dry-run line {c:?} in:\n{dry}"))
        })
        .collect()
}

/// What every method must do: per guest its up and down commands, and the links before the
/// guests, with all of them up, and after they are down again.
struct Reference {
    up: Vec<Vec<String>>,
    down: Vec<Vec<String>>,
    bridges: BTreeSet<String>,
    all_up: BTreeSet<String>,
}

fn reference(s: &Setup) -> Res<Reference> {
    let (ns, state) = s.ns_with_bridges("gdry")?;
    let bridges = links(&ns.0)?;
    let mut up = Vec::with_capacity(GUESTS);
    for i in 0..GUESTS {
        let g = format!("g{i}");
        let (_, dry) = run(&mut s.hv(&ns.0, &s.full, &state, &["guest", "up", &g, "--dry-run"]))?;
        let cmds = ip_cmds(&dry, &ns.0)?;
        if cmds.is_empty() {
            return Err(format!("guest up {g} --dry-run printed nothing"));
        }
        if i == 0 {
            println!("`hvnet guest up g0 --dry-run` (bridges present):\n{dry}");
        }
        up.push(cmds);
        run(&mut s.hv(&ns.0, &s.full, &state, &["guest", "up", &g]))?;
    }
    let all_up = links(&ns.0)?;
    let mut down = Vec::with_capacity(GUESTS);
    for i in 0..GUESTS {
        let g = format!("g{i}");
        let (_, dry) = run(&mut s.hv(&ns.0, &s.full, &state, &["guest", "down", &g, "--dry-run"]))?;
        let cmds = ip_cmds(&dry, &ns.0)?;
        if cmds.len() != 2 || cmds.iter().any(|c| !c.starts_with("link del dev ")) {
            return Err(format!("unexpected guest down {g} --dry-run:\n{dry}"));
        }
        down.push(cmds);
    }
    Ok(Reference {
        up,
        down,
        bridges,
        all_up,
    })
}

/// Guests at each end of the run whose per-process times are averaged (`first`, `last`).
const EDGE: usize = 32;

/// One figure of a run.
type Field = fn(&Figures) -> f64;

/// One run's times (seconds, all 256 guests), hvnet's own executor time, and the mean time
/// per process (ms) of the first and the last `EDGE` guest ups.
struct Figures {
    hv_up: f64,
    ipb_up: f64,
    ip1_up: f64,
    hv_down: f64,
    ipb_down: f64,
    ip1_down: f64,
    hv_exec_ms: f64,
    hv_first: f64,
    hv_last: f64,
    ipb_first: f64,
    ipb_last: f64,
}

/// Runs every command of `cmds` in turn; their total wall clock, and each one's time and
/// stdout.
fn timed_all(cmds: Vec<Command>) -> Res<(f64, Vec<(f64, String)>)> {
    let start = Instant::now();
    let outs = cmds
        .into_iter()
        .map(|mut c| run(&mut c))
        .collect::<Res<Vec<_>>>()?;
    Ok((start.elapsed().as_secs_f64(), outs))
}

/// The mean time in ms of the first and of the last `EDGE` of `outs`.
fn edges(outs: &[(f64, String)]) -> (f64, f64) {
    let mean = |v: &[(f64, String)]| v.iter().map(|o| o.0).sum::<f64>() / v.len() as f64 * 1e3;
    let k = EDGE.min(outs.len()).max(1);
    (mean(&outs[..k]), mean(&outs[outs.len() - k..]))
}

/// The milliseconds hvnet reports for its executor ("… op(s) in X ms …").
fn exec_ms(out: &str) -> f64 {
    out.split(" in ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0.0)
}

fn measure(s: &Setup, r: &Reference) -> Res<Figures> {
    let ip = |ns: &str, args: &[&str]| {
        let mut c = Command::new("ip");
        c.arg("-n").arg(ns).args(args);
        c
    };

    // hvnet guest up / down, one process per guest.
    let (ns, state) = s.ns_with_bridges("ghv")?;
    let cmds = (0..GUESTS)
        .map(|i| s.hv(&ns.0, &s.full, &state, &["guest", "up", &format!("g{i}")]))
        .collect();
    let (hv_up, outs) = timed_all(cmds)?;
    let hv_exec_ms = outs.iter().map(|o| exec_ms(&o.1)).sum();
    let (hv_first, hv_last) = edges(&outs);
    verify(&ns.0, &r.all_up, "hvnet guest up")?;
    let cmds = (0..GUESTS)
        .map(|i| s.hv(&ns.0, &s.full, &state, &["guest", "down", &format!("g{i}")]))
        .collect();
    let (hv_down, _) = timed_all(cmds)?;
    verify(&ns.0, &r.bridges, "hvnet guest down")?;
    drop(ns);

    // ip -batch per guest (files written before timing).
    let (ns, _) = s.ns_with_bridges("gipb")?;
    let batch = |kind: &str, i: usize, cmds: &[String]| -> Res<PathBuf> {
        let f = s.dir.join(format!("{kind}-{i}.batch"));
        std::fs::write(&f, cmds.join("\n") + "\n").map_err(|e| e.to_string())?;
        Ok(f)
    };
    let files = (0..GUESTS)
        .map(|i| batch("up", i, &r.up[i]))
        .collect::<Res<Vec<_>>>()?;
    let cmds = files
        .iter()
        .map(|f| ip(&ns.0, &["-batch", &f.to_string_lossy()]))
        .collect();
    let (ipb_up, outs) = timed_all(cmds)?;
    let (ipb_first, ipb_last) = edges(&outs);
    verify(&ns.0, &r.all_up, "ip -batch per guest")?;
    let files = (0..GUESTS)
        .map(|i| batch("down", i, &r.down[i]))
        .collect::<Res<Vec<_>>>()?;
    let cmds = files
        .iter()
        .map(|f| ip(&ns.0, &["-batch", &f.to_string_lossy()]))
        .collect();
    let (ipb_down, _) = timed_all(cmds)?;
    verify(&ns.0, &r.bridges, "ip -batch del per guest")?;
    drop(ns);

    // Every command as its own ip process.
    let (ns, _) = s.ns_with_bridges("gip1")?;
    let one_by_one = |all: &[Vec<String>]| -> Vec<Command> {
        all.iter()
            .flatten()
            .map(|c| ip(&ns.0, &c.split_whitespace().collect::<Vec<_>>()))
            .collect()
    };
    let (ip1_up, _) = timed_all(one_by_one(&r.up))?;
    verify(&ns.0, &r.all_up, "ip one by one")?;
    let (ip1_down, _) = timed_all(one_by_one(&r.down))?;
    verify(&ns.0, &r.bridges, "ip link del per link")?;
    drop(ns);

    Ok(Figures {
        hv_up,
        ipb_up,
        ip1_up,
        hv_down,
        ipb_down,
        ip1_down,
        hv_exec_ms,
        hv_first,
        hv_last,
        ipb_first,
        ipb_last,
    })
}

/// The guest-lifecycle benchmark: `runs` runs, files in `dir`; prints the table.
pub fn bench(runs: usize, dir: &Path) -> Res<()> {
    let s = Setup {
        hvnet: hvnet_bin()?,
        nets: dir.join("guests-nets.toml"),
        full: dir.join("guests.toml"),
        dir: dir.to_path_buf(),
    };
    std::fs::write(&s.nets, config(false)).map_err(|e| e.to_string())?;
    std::fs::write(&s.full, config(true)).map_err(|e| e.to_string())?;
    let r = reference(&s)?;
    let n_up: usize = r.up.iter().map(Vec::len).sum();
    let n_down: usize = r.down.iter().map(Vec::len).sum();
    let figs = (0..runs)
        .map(|_| measure(&s, &r))
        .collect::<Res<Vec<_>>>()?;
    let col = |f: Field| -> (f64, String) {
        let all: Vec<f64> = figs.iter().map(f).collect();
        let list = all
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        (median(all), list)
    };
    println!(
        "{GUESTS} guests × 2 taps on 2 bridges; medians of {runs} runs; wall clock of all \
         {GUESTS} guests, process starts included"
    );
    println!("| method | processes | total | per guest | ÷ hvnet | runs (s) |");
    println!("|---|---|---|---|---|---|");
    let rows: [(&str, usize, Field, Field); 6] = [
        ("hvnet guest up", GUESTS, |f| f.hv_up, |f| f.hv_up),
        ("ip -batch per guest", GUESTS, |f| f.ipb_up, |f| f.hv_up),
        ("ip commands one by one", n_up, |f| f.ip1_up, |f| f.hv_up),
        ("hvnet guest down", GUESTS, |f| f.hv_down, |f| f.hv_down),
        (
            "ip -batch del per guest",
            GUESTS,
            |f| f.ipb_down,
            |f| f.hv_down,
        ),
        (
            "ip link del per link",
            n_down,
            |f| f.ip1_down,
            |f| f.hv_down,
        ),
    ];
    for (name, procs, t, base) in rows {
        let (m, list) = col(t);
        let (b, _) = col(base);
        println!(
            "| {name} | {procs} | {m:.3} s | {:.2} ms | {:.2}× | {list} |",
            m / GUESTS as f64 * 1e3,
            m / b
        );
    }
    let (exec, _) = col(|f| f.hv_exec_ms);
    println!(
        "hvnet's own executor time (its \"in X ms\"), summed over the {GUESTS} guest ups: \
         {exec:.1} ms (median)"
    );
    let (hf, hl, bf, bl) = (
        col(|f| f.hv_first).0,
        col(|f| f.hv_last).0,
        col(|f| f.ipb_first).0,
        col(|f| f.ipb_last).0,
    );
    println!(
        "per process, first {EDGE} → last {EDGE} guests (medians): hvnet guest up {hf:.2} → \
         {hl:.2} ms, ip -batch {bf:.2} → {bl:.2} ms"
    );
    Ok(())
}
