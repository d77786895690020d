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

use crate::callers::{CallerFingerprint, Sighting, MAX_CALLERS};
use crate::secret::LookupHash;
use crate::time::Timestamp;

pub use crate::callers::DAYS_KEPT;

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
    /// Callers seen since the last written sighting, at most [`MAX_PENDING_CALLERS`].
    callers: HashMap<CallerFingerprint, Sighting>,
}

/// Distinct callers a container keeps per secret between writes; uses by callers
/// beyond them are still counted, only not attributed.
const MAX_PENDING_CALLERS: usize = 2 * MAX_CALLERS;

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

    /// Counts one use, by `caller` when the request told who it is; returns the write
    /// to attempt now, if this container has not tried one for this secret in `at`'s
    /// minute.
    pub fn count(
        &self,
        lookup_hash: LookupHash,
        at: Timestamp,
        caller: Option<CallerFingerprint>,
    ) -> Option<UseRecord> {
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
        if let Some(caller) = caller {
            let room = entry.callers.len() < MAX_PENDING_CALLERS;
            match entry.callers.get_mut(&caller) {
                Some(sighting) => {
                    sighting.uses += 1;
                    sighting.last_at = at;
                }
                None if room => {
                    entry.callers.insert(
                        caller.clone(),
                        Sighting {
                            caller,
                            uses: 1,
                            first_at: at,
                            last_at: at,
                        },
                    );
                }
                None => {}
            }
        }
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

    /// The callers seen for a secret since their last write, taken to be written;
    /// [`UsageTracker::restore_sightings`] puts them back if that write fails.
    pub fn take_sightings(&self, lookup_hash: &LookupHash) -> Vec<Sighting> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .get_mut(lookup_hash)
            .map(|entry| {
                let mut taken: Vec<_> = entry.callers.drain().map(|(_, s)| s).collect();
                taken.sort_by(|a, b| a.caller.cmp(&b.caller));
                taken
            })
            .unwrap_or_default()
    }

    /// Sightings whose write failed, merged back with those seen meanwhile.
    pub fn restore_sightings(&self, lookup_hash: &LookupHash, sightings: Vec<Sighting>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let entry = pending.entry(*lookup_hash).or_default();
        for sighting in sightings {
            let room = entry.callers.len() < MAX_PENDING_CALLERS;
            match entry.callers.get_mut(&sighting.caller) {
                Some(newer) => {
                    newer.uses += sighting.uses;
                    newer.first_at = newer.first_at.min(sighting.first_at);
                }
                None if room => {
                    entry.callers.insert(sighting.caller.clone(), sighting);
                }
                None => {}
            }
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
        let first = tracker
            .count(hash, at("2026-11-25T10:00:01Z"), None)
            .unwrap();
        assert_eq!(first.uses, 1);
        tracker.settle(&hash, &first, true);
        for second in 2..60 {
            let now = at("2026-11-25T10:00:00Z").plus_seconds(second);
            assert!(tracker.count(hash, now, None).is_none(), "second {second}");
        }
        assert_eq!(tracker.pending_uses(&hash), 58);
        let next = tracker
            .count(hash, at("2026-11-25T10:01:00Z"), None)
            .unwrap();
        assert_eq!(next.uses, 59);
        // Refused (another container wrote this minute): the uses wait.
        tracker.settle(&hash, &next, false);
        assert_eq!(tracker.pending_uses(&hash), 59);
        let later = tracker
            .count(hash, at("2026-11-25T10:02:10Z"), None)
            .unwrap();
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

    #[test]
    fn callers_wait_for_their_write_and_come_back_if_it_fails() {
        let tracker = UsageTracker::new();
        let hash = LookupHash::of("sk_test_x");
        let caller = |n: usize| CallerFingerprint {
            agent: Some(format!("job-{n}/1")),
            ..Default::default()
        };
        for n in 0..3 {
            tracker.count(hash, at("2026-11-25T10:00:01Z"), Some(caller(n)));
        }
        tracker.count(hash, at("2026-11-25T10:00:09Z"), Some(caller(0)));
        let taken = tracker.take_sightings(&hash);
        assert_eq!(taken.len(), 3);
        assert_eq!(
            (taken[0].uses, taken[0].last_at),
            (2, at("2026-11-25T10:00:09Z"))
        );
        assert!(tracker.take_sightings(&hash).is_empty(), "taken once");
        tracker.count(hash, at("2026-11-25T10:00:20Z"), Some(caller(0)));
        tracker.restore_sightings(&hash, taken);
        let again = tracker.take_sightings(&hash);
        assert_eq!(again.len(), 3);
        assert_eq!(again[0].uses, 3, "the failed write's 2 and the newer 1");
        assert_eq!(again[0].first_at, at("2026-11-25T10:00:01Z"));
    }

    #[test]
    fn a_flood_of_distinct_callers_is_bounded_per_secret() {
        let tracker = UsageTracker::new();
        let hash = LookupHash::of("sk_test_x");
        for n in 0..(3 * MAX_CALLERS) {
            let caller = CallerFingerprint {
                agent: Some(format!("job-{n}/1")),
                ..Default::default()
            };
            tracker.count(hash, at("2026-11-25T10:00:01Z"), Some(caller));
        }
        assert_eq!(tracker.take_sightings(&hash).len(), MAX_PENDING_CALLERS);
        assert_eq!(
            tracker.pending_uses(&hash),
            3 * MAX_CALLERS as u64,
            "every use counted"
        );
    }
}
