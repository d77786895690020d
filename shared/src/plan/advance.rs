//! The processor's step for one rotation, and giving up on one that cannot advance.
//!
//! The step starts a rotation whose time has come, acts on a usage check (early
//! completion, an embedded key's extension: [`crate::rollover::decide`]), holds the
//! grace open while the rotation's new secret has reached nobody (the delivery check),
//! reminds the customer before the grace ends, and completes the rotation when it has
//! — never while its new secret is undelivered. Nothing due means no change, so a late
//! or repeated run is harmless.

use super::{complete, move_grace_end, record, record_naming, snapshot, start, Act};
use crate::audit::AuditAction;
use crate::callers::CallerFingerprint;
use crate::change::{ChangeBuilder, KeyChange};
use crate::config::Policy;
use crate::error::{Error, Result};
use crate::ids::Reason;
use crate::key::{Key, KeyClass};
use crate::rollover::{
    decide, decide_retire, first_check, Step, Usage, MIN_CHECK_INTERVAL_SECONDS,
};
use crate::rotation::{Rotation, RotationCommand, RotationStatus};
use crate::time::Timestamp;

/// What one processor step did to one rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Advance {
    pub started: bool,
    pub reminded: bool,
    pub completed: bool,
    /// The grace moved because the old secret is still in use (embedded keys).
    pub extended: bool,
    /// A usage check found nothing to do yet and set the next one.
    pub checked: bool,
    /// The grace was held open (extended, or kept past its end) because nobody has
    /// received the new secret.
    pub undelivered: bool,
    /// The grace ended with callers still on the old secret, which keeps working until
    /// they move (`retire`).
    pub outlived_grace: bool,
    /// The rotation starts too late to cover its key's secret from now on: the key is
    /// re-stamped overdue (the scanner then starts the rotation).
    pub uncovered: bool,
}

/// What is due at `now` of a rotation in its grace: each needs the secrets' use.
#[derive(Debug, Clone, Copy)]
struct GraceDue {
    /// A usage check (early completion, auto-extension).
    check: bool,
    /// The delivery check of an undelivered held secret.
    delivery: bool,
    reminder: bool,
    /// The end of the rotation: its grace end, or with a `retire` condition, its bound.
    end: bool,
}

impl GraceDue {
    fn of(rotation: &Rotation, now: Timestamp) -> Self {
        Self {
            check: rotation.usage_check_at.is_some_and(|at| at <= now),
            delivery: rotation.delivery_due(now),
            reminder: rotation.pending_reminder().is_some_and(|at| at <= now),
            end: rotation.ends_at() <= now,
        }
    }

    fn any(self) -> bool {
        self.check || self.delivery || self.reminder || self.end
    }
}

/// Whether the step at `now` reads the key's callers: to name those not moved yet (a
/// reminder, a delivery check, a `when_moved` grace end), or to decide a `when_moved`
/// retirement. Only then are they read.
pub fn advance_reads_callers(rotation: &Rotation, now: Timestamp) -> bool {
    let due = GraceDue::of(rotation, now);
    let when_moved = matches!(rotation.retire, crate::rotation::Retire::WhenMoved { .. });
    due.reminder || due.delivery || (when_moved && (due.check || due.end))
}

/// Whether the step at `now` needs to know how the rotation's secrets are used: the
/// rotation is (or starts now and so will be) in grace, and a usage check, a reminder
/// or its end is due. A superset of what [`plan_advance`] reads.
pub fn advance_needs_usage(rotation: &Rotation, now: Timestamp) -> bool {
    match rotation.status {
        // Started now, its first usage check may be due at once (a late start).
        RotationStatus::Scheduled if rotation.scheduled_at <= now => {
            let due = GraceDue::of(rotation, now);
            rotation.auto_extend
                || rotation.complete_when_unused_seconds.is_some()
                || !rotation.retire.is_deadline()
                || due.reminder
                || due.end
        }
        RotationStatus::GracePeriod => GraceDue::of(rotation, now).any(),
        _ => false,
    }
}

