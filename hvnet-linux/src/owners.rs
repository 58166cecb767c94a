//! The owner index: which links hvnet tagged for which owner (`owners` in the state
//! directory, one `LINK OWNER` line each), so that a verb about one guest finds the
//! guest's links by name instead of dumping every link of the host (see
//! [`hvnet_core::scoped`]).
//!
//! It is only ever a superset of the truth: a scoped observation looks each listed link up
//! and keeps what exists, so a stale line costs one lookup and is never believed. What must
//! not happen is a link missing from it, so:
//!
//! * it is written whole only from a full observation (every link of the host read), and
//!   a scoped observation without it falls back to a full one, which writes it;
//! * before a batch of ops runs, the links it creates or tags are added (a crash midway
//!   leaves extra lines, not missing ones); after it, the links it deleted or untagged
//!   are removed;
//! * changes are appended (`LINK OWNER` tags, `LINK` alone forgets; only lines ending in a
//!   newline count, so a write cut short by a crash adds nothing); the file is rewritten
//!   (a temporary file renamed over it) from a full observation that differs, or when
//!   a read finds it grown to several times its live lines; a write that fails removes it, so the
//!   next scoped verb reads the whole host again.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use hvnet_core::observed::ObservedLink;
use hvnet_core::op::Op;
use hvnet_core::state::Owner;

use crate::host::LinuxHost;

/// The index's file in the state directory.
pub const OWNERS_FILE: &str = "owners";

/// Link name → owner.
pub(crate) type Index = BTreeMap<String, String>;

/// Replays the file: the index and the number of lines it took.
fn parse(text: &str) -> (Index, usize) {
    let mut index = Index::new();
    let mut lines = 0;
    for line in text.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            continue; // cut short
        };
        lines += 1;
        match line.split_once(' ') {
            Some((name, owner)) => index.insert(name.to_string(), owner.to_string()),
            None => index.remove(line),
        };
    }
    (index, lines)
}

fn render(index: &Index) -> String {
    index.iter().map(|(n, o)| format!("{n} {o}\n")).collect()
}

/// The index built from every link of the host.
pub(crate) fn from_links(links: &[ObservedLink]) -> Index {
    links
        .iter()
        .filter_map(|l| Some((l.name.clone(), l.owner()?.name().to_string())))
        .collect()
}

/// What an op does to the index: `Some((link, Some(owner)))` tags, `Some((link, None))`
/// forgets, `None` leaves it alone.
fn effect(op: &Op) -> Option<(&str, Option<String>)> {
    match op {
        Op::CreateBridge { name, owner, .. }
        | Op::CreateTap { name, owner, .. }
        | Op::CreateVeth { name, owner, .. }
        | Op::CreateIfb { name, owner, .. } => Some((name.as_str(), Some(owner.name().into()))),
        Op::DeleteLink { name, .. } => Some((name.as_str(), None)),
        Op::SetAlias { link, alias, .. } => Some((
            link.as_str(),
            alias
                .as_deref()
                .and_then(Owner::from_alias)
                .map(|o| o.name().to_string()),
        )),
        _ => None,
    }
}

impl LinuxHost {
    fn owners_path(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join(OWNERS_FILE))
    }

    /// The index, if there is a state directory and it holds one.
    pub(crate) fn read_owners(&self) -> Option<Index> {
        Some(self.read_owners_log()?.0)
    }

    fn read_owners_log(&self) -> Option<(Index, usize)> {
        read_log(&self.owners_path()?)
    }

    /// Replaces the index by `index` (when it differs, or the file has grown long); on
    /// failure removes it, so that the next scoped verb reads the whole host.
    pub(crate) fn write_owners(&self, index: &Index) {
        let Some(path) = self.owners_path() else {
            return;
        };
        if let Some((old, lines)) = self.read_owners_log() {
            if old == *index && lines <= 4 * index.len() + 64 {
                return;
            }
        }
        if let Err(e) = replace(&path, &render(index)) {
            self.drop_owners(&path, &e);
        }
    }

    fn drop_owners(&self, path: &Path, e: &std::io::Error) {
        tracing::warn!("cannot write {}: {e}; it is rebuilt later", path.display());
        let _ = fs::remove_file(path);
    }

    /// Appends `changes` (tags and forgets) to the index, if there is one.
    fn append_owners<'a>(&self, changes: impl Iterator<Item = (&'a str, Option<String>)>) {
        let Some(path) = self.owners_path() else {
            return;
        };
        let text: String = changes
            .map(|(name, owner)| match owner {
                Some(o) => format!("{name} {o}\n"),
                None => format!("{name}\n"),
            })
            .collect();
        if text.is_empty() {
            return;
        }
        // Only an existing index is extended: a new one must come from a full observation.
        let appended = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        match appended {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self.drop_owners(&path, &e),
            Ok(()) => {}
        }
    }

    /// Before `ops` run: the links they create or tag join the index (if there is one).
    pub(crate) fn owners_before(&self, ops: &[Op]) {
        self.append_owners(ops.iter().filter_map(effect).filter(|(_, o)| o.is_some()));
    }

    /// After `ops` ran: the links that the ones in `applied` deleted or untagged leave it.
    pub(crate) fn owners_after(&self, ops: &[Op], applied: &[usize]) {
        let mut applied = applied.to_vec();
        applied.sort_unstable();
        self.append_owners(
            applied
                .iter()
                .filter_map(|&i| effect(ops.get(i)?))
                .filter(|(_, o)| o.is_none()),
        );
    }
}

