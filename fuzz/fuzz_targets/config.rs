//! Fuzz target: the config parser and validator (rejections must name FILE:LINE:COL).
//! See `hvnet_tests::inputs::config` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hvnet_tests::inputs::config(data);
});
