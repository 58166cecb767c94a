//! Helpers shared by the benchmarks: namespaces removed on drop, timed commands, medians
//! and locating the `hvnet` binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use hvnet_linux::netns;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A benchmark's result; errors are messages.
pub type Res<T> = Result<T, String>;

/// A namespace removed on drop (after killing whatever still runs inside it); the flag
/// says whether to wait for link teardown.
pub struct Ns(pub String, pub bool);

/// The namespace name `Ns::new(tag)` uses.
pub fn ns_name(tag: &str) -> String {
    format!("hvbench-{}-{tag}", std::process::id())
}

impl Ns {
    pub fn new(tag: &str) -> Res<Self> {
        let name = ns_name(tag);
        netns::create(&name).map_err(|e| format!("create namespace {name}: {e}"))?;
        Ok(Self(name, true))
    }

    /// A namespace that will hold no links (no teardown wait on drop).
    pub fn new_linkless(tag: &str) -> Res<Self> {
        let mut ns = Self::new(tag)?;
        ns.1 = false;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        // Processes the benchmark started in this namespace (a daemon left by a failed
        // run, a client still waiting), by pid: they would keep the namespace alive.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.0])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        let _ = netns::delete(&self.0);
        if !self.1 {
            return;
        }
        // The kernel tears a namespace's links down asynchronously, holding the RTNL lock;
        // let that finish so it does not slow down the next measurement.
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
}

/// Runs `cmd` to completion; its wall-clock time and stdout, or an error quoting its output.
pub fn run(cmd: &mut Command) -> Res<(f64, String)> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Times `f` run inside namespace `ns`.
pub fn timed_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Res<T> + Send + 'static,
) -> Res<(f64, T)> {
    let start = Instant::now();
    let r = netns::run_in(ns, f).map_err(|e| e.to_string())??;
    Ok((start.elapsed().as_secs_f64(), r))
}

/// The median (the upper one for an even count; NaN for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The `hvnet` binary next to this one.
pub fn hvnet_bin() -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe.with_file_name("hvnet");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build --release --bin hvnet`",
            bin.display()
        ))
    }
}

/// Removes what a benchmark killed before its cleanup ran left behind: namespaces
/// `hvbench-<pid>-…` of processes that no longer exist (killing what still runs in them),
/// and the xenstored of a Xen benchmark's `/tmp/hvnet-bench-<pid>` (its `*/pid` files).
pub fn sweep_leftovers() {
    let dead = |pid: i32| kill(Pid::from_raw(pid), None).is_err();
    if let Ok(dirs) = std::fs::read_dir(std::env::temp_dir()) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("hvnet-bench-")
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if !dead(pid) {
                continue;
            }
            for sub in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(sub.path().join("pid")).unwrap_or_default();
                let Ok(daemon) = text.trim().parse::<i32>() else {
                    continue;
                };
                // Only if that pid is still a xenstored (pids are reused).
                let cmd = std::fs::read(format!("/proc/{daemon}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmd).contains("xenstored") {
                    eprintln!("stopping xenstored {daemon}, left behind by a killed benchmark");
                    let _ = kill(Pid::from_raw(daemon), Signal::SIGKILL);
                }
            }
            let _ = std::fs::remove_dir_all(d.path());
        }
    }
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("hvbench-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if dead(pid) {
            eprintln!("removing {name}, left behind by a killed benchmark (pid {pid})");
            drop(Ns(name.to_string(), false));
        }
    }
}
