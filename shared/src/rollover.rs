//! Usage-aware rollover: what the processor does with a rotation in its grace period
//! once it knows when the old and the new secret were last used.
//!
//! - **Early completion** (`completeWhenUnusedSeconds = N`): once the new secret has
//!   been used and the old one has not been used for N seconds (counted from the start
//!   at the earliest), the customer has moved: the rotation completes before its grace
//!   ends and the old secret stops working.
//! - **Auto-extension** (embedded keys, `autoExtend`): an hour before the grace ends,
//!   if the old secret was used in the last 24 hours (an app release still ships it),
//!   the grace moves by `KEYROLL_EMBEDDED_EXTENSION_STEP_SECONDS`, never past the
//!   class's hard maximum counted from the scheduled start. Never for emergency or leak
//!   rotations. Deciding before the end means no request fails while the processor is
//!   a minute late.
//!
//! The decisions are pure functions of the rotation, the usage and the time, so they
//! are tested on a simulated clock.

use crate::rotation::{Rotation, RotationStatus};
use crate::time::Timestamp;

/// Auto-extension is decided this long before the grace ends.
pub const AUTO_EXTEND_LEAD_SECONDS: u64 = 3600;
/// "Still in use" means used within this window.
pub const IN_USE_WINDOW_SECONDS: u64 = 86_400;
/// Shortest wait between two checks of a rotation waiting for its new secret's first use.
pub const MIN_CHECK_INTERVAL_SECONDS: u64 = 300;

/// When the old and the new secret were last used; and, when a reminder or a delivery
/// check is due, the callers that have not moved to the new secret (named to the
/// customer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub old_last_used: Option<Timestamp>,
    pub new_last_used: Option<Timestamp>,
    pub callers_not_moved: Vec<crate::callers::CallerFingerprint>,
}

impl Usage {
    /// Copies the two secrets' last use into the key's versions (the key item keeps a
    /// copy, which notifications and listings read).
    pub fn copy_into(&self, key: &mut crate::key::Key, rotation: &Rotation) {
        for (version, used) in [
            (rotation.from_version, self.old_last_used),
            (rotation.to_version, self.new_last_used),
        ] {
            if let Some(v) = key.version_mut(version) {
                v.last_used_at = used;
            }
        }
    }

    /// Whether the old secret was used within [`IN_USE_WINDOW_SECONDS`] before `now`.
    pub fn old_in_use(&self, now: Timestamp) -> bool {
        self.old_last_used
            .is_some_and(|at| now.seconds_since(at) < IN_USE_WINDOW_SECONDS as i64)
    }
}

/// What to do with a rotation at a usage check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Complete now: the old secret has been unused this many seconds.
    CompleteEarly { unused_for: u64 },
    /// Move the grace end to this instant.
    Extend { to: Timestamp },
    /// Nothing yet; look again then (`None`: no more checks, the grace end decides).
    CheckAgainAt(Option<Timestamp>),
}

