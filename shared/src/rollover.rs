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
//! - **Retirement by the callers** (`retire`): `deadline` (the old secret dies at the
//!   grace end), `when_moved` (it is revoked once every caller seen on it has moved to
//!   the new secret or gone, it has been unused for `quietSeconds`, and the new secret
//!   was delivered) or `when_faded` (embedded keys: once its share of the key's week of
//!   traffic and its daily uses are both below thresholds). Either waits no longer than
//!   the [`retire_bound`]: the old secret's expiry is that bound, so it stops then
//!   even if the processor is late, and not a second later.
//!
//! The decisions are pure functions of the rotation, the usage and the time, so they
//! are tested on a simulated clock.

use crate::callers::MoveSummary;
pub use crate::rotation::Retire;
use crate::rotation::{Rotation, RotationStatus};
use crate::time::Timestamp;

/// Auto-extension is decided this long before the grace ends.
pub const AUTO_EXTEND_LEAD_SECONDS: u64 = 3600;
/// "Still in use" means used within this window.
pub const IN_USE_WINDOW_SECONDS: u64 = 86_400;
/// Shortest wait between two checks of a rotation waiting for its new secret's first use.
pub const MIN_CHECK_INTERVAL_SECONDS: u64 = 300;

/// The latest a `when_moved` or `when_faded` old secret lives: the grace end extended by
/// the class's maximum grace, and no more than that past the old secret's compliance
/// deadline (its maximum age) — but never before the grace end.
pub fn retire_bound(
    grace_ends_at: Timestamp,
    compliance_deadline: Timestamp,
    max_grace_seconds: u64,
) -> Timestamp {
    grace_ends_at
        .plus_seconds(max_grace_seconds)
        .min(compliance_deadline.plus_seconds(max_grace_seconds))
        .max(grace_ends_at)
}

/// The key's traffic over the last week, from its old and new secrets' daily counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub old_7d: u64,
    pub new_7d: u64,
    /// The old secret's busier day of today and yesterday (UTC).
    pub old_daily: u64,
}

impl Traffic {
    /// The old secret's share of the week's uses, in hundredths of a percent (0 when
    /// neither secret was used).
    pub fn old_share_basis_points(&self) -> u64 {
        let total = self.old_7d.saturating_add(self.new_7d);
        self.old_7d
            .saturating_mul(10_000)
            .checked_div(total)
            .unwrap_or(0)
    }
}

/// When the old and the new secret were last used; and, when a reminder or a delivery
/// check is due, the callers that have not moved to the new secret (named to the
/// customer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub old_last_used: Option<Timestamp>,
    pub new_last_used: Option<Timestamp>,
    pub callers_not_moved: Vec<crate::callers::CallerFingerprint>,
    /// Where the old secret's callers stand (read for a `when_moved` check).
    pub old_callers: Option<MoveSummary>,
    pub traffic: Traffic,
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
    /// Revoke the old secret now (`retire`), for this reason.
    Retire { because: String },
}

