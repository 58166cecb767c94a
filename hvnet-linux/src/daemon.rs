//! The supervised daemons' life cycle (dnsmasq, the host's udhcpc), shared by
//! [`crate::dnsmasq`] and [`crate::dhcp_client`]: start one in the foreground of its own
//! process group with its output appended to a log, ready once its pid file holds its pid;
//! tell whether a pid is still that daemon; find it in `/proc`; stop it (`SIGTERM`, then
//! `SIGKILL`).
//!
//! # Finding a daemon by what it is
//!
//! A pid file is only a hint: it can be deleted, corrupted, or name a pid the kernel has
//! since given to another process. A daemon of hvnet is therefore recognised by its command
//! line, an [`Identity`]: `argv[0]`'s last path component is one of the daemon's program
//! names, and one argument names a file that exists once per daemon in hvnet's state
//! directory (dnsmasq: `--conf-file=STATE/net/NETWORK/dnsmasq.conf`; udhcpc:
//! `-p STATE/host-dhcp/NETWORK/udhcpc.pid`). The path must be the whole argument, or the
//! value of a long option (`--opt=PATH`), or glued to a one-letter option (`-CPATH`); it is
//! compared byte for byte, so `net/a/` never matches `net/ab/`.
//!
//! [`find_by_arg`] scans `/proc` once (numeric entries only, one read of
//! `/proc/PID/cmdline` each; a zombie's or kernel thread's command line is empty, an entry
//! that vanished or cannot be read is skipped). [`Identity::running`] puts the pid file's
//! pid first when it is one of the processes found. [`Identity::stop_all`] stops every
//! process found, so an orphan (a daemon whose pid file was lost) and a duplicate go
//! together; a process that does not match is never signalled.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// Why a daemon did not come up.
#[derive(Debug)]
pub enum SpawnError {
    /// A file or the process could not be handled (`what` the step, `path` the file).
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or program.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The daemon exited before writing its pid file.
    Exited(ExitStatus),
    /// No pid file within the timeout (the daemon was killed).
    Timeout,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpawnError {
    let path = path.display().to_string();
    move |source| SpawnError::Io { what, path, source }
}

/// The pid in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Starts `cmd` with stdin closed and stdout/stderr appended to `log` (created 0644), in a
/// process group of its own, after removing a stale `pid_file`; returns its pid once
/// `pid_file` holds it, within `timeout`.
///
/// # Errors
///
/// [`SpawnError`]: files, spawning, an early exit or the timeout.
pub fn spawn(
    mut cmd: Command,
    pid_file: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<i32, SpawnError> {
    match fs::remove_file(pid_file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_err("removing stale", pid_file)(e))
        }
        _ => {}
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(log)
        .map_err(io_err("opening", log))?;
    let err = out.try_clone().map_err(io_err("duplicating", log))?;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(io_err("spawning", Path::new(&program)))?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(io_err("waiting for", Path::new(&program)))?
        {
            return Err(SpawnError::Exited(status));
        }
        if read_pid(pid_file) == Some(pid) {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SpawnError::Timeout);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `pid` is alive and its command line's first word's last path component is one
/// of `names` (a zombie's command line is empty, a recycled pid's differs).
///
/// This checks the program only; [`Identity::is`] also checks which daemon it is.
pub fn is_alive(pid: i32, names: &[&str]) -> bool {
    if pid <= 0 || kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    read_cmdline(pid).is_some_and(|cmd| {
        cmd.split(|&b| b == 0)
            .next()
            .is_some_and(|argv0| program_is(argv0, names))
    })
}

/// Whether `argv0`'s last path component is one of `names`.
fn program_is(argv0: &[u8], names: &[&str]) -> bool {
    let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or(argv0);
    names.iter().any(|n| base == n.as_bytes())
}

/// Whether argument `arg` names `path`: it is `path`, `--OPTION=path` or `-Xpath` (`X` one
/// ASCII letter).
fn arg_names(arg: &[u8], path: &[u8]) -> bool {
    let Some(prefix) = arg.strip_suffix(path) else {
        return false;
    };
    match prefix {
        [] => true,
        [b'-', x] => x.is_ascii_alphabetic(),
        [b'-', b'-', option @ .., b'='] => {
            !option.is_empty()
                && option
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    }
}

/// Whether the NUL-separated command line `cmdline` (as `/proc/PID/cmdline` holds it) is a
/// process of program `names` (see [`is_alive`]) with an argument naming `path` (see the
/// [module docs](self)). An empty command line (a zombie, a kernel thread) never matches.
pub fn cmdline_matches(cmdline: &[u8], names: &[&str], path: &[u8]) -> bool {
    if path.is_empty() {
        return false;
    }
    let mut args = cmdline.split(|&b| b == 0);
    match args.next() {
        Some(argv0) if program_is(argv0, names) => args.any(|a| arg_names(a, path)),
        _ => false,
    }
}

/// `/proc/PID/cmdline`, if it can be read.
fn read_cmdline(pid: i32) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    read_cmdline_into(pid, &mut buf).then_some(buf)
}

/// Reads `/proc/PID/cmdline` into `buf` (cleared first); false if it cannot be read.
/// Plain reads until end of file (no `fstat`: a `/proc` file's size says nothing).
fn read_cmdline_into(pid: i32, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let Ok(mut f) = File::open(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut chunk = [0u8; 4096];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// The pid a `/proc` entry's name stands for (only all-digit names are processes).
fn proc_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name)
        .ok()?
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

/// The command lines of the live processes of some programs, from one scan of `/proc`: to
/// find the daemons of many networks at the price of one scan.
#[derive(Debug, Clone, Default)]
pub struct Processes {
    /// Pid and command line, by ascending pid.
    found: Vec<(i32, Vec<u8>)>,
}

impl Processes {
    /// Lists `/proc` once and keeps the processes whose `argv[0]`'s last path component is
    /// one of `names` (numeric entries only; an entry that vanished or cannot be read, a
    /// zombie and a kernel thread are skipped).
    ///
    /// # Errors
    ///
    /// `/proc` cannot be listed.
    pub fn scan(names: &[&str]) -> io::Result<Processes> {
        let mut found = Vec::new();
        let mut buf = Vec::new();
        for entry in fs::read_dir("/proc")? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = proc_pid(entry.file_name().as_bytes()) else {
                continue;
            };
            if !read_cmdline_into(pid, &mut buf) {
                continue;
            }
            let argv0 = buf.split(|&b| b == 0).next().unwrap_or_default();
            if program_is(argv0, names) {
                found.push((pid, buf.clone()));
            }
        }
        found.sort_unstable();
        Ok(Processes { found })
    }

    /// Every process found, by ascending pid, with its NUL-separated command line.
    pub fn all(&self) -> impl Iterator<Item = (i32, &[u8])> {
        self.found.iter().map(|(pid, cmd)| (*pid, cmd.as_slice()))
    }

    /// The pids whose command line matches `names` and `path` ([`cmdline_matches`]),
    /// ascending.
    pub fn matching(&self, names: &[&str], path: &Path) -> Vec<i32> {
        let needle = path.as_os_str().as_bytes();
        self.found
            .iter()
            .filter(|(_, cmd)| cmdline_matches(cmd, names, needle))
            .map(|(pid, _)| *pid)
            .collect()
    }
}

/// The live processes of program `names` with an argument naming `path` (see
/// [`cmdline_matches`]), by ascending pid: one scan of `/proc`.
///
/// # Errors
///
/// `/proc` cannot be listed. Entries that vanish or cannot be read are skipped.
pub fn find_by_arg(names: &[&str], path: &Path) -> io::Result<Vec<i32>> {
    Ok(Processes::scan(names)?.matching(names, path))
}

/// Which process is one particular daemon of hvnet: its program names and the state file its
/// command line names (see the [module docs](self)), and its pid file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Accepted last path components of `argv[0]`.
    pub names: &'static [&'static str],
    /// The file an argument names.
    pub path: PathBuf,
    /// The pid file the daemon writes (a hint only).
    pub pid_file: PathBuf,
}

