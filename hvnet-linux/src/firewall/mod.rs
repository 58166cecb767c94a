//! Applying hvnet-core's firewall [`RuleSet`] to the kernel.
//!
//! [`FirewallBackend`] is the seam between the rule model and a tool: [`iptables`] drives
//! `iptables-restore`/`iptables` (nft or legacy flavour); an nftables backend can follow.
//! Every backend touches only hvnet's own chains and its jumps into them.

pub mod iptables;
pub mod probe;
pub mod vif;

use hvnet_core::firewall::{Difference, RuleSet};

pub use self::iptables::{Iptables, IptablesError, Variant};

/// A firewall implementation.
pub trait FirewallBackend {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Makes hvnet's chains hold exactly `rules` and hooks them in (each jump once).
    /// Idempotent; never changes a rule outside hvnet's chains except adding missing jumps.
    fn apply(&self, rules: &RuleSet) -> Result<(), Self::Error>;

    /// Deletes hvnet's jumps and chains; leaves everything else alone. Idempotent.
    fn remove(&self) -> Result<(), Self::Error>;

    /// Lists how the live firewall differs from `rules` (empty when it matches).
    fn check(&self, rules: &RuleSet) -> Result<Vec<Difference>, Self::Error>;
}
