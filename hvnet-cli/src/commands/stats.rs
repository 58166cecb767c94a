//! `hvnet stats`: per-interface traffic counters and rates, like `iftop -i vif5.0` (Xen seed
//! docs) or two `ip -s link` readings apart. The kernel is read by `hvnet_linux::stats`; this
//! file selects the links, does the rate maths and prints.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use hvnet_core::state::Owner;
use hvnet_linux::netlink::Rtnl;
use hvnet_linux::stats::{self as kernel, LinkCounters, Sample};
use nix::sys::signal::{SigSet, Signal};
use serde::Serialize;

use crate::cli::{Global, StatsArgs};
use crate::error::{CliError, CliResult};

/// The interval when neither `--interval` nor `--watch INTERVAL` gives one.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One line of the table, one object of the JSON `links` array (fields in this order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Interface name.
    pub name: String,
    /// The hvnet owner (network or guest), if the link carries an hvnet tag.
    pub owner: Option<String>,
    /// Bytes the host side received (the guest sent).
    pub rx_bytes: u64,
    /// Bytes the host side sent (towards the guest).
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// The device's receive drops.
    pub rx_dropped: u64,
    /// The device's transmit drops.
    pub tx_dropped: u64,
    /// Drops of hvnet's tbf qdiscs for this link (both directions).
    pub qdisc_drops: u64,
    /// Receive rate in bits/s over the interval; `None` for a link new in it.
    pub rx_bps: Option<u64>,
    /// Transmit rate in bits/s over the interval; `None` for a link new in it.
    pub tx_bps: Option<u64>,
}

impl Row {
    /// All drops: the device's both ways and the qdiscs'.
    pub fn drops(&self) -> u64 {
        self.rx_dropped
            .saturating_add(self.tx_dropped)
            .saturating_add(self.qdisc_drops)
    }
}

/// One sample as JSON.
#[derive(Debug, Serialize)]
struct JsonSample<'a> {
    /// The time that actually passed between the two readings, in ms (µs precision).
    interval_ms: f64,
    links: &'a [Row],
}

pub fn run(_g: &Global, args: &StatsArgs) -> CliResult {
    let interval = interval(args)?;
    let watch = args.watch.is_some();
    let mut rtnl =
        Rtnl::open().map_err(|e| CliError::Runtime(format!("cannot open rtnetlink: {e}")))?;
    let mut read = || kernel::sample(&mut rtnl).map_err(CliError::runtime);
    let mut prev = read()?;
    let missing = missing(&prev, &args.ifnames);
    if !missing.is_empty() {
        return Err(CliError::Input(format!(
            "no such interface: {}",
            missing.join(", ")
        )));
    }
    // Only a watch installs its own SIGINT handling; a single reading dies as usual.
    let stop = if watch { Some(interrupts()?) } else { None };
    let mut deadline = prev.taken + interval;
    loop {
        if wait_until(deadline, stop.as_ref()) {
            return Ok(());
        }
        let cur = read()?;
        let rows = rows(&prev, &cur, &args.ifnames);
        let elapsed = cur.taken.saturating_duration_since(prev.taken);
        let text = if args.json {
            json(elapsed, &rows, !watch)?
        } else {
            let mut t = table(&rows, args.ifnames.is_empty());
            if watch {
                t.push('\n');
            }
            t
        };
        if !print(&text)? || !watch {
            return Ok(());
        }
        prev = cur;
        // Keep to the schedule; after a stall (a slow dump, a stopped process) start afresh.
        deadline += interval;
        if deadline <= Instant::now() {
            deadline = Instant::now() + interval;
        }
    }
}

/// The interval: `--watch INTERVAL` or `--interval` (both only if equal), else 1 s.
fn interval(args: &StatsArgs) -> CliResult<Duration> {
    match (args.interval, args.watch.flatten()) {
        (Some(i), Some(w)) if i != w => Err(CliError::Input(format!(
            "--interval {i} and --watch {w} disagree; give the interval once"
        ))),
        (Some(i), _) | (None, Some(i)) => Ok(i.as_std()),
        (None, None) => Ok(DEFAULT_INTERVAL),
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and so in threads it starts) and receives them
/// on a thread of their own, which reports them on the returned channel.
fn interrupts() -> CliResult<Receiver<()>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| CliError::Runtime(format!("cannot block SIGINT: {e}")))?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                let _ = tx.send(());
            }
        })
        .map_err(|e| CliError::Runtime(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

/// Sleeps until `deadline`; true if a signal arrived first.
fn wait_until(deadline: Instant, stop: Option<&Receiver<()>>) -> bool {
    let timeout = deadline.saturating_duration_since(Instant::now());
    match stop.map(|rx| rx.recv_timeout(timeout)) {
        Some(Ok(())) => true,
        Some(Err(RecvTimeoutError::Timeout)) => false,
        // No signal thread (or it ended): plain sleep.
        None | Some(Err(RecvTimeoutError::Disconnected)) => {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            false
        }
    }
}

/// Writes `text` to stdout; false when the reader has gone (`hvnet stats --watch | head`).
fn print(text: &str) -> CliResult<bool> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Runtime(format!("cannot write to stdout: {e}"))),
    }
}

