//! Every apply converges (issue 15 §2), as a property of the pure pipeline: for random
//! valid configs, applied to the in-memory kernel that then stores what it was given the
//! way Linux reports it back (a tbf's bucket in 64 ns ticks; iptables' canonical rule
//! text), the plan against what is read back is empty. The same generator drives the root
//! test on the real kernel (tests/tests/converge.rs).

#![allow(clippy::unwrap_used)]

mod common;

#[path = "../../tests/src/confgen.rs"]
mod confgen;

use std::path::Path;

use common::{FakeKernel, Taps};
use hvnet_core::backend::Observe;
use hvnet_core::config::Config;
use hvnet_core::observed::QdiscKind;
use hvnet_core::plan::plan;
use hvnet_core::resolve::resolve;
use hvnet_core::services::services;
use hvnet_core::state::Tbf;
use hvnet_core::txn;
use proptest::test_runner::TestCaseError;

/// Apply `cfg` to a fresh in-memory kernel, let it read back like Linux, and plan again.
fn converges(text: &str) -> Result<(), TestCaseError> {
    let cfg = Config::parse(text, "gen.toml")
        .map_err(|e| TestCaseError::fail(format!("generated config is invalid:\n{e}\n{text}")))?;
    let run = Path::new("/run/hvnet-test");
    let mut k = FakeKernel::new();
    let obs = k.observe(&common::all()).unwrap();
    let mut want = resolve(&cfg, &obs, &Taps);
    services(&cfg, run, &mut want);
    let p = plan(&obs, &want).map_err(|e| TestCaseError::fail(e.to_string()))?;
    txn::run(&mut k, &p, None).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    // What the kernel reports back.
    for q in &mut k.state.qdiscs {
        if let QdiscKind::Tbf(t) = &mut q.kind {
            let burst = t.kernel_burst().ok_or_else(|| {
                TestCaseError::fail(format!("validated tbf {t} cannot be read back\n{text}"))
            })?;
            *t = Tbf {
                burst_bytes: burst,
                ..*t
            };
        }
    }
    let obs = k.observe(&common::all()).unwrap();
    let mut want = resolve(&cfg, &obs, &Taps);
    services(&cfg, run, &mut want);
    let again = plan(&obs, &want).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if again.ops.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "re-apply would write:\n{again}\nconfig:\n{text}"
        )))
    }
}

#[test]
fn every_apply_of_a_random_valid_config_converges() {
    let seed = confgen::seed();
    println!("HVNET_PROP_SEED={}", confgen::seed_hex(&seed));
    let mut runner = confgen::runner(400, &seed);
    let result = runner.run(&confgen::config(), |c| converges(&c.toml()));
    if let Err(e) = result {
        panic!(
            "{e}\nreplay with HVNET_PROP_SEED={}",
            confgen::seed_hex(&seed)
        );
    }
}