/// A failure stopping the processes of an [`Identity`].
#[derive(Debug)]
pub enum StopError {
    /// `/proc` could not be listed.
    Scan(io::Error),
    /// A signal could not be sent to `pid`.
    Signal {
        /// The process.
        pid: i32,
        /// The cause.
        source: Errno,
    },
    /// The pid file could not be removed.
    Remove(io::Error),
}

impl Identity {
    /// Whether `pid` is a live process of this daemon.
    pub fn is(&self, pid: i32) -> bool {
        pid > 0
            && read_cmdline(pid).is_some_and(|cmd| {
                cmdline_matches(&cmd, self.names, self.path.as_os_str().as_bytes())
            })
    }

    /// Every live process of this daemon ([`find_by_arg`]), ascending.
    ///
    /// # Errors
    ///
    /// `/proc` cannot be listed.
    pub fn find(&self) -> io::Result<Vec<i32>> {
        find_by_arg(self.names, &self.path)
    }

    /// Every live process of this daemon, the one to supervise first: the pid file's pid when
    /// it is one of them, else the lowest pid. A missing, corrupt or stale pid file (one
    /// naming a gone or unrelated process) changes only the order.
    ///
    /// # Errors
    ///
    /// `/proc` cannot be listed.
    pub fn running(&self) -> io::Result<Vec<i32>> {
        Ok(self.running_in(&Processes::scan(self.names)?))
    }