// ----- selection and rate maths -----

/// The names in `ifnames` that `sample` lacks, each once.
fn missing<'a>(sample: &Sample, ifnames: &'a [String]) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    ifnames
        .iter()
        .filter(|n| sample.link(n).is_none() && seen.insert(n.as_str()))
        .map(String::as_str)
        .collect()
}

fn owner(l: &LinkCounters) -> Option<String> {
    l.alias
        .as_deref()
        .and_then(Owner::from_alias)
        .map(|o| o.name().to_string())
}

/// The links to show: those named (in that order, each once, the missing left out), else
/// the hvnet-owned links and the bridges they are ports of, each bridge followed by its
/// shown ports, then the links on no shown bridge; by name within each.
fn select<'a>(sample: &'a Sample, ifnames: &[String]) -> Vec<&'a LinkCounters> {
    if !ifnames.is_empty() {
        let mut seen = BTreeSet::new();
        return ifnames
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .filter_map(|n| sample.link(n))
            .collect();
    }
    let owned: Vec<&LinkCounters> = sample.links.iter().filter(|l| owner(l).is_some()).collect();
    let masters: BTreeSet<u32> = owned.iter().filter_map(|l| l.master).collect();
    let is_bridge = |l: &LinkCounters| masters.contains(&l.ifindex);
    let names: HashMap<u32, &str> = sample
        .links
        .iter()
        .map(|l| (l.ifindex, l.name.as_str()))
        .collect();
    let mut shown: Vec<&LinkCounters> = sample
        .links
        .iter()
        .filter(|l| owner(l).is_some() || is_bridge(l))
        .collect();
    // (0, bridge, 0 for the bridge / 1 for a port, name) or (1, "", 0, name) for the rest.
    let key = |l: &LinkCounters| -> (u8, String, u8, String) {
        if is_bridge(l) {
            return (0, l.name.clone(), 0, l.name.clone());
        }
        match l
            .master
            .filter(|m| masters.contains(m))
            .and_then(|m| names.get(&m))
        {
            Some(b) => (0, b.to_string(), 1, l.name.clone()),
            None => (1, String::new(), 0, l.name.clone()),
        }
    };
    shown.sort_by_cached_key(|l| key(l));
    shown
}

/// Bits per second from two byte counters `elapsed` apart, rounded; `None` if no time
/// passed or the counter went back (a 32-bit counter that wrapped).
pub fn rate_bps(before: u64, after: u64, elapsed: Duration) -> Option<u64> {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 || after < before {
        return None;
    }
    let bps = (after - before) as f64 * 8.0 / secs;
    Some(bps.round() as u64)
}

/// The rows of `cur`, with rates against `prev` (links are matched by ifindex: one made
/// again under the same name is new).
pub fn rows(prev: &Sample, cur: &Sample, ifnames: &[String]) -> Vec<Row> {
    let elapsed = cur.taken.saturating_duration_since(prev.taken);
    select(cur, ifnames)
        .into_iter()
        .map(|l| {
            let before = prev.links.iter().find(|p| p.ifindex == l.ifindex);
            let s = &l.stats;
            Row {
                name: l.name.clone(),
                owner: owner(l),
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
                rx_packets: s.rx_packets,
                tx_packets: s.tx_packets,
                rx_dropped: s.rx_dropped,
                tx_dropped: s.tx_dropped,
                qdisc_drops: l.qdisc_drops(),
                rx_bps: before.and_then(|b| rate_bps(b.stats.rx_bytes, s.rx_bytes, elapsed)),
                tx_bps: before.and_then(|b| rate_bps(b.stats.tx_bytes, s.tx_bytes, elapsed)),
            }
        })
        .collect()
}

// ----- printing -----

