//! Rendering hvnet-core's [`FirewallIntent`] into the kernel.
//!
//! [`FirewallBackend`] is the seam between the intent and a tool: each renderer renders the
//! intent, observes the live firewall (the intent it was written for and any drift) and
//! compares. [`iptables`] writes hvnet's own chains with `iptables-restore` (nft or legacy
//! flavour); [`nftables`] writes hvnet's own table with one `nft -f` transaction. Every
//! backend touches only hvnet's own chains or tables (and, for iptables, its jumps into them).
//! The Xen vifs' guards are rendered beside them, by [`vif`] (iptables) and [`vif_nft`]
//! (hvnet's `hvnet_xen` tables), chosen by the same [`Choice`].
//!
//! [`Firewall`] is the backend a host uses, chosen by [`Choice`] (`--firewall`,
//! `HVNET_FIREWALL`, `[host] firewall`): `auto` picks nftables when `nft` is installed and
//! the host's `iptables` is the nft-based one or absent, else iptables.

pub mod iptables;
pub mod nftables;
pub mod probe;
pub mod vif;
pub mod vif_nft;

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Stdio};

use hvnet_core::firewall::{BadDescriptor, Drift, DriftKind, FirewallIntent};
use hvnet_core::observed::{FirewallDifference, ObservedFirewall};

pub use self::iptables::{Iptables, IptablesError, Variant};
pub use self::nftables::{NftError, Nftables};

/// A firewall renderer.
pub trait FirewallBackend {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Makes hvnet's firewall serve exactly `intent`, in one commit (or undone on failure).
    /// Idempotent; never changes anything outside hvnet's own chains or tables except
    /// adding missing jumps into them.
    fn apply(&self, intent: &FirewallIntent) -> Result<(), Self::Error>;

    /// Deletes hvnet's firewall; leaves everything else alone. Idempotent.
    fn remove(&self) -> Result<(), Self::Error>;

    /// Reads hvnet's firewall back: the intent it was written for (`None`: it does not
    /// exist) and how the live rules differ from that intent's rendering.
    fn observe(&self) -> Result<ObservedFirewall, Self::Error>;

    /// Lists how the live firewall differs from `intent` (empty when it matches).
    fn check(&self, intent: &FirewallIntent) -> Result<Vec<FirewallDifference>, Self::Error> {
        Ok(self.observe()?.diff(intent))
    }

    /// One shell line doing what [`apply`](Self::apply) (`Some`) or
    /// [`remove`](Self::remove) (`None`) does, for `--dry-run`.
    fn commands(&self, intent: Option<&FirewallIntent>) -> String;
}

/// Which firewall backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Choice {
    /// nftables when `nft` is installed and `iptables` is nft-based or absent, else iptables.
    #[default]
    Auto,
    /// hvnet's own nftables table.
    Nftables,
    /// iptables, the system's default flavour or the one given.
    Iptables(Option<Variant>),
}

impl From<hvnet_core::firewall::FirewallChoice> for Choice {
    /// The config's `[host] firewall` (iptables of the system's default flavour).
    ///
    /// ```
    /// use hvnet_core::firewall::FirewallChoice;
    /// use hvnet_linux::firewall::Choice;
    /// assert_eq!(Choice::from(FirewallChoice::Iptables), Choice::Iptables(None));
    /// ```
    fn from(c: hvnet_core::firewall::FirewallChoice) -> Choice {
        use hvnet_core::firewall::FirewallChoice as F;
        match c {
            F::Auto => Choice::Auto,
            F::Nftables => Choice::Nftables,
            F::Iptables => Choice::Iptables(None),
        }
    }
}

/// The firewall backend of a host.
#[derive(Clone, Debug)]
pub enum Firewall {
    /// iptables chains.
    Iptables(Iptables),
    /// An nftables table.
    Nftables(Nftables),
}

