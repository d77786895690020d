//! Per-organisation limits on what costs the company's shared quotas: how many
//! rotations an organisation's users may start on one key in an hour, how many signing
//! secrets one webhook endpoint may be given in a day, how many emails go out for an
//! organisation in a clock hour (counted in the store). Rules only: the window's
//! entries in, the verdict out.

use crate::error::{Error, Result};
use crate::time::Timestamp;

pub const HOUR: u64 = 3600;
pub const DAY: u64 = 86_400;

/// Whether one more may be done at `now`, given when the earlier ones in the window of
/// `window_seconds` were done (`done`, in any order; older entries are ignored) and
/// the `limit`. Refused with how long until the oldest in the window leaves it.
pub fn admit(
    what: &str,
    done: &[Timestamp],
    limit: u32,
    window_seconds: u64,
    now: Timestamp,
) -> Result<()> {
    let since = now.minus_seconds(window_seconds);
    let mut recent: Vec<Timestamp> = done.iter().copied().filter(|at| *at > since).collect();
    if recent.len() < limit as usize {
        return Ok(());
    }
    recent.sort_unstable();
    // The entry whose leaving the window makes room for one more.
    let frees = recent[recent.len() - limit as usize];
    let retry_after_seconds =
        u64::try_from(frees.plus_seconds(window_seconds).seconds_since(now)).unwrap_or(1);
    Err(Error::TooManyRequests {
        what: format!(
            "{what}: at most {limit} per {}",
            window_name(window_seconds)
        ),
        retry_after_seconds: retry_after_seconds.max(1),
    })
}

/// `done` with `now` added, keeping only what is still in the window: what a change
/// stores after [`admit`] let it through.
pub fn record(done: &[Timestamp], window_seconds: u64, now: Timestamp) -> Vec<Timestamp> {
    let since = now.minus_seconds(window_seconds);
    done.iter()
        .copied()
        .filter(|at| *at > since)
        .chain(std::iter::once(now))
        .collect()
}

/// The start of the clock hour `now` is in: the window of counters kept per hour.
pub fn clock_hour(now: Timestamp) -> Timestamp {
    let start = now.unix() - now.unix().rem_euclid(HOUR as i64);
    Timestamp::from_unix(start).unwrap_or(now)
}

/// Seconds from `now` to the next clock hour (at least 1).
pub fn until_next_hour(now: Timestamp) -> u64 {
    u64::try_from(clock_hour(now).plus_seconds(HOUR).seconds_since(now))
        .unwrap_or(1)
        .max(1)
}

fn window_name(seconds: u64) -> String {
    match seconds {
        HOUR => "hour".to_owned(),
        DAY => "day".to_owned(),
        other => format!("{other} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_hours_start_on_the_hour() {
        let at = Timestamp::parse("2026-12-04T10:59:30Z").unwrap();
        assert_eq!(
            clock_hour(at),
            Timestamp::parse("2026-12-04T10:00:00Z").unwrap()
        );
        assert_eq!(until_next_hour(at), 30);
        let on = Timestamp::parse("2026-12-04T11:00:00Z").unwrap();
        assert_eq!(clock_hour(on), on);
        assert_eq!(until_next_hour(on), 3600);
    }

    #[test]
    fn the_window_slides_and_says_when_to_come_back() {
        let start = Timestamp::parse("2026-12-04T10:00:00Z").unwrap();
        let mut done = Vec::new();
        for minute in 0..3 {
            let at = start.plus_seconds(minute * 60);
            admit("rotations of this key", &done, 3, HOUR, at).unwrap();
            done = record(&done, HOUR, at);
        }
        let refused = admit(
            "rotations of this key",
            &done,
            3,
            HOUR,
            start.plus_seconds(600),
        )
        .unwrap_err();
        assert_eq!(refused.retry_after_seconds(), Some(HOUR - 600));
        assert!(refused.to_string().contains("at most 3 per hour"));
        // An hour after the first, one more fits; the first has left the record.
        let later = start.plus_seconds(HOUR);
        admit("rotations of this key", &done, 3, HOUR, later).unwrap();
        assert_eq!(record(&done, HOUR, later).len(), 3);
    }
}
