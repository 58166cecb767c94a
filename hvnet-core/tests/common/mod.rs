//! The in-memory host of the planner and transaction tests.

#![allow(dead_code)]

use hvnet_core::backend::Query;

pub use hvnet_core::memhost::MemHost as FakeKernel;

/// The real KVM backend (taps and veths with `fe:` host-side MACs).
pub use hvnet_kvm::KvmBackend as Taps;

/// A whole-host observation with the sysctls hvnet may set.
pub fn all() -> Query {
    let mut q = Query::everything();
    q.sysctls.push(hvnet_core::services::ip_forward_key());
    q.sysctls.extend(hvnet_core::services::bridge_nf_keys());
    q
}
