//! Time in keyroll: whole-second UTC instants and an injectable clock.
//!
//! Every deadline (expiry, grace end, due time) is a whole second, so "expired to the
//! second" is exact, and the RFC 3339 text form sorts lexicographically in the same
//! order as the instants — the DynamoDB sort keys of the due and age indexes rely on it.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Latest instant keyroll represents: 9999-12-31T23:59:59Z keeps the text form fixed-width.
const MAX_UNIX: i64 = 253_402_300_799;
/// Earliest: 1970-01-01T00:00:00Z.
const MIN_UNIX: i64 = 0;

/// A UTC instant with whole-second precision, between 1970 and 9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("not an RFC 3339 date-time (e.g. 2026-01-31T12:00:00Z)")]
    Syntax,
    #[error("outside the supported range 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z")]
    OutOfRange,
}

impl Timestamp {
    pub const MAX: Timestamp = Timestamp(MAX_UNIX);

    pub fn from_unix(seconds: i64) -> Result<Self, TimestampError> {
        if (MIN_UNIX..=MAX_UNIX).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(TimestampError::OutOfRange)
        }
    }

    /// Parses any RFC 3339 date-time; a fractional second is truncated, an offset is
    /// converted to UTC.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError::Syntax)?;
        Self::from_unix(parsed.timestamp())
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Result<Self, TimestampError> {
        Self::from_unix(at.timestamp())
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    /// `self + seconds`, saturating at [`Timestamp::MAX`].
    pub fn plus_seconds(self, seconds: u64) -> Self {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(seconds).min(MAX_UNIX))
    }

    /// `self - seconds`, saturating at the epoch.
    pub fn minus_seconds(self, seconds: u64) -> Self {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(seconds).max(MIN_UNIX))
    }

    /// Whole seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        // In range by construction, so the conversion cannot fail.
        Utc.timestamp_opt(self.0, 0).single().unwrap_or_default()
    }

    /// The first second of this instant's minute.
    pub fn start_of_minute(self) -> Self {
        Self(self.0 - self.0.rem_euclid(60))
    }

    /// The UTC calendar day, `YYYY-MM-DD`.
    pub fn day(self) -> String {
        self.to_datetime().format("%Y-%m-%d").to_string()
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`: HTTP's date (RFC 9110's IMF-fixdate), as the
    /// `Sunset` header (RFC 8594) carries it.
    pub fn to_http_date(self) -> String {
        self.to_datetime()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`: fixed width, sorts like the instant.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// When a Lambda invocation should stop starting new work: `margin` before its
/// deadline (milliseconds since the epoch, from the invocation context).
pub fn stop_before_deadline(deadline_ms: u64, margin: std::time::Duration) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    std::time::Instant::now() + time_left(deadline_ms, now_ms).saturating_sub(margin)
}

/// Deadlines before this (2001-09-09) are not epoch times.
const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// Time left until `deadline_ms`. Lambda sends an epoch time; cargo-lambda's local
/// emulator sends the constant 600000, a duration, which read as an epoch time would
/// stop every run before it starts. A value too small to be an epoch time is read as
/// milliseconds from now.
fn time_left(deadline_ms: u64, now_ms: u64) -> std::time::Duration {
    if deadline_ms < PLAUSIBLE_EPOCH_MS {
        std::time::Duration::from_millis(deadline_ms)
    } else {
        std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    }
}

/// The source of "now". Injected everywhere so time-based behaviour is tested without
/// sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now()).unwrap_or(Timestamp::MAX)
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.unix())))
    }

    pub fn set(&self, to: Timestamp) {
        self.0.store(to.unix(), Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: u64) {
        let next = self.now().plus_seconds(seconds);
        self.set(next);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_date_is_rfc_9110s_imf_fixdate() {
        let at = Timestamp::parse("1994-11-06T08:49:37Z").unwrap();
        assert_eq!(at.to_http_date(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn minute_and_day_of_an_instant() {
        let at = Timestamp::parse("2026-11-25T23:59:59Z").unwrap();
        assert_eq!(at.start_of_minute().to_rfc3339(), "2026-11-25T23:59:00Z");
        assert_eq!(at.day(), "2026-11-25");
        assert_eq!(at.plus_seconds(1).day(), "2026-11-26");
        let on_the_minute = Timestamp::parse("2026-11-25T10:00:00Z").unwrap();
        assert_eq!(on_the_minute.start_of_minute(), on_the_minute);
    }

    #[test]
    fn time_left_reads_lambda_epoch_deadlines_and_the_emulators_durations() {
        use std::time::Duration;
        let now = 1_795_640_962_873;
        assert_eq!(time_left(now + 30_000, now), Duration::from_secs(30));
        assert_eq!(time_left(now - 5, now), Duration::ZERO, "a passed deadline");
        assert_eq!(
            time_left(600_000, now),
            Duration::from_secs(600),
            "cargo lambda watch"
        );
    }

    #[test]
    fn text_form_is_fixed_width_and_sorts_like_time() {
        let a = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        let b = a.plus_seconds(1);
        assert_eq!(a.to_rfc3339(), "2026-01-02T03:04:05Z");
        assert!(a.to_rfc3339() < b.to_rfc3339());
        assert_eq!(
            Timestamp::from_unix(0).unwrap().to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(Timestamp::MAX.to_rfc3339(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parse_truncates_fractions_and_normalises_offsets() {
        let t = Timestamp::parse("2026-01-02T05:04:05.999+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn parse_rejects_garbage_and_out_of_range() {
        assert_eq!(Timestamp::parse("yesterday"), Err(TimestampError::Syntax));
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange)
        );
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::MAX.plus_seconds(u64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::from_unix(5).unwrap().minus_seconds(10).unix(), 0);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix(100).unwrap());
        let shared = clock.clone();
        assert_eq!(clock.now().unix(), 100);
        shared.advance(5);
        assert_eq!(clock.now().unix(), 105);
    }
}
