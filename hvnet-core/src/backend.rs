//! The traits that connect the pure model to the world.
//!
//! * [`Observe`] — "what exists": reads the kernel (hvnet-linux) or a fake (tests).
//! * [`Execute`] — "make it so": carries out ops, possibly pipelined.
//! * [`NicBackend`] — a hypervisor backend: how a guest NIC appears on the host (a tap or
//!   veth for KVM/QEMU in hvnet-kvm, a vif for Xen in hvnet-xen).

use crate::config::{Guest, Network, Nic};
use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::{LinkSpec, SysctlKey};
use crate::types::IfName;

/// Reads the current state.
pub trait Observe {
    /// The observer's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads links, IPv4 addresses and routes, and the values of the given sysctls.
    fn observe(&mut self, sysctls: &[SysctlKey]) -> Result<ObservedState, Self::Error>;
}

/// How a batch of ops failed.
#[derive(Debug)]
pub struct ExecFailure<E> {
    /// Index (0-based, into the slice given to [`Execute::execute`]) of the first op that failed.
    pub index: usize,
    /// Its error.
    pub error: E,
    /// Indices of the ops that took effect (in any order; may include ops after `index` when
    /// the executor pipelines requests).
    pub applied: Vec<usize>,
}

/// Carries out ops.
pub trait Execute {
    /// The executor's error; its message should name the object.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Executes `ops` in order. On failure reports the first failing op and every op that
    /// took effect, so the caller can undo exactly those.
    fn execute(&mut self, ops: &[Op]) -> Result<(), ExecFailure<Self::Error>>;
}

/// A hypervisor backend: turns a guest NIC into the host-side link that carries it.
pub trait NicBackend {
    /// The backend's name, e.g. `kvm`.
    fn name(&self) -> &'static str;

    /// Prefix of generated host-side interface names (`vnet` gives `vnet0`, `vnet1`, …).
    fn ifname_prefix(&self, nic: &Nic) -> &'static str;

    /// The host-side link of `nic`, named `name`, to be attached to `network`'s bridge.
    fn host_link(&self, guest: &Guest, nic: &Nic, network: &Network, name: IfName) -> LinkSpec;
}