/// The first usage check of a rotation that has just started, if it asked for one.
pub fn first_check(rotation: &Rotation) -> Option<Timestamp> {
    let started = rotation.started_at?;
    let early = rotation
        .complete_when_unused_seconds
        .map(|n| started.plus_seconds(n));
    let extend = auto_extend_applies(rotation).then(|| extension_decision_at(rotation));
    earliest(early, extend)
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn auto_extend_applies(rotation: &Rotation) -> bool {
    rotation.auto_extend && !rotation.trigger.is_emergency()
}

fn extension_decision_at(rotation: &Rotation) -> Timestamp {
    rotation
        .grace_ends_at
        .minus_seconds(AUTO_EXTEND_LEAD_SECONDS)
}

/// The decision at a usage check at `now` (the rotation is in its grace period and the
/// grace has not ended). `max_grace_seconds` is the class's hard maximum, counted from
/// the scheduled start; `step_seconds` is one extension.
pub fn decide(
    rotation: &Rotation,
    usage: &Usage,
    now: Timestamp,
    max_grace_seconds: u64,
    step_seconds: u64,
) -> Step {
    debug_assert_eq!(rotation.status, RotationStatus::GracePeriod);
    let started = rotation.started_at.unwrap_or(rotation.scheduled_at);
    let mut next_early = None;
    if let Some(n) = rotation.complete_when_unused_seconds {
        let unused_since = usage.old_last_used.unwrap_or(started).max(started);
        let unused_for = now.seconds_since(unused_since).max(0) as u64;
        if usage.new_last_used.is_some() && unused_for >= n {
            return Step::CompleteEarly { unused_for };
        }
        next_early = Some(if usage.new_last_used.is_none() {
            now.plus_seconds((n / 4).max(MIN_CHECK_INTERVAL_SECONDS))
        } else {
            unused_since.plus_seconds(n).max(now.plus_seconds(1))
        });
    }
    let mut next_extend = None;
    if auto_extend_applies(rotation) {
        let decide_at = extension_decision_at(rotation);
        if now >= decide_at {
            let limit = rotation.scheduled_at.plus_seconds(max_grace_seconds);
            let to = rotation.grace_ends_at.plus_seconds(step_seconds).min(limit);
            if usage.old_in_use(now) && to > rotation.grace_ends_at {
                return Step::Extend { to };
            }
        } else {
            next_extend = Some(decide_at);
        }
    }
    Step::CheckAgainAt(earliest(next_early, next_extend))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Actor, KeyId, Reason, RotationId};
    use crate::rotation::RotationTrigger;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn rotation(trigger: RotationTrigger) -> Rotation {
        use crate::key::{SecretOrigin, SecretStage, SecretVersion};
        use crate::rotation::NewRotation;
        let version = |n: u32, prefix: &str| {
            SecretVersion::new(
                n,
                prefix.into(),
                crate::secret::LookupHash::of(prefix),
                SecretStage::Current,
                SecretOrigin::Generated,
                at("2026-01-01T00:00:00Z"),
            )
        };
        let mut rotation = Rotation::new(NewRotation {
            id: RotationId::generate(),
            key_id: KeyId::generate(),
            from: &version(1, "sk_live_old"),
            to: &version(2, "sk_live_new"),
            trigger,
            reason: Reason::system("test"),
            actor: Actor::system("test"),
            created_at: at("2026-01-01T00:00:00Z"),
            scheduled_at: at("2026-01-01T00:00:00Z"),
            grace_ends_at: at("2026-01-08T00:00:00Z"),
        });
        rotation.status = RotationStatus::GracePeriod;
        rotation.started_at = Some(at("2026-01-01T00:00:00Z"));
        rotation
    }

    const WEEK: u64 = 7 * 86_400;
    const MAX: u64 = 90 * 86_400;

    #[test]
    fn early_completion_waits_for_the_new_secret_and_a_quiet_old_one() {
        let mut r = rotation(RotationTrigger::Manual);
        r.complete_when_unused_seconds = Some(3600);
        assert_eq!(first_check(&r), Some(at("2026-01-01T01:00:00Z")));
        let now = at("2026-01-01T01:00:00Z");
        // Nobody has used the new secret: look again in a quarter of N (at least 5 min).
        let nobody = Usage::default();
        assert_eq!(
            decide(&r, &nobody, now, MAX, WEEK),
            Step::CheckAgainAt(Some(at("2026-01-01T01:15:00Z")))
        );
        // New used, old used 10 minutes ago: look again when it has been quiet an hour.
        let both = Usage {
            old_last_used: Some(at("2026-01-01T00:50:00Z")),
            new_last_used: Some(at("2026-01-01T00:59:00Z")),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &both, now, MAX, WEEK),
            Step::CheckAgainAt(Some(at("2026-01-01T01:50:00Z")))
        );
        // Then it has been.
        assert_eq!(
            decide(&r, &both, at("2026-01-01T01:50:00Z"), MAX, WEEK),
            Step::CompleteEarly { unused_for: 3600 }
        );
        // Old never used since the start: an hour after the start is enough.
        let moved = Usage {
            old_last_used: Some(at("2025-12-31T12:00:00Z")),
            new_last_used: Some(at("2026-01-01T00:30:00Z")),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &moved, now, MAX, WEEK),
            Step::CompleteEarly { unused_for: 3600 }
        );
    }

    #[test]
    fn embedded_auto_extension_moves_the_grace_in_steps_up_to_the_hard_maximum() {
        let mut r = rotation(RotationTrigger::Manual);
        r.auto_extend = true;
        assert_eq!(first_check(&r), Some(at("2026-01-07T23:00:00Z")));
        let decide_at = at("2026-01-07T23:00:00Z");
        let in_use = Usage {
            old_last_used: Some(at("2026-01-07T22:59:00Z")),
            new_last_used: None,
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &in_use, at("2026-01-05T00:00:00Z"), MAX, WEEK),
            Step::CheckAgainAt(Some(decide_at)),
            "too early to decide"
        );
        assert_eq!(
            decide(&r, &in_use, decide_at, MAX, WEEK),
            Step::Extend {
                to: at("2026-01-15T00:00:00Z")
            }
        );
        // Near the hard maximum the step shrinks to it, then stops.
        r.grace_ends_at = at("2026-03-28T00:00:00Z");
        let limit = r.scheduled_at.plus_seconds(MAX);
        assert_eq!(
            decide(
                &r,
                &in_use_at(r.grace_ends_at),
                r.grace_ends_at.minus_seconds(60),
                MAX,
                WEEK
            ),
            Step::Extend { to: limit }
        );
        r.grace_ends_at = limit;
        assert_eq!(
            decide(&r, &in_use_at(limit), limit.minus_seconds(60), MAX, WEEK),
            Step::CheckAgainAt(None),
            "never beyond the hard maximum"
        );
        // Not in use: no extension; the grace end completes it.
        r.grace_ends_at = at("2026-01-08T00:00:00Z");
        let quiet = Usage {
            old_last_used: Some(at("2026-01-06T00:00:00Z")),
            new_last_used: Some(at("2026-01-07T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(
            decide(&r, &quiet, decide_at, MAX, WEEK),
            Step::CheckAgainAt(None)
        );
    }

    fn in_use_at(grace_end: Timestamp) -> Usage {
        Usage {
            old_last_used: Some(grace_end.minus_seconds(3600)),
            new_last_used: None,
            ..Default::default()
        }
    }

    #[test]
    fn emergency_and_leak_rotations_are_never_extended() {
        for trigger in [RotationTrigger::Emergency, RotationTrigger::Leak] {
            let mut r = rotation(trigger);
            r.auto_extend = true;
            assert_eq!(first_check(&r), None);
            let in_use = in_use_at(r.grace_ends_at);
            assert_eq!(
                decide(&r, &in_use, r.grace_ends_at.minus_seconds(60), MAX, WEEK),
                Step::CheckAgainAt(None)
            );
        }
    }
}