/// A failure of either backend.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// iptables failed.
    #[error(transparent)]
    Iptables(#[from] IptablesError),
    /// nft failed.
    #[error(transparent)]
    Nftables(#[from] NftError),
    /// The chosen backend's tools are not installed.
    #[error("{0}")]
    Unavailable(String),
}

impl Firewall {
    /// The backend `choice` names, detected on this host.
    ///
    /// # Errors
    ///
    /// [`FirewallError::Unavailable`] when its tools are missing.
    pub fn select(choice: Choice) -> Result<Firewall, FirewallError> {
        match choice {
            Choice::Nftables => Nftables::detect()
                .map(Firewall::Nftables)
                .ok_or_else(|| FirewallError::Unavailable("nftables: `nft` is not installed".into())),
            Choice::Iptables(Some(v)) => Iptables::with_variant(v)
                .map(Firewall::Iptables)
                .ok_or_else(|| {
                    FirewallError::Unavailable(format!(
                        "iptables {v:?}: its iptables and iptables-restore binaries are not installed"
                    ))
                }),
            Choice::Iptables(None) => Ok(Firewall::Iptables(Iptables::detect()?)),
            Choice::Auto => {
                let nft = Nftables::detect();
                let ipt_variant = iptables::variant_from_path();
                let ipt_present = iptables::which("iptables");
                match nft {
                    Some(n) if !ipt_present || ipt_variant == Some(Variant::Nft) => {
                        Ok(Firewall::Nftables(n))
                    }
                    Some(n) => match Iptables::detect() {
                        Ok(i) => Ok(Firewall::Iptables(i)),
                        Err(_) => Ok(Firewall::Nftables(n)),
                    },
                    None => Ok(Firewall::Iptables(Iptables::detect()?)),
                }
            }
        }
    }

    /// The backend's name (`nftables`, `iptables`).
    pub fn name(&self) -> &'static str {
        match self {
            Firewall::Iptables(_) => "iptables",
            Firewall::Nftables(_) => "nftables",
        }
    }
}

impl FirewallBackend for Firewall {
    type Error = FirewallError;

    fn apply(&self, intent: &FirewallIntent) -> Result<(), FirewallError> {
        match self {
            Firewall::Iptables(b) => Ok(b.apply(intent)?),
            Firewall::Nftables(b) => Ok(b.apply(intent)?),
        }
    }

    fn remove(&self) -> Result<(), FirewallError> {
        match self {
            Firewall::Iptables(b) => Ok(b.remove()?),
            Firewall::Nftables(b) => Ok(b.remove()?),
        }
    }

    fn observe(&self) -> Result<ObservedFirewall, FirewallError> {
        match self {
            Firewall::Iptables(b) => Ok(b.observe()?),
            Firewall::Nftables(b) => Ok(b.observe()?),
        }
    }

    fn commands(&self, intent: Option<&FirewallIntent>) -> String {
        match self {
            Firewall::Iptables(b) => b.commands(intent),
            Firewall::Nftables(b) => b.commands(intent),
        }
    }
}

/// A firewall tool (`nft`, `iptables`) could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
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

/// Runs `cmd args…` (stdin from `input`), returning stdout.
pub(crate) fn run_tool(
    cmd: &OsStr,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, ToolError> {
    let line = format!("{} {}", cmd.to_string_lossy(), args.join(" "));
    let spawn_err = |source| ToolError::Spawn {
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
        return Err(ToolError::Failed {
            cmd: line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The intent read from live descriptors; one that cannot be read is reported as drift and
/// taken as empty (the next apply rewrites everything).
fn decoded(read: Result<FirewallIntent, BadDescriptor>, drift: &mut Vec<Drift>) -> FirewallIntent {
    read.unwrap_or_else(|e| {
        drift.push(Drift {
            kind: DriftKind::Unexpected,
            what: e.to_string(),
        });
        FirewallIntent::default()
    })
}

/// `text` as the body of a double-quoted `printf` format inside a single-quoted `sh -c`
/// argument: one line (newlines as `\n`), `%` doubled, `\` escaped for both the shell and
/// printf, `"`, `$` and `` ` `` escaped, `'` closing and reopening the quote. hvnet's rules contain no
/// single quote (comments are `hvnet:NAME`, names are `[A-Za-z0-9._-]`).
pub(crate) fn printf_escape(text: &str) -> String {
    let mut o = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '%' => o.push_str("%%"),
            // The shell turns `\\\\` into `\\`, which printf prints as one backslash.
            '\\' => o.push_str("\\\\\\\\"),
            '"' | '$' | '`' => {
                o.push('\\');
                o.push(c);
            }
            '\'' => o.push_str("'\\''"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::printf_escape;

    /// The escaped text, printed by the shell line `--dry-run` prints, comes back as it was.
    #[test]
    fn printf_escape_round_trips_through_sh_and_printf() {
        let text =
            "*nat\n-A X -m comment --comment \"a b\" 100% $HOME `id` back\\slash and \\n it's\n";
        let line = format!("sh -c 'printf \"{}\"'", printf_escape(text));
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{line}");
    }
}
