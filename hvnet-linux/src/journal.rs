//! The write-ahead journal of [`LinuxHost`]: `STATE/journal`, one JSON [`Record`] of the
//! transaction under way.
//!
//! Between transactions the file is empty (or absent). Writing a record is one `write` into
//! that empty file when the record fits in a page (a scoped verb's always does): the kernel
//! copies a page or nothing before it acts on a pending SIGKILL, so a killed process leaves
//! either no record or the whole one. A larger record (an apply of hundreds of links) goes to
//! `journal.tmp`, which is renamed over `journal`, with the same guarantee. Finishing
//! truncates the file to nothing. Neither path creates or deletes a file per transaction
//! where it can be helped: on ext4 each of those is a journal commit of its own.
//!
//! That is the failure the journal guards against. A power loss or kernel crash takes the
//! links, qdiscs, firewall rules and sysctls the record describes with it, so a record that
//! survived it would describe nothing; and the default state directory, /run, is a tmpfs.
//! So the journal is not `fsync`ed unless asked ([`LinuxHost::set_journal_sync`], for a
//! state directory on persistent storage shared with something that outlives a reboot):
//! then the file (and, for a renamed record, the directory) is synced on every write and
//! truncation (two or three `fsync`s a transaction). [`JournalStats`] counts them and their
//! time; BENCHMARKS.md has the cost.
//!
//! An hvnet older than this layout takes the empty file for a garbled record: downgrading
//! needs the empty `journal` removed first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hvnet_core::backend::{Journal, Record};

use crate::host::LinuxHost;

/// The journal's file name in the state directory.
pub const JOURNAL_FILE: &str = "journal";

/// A journal failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read, written or synced.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file holds something that is not a record (written by something else).
    #[error("{}: not an hvnet journal record ({reason}); move it away to continue", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No state directory was set.
    #[error("no state directory is set")]
    NoStateDir,
}

/// What the journal cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// `fsync` calls (files and directory).
    pub fsyncs: u64,
    /// Time spent in them.
    pub fsync_time: Duration,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl LinuxHost {
    fn journal_path(&self) -> Result<PathBuf, JournalError> {
        self.state_dir
            .as_ref()
            .map(|d| d.join(JOURNAL_FILE))
            .ok_or(JournalError::NoStateDir)
    }

    /// The journal's cost so far (with syncing on, 2 `fsync`s a transaction for a record
    /// written in place, 3 for a larger one).
    pub fn journal_stats(&self) -> JournalStats {
        self.journal_stats
    }

    /// `fsync` the journal on every write and removal (see the module docs; off by default).
    pub fn set_journal_sync(&mut self, on: bool) {
        self.journal_sync = on;
    }

    fn sync(&mut self, file: &File, path: &Path) -> Result<(), JournalError> {
        if !self.journal_sync {
            return Ok(());
        }
        let started = Instant::now();
        file.sync_all().map_err(io_err(path))?;
        self.journal_stats.fsyncs += 1;
        self.journal_stats.fsync_time += started.elapsed();
        Ok(())
    }

    fn sync_dir(&mut self, dir: &Path) -> Result<(), JournalError> {
        if !self.journal_sync {
            return Ok(());
        }
        let d = File::open(dir).map_err(io_err(dir))?;
        self.sync(&d, dir)
    }
}

impl Journal for LinuxHost {
    type Error = JournalError;

    fn pending(&mut self) -> Result<Option<Record>, JournalError> {
        let path = self.journal_path()?;
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    fn begin(&mut self, record: &Record) -> Result<(), JournalError> {
        let path = self.journal_path()?;
        let text = serde_json::to_vec(record).map_err(|e| JournalError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if text.len() <= IN_PLACE_MAX {
            if let Some(f) = open_empty(&path).map_err(io_err(&path))? {
                f.write_all_at(&text, 0).map_err(io_err(&path))?;
                return self.sync(&f, &path);
            }
        }
        let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = dir.join(format!("{JOURNAL_FILE}.tmp"));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(&text).map_err(io_err(&tmp))?;
        self.sync(&f, &tmp)?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        self.sync_dir(&dir)
    }

    fn finish(&mut self) -> Result<(), JournalError> {
        let path = self.journal_path()?;
        let f = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        f.set_len(0).map_err(io_err(&path))?;
        self.sync(&f, &path)
    }
}

/// The largest record written in place: one page, which a write copies whole or not at all.
const IN_PLACE_MAX: usize = 4096;

/// The journal file opened for writing if it is empty (created when missing, with its
/// directory); `None` when it holds something, which is never overwritten in place.
fn open_empty(path: &Path) -> io::Result<Option<File>> {
    let f = crate::state_file::open_in_dir(path, &crate::state_file::writable())?;
    Ok((f.metadata()?.len() == 0).then_some(f))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(verb: &str) -> Record {
        Record {
            verb: verb.to_string(),
            ops: Vec::new(),
        }
    }

    #[test]
    fn records_in_place_or_renamed_and_empties_on_finish() {
        let dir = std::env::temp_dir().join(format!("hvnet-journal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut host = LinuxHost::open().unwrap();
        host.set_state_dir(dir.join("state"));
        assert!(host.pending().unwrap().is_none());
        // Finishing with nothing recorded is fine.
        host.finish().unwrap();

        // A small record: written into the (new) file, which stays, empty, afterwards.
        host.begin(&record("guest up web")).unwrap();
        assert_eq!(host.pending().unwrap().unwrap().verb, "guest up web");
        host.finish().unwrap();
        let path = dir.join("state").join(JOURNAL_FILE);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        assert!(host.pending().unwrap().is_none());

        // A record larger than a page goes through a renamed temporary file, whole.
        let big = "x".repeat(3 * IN_PLACE_MAX);
        host.begin(&record(&big)).unwrap();
        assert_eq!(host.pending().unwrap().unwrap().verb, big);
        assert!(!dir.join("state").join("journal.tmp").exists());

        // A record over one still there (never overwritten in place) replaces it whole.
        host.begin(&record("apply")).unwrap();
        assert_eq!(host.pending().unwrap().unwrap().verb, "apply");
        host.finish().unwrap();
        assert!(host.pending().unwrap().is_none());

        // Garbage is reported, not taken for "nothing pending".
        fs::write(&path, b"{not json").unwrap();
        let err = host.pending().unwrap_err().to_string();
        assert!(err.contains("not an hvnet journal record"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
