//! hvnet test harness: throwaway network namespaces, the `hvnet` binary, and independent
//! kernel reads with iproute2.
//!
//! Every test works in namespaces it creates here (`hvt-<pid>-<n>-<tag>`) and that are
//! deleted on drop, also after a panic; the root namespace is never touched. What the kernel
//! holds is always read with `ip -j` (never with hvnet's own output), so a test checks hvnet
//! against an independent observer.

#![allow(clippy::unwrap_used)]

pub mod confgen;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod inputs;
pub mod lab;

/// How long to wait for state that lags (carrier, operstate).
pub const SETTLE: Duration = Duration::from_secs(3);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call: `hvt-<pid>-<n>` (plus `-<tag>` when given).
pub fn unique(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    if tag.is_empty() {
        format!("hvt-{}-{n}", std::process::id())
    } else {
        format!("hvt-{}-{n}-{tag}", std::process::id())
    }
}

/// True when running as root; otherwise prints `skipped: needs root` (the test then
/// returns early and passes).
pub fn require_root() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        println!("skipped: needs root");
    }
    root
}

// ----- processes -----

/// A finished command: exit code (-1 when killed by a signal) and its output as text.
#[derive(Debug, Clone)]
pub struct Run {
    /// What was run, for messages.
    pub cmd: String,
    /// Exit code, -1 if killed by a signal.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn new(cmd: String, out: Output) -> Run {
        Run {
            cmd,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics (showing the output) unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    /// Panics unless it exited 0.
    pub fn ok(&self) -> &Run {
        self.expect_code(0)
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n[exit {}]\n--- stdout ---\n{}--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

/// Longest any single command may run before it is killed (a hang fails the test instead
/// of blocking the suite).
pub const CMD_TIMEOUT_S: u32 = 60;

fn run_cmd(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    // coreutils `timeout` exits 124 when it had to kill the command.
    let mut c = Command::new("timeout");
    c.args(["-k", "5", &CMD_TIMEOUT_S.to_string()])
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    // A stray value in the caller's environment must not change what a test does.
    if !env.iter().any(|(k, _)| *k == "HVNET_FAULT_AT") {
        c.env_remove("HVNET_FAULT_AT");
    }
    if !env.iter().any(|(k, _)| *k == "HVNET_STATE_DIR") {
        c.env_remove("HVNET_STATE_DIR");
    }
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let envs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    assert_ne!(
        out.status.code(),
        Some(124),
        "{} {} did not finish within {CMD_TIMEOUT_S} s",
        program.display(),
        args.join(" ")
    );
    Run::new(
        format!("{}{} {}", envs.concat(), program.display(), args.join(" ")),
        out,
    )
}

/// Runs `ip ARGS...`; panics (with stderr) when it fails, returns stdout.
pub fn ip(args: &[&str]) -> String {
    let r = try_ip(args);
    assert_eq!(r.code, 0, "ip failed\n{r}");
    r.stdout
}

/// Runs `program ARGS...` under `timeout -k 5 TIMEOUT_S` and returns the result, whatever
/// it is; panics if it had to be killed.
pub fn run(program: &str, args: &[&str], timeout_s: u32) -> Run {
    let out = Command::new("timeout")
        .args(["-k", "5", &timeout_s.to_string(), program])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let r = Run {
        cmd: format!("{program} {}", args.join(" ")),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(r.code, 124, "did not finish within {timeout_s} s\n{r}");
    r
}

/// `ip netns exec NS PROGRAM ARGS...` (at most 20 s), whatever the result.
pub fn nsx(ns: &str, program: &str, args: &[&str]) -> Run {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all, 20)
}

/// Runs `ip ARGS...` and returns the result, whatever it is.
pub fn try_ip(args: &[&str]) -> Run {
    run_cmd(Path::new("ip"), args, &[])
}

/// A directory of links to every program on `PATH` except `without`: a `PATH` of a host
/// where those are not installed.
pub fn path_without(dir: &TempDir, without: &[&str]) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let link = dir.path().join(&name);
            if without.iter().any(|w| name == **w) || link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), link).expect("link a program");
        }
    }
    dir.path().display().to_string()
}

/// The firewall of namespace `ns` as both tools list it: `iptables -S` of the filter and
/// nat tables (when iptables is installed) and `nft list ruleset` (when nft is).
pub fn firewall_listing(ns: &str) -> String {
    let mut all = String::new();
    if on_path("iptables") {
        for t in ["filter", "nat"] {
            all.push_str(&nsx(ns, "iptables", &["-w", "-t", t, "-S"]).ok().stdout);
        }
    }
    if on_path("nft") {
        // Stateless: counters change with any packet.
        all.push_str(&nsx(ns, "nft", &["-s", "list", "ruleset"]).ok().stdout);
    }
    all
}

