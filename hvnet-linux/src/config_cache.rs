//! The validated config, cached in the state directory.
//!
//! Parsing and validating the TOML is most of what a scoped verb costs on a large host: a
//! `guest up` of one guest among 256 spent ~3.5 ms of its ~9.7 ms of CPU reading the whole
//! file (the `toml` crate builds a spanned document at roughly 20 MB/s, and every guest is
//! validated, because they constrain each other: names, MACs, addresses). The file rarely
//! changes between two commands, so [`load`] keeps the last validated [`Config`] in
//! `DIR/config.cache` and reuses it while all of these are the same:
//!
//! - the file's bytes, byte for byte (the cache holds a copy: no hash to trust), and the
//!   name it was given as (diagnostics name it);
//! - the running executable (size, modification time and inode of `/proc/self/exe`), so a
//!   new hvnet — whose validation may differ — never reads an old one's result;
//! - every user and group name validation looked up (a tap's `owner`/`group`), looked up
//!   again: the accounts database may have changed since.
//!
//! Anything else — a missing, unreadable, garbled or foreign cache — is a miss: the file is
//! parsed as if there were no cache, and the result written for next time (a temporary
//! file renamed into place, so readers never see half a cache). Invalid configs are never
//! cached; their errors are always computed afresh. The format is `postcard` (compact serde
//! binary; decoding a 256-guest config takes a fraction of what parsing it does).
//!
//! ```no_run
//! use hvnet_linux::accounts::SystemAccounts;
//! let bytes = std::fs::read("/etc/hvnet/hvnet.toml")?;
//! let cfg = hvnet_linux::config_cache::load(
//!     &bytes,
//!     "/etc/hvnet/hvnet.toml",
//!     Some(std::path::Path::new("/run/hvnet")),
//!     &SystemAccounts,
//! )?;
//! println!("{} guests", cfg.guests.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hvnet_core::config::{Accounts, Config, ConfigError};
use serde::{Deserialize, Serialize};

/// The cache's file name in the state directory.
pub const FILE: &str = "config.cache";

/// Bumped when the layout of [`Key`] changes (the executable's identity covers `Config`).
const FORMAT: u32 = 1;

/// What a cached config is valid for.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Key<'a> {
    format: u32,
    /// `/proc/self/exe`: size, modification time (s, ns), inode.
    exe: (u64, i64, i64, u64),
    file: &'a str,
    #[serde(with = "serde_bytes_borrowed")]
    text: &'a [u8],
}

/// One account name validation resolved, and to what.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug, Clone)]
struct Lookup {
    group: bool,
    name: String,
    id: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    lookups: Vec<Lookup>,
    config: Config,
}

/// Accounts that remember what was asked of them.
struct Recording<'a> {
    inner: &'a dyn Accounts,
    seen: RefCell<Vec<Lookup>>,
}

impl Recording<'_> {
    fn note(&self, group: bool, name: &str, id: Option<u32>) -> Option<u32> {
        self.seen.borrow_mut().push(Lookup {
            group,
            name: name.to_string(),
            id,
        });
        id
    }
}

impl Accounts for Recording<'_> {
    fn uid(&self, name: &str) -> Option<u32> {
        self.note(false, name, self.inner.uid(name))
    }
    fn gid(&self, name: &str) -> Option<u32> {
        self.note(true, name, self.inner.gid(name))
    }
}

/// Parses and validates `text` (named `file` in diagnostics) like
/// [`Config::parse_bytes`], reusing the result cached in `dir` when it is still valid, and
/// caching a new one there otherwise (best effort: a state directory that does not exist or
/// cannot be written only costs the next command a parse). `dir = None` never caches.
pub fn load(
    text: &[u8],
    file: &str,
    dir: Option<&Path>,
    accounts: &dyn Accounts,
) -> Result<Config, ConfigError> {
    let Some(dir) = dir else {
        return Config::parse_bytes(text, file, accounts);
    };
    let Some(exe) = exe_identity() else {
        return Config::parse_bytes(text, file, accounts);
    };
    let key = Key {
        format: FORMAT,
        exe,
        file,
        text,
    };
    let path = dir.join(FILE);
    if let Some(cfg) = read(&path, &key, accounts) {
        return Ok(cfg);
    }
    let recording = Recording {
        inner: accounts,
        seen: RefCell::new(Vec::new()),
    };
    let cfg = Config::parse_bytes(text, file, &recording)?;
    let entry = Entry {
        lookups: recording.seen.into_inner(),
        config: cfg,
    };
    if let Err(e) = write(dir, &path, &key, &entry) {
        tracing::debug!("config cache {}: not written: {e}", path.display());
    }
    Ok(entry.config)
}

/// The cached config, if the cache at `path` holds one for `key` whose account lookups
/// still resolve the same.
fn read(path: &Path, key: &Key<'_>, accounts: &dyn Accounts) -> Option<Config> {
    let data = std::fs::read(path).ok()?;
    let (stored, rest) = postcard::take_from_bytes::<Key<'_>>(&data).ok()?;
    if stored != *key {
        return None;
    }
    let entry: Entry = postcard::from_bytes(rest).ok()?;
    let still = entry.lookups.iter().all(|l| {
        let now = if l.group {
            accounts.gid(&l.name)
        } else {
            accounts.uid(&l.name)
        };
        now == l.id
    });
    still.then_some(entry.config)
}

