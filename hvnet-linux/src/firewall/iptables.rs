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
//! The IPv6 part of the intent goes to `ip6tables` (the same flavour, found beside
//! `iptables`) as a second rule set of the same chains ([`ruleset::rules6`]), committed after
//! the IPv4 tables and undone with them. It is written, listed and checked only when the
//! intent (or the one the live chains were written for) has an IPv6 part: a host without
//! ip6tables binaries works as before as long as no network has `address6`.
//!
//! Commands run in the caller's network namespace (a thread inside
//! `netns::run_in` works: children inherit the thread's namespace).

pub mod ruleset;

use hvnet_core::firewall::{Drift, DriftKind, FirewallIntent};
use hvnet_core::observed::ObservedFirewall;

use std::collections::BTreeMap;

use self::ruleset::{Difference, Family, RuleSet, Table};
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
    /// `ip6tables` and its restore of the same flavour, when installed.
    ip6: Option<(String, String)>,
}

/// The `ip6tables` and `ip6tables-restore` of `variant` on `PATH` (the flavoured names
/// first, then the plain ones), if both exist.
fn ip6_tools(variant: Variant) -> Option<(String, String)> {
    let flavour = match variant {
        Variant::Nft => "nft",
        Variant::Legacy => "legacy",
    };
    [
        (
            format!("ip6tables-{flavour}"),
            format!("ip6tables-{flavour}-restore"),
        ),
        ("ip6tables".to_string(), "ip6tables-restore".to_string()),
    ]
    .into_iter()
    .find(|(i, r)| which(i) && which(r))
}

/// Listings of hvnet's tables, per family.
pub type Listings = BTreeMap<(Family, Table), String>;

/// The steps of an apply or removal: IPv4 tables first.
const STEPS: [(Family, Table); 4] = [
    (Family::V4, Table::Filter),
    (Family::V4, Table::Nat),
    (Family::V6, Table::Filter),
    (Family::V6, Table::Nat),
];

