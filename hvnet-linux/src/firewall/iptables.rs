//! The iptables backend: one `iptables-restore --noflush` batch per table for hvnet's
//! chains, `iptables -C`/`-I` for the jumps into them, `iptables -S` for checking.
//!
//! The binary is detected like the `iptables` crate does it: `iptables --version` says
//! `(nf_tables)` or `(legacy)`; the matching `iptables-nft-restore` /
//! `iptables-legacy-restore` is used when present, else `iptables-restore`.
//!
//! Commands run in the caller's network namespace (a thread inside
//! `netns::run_in` works: children inherit the thread's namespace).

use std::io::Write;
use std::process::{Command, Stdio};

use hvnet_core::firewall::{self, Difference, Hook, RuleSet, Table};

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
}

/// The iptables backend.
#[derive(Clone, Debug)]
pub struct Iptables {
    iptables: String,
    restore: String,
    variant: Variant,
}

impl Iptables {
    /// Detects the default `iptables` and its flavour.
    ///
    /// # Errors
    ///
    /// [`IptablesError`] if `iptables --version` cannot be run.
    pub fn detect() -> Result<Self, IptablesError> {
        let out = run("iptables", &["--version"], None)?;
        let variant = if out.contains("legacy") {
            Variant::Legacy
        } else {
            Variant::Nft
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
            iptables: "iptables".into(),
            restore: restore.into(),
            variant,
        })
    }

    /// A specific flavour (`iptables-nft`/`iptables-legacy` and their `-restore`), if both
    /// binaries exist on `PATH`.
    pub fn with_variant(variant: Variant) -> Option<Self> {
        let (i, r) = match variant {
            Variant::Nft => ("iptables-nft", "iptables-nft-restore"),
            Variant::Legacy => ("iptables-legacy", "iptables-legacy-restore"),
        };
        (which(i) && which(r)).then(|| Iptables {
            iptables: i.into(),
            restore: r.into(),
            variant,
        })
    }

    /// The flavour in use.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// `iptables -w -t TABLE ARGS…`, returning stdout.
    fn ipt(&self, table: Table, args: &[&str]) -> Result<String, IptablesError> {
        let mut all = vec!["-w", "-t", table.name()];
        all.extend_from_slice(args);
        run(&self.iptables, &all, None)
    }

    /// `iptables-restore -w --noflush` with `script` on stdin.
    fn restore(&self, script: &str) -> Result<(), IptablesError> {
        run(&self.restore, &["-w", "--noflush"], Some(script)).map(drop)
    }

    /// `iptables -t TABLE -S`: the whole table as rules.
    pub fn list(&self, table: Table) -> Result<String, IptablesError> {
        self.ipt(table, &["-S"])
    }

    fn hook_args<'a>(op: &'a str, hook: &'a Hook, words: &'a [String]) -> Vec<&'a str> {
        let mut a = vec![op, hook.builtin];
        a.extend(words.iter().map(String::as_str));
        a
    }

    fn hook_exists(&self, hook: &Hook) -> Result<bool, IptablesError> {
        let words = hook.args();
        match self.ipt(hook.table, &Self::hook_args("-C", hook, &words)) {
            Ok(_) => Ok(true),
            // -C exits 1 when the rule is absent; anything else is a real error.
            Err(IptablesError::Failed { status, .. }) if status == "exit status: 1" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Names of the user chains of `table` (`-N` lines).
    fn existing_chains(&self, table: Table) -> Result<Vec<String>, IptablesError> {
        Ok(self
            .list(table)?
            .lines()
            .filter_map(|l| l.strip_prefix("-N "))
            .map(|c| c.trim().to_owned())
            .collect())
    }
}

impl FirewallBackend for Iptables {
    type Error = IptablesError;

    fn apply(&self, rules: &RuleSet) -> Result<(), IptablesError> {
        for table in Table::ALL {
            self.restore(&rules.restore_script(table))?;
        }
        // Insert missing jumps at the top, last first, so that a fresh install ends up in
        // the order of `RuleSet::hooks()` (FWP, FWX, FWI, FWO in FORWARD).
        for hook in RuleSet::hooks().iter().rev() {
            if !self.hook_exists(hook)? {
                let words = hook.args();
                let mut args = vec!["-I", hook.builtin, "1"];
                args.extend(words.iter().map(String::as_str));
                self.ipt(hook.table, &args)?;
            }
        }
        Ok(())
    }

    fn remove(&self) -> Result<(), IptablesError> {
        let filter_chains = self.existing_chains(Table::Filter)?;
        let nat_chains = self.existing_chains(Table::Nat)?;
        for hook in RuleSet::hooks() {
            let words = hook.args();
            let existing = match hook.table {
                Table::Filter => &filter_chains,
                Table::Nat => &nat_chains,
            };
            // `-C` fails differently when the target chain is gone: skip those jumps (a
            // jump to a missing chain cannot exist).
            let target = words.last().map(String::as_str).unwrap_or_default();
            if !existing.iter().any(|c| c == target) {
                continue;
            }
            while self.hook_exists(&hook)? {
                self.ipt(hook.table, &Self::hook_args("-D", &hook, &words))?;
            }
        }
        for (table, existing) in [(Table::Filter, filter_chains), (Table::Nat, nat_chains)] {
            if firewall::chains(table).any(|c| existing.iter().any(|e| e == c)) {
                self.restore(&RuleSet::removal_script(table, &existing))?;
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
