//! What hvnet's importers (`hvnet import usr-guest-config | libvirt-network | xl-vif`)
//! share: their warnings, TOML written by serialising typed structs (never by formatting
//! strings), safe comments, and the final check that the output is a config hvnet's own
//! `validate` accepts.
//!
//! The rule every importer follows: each element or key it reads is either translated into
//! the config, or reported as an [`ImportWarning`] with its position and "not imported: WHY"
//! (or, when it was translated with a change, what changed). Warnings are kept even when
//! the import fails ([`ImportFailure`]), so the caller can print the ones that explain it.
//!
//! ```
//! use hvnet_core::import::{check_output, ImportWarning};
//! let w = ImportWarning::not_imported(3, 5, "network/dns/forwarder", "hvnet's dnsmasq never forwards upstream");
//! assert_eq!(w.in_file("n.xml"), "n.xml:3:5: warning: network/dns/forwarder: not imported: hvnet's dnsmasq never forwards upstream");
//! assert!(check_output("[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br1\"\n", "x").is_ok());
//! assert!(check_output("[[network]]\nname = \"n\"\n", "x").unwrap_err().contains("does not validate"));
//! ```

use std::fmt;
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Config;

/// Something an importer read and did not translate as it stands: skipped ("not imported:
/// why") or translated with a change (what changed). The import goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportWarning {
    /// 1-based line; 0 when the warning is about the input as a whole.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub col: usize,
    /// The element, attribute, variable or key, e.g. `network/dns` or `mtu`.
    pub at: String,
    /// What happened to it.
    pub message: String,
}

impl ImportWarning {
    /// `at` is not in the output, because of `why`.
    pub fn not_imported(
        line: usize,
        col: usize,
        at: impl Into<String>,
        why: impl fmt::Display,
    ) -> Self {
        Self {
            line,
            col,
            at: at.into(),
            message: format!("not imported: {why}"),
        }
    }

    /// `at` is in the output, changed as `message` says.
    pub fn changed(
        line: usize,
        col: usize,
        at: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line,
            col,
            at: at.into(),
            message: message.into(),
        }
    }

    /// `FILE:LINE:COL: warning: AT: MESSAGE` (without the parts that are 0).
    pub fn in_file(&self, file: &str) -> String {
        format!("{}{self}", position(file, self.line, self.col))
    }
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "warning: {}", escaped(&self.message))
        } else {
            write!(
                f,
                "warning: {}: {}",
                escaped(&self.at),
                escaped(&self.message)
            )
        }
    }
}

/// `FILE:LINE:COL: ` without the parts that are 0.
pub fn position(file: &str, line: usize, col: usize) -> String {
    match (line, col) {
        (0, _) => format!("{}: ", escaped(file)),
        (l, 0) => format!("{}:{l}: ", escaped(file)),
        (l, c) => format!("{}:{l}:{c}: ", escaped(file)),
    }
}

/// A failed import: the errors, and the warnings found before and alongside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFailure<E> {
    /// Why the import failed (at least one).
    pub errors: Vec<E>,
    /// The warnings, which often explain the errors.
    pub warnings: Vec<ImportWarning>,
}

/// `text` with control characters (newlines included) written as `\u{..}` escapes, so that
/// it stays on one line of a diagnostic or a TOML comment.
///
/// ```
/// assert_eq!(hvnet_core::import::escaped("a\nb"), "a\\u{a}b");
/// ```
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// One TOML comment line, `# TEXT\n`, whatever `text` holds.
///
/// ```
/// assert_eq!(hvnet_core::import::comment("x\ny"), "# x\\u{a}y\n");
/// ```
pub fn comment(text: &str) -> String {
    format!("# {}\n", escaped(text))
}

/// Serialises `value` as TOML with the `toml` crate, which quotes and escapes every string
/// itself, so the text is always well-formed TOML.
///
/// # Errors
///
/// The serialiser's message (a value TOML cannot hold).
pub fn to_toml<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    toml::to_string(value).map_err(|e| e.to_string())
}

/// Parses and validates an importer's output as hvnet's `validate` does; `what` names the
/// output in the message.
///
/// # Errors
///
/// `the imported config does not validate: …` with every problem, as `validate` prints them
/// (positions in the imported text).
pub fn check_output(toml: &str, what: &str) -> Result<Config, String> {
    Config::parse(toml, what).map_err(|e| format!("the imported config does not validate: {e}"))
}
