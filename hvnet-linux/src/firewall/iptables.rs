//! The iptables renderer: the intent rendered as hvnet's iptables chains ([`ruleset`]); per
//! table, one `iptables -S` listing and one `iptables-restore --noflush` batch holding hvnet's
//! chains, their rules and the missing jumps into them; `iptables -S` for observing and
//! checking.
//!
//! The binary is detected with the `iptables` crate (`iptables::new`, which reads
//! `iptables --version` for `-w` support). The flavour comes from where the `iptables`
//! alternative points (`xtables-nft-multi` or `xtables-legacy-multi`), and only when that
//! says nothing from `iptables --version` (`(nf_tables)` or `(legacy)`); the matching `iptables-nft-restore` / `iptables-legacy-restore` is used for
//! the batches when present, else `iptables-restore`. Applying or removing costs one
//! listing and one restore per table, whatever the number of rules.
//!
//! Commands run in the caller's network namespace (a thread inside
//! `netns::run_in` works: children inherit the thread's namespace).

pub mod ruleset;

use hvnet_core::firewall::{Drift, DriftKind, FirewallIntent};
use hvnet_core::observed::ObservedFirewall;

use self::ruleset::{Difference, RuleSet, Table};
use super::FirewallBackend;

/// Which iptables flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `iptables-nft` (the nf_tables kernel API).
    Nft,
    /// `iptables-legacy` (the xtables kernel API).
    Legacy,
}

/// A failure running iptables.
#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// iptables could not be run or failed.
    #[error(transparent)]
    Tool(#[from] super::ToolError),
    /// The `iptables` crate reported an error.
    #[error("{op}: {message}")]
    Crate {
        /// What was being done.
        op: String,
        /// The crate's message.
        message: String,
    },
}

/// The iptables backend.
#[derive(Clone, Debug)]
pub struct Iptables {
    iptables: String,
    restore: String,
    variant: Variant,
    /// Whether the binaries take `-w` (wait for the xtables lock).
    wait: bool,
}

/// Wraps an `iptables` crate error.
fn crate_err(op: impl Into<String>) -> impl FnOnce(Box<dyn std::error::Error>) -> IptablesError {
    let op = op.into();
    move |e| IptablesError::Crate {
        op,
        message: e.to_string(),
    }
}

impl Iptables {
    /// Detects the default `iptables` and its flavour.
    ///
    /// # Errors
    ///
    /// [`IptablesError`] if `iptables --version` cannot be run.
    pub fn detect() -> Result<Self, IptablesError> {
        let rules = ::iptables::new(false).map_err(crate_err("detecting iptables"))?;
        let variant = match variant_from_path() {
            Some(v) => v,
            None if run("iptables", &["--version"], None)?.contains("legacy") => Variant::Legacy,
            None => Variant::Nft,
        };
        let restore = match variant {
            Variant::Nft => "iptables-nft-restore",
            Variant::Legacy => "iptables-legacy-restore",
        };
        let restore = if which(restore) {
            restore
        } else {
            "iptables-restore"
        };
        Ok(Iptables {
            iptables: rules.cmd.into(),
            restore: restore.into(),
            variant,
            wait: rules.has_wait,
        })
    }

    /// A specific flavour (`iptables-nft`/`iptables-legacy` and their `-restore`), if both
    /// binaries exist on `PATH`. Both flavours of any supported release have `-C` and `-w`.
    pub fn with_variant(variant: Variant) -> Option<Self> {
        let (i, r) = match variant {
            Variant::Nft => ("iptables-nft", "iptables-nft-restore"),
            Variant::Legacy => ("iptables-legacy", "iptables-legacy-restore"),
        };
        (which(i) && which(r)).then(|| Iptables {
            iptables: i.into(),
            restore: r.into(),
            variant,
            wait: true,
        })
    }

    /// The flavour in use.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// `iptables -w -t TABLE ARGS…`, returning stdout.
    fn ipt(&self, table: Table, args: &[&str]) -> Result<String, IptablesError> {
        let mut all = if self.wait { vec!["-w"] } else { vec![] };
        all.extend(["-t", table.name()]);
        all.extend_from_slice(args);
        run(&self.iptables, &all, None)
    }

