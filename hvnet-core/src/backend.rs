//! The traits that connect the pure model to the world.
//!
//! * [`Observe`] — "what exists": reads the kernel (hvnet-linux) or a fake (tests).
//! * [`Execute`] — "make it so": carries out ops, possibly pipelined.
//! * [`Journal`] — "what was under way": the write-ahead record of a transaction, so that
//!   one interrupted by a crash is finished or rolled back by the next command.
//! * [`NicBackend`] — a hypervisor backend: how a guest NIC appears on the host (a tap or
//!   veth for KVM/QEMU in hvnet-kvm, a vif for Xen in hvnet-xen).
//!
//! [`crate::engine::Host`] bundles the first three with the few things the engine needs
//! besides (the state directory, the host lock).

use std::collections::BTreeSet;

use crate::config::{Guest, Network, Nic};
use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::{LinkSpec, SysctlKey};
use crate::types::IfName;

/// What one observation reads. Built by the engine from the config and the scope of a
/// command, so that a verb about one guest does not pay for reading the whole host.
///
/// ```
/// use hvnet_core::backend::Query;
/// let q = Query::everything();
/// assert!(q.services && q.firewall && q.tc_owners.is_none() && q.links.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Sysctls whose current values are read (besides the saved ones, with `services`).
    pub sysctls: Vec<SysctlKey>,
    /// hvnet's services: dnsmasq daemons, the host's DHCP clients, saved sysctls (with their
    /// current values) and the generated-name hints.
    pub services: bool,
    /// hvnet's firewall chains (found by name, whatever the state directory says).
    pub firewall: bool,
    /// Whose qdiscs and redirects are read: `None` every link's; otherwise only those of
    /// links owned by (tagged with) one of these owners and of the links in `tc_links`.
    pub tc_owners: Option<BTreeSet<String>>,
    /// Links whose qdiscs are read whoever owns them (a tap QEMU made, to be adopted).
    pub tc_links: BTreeSet<String>,
    /// The named network namespaces (a veth NIC's peer goes into one).
    pub netns: bool,
    /// SR-IOV pools whose VFs are read (with their PF's VF settings). With `services`,
    /// hvnet's VF allocation records are read too, and the VFs they name.
    pub vf_pools: Vec<crate::sriov::VfSource>,
    /// Which links are read (with their addresses and the routes through them): `None`
    /// every link of the host; otherwise only those [`LinkScope`] names. A host may return
    /// more than asked for, never less.
    pub links: Option<LinkScope>,
    /// The generated-name hints (read with `services` too).
    pub name_hints: bool,
}

/// The links a scoped verb reads instead of every link of the host (see
/// [`Query::links`]): a guest's own links, its networks' bridges and what may be in the way
/// of a name it is about to give.
///
/// ```
/// use hvnet_core::backend::LinkScope;
/// let mut s = LinkScope::default();
/// s.names.insert("br-lan".into());
/// s.owners.insert("web".into());
/// assert!(s.covers("br-lan", None) && s.covers("vnet7", Some("web")));
/// assert!(!s.covers("vnet8", Some("db")) && !s.covers("eth0", None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkScope {
    /// Links read by name (a name that does not exist is simply absent).
    pub names: BTreeSet<String>,
    /// Links read because one of these owners tagged them (`hvnet:OWNER`).
    pub owners: BTreeSet<String>,
    /// Bridges whose ports are read too, whoever owns them (whether a dynamic bridge still
    /// carries other guests).
    pub ports_of: BTreeSet<String>,
}

impl LinkScope {
    /// Whether link `name`, owned by `owner`, is in the scope (ports are not: they depend
    /// on the masters' indices, see [`LinkScope::ports_of`]).
    pub fn covers(&self, name: &str, owner: Option<&str>) -> bool {
        self.names.contains(name) || owner.is_some_and(|o| self.owners.contains(o))
    }
}

impl Query {
    /// Everything hvnet manages (apply, check, down).
    pub fn everything() -> Query {
        Query {
            sysctls: Vec::new(),
            services: true,
            firewall: true,
            tc_owners: None,
            tc_links: BTreeSet::new(),
            netns: true,
            vf_pools: Vec::new(),
            links: None,
            name_hints: true,
        }
    }

    /// Only links named `names` (and nothing else: no services, firewall, sysctls,
    /// qdiscs or namespaces): what a scoped verb asks for when it checks whether names it
    /// is about to give are free.
    pub fn names<I: IntoIterator<Item = String>>(names: I) -> Query {
        Query {
            tc_owners: Some(BTreeSet::new()),
            links: Some(LinkScope {
                names: names.into_iter().collect(),
                ..LinkScope::default()
            }),
            ..Query::default()
        }
    }

    /// Whether the qdiscs of link `name`, owned by `owner` (`None`: untagged), are read.
    pub fn reads_tc_of(&self, name: &str, owner: Option<&str>) -> bool {
        match (&self.tc_owners, owner) {
            (None, _) => true,
            _ if self.tc_links.contains(name) => true,
            (Some(set), Some(o)) => set.contains(o),
            (Some(_), None) => false,
        }
    }
}

/// Reads the current state.
pub trait Observe {
    /// The observer's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads links, addresses and routes (always) and what `query` asks for besides.
    fn observe(&mut self, query: &Query) -> Result<ObservedState, Self::Error>;
}

/// The write-ahead record of one transaction: every op it may carry out, written durably
/// before the first of them reaches the kernel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The command that started it (`apply`, `guest up web`, …), for messages.
    pub verb: String,
    /// The plan, in execution order.
    pub ops: Vec<Op>,
}

/// Where transactions are recorded before they run ([`crate::engine`] recovers from it).
///
/// A record is written before a transaction's first op and removed after its last; one
/// found on the next start means the process died in between (a crash, `kill -9`, power
/// loss): [`crate::recovery::plan`] then rolls the host back to where it was before.
pub trait Journal {
    /// The journal's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The record of an interrupted transaction, if one is left.
    fn pending(&mut self) -> Result<Option<Record>, Self::Error>;

    /// Durably records `record` (it must survive a crash right after this returns).
    fn begin(&mut self, record: &Record) -> Result<(), Self::Error>;

    /// Marks the recorded transaction finished (committed or rolled back).
    fn finish(&mut self) -> Result<(), Self::Error>;
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
