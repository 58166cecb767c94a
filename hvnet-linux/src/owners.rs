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

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Replays the file: link → owner, borrowed from `text`, and the number of lines it took.
/// (A hash map of borrowed slices: a scoped verb replays the whole log to find a few
/// links, and owned strings in a B-tree made that most of a `guest up`'s own work.)
fn parse(text: &str) -> (HashMap<&str, &str>, usize) {
    let mut index = HashMap::new();
    let mut lines = 0;
    for (name, owner) in entries(text) {
        lines += 1;
        match owner {
            Some(owner) => index.insert(name, owner),
            None => index.remove(name),
        };
    }
    (index, lines)
}

/// The index as the file holds it (sorted by link name).
fn render<'a>(index: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let sorted: BTreeMap<&str, &str> = index.into_iter().collect();
    sorted.iter().map(|(n, o)| format!("{n} {o}\n")).collect()
}

/// Whether a log of `lines` lines holding `live` links is short enough to keep as it is.
fn compact_enough(lines: usize, live: usize) -> bool {
    lines <= 4 * live + 64
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

    /// The links the index lists for any of `owners`; `None` without an index.
    ///
    /// One pass over the log and no map of it: a link is kept when its last line names one
    /// of `owners`, so only links some line gives to them are ever remembered.
    pub(crate) fn owned_by(&self, owners: &BTreeSet<String>) -> Option<Vec<String>> {
        let text = read_text(&self.owners_path()?)?;
        let mut found: Vec<(&str, bool)> = Vec::new();
        for (name, owner) in entries(&text) {
            let theirs = owner.is_some_and(|o| owners.contains(o));
            match found.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = theirs,
                None if theirs => found.push((name, true)),
                None => {}
            }
        }
        Some(
            found
                .into_iter()
                .filter(|(_, theirs)| *theirs)
                .map(|(name, _)| name.to_string())
                .collect(),
        )
    }

    /// Replaces the index by `index` (when it differs, or the file has grown long); on
    /// failure removes it, so that the next scoped verb reads the whole host.
    pub(crate) fn write_owners(&self, index: &Index) {
        let Some(path) = self.owners_path() else {
            return;
        };
        if let Ok(text) = fs::read_to_string(&path) {
            let (old, lines) = parse(&text);
            let same = old.len() == index.len()
                && index
                    .iter()
                    .all(|(name, owner)| old.get(name.as_str()) == Some(&owner.as_str()));
            if same && compact_enough(lines, index.len()) {
                return;
            }
        }
        let entries = index.iter().map(|(n, o)| (n.as_str(), o.as_str()));
        if let Err(e) = replace(&path, &render(entries)) {
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

/// The log's text at `path`, compacted first (and rewritten so) when it has grown to several
/// times its live lines: scoped verbs only append, so a host that only ever runs them
/// (guests coming and going) would grow the file — and every read — without bound. The
/// replayed index says exactly what the log says, so any verb may write it.
fn read_text(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    // Most reads only count: tags less forgets estimates the live links (a link tagged
    // again without being forgotten counts twice, which only delays a compaction; a full
    // observation rewrites the file whenever it is not compact).
    let (mut lines, mut live) = (0usize, 0usize);
    for (_, owner) in entries(&text) {
        lines += 1;
        if owner.is_some() {
            live += 1;
        } else {
            live = live.saturating_sub(1);
        }
    }
    if compact_enough(lines, live) {
        return Some(text);
    }
    let (index, lines) = parse(&text);
    if compact_enough(lines, index.len()) {
        return Some(text);
    }
    let compact = render(index);
    if let Err(e) = replace(path, &compact) {
        tracing::warn!("cannot write {}: {e}; it is rebuilt later", path.display());
        let _ = fs::remove_file(path);
    }
    Some(compact)
}

/// The log's complete lines (a line cut short by a crash is left out) as link and owner
/// (`None`: the link is forgotten). Split on bytes by hand: this is the hot loop of every
/// scoped verb, and `str` searches cost several times as much. Cutting a `str` at an ASCII
/// byte always lands on a character boundary.
fn entries(text: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let bytes = text.as_bytes();
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |e| e + 1);
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= end {
            return None;
        }
        let line_end = start + bytes[start..end].iter().position(|b| *b == b'\n')?;
        let line = &text[start..line_end];
        start = line_end + 1;
        Some(match line.as_bytes().iter().position(|b| *b == b' ') {
            Some(space) => (&line[..space], Some(&line[space + 1..])),
            None => (line, None),
        })
    })
}

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
        let index = HashMap::from([("vnet0", "web"), ("br-lan", "lan")]);
        assert_eq!(render(index.clone()), "br-lan lan\nvnet0 web\n");
        assert_eq!(parse(&render(index.clone())), (index.clone(), 2));
        // Appended changes replay in order; a line without its newline (a write cut
        // short) adds nothing.
        let log = format!("{}vnet1 db\nvnet0\nvnet1", render(index));
        let (replayed, lines) = parse(&log);
        assert_eq!(lines, 4);
        assert_eq!(
            replayed,
            HashMap::from([("br-lan", "lan"), ("vnet1", "db")])
        );
    }

    #[test]
    fn only_complete_lines_count() {
        let all = |t: &'static str| entries(t).collect::<Vec<_>>();
        assert_eq!(all(""), []);
        assert_eq!(all("vnet0 web"), []);
        assert_eq!(all("vnet0 web\nvnet1"), [("vnet0", Some("web"))]);
        assert_eq!(
            all("vnet0 web\nvnet0\n"),
            [("vnet0", Some("web")), ("vnet0", None)]
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
        assert_eq!(read_text(&path).as_deref(), Some("br0 lan\n"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "br0 lan\n");
        // A short log is left as it is.
        fs::write(&path, "br0 lan\nvnet1 g\nvnet1\n").unwrap();
        assert_eq!(
            read_text(&path).as_deref(),
            Some("br0 lan\nvnet1 g\nvnet1\n")
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "br0 lan\nvnet1 g\nvnet1\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn links_are_found_by_their_last_owner() {
        let dir = std::env::temp_dir().join(format!("hvnet-owned-by-{}", std::process::id()));
        let mut host = LinuxHost::open().unwrap();
        host.set_state_dir(&dir);
        let owners = std::collections::BTreeSet::from(["web".to_string()]);
        assert_eq!(host.owned_by(&owners), None);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(OWNERS_FILE),
            "br0 lan\nvnet0 web\nvnet1 web\nvnet2 db\nvnet1\nvnet2 web\nvnet0 db\n",
        )
        .unwrap();
        assert_eq!(host.owned_by(&owners), Some(vec!["vnet2".to_string()]));
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
