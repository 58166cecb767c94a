//! Line-based files hvnet shares with other writers (the Xen NAT guests' dnsmasq
//! `--dhcp-hostsfile`): [`edit`] carries out [`hvnet_core::op::Op::EditLines`].

use std::io::Write;
use std::path::Path;

/// Removes from `path` the lines in `drop` and any line equal to one in `add`, then appends
/// `add`. The file is written to a temporary file beside it and renamed into place, so a
/// reader (dnsmasq on SIGHUP) never sees half a file. A missing file is empty; a file that
/// would be empty and did not exist is not created.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("hvnet-lines-doc-{}", std::process::id()));
/// let f = dir.join("hosts");
/// hvnet_linux::lines::edit(&f, &[], &["a,1".into(), "b,2".into()]).unwrap();
/// hvnet_linux::lines::edit(&f, &["a,1".into()], &["b,2".into()]).unwrap();
/// assert_eq!(std::fs::read_to_string(&f).unwrap(), "b,2\n");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
///
/// Reading, writing or renaming failed.
pub fn edit(path: &Path, drop: &[String], add: &[String]) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if add.is_empty() {
                return Ok(());
            }
            String::new()
        }
        Err(e) => return Err(e),
    };
    let mut out = String::new();
    for line in old.lines() {
        if !drop.iter().chain(add).any(|l| l == line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    for line in add {
        out.push_str(line);
        out.push('\n');
    }
    if out == old {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(out.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The lines of `path` (none if it does not exist).
///
/// # Errors
///
/// The file exists and cannot be read.
pub fn read(path: &Path) -> std::io::Result<Vec<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