    /// [`running`](Self::running) among processes already scanned (`procs` must have been
    /// scanned for at least this identity's names).
    pub fn running_in(&self, procs: &Processes) -> Vec<i32> {
        let mut found = procs.matching(self.names, &self.path);
        if let Some(i) = read_pid(&self.pid_file).and_then(|p| found.iter().position(|&f| f == p)) {
            found[..=i].rotate_right(1);
        }
        found
    }

    /// Stops every live process of this daemon: `SIGTERM` to all, up to `timeout` for them to
    /// go, then `SIGKILL` to those left and up to 1 s more; reaps our children; removes the
    /// pid file. Returns the pids found. A process that does not match is never signalled,
    /// whatever the pid file says.
    ///
    /// # Errors
    ///
    /// [`StopError`]: `/proc` cannot be listed, a signal cannot be sent (a process already
    /// gone is fine), or the pid file cannot be removed (a missing one is fine).
    pub fn stop_all(&self, timeout: Duration) -> Result<Vec<i32>, StopError> {
        let pids = self.find().map_err(StopError::Scan)?;
        stop_pids(&pids, &|p| self.is(p), timeout)
            .map_err(|(pid, source)| StopError::Signal { pid, source })?;
        match fs::remove_file(&self.pid_file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StopError::Remove(e)),
            _ => Ok(pids),
        }
    }
}

/// Reaps `pid` if it is an exited child of ours (ignored otherwise).
fn reap(pid: i32) {
    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
}

/// Stops daemon `pid` (one of `names`, see [`is_alive`]): `SIGTERM`, up to `timeout` for it
/// to go, then `SIGKILL` and up to 1 s more; reaps it if it is our child. A pid that is not
/// such a live daemon is left alone.
///
/// # Errors
///
/// The errno of a signal that could not be sent (a process already gone is fine).
pub fn stop(pid: i32, names: &[&str], timeout: Duration) -> Result<(), Errno> {
    stop_pids(&[pid], &|p| is_alive(p, names), timeout).map_err(|(_, e)| e)
}