/// The index at `path` and the number of lines it took, compacted first when it has grown
/// to several times its live lines: scoped verbs only append, so a host that only ever runs
/// them (guests coming and going) would grow the file — and every read — without bound. The
/// replayed index says exactly what the log says, so any verb may write it.
fn read_log(path: &Path) -> Option<(Index, usize)> {
    let (index, lines) = parse(&fs::read_to_string(path).ok()?);
    if lines <= 4 * index.len() + 64 {
        return Some((index, lines));
    }
    if let Err(e) = replace(path, &render(&index)) {
        tracing::warn!("cannot write {}: {e}; it is rebuilt later", path.display());
        let _ = fs::remove_file(path);
    }
    let n = index.len();
    Some((index, n))
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvnet_core::types::IfName;

    fn name(s: &str) -> IfName {
        IfName::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn text_round_trips_and_replays() {
        let index = Index::from([
            ("vnet0".to_string(), "web".to_string()),
            ("br-lan".to_string(), "lan".to_string()),
        ]);
        assert_eq!(render(&index), "br-lan lan\nvnet0 web\n");
        assert_eq!(parse(&render(&index)), (index.clone(), 2));
        // Appended changes replay in order; a line without its newline (a write cut
        // short) adds nothing.
        let log = format!("{}vnet1 db\nvnet0\nvnet1", render(&index));
        let (replayed, lines) = parse(&log);
        assert_eq!(lines, 4);
        assert_eq!(
            replayed,
            Index::from([
                ("br-lan".to_string(), "lan".to_string()),
                ("vnet1".to_string(), "db".to_string()),
            ])
        );
    }

    #[test]
    fn a_long_log_is_compacted_when_read() {
        let dir = std::env::temp_dir().join(format!("hvnet-owners-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(OWNERS_FILE);
        let mut log = String::from("br0 lan\n");
        for i in 0..100 {
            log.push_str(&format!("vnet{i} g\nvnet{i}\n"));
        }
        fs::write(&path, &log).unwrap();
        let want = Index::from([("br0".to_string(), "lan".to_string())]);
        assert_eq!(read_log(&path), Some((want.clone(), 1)));
        assert_eq!(fs::read_to_string(&path).unwrap(), "br0 lan\n");
        // A short log is left as it is.
        fs::write(&path, "br0 lan\nvnet1 g\nvnet1\n").unwrap();
        assert_eq!(read_log(&path), Some((want, 3)));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "br0 lan\nvnet1 g\nvnet1\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ops_tag_and_forget() {
        let tag = Op::CreateIfb {
            name: name("hvi1"),
            owner: Owner::new("web"),
            mtu: None,
        };
        assert_eq!(effect(&tag), Some(("hvi1", Some("web".to_string()))));
        let del = Op::DeleteLink {
            name: name("vnet3"),
            restore: None,
        };
        assert_eq!(effect(&del), Some(("vnet3", None)));
        let adopt = Op::SetAlias {
            link: name("qtap"),
            alias: Some(Owner::new("q").tag()),
            old: None,
        };
        assert_eq!(effect(&adopt), Some(("qtap", Some("q".to_string()))));
        let up = Op::SetUp {
            link: name("qtap"),
            up: true,
        };
        assert_eq!(effect(&up), None);
    }
}
