//! Root-only integration tests of the system-facing modules: namespaces,
//! taps, sysctls, the host lock and the ICMP prober.
//!
//! Every test that touches the network works inside network namespaces it
//! creates (`hvt-<pid>-<n>`) and removes, even on panic; the root
//! namespace's interfaces, routes and sysctls are never changed. `ip` is used
//! only to set up peers and to check results independently. Tests that need
//! root print a message and pass when not run as root.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use hvnet_linux::lock::{HostLock, LockError};
use hvnet_linux::netns::{self, NetnsError};
use hvnet_linux::tap::{self, TapConfig, TapError};
use hvnet_linux::{ping, sysctl};

mod common;
use common::{eventually, ip, require_root, NetnsGuard};

/// A uid and gid with no passwd/group entry, so that `ip` prints them as numbers.
const UID: u32 = 4242;
const GID: u32 = 4343;

/// A named namespace that is deleted when dropped, even during a panic.
struct TestNs(NetnsGuard);

impl TestNs {
    fn new() -> TestNs {
        TestNs(NetnsGuard::unique("hvt"))
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    /// Runs `ip -n NS ARGS...`, panicking on failure; returns stdout.
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip -j -d link show DEV` inside the namespace.
    fn link_json(&self, dev: &str) -> String {
        self.ip(&["-j", "-d", "link", "show", "dev", dev])
    }
}

/// The raw JSON value of the first `"key":` in `json` (a scalar: quotes of
/// strings removed). Enough for `ip -j`'s flat fields.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = json.find(&pat)? + pat.len();
    let rest = &json[start..];
    let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// The tun driver's `"info_data":{...}` object of a link.
fn tun_info(json: &str) -> &str {
    let start = json.find("\"info_data\":{").expect("no info_data");
    let end = start + json[start..].find('}').expect("unterminated info_data");
    &json[start..=end]
}

/// The `"flags":[...]` list of a link.
fn flags(json: &str) -> Vec<String> {
    let start = json.find("\"flags\":[").expect("no flags") + "\"flags\":[".len();
    let end = start + json[start..].find(']').expect("unterminated flags");
    json[start..end]
        .split(',')
        .map(|f| f.trim_matches('"').to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

/// The inode of the calling thread's network namespace.
fn current_netns_inode() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .expect("stat /proc/thread-self/ns/net")
        .ino()
}

/// Creates a tap inside `ns`.
fn create_tap_in(ns: &TestNs, cfg: TapConfig) -> Result<u32, TapError> {
    netns::run_in(ns.name(), move || tap::create_persistent(&cfg)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn netns_lifecycle() {
    require_root!();
    let own = current_netns_inode();
    let ns = TestNs::new();
    let name = ns.name().to_owned();

    assert!(netns::exists(&name));
    assert!(netns::list().contains(&name), "{:?}", netns::list());
    assert!(ip(&["netns", "list"])
        .lines()
        .any(|l| l.split_whitespace().next() == Some(&name)));
    assert_eq!(
        current_netns_inode(),
        own,
        "create must not move the caller"
    );
    assert!(matches!(
        netns::create(&name),
        Err(NetnsError::AlreadyExists { .. })
    ));

    // run_in runs elsewhere and leaves the caller alone.
    let inside = netns::run_in(&name, current_netns_inode).unwrap();
    assert_ne!(inside, own);
    assert_eq!(current_netns_inode(), own);
    let file_ino = std::fs::metadata(netns::path(&name)).unwrap().ino();
    assert_eq!(inside, file_ino);
    // A fresh namespace has only a loopback device.
    let links = ns.ip(&["-o", "link", "show"]);
    assert_eq!(links.lines().count(), 1, "{links}");

    // enter() moves only the calling thread.
    let entered = {
        let name = name.clone();
        thread::spawn(move || {
            netns::enter(&name).unwrap();
            current_netns_inode()
        })
        .join()
        .unwrap()
    };
    assert_eq!(entered, inside);
    assert_eq!(current_netns_inode(), own);

    // open() gives a namespace descriptor.
    let fd = netns::open(&name).unwrap();
    drop(fd);

    // Panics come back as errors.
    let err = netns::run_in(&name, || -> u32 { panic!("deliberate") }).unwrap_err();
    assert!(
        matches!(&err, NetnsError::Panicked { message, .. } if message == "deliberate"),
        "{err}"
    );

    netns::delete(&name).unwrap();
    assert!(!netns::exists(&name));
    assert!(!netns::list().contains(&name));
    assert!(!netns::path(&name).exists());
    netns::delete(&name).unwrap(); // idempotent
    assert!(matches!(
        netns::open(&name),
        Err(NetnsError::NotFound { .. })
    ));
    assert!(matches!(
        netns::run_in(&name, || ()),
        Err(NetnsError::NotFound { .. })
    ));
    assert!(matches!(
        netns::create("a/b"),
        Err(NetnsError::InvalidName { .. })
    ));
}

#[test]
fn netns_leftover_file_is_not_a_namespace() {
    require_root!();
    let ns = TestNs::new();
    let name = format!("{}-stale", ns.name());
    std::fs::write(netns::path(&name), b"").unwrap();
    assert!(!netns::exists(&name));
    assert!(!netns::list().contains(&name));
    assert!(matches!(
        netns::open(&name),
        Err(NetnsError::NotANamespace { .. })
    ));
    assert!(matches!(
        netns::create(&name),
        Err(NetnsError::AlreadyExists { .. })
    ));
    netns::delete(&name).unwrap();
    assert!(!netns::path(&name).exists());
}

#[test]
fn tap_flags_and_owner() {
    require_root!();
    let ns = TestNs::new();

    let ifindex = create_tap_in(
        &ns,
        TapConfig {
            owner: Some(UID),
            group: Some(GID),
            vnet_hdr: true,
            ..TapConfig::new("vnet0")
        },
    )
    .unwrap();
    let link = ns.link_json("vnet0");
    assert_eq!(field(&link, "ifindex"), Some(ifindex.to_string().as_str()));
    assert_eq!(field(&link, "info_kind"), Some("tun"), "{link}");
    assert!(!flags(&link).contains(&"UP".to_owned()), "created down");
    let json = tun_info(&link);
    assert_eq!(field(json, "type"), Some("tap"), "{json}");
    assert_eq!(field(json, "pi"), Some("false"), "{json}");
    assert_eq!(field(json, "vnet_hdr"), Some("true"), "{json}");
    assert_eq!(field(json, "multi_queue"), Some("false"), "{json}");
    assert_eq!(field(json, "persist"), Some("true"), "{json}");
    assert_eq!(field(json, "user"), Some(UID.to_string().as_str()));
    assert_eq!(field(json, "group"), Some(GID.to_string().as_str()));

    // No owner/group, multi-queue, no vnet header; a dotted name.
    create_tap_in(
        &ns,
        TapConfig {
            multi_queue: true,
            ..TapConfig::new("vif1.0")
        },
    )
    .unwrap();
    let link = ns.link_json("vif1.0");
    let json = tun_info(&link);
    assert_eq!(field(json, "vnet_hdr"), Some("false"), "{json}");
    assert_eq!(field(json, "multi_queue"), Some("true"), "{json}");
    assert_eq!(field(json, "persist"), Some("true"), "{json}");
    assert_eq!(field(json, "user"), None, "{json}");
    assert_eq!(field(json, "group"), None, "{json}");

    // Invalid names are refused before any syscall.
    assert!(matches!(
        create_tap_in(&ns, TapConfig::new("tap%d")),
        Err(TapError::InvalidName { .. })
    ));
    assert!(matches!(
        create_tap_in(&ns, TapConfig::new("a-name-too-long0")),
        Err(TapError::InvalidName { .. })
    ));
    assert!(tap::supports_vnet_hdr());
}

#[test]
fn tap_existing_name_is_refused_and_untouched() {
    require_root!();
    let ns = TestNs::new();
    create_tap_in(
        &ns,
        TapConfig {
            owner: Some(UID),
            ..TapConfig::new("vnet1")
        },
    )
    .unwrap();
    let before = ns.link_json("vnet1");

    // Same name as an existing tap, with flags that would otherwise attach
    // and change it.
    let err = create_tap_in(
        &ns,
        TapConfig {
            owner: Some(1),
            vnet_hdr: true,
            ..TapConfig::new("vnet1")
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, TapError::AlreadyExists { name } if name == "vnet1"),
        "{err}"
    );
    assert!(err.to_string().contains("vnet1"), "{err}");
    assert_eq!(ns.link_json("vnet1"), before);

    // Non-tap devices: loopback and a veth.
    let lo_before = ns.link_json("lo");
    assert!(matches!(
        create_tap_in(&ns, TapConfig::new("lo")),
        Err(TapError::AlreadyExists { .. })
    ));
    assert_eq!(ns.link_json("lo"), lo_before);
    ns.ip(&["link", "add", "ve0", "type", "veth", "peer", "name", "ve1"]);
    let veth_before = ns.link_json("ve0");
    assert!(matches!(
        create_tap_in(&ns, TapConfig::new("ve0")),
        Err(TapError::AlreadyExists { .. })
    ));
    assert_eq!(ns.link_json("ve0"), veth_before);
    // Attaching to a non-tap fails too.
    let err = netns::run_in(ns.name(), || tap::open_queue("ve0", false, false))
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("ve0"), "{err}");
}

/// A held tap exists (and can be marked) but vanishes with its descriptor — as it does when
/// the process is killed — unless made persistent.
#[test]
fn held_tap_lives_with_its_descriptor_until_persisted() {
    require_root!();
    let ns = TestNs::new();
    let links = || ns.ip(&["-br", "link", "show"]);
    netns::run_in(ns.name(), || {
        let maker = tap::TapMaker::new("vnet5")?;
        let held = maker.hold(&TapConfig::new("vnet5"))?;
        assert_eq!(held.name(), "vnet5");
        assert!(held.ifindex() > 1);
        Ok::<_, TapError>(held)
    })
    .unwrap()
    .map(|held| {
        assert!(links().contains("vnet5"), "{}", links());
        // Held, it looks like the persistent tap it becomes: up, it has no carrier.
        ns.ip(&["link", "set", "vnet5", "up"]);
        let flags = ns.ip(&["-br", "link", "show", "vnet5"]);
        assert!(flags.contains("NO-CARRIER"), "{flags}");
        drop(held);
    })
    .unwrap();
    assert!(
        !links().contains("vnet5"),
        "a dropped held tap stays:\n{}",
        links()
    );

    let held = netns::run_in(ns.name(), || {
        tap::TapMaker::new("vnet6")?.hold(&TapConfig::new("vnet6"))
    })
    .unwrap()
    .unwrap();
    ns.ip(&["link", "set", "vnet6", "alias", "mine"]);
    let ifindex = held.ifindex();
    assert_eq!(held.persist().unwrap(), ifindex);
    let json = ns.link_json("vnet6");
    assert_eq!(field(&json, "ifalias"), Some("mine"), "{json}");
}

#[test]
fn tap_queue_gives_carrier() {
    require_root!();
    let ns = TestNs::new();
    create_tap_in(
        &ns,
        TapConfig {
            vnet_hdr: true,
            ..TapConfig::new("vnet2")
        },
    )
    .unwrap();
    ns.ip(&["link", "set", "dev", "vnet2", "up"]);
    let has = |flag: &str| flags(&ns.link_json("vnet2")).iter().any(|f| f == flag);
    eventually("NO-CARRIER without a queue", || has("NO-CARRIER"));
    assert!(!has("LOWER_UP"));

    let queue = netns::run_in(ns.name(), || tap::open_queue("vnet2", true, false))
        .unwrap()
        .unwrap();
    eventually("LOWER_UP with a queue", || {
        has("LOWER_UP") && !has("NO-CARRIER")
    });
    let link = ns.link_json("vnet2");
    assert_eq!(field(tun_info(&link), "persist"), Some("true"), "{link}");

    drop(queue);
    eventually("NO-CARRIER after closing the queue", || {
        has("NO-CARRIER") && !has("LOWER_UP")
    });
    // Still there: it is persistent.
    assert_eq!(field(tun_info(&ns.link_json("vnet2")), "type"), Some("tap"));

    // Multi-queue flags must match the device.
    let err = netns::run_in(ns.name(), || tap::open_queue("vnet2", true, true))
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("TUNSETIFF"), "{err}");

    // Attaching never creates a device.
    let err = netns::run_in(ns.name(), || tap::open_queue("nosuch0", false, false))
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, TapError::NotFound { .. }), "{err}");
    let links = ns.ip(&["-o", "link", "show"]);
    assert!(!links.contains("nosuch0"), "{links}");
}

#[test]
fn sysctl_in_namespace() {
    require_root!();
    let root_forward = sysctl::read("net/ipv4/ip_forward").unwrap();
    let ns = TestNs::new();
    create_tap_in(&ns, TapConfig::new("vif2.0")).unwrap();

    let flipped = if root_forward == "1" { "0" } else { "1" };
    let (read_back, proxy_arp) = netns::run_in(ns.name(), move || {
        sysctl::write("net/ipv4/ip_forward", flipped).unwrap();
        sysctl::write("net/ipv4/conf/vif2.0/proxy_arp", "1").unwrap();
        (
            sysctl::read("net/ipv4/ip_forward").unwrap(),
            sysctl::read("net/ipv4/conf/vif2.0/proxy_arp").unwrap(),
        )
    })
    .unwrap();
    assert_eq!(read_back, flipped);
    assert_eq!(proxy_arp, "1");

    // Checked independently, and the root namespace is untouched.
    let seen = ip(&[
        "netns",
        "exec",
        ns.name(),
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
    ]);
    assert_eq!(seen.trim_end(), flipped);
    assert_eq!(sysctl::read("net/ipv4/ip_forward").unwrap(), root_forward);
    assert!(matches!(
        sysctl::read("net/ipv4/conf/vif2.0/proxy_arp"),
        Err(sysctl::SysctlError::NotFound { .. })
    ));

    // A value the kernel rejects names the key in dotted form.
    let err = netns::run_in(ns.name(), || {
        sysctl::write("net/ipv4/conf/vif2.0/proxy_arp", "not-a-number")
    })
    .unwrap()
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("net.ipv4.conf.vif2/0.proxy_arp"), "{msg}");
}

/// A fresh path for a lock file, in a directory that does not exist yet.
fn lock_path(tag: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("hvnet-lock-test-{}-{tag}", std::process::id()))
        .join("sub")
        .join("apply.lock")
}

#[test]
fn lock_times_out_with_holder_pid_then_succeeds() {
    let path = lock_path("a");
    let first = HostLock::acquire(&path, Duration::from_secs(1)).unwrap();
    assert_eq!(first.path(), path);
    let pid = std::process::id();
    let contents = std::fs::read_to_string(&path).unwrap();
    assert_eq!(contents.trim(), pid.to_string());
    let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
    assert_eq!(mode & !0o644, 0, "mode {mode:o}");

    // A second holder (another open file description) times out.
    let p = path.clone();
    let err = thread::spawn(move || HostLock::acquire(&p, Duration::from_millis(150)))
        .join()
        .unwrap()
        .unwrap_err();
    match &err {
        LockError::Timeout {
            waited, holder_pid, ..
        } => {
            assert!(*waited >= Duration::from_millis(150), "{waited:?}");
            assert!(*waited < Duration::from_secs(2), "{waited:?}");
            assert_eq!(*holder_pid, Some(pid));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(
        err.to_string().contains(&format!("held by pid {pid}")),
        "{err}"
    );

    // A waiter gets the lock once the first holder drops it.
    let p = path.clone();
    let waiter = thread::spawn(move || {
        let start = Instant::now();
        let lock = HostLock::acquire(&p, Duration::from_secs(5));
        (lock, start.elapsed())
    });
    thread::sleep(Duration::from_millis(100));
    drop(first);
    let (second, waited) = waiter.join().unwrap();
    let second = second.unwrap();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        pid.to_string()
    );
    drop(second);

    // Zero timeout: one attempt, which succeeds on a free lock.
    drop(HostLock::acquire(&path, Duration::ZERO).unwrap());
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

#[test]
fn ping_over_veth() {
    require_root!();
    let a = TestNs::new();
    let b = TestNs::new();
    // Documentation addresses (TEST-NET-1), only ever inside these namespaces.
    a.ip(&[
        "link",
        "add",
        "pa",
        "type",
        "veth",
        "peer",
        "name",
        "pb",
        "netns",
        b.name(),
    ]);
    a.ip(&["addr", "add", "192.0.2.1/24", "dev", "pa"]);
    b.ip(&["addr", "add", "192.0.2.2/24", "dev", "pb"]);
    a.ip(&["link", "set", "dev", "pa", "up"]);
    b.ip(&["link", "set", "dev", "pb", "up"]);
    a.ip(&["link", "set", "dev", "lo", "up"]);

    let report = ping::ping(
        Some(a.name()),
        Ipv4Addr::new(192, 0, 2, 2),
        3,
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(report.sent, 3, "{report:?}");
    assert_eq!(report.received, 3, "{report:?}");
    assert_eq!(report.rtts.len(), 3);
    assert!(report.rtts.iter().all(|rtt| *rtt < Duration::from_secs(1)));

    // Nobody has .3: no replies, and the probe stops at the timeout.
    let start = Instant::now();
    let report = ping::ping(
        Some(a.name()),
        Ipv4Addr::new(192, 0, 2, 3),
        2,
        Duration::from_millis(500),
    )
    .unwrap();
    let took = start.elapsed();
    assert_eq!((report.sent, report.received), (2, 0), "{report:?}");
    assert!(report.rtts.is_empty());
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // No route at all: refused by the kernel, reported as unanswered.
    let report = ping::ping(
        Some(a.name()),
        Ipv4Addr::new(203, 0, 113, 1),
        2,
        Duration::from_millis(300),
    )
    .unwrap();
    assert_eq!((report.sent, report.received), (2, 0), "{report:?}");

    // Without a namespace the probe uses the calling thread's.
    let name = a.name().to_owned();
    let report = thread::spawn(move || {
        netns::enter(&name).unwrap();
        ping::ping(None, Ipv4Addr::LOCALHOST, 2, Duration::from_secs(2))
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(report.received, 2, "{report:?}");

    let err = ping::ping(
        Some("hvt-no-such-ns"),
        Ipv4Addr::LOCALHOST,
        1,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("hvt-no-such-ns"), "{err}");
}
