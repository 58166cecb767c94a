//! Helpers shared by the root integration tests in this directory: root
//! checks, named-namespace guards, fresh unshared namespaces, `ip`, and the
//! small netlink request helpers. Each test file includes this with
//! `mod common;` and uses what it needs.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hvnet_linux::netlink::{Link, NlError, Request, Rtnl};
use hvnet_linux::netns;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// iproute2's `ip`.
pub const IP: &str = "/usr/sbin/ip";

/// Returns early (passing) when not root.
#[allow(unused_macros)]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!("skipping the test at {}:{}: needs root", file!(), line!());
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_root;

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skips the test (returning `true`) without root.
pub fn skip(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root (network namespaces)");
    true
}

/// Runs `f` on a new thread in a fresh, unnamed network namespace (unshare
/// affects only that thread, and the namespace disappears with it).
pub fn in_fresh_netns(f: impl FnOnce() + Send + 'static) {
    let worker = thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        f();
    });
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `cmd ARGS...`, panicking only if it cannot be started.
pub fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"))
}

/// Runs `cmd`, panicking (with `what`) only if it cannot be started:
/// success, standard output, standard error.
pub fn status_of(cmd: &mut Command, what: &str) -> (bool, String, String) {
    let out = cmd.output().expect(what);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ip ARGS...` in the calling thread's namespace (a child process inherits
/// it), panicking on failure; returns stdout.
pub fn ip(args: &[&str]) -> String {
    let out = run(IP, args);
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ip printed non-UTF-8")
}

/// Pids of the processes in named namespace `ns` (`ip netns pids`).
pub fn pids_in(ns: &str) -> Vec<i32> {
    let out = run(IP, &["netns", "pids", ns]);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Polls `cond` every 10 ms for up to 3 s, panicking on timeout.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A named network namespace that, when dropped (even during a panic),
/// kills every process left in it and deletes it.
pub struct NetnsGuard(String);

impl NetnsGuard {
    /// Creates namespace `name`, first removing a leftover of that name
    /// from an earlier run.
    pub fn create(name: String) -> NetnsGuard {
        if netns::exists(&name) {
            let _ = netns::delete(&name);
        }
        netns::create(&name).unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        NetnsGuard(name)
    }

    /// Creates a namespace named `PREFIX-<pid>-<n>`, unique in this process.
    pub fn unique(prefix: &str) -> NetnsGuard {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        NetnsGuard::create(format!("{prefix}-{}-{n}", std::process::id()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let name = &self.0;
        for pid in pids_in(name) {
            eprintln!("cleanup: killing pid {pid} left in {name}");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        }
        if let Err(e) = netns::delete(name) {
            eprintln!("cleanup: deleting {name}: {e}");
        }
    }
}

/// Panics on the first failed request.
pub fn all_ok(results: Vec<Result<(), NlError>>) {
    for r in results {
        if let Err(e) = r {
            panic!("request failed: {e}");
        }
    }
}

/// Executes a single request.
pub fn one(rtnl: &mut Rtnl, req: Request) -> Result<(), NlError> {
    let mut results = rtnl.execute(&[req]);
    assert_eq!(results.len(), 1);
    results.remove(0)
}

/// The link called `name`, which must exist.
pub fn link(rtnl: &mut Rtnl, name: &str) -> Link {
    rtnl.get_link(name)
        .expect("get_link")
        .unwrap_or_else(|| panic!("link {name} missing"))
}

/// A veth pair `name`/`peer` with default settings.
pub fn veth(name: &str, peer: &str) -> Request {
    Request::NewVeth {
        name: name.into(),
        mtu: None,
        mac: None,
        group: None,
        peer_name: peer.into(),
        peer_mac: None,
        peer_netns_fd: None,
    }
}