/// Whether a [`firewall_listing`] holds anything of hvnet's (its iptables chains or its
/// nftables table).
pub fn has_hvnet_firewall(listing: &str) -> bool {
    listing.contains("HVNET") || listing.contains("table inet hvnet")
}

/// The firewall backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fw {
    /// nftables: `nft` on `PATH`, no iptables binary.
    Nftables,
    /// iptables: the iptables binaries on `PATH`, no `nft`.
    Iptables,
}

impl Fw {
    /// The tool that must be installed, and that [`path_for_firewall`] keeps (`nft`,
    /// `iptables`).
    pub fn tool(self) -> &'static str {
        match self {
            Fw::Nftables => "nft",
            Fw::Iptables => "iptables",
        }
    }
}

/// A `PATH` (see [`path_without`]) of a host without the firewall tool `other_than` the one
/// kept: `"nft"` keeps nft and drops every iptables binary (`iptables*`, `ip6tables*`,
/// `xtables*`), `"iptables"` keeps those and drops `nft`.
pub fn path_for_firewall(dir: &TempDir, keep: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut drop: Vec<String> = Vec::new();
    for d in std::env::split_paths(&path) {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ipt = ["iptables", "ip6tables", "xtables"]
                .iter()
                .any(|p| name.starts_with(p));
            if (keep == "nft" && ipt) || (keep != "nft" && name == "nft") {
                drop.push(name);
            }
        }
    }
    let without: Vec<&str> = drop.iter().map(String::as_str).collect();
    path_without(dir, &without)
}

