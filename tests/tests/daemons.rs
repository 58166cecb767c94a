//! hvnet's daemons (a network's dnsmasq, the host's udhcpc on a `host_ip = "dhcp"` bridge)
//! are found by what they are, not only by their pid files: a deleted, corrupt or foreign
//! pid file neither hides a running daemon (apply keeps it, `check` is in sync, `down` stops
//! it) nor gets another process signalled, and an orphan whose state directory was lost is
//! replaced instead of making the new daemon fail with "Address already in use".
//!
//! The daemons are counted here with an independent scan of `/proc`: a process whose
//! `argv[0]` ends in the program's name and one of whose arguments contains the test's state
//! directory (unique to the test).

#![allow(clippy::unwrap_used)]

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hvnet_tests::*;

const NET: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "hvdm0"
address = "172.16.250.1/24"
[network.dhcp]
range = "172.16.250.100-172.16.250.199"
"#;

const STATIC_HOST: &str = r#"
[[network.dhcp.host]]
mac = "02:00:00:25:00:77"
ip = "172.16.250.77"
name = "late"
"#;

/// Whether the programs these tests run are all in `PATH` (where hvnet looks for them too);
/// prints which is missing (the test then returns early and passes).
fn tools_available(tools: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !dirs.iter().any(|d| d.join(t).is_file()))
        .collect();
    if !missing.is_empty() {
        println!(
            "skipped: not installed: {} (scripts/install-deps.sh)",
            missing.join(" ")
        );
    }
    missing.is_empty()
}

/// The live processes whose `argv[0]`'s last component is one of `names` and one of whose
/// arguments contains `state`, by ascending pid (zombies have an empty command line).
fn processes_of(state: &Path, names: &[&str]) -> Vec<u32> {
    let needle = state.as_os_str().as_bytes();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap() {
        let Ok(e) = e else { continue };
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let mut args = cmd.split(|&b| b == 0);
        let argv0 = args.next().unwrap_or_default();
        let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if names.iter().any(|n| base == n.as_bytes())
            && args.any(|a| a.windows(needle.len()).any(|w| w == needle))
        {
            out.push(pid);
        }
    }
    // A daemon running a hook forks first (udhcpc its script): between fork and exec the
    // child has the parent's command line. It is the same daemon, not a second one.
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (COMM) STATE PPID …": COMM may hold spaces, so read after its ')'.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all = out.clone();
    out.retain(|&pid| parent(pid).is_none_or(|pp| !all.contains(&pp)));
    out.sort_unstable();
    out
}

fn dnsmasqs(state: &Path) -> Vec<u32> {
    processes_of(state, &["dnsmasq"])
}

fn clients(state: &Path) -> Vec<u32> {
    processes_of(state, &["udhcpc", "busybox"])
}

/// Whether `pid` is alive (not a zombie) and its `argv[0]` is still `argv0`.
fn alive_as(pid: u32, argv0: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|&b| b == 0).next() == Some(argv0.as_bytes()))
}

/// A process the test started that is not hvnet's (killed on drop).
struct Bystander {
    child: Child,
}

