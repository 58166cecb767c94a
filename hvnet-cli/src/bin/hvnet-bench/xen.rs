//! The Xen hotplug benchmark (`--xen`): 64 sequential vif `online` calls with
//! `hvnet --netns NS xen hotplug online type_if=vif` against Debian's real
//! `/etc/xen/scripts/vif-bridge online type_if=vif` (xen-utils-common), each against a real
//! cxenstored 4.17 of its own (under the fakexen `LD_PRELOAD` shim, as hvnet-xen's tests run
//! it) and in a fresh network namespace holding bridge `xenbr0` and veths `vif1.0`…`vif64.0`
//! standing in for netback's vifs, with the backend and frontend keys written as libxl writes
//! them.
//!
//! Both methods are driven the same way: one `sh` loop, started with
//! `ip netns exec NS unshare -m` and an empty environment, runs the 64 calls one after the
//! other with libxl's environment (`XENBUS_PATH`, `vif`, `script`, ...) and times them with
//! `date +%s%N` around the loop; a call that fails stops the run. In that mount namespace a
//! tmpfs covers `/var/log` with an empty `/var/log/xen` (the stock scripts send their stderr to
//! `/var/log/xen/xen-hotplug.log`, and the script exits at once if it cannot). Debian's
//! `vif-common.sh` disables `handle_iptable`, so the stock script takes no
//! `/var/run/xen-hotplug` lock; hvnet's lock goes to a scratch directory
//! (`HVNET_XEN_LOCK_DIR`). The stock script logs one `daemon.debug` line per call through
//! `logger`, as on a real host.
//!
//! After each run every vif must be a port of `xenbr0`, up, and have
//! `hotplug-status=connected`, or the benchmark fails. Needs root, xen-utils-4.17,
//! xenstore-utils, libxen-dev and gcc (see `scripts/install-deps.sh`).

use std::fmt::Write as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{median, run, Ns, Res};

/// vifs per run (domids 1..=VIFS, devid 0).
const VIFS: u32 = 64;

/// cxenstored of Debian 12's xen-utils-4.17.
const XENSTORED: &str = "/usr/lib/xen-4.17/bin/xenstored";

/// The stock script.
const VIF_BRIDGE: &str = "/etc/xen/scripts/vif-bridge";

/// The shim's source (hvnet-xen's test harness; compiled into this binary).
const FAKEXEN_C: &str = include_str!("../../../../hvnet-xen/tests/fakexen/fakexen.c");

/// The environment's PATH for both methods (libxl passes its own; the scripts extend it).
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// A cxenstored under the shim, killed on drop.
struct Xenstored {
    child: Child,
    socket: PathBuf,
}

