//! Fuzz target: xl rates and config rates (what parses prints back to the same value).
//! See `hvnet_tests::inputs::rates` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hvnet_tests::inputs::rates(data);
});
