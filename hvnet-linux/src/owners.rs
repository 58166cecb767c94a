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
//! * it is replaced atomically (a temporary file renamed over it), and a write that fails
//!   removes it, so the next scoped verb reads the whole host again.

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

fn parse(text: &str) -> Index {
    text.lines()
        .filter_map(|l| {
            let (name, owner) = l.split_once(' ')?;
            Some((name.to_string(), owner.to_string()))
        })
        .collect()
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
        fs::read_to_string(self.owners_path()?)
            .ok()
            .map(|t| parse(&t))
    }

    /// Replaces the index (when it changed); on failure removes it, so that the next
    /// scoped verb reads the whole host.
    pub(crate) fn write_owners(&self, index: &Index) {
        let Some(path) = self.owners_path() else {
            return;
        };
        if self.read_owners().as_ref() == Some(index) {
            return;
        }
        if let Err(e) = replace(&path, &render(index)) {
            tracing::warn!("cannot write {}: {e}", path.display());
            let _ = fs::remove_file(&path);
        }
    }

    /// Before `ops` run: the links they create or tag join the index (if there is one).
    pub(crate) fn owners_before(&self, ops: &[Op]) {
        let Some(mut index) = self.read_owners() else {
            return;
        };
        for (name, owner) in ops.iter().filter_map(effect) {
            if let Some(owner) = owner {
                index.insert(name.to_string(), owner);
            }
        }
        self.write_owners(&index);
    }

    /// After `ops` ran: the links that the ones in `applied` deleted or untagged leave it.
    pub(crate) fn owners_after(&self, ops: &[Op], applied: &[usize]) {
        let Some(mut index) = self.read_owners() else {
            return;
        };
        for (name, owner) in applied.iter().filter_map(|&i| effect(ops.get(i)?)) {
            if owner.is_none() {
                index.remove(name);
            }
        }
        self.write_owners(&index);
    }
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
    fn text_round_trips() {
        let index = Index::from([
            ("vnet0".to_string(), "web".to_string()),
            ("br-lan".to_string(), "lan".to_string()),
        ]);
        assert_eq!(render(&index), "br-lan lan\nvnet0 web\n");
        assert_eq!(parse(&render(&index)), index);
        // A torn or foreign line is skipped, not misread.
        assert_eq!(parse("vnet0 web\ngarbage\n").len(), 1);
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