/// The processor's step at `act.now`. `usage` is the secrets' use, read when
/// [`advance_needs_usage`] said so. `None` when nothing is due.
pub fn plan_advance(
    key: Key,
    mut rotation: Rotation,
    usage: Option<&Usage>,
    policy: &Policy,
    act: Act<'_>,
) -> Result<Option<(KeyChange, Advance)>> {
    let now = act.now;
    let expected = rotation.status;
    let mut change = ChangeBuilder::update(key);
    let mut advance = Advance::default();
    if rotation.status == RotationStatus::Scheduled && rotation.scheduled_at <= now {
        start(
            &mut change,
            &mut rotation,
            act,
            &Reason::system("scheduled time reached"),
        )?;
        advance.started = true;
    }
    if rotation.status == RotationStatus::Scheduled
        && !rotation.uncovered_noted
        && rotation.uncovered_from.is_some_and(|from| from <= now)
    {
        // No event: nothing happened to the key, time moved it. The write re-stamps it.
        rotation.uncovered_noted = true;
        advance.uncovered = true;
    }
    let due = GraceDue::of(&rotation, now);
    if rotation.status == RotationStatus::GracePeriod && due.any() {
        // What the customer's clients are doing, for the decisions below and for the
        // notifications this step sends.
        let Some(usage) = usage else {
            return Err(Error::Internal(
                "the processor's step needs the secrets' use: read it when advance_needs_usage says so"
                    .into(),
            ));
        };
        usage.copy_into(change.key_mut(), &rotation);
        if due.check && !due.end {
            check_usage(&mut change, &mut rotation, usage, policy, act, &mut advance)?;
        }
        if rotation.status == RotationStatus::GracePeriod
            && !rotation.retire.is_deadline()
            && rotation.grace_ends_at <= now
            && !due.end
            && !rotation.grace_end_noted
        {
            note_outlived_grace(&mut change, &mut rotation, usage, act);
            advance.outlived_grace = true;
        }
    }
    let not_moved = usage.map_or(&[][..], |u| u.callers_not_moved.as_slice());
    if rotation.delivery_due(now) {
        hold_for_delivery(&mut change, &mut rotation, not_moved, policy, act)?;
        advance.undelivered = true;
    }
    if rotation.status == RotationStatus::GracePeriod
        && rotation.grace_ends_at > now
        && rotation.pending_reminder().is_some_and(|at| at <= now)
    {
        remind(&mut change, &mut rotation, not_moved, act);
        advance.reminded = true;
    }
    if rotation.status == RotationStatus::GracePeriod
        && rotation.ends_at() <= now
        && !rotation.awaits_delivery()
    {
        let reason = if rotation.retire.is_deadline() {
            "grace period ended".to_owned()
        } else {
            let waiting = usage
                .and_then(|u| u.old_callers)
                .map(|c| format!(" with {} callers not moved", c.not_moved))
                .unwrap_or_default();
            format!(
                "retired the old secret at its latest ({}){waiting}: the grace ended at {}",
                rotation.ends_at(),
                rotation.grace_ends_at
            )
        };
        complete(&mut change, &mut rotation, act, &Reason::system(reason))?;
        advance.completed = true;
    }
    if advance == Advance::default() {
        // Not due (or already advanced by another run): write nothing.
        return Ok(None);
    }
    change.put_rotation(rotation, Some(expected));
    Ok(Some((change.finish(), advance)))
}

