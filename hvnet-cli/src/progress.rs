//! The progress line of long transactions on a terminal (`apply: 812/3070 ops`).

use std::time::{Duration, Instant};

/// How long a transaction runs before a terminal gets a progress line.
pub const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// A progress line on a terminal (`apply: 812/3070 ops`), shown once a transaction has run
/// for [`PROGRESS_AFTER`] and redrawn at most 10 times a second.
pub fn progress_line(what: &str) -> Box<dyn FnMut(usize, usize)> {
    let what = what.to_string();
    let started = Instant::now();
    let mut last: Option<Instant> = None;
    Box::new(move |done, total| {
        let now = Instant::now();
        if progress_due(now - started, last.map(|l| now - l), done, total) {
            last = Some(now);
            eprint!("\r{what}: {done}/{total} ops");
        }
    })
}

/// Whether to redraw the progress line: a batch of more than one op that has run for
/// [`PROGRESS_AFTER`], at most every 100 ms, and always at its last op.
fn progress_due(
    running: Duration,
    since_last: Option<Duration>,
    done: usize,
    total: usize,
) -> bool {
    let often = since_last.is_none_or(|d| d >= Duration::from_millis(100)) || done == total;
    total > 1 && running >= PROGRESS_AFTER && often
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_only_for_long_batches_and_not_too_often() {
        let ms = Duration::from_millis;
        assert!(!progress_due(ms(999), None, 5, 100), "before a second");
        assert!(progress_due(ms(1000), None, 5, 100));
        assert!(
            !progress_due(ms(1050), Some(ms(50)), 6, 100),
            "redrawn 50 ms ago"
        );
        assert!(progress_due(ms(1100), Some(ms(100)), 7, 100));
        assert!(
            progress_due(ms(1110), Some(ms(10)), 100, 100),
            "the last op"
        );
        assert!(
            !progress_due(ms(5000), None, 1, 1),
            "one op (a rollback step)"
        );
    }
}