/// Whether `program` is an executable file in one of `PATH`'s directories — what a shell's
/// `command -v` finds for a program, without running a shell.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The `hvnet` binary next to the test executables (`target/<profile>/hvnet`).
pub fn hvnet_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/hvnet
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join("hvnet");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --bins` first",
        bin.display()
    );
    bin
}

/// Runs `hvnet ARGS...` and returns its raw output.
pub fn hvnet(args: &[&str]) -> Output {
    hvnet_env(args, &[])
}

/// Runs `hvnet ARGS...` with extra environment variables.
pub fn hvnet_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(hvnet_bin());
    c.args(args).stdin(Stdio::null());
    c.env_remove("HVNET_FAULT_AT").env_remove("HVNET_STATE_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run hvnet")
}

/// Runs `hvnet ARGS...` and returns the result as text.
pub fn hvnet_run(args: &[&str], env: &[(&str, &str)]) -> Run {
    run_cmd(&hvnet_bin(), args, env)
}

/// `hvnet` bound to one namespace and one state directory.
#[derive(Debug, Clone)]
pub struct Hv {
    /// The namespace (`--netns`).
    pub netns: String,
    /// The state directory (`--state-dir`); `None` uses hvnet's default.
    pub state_dir: Option<PathBuf>,
    /// Environment variables of every run (a `PATH` without some tool, `HVNET_FIREWALL`).
    pub env: Vec<(String, String)>,
}

impl Hv {
    /// hvnet in `ns`, with its lock and state under `dir`.
    pub fn new(ns: &Netns, dir: &TempDir) -> Hv {
        Hv {
            netns: ns.name().to_string(),
            state_dir: Some(dir.path().join("state")),
            env: Vec::new(),
        }
    }

    /// `hvnet --netns NS -c CONFIG [--state-dir DIR] ARGS...`
    pub fn run(&self, config: &Path, args: &[&str]) -> Run {
        self.run_env(config, args, &[])
    }

    /// Like [`Hv::run`], with extra environment variables.
    pub fn run_env(&self, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let cfg = config.to_str().expect("utf-8 path");
        let mut all = vec!["--netns", self.netns.as_str(), "-c", cfg];
        if let Some(d) = &self.state_dir {
            all.push("--state-dir");
            all.push(d.to_str().expect("utf-8 path"));
        }
        all.extend_from_slice(args);
        let mut vars: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        vars.extend_from_slice(env);
        hvnet_run(&all, &vars)
    }

    /// `apply`, which must succeed; returns stdout.
    pub fn apply(&self, config: &Path) -> String {
        self.run(config, &["apply"]).ok().stdout.clone()
    }
}

/// A Python client: connects to HOST PORT (3 s timeout, IPv4 or IPv6) and prints what the
/// server sent (`python3 -c TCP_CLIENT HOST PORT`).
pub const TCP_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.settimeout(3)
print(s.recv(200).decode().strip())
"#;

/// The udhcpc hook: address and default route only, never `/etc/resolv.conf`; prints what
/// it got (including `router=`, empty when the server sent none).
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip -4 addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip -4 route replace default via "${router%% *}" dev "$interface"
    echo "udhcpc $1 ip=$ip/${mask:-24} router=$router" ;;
esac
exit 0
"#;

/// One-shot `busybox udhcpc` on `eth0` in `ns` with hook `script` ([`UDHCPC_SCRIPT`]),
/// whatever the result (stdout has the hook's `udhcpc bound ip=… router=…` line).
pub fn udhcpc(ns: &str, script: &Path) -> Run {
    let script = script.to_str().expect("utf-8 path");
    let args = [
        "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1", "-s", script,
    ];
    nsx(ns, "busybox", &args)
}

// ----- namespaces -----

/// A network namespace made with `ip netns add` (independently of hvnet), with `lo` up.
/// Dropping it kills whatever still runs inside and deletes it, also after a panic.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace named `hvt-<pid>-<n>-<tag>`.
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        // A leftover from an earlier run that had the same pid.
        let _ = try_ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS ARGS...`, which must succeed; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip netns exec NS PROGRAM ARGS...`, which must succeed; returns stdout.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if pid.chars().all(|c| c.is_ascii_digit()) {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
        }
        let r = try_ip(&["netns", "del", &self.name]);
        if r.code != 0 {
            eprintln!("cleanup of namespace {} failed:\n{r}", self.name);
        }
        // hvnet's default state directory for this namespace, if a test used it.
        let _ = std::fs::remove_dir_all(Path::new("/run/hvnet/netns").join(&self.name));
    }
}

/// A "host" namespace whose uplink `up0` is a veth to `eth0` of an "outside" namespace,
/// both up, the outside's end holding `outside_cidr` (the LAN a direct network's guests are
/// on).
pub fn host_and_lan(tag: &str, outside_cidr: &str) -> (Netns, Netns) {
    let host = Netns::new(&format!("{tag}-h"));
    let out = Netns::new(&format!("{tag}-o"));
    host.ip(&[
        "link",
        "add",
        "up0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        out.name(),
    ]);
    host.ip(&["link", "set", "up0", "up"]);
    out.ip(&["addr", "add", outside_cidr, "dev", "eth0"]);
    out.ip(&["link", "set", "eth0", "up"]);
    (host, out)
}

/// The named namespaces that exist (`/run/netns`).
pub fn netns_names() -> BTreeSet<String> {
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Attaches to tap `dev` in `ns` as a hypervisor would, which gives it carrier while the
/// returned descriptor is open. `vnet_hdr` must match the tap's flag (attaching sets it).
pub fn attach_tap(ns: &str, dev: &str, vnet_hdr: bool, multi_queue: bool) -> OwnedFd {
    let d = dev.to_string();
    hvnet_linux::netns::run_in(ns, move || {
        hvnet_linux::tap::open_queue(&d, vnet_hdr, multi_queue)
    })
    .unwrap_or_else(|e| panic!("enter {ns}: {e}"))
    .unwrap_or_else(|e| panic!("attach to tap {dev} in {ns}: {e}"))
}

// ----- temporary files -----

/// A per-test directory `$TMPDIR/hvt-<pid>-<n>/`, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory.
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique(""));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` inside it and returns the file's path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ----- independent kernel reads -----

fn json_array(text: &str, what: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => a,
        Ok(other) => panic!("{what}: expected a JSON array, got {other}"),
        Err(e) => panic!("{what}: bad JSON ({e}): {text}"),
    }
}

/// `ip -j -d -n NS link show`.
pub fn links(ns: &str) -> Vec<Value> {
    json_array(
        &ip(&["-j", "-d", "-n", ns, "link", "show"]),
        "ip -j -d link show",
    )
}

/// The link named `name` in `ns` (from `ip -j -d link show`).
pub fn link(ns: &str, name: &str) -> Option<Value> {
    links(ns).into_iter().find(|l| l["ifname"] == name)
}

/// The link named `name`, which must exist.
pub fn must_link(ns: &str, name: &str) -> Value {
    link(ns, name).unwrap_or_else(|| panic!("no link {name} in {ns}; links: {:?}", link_names(ns)))
}

