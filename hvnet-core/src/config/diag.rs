//! Diagnostics: one problem in a config file, located by file, line, column and field.

use std::fmt;
use std::ops::Range;

/// One problem found in a configuration file.
///
/// Displays as `FILE:LINE:COLUMN: FIELD: MESSAGE`, the form editors and CI logs understand.
///
/// ```
/// use hvnet_core::config::Diagnostic;
/// let d = Diagnostic {
///     file: "hvnet.toml".into(), line: 4, column: 10,
///     field: "network[0].mtu".into(), message: "must be between 68 and 65535".into(),
/// };
/// assert_eq!(d.to_string(), "hvnet.toml:4:10: network[0].mtu: must be between 68 and 65535");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in, as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The dotted path of the field, e.g. `guest[1].nic[0].mac`.
    pub field: String,
    /// What is wrong, and where useful what would be right.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// Control characters (a newline in a name) are shown escaped (`\n`), so that every
    /// problem stays on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            Escaped(&self.file),
            self.line,
            self.column,
            Escaped(&self.field),
            Escaped(&self.message)
        )
    }
}

/// Shows a text with its control characters escaped as Rust does (`\n`, `\u{7f}`).
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Every problem found in a configuration; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Maps byte offsets of one source text to lines, columns and enclosing TOML tables.
pub(crate) struct Locator<'a> {
    file: &'a str,
    src: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(file: &'a str, src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            file,
            src,
            line_starts,
        }
    }

    /// The file name diagnostics carry.
    pub(crate) fn file(&self) -> &str {
        self.file
    }

    /// 1-based (line, column) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts[line];
        let column = self
            .src
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line + 1, column)
    }

    /// A diagnostic at `span` for a known field path.
    pub(crate) fn at(&self, span: Range<usize>, field: String, message: String) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            field,
            message,
        }
    }

    /// A diagnostic for a TOML/serde error, whose field we reconstruct from the text: the
    /// nearest table header above the span (`[[network]]` counted to `network[N]`) and the
    /// key on the span's line, if any.
    pub(crate) fn toml_error(&self, err: &toml::de::Error) -> Diagnostic {
        let span = err.span().unwrap_or(0..0);
        let field = self.field_at(span.start);
        let message = err.message().trim().to_string();
        self.at(span, field, message)
    }

    pub(crate) fn field_at(&self, offset: usize) -> String {
        let (line_no, _) = self.line_col(offset);
        let mut counts: Vec<(String, usize)> = Vec::new();
        let mut table = String::new();
        for (i, line) in self.src.lines().enumerate() {
            let t = line.trim();
            if i + 1 > line_no {
                break;
            }
            if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = name.trim().to_string();
                match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((name.clone(), 1)),
                }
                let child = format!("{name}.");
                counts.retain(|(k, _)| !k.starts_with(&child));
                table = indexed_path(&name, &counts);
            } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
                let name = name.trim().to_string();
                let child = format!("{name}.");
                counts.retain(|(k, _)| !k.starts_with(&child));
                table = indexed_path(&name, &counts);
            }
        }
        let key = self
            .src
            .lines()
            .nth(line_no.saturating_sub(1))
            .and_then(|l| {
                let l = l.trim();
                if l.starts_with('[') {
                    return None;
                }
                l.split_once('=').map(|(k, _)| k.trim().to_string())
            })
            .filter(|k| !k.is_empty());
        match (table.is_empty(), key) {
            (true, Some(k)) => k,
            (true, None) => "(top level)".to_string(),
            (false, Some(k)) => format!("{table}.{k}"),
            (false, None) => table,
        }
    }
}

/// `guest.nic` as the 3rd nic of the 2nd guest becomes `guest[1].nic[2]`; a plain table
/// under an array of tables (`[network.dhcp]`) gets no index: `network[0].dhcp`.
fn indexed_path(name: &str, counts: &[(String, usize)]) -> String {
    let parts: Vec<&str> = name.split('.').map(str::trim).collect();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(p);
        let prefix = parts[..=i].join(".");
        if let Some((_, c)) = counts.iter().find(|(k, _)| *k == prefix) {
            out.push_str(&format!("[{}]", c.saturating_sub(1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let src = "a = 1\nbb = 2\n";
        let l = Locator::new("f", src);
        assert_eq!(l.line_col(0), (1, 1));
        assert_eq!(l.line_col(6), (2, 1));
        assert_eq!(l.line_col(11), (2, 6));
    }

    #[test]
    fn control_characters_are_shown_escaped_on_one_line() {
        let d = Diagnostic {
            file: "h\n.toml".into(),
            line: 2,
            column: 3,
            field: "network[0].\"a\tb\"".into(),
            message: "raw \n and \u{7f} and é".into(),
        };
        assert_eq!(
            d.to_string(),
            "h\\n.toml:2:3: network[0].\"a\\tb\": raw \\n and \\u{7f} and é"
        );
    }

    #[test]
    fn field_path_from_headers() {
        let src = "[[network]]\nname='a'\n[[network]]\nname='b'\n[[guest]]\nname='g'\n[[guest.nic]]\nnetwork='a'\n[[guest.nic]]\nmac = 'x'\n";
        let l = Locator::new("f", src);
        let off = src.find("mac").unwrap();
        assert_eq!(l.field_at(off), "guest[0].nic[1].mac");
        let off = src.find("name='b'").unwrap();
        assert_eq!(l.field_at(off), "network[1].name");
        let src2 = "[[guest]]\n[[guest.nic]]\n[[guest.nic]]\n[[guest]]\n[[guest.nic]]\nmtu = 1\n";
        let l = Locator::new("f", src2);
        assert_eq!(l.field_at(src2.find("mtu").unwrap()), "guest[1].nic[0].mtu");
    }

    #[test]
    fn field_path_through_plain_subtables() {
        let src = "[[network]]\n[[network]]\n[network.dhcp]\nrange = 1\n[[network.dhcp.host]]\n[[network.dhcp.host]]\nmac = 2\n[host]\nx = 3\n";
        let l = Locator::new("f", src);
        assert_eq!(
            l.field_at(src.find("range").unwrap()),
            "network[1].dhcp.range"
        );
        assert_eq!(
            l.field_at(src.find("mac").unwrap()),
            "network[1].dhcp.host[1].mac"
        );
        assert_eq!(l.field_at(src.find("x =").unwrap()), "host.x");
    }
}