    /// `iptables-restore -w --noflush` with `script` on stdin.
    fn restore(&self, script: &str) -> Result<(), IptablesError> {
        let args: &[&str] = if self.wait {
            &["-w", "--noflush"]
        } else {
            &["--noflush"]
        };
        run(&self.restore, args, Some(script)).map(drop)
    }

    /// Commits one table's batch. `HVNET_FAULT_FIREWALL_TABLE=nat` (tests) makes the batch
    /// of that table fail without running, to prove the other table is undone.
    fn commit(&self, table: Table, script: &str) -> Result<(), IptablesError> {
        if std::env::var("HVNET_FAULT_FIREWALL_TABLE").ok().as_deref() == Some(table.name()) {
            return Err(IptablesError::Tool(super::ToolError::Failed {
                cmd: format!("{} (table {table})", self.restore),
                status: "injected".into(),
                stderr: "injected fault (HVNET_FAULT_FIREWALL_TABLE)".into(),
            }));
        }
        self.restore(script)
    }

    /// Puts hvnet's chains of `tables` back as `before` listed them (best effort: this runs
    /// only while another failure is being reported).
    fn undo_tables(&self, tables: &[Table], before: &std::collections::BTreeMap<Table, String>) {
        let old = RuleSet::from_listings(before);
        // Best effort: the rules as listed go back (restore accepts the listing's text).
        for &t in tables.iter().rev() {
            let Ok(now) = self.list(t) else { continue };
            let script = match &old {
                Some(o) => Some(o.apply_script(t, &now)),
                None => RuleSet::teardown_script(t, &now),
            };
            if let Some(script) = script {
                if let Err(e) = self.restore(&script) {
                    tracing::warn!("undoing the {t} table failed: {e}");
                }
            }
        }
    }

    /// Both tables' listings.
    pub fn listings(&self) -> Result<std::collections::BTreeMap<Table, String>, IptablesError> {
        Table::ALL
            .into_iter()
            .map(|t| Ok((t, self.list(t)?)))
            .collect()
    }

    /// `iptables -t TABLE -S`: the whole table as rules.
    pub fn list(&self, table: Table) -> Result<String, IptablesError> {
        self.ipt(table, &["-S"])
    }

    /// `iptables-restore -w --noflush` with `script` on stdin, for callers that keep rules
    /// in chains of their own (hvnet-xen's per-vif rules) outside the [`RuleSet`] model.
    pub fn restore_noflush(&self, script: &str) -> Result<(), IptablesError> {
        self.restore(script)
    }
}

impl FirewallBackend for Iptables {
    type Error = IptablesError;

    fn apply(&self, intent: &FirewallIntent) -> Result<(), IptablesError> {
        // One listing and one atomic batch per table: the chains, their rules and the
        // missing jumps commit together. A table whose batch fails undoes the tables
        // committed before it, so the two tables change together or not at all.
        let rules = ruleset::rules(intent);
        let before = self.listings()?;
        for (k, table) in Table::ALL.into_iter().enumerate() {
            let listing = before.get(&table).map_or("", String::as_str);
            if let Err(e) = self.commit(table, &rules.apply_script(table, listing)) {
                self.undo_tables(&Table::ALL[..k], &before);
                return Err(e);
            }
        }
        Ok(())
    }

