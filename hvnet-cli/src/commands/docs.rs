//! `hvnet completions SHELL`, `hvnet man DIR` and `hvnet schema`: shell completions and man
//! pages generated from the clap definitions (clap_complete, clap_mangen), and the config's
//! JSON Schema generated from its serde types, so none can drift from what they describe.
//! `scripts/install.sh` and the Debian package install them.

use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{CliError, CliResult};

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> CliResult {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics on a failed write (e.g. a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hvnet", &mut script);
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| CliError::Runtime(format!("writing the completions: {e}")))
}

/// Prints the config's JSON Schema (`hvnet_core::config::json_schema`).
pub fn schema() -> CliResult {
    std::io::stdout()
        .write_all(hvnet_core::config::json_schema().as_bytes())
        .map_err(|e| CliError::Runtime(format!("writing the schema: {e}")))
}

/// Writes `hvnet.1` and one page per subcommand (`hvnet-apply.1`, `hvnet-guest-qemu.1`, …)
/// into `dir` (created if missing), listing them.
pub fn man(dir: &Path) -> CliResult {
    let fail = |e: std::io::Error| CliError::Runtime(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(fail)?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .map_err(fail)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hvnet") && n.ends_with(".1"))
        .collect();
    pages.sort();
    println!(
        "{} man page(s) in {}: {}",
        pages.len(),
        dir.display(),
        pages.join(" ")
    );
    Ok(())
}
