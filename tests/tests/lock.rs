//! The apply lock: concurrent `apply`s serialise; a held lock makes `apply` give up with
//! exit 3 after `--lock-timeout`, having changed nothing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvnet_linux::lock::HostLock;
use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "isolated"
bridge = "lkbr0"
address = "10.44.0.1/24"

[[guest]]
name = "a"
[[guest.nic]]
network = "lan"

[[guest]]
name = "b"
[[guest.nic]]
network = "lan"

[[guest]]
name = "c"
[[guest.nic]]
network = "lan"
"#;

/// hvnet's default state directory with `--netns NS` (documented in `hvnet --help`).
fn default_state_dir(ns: &str) -> PathBuf {
    Path::new("/run/hvnet/netns").join(ns)
}

fn spawn_apply(ns: &str, cfg: &Path) -> std::process::Child {
    Command::new(hvnet_bin())
        .args(["--netns", ns, "-c", cfg.to_str().unwrap(), "apply"])
        .env_remove("HVNET_FAULT_AT")
        .env_remove("HVNET_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_applies_serialise() {
    if !require_root() {
        return;
    }
    let host = Netns::new("lock-conc");
    let dir = TempDir::new();
    let h = host.name();
    let cfg = dir.write("c.toml", CONFIG);
    // The default state directory, shared by both processes.
    let hv = Hv {
        netns: h.to_string(),
        state_dir: None,
        env: Vec::new(),
    };
    for round in 0..3 {
        let (c1, c2) = (spawn_apply(h, &cfg), spawn_apply(h, &cfg));
        let (o1, o2) = (
            c1.wait_with_output().unwrap(),
            c2.wait_with_output().unwrap(),
        );
        let show = |o: &std::process::Output| {
            format!(
                "[exit {:?}]\n{}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        let msg = format!(
            "round {round}:\n--- first\n{}--- second\n{}",
            show(&o1),
            show(&o2)
        );
        assert!(o1.status.success() && o2.status.success(), "{msg}");
        let outs = [
            String::from_utf8_lossy(&o1.stdout).trim().to_string(),
            String::from_utf8_lossy(&o2.stdout).trim().to_string(),
        ];
        let applied = outs.iter().filter(|o| o.starts_with("applied: ")).count();
        let nothing = outs.iter().filter(|o| is_no_changes(o)).count();
        assert_eq!((applied, nothing), (1, 1), "{msg}");
        // One bridge, one tap per guest: the second run saw the first one's result.
        let owned: Vec<String> = links(h)
            .iter()
            .filter_map(|l| l["ifalias"].as_str().map(str::to_string))
            .collect();
        let mut owned_sorted = owned.clone();
        owned_sorted.sort();
        assert_eq!(
            owned_sorted,
            ["hvnet:a", "hvnet:b", "hvnet:c", "hvnet:lan"],
            "{msg}"
        );
        assert_eq!(ipv4(h, "lkbr0"), ["10.44.0.1/24"]);
        assert!(
            default_state_dir(h).join("lock").is_file(),
            "the lock lives in /run/hvnet/netns/NAME/lock by default"
        );
        let out = hv.run(&cfg, &["down"]);
        // 3 guest taps, the bridge, and the isolated network's firewall chains.
        assert_eq!(op_count(&out.ok().stdout, "removed"), 5, "{out}");
    }
}

/// Holds the lock at `lock` and checks that apply (and the other writers) time out with
/// exit 3, change nothing, and that read-only commands still work.
fn check_held(hv: &Hv, h: &str, cfg: &Path, lock: &Path) {
    let before = settled_snapshot(h);
    let held = HostLock::acquire(lock, Duration::ZERO).expect("take the lock");

    let start = Instant::now();
    let r = hv.run(cfg, &["apply", "--lock-timeout", "500ms"]);
    let waited = start.elapsed();
    r.expect_code(3);
    assert!(r.stderr.contains("lock"), "{r}");
    assert!(
        r.stderr.contains(&lock.display().to_string()),
        "names the lock file\n{r}"
    );
    assert!(
        r.stderr
            .contains(&format!("held by pid {}", std::process::id())),
        "names the holder\n{r}"
    );
    assert!(
        waited >= Duration::from_millis(500),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    assert!(!r.stdout.contains("applied"), "{r}");
    assert_snapshot(h, &before, &"apply that timed out on the lock");

    for args in [
        &["down", "--lock-timeout", "200ms"][..],
        &["brdelall", "--lock-timeout", "200ms"][..],
    ] {
        hv.run(cfg, args).expect_code(3);
    }
    // Read-only commands do not need the lock.
    hv.run(cfg, &["plan"]).ok();
    hv.run(cfg, &["show"]).ok();
    hv.run(cfg, &["apply", "--dry-run"]).ok();
    assert_snapshot(h, &before, &"commands run while the lock was held");

    drop(held);
    let out = hv.run(cfg, &["apply", "--lock-timeout", "500ms"]);
    assert!(out.ok().stdout.starts_with("applied: "), "{out}");
    let out = hv.run(cfg, &["down"]);
    out.ok();
}

#[test]
fn held_lock_times_out_with_exit_3_and_changes_nothing() {
    if !require_root() {
        return;
    }
    let host = Netns::new("lock-held");
    let dir = TempDir::new();
    let h = host.name();
    let cfg = dir.write("c.toml", CONFIG);
    // A user's own bridge, so that there is state to compare.
    host.ip(&["link", "add", "userbr", "type", "bridge"]);

    // With the default state directory...
    let hv = Hv {
        netns: h.to_string(),
        state_dir: None,
        env: Vec::new(),
    };
    check_held(&hv, h, &cfg, &default_state_dir(h).join("lock"));

    // ...and with --state-dir.
    let hv = Hv::new(&host, &dir);
    let lock = hv.state_dir.clone().unwrap().join("lock");
    check_held(&hv, h, &cfg, &lock);
}
