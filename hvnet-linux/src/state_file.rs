//! Opening files of the state directory on the hot path of every command.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Opens `path` with `options`; when that fails because its directory is missing, makes the
/// directory (mode 0755, with its parents) and tries once more. The directory nearly always
/// exists, so this is one system call where creating it first would be three.
pub(crate) fn open_in_dir(path: &Path, options: &OpenOptions) -> io::Result<File> {
    match options.open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
            }
            options.open(path)
        }
        r => r,
    }
}

/// Options that open a file for writing, creating it (mode 0644) and keeping its content.
pub(crate) fn writable() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644);
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn makes_the_missing_directory_once() {
        let base = std::env::temp_dir().join(format!("hvnet-state-file-{}", std::process::id()));
        let path = base.join("a/b/names");
        let f = open_in_dir(&path, &writable()).unwrap();
        drop(f);
        assert!(path.is_file());
        // Opening it again finds it; nothing is truncated.
        std::fs::write(&path, b"vnet 3\n").unwrap();
        drop(open_in_dir(&path, &writable()).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"vnet 3\n");
        // Without `create`, a missing file stays an error (the directory is made).
        let missing = base.join("c/journal");
        let err = open_in_dir(&missing, OpenOptions::new().read(true)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