/// Names of all links in `ns`.
pub fn link_names(ns: &str) -> BTreeSet<String> {
    links(ns)
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

/// Links in `ns` whose alias is `alias`.
pub fn links_with_alias(ns: &str, alias: &str) -> Vec<Value> {
    links(ns)
        .into_iter()
        .filter(|l| l["ifalias"] == alias)
        .collect()
}

/// `ip -j -n NS addr show`.
pub fn addrs(ns: &str) -> Vec<Value> {
    json_array(&ip(&["-j", "-n", ns, "addr", "show"]), "ip -j addr show")
}

/// IPv4 addresses (`a.b.c.d/len`, sorted) per link name.
pub fn ipv4_by_link(ns: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for l in addrs(ns) {
        let name = l["ifname"].as_str().unwrap_or_default().to_string();
        let mut v: Vec<String> = l["addr_info"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["family"] == "inet")
                    .map(|x| format!("{}/{}", x["local"].as_str().unwrap_or("?"), x["prefixlen"]))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        if !v.is_empty() {
            out.insert(name, v);
        }
    }
    out
}

/// IPv4 addresses of one link.
pub fn ipv4(ns: &str, dev: &str) -> Vec<String> {
    ipv4_by_link(ns).remove(dev).unwrap_or_default()
}

/// A link's flags (`UP`, `LOWER_UP`, `NO-CARRIER`, ...).
pub fn flags(l: &Value) -> BTreeSet<String> {
    l["flags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a link has flag `f`.
pub fn has_flag(l: &Value, f: &str) -> bool {
    flags(l).contains(f)
}

/// `linkinfo.info_kind` ("" for plain devices).
pub fn kind(l: &Value) -> &str {
    l["linkinfo"]["info_kind"].as_str().unwrap_or("")
}

/// The kernel's count of carrier changes of `dev` in `ns` (from sysfs, read inside `ns`).
pub fn carrier_changes(ns: &str, dev: &str) -> u64 {
    let out = ip(&[
        "netns",
        "exec",
        ns,
        "cat",
        &format!("/sys/class/net/{dev}/carrier_changes"),
    ]);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("carrier_changes of {dev}: {out:?}"))
}

/// Polls `f` every 20 ms until it is true or `timeout` passes; returns its last value.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to [`SETTLE`]) until `dev` in `ns` has carrier (`LOWER_UP`); panics otherwise.
pub fn wait_carrier(ns: &str, dev: &str) {
    let ok = wait_until(SETTLE, || {
        link(ns, dev).is_some_and(|l| has_flag(&l, "LOWER_UP"))
    });
    assert!(ok, "{dev} in {ns} has no carrier: {:?}", link(ns, dev));
}

/// A normalised view of a namespace, for before/after comparisons: per link its ifindex,
/// kind, master, MTU, MAC, alias, flags, operstate, device group, the kind options hvnet
/// manages (bridge STP/forward delay; tap type/vnet_hdr/multi_queue/persist) and its IPv4
/// addresses. (IPv6 addresses are left out: hvnet does not manage them and the kernel adds
/// and removes link-local ones by itself.)
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, Value>);

impl Snapshot {
    /// The same view with interface indexes left out (master is kept by name), for
    /// comparisons across a link being recreated.
    pub fn without_ifindex(&self) -> Snapshot {
        Snapshot(
            self.0
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("ifindex");
                    }
                    (k.clone(), v)
                })
                .collect(),
        )
    }

    /// Human-readable differences from `other` (empty when equal).
    pub fn diff(&self, other: &Snapshot) -> String {
        let mut out = String::new();
        let keys: BTreeSet<&String> = self.0.keys().chain(other.0.keys()).collect();
        for k in keys {
            match (self.0.get(k), other.0.get(k)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => out.push_str(&format!(
                    "  {k}:\n    before: {}\n    after:  {}\n",
                    a.map_or("(absent)".into(), Value::to_string),
                    b.map_or("(absent)".into(), Value::to_string)
                )),
            }
        }
        out
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            writeln!(f, "{k}: {v}")?;
        }
        Ok(())
    }
}

/// Takes a [`Snapshot`] of `ns` with iproute2.
pub fn snapshot(ns: &str) -> Snapshot {
    let v4 = ipv4_by_link(ns);
    let mut map = BTreeMap::new();
    for l in links(ns) {
        let name = l["ifname"].as_str().unwrap_or_default().to_string();
        let data = &l["linkinfo"]["info_data"];
        let opts = match kind(&l) {
            "bridge" => json!({
                "stp_state": data["stp_state"],
                "forward_delay": data["forward_delay"],
            }),
            "tun" => json!({
                "type": data["type"],
                "vnet_hdr": data["vnet_hdr"],
                "multi_queue": data["multi_queue"],
                "persist": data["persist"],
            }),
            _ => Value::Null,
        };
        let mut fl: Vec<String> = flags(&l).into_iter().collect();
        fl.sort();
        map.insert(
            name.clone(),
            json!({
                "ifindex": l["ifindex"],
                "kind": kind(&l),
                "master": l["master"],
                "mtu": l["mtu"],
                "address": l["address"],
                "alias": l["ifalias"],
                "flags": fl,
                "operstate": l["operstate"],
                "group": l["group"],
                "opts": opts,
                "ipv4": v4.get(&name).cloned().unwrap_or_default(),
            }),
        );
    }
    Snapshot(map)
}

