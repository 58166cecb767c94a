//! Test harness for the Xen hotplug: a real cxenstored 4.17 per test (under the fakexen
//! `LD_PRELOAD` shim, no hypervisor needed), a scratch network namespace per test, and the
//! `hvnet` binary run the way libxl runs a vif script.
//!
//! Needs root, `/usr/lib/xen-4.17/bin/xenstored` (Debian `xen-utils-4.17`), `gcc` with the
//! Xen headers (`libxen-dev`), `xenstore-utils` and iproute2; tests skip with a message
//! otherwise. The `hvnet` binary must be built first (`cargo build --bins`), or named by
//! `HVNET_BIN`.

#![allow(dead_code, clippy::unwrap_used)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The daemon binary (cxenstored) of Debian 12's xen-utils-4.17.
pub const XENSTORED: &str = "/usr/lib/xen-4.17/bin/xenstored";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique within this test run: `<prefix><pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Why the tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for (path, what) in [
        (XENSTORED, "xen-utils-4.17 (cxenstored)"),
        ("/usr/include/xenctrl.h", "libxen-dev"),
        ("/usr/bin/xenstore-write", "xenstore-utils"),
    ] {
        if !Path::new(path).exists() {
            return Some(format!(
                "{path} missing (install {what}; scripts/install-deps.sh)"
            ));
        }
    }
    if Command::new("gcc").arg("--version").output().is_err() {
        return Some("gcc missing".into());
    }
    None
}

/// Returns early from a test, with a message, when it cannot run here.
#[macro_export]
macro_rules! require_env {
    () => {
        if let Some(why) = common::skip_reason() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

/// Builds the shim once per test binary into the target directory; returns its path.
pub fn shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakexen/fakexen.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fakexen");
        std::fs::create_dir_all(&dir).unwrap();
        let so = dir.join("fakexen.so");
        // Built under a unique name, then renamed: other test binaries may build it too.
        let tmp = dir.join(format!("fakexen.so.{}", std::process::id()));
        let out = Command::new("gcc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .arg("-ldl")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &so).unwrap();
        so
    })
}

/// A real xenstored, stopped (killed and waited) on drop, and its directory removed.
pub struct Xenstored {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Xenstored {
    /// Starts a daemon in a fresh directory and waits until it accepts a connection.
    pub fn start() -> Xenstored {
        let shim = shim();
        // Short paths: AF_UNIX socket paths are limited to 107 bytes.
        let dir = std::env::temp_dir().join(unique("hvnet-xs-"));
        let fx = dir.join("fx");
        std::fs::create_dir_all(&fx).unwrap();
        std::fs::write(fx.join("xsd_port"), "1\n").unwrap();
        std::fs::write(fx.join("xsd_kva"), vec![0u8; 4096]).unwrap();
        let log = std::fs::File::create(dir.join("xenstored.log")).unwrap();
        let child = Command::new(XENSTORED)
            .args(["-N", "-F"])
            .arg(dir.join("pid"))
            .env_remove("XENSTORED_PATH")
            .env("XENSTORED_RUNDIR", &dir)
            .env("FAKEXEN_DIR", &fx)
            .env("LD_PRELOAD", shim)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let socket = dir.join("socket");
        let mut xs = Xenstored { child, dir, socket };
        let start = Instant::now();
        loop {
            if UnixStream::connect(&xs.socket).is_ok() {
                break;
            }
            if let Some(status) = xs.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(xs.dir.join("xenstored.log")).unwrap_or_default();
                panic!("xenstored exited with {status} before answering:\n{log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "xenstored did not answer within 5 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        xs
    }

    /// The socket clients use (`XENSTORED_PATH`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `xenstore-write PATH VALUE ...` (one transaction).
    pub fn write(&self, pairs: &[(&str, &str)]) {
        let mut cmd = Command::new("xenstore-write");
        cmd.env("XENSTORED_PATH", &self.socket);
        for (k, v) in pairs {
            cmd.arg(k).arg(v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "xenstore-write: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `xenstore-read PATH`; `None` if the node does not exist.
    pub fn read(&self, path: &str) -> Option<String> {
        let out = Command::new("xenstore-read")
            .env("XENSTORED_PATH", &self.socket)
            .arg(path)
            .output()
            .unwrap();
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_owned()
        })
    }

    /// `xenstore-ls -f PATH` (for failure messages).
    pub fn dump(&self, path: &str) -> String {
        let out = Command::new("xenstore-ls")
            .env("XENSTORED_PATH", &self.socket)
            .args(["-f", path])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a vif's backend and frontend nodes the way libxl does (domid, devid, bridge,
    /// plus `extra` backend keys such as `vifname` or `mtu`).
    pub fn add_vif(&self, domid: u32, devid: u32, bridge: Option<&str>, extra: &[(&str, &str)]) {
        let be = format!("/local/domain/0/backend/vif/{domid}/{devid}");
        let fe = format!("/local/domain/{domid}/device/vif/{devid}");
        let mac = format!(
            "00:16:3e:{:02x}:{:02x}:{:02x}",
            domid >> 8 & 0x7f,
            domid & 0xff,
            devid & 0xff
        );
        let (d, n) = (domid.to_string(), devid.to_string());
        let mut pairs: Vec<(String, String)> = vec![
            (format!("{be}/frontend"), fe.clone()),
            (format!("{be}/frontend-id"), d.clone()),
            (format!("{be}/online"), "1".into()),
            (format!("{be}/state"), "2".into()),
            (format!("{be}/script"), "/etc/xen/scripts/vif-bridge".into()),
            (format!("{be}/mac"), mac.clone()),
            (format!("{be}/handle"), n.clone()),
            (format!("{be}/type"), "vif".into()),
            (format!("{be}/hotplug-status"), String::new()),
            (format!("{fe}/backend"), be.clone()),
            (format!("{fe}/backend-id"), "0".into()),
            (format!("{fe}/state"), "1".into()),
            (format!("{fe}/handle"), n),
            (format!("{fe}/mac"), mac),
            (format!("{fe}/mtu"), "1500".into()),
            (format!("{fe}/trusted"), "1".into()),
        ];
        if let Some(b) = bridge {
            pairs.push((format!("{be}/bridge"), b.into()));
        }
        for (k, v) in extra {
            pairs.push((format!("{be}/{k}"), (*v).into()));
        }
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.write(&refs);
    }
}

impl Drop for Xenstored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A scratch network namespace, deleted on drop (with every link in it).
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add <unique name>`, with `lo` up.
    pub fn new() -> Netns {
        let name = unique("hvx");
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        run_ok(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    /// A veth pair: `name` here, its peer `peer` in namespace `other`.
    pub fn veth(&self, name: &str, other: &Netns, peer: &str) {
        let args = ["link", "add", name, "type", "veth", "peer", "name", peer];
        self.ip(&[&args[..], &["netns", other.name()]].concat());
    }

    /// A bridge, up, with this MTU.
    pub fn bridge(&self, name: &str, mtu: u32) {
        self.ip(&[
            "link",
            "add",
            name,
            "mtu",
            &mtu.to_string(),
            "type",
            "bridge",
        ]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// A veth standing in for netback's vif (its peer gets a `p` suffix... or a short
    /// unique name when that would be too long).
    pub fn fake_vif(&self, name: &str) {
        let peer = unique("p");
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
    }

    /// `ip netns exec NS CMD...`.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap()
    }

    /// `ip netns exec NS CMD...`, which must succeed; its stdout.
    pub fn exec_ok(&self, cmd: &[&str]) -> String {
        let out = self.exec(cmd);
        assert!(
            out.status.success(),
            "{} in {}: {}",
            cmd.join(" "),
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tap standing in for QEMU's `-emu` device.
    pub fn fake_tap(&self, name: &str) {
        self.ip(&["tuntap", "add", "dev", name, "mode", "tap"]);
    }

    /// `ip -j -d link show dev NAME`, or `None` if there is no such link.
    pub fn link(&self, name: &str) -> Option<LinkInfo> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-j", "-d", "link", "show", "dev", name])
            .output()
            .unwrap();
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let l = &v[0];
        Some(LinkInfo {
            name: l["ifname"].as_str().unwrap().to_owned(),
            mtu: l["mtu"].as_u64().unwrap() as u32,
            master: l["master"].as_str().map(str::to_owned),
            mac: l["address"].as_str().unwrap_or_default().to_owned(),
            up: l["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str() == Some("UP")),
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// What the tests check on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Name.
    pub name: String,
    /// MTU.
    pub mtu: u32,
    /// The bridge it is a port of.
    pub master: Option<String>,
    /// Its MAC, lower case.
    pub mac: String,
    /// Administratively up.
    pub up: bool,
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The hvnet binary (built by `cargo build --bins`), or `$HVNET_BIN`.
pub fn hvnet_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HVNET_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/<this test> -> target/debug/hvnet
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("hvnet");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bins` first (or set HVNET_BIN)",
        bin.display()
    );
    bin
}

/// One hotplug call as libxl makes it.
pub struct Call<'a> {
    /// The daemon.
    pub xs: &'a Xenstored,
    /// The namespace the devices are in.
    pub ns: &'a Netns,
    /// The lock directory (`HVNET_XEN_LOCK_DIR`).
    pub lock_dir: &'a Path,
    /// domid, devid.
    pub ids: (u32, u32),
    /// `type_if=tap`: also sets `INTERFACE`.
    pub tap: bool,
    /// Run through a symlink with this name (e.g. `vif-bridge`) under `ip netns exec`
    /// instead of `hvnet --netns NS xen hotplug`.
    pub argv0: Option<&'a str>,
    /// Extra environment (after libxl's, so `netdev` can be set).
    pub env: &'a [(&'a str, &'a str)],
}

impl Call<'_> {
    /// Runs the call with `action` (online, offline, add, remove).
    pub fn run(&self, action: &str) -> Output {
        self.command(action).output().unwrap()
    }

    /// The command of the call with `action`, not started.
    pub fn command(&self, action: &str) -> Command {
        let (d, n) = self.ids;
        let type_if = if self.tap {
            "type_if=tap"
        } else {
            "type_if=vif"
        };
        let bin = hvnet_bin();
        let mut cmd = match self.argv0 {
            Some(name) => {
                let dir = self.lock_dir.join("bin");
                std::fs::create_dir_all(&dir).unwrap();
                let link = dir.join(name);
                if !link.exists() {
                    std::os::unix::fs::symlink(&bin, &link).unwrap();
                }
                let mut c = Command::new("ip");
                c.args(["netns", "exec", self.ns.name()]).arg(&link);
                c
            }
            None => {
                let mut c = Command::new(&bin);
                c.args(["--netns", self.ns.name(), "xen", "hotplug"]);
                c
            }
        };
        cmd.args([action, type_if])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            // The tests of the vifs' guards in iptables; `tests/guard.rs` overrides it.
            .env("HVNET_FIREWALL", "iptables")
            .env("XENSTORED_PATH", self.xs.socket())
            .env("HVNET_XEN_LOCK_DIR", self.lock_dir)
            .env("script", "/etc/xen/scripts/vif-bridge")
            .env("XENBUS_TYPE", "vif")
            .env("XENBUS_PATH", format!("backend/vif/{d}/{n}"))
            .env("XENBUS_BASE_PATH", "backend")
            .env("netdev", "")
            .env("vif", format!("vif{d}.{n}"))
            .stdin(Stdio::null());
        if self.tap {
            cmd.env("INTERFACE", format!("vif{d}.{n}-emu"));
        }
        for (k, v) in self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A scratch directory removed on drop (the lock directory of a test).
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(unique("hvnet-xl-"));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory under `dir` whose links stand for the system's programs
/// (`/usr/sbin:/usr/bin:/sbin:/bin`) on a host with one firewall tool: `"nft"` leaves out
/// every `iptables*`, `ip6tables*` and `xtables*`; `"iptables"` leaves out `nft`. Returns
/// it as a `PATH`.
pub fn firewall_only_path(dir: &Path, keep: &str) -> String {
    let bin = dir.join(format!("only-{keep}"));
    std::fs::create_dir_all(&bin).unwrap();
    let is_iptables = |n: &str| {
        ["iptables", "ip6tables", "xtables"]
            .iter()
            .any(|p| n.starts_with(p))
    };
    for d in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        for entry in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let left_out = if keep == "nft" {
                is_iptables(&name)
            } else {
                name == "nft"
            };
            let link = bin.join(&name);
            if !left_out && link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(entry.path(), link).unwrap();
            }
        }
    }
    bin.display().to_string()
}

/// Asserts that a command succeeded, showing its exit and output otherwise.
pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The link-local address of `dev` in `ns`.
pub fn link_local(ns: &Netns, dev: &str) -> String {
    let out = ns.exec_ok(&[
        "ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
    ]);
    out.split_whitespace()
        .skip_while(|x| *x != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("{dev} has no link-local address: {out}"))
        .to_string()
}
