//! Fuzz target: `hvnet import usr-guest-config` (errors carry their line; output validates).
//! See `hvnet_tests::inputs::usr_guest` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hvnet_tests::inputs::usr_guest(data);
});