impl Xenstored {
    fn start(dir: &Path, shim: &Path) -> Res<Xenstored> {
        let fx = dir.join("fx");
        std::fs::create_dir_all(&fx).map_err(|e| format!("{}: {e}", fx.display()))?;
        std::fs::write(fx.join("xsd_port"), "1\n").map_err(|e| e.to_string())?;
        std::fs::write(fx.join("xsd_kva"), vec![0u8; 4096]).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("xenstored.log")).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(XENSTORED)
            .args(["-N", "-F"])
            .arg(dir.join("pid"))
            .env_remove("XENSTORED_PATH")
            .env("XENSTORED_RUNDIR", dir)
            .env("FAKEXEN_DIR", &fx)
            .env("LD_PRELOAD", shim)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{XENSTORED}: {e}"))?;
        let mut xs = Xenstored {
            child,
            socket: dir.join("socket"),
        };
        let start = Instant::now();
        while UnixStream::connect(&xs.socket).is_err() {
            if let Ok(Some(status)) = xs.child.try_wait() {
                return Err(format!("xenstored exited with {status} before answering"));
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err("xenstored did not answer within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(xs)
    }

    fn cli(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("XENSTORED_PATH", &self.socket);
        c
    }
}

impl Drop for Xenstored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the shim into `dir`.
fn build_shim(dir: &Path) -> Res<PathBuf> {
    let src = dir.join("fakexen.c");
    let so = dir.join("fakexen.so");
    std::fs::write(&src, FAKEXEN_C).map_err(|e| e.to_string())?;
    run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl"))
    .map_err(|e| format!("building the fakexen shim (needs gcc and libxen-dev): {e}"))?;
    Ok(so)
}

/// The backend and frontend nodes libxl writes for vif `domid`.0 (reference §4).
fn libxl_keys(domid: u32, pairs: &mut Vec<String>) {
    let be = format!("/local/domain/0/backend/vif/{domid}/0");
    let fe = format!("/local/domain/{domid}/device/vif/0");
    let mac = format!("00:16:3e:00:{:02x}:{:02x}", domid >> 8, domid & 0xff);
    for (k, v) in [
        (format!("{be}/frontend"), fe.clone()),
        (format!("{be}/frontend-id"), domid.to_string()),
        (format!("{be}/online"), "1".into()),
        (format!("{be}/state"), "2".into()),
        (format!("{be}/script"), VIF_BRIDGE.into()),
        (format!("{be}/mac"), mac.clone()),
        (format!("{be}/handle"), "0".into()),
        (format!("{be}/type"), "vif".into()),
        (format!("{be}/bridge"), "xenbr0".into()),
        (format!("{be}/hotplug-status"), String::new()),
        (format!("{fe}/backend"), be.clone()),
        (format!("{fe}/backend-id"), "0".into()),
        (format!("{fe}/state"), "1".into()),
        (format!("{fe}/handle"), "0".into()),
        (format!("{fe}/mac"), mac),
        (format!("{fe}/mtu"), "1500".into()),
        (format!("{fe}/trusted"), "1".into()),
    ] {
        pairs.push(k);
        pairs.push(v);
    }
}

/// Which hotplug implementation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Hvnet,
    Script,
}

impl Method {
    fn tag(self) -> &'static str {
        match self {
            Method::Hvnet => "xen-hv",
            Method::Script => "xen-sh",
        }
    }
}

/// One run of one method in a fresh namespace and daemon; the loop's time in seconds.
fn one(method: Method, dir: &Path, shim: &Path, hvnet: &Path) -> Res<f64> {
    let work = dir.join(method.tag());
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("locks")).map_err(|e| e.to_string())?;
    let ns = Ns::new(method.tag())?;
    let xs = Xenstored::start(&work, shim)?;

    // The bridge and the 64 "netback" vifs (veths; peers p1..p64).
    let mut batch = String::from("link add xenbr0 type bridge\nlink set xenbr0 up\n");
    for d in 1..=VIFS {
        let _ = writeln!(batch, "link add vif{d}.0 type veth peer name p{d}");
    }
    let batch_file = work.join("links.batch");
    std::fs::write(&batch_file, batch).map_err(|e| e.to_string())?;
    run(Command::new("ip")
        .args(["-n", ns.name(), "-batch"])
        .arg(&batch_file))?;
    let mut pairs = Vec::new();
    for d in 1..=VIFS {
        libxl_keys(d, &mut pairs);
    }
    run(xs.cli("xenstore-write").args(&pairs))?;

    // The loop: the same for both methods but for the command.
    let call = match method {
        Method::Hvnet => format!(
            "'{}' --netns '{}' xen hotplug online type_if=vif",
            hvnet.display(),
            ns.name()
        ),
        Method::Script => format!("{VIF_BRIDGE} online type_if=vif"),
    };
    let script = format!(
        "set -e\n\
         mount -t tmpfs tmpfs /var/log\n\
         mkdir -p /var/log/xen\n\
         export PATH='{PATH}' XENSTORED_PATH='{socket}' HVNET_XEN_LOCK_DIR='{locks}' \
         script='{VIF_BRIDGE}' XENBUS_TYPE=vif XENBUS_BASE_PATH=backend netdev=\n\
         start=$(date +%s%N)\n\
         d=1\n\
         while [ $d -le {VIFS} ]; do\n\
           XENBUS_PATH=backend/vif/$d/0 vif=vif$d.0 {call} </dev/null\n\
           d=$((d + 1))\n\
         done\n\
         end=$(date +%s%N)\n\
         echo $((end - start))\n",
        socket = xs.socket.display(),
        locks = work.join("locks").display(),
    );
    let (_, out) = run(Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args([
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ])
        .env_clear()
        .env("PATH", PATH))
    .map_err(|e| format!("{} loop: {e}", method.tag()))?;
    let nanos: u64 = out
        .trim()
        .parse()
        .map_err(|_| format!("{} loop printed {out:?}", method.tag()))?;

    verify(method, &ns, &xs)?;
    Ok(nanos as f64 / 1e9)
}

