//! Fuzz target: `hvnet import libvirt-network` (positions on errors and warnings; output validates).
//! See `hvnet_tests::inputs::libvirt` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hvnet_tests::inputs::libvirt(data);
});