/// A due usage check before the grace ends: complete early, extend an embedded key's
/// grace, or look again later ([`crate::rollover::decide`]).
fn check_usage(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    usage: &Usage,
    policy: &Policy,
    act: Act<'_>,
    advance: &mut Advance,
) -> Result<()> {
    let now = act.now;
    let rules = policy.for_class(change.key().class);
    let step = if !rotation.retire.is_deadline() {
        decide_retire(rotation, usage, now)
    } else if change.key().class == KeyClass::Embedded {
        decide(
            rotation,
            usage,
            now,
            rules.max_grace_seconds,
            policy.embedded_extension_step_seconds,
        )
    } else {
        let mut server = rotation.clone();
        server.auto_extend = false;
        decide(&server, usage, now, rules.max_grace_seconds, 0)
    };
    match step {
        // In use without having been delivered cannot happen; if it ever seems to, the
        // delivery rule wins and the usage is looked at again later.
        Step::CompleteEarly { .. } | Step::Retire { .. } if rotation.awaits_delivery() => {
            rotation.usage_check_at = Some(now.plus_seconds(MIN_CHECK_INTERVAL_SECONDS));
            advance.checked = true;
        }
        Step::CompleteEarly { unused_for } => {
            let reason = Reason::system(format!(
                "completed early: the new secret is in use and the old one has not been used for {unused_for} s"
            ));
            complete(change, rotation, act, &reason)?;
            advance.completed = true;
        }
        Step::Retire { because } => {
            let reason = Reason::system(format!("retired the old secret: {because}"));
            complete(change, rotation, act, &reason)?;
            advance.completed = true;
        }
        Step::Extend { to } => {
            let before = snapshot(change.key(), Some(rotation));
            rotation.apply(RotationCommand::Extend)?;
            move_grace_end(change, rotation, to, policy);
            rotation.usage_check_at = first_check(rotation);
            let last = usage
                .old_last_used
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            let reason = Reason::system(format!(
                "extended automatically: the old secret is still in use (last used {last})"
            ));
            record(
                change,
                before,
                rotation,
                act,
                AuditAction::RotationExtended,
                Some(&reason),
            );
            advance.extended = true;
        }
        Step::CheckAgainAt(next) => {
            // A retirement that outlives the grace is told to the customer at its end.
            let grace_end = (!rotation.retire.is_deadline()
                && !rotation.grace_end_noted
                && rotation.grace_ends_at > now)
                .then_some(rotation.grace_ends_at);
            rotation.usage_check_at = match (next, grace_end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            advance.checked = true;
        }
    }
    Ok(())
}

/// The grace of a `retire` rotation has ended and its condition is not met: the old
/// secret keeps working until it is (or its bound). The customer is told, naming the
/// callers still on it.
fn note_outlived_grace(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    usage: &Usage,
    act: Act<'_>,
) {
    let before = snapshot(change.key(), Some(rotation));
    rotation.grace_end_noted = true;
    let waiting = match (rotation.retire, usage.old_callers) {
        (crate::rotation::Retire::WhenMoved { .. }, Some(c)) => {
            format!(
                "{} of {} callers have moved",
                c.moved,
                c.moved + c.not_moved
            )
        }
        _ => "the old secret is still in use".to_owned(),
    };
    let reason = Reason::system(format!(
        "the grace ended and {waiting}: the old secret keeps working until it retires ({}), at the latest at {}",
        rotation.retire.mode(),
        rotation.ends_at()
    ));
    record_naming(
        change,
        before,
        rotation,
        act,
        AuditAction::RotationExtended,
        Some(&reason),
        &usage.callers_not_moved,
    );
}

/// Reminds the customer that the grace ends soon (once per rotation).
fn remind(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    not_moved: &[CallerFingerprint],
    act: Act<'_>,
) {
    let before = snapshot(change.key(), Some(rotation));
    rotation.reminded_at = Some(act.now);
    let reason = Reason::system("the grace period ends soon");
    record_naming(
        change,
        before,
        rotation,
        act,
        AuditAction::RotationReminded,
        Some(&reason),
        not_moved,
    );
}

/// The delivery check of a rotation whose held new secret nobody has received: before
/// the grace ends, extend it by a step (never past the class's maximum, never once it
/// has ended, so the old secret never dies and comes back); at the maximum, wait; after
/// the end, keep the rotation open and look again a step later. Each time the
/// organisation is told, and the rotation counts as blocked.
fn hold_for_delivery(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    not_moved: &[CallerFingerprint],
    policy: &Policy,
    act: Act<'_>,
) -> Result<()> {
    let now = act.now;
    let step = policy.undelivered_extension_seconds;
    let before = snapshot(change.key(), Some(rotation));
    let end = rotation.grace_ends_at;
    let limit = rotation
        .scheduled_at
        .plus_seconds(policy.for_class(change.key().class).max_grace_seconds);
    let reason = if now < end && end.plus_seconds(step).min(limit) > end {
        let to = end.plus_seconds(step).min(limit);
        rotation.apply(RotationCommand::Extend)?;
        move_grace_end(change, rotation, to, policy);
        format!("the new secret has not been delivered: the grace now ends at {to}")
    } else if now < end {
        rotation.delivery_check_at = Some(end);
        format!(
            "the new secret has not been delivered and the grace is at its maximum: the old secret stops at {end}; the rotation stays open until the new secret is revealed"
        )
    } else {
        rotation.delivery_check_at = Some(now.plus_seconds(step));
        "the grace has ended and the new secret was never delivered: the rotation stays open until someone entitled to it reveals it, or an operator completes it with force".to_owned()
    };
    rotation.blocked_since.get_or_insert(now);
    record_naming(
        change,
        before,
        rotation,
        act,
        AuditAction::RotationUndelivered,
        Some(&Reason::system(reason)),
        not_moved,
    );
    Ok(())
}

/// Gives up on a rotation that cannot be advanced (its state is inconsistent), so it
/// stops failing every run. The key keeps every secret that was valid: a rotation that
/// had not started leaves the old secret without a deadline, as if cancelled, while its
/// new secret (possibly handed out already) stays valid.
pub fn plan_fail(
    key: Key,
    mut rotation: Rotation,
    failure: &str,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    let failure: String = failure.chars().take(500).collect();
    let expected = rotation.status;
    let before = snapshot(&key, Some(&rotation));
    rotation.apply(RotationCommand::Fail)?;
    rotation.failure = Some(failure.clone());
    let mut change = ChangeBuilder::update(key);
    if expected == RotationStatus::Scheduled {
        change
            .key_mut()
            .lift_deadline_if_valid(rotation.from_version, act.now);
    }
    if change.key().active_rotation.as_ref() == Some(&rotation.id) {
        change.key_mut().active_rotation = None;
    }
    let reason = Reason::system(format!("failed: {failure}"));
    record(
        &mut change,
        before,
        &rotation,
        act,
        AuditAction::RotationFailed,
        Some(&reason),
    );
    change.put_rotation(rotation.clone(), Some(expected));
    Ok((change.finish(), rotation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{SecretStage, Validity};
    use crate::plan::fixtures::{act, actor, key, now, policy, scheduled, successor};
    use crate::plan::{plan_schedule, RotationRequest};

    /// One step at `at`, with nobody having used either secret.
    fn step(key: Key, rotation: Rotation, at: Timestamp) -> Option<(KeyChange, Advance)> {
        let actor = actor();
        let unused = Usage::default();
        plan_advance(key, rotation, Some(&unused), &policy(), act(&actor, at)).unwrap()
    }

    #[test]
    fn nothing_due_writes_nothing() {
        let (key, rotation) = scheduled(KeyClass::Server, RotationRequest::default());
        assert!(!advance_needs_usage(&rotation, now()));
        assert!(step(key, rotation, now()).is_none());
    }

    #[test]
    fn on_time_a_rotation_starts_is_reminded_and_completes() {
        let (key, rotation) = scheduled(KeyClass::Server, RotationRequest::default());
        let (change, did) = step(key, rotation.clone(), rotation.scheduled_at).unwrap();
        assert!(did.started && !did.completed);
        let started = change.rotations()[0].rotation.clone();
        let remind_at = started.pending_reminder().expect("a reminder is set");
        assert!(advance_needs_usage(&started, remind_at));
        let (change, did) = step(change.key().clone(), started, remind_at).unwrap();
        assert!(did.reminded);
        let reminded = change.rotations()[0].rotation.clone();
        let end = reminded.grace_ends_at;
        let (change, did) = step(change.key().clone(), reminded, end).unwrap();
        assert!(did.completed);
        assert_eq!(change.key().version(1).unwrap().stage, SecretStage::Revoked);
        assert_eq!(
            change.key().version(2).unwrap().validity(end),
            Validity::Valid
        );
    }

    #[test]
    fn a_late_run_starts_and_completes_in_one_change() {
        let (key, rotation) = scheduled(KeyClass::Server, RotationRequest::default());
        let long_after = rotation.grace_ends_at.plus_seconds(86_400);
        assert!(advance_needs_usage(&rotation, long_after));
        let (change, did) = step(key, rotation, long_after).unwrap();
        assert!(did.started && did.completed);
        assert_eq!(change.key().valid_versions(long_after).count(), 1);
    }

    /// The lockout the issue describes, on the planners: a policy rotation whose held
    /// secret nobody reveals never completes; its grace grows step by step up to the
    /// class's maximum and the old secret keeps working until then.
    #[test]
    fn an_undelivered_rotation_is_held_open_and_never_completes() {
        let p = policy();
        let request = RotationRequest {
            trigger: crate::plan::ScheduleTrigger::Policy,
            ..Default::default()
        };
        let actor = actor();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &request,
            &p,
            &successor(2, true),
            act(&actor, now()),
        )
        .unwrap();
        let (mut key, mut rotation) = (change.key().clone(), rotation);
        let limit = rotation
            .scheduled_at
            .plus_seconds(p.server.max_grace_seconds);
        let mut at = rotation.scheduled_at;
        let mut held_open = 0;
        // Run the processor every hour until well past the class's maximum grace.
        while at < limit.plus_seconds(3 * 86_400) {
            if let Some((change, did)) = step(key.clone(), rotation.clone(), at) {
                assert!(!did.completed, "completed undelivered at {at}");
                held_open += u64::from(did.undelivered);
                key = change.key().clone();
                rotation = change.rotations()[0].rotation.clone();
            }
            let old = key.version(1).unwrap();
            if at < limit {
                assert_eq!(
                    old.validity(at),
                    Validity::Valid,
                    "the old secret died at {at}"
                );
            }
            assert!(rotation.grace_ends_at <= limit, "past the class's maximum");
            at = at.plus_seconds(3600);
        }
        assert!(held_open > 1, "extended in steps, then reminded");
        assert!(rotation.is_blocked());
        assert_eq!(rotation.status, RotationStatus::GracePeriod);
        assert!(
            rotation.holds_secret(),
            "the new secret can still be revealed"
        );
        // Revealed after the class's maximum grace: the old secret died at that bound
        // and stays dead (a delivery never brings it back); the next step completes.
        let (change, revealed) =
            crate::plan::plan_reveal(key, rotation, &p, act(&actor, at)).unwrap();
        assert_ne!(
            change.key().version(1).unwrap().validity(at),
            Validity::Valid
        );
        let (change, did) = step(change.key().clone(), revealed, at).expect("due once delivered");
        assert!(did.completed);
        assert_eq!(
            change.key().version(2).unwrap().validity(at),
            Validity::Valid
        );
    }

    /// Rotations already in grace when the delivery rule shipped carry no delivery
    /// check: they are due at their decision time all the same, and held open.
    #[test]
    fn a_held_rotation_from_before_the_delivery_rule_is_held_open_too() {
        let request = RotationRequest {
            trigger: crate::plan::ScheduleTrigger::Policy,
            start: crate::plan::Start::Now,
            ..Default::default()
        };
        let actor = actor();
        let (change, mut rotation) = plan_schedule(
            key(KeyClass::Server),
            &request,
            &policy(),
            &successor(2, true),
            act(&actor, now()),
        )
        .unwrap();
        rotation.delivery_check_at = None;
        let decision = rotation.delivery_decision_at();
        assert_eq!(
            rotation.due_at(),
            Some(decision.min(rotation.pending_reminder().unwrap()))
        );
        let (change, did) = step(change.key().clone(), rotation, decision).expect("due");
        assert!(did.undelivered && !did.completed);
        let held = &change.rotations()[0].rotation;
        assert!(held.grace_ends_at > decision && held.delivery_check_at.is_some());
    }

    #[test]
    fn a_step_that_needs_the_secrets_use_refuses_to_guess_it() {
        let actor = actor();
        let (key, rotation) = scheduled(KeyClass::Server, RotationRequest::default());
        let end = rotation.grace_ends_at;
        assert!(plan_advance(key, rotation, None, &policy(), act(&actor, end)).is_err());
    }

    #[test]
    fn a_failed_scheduled_rotation_leaves_the_old_secret_working() {
        let actor = actor();
        let (key, rotation) = scheduled(KeyClass::Server, RotationRequest::default());
        let (change, failed) = plan_fail(key, rotation, "corrupt", act(&actor, now())).unwrap();
        assert_eq!(failed.status, RotationStatus::Failed);
        assert_eq!(change.key().version(1).unwrap().expires_at, None);
        assert_eq!(
            change.key().version(2).unwrap().validity(now()),
            Validity::Valid
        );
        assert_eq!(change.key().active_rotation, None);
    }
}
