//! The iptables backend: per table, one `iptables -S` listing and one `iptables-restore
//! --noflush` batch holding hvnet's chains, their rules and the missing jumps into them;
//! `iptables -S` for checking.
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

use std::io::Write;
use std::process::{Command, Stdio};

use hvnet_core::firewall::{self, Difference, RuleSet, Table};

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
    /// The binary could not be started.
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The command.
        cmd: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The command exited non-zero.
    #[error("{cmd} failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        cmd: String,
        /// The exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
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

    /// Both tables' listings.
    fn listings(&self) -> Result<std::collections::BTreeMap<Table, String>, IptablesError> {
        Table::ALL
            .into_iter()
            .map(|t| Ok((t, self.list(t)?)))
            .collect()
    }

    /// Commits one table's batch. `HVNET_FAULT_FIREWALL_TABLE=nat` (tests) makes the batch
    /// of that table fail without running, to prove the other table is undone.
    fn commit(&self, table: Table, script: &str) -> Result<(), IptablesError> {
        if std::env::var("HVNET_FAULT_FIREWALL_TABLE").ok().as_deref() == Some(table.name()) {
            return Err(IptablesError::Failed {
                cmd: format!("{} (table {table})", self.restore),
                status: "injected".into(),
                stderr: "injected fault (HVNET_FAULT_FIREWALL_TABLE)".into(),
            });
        }
        self.restore(script)
    }

    /// Puts hvnet's chains of `tables` back as `before` listed them (best effort: this runs
    /// only while another failure is being reported).
    fn undo_tables(&self, tables: &[Table], before: &std::collections::BTreeMap<Table, String>) {
        let old = RuleSet::from_listings(before);
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

    fn apply(&self, rules: &RuleSet) -> Result<(), IptablesError> {
        // One listing and one atomic batch per table: the chains, their rules and the
        // missing jumps commit together. A table whose batch fails undoes the tables
        // committed before it, so the two tables change together or not at all.
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

    fn check(&self, rules: &RuleSet) -> Result<Vec<Difference>, IptablesError> {
        let mut out = Vec::new();
        for table in Table::ALL {
            out.extend(firewall::diff(table, &self.list(table)?, rules));
        }
        Ok(out)
    }
}

/// The flavour of the `iptables` on `PATH`, from the binary its alternatives symlink chain
/// ends in (saves a process start on every run); `None` when the name does not tell.
pub fn variant_from_path() -> Option<Variant> {
    let path = std::env::var("PATH").unwrap_or_default();
    let bin = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| std::path::Path::new(d).join("iptables"))
        .find(|p| p.is_file())?;
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

/// Whether `name` is an executable on `PATH` (or in /usr/sbin, /sbin).
fn which(name: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| std::path::Path::new(d).join(name).is_file());
    found
}

/// Runs `cmd args…` (stdin from `input`), returning stdout or a [`IptablesError::Failed`].
fn run(cmd: &str, args: &[&str], input: Option<&str>) -> Result<String, IptablesError> {
    let line = format!("{cmd} {}", args.join(" "));
    let spawn_err = |source| IptablesError::Spawn {
        cmd: line.clone(),
        source,
    };
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if !out.status.success() {
        return Err(IptablesError::Failed {
            cmd: line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
