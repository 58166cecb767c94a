//! A lab of "hypervisor" namespaces joined by an underlay bridge in another namespace, each
//! with a guest namespace: what the overlay tests (static VXLAN, EVPN) share.

use std::path::{Path, PathBuf};

use crate::*;

/// Whether this kernel makes VXLAN devices (probed in a scratch namespace).
pub fn vxlan_supported() -> bool {
    let ns = Netns::new("vxprobe");
    let r = try_ip(&[
        "-n",
        ns.name(),
        "link",
        "add",
        "vxp",
        "type",
        "vxlan",
        "id",
        "1",
        "local",
        "127.0.0.1",
        "dstport",
        "4789",
    ]);
    if r.code != 0 {
        println!(
            "SKIP: this kernel makes no VXLAN devices: {}",
            r.stderr.trim()
        );
    }
    r.code == 0
}

/// Whether every one of `tools` is on `PATH` (a SKIP line names the first that is not).
pub fn tools_available(tools: &[&str]) -> bool {
    for t in tools {
        if !on_path(t) {
            println!("SKIP: {t} is not installed");
            return false;
        }
    }
    true
}

/// The hypervisors, their guests and the underlay.
pub struct Lab {
    /// Configs, hvnet state directories, the DHCP hook.
    pub dir: TempDir,
    _underlay: Netns,
    /// The hypervisors (`hv1`, `hv2`, …).
    pub hosts: Vec<Netns>,
    /// One guest namespace per hypervisor.
    pub guests: Vec<Netns>,
}

impl Lab {
    /// `n` hypervisor namespaces, each with `under` (172.16.0.I/24, MTU 1500) on one
    /// underlay bridge, and `n` guest namespaces.
    pub fn new(n: usize) -> Lab {
        let underlay = Netns::new("ovu");
        underlay.ip(&["link", "add", "ub", "type", "bridge"]);
        underlay.ip(&["link", "set", "ub", "up"]);
        let mut hosts = Vec::new();
        let mut guests = Vec::new();
        for i in 1..=n {
            let h = Netns::new(&format!("hv{i}"));
            let port = format!("u{i}");
            underlay.ip(&[
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                "under",
                "netns",
                h.name(),
            ]);
            underlay.ip(&["link", "set", &port, "master", "ub", "up"]);
            h.ip(&["addr", "add", &format!("172.16.0.{i}/24"), "dev", "under"]);
            h.ip(&["link", "set", "under", "up"]);
            hosts.push(h);
            guests.push(Netns::new(&format!("g{i}")));
        }
        let dir = TempDir::new();
        let script = dir.write("udhcpc.sh", UDHCPC_SCRIPT);
        run("chmod", &["755", script.to_str().unwrap()], 5).ok();
        Lab {
            dir,
            _underlay: underlay,
            hosts,
            guests,
        }
    }

    pub fn guest_names(&self) -> Vec<String> {
        self.guests.iter().map(|g| g.name().to_string()).collect()
    }

    /// hvnet on host `i` (0-based), with its own state directory.
    pub fn hv(&self, i: usize) -> Hv {
        Hv {
            netns: self.hosts[i].name().to_string(),
            state_dir: Some(self.dir.path().join(format!("state{i}"))),
            env: Vec::new(),
        }
    }

    /// `hvnet ARGS` on host `i` as `hv{i+1}`.
    pub fn on(&self, i: usize, cfg: &Path, args: &[&str]) -> Run {
        let name = format!("hv{}", i + 1);
        self.hv(i)
            .run_env(cfg, args, &[("HVNET_HOST_NAME", name.as_str())])
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        self.dir.write(name, text)
    }

    /// Guest `i` leases from the gateway host's dnsmasq; its address.
    pub fn lease(&self, i: usize) -> String {
        let script = self.dir.path().join("udhcpc.sh");
        let r = udhcpc(self.guests[i].name(), &script);
        assert_eq!(r.code, 0, "guest {i} got no lease\n{r}");
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix("udhcpc bound ip="))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no lease line\n{r}"))
            .to_string()
    }

    /// `hvnet plan` on host `i` is the one op `op`.
    pub fn plan_is(&self, i: usize, cfg: &Path, op: &str) {
        let plan = self.on(i, cfg, &["plan"]);
        plan.ok();
        let lines: Vec<&str> = plan
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines, [op], "host {i}: {plan}");
    }

    /// Guest `from` pings `ip` (up to 3 tries, as the first may wait for ARP).
    pub fn pings(&self, from: usize, ip: &str) -> bool {
        nsx(
            self.guests[from].name(),
            "ping",
            &["-c", "1", "-W", "2", "-w", "4", ip],
        )
        .code
            == 0
    }
}
