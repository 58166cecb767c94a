//! The write-ahead journal of [`LinuxHost`]: `STATE/journal`, one JSON [`Record`] of the
//! transaction under way.
//!
//! Writing a record: the JSON goes to `journal.tmp`, which is renamed over `journal`, so
//! after [`Journal::begin`] returns, a killed process (SIGKILL, OOM, a crash of hvnet)
//! leaves either no record or the whole one, never a torn one: the file system keeps what
//! was written and the rename is atomic. Finishing removes the file.
//!
//! That is the failure the journal guards against. A power loss or kernel crash takes the
//! links, qdiscs, firewall rules and sysctls the record describes with it, so a record that
//! survived it would describe nothing; and the default state directory, /run, is a tmpfs.
//! So the journal is not `fsync`ed unless asked ([`LinuxHost::set_journal_sync`], for a
//! state directory on persistent storage shared with something that outlives a reboot):
//! then the file and the directory are synced on every write and removal (three `fsync`s a
//! transaction). [`JournalStats`] counts them and their time; BENCHMARKS.md has the cost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
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

    /// The journal's cost so far (with syncing on, 3 `fsync`s a transaction).
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
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    fn begin(&mut self, record: &Record) -> Result<(), JournalError> {
        let path = self.journal_path()?;
        let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = dir.join(format!("{JOURNAL_FILE}.tmp"));
        let text = serde_json::to_vec(record).map_err(|e| JournalError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
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
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&path)(e)),
        }
        let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
        self.sync_dir(&dir)
    }
}
