//! How `hvnet stats` prints a sample: an aligned table, or JSON.

use std::time::Duration;

use hvnet_linux::stats::Row;
use serde::Serialize;

use crate::error::{CliError, CliResult};

/// One sample as JSON.
#[derive(Debug, Serialize)]
struct JsonSample<'a> {
    /// The time that actually passed between the two readings, in ms (µs precision).
    interval_ms: f64,
    links: &'a [Row],
}

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
pub fn json(elapsed: Duration, rows: &[Row], pretty: bool) -> CliResult<String> {
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