fn write(dir: &Path, path: &Path, key: &Key<'_>, entry: &Entry) -> std::io::Result<()> {
    let mut data = postcard::to_stdvec(key).map_err(std::io::Error::other)?;
    data.extend(postcard::to_stdvec(entry).map_err(std::io::Error::other)?);
    // A state directory that does not exist yet is not made for a cache: the command that
    // needs it makes it (with its own permissions), and the next one caches.
    let tmp = dir.join(format!("{FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    // A writer killed between its write and its rename left its temporary file: remove
    // such leftovers (a concurrent writer losing its own only loses its rename).
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!("{FILE}.")) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Size, modification time and inode of the running executable.
fn exe_identity() -> Option<(u64, i64, i64, u64)> {
    let m = std::fs::metadata("/proc/self/exe").ok()?;
    Some((m.size(), m.mtime(), m.mtime_nsec(), m.ino()))
}

/// A borrowed byte slice as serde bytes (postcard: length and raw bytes, decoded without
/// copying), rather than as a sequence of `u8`s.
mod serde_bytes_borrowed {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        <&'de [u8] as serde::Deserialize<'de>>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvnet_core::config::NoAccounts;

    /// Accounts knowing one user whose uid the test changes.
    struct OneUser(std::cell::Cell<u32>);

    impl Accounts for OneUser {
        fn uid(&self, name: &str) -> Option<u32> {
            (name == "qemu").then(|| self.0.get())
        }
        fn gid(&self, _: &str) -> Option<u32> {
            None
        }
    }

    const TEXT: &str = "[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br0\"\n\
        [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"n\"\nowner = \"qemu\"\n";

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hvnet-cc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn owner(cfg: &Config) -> Option<u32> {
        match &cfg.guests[0].nics[0].kind {
            hvnet_core::config::NicType::Tap { uid, .. } => *uid,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hit_equals_parse_and_misses_follow_every_part_of_the_key() {
        let dir = tmpdir("key");
        let acc0 = OneUser(std::cell::Cell::new(107));
        load(TEXT.as_bytes(), "a.toml", Some(&dir), &acc0).unwrap();
        assert!(!dir.exists(), "a cache made the state directory");
        std::fs::create_dir_all(&dir).unwrap();
        let acc = OneUser(std::cell::Cell::new(107));
        let first = load(TEXT.as_bytes(), "a.toml", Some(&dir), &acc).unwrap();
        assert!(dir.join(FILE).exists());
        let cached = std::fs::read(dir.join(FILE)).unwrap();
        let again = load(TEXT.as_bytes(), "a.toml", Some(&dir), &acc).unwrap();
        assert_eq!(again, first);
        assert_eq!(again.locations.file, "a.toml");
        assert_eq!(
            std::fs::read(dir.join(FILE)).unwrap(),
            cached,
            "a hit rewrites"
        );

        // A leftover of a writer killed before its rename goes with the next write.
        let leftover = dir.join(format!("{FILE}.999999.tmp"));
        std::fs::write(&leftover, b"half").unwrap();
        // Another name: diagnostics must name it.
        let other = load(TEXT.as_bytes(), "b.toml", Some(&dir), &acc).unwrap();
        assert_eq!(other.locations.file, "b.toml");
        // Other text.
        let changed = TEXT.replace("br0", "br1");
        let cfg = load(changed.as_bytes(), "b.toml", Some(&dir), &acc).unwrap();
        assert_eq!(cfg.networks[0].bridge.as_str(), "br1");
        assert!(!leftover.exists(), "a killed writer's temporary file stays");
        // The account changed: looked up again, not believed.
        assert_eq!(owner(&cfg), Some(107));
        acc.0.set(108);
        let cfg = load(changed.as_bytes(), "b.toml", Some(&dir), &acc).unwrap();
        assert_eq!(owner(&cfg), Some(108));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_is_a_miss_and_errors_are_never_cached() {
        let dir = tmpdir("bad");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE), b"\x01\x02garbage").unwrap();
        let text = TEXT.replace("owner = \"qemu\"\n", "");
        let cfg = load(text.as_bytes(), "a.toml", Some(&dir), &NoAccounts).unwrap();
        assert_eq!(cfg, Config::parse(&text, "a.toml").unwrap());

        let bad = text.replace("kind = \"internal\"", "kind = \"nope\"");
        let err = load(bad.as_bytes(), "a.toml", Some(&dir), &NoAccounts).unwrap_err();
        assert!(err.to_string().starts_with("a.toml:3:"), "{err}");
        // The valid entry is still there, and the invalid text still fails.
        let err2 = load(bad.as_bytes(), "a.toml", Some(&dir), &NoAccounts).unwrap_err();
        assert_eq!(err.to_string(), err2.to_string());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