/// A rate as people read it: `512 bit/s`, `95.6 Mbit/s` (SI prefixes), `-` when unknown.
pub fn format_rate(bps: Option<u64>) -> String {
    const UNITS: [&str; 5] = ["kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s"];
    let Some(bps) = bps else {
        return "-".into();
    };
    if bps < 1000 {
        return format!("{bps} bit/s");
    }
    let mut v = bps as f64 / 1000.0;
    let mut unit = 0;
    // Move up while the value would be shown as 1000.0 or more.
    while v >= 999.95 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The aligned table; `default_view` only changes the note for an empty one.
pub fn table(rows: &[Row], default_view: bool) -> String {
    const HEADER: [&str; 9] = [
        "IFACE", "OWNER", "RX-RATE", "TX-RATE", "RX-BYTES", "TX-BYTES", "RX-PKTS", "TX-PKTS",
        "DROPS",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.owner.clone().unwrap_or_else(|| "-".into()),
                format_rate(r.rx_bps),
                format_rate(r.tx_bps),
                r.rx_bytes.to_string(),
                r.tx_bytes.to_string(),
                r.rx_packets.to_string(),
                r.tx_packets.to_string(),
                r.drops().to_string(),
            ]
        })
        .collect();
    let mut width = HEADER.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            // Names left-aligned, numbers right-aligned.
            if i < 2 {
                s.push_str(&format!("{c:<w$}", w = width[i]));
            } else {
                s.push_str(&format!("{c:>w$}", w = width[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&HEADER.map(String::from));
    for row in &cells {
        out.push_str(&line(row));
    }
    if rows.is_empty() {
        out.push_str(if default_view {
            "(no hvnet-owned links; name interfaces to see others)\n"
        } else {
            "(none of the named interfaces exists any more)\n"
        });
    }
    out
}

/// One sample as JSON text: pretty, or on one line (for `--watch`), newline-terminated.
fn json(elapsed: Duration, rows: &[Row], pretty: bool) -> CliResult<String> {
    let sample = JsonSample {
        interval_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        links: rows,
    };
    let text = if pretty {
        serde_json::to_string_pretty(&sample)
    } else {
        serde_json::to_string(&sample)
    };
    text.map(|t| t + "\n").map_err(CliError::runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvnet_linux::netlink::LinkStats;

    fn link(ifindex: u32, name: &str, alias: Option<&str>, master: Option<u32>) -> LinkCounters {
        LinkCounters {
            ifindex,
            name: name.into(),
            alias: alias.map(String::from),
            master,
            ..LinkCounters::default()
        }
    }

    fn with_bytes(mut l: LinkCounters, rx: u64, tx: u64) -> LinkCounters {
        l.stats = LinkStats {
            rx_bytes: rx,
            tx_bytes: tx,
            rx_packets: rx / 100,
            tx_packets: tx / 100,
            rx_dropped: 1,
            tx_dropped: 2,
            ..LinkStats::default()
        };
        l
    }

    fn sample(taken: Instant, links: Vec<LinkCounters>) -> Sample {
        Sample { taken, links }
    }

    #[test]
    fn rates() {
        let s = Duration::from_secs(1);
        assert_eq!(rate_bps(0, 0, s), Some(0));
        assert_eq!(rate_bps(1000, 2250, s), Some(10_000));
        // Divided by the time that passed, rounded.
        assert_eq!(rate_bps(0, 1000, Duration::from_millis(500)), Some(16_000));
        assert_eq!(rate_bps(0, 1, Duration::from_millis(3)), Some(2667));
        assert_eq!(rate_bps(0, u64::MAX, s), Some(u64::MAX));
        // No time, or a counter that went back: unknown.
        assert_eq!(rate_bps(0, 10, Duration::ZERO), None);
        assert_eq!(rate_bps(10, 9, s), None);
    }

    #[test]
    fn rate_formatting() {
        assert_eq!(format_rate(None), "-");
        assert_eq!(format_rate(Some(0)), "0 bit/s");
        assert_eq!(format_rate(Some(999)), "999 bit/s");
        assert_eq!(format_rate(Some(1000)), "1.0 kbit/s");
        assert_eq!(format_rate(Some(95_600_000)), "95.6 Mbit/s");
        assert_eq!(format_rate(Some(95_649_999)), "95.6 Mbit/s");
        // Rounding up into the next unit shows the next unit.
        assert_eq!(format_rate(Some(999_949)), "999.9 kbit/s");
        assert_eq!(format_rate(Some(999_950)), "1.0 Mbit/s");
        assert_eq!(format_rate(Some(10_000_000_000)), "10.0 Gbit/s");
        assert_eq!(format_rate(Some(2_500_000_000_000)), "2.5 Tbit/s");
        assert_eq!(format_rate(Some(u64::MAX)), "18446.7 Pbit/s");
    }

    #[test]
    fn rows_match_links_by_ifindex() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(500);
        let prev = sample(
            t0,
            vec![
                with_bytes(link(5, "br0", Some("hvnet:lan"), None), 1000, 0),
                with_bytes(link(6, "tap-web", Some("hvnet:web"), Some(5)), 0, 0),
                // Deleted during the interval and made again under the same name.
                with_bytes(link(7, "tap-db", Some("hvnet:db"), Some(5)), 5000, 5000),
            ],
        );
        let cur = sample(
            t1,
            vec![
                with_bytes(link(5, "br0", Some("hvnet:lan"), None), 1000, 0),
                with_bytes(link(6, "tap-web", Some("hvnet:web"), Some(5)), 12_500, 625),
                with_bytes(link(9, "tap-db", Some("hvnet:db"), Some(5)), 100, 100),
            ],
        );
        let rows = rows(&prev, &cur, &[]);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["br0", "tap-db", "tap-web"]);
        assert_eq!((rows[0].rx_bps, rows[0].tx_bps), (Some(0), Some(0)));
        assert_eq!((rows[1].rx_bps, rows[1].tx_bps), (None, None));
        assert_eq!(
            (rows[2].rx_bps, rows[2].tx_bps),
            (Some(200_000), Some(10_000))
        );
        assert_eq!(rows[2].owner.as_deref(), Some("web"));
        assert_eq!((rows[2].rx_bytes, rows[2].rx_packets), (12_500, 125));
        assert_eq!(rows[2].drops(), 3);
    }

    #[test]
    fn default_selection_is_owned_links_and_their_bridges() {
        let t = Instant::now();
        let s = sample(
            t,
            vec![
                link(1, "lo", None, None),
                link(2, "eth0", None, None),
                // A bridge hvnet does not own, with a guest port: shown.
                link(3, "userbr", Some("lab uplink"), None),
                link(4, "vif5.0", Some("hvnet:web"), Some(3)),
                link(5, "usertap", None, Some(3)),
                link(6, "hvbr0", Some("hvnet:lan"), None),
                link(8, "tap-b", Some("hvnet:b"), Some(6)),
                link(7, "tap-a", Some("hvnet:a"), Some(6)),
                link(9, "loose", Some("hvnet:x"), None),
                // A port of a master that is gone.
                link(10, "aaa-port", Some("hvnet:y"), Some(99)),
                link(11, "foreign", Some("hvnet:"), None),
            ],
        );
        let names: Vec<&str> = select(&s, &[]).iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["hvbr0", "tap-a", "tap-b", "userbr", "vif5.0", "aaa-port", "loose"]
        );
        // Named links: in the order given, once, whoever owns them; missing ones reported.
        let ask: Vec<String> = ["usertap", "lo", "usertap", "nope", "nope"]
            .map(String::from)
            .to_vec();
        let names: Vec<&str> = select(&s, &ask).iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["usertap", "lo"]);
        assert_eq!(missing(&s, &ask), ["nope"]);
        assert!(missing(&s, &[]).is_empty());
    }

    fn row(name: &str, owner: Option<&str>, rx_bps: Option<u64>) -> Row {
        Row {
            name: name.into(),
            owner: owner.map(String::from),
            rx_bytes: 123_456_789,
            tx_bytes: 42,
            rx_packets: 81_000,
            tx_packets: 1,
            rx_dropped: 1,
            tx_dropped: 2,
            qdisc_drops: 40,
            rx_bps,
            tx_bps: Some(0),
        }
    }

    #[test]
    fn table_is_aligned() {
        let rows = [
            row("hvbr0", Some("lan"), Some(95_600_000)),
            row("vif5.0-emu", None, None),
        ];
        let t = table(&rows, true);
        let want = "\
IFACE       OWNER      RX-RATE  TX-RATE   RX-BYTES  TX-BYTES  RX-PKTS  TX-PKTS  DROPS
hvbr0       lan    95.6 Mbit/s  0 bit/s  123456789        42    81000        1     43
vif5.0-emu  -                -  0 bit/s  123456789        42    81000        1     43
";
        assert_eq!(t, want);
        assert!(
            table(&[], true).ends_with("(no hvnet-owned links; name interfaces to see others)\n")
        );
        assert!(table(&[], false).starts_with("IFACE  OWNER  RX-RATE"));
    }

    #[test]
    fn json_fields_and_forms() {
        let rows = [row("tap0", Some("web"), Some(8000))];
        let one = json(Duration::from_micros(500_213), &rows, false).unwrap();
        assert_eq!(
            one,
            "{\"interval_ms\":500.213,\"links\":[{\"name\":\"tap0\",\"owner\":\"web\",\
             \"rx_bytes\":123456789,\"tx_bytes\":42,\"rx_packets\":81000,\"tx_packets\":1,\
             \"rx_dropped\":1,\"tx_dropped\":2,\"qdisc_drops\":40,\"rx_bps\":8000,\"tx_bps\":0}]}\n"
        );
        let pretty = json(Duration::from_secs(1), &[row("x", None, None)], true).unwrap();
        assert!(pretty.lines().count() > 3, "{pretty}");
        let v: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(v["interval_ms"], 1000.0);
        assert_eq!(v["links"][0]["owner"], serde_json::Value::Null);
        assert_eq!(v["links"][0]["rx_bps"], serde_json::Value::Null);
    }
}
