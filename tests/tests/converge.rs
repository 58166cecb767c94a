//! Every apply converges (issue 15 §2) on the real kernel: random valid configs (the
//! generator of `hvnet_tests::confgen`: isolated, nat and routed networks with rates, MTUs
//! and `nat_ports`, guests with tap NICs, rates and port forwards), each applied in a fresh
//! namespace; `check` must then exit 0 and a second `apply` must write nothing. The bulk of
//! the cases runs against the in-memory kernel (hvnet-core/tests/converge.rs); these few
//! prove the model right against Linux. The seed is printed (`HVNET_PROP_SEED` replays it).

#![allow(clippy::unwrap_used)]

use hvnet_tests::confgen;
use hvnet_tests::*;
use proptest::test_runner::TestCaseError;

/// Cases on the real kernel: about a second each.
const CASES: u32 = 30;

fn converges(text: &str) -> Result<(), TestCaseError> {
    let ns = Netns::new("prop");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    // A nat network needs a way out.
    ns.ip(&["route", "add", "default", "dev", "lo"]);
    let cfg = dir.write("gen.toml", text);
    let fail =
        |what: &str, r: &Run| Err(TestCaseError::fail(format!("{what}: {r}\nconfig:\n{text}")));
    let first = hv.run(&cfg, &["apply"]);
    if first.code != 0 {
        return fail("apply failed", &first);
    }
    let check = hv.run(&cfg, &["check"]);
    if check.code != 0 {
        return fail("check after apply is not clean", &check);
    }
    let again = hv.run(&cfg, &["apply"]);
    if again.code != 0 || !again.stdout.contains("no changes (") {
        return fail("the second apply wrote", &again);
    }
    Ok(())
}

#[test]
fn every_apply_of_a_random_valid_config_converges_on_the_kernel() {
    if !require_root() {
        return;
    }
    let seed = confgen::seed();
    println!("HVNET_PROP_SEED={}", confgen::seed_hex(&seed));
    let mut runner = confgen::runner(CASES, &seed);
    let result = runner.run(&confgen::config(), |c| converges(&c.toml()));
    if let Err(e) = result {
        panic!(
            "{e}\nreplay with HVNET_PROP_SEED={}",
            confgen::seed_hex(&seed)
        );
    }
}
