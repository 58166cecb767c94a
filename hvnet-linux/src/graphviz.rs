//! Graphviz: laying a DOT picture (`hvnet_core::topology::dot`) out as SVG with the `dot`
//! program, when it is installed.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Lays DOT out as SVG with Graphviz's `dot`; why not, in words, when it cannot (not
/// installed, or it rejected the input).
///
/// ```no_run
/// let svg = hvnet_linux::graphviz::svg("digraph { a -> b }")?;
/// assert!(svg.starts_with(b"<?xml"));
/// # Ok::<(), String>(())
/// ```
pub fn svg(dot_text: &str) -> Result<Vec<u8>, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dot: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_text.as_bytes())
            .map_err(|e| format!("writing to dot: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("dot failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "dot exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}
