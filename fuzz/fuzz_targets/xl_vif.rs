//! Fuzz target: `hvnet import xl-vif` (one spec, a quoted spec or a vif = [...] line).
//! See `hvnet_tests::inputs::xl_vif` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hvnet_tests::inputs::xl_vif(data);
});
