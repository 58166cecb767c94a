//! Fuzz target: vif backend xenstore values as the hotplug script reads them, one KEY=VALUE a line.
//! See `hvnet_tests::inputs::xenstore` for the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hvnet_tests::inputs::xenstore(data);
});
