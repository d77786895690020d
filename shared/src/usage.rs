//! Last use of each secret, without making verification a write.
//!
//! Verification stays one read: a container counts the uses of each secret in memory
//! and writes them at most once per minute per secret, as one conditional update that
//! sets `lastUsedAt` and adds the count to the day's total. The condition
//! (`lastUsedAt` before this minute) makes the bound hold across containers too: of all
//! the containers that saw a secret in one minute, one write succeeds; the others keep
//! their counts and add them in a later minute. So `lastUsedAt` is exact to the minute
//! when uses are steady, and a day's count can lag by the uses a container saw in its
//! last minute before it was recycled.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::secret::LookupHash;
use crate::time::Timestamp;

/// Days of use counts kept on a secret record (today and the six before).
pub const DAYS_KEPT: u64 = 7;

/// One write of counted uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRecord {
    /// Written as `lastUsedAt`; refused if the stored one is already in this minute.
    pub at: Timestamp,
    /// Added to `dailyUses[at's day]`.
    pub uses: u64,
    /// Days that have aged out of the window and are removed in the same write.
    pub forget_days: Vec<String>,
}

impl UseRecord {
    pub fn new(at: Timestamp, uses: u64) -> Self {
        // Days DAYS_KEPT..2*DAYS_KEPT ago: a secret used at least once a week never
        // carries more than two weeks of counts.
        let forget_days = (DAYS_KEPT..DAYS_KEPT * 2)
            .map(|days| at.minus_seconds(days * 86_400).day())
            .collect();
        Self {
            at,
            uses,
            forget_days,
        }
    }

    pub fn day(&self) -> String {
        self.at.day()
    }
}

#[derive(Debug, Default)]
struct Pending {
    uses: u64,
    /// The minute (its first second, as unix time) of this container's last write
    /// attempt for the secret.
    attempted_minute: Option<i64>,
}

/// The uses a container has counted and not yet written, per secret.
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<LookupHash, Pending>>,
}

/// Containers forget counts beyond this many distinct secrets (the least is lost is a
/// count of uses, never a verification).
const MAX_TRACKED: usize = 100_000;

impl UsageTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one use; returns the write to attempt now, if this container has not
    /// tried one for this secret in `at`'s minute.
    pub fn count(&self, lookup_hash: LookupHash, at: Timestamp) -> Option<UseRecord> {
        let minute = at.start_of_minute().unix();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= MAX_TRACKED && !pending.contains_key(&lookup_hash) {
            pending.retain(|_, p| p.uses > 0);
            if pending.len() >= MAX_TRACKED {
                pending.clear();
            }
        }
        let entry = pending.entry(lookup_hash).or_default();
        entry.uses += 1;
        if entry.attempted_minute == Some(minute) {
            return None;
        }
        entry.attempted_minute = Some(minute);
        Some(UseRecord::new(at, entry.uses))
    }

    /// The outcome of a write from [`UsageTracker::count`]: written uses are no longer
    /// pending; refused or failed ones wait for a later minute.
    pub fn settle(&self, lookup_hash: &LookupHash, record: &UseRecord, written: bool) {
        if !written {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = pending.get_mut(lookup_hash) {
            entry.uses = entry.uses.saturating_sub(record.uses);
        }
    }

    /// Uses counted and not yet written, for a secret (tests and diagnostics).
    pub fn pending_uses(&self, lookup_hash: &LookupHash) -> u64 {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(lookup_hash)
            .map_or(0, |p| p.uses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn one_write_attempt_per_minute_carrying_every_use_since_the_last_write() {
        let tracker = UsageTracker::new();
        let hash = LookupHash::of("sk_test_x");
        let first = tracker.count(hash, at("2026-11-25T10:00:01Z")).unwrap();
        assert_eq!(first.uses, 1);
        tracker.settle(&hash, &first, true);
        for second in 2..60 {
            let now = at("2026-11-25T10:00:00Z").plus_seconds(second);
            assert!(tracker.count(hash, now).is_none(), "second {second}");
        }
        assert_eq!(tracker.pending_uses(&hash), 58);
        let next = tracker.count(hash, at("2026-11-25T10:01:00Z")).unwrap();
        assert_eq!(next.uses, 59);
        // Refused (another container wrote this minute): the uses wait.
        tracker.settle(&hash, &next, false);
        assert_eq!(tracker.pending_uses(&hash), 59);
        let later = tracker.count(hash, at("2026-11-25T10:02:10Z")).unwrap();
        assert_eq!(later.uses, 60);
        tracker.settle(&hash, &later, true);
        assert_eq!(tracker.pending_uses(&hash), 0);
    }

    #[test]
    fn a_write_forgets_the_week_before_the_kept_window() {
        let record = UseRecord::new(at("2026-11-25T10:00:00Z"), 3);
        assert_eq!(record.day(), "2026-11-25");
        assert_eq!(record.forget_days.first().unwrap(), "2026-11-18");
        assert_eq!(record.forget_days.last().unwrap(), "2026-11-12");
        assert_eq!(record.forget_days.len(), 7);
    }
}