/// Stops those of `pids` that `is_it` accepts: `SIGTERM`, up to `timeout` for all of them to
/// go, then `SIGKILL` to those left and up to 1 s more. `is_it` is asked again before every
/// signal, so a process that went (or whose pid was reused) is not signalled.
fn stop_pids(
    pids: &[i32],
    is_it: &dyn Fn(i32) -> bool,
    timeout: Duration,
) -> Result<(), (i32, Errno)> {
    let alive = |pids: &[i32]| -> Vec<i32> {
        pids.iter()
            .copied()
            .filter(|&p| {
                reap(p);
                is_it(p)
            })
            .collect()
    };
    let signal = |pids: &[i32], sig| {
        for &pid in pids {
            if !is_it(pid) {
                continue;
            }
            match kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err((pid, e)),
            }
        }
        Ok(())
    };
    let left_after = |pids: Vec<i32>, limit: Duration| {
        let deadline = Instant::now() + limit;
        let mut left = pids;
        loop {
            left = alive(&left);
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            thread::sleep(Duration::from_millis(5));
        }
    };
    let targets = alive(pids);
    if targets.is_empty() {
        return Ok(());
    }
    signal(&targets, Signal::SIGTERM)?;
    let left = left_after(targets, timeout);
    if !left.is_empty() {
        signal(&left, Signal::SIGKILL)?;
        left_after(left, Duration::from_secs(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Child;

    const CONF: &[u8] = b"/run/hvnet/net/lan/dnsmasq.conf";
    const DNSMASQ: &[&str] = &["dnsmasq"];
    const UDHCPC: &[&str] = &["udhcpc", "busybox"];

    fn matches(cmd: &[u8]) -> bool {
        cmdline_matches(cmd, DNSMASQ, CONF)
    }

    #[test]
    fn dnsmasq_as_hvnet_starts_it() {
        assert!(matches(
            b"dnsmasq\0--keep-in-foreground\0--conf-file=/run/hvnet/net/lan/dnsmasq.conf\0--log-facility=-\0"
        ));
        // Any path to the program, no trailing NUL.
        assert!(matches(
            b"/usr/sbin/dnsmasq\0--conf-file=/run/hvnet/net/lan/dnsmasq.conf"
        ));
        // The short option, separate or glued.
        assert!(matches(b"dnsmasq\0-C\0/run/hvnet/net/lan/dnsmasq.conf\0"));
        assert!(matches(b"dnsmasq\0-C/run/hvnet/net/lan/dnsmasq.conf\0"));
    }

    #[test]
    fn other_networks_and_files_do_not_match() {
        // A network whose name starts or ends like this one's.
        assert!(!matches(
            b"dnsmasq\0--conf-file=/run/hvnet/net/la/dnsmasq.conf\0"
        ));
        assert!(!matches(
            b"dnsmasq\0--conf-file=/run/hvnet/net/lan2/dnsmasq.conf\0"
        ));
        assert!(!matches(
            b"dnsmasq\0--conf-file=/x/run/hvnet/net/lan/dnsmasq.conf\0"
        ));
        assert!(!matches(
            b"dnsmasq\0--conf-file=/run/hvnet/net/lan/dnsmasq.conf.bak\0"
        ));
        // The path inside another option's value, or after a two-letter "option".
        assert!(!matches(
            b"dnsmasq\0--x=y=/run/hvnet/net/lan/dnsmasq.conf\0"
        ));
        assert!(!matches(b"dnsmasq\0-xx/run/hvnet/net/lan/dnsmasq.conf\0"));
        assert!(!matches(b"dnsmasq\0--=/run/hvnet/net/lan/dnsmasq.conf\0"));
        assert!(!matches(b"dnsmasq\0-/run/hvnet/net/lan/dnsmasq.conf\0"));
    }

    #[test]
    fn other_programs_do_not_match() {
        assert!(!matches(b"vi\0/run/hvnet/net/lan/dnsmasq.conf\0"));
        assert!(!matches(
            b"notdnsmasq\0--conf-file=/run/hvnet/net/lan/dnsmasq.conf\0"
        ));
        assert!(!matches(
            b"dnsmasq-wrapper\0--conf-file=/run/hvnet/net/lan/dnsmasq.conf\0"
        ));
        // The path only as the program itself.
        assert!(!matches(b"/run/hvnet/net/lan/dnsmasq.conf\0"));
        // A zombie or kernel thread: empty.
        assert!(!matches(b""));
        assert!(!matches(b"\0"));
        // No path never matches (not even an empty argument).
        assert!(!cmdline_matches(b"dnsmasq\0\0", DNSMASQ, b""));
    }

    #[test]
    fn udhcpc_as_hvnet_starts_it() {
        let pid = b"/run/hvnet/host-dhcp/lan/udhcpc.pid";
        let cmd = b"udhcpc\0-f\0-i\0br-lan\0-A\x005\0-s\0/run/hvnet/host-dhcp/lan/udhcpc.hook\0-p\0/run/hvnet/host-dhcp/lan/udhcpc.pid\0";
        assert!(cmdline_matches(cmd, UDHCPC, pid));
        let busybox = b"/bin/busybox\0udhcpc\0-p\0/run/hvnet/host-dhcp/lan/udhcpc.pid\0";
        assert!(cmdline_matches(busybox, UDHCPC, pid));
        // Another network's client, or a busybox shell mentioning nothing of ours.
        assert!(!cmdline_matches(
            cmd,
            UDHCPC,
            b"/run/hvnet/host-dhcp/wan/udhcpc.pid"
        ));
        assert!(!cmdline_matches(b"busybox\0sh\0", UDHCPC, pid));
        assert!(!cmdline_matches(cmd, DNSMASQ, pid));
    }

    #[test]
    fn bytes_are_compared_exactly() {
        // Not UTF-8: compared as bytes, no lossy conversion that could merge two paths.
        let path = b"/run/hvnet/net/\xff/dnsmasq.conf";
        assert!(cmdline_matches(
            b"dnsmasq\0--conf-file=/run/hvnet/net/\xff/dnsmasq.conf\0",
            DNSMASQ,
            path
        ));
        assert!(!cmdline_matches(
            b"dnsmasq\0--conf-file=/run/hvnet/net/\xef\xbf\xbd/dnsmasq.conf\0",
            DNSMASQ,
            path
        ));
    }

    #[test]
    fn proc_entries() {
        assert_eq!(proc_pid(b"1"), Some(1));
        assert_eq!(proc_pid(b"4194304"), Some(4_194_304));
        for bad in [
            &b""[..],
            b"0",
            b"self",
            b"12a",
            b"-1",
            b"+5",
            b"99999999999",
        ] {
            assert_eq!(proc_pid(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// A scratch file unique to this test process and `tag`, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p = std::env::temp_dir()
                .join(format!("hvnet-daemon-test-{}-{tag}", std::process::id()));
            fs::write(&p, "").expect("scratch file");
            Scratch(p)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    /// `tail -f FILE` standing in for a daemon (no root needed), once it has exec'd.
    fn fake_daemon(file: &Path) -> Child {
        let child = Command::new("tail")
            .arg("-f")
            .arg(file)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn tail");
        let pid = i32::try_from(child.id()).expect("pid");
        let id = Identity {
            names: &["tail"],
            path: file.to_owned(),
            pid_file: PathBuf::from("/nonexistent/hvnet/pid"),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !id.is(pid) {
            assert!(Instant::now() < deadline, "tail {pid} did not start");
            thread::sleep(Duration::from_millis(5));
        }
        child
    }

    #[test]
    fn finds_and_stops_every_process_of_an_identity() {
        let file = Scratch::new("find");
        let other = Scratch::new("other");
        let pid_file = Scratch::new("pid");
        let id = Identity {
            names: &["tail"],
            path: file.0.clone(),
            pid_file: pid_file.0.clone(),
        };
        assert_eq!(id.find().expect("scan"), Vec::<i32>::new());
        let mut a = fake_daemon(&file.0);
        let mut b = fake_daemon(&file.0);
        let mut unrelated = fake_daemon(&other.0);
        let pid = |c: &Child| i32::try_from(c.id()).expect("pid");
        let (pa, pb, pu) = (pid(&a), pid(&b), pid(&unrelated));
        let mut both = vec![pa, pb];
        both.sort_unstable();
        assert_eq!(id.find().expect("scan"), both);
        assert!(!id.is(pu) && !id.is(std::process::id() as i32) && !id.is(0));

        // The pid file's pid comes first when it is one of them; garbage, a missing file or
        // an unrelated live pid only leave the ascending order.
        fs::write(&pid_file.0, format!("{}\n", both[1])).expect("write");
        assert_eq!(id.running().expect("scan"), [both[1], both[0]]);
        for text in ["garbage\n".to_string(), format!("{pu}\n"), String::new()] {
            fs::write(&pid_file.0, text).expect("write");
            assert_eq!(id.running().expect("scan"), both);
        }

        // stop_all stops both (our children, so they are reaped) and leaves the other alone.
        assert_eq!(id.stop_all(Duration::from_secs(2)).expect("stop"), both);
        assert_eq!(id.find().expect("scan"), Vec::<i32>::new());
        assert!(!pid_file.0.exists(), "the pid file is removed");
        assert_eq!(id.running().expect("scan"), Vec::<i32>::new());
        assert!(!id.is(pa) && !id.is(pb));
        // Already reaped by stop_all (which makes these waits fail with ECHILD).
        let _ = a.wait();
        let _ = b.wait();
        assert!(is_alive(pu, &["tail"]), "the unrelated process was stopped");
        assert_eq!(
            id.stop_all(Duration::from_secs(2)).expect("again"),
            Vec::<i32>::new()
        );
        let _ = unrelated.kill();
        let _ = unrelated.wait();
    }
}