/// Every vif is an up port of xenbr0 and has hotplug-status=connected.
fn verify(method: Method, ns: &Ns, xs: &Xenstored) -> Res<()> {
    let (_, links) = run(Command::new("ip").args([
        "-n",
        ns.name(),
        "-o",
        "link",
        "show",
        "master",
        "xenbr0",
        "up",
    ]))?;
    let attached = (1..=VIFS)
        .filter(|d| links.contains(&format!(": vif{d}.0@")))
        .count();
    let (_, tree) = run(xs
        .cli("xenstore-ls")
        .args(["-f", "/local/domain/0/backend/vif"]))?;
    let connected = tree
        .lines()
        .filter(|l| l.ends_with("/hotplug-status = \"connected\""))
        .count();
    if attached != VIFS as usize || connected != VIFS as usize {
        return Err(format!(
            "{}: {attached}/{VIFS} vifs attached and up, {connected}/{VIFS} connected",
            method.tag()
        ));
    }
    Ok(())
}

/// Runs the benchmark `runs` times (methods interleaved) and prints the table.
pub fn bench(runs: usize, dir: &Path, hvnet: &Path) -> Res<()> {
    for (path, what) in [
        (XENSTORED, "xen-utils-4.17"),
        (VIF_BRIDGE, "xen-utils-common"),
        ("/usr/bin/xenstore-write", "xenstore-utils"),
        ("/usr/include/xenctrl.h", "libxen-dev"),
    ] {
        if !Path::new(path).exists() {
            return Err(format!("{path} missing: install {what}"));
        }
    }
    let shim = build_shim(dir)?;
    let (mut hv, mut sh) = (Vec::new(), Vec::new());
    for r in 0..runs.max(1) {
        let h = one(Method::Hvnet, dir, &shim, hvnet)?;
        let s = one(Method::Script, dir, &shim, hvnet)?;
        eprintln!(
            "run {}: hvnet {:.1} ms, vif-bridge {:.1} ms",
            r + 1,
            h * 1e3,
            s * 1e3
        );
        hv.push(h);
        sh.push(s);
    }
    let (h, s) = (median(hv), median(sh));
    let n = f64::from(VIFS);
    println!(
        "\nXen vif hotplug: {VIFS} sequential `online type_if=vif` calls (bridge mode), \
         median of {} runs\n",
        runs.max(1)
    );
    println!("| method | total (ms) | per vif (ms) | vs hvnet |");
    println!("|---|---:|---:|---:|");
    println!(
        "| hvnet xen hotplug | {:.1} | {:.2} | 1.0× |",
        h * 1e3,
        h * 1e3 / n
    );
    println!(
        "| /etc/xen/scripts/vif-bridge (Xen 4.17, Debian) | {:.1} | {:.2} | {:.1}× |",
        s * 1e3,
        s * 1e3 / n,
        s / h
    );
    println!("\nratio vif-bridge / hvnet: {:.1}× (target ≥ 10×)", s / h);
    Ok(())
}