    fn remove(&self) -> Result<(), IptablesError> {
        let before = self.listings()?;
        for (k, table) in Table::ALL.into_iter().enumerate() {
            let listing = before.get(&table).map_or("", String::as_str);
            if let Some(script) = RuleSet::teardown_script(table, listing) {
                if let Err(e) = self.commit(table, &script) {
                    self.undo_tables(&Table::ALL[..k], &before);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn observe(&self) -> Result<ObservedFirewall, IptablesError> {
        Ok(observe_listings(&self.listings()?))
    }

    fn commands(&self, intent: Option<&FirewallIntent>) -> String {
        let mut parts = Vec::new();
        let (ipt, restore) = (&self.iptables, &self.restore);
        match intent {
            Some(intent) => {
                let rules = ruleset::rules(intent);
                for t in Table::ALL {
                    parts.push(format!(
                        "printf \"{}\" | {restore} -w --noflush",
                        super::printf_escape(&rules.restore_script(t))
                    ));
                }
                for h in RuleSet::hooks() {
                    parts.push(format!(
                        "{ipt} -w -t {t} -C {b} {s} 2>/dev/null || {ipt} -w -t {t} -I {b} 1 {s}",
                        t = h.table,
                        b = h.builtin,
                        s = h.spec
                    ));
                }
                format!("sh -ec '{}'", parts.join("; "))
            }
            None => {
                for h in RuleSet::hooks() {
                    parts.push(format!(
                        "while {ipt} -w -t {t} -D {b} {s} 2>/dev/null; do :; done",
                        t = h.table,
                        b = h.builtin,
                        s = h.spec
                    ));
                }
                for (t, c) in ruleset::CHAINS {
                    parts.push(format!(
                        "{ipt} -w -t {t} -F {c} 2>/dev/null; {ipt} -w -t {t} -X {c} 2>/dev/null"
                    ));
                }
                format!("sh -c '{}; true'", parts.join("; "))
            }
        }
    }
}

/// hvnet's firewall as the `iptables -S` listings of both tables show it: the intent its
/// descriptors name and how the chains differ from that intent's rendering.
///
/// ```
/// use std::collections::BTreeMap;
/// use hvnet_core::firewall::Table;
/// use hvnet_linux::firewall::iptables::observe_listings;
/// assert_eq!(observe_listings(&BTreeMap::new()).intent, None);
/// let mut l = BTreeMap::new();
/// l.insert(Table::Filter, "-N HVNET-FWX\n-A HVNET-FWX -j DROP\n".to_string());
/// let o = observe_listings(&l);
/// assert!(o.intent.unwrap().is_empty());
/// assert!(o.drift.iter().any(|d| d.to_string() == "unexpected rule: -t filter -A HVNET-FWX -j DROP"));
/// ```
pub fn observe_listings(listings: &std::collections::BTreeMap<Table, String>) -> ObservedFirewall {
    let Some(live) = RuleSet::from_listings(listings) else {
        return ObservedFirewall::default();
    };
    let mut drift = Vec::new();
    let intent = super::decoded(live.intent(), &mut drift);
    let want = ruleset::rules(&intent);
    for t in Table::ALL {
        let listing = listings.get(&t).map_or("", String::as_str);
        drift.extend(ruleset::diff(t, listing, &want).into_iter().map(to_drift));
    }
    ObservedFirewall {
        intent: Some(intent),
        drift,
        ..ObservedFirewall::default()
    }
}

/// A listing difference in the renderer-neutral form.
fn to_drift(d: Difference) -> Drift {
    let kind = match &d {
        Difference::MissingChain { .. }
        | Difference::MissingRule(_)
        | Difference::MissingHook(_) => DriftKind::Missing,
        Difference::ExtraRule { .. } => DriftKind::Unexpected,
        Difference::DuplicateHook(_) => DriftKind::Duplicate,
    };
    let text = d.to_string();
    let what = text
        .split_once(' ')
        .map_or(text.as_str(), |(_, rest)| rest)
        .to_string();
    Drift { kind, what }
}

/// The flavour of the `iptables` on `PATH`, from the binary its alternatives symlink chain
/// ends in (saves a process start on every run); `None` when the name does not tell.
pub fn variant_from_path() -> Option<Variant> {
    let bin = find_on_path("iptables")?;
    let real = std::fs::canonicalize(bin).ok()?;
    let name = real.file_name()?.to_str()?;
    if name.contains("legacy") {
        Some(Variant::Legacy)
    } else if name.contains("nft") {
        Some(Variant::Nft)
    } else {
        None
    }
}

/// Whether `name` is a file in one of `PATH`'s directories (where `Command` finds it).
pub(crate) fn which(name: &str) -> bool {
    find_on_path(name).is_some()
}

/// `name` in the first of `PATH`'s directories that holds it.
pub(crate) fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `cmd args…` (stdin from `input`), returning stdout.
fn run(cmd: &str, args: &[&str], input: Option<&str>) -> Result<String, IptablesError> {
    Ok(super::run_tool(cmd.as_ref(), args, input)?)
}