impl Bystander {
    /// `ip netns exec NS ARGS...` (which execs in place: the child is the program), once
    /// its command line is `ARGS`'s.
    fn start(ns: &str, args: &[&str]) -> Bystander {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let b = Bystander { child };
        assert!(
            wait_until(Duration::from_secs(5), || alive_as(b.pid(), args[0])),
            "{args:?} did not start"
        );
        b
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A namespace with hvnet bound to it.
struct Host {
    ns: Netns,
    dir: TempDir,
    hv: Hv,
}

impl Host {
    fn new(tag: &str) -> Host {
        let ns = Netns::new(tag);
        let dir = TempDir::new();
        let hv = Hv::new(&ns, &dir);
        Host { ns, dir, hv }
    }

    /// A host for the dnsmasq tests and its config ([`NET`]); `None` (skipped) without root
    /// or the tools.
    fn for_dnsmasq(tag: &str) -> Option<(Host, PathBuf)> {
        if !require_root() || !tools_available(&["dnsmasq", "iptables"]) {
            return None;
        }
        let h = Host::new(tag);
        let cfg = h.dir.write("c.toml", NET);
        Some((h, cfg))
    }

    /// `apply`, which must succeed and leave exactly one dnsmasq of the state directory.
    fn apply_one_dnsmasq(&self, cfg: &Path) -> Vec<u32> {
        self.hv.apply(cfg);
        let running = dnsmasqs(&self.state());
        assert_eq!(running.len(), 1, "one dnsmasq after apply: {running:?}");
        running
    }

    /// `down`, which must succeed and leave no dnsmasq of the state directory.
    fn down_stops_dnsmasq(&self, cfg: &Path, context: &str) {
        self.hv.run(cfg, &["down"]).ok();
        assert_eq!(
            dnsmasqs(&self.state()),
            Vec::<u32>::new(),
            "{context}: down left dnsmasq running"
        );
    }

    fn state(&self) -> PathBuf {
        self.hv.state_dir.clone().unwrap()
    }

    fn net_file(&self, name: &str) -> PathBuf {
        self.state().join("net/lan").join(name)
    }

    /// `apply`, which must succeed and change nothing.
    fn apply_no_changes(&self, cfg: &Path, context: &str) {
        let r = self.hv.run(cfg, &["apply"]);
        r.ok();
        assert_no_changes(&r.stdout, context);
    }

    fn check_ok(&self, cfg: &Path) {
        self.hv.run(cfg, &["check"]).ok();
    }
}

/// How many times dnsmasq's log says it read the hostsfile.
fn hostsfile_reads(h: &Host) -> usize {
    let hosts = h.net_file("hosts");
    let line = format!("read {}", hosts.display());
    std::fs::read_to_string(h.net_file("dnsmasq.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&line))
        .count()
}

#[test]
fn dnsmasq_without_pid_file_is_kept_reloaded_and_stopped() {
    let Some((h, cfg)) = Host::for_dnsmasq("dm-gone") else {
        return;
    };
    let state = h.state();
    let first = h.apply_one_dnsmasq(&cfg);
    let pid_file = h.net_file("dnsmasq.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        first[0].to_string()
    );

    std::fs::remove_file(&pid_file).unwrap();
    h.check_ok(&cfg);
    h.apply_no_changes(&cfg, "apply without the pid file");
    assert_eq!(dnsmasqs(&state), first, "the running dnsmasq is kept");
    h.check_ok(&cfg);

    // A hosts change reaches the running daemon (SIGHUP) without its pid file.
    let reads = hostsfile_reads(&h);
    let with_host = h.dir.write("h.toml", &format!("{NET}{STATIC_HOST}"));
    let r = h.hv.run(&with_host, &["apply"]);
    r.ok();
    assert_eq!(op_count(&r.stdout, "applied"), 1, "{r}");
    assert!(
        wait_until(Duration::from_secs(3), || hostsfile_reads(&h) > reads),
        "dnsmasq did not re-read its hostsfile:\n{}",
        std::fs::read_to_string(h.net_file("dnsmasq.log")).unwrap_or_default()
    );
    assert_eq!(dnsmasqs(&state), first, "the reload kept the daemon");
    h.check_ok(&with_host);
    h.down_stops_dnsmasq(&with_host, "no pid file");
}

#[test]
fn dnsmasq_orphan_of_a_lost_directory_is_replaced() {
    let Some((h, cfg)) = Host::for_dnsmasq("dm-orph") else {
        return;
    };
    let old = h.apply_one_dnsmasq(&cfg);

    // Its whole directory is lost: hvnet sees no dnsmasq there and starts one, which must
    // not fail on the orphan still holding the DHCP port.
    std::fs::remove_dir_all(h.state().join("net/lan")).unwrap();
    let new = h.apply_one_dnsmasq(&cfg);
    assert_ne!(new, old, "the orphan was replaced");
    assert!(
        !alive_as(old[0], "dnsmasq"),
        "the orphan {} still runs",
        old[0]
    );
    h.check_ok(&cfg);
    h.apply_no_changes(&cfg, "apply after the replacement");
    h.down_stops_dnsmasq(&cfg, "orphan replaced");
}

#[test]
fn dnsmasq_corrupt_or_foreign_pid_file_signals_nothing_else() {
    let Some((h, cfg)) = Host::for_dnsmasq("dm-bad") else {
        return;
    };
    // A dnsmasq that is not hvnet's (nothing of it under the state directory).
    let other_pid = h.dir.path().join("other.pid");
    let other = Bystander::start(
        h.ns.name(),
        &[
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            &format!("--pid-file={}", other_pid.display()),
            "--log-facility=-",
        ],
    );
    let me = std::process::id();
    let pid_file = h.net_file("dnsmasq.pid");

    for round in ["own pid", "other dnsmasq"] {
        let running = h.apply_one_dnsmasq(&cfg);
        let foreign = if round == "own pid" { me } else { other.pid() };
        for text in [
            "garbage\n".to_string(),
            String::new(),
            "-1\n".into(),
            "0\n".into(),
            "99999999999\n".into(),
            format!("{foreign}\n"),
        ] {
            std::fs::write(&pid_file, &text).unwrap();
            h.check_ok(&cfg);
            h.apply_no_changes(&cfg, &format!("{round}: pid file {text:?}"));
            assert_eq!(dnsmasqs(&h.state()), running, "{round}: pid file {text:?}");
        }
        // The pid file names `foreign`: down stops hvnet's dnsmasq and nothing else.
        h.down_stops_dnsmasq(&cfg, round);
        assert!(
            alive_as(other.pid(), "dnsmasq"),
            "{round}: the other dnsmasq was stopped"
        );
    }
}

const BRIDGE_DHCP: &str = r#"
[[network]]
name = "lan"
kind = "bridge"
bridge = "br-lan"
uplink = "up0"
host_ip = "dhcp"

[host]
bridge_nf_call = false
"#;

/// The host DHCP client: no LAN server is needed (udhcpc keeps asking, and hvnet's hook
/// changes nothing without a lease); what matters is which processes run.
#[test]
fn host_dhcp_client_is_found_without_its_pid_file() {
    if !require_root() || !tools_available(&["udhcpc", "busybox"]) {
        return;
    }
    let h = Host::new("dm-udh");
    let out = Netns::new("dm-udh-o");
    h.ns.ip(&[
        "link",
        "add",
        "up0",
        "type",
        "veth",
        "peer",
        "name",
        "lan0",
        "netns",
        out.name(),
    ]);
    h.ns.ip(&["addr", "add", "10.212.0.1/24", "brd", "+", "dev", "up0"]);
    h.ns.ip(&["link", "set", "up0", "up"]);
    out.ip(&["link", "set", "lan0", "up"]);
    let cfg = h.dir.write("c.toml", BRIDGE_DHCP);
    let state = h.state();
    let client_dir = state.join("host-dhcp/lan");
    let pid_file = client_dir.join("udhcpc.pid");
    // A busybox that is not hvnet's client.
    let other = Bystander::start(h.ns.name(), &["busybox", "sleep", "300"]);

    h.hv.apply(&cfg);
    let running = clients(&state);
    assert_eq!(running.len(), 1, "one client after apply: {running:?}");
    for text in [
        None,
        Some("garbage\n".to_string()),
        Some(format!("{}\n", std::process::id())),
        Some(format!("{}\n", other.pid())),
    ] {
        match &text {
            None => std::fs::remove_file(&pid_file).unwrap(),
            Some(t) => std::fs::write(&pid_file, t).unwrap(),
        }
        h.check_ok(&cfg);
        h.apply_no_changes(&cfg, &format!("client pid file {text:?}"));
        assert_eq!(clients(&state), running, "client pid file {text:?}");
    }

    // Its directory lost: the orphan is replaced by exactly one new client.
    std::fs::remove_dir_all(&client_dir).unwrap();
    h.hv.apply(&cfg);
    let new = clients(&state);
    assert_eq!(new.len(), 1, "exactly one client: {new:?}");
    assert_ne!(new, running, "the orphan was replaced");
    h.check_ok(&cfg);

    // The pid file names the other busybox: down stops the client and nothing else.
    std::fs::write(&pid_file, format!("{}\n", other.pid())).unwrap();
    h.hv.run(&cfg, &["down"]).ok();
    assert_eq!(
        clients(&state),
        Vec::<u32>::new(),
        "down left udhcpc running"
    );
    assert!(
        alive_as(other.pid(), "busybox"),
        "the other busybox was stopped"
    );
    assert_eq!(ipv4(h.ns.name(), "up0"), ["10.212.0.1/24"]);
}