/// One family's listings out of `all`.
fn family_listings(all: &Listings, family: Family) -> BTreeMap<Table, String> {
    all.iter()
        .filter(|((f, _), _)| *f == family)
        .map(|((_, t), l)| (*t, l.clone()))
        .collect()
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
            ip6: ip6_tools(variant),
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
            ip6: ip6_tools(variant),
        })
    }

    /// The flavour in use.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The binaries of `family`: `(iptables, restore)`.
    fn tools(&self, family: Family) -> Result<(&str, &str), IptablesError> {
        match (family, &self.ip6) {
            (Family::V4, _) => Ok((&self.iptables, &self.restore)),
            (Family::V6, Some((i, r))) => Ok((i, r)),
            (Family::V6, None) => Err(IptablesError::Crate {
                op: "writing the IPv6 rules".into(),
                message: "ip6tables and ip6tables-restore are not installed (a network has \
                          IPv6: install them, or use --firewall nftables)"
                    .into(),
            }),
        }
    }

    /// Whether `ip6tables` is installed.
    pub fn has_ip6tables(&self) -> bool {
        self.ip6.is_some()
    }

    /// `iptables -w -t TABLE ARGS…` (`ip6tables` for [`Family::V6`]), returning stdout.
    fn ipt(&self, family: Family, table: Table, args: &[&str]) -> Result<String, IptablesError> {
        let mut all = if self.wait { vec!["-w"] } else { vec![] };
        all.extend(["-t", table.name()]);
        all.extend_from_slice(args);
        run(self.tools(family)?.0, &all, None)
    }

    /// `iptables-restore -w --noflush` (or ip6tables') with `script` on stdin.
    fn restore(&self, family: Family, script: &str) -> Result<(), IptablesError> {
        let args: &[&str] = if self.wait {
            &["-w", "--noflush"]
        } else {
            &["--noflush"]
        };
        run(self.tools(family)?.1, args, Some(script)).map(drop)
    }

    /// Commits one table's batch. `HVNET_FAULT_FIREWALL_TABLE=nat` (tests) makes the batch
    /// of that (IPv4) table fail without running, to prove the other table is undone.
    fn commit(&self, family: Family, table: Table, script: &str) -> Result<(), IptablesError> {
        if family == Family::V4
            && std::env::var("HVNET_FAULT_FIREWALL_TABLE").ok().as_deref() == Some(table.name())
        {
            return Err(IptablesError::Tool(super::ToolError::Failed {
                cmd: format!("{} (table {table})", self.restore),
                status: "injected".into(),
                stderr: "injected fault (HVNET_FAULT_FIREWALL_TABLE)".into(),
            }));
        }
        self.restore(family, script)
    }

    /// Puts hvnet's chains of `steps` back as `before` listed them (best effort: this runs
    /// only while another failure is being reported).
    fn undo_tables(&self, steps: &[(Family, Table)], before: &Listings) {
        for &(family, t) in steps.iter().rev() {
            let old = RuleSet::from_listings_of(family, &family_listings(before, family));
            // Best effort: the rules as listed go back (restore accepts the listing's text).
            let Ok(now) = self.list_of(family, t) else {
                continue;
            };
            let script = match &old {
                Some(o) => Some(o.apply_script(t, &now)),
                None => RuleSet::teardown_script_of(family, t, &now),
            };
            if let Some(script) = script {
                if let Err(e) = self.restore(family, &script) {
                    tracing::warn!("undoing the {t} table failed: {e}");
                }
            }
        }
    }

    /// Both IPv4 tables' listings.
    pub fn listings(&self) -> Result<BTreeMap<Table, String>, IptablesError> {
        Table::ALL
            .into_iter()
            .map(|t| Ok((t, self.list(t)?)))
            .collect()
    }

    /// The listings of `families`' tables.
    fn listings_of(&self, families: &[Family]) -> Result<Listings, IptablesError> {
        STEPS
            .into_iter()
            .filter(|(f, _)| families.contains(f))
            .map(|(f, t)| Ok(((f, t), self.list_of(f, t)?)))
            .collect()
    }

    /// `iptables -t TABLE -S`: the whole table as rules.
    pub fn list(&self, table: Table) -> Result<String, IptablesError> {
        self.list_of(Family::V4, table)
    }

    /// `iptables -t TABLE -S` or `ip6tables -t TABLE -S`.
    pub fn list_of(&self, family: Family, table: Table) -> Result<String, IptablesError> {
        self.ipt(family, table, &["-S"])
    }

    /// `iptables-restore -w --noflush` with `script` on stdin, for callers that keep rules
    /// in chains of their own (hvnet-xen's per-vif rules) outside the [`RuleSet`] model.
    pub fn restore_noflush(&self, script: &str) -> Result<(), IptablesError> {
        self.restore(Family::V4, script)
    }

    /// [`Iptables::restore_noflush`] of either family (`ip6tables-restore` for IPv6).
    pub(crate) fn restore_noflush_of(
        &self,
        family: Family,
        script: &str,
    ) -> Result<(), IptablesError> {
        self.restore(family, script)
    }

    /// The families whose tables an apply of `want` over the live IPv4 `listings` must
    /// touch: IPv6 too when `want`, or the intent the live chains were written for, has an
    /// IPv6 part.
    fn families(want: Option<&FirewallIntent>, v4: &BTreeMap<Table, String>) -> Vec<Family> {
        let live_v6 = RuleSet::from_listings(v4)
            .and_then(|r| r.intent().ok())
            .is_some_and(|i| i.has_v6());
        if live_v6 || want.is_some_and(FirewallIntent::has_v6) {
            vec![Family::V4, Family::V6]
        } else {
            vec![Family::V4]
        }
    }

    /// The families an apply of `want` (`None`: a removal) touches and their tables'
    /// listings. Without ip6tables, IPv6 chains cannot be there to remove.
    fn before(
        &self,
        want: Option<&FirewallIntent>,
    ) -> Result<(Vec<Family>, Listings), IptablesError> {
        let v4 = self.listings()?;
        let families: Vec<Family> = Iptables::families(want, &v4)
            .into_iter()
            .filter(|f| *f == Family::V4 || self.ip6.is_some())
            .collect();
        let mut before: Listings = v4.into_iter().map(|(t, l)| ((Family::V4, t), l)).collect();
        if families.contains(&Family::V6) {
            before.extend(self.listings_of(&[Family::V6])?);
        }
        Ok((families, before))
    }

    /// Runs the batches `script` makes per step, undoing the committed ones if one fails.
    fn commit_all(
        &self,
        families: &[Family],
        before: &Listings,
        script: impl Fn(Family, Table, &str) -> Option<String>,
    ) -> Result<(), IptablesError> {
        let steps: Vec<(Family, Table)> = STEPS
            .into_iter()
            .filter(|(f, _)| families.contains(f))
            .collect();
        for (k, &(family, table)) in steps.iter().enumerate() {
            let listing = before.get(&(family, table)).map_or("", String::as_str);
            let Some(batch) = script(family, table, listing) else {
                continue;
            };
            if let Err(e) = self.commit(family, table, &batch) {
                self.undo_tables(&steps[..k], before);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl FirewallBackend for Iptables {
    type Error = IptablesError;

    fn apply(&self, intent: &FirewallIntent) -> Result<(), IptablesError> {
        // One listing and one atomic batch per table: the chains, their rules and the
        // missing jumps commit together. A table whose batch fails undoes the tables
        // committed before it, so the tables change together or not at all.
        if intent.has_v6() {
            self.tools(Family::V6)?;
        }
        let (families, before) = self.before(Some(intent))?;
        let sets = [ruleset::rules(intent), ruleset::rules6(intent)];
        self.commit_all(&families, &before, |family, table, listing| {
            if family == Family::V6 && !intent.has_v6() {
                return RuleSet::teardown_script_of(family, table, listing);
            }
            Some(sets[usize::from(family == Family::V6)].apply_script(table, listing))
        })
    }

    fn remove(&self) -> Result<(), IptablesError> {
        let (families, before) = self.before(None)?;
        self.commit_all(&families, &before, |family, table, listing| {
            RuleSet::teardown_script_of(family, table, listing)
        })
    }

    fn observe(&self) -> Result<ObservedFirewall, IptablesError> {
        let v4 = self.listings()?;
        let mut all: Listings = v4.into_iter().map(|(t, l)| ((Family::V4, t), l)).collect();
        let mut o = observe_listings(&family_listings(&all, Family::V4));
        if o.intent.as_ref().is_some_and(FirewallIntent::has_v6) {
            match self.listings_of(&[Family::V6]) {
                Ok(v6) => {
                    all.extend(v6);
                    o = observe_all(&all);
                }
                Err(e) => o.drift.push(Drift {
                    kind: DriftKind::Missing,
                    what: format!("the IPv6 rules (ip6tables: {e})"),
                }),
            }
        }
        Ok(o)
    }

    fn commands(&self, intent: Option<&FirewallIntent>) -> String {
        let mut parts = Vec::new();
        // IPv6: with an intent that has it; for a removal, whenever ip6tables is there.
        let v6 = match intent {
            Some(i) => i.has_v6(),
            None => self.ip6.is_some(),
        };
        for family in Family::ALL {
            if family == Family::V6 && !v6 {
                continue;
            }
            let (ipt, restore) = match self.tools(family) {
                Ok(t) => t,
                Err(e) => {
                    parts.push(format!(
                        "echo \"{}\" >&2; false",
                        super::printf_escape(&e.to_string())
                    ));
                    continue;
                }
            };
            let hooks = RuleSet::hooks_of(family);
            match intent {
                Some(intent) => {
                    let rules = ruleset::rules_of(family, intent);
                    for t in Table::ALL {
                        parts.push(format!(
                            "printf \"{}\" | {restore} -w --noflush",
                            super::printf_escape(&rules.restore_script(t))
                        ));
                    }
                    for h in hooks {
                        parts.push(format!(
                            "{ipt} -w -t {t} -C {b} {s} 2>/dev/null || {ipt} -w -t {t} -I {b} 1 {s}",
                            t = h.table,
                            b = h.builtin,
                            s = h.spec
                        ));
                    }
                }
                None => {
                    for h in hooks {
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
                }
            }
        }
        match intent {
            Some(_) => format!("sh -ec '{}'", parts.join("; ")),
            None => format!("sh -c '{}; true'", parts.join("; ")),
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
pub fn observe_listings(listings: &BTreeMap<Table, String>) -> ObservedFirewall {
    let all: Listings = listings
        .iter()
        .map(|(t, l)| ((Family::V4, *t), l.clone()))
        .collect();
    observe_all(&all)
}

/// [`observe_listings`] over both families' listings: the IPv6 tables, when listed, are
/// compared with [`ruleset::rules6`] of the intent the IPv4 chains name (their differences
/// prefixed `ip6tables`).
pub fn observe_all(listings: &Listings) -> ObservedFirewall {
    let v4 = family_listings(listings, Family::V4);
    let Some(live) = RuleSet::from_listings(&v4) else {
        return ObservedFirewall::default();
    };
    let mut drift = Vec::new();
    let intent = super::decoded(live.intent(), &mut drift);
    for family in Family::ALL {
        let tables = family_listings(listings, family);
        if tables.is_empty() {
            continue;
        }
        let want = ruleset::rules_of(family, &intent);
        for t in Table::ALL {
            let listing = tables.get(&t).map_or("", String::as_str);
            drift.extend(ruleset::diff(t, listing, &want).into_iter().map(|d| {
                let mut d = to_drift(d);
                if family == Family::V6 {
                    d.what = format!("ip6tables {}", d.what);
                }
                d
            }));
        }
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
