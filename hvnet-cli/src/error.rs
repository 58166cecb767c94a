//! CLI errors and their exit codes: 2 invalid input (nothing touched), 1 runtime failure
//! (after rollback), 3 lock timeout.

use std::fmt;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Bad input: the config, an argument, a missing namespace. Nothing was changed.
    Input(String),
    /// Something failed at run time; any partial change was rolled back.
    Runtime(String),
    /// Another hvnet held the host lock for too long.
    Lock(String),
    /// `check` found this many differences (already printed).
    Drift(usize),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Runtime(_) | Self::Drift(_) => 1,
            Self::Input(_) => 2,
            Self::Lock(_) => 3,
        }
    }

    /// A runtime error from anything displayable.
    pub fn runtime(e: impl fmt::Display) -> Self {
        Self::Runtime(e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(m) | Self::Runtime(m) | Self::Lock(m) => f.write_str(m),
            Self::Drift(n) => write!(f, "{n} difference(s) between the host and the config"),
        }
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