/// Waits until the snapshot of `ns` has not changed for 1.2 s (the kernel's linkwatch
/// delays operstate changes by up to 1 s: a new tap without a reader shows `UNKNOWN` before
/// `NO-CARRIER`), at most 6 s, and returns it. Use it for every "before" taken right after
/// links were made or changed.
pub fn settled_snapshot(ns: &str) -> Snapshot {
    let start = Instant::now();
    let mut last = snapshot(ns);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(1200) && start.elapsed() < Duration::from_secs(6)
    {
        std::thread::sleep(Duration::from_millis(100));
        let now = snapshot(ns);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

/// Waits (up to [`SETTLE`], for carrier and operstate to settle) until the snapshot of `ns`
/// equals `want`; on timeout returns the differences.
pub fn wait_snapshot(ns: &str, want: &Snapshot, ignore_ifindex: bool) -> Result<(), String> {
    let norm = |s: Snapshot| {
        if ignore_ifindex {
            s.without_ifindex()
        } else {
            s
        }
    };
    let want = norm(want.clone());
    let mut last = String::new();
    let ok = wait_until(SETTLE, || {
        let now = norm(snapshot(ns));
        if now == want {
            true
        } else {
            last = want.diff(&now);
            false
        }
    });
    if ok {
        Ok(())
    } else {
        Err(last)
    }
}

/// Panics (showing the differences and `context`) unless `ns` returns to `want`.
pub fn assert_snapshot(ns: &str, want: &Snapshot, context: &dyn fmt::Display) {
    if let Err(d) = wait_snapshot(ns, want, false) {
        panic!("namespace {ns} changed ({context}):\n{d}");
    }
}

// ----- hvnet's output -----

/// The ops listed by `hvnet plan` (numbering stripped, in order); empty for `no changes`.
/// Panics if the output is neither.
pub fn plan_ops(stdout: &str) -> Vec<String> {
    if stdout.trim() == "no changes" {
        return Vec::new();
    }
    stdout
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let (n, op) = line
                .trim_start()
                .split_once(". ")
                .unwrap_or_else(|| panic!("not a numbered plan line: {line:?}\n{stdout}"));
            assert_eq!(
                n.parse::<usize>().ok(),
                Some(i + 1),
                "plan lines must be numbered 1, 2, ...: {line:?}\n{stdout}"
            );
            op.to_string()
        })
        .collect()
}

/// N from the summary line `VERB: N op(s) in X ms` (`applied`, `removed`), which may be
/// followed by a parenthesised remark such as `(23 kernel writes)`.
pub fn op_count(stdout: &str, verb: &str) -> usize {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{verb}: ")))
        .unwrap_or_else(|| panic!("no `{verb}: N op(s) in X ms` line in:\n{stdout}"));
    let rest = &line[verb.len() + 2..];
    let (n, tail) = rest
        .split_once(" op(s) in ")
        .unwrap_or_else(|| panic!("bad summary line {line:?}"));
    let ms = tail.split_once(" (").map_or(tail, |(ms, _)| ms);
    assert!(
        ms.strip_suffix(" ms")
            .is_some_and(|x| x.parse::<f64>().is_ok()),
        "bad summary line {line:?}"
    );
    n.parse()
        .unwrap_or_else(|_| panic!("bad op count in {line:?}"))
}

/// Whether `stdout` is hvnet's "nothing to do" answer: `no changes`, optionally with a
/// remark; when the remark counts kernel writes, there must have been none.
pub fn is_no_changes(stdout: &str) -> bool {
    let t = stdout.trim();
    match t.strip_prefix("no changes") {
        Some("") => true,
        Some(rest) => {
            let rest = rest.trim();
            rest.starts_with('(')
                && rest.ends_with(')')
                && !t.contains('\n')
                && (!rest.contains("kernel writes") || rest == "(0 kernel writes)")
        }
        None => false,
    }
}

/// Panics unless `stdout` is hvnet's "nothing to do" answer (see [`is_no_changes`]).
pub fn assert_no_changes(stdout: &str, context: &str) {
    assert!(
        is_no_changes(stdout),
        "{context}: expected `no changes` (with no kernel writes), got:\n{stdout}"
    );
}
