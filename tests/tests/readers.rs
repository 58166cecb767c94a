//! Readers never see a half-built host: 100 applies alternating two configs while `check`,
//! `plan` and `show` run in a loop beside them. A reader may find differences (exit 1: the
//! host holds the other config) but never fails on half-made state (exit 2: "not owned by
//! hvnet", "qdisc hvnet did not create") — readers hold the host lock shared, writers
//! exclusively.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hvnet_tests::*;

const A: &str = r#"
[[network]]
name = "ra"
kind = "isolated"
bridge = "rdbr0"
address = "10.93.0.1/24"

[[guest]]
name = "g1"
[[guest.nic]]
network = "ra"
rate = "10mbit"
[[guest]]
name = "g2"
[[guest.nic]]
network = "ra"
"#;

const B: &str = r#"
[[network]]
name = "ra"
kind = "isolated"
bridge = "rdbr0"
address = "10.93.0.1/24"

[[guest]]
name = "g1"
[[guest.nic]]
network = "ra"
rate = "20mbit"
[[guest]]
name = "g3"
[[guest.nic]]
network = "ra"
rate = { egress = "1mbit" }
"#;

#[test]
fn readers_never_see_half_built_state() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("readers");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let (a, b) = (dir.write("a.toml", A), dir.write("b.toml", B));
    hv.apply(&a);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = [&["check"][..], &["plan"][..], &["show"][..]]
        .into_iter()
        .map(|args| {
            let (hv, a, done) = (hv.clone(), a.clone(), done.clone());
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let mut runs = 0;
                while !done.load(Ordering::Relaxed) {
                    let r = hv.run(&a, &args);
                    assert!(r.code == 0 || r.code == 1, "a reader failed\n{r}");
                    runs += 1;
                }
                runs
            })
        })
        .collect();
    for i in 0..100 {
        let cfg = if i % 2 == 0 { &b } else { &a };
        hv.run(cfg, &["apply"]).ok();
    }
    done.store(true, Ordering::Relaxed);
    let runs: Vec<usize> = readers.into_iter().map(|t| t.join().unwrap()).collect();
    println!("reader runs during 100 applies (check, plan, show): {runs:?}");
    assert!(runs.iter().all(|n| *n > 0), "{runs:?}");
    hv.run(&a, &["down"]).ok();
}