/// The first usage check of a rotation that has just started, if it asked for one.
pub fn first_check(rotation: &Rotation) -> Option<Timestamp> {
    let started = rotation.started_at?;
    match rotation.retire {
        Retire::Deadline => {}
        Retire::WhenMoved { quiet_seconds } => return Some(started.plus_seconds(quiet_seconds)),
        Retire::WhenFaded { .. } => return Some(started.plus_seconds(MIN_CHECK_INTERVAL_SECONDS)),
    }
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

/// The decision of a `retire` check at `now` (before the rotation's bound): revoke the
/// old secret now, or look again. Whether the new secret was delivered is the caller's
/// to check (a retirement waits for it).
pub fn decide_retire(rotation: &Rotation, usage: &Usage, now: Timestamp) -> Step {
    let again = now.plus_seconds(MIN_CHECK_INTERVAL_SECONDS);
    match rotation.retire {
        Retire::Deadline => Step::CheckAgainAt(None),
        Retire::WhenMoved { quiet_seconds } => {
            let Some(callers) = usage.old_callers else {
                return Step::CheckAgainAt(Some(again));
            };
            if callers.not_moved > 0 {
                // As often as a quarter of the quiet asked for, within 1 to 5 minutes.
                let wait = (quiet_seconds / 4).clamp(60, MIN_CHECK_INTERVAL_SECONDS);
                return Step::CheckAgainAt(Some(now.plus_seconds(wait)));
            }
            let started = rotation.started_at.unwrap_or(rotation.scheduled_at);
            let unused_since = usage.old_last_used.unwrap_or(started).max(started);
            let quiet_for = now.seconds_since(unused_since).max(0) as u64;
            if quiet_for < quiet_seconds {
                return Step::CheckAgainAt(Some(unused_since.plus_seconds(quiet_seconds)));
            }
            let seen = callers.moved + callers.gone;
            let who = match (seen, callers.gone) {
                (0, _) => "no caller used the old secret".to_owned(),
                (n, 0) => format!("all {n} callers moved"),
                (n, gone) => format!("all {n} callers moved or gone ({gone} gone)"),
            };
            Step::Retire {
                because: format!("{who}; old secret quiet for {}", span(quiet_for)),
            }
        }
        Retire::WhenFaded {
            below_basis_points,
            below_daily_uses,
        } => {
            let share = usage.traffic.old_share_basis_points();
            let daily = usage.traffic.old_daily;
            if share < u64::from(below_basis_points) && daily < below_daily_uses {
                Step::Retire {
                    because: format!(
                        "the old secret faded: {} of the key's uses this week (below {}) and {daily} uses a day (below {below_daily_uses})",
                        percent(share),
                        percent(u64::from(below_basis_points)),
                    ),
                }
            } else {
                Step::CheckAgainAt(Some(again))
            }
        }
    }
}

/// Hundredths of a percent as a person reads them: `0.8 %`, `1 %`.
pub fn percent(basis_points: u64) -> String {
    let whole = basis_points / 100;
    match basis_points % 100 {
        0 => format!("{whole} %"),
        n if n % 10 == 0 => format!("{whole}.{} %", n / 10),
        n => format!("{whole}.{n:02} %"),
    }
}

/// A duration in its largest whole unit: `1 h`, `90 min`, `2 d`, `45 s`.
fn span(seconds: u64) -> String {
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s if s >= 3600 => format!("{:.1} h", s as f64 / 3600.0),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
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

    #[test]
    fn the_bound_is_the_grace_end_plus_the_maximum_grace_and_no_later_past_the_age_limit() {
        let end = at("2026-01-08T00:00:00Z");
        let far = at("2026-06-01T00:00:00Z");
        assert_eq!(
            retire_bound(end, far, 30 * 86_400),
            at("2026-02-07T00:00:00Z")
        );
        // An old secret near its age limit: no longer than the maximum grace past it.
        let limit = at("2026-01-10T00:00:00Z");
        assert_eq!(retire_bound(end, limit, 86_400), at("2026-01-09T00:00:00Z"));
        assert_eq!(
            retire_bound(end, limit, 5 * 86_400),
            at("2026-01-13T00:00:00Z")
        );
        // Already past it: never before the grace end.
        assert_eq!(retire_bound(end, at("2025-01-01T00:00:00Z"), 86_400), end);
    }

    fn moved(moved: u64, not_moved: u64, gone: u64) -> Option<MoveSummary> {
        Some(MoveSummary {
            moved,
            not_moved,
            gone,
        })
    }

    #[test]
    fn when_moved_waits_for_every_caller_and_then_for_quiet() {
        let mut r = rotation(RotationTrigger::Manual);
        r.retire = Retire::WhenMoved {
            quiet_seconds: 3600,
        };
        assert_eq!(first_check(&r), Some(at("2026-01-01T01:00:00Z")));
        let now = at("2026-01-02T00:00:00Z");
        let mut usage = Usage {
            old_last_used: Some(at("2026-01-01T23:30:00Z")),
            new_last_used: Some(now),
            old_callers: moved(3, 1, 0),
            ..Default::default()
        };
        assert_eq!(
            decide_retire(&r, &usage, now),
            Step::CheckAgainAt(Some(at("2026-01-02T00:05:00Z"))),
            "one caller has not moved"
        );
        usage.old_callers = None;
        assert_eq!(
            decide_retire(&r, &usage, now),
            Step::CheckAgainAt(Some(at("2026-01-02T00:05:00Z"))),
            "callers unknown: never retire"
        );
        usage.old_callers = moved(4, 0, 0);
        assert_eq!(
            decide_retire(&r, &usage, now),
            Step::CheckAgainAt(Some(at("2026-01-02T00:30:00Z"))),
            "everyone moved; quiet for an hour at 00:30"
        );
        assert_eq!(
            decide_retire(&r, &usage, at("2026-01-02T00:30:00Z")),
            Step::Retire {
                because: "all 4 callers moved; old secret quiet for 1 h".into()
            }
        );
        usage.old_callers = moved(2, 0, 1);
        assert_eq!(
            decide_retire(&r, &usage, at("2026-01-02T01:00:00Z")),
            Step::Retire {
                because: "all 3 callers moved or gone (1 gone); old secret quiet for 90 min".into()
            }
        );
    }

    #[test]
    fn when_faded_needs_both_the_share_and_the_daily_uses_below() {
        let mut r = rotation(RotationTrigger::Manual);
        r.retire = Retire::WhenFaded {
            below_basis_points: 100,
            below_daily_uses: 100,
        };
        let now = at("2026-01-05T00:00:00Z");
        assert_eq!(first_check(&r), Some(at("2026-01-01T00:05:00Z")));
        let with = |old_7d, new_7d, old_daily| Usage {
            traffic: Traffic {
                old_7d,
                new_7d,
                old_daily,
            },
            ..Default::default()
        };
        let again = Step::CheckAgainAt(Some(at("2026-01-05T00:05:00Z")));
        // 2 % of the week.
        assert_eq!(decide_retire(&r, &with(200, 9_800, 20), now), again);
        // 0.5 % of the week, but 150 uses a day (a big fleet).
        assert_eq!(decide_retire(&r, &with(500, 99_500, 150), now), again);
        assert_eq!(
            decide_retire(&r, &with(50, 9_950, 7), now),
            Step::Retire {
                because: "the old secret faded: 0.5 % of the key's uses this week (below 1 %) and 7 uses a day (below 100)".into()
            }
        );
        // Nobody uses the key at all: nothing left to break.
        assert!(matches!(
            decide_retire(&r, &with(0, 0, 0), now),
            Step::Retire { .. }
        ));
    }

    #[test]
    fn percentages_read_as_people_write_them() {
        assert_eq!(percent(100), "1 %");
        assert_eq!(percent(140), "1.4 %");
        assert_eq!(percent(5), "0.05 %");
        assert_eq!(percent(10_000), "100 %");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(5400), "90 min");
        assert_eq!(span(5430), "1.5 h");
        assert_eq!(span(120), "2 min");
        assert_eq!(span(2 * 86_400), "2 d");
    }
}
