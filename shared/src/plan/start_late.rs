//! Starting now a rotation that was scheduled to start too late to cover its key's
//! secret under the maximum-age rule (the compliance scanner's remedy): it keeps its
//! new secret and its grace length, so whoever holds the new secret already needs
//! nothing new, and the old secret still works for the whole grace.

use super::{move_grace_end, start, Act};
use crate::change::{ChangeBuilder, KeyChange};
use crate::config::Policy;
use crate::error::Result;
use crate::ids::Reason;
use crate::key::Key;
use crate::rotation::Rotation;

/// `None` when the rotation covers the key at `act.now` (it starts in time, or has
/// started): there is nothing to do.
pub fn plan_start_late(
    key: Key,
    mut rotation: Rotation,
    policy: &Policy,
    reason: &Reason,
    act: Act<'_>,
) -> Result<Option<(KeyChange, Rotation)>> {
    if rotation.covers(act.now) {
        return Ok(None);
    }
    let expected = rotation.status;
    let grace = rotation
        .grace_ends_at
        .seconds_since(rotation.scheduled_at)
        .max(0) as u64;
    let mut change = ChangeBuilder::update(key);
    rotation.scheduled_at = act.now;
    move_grace_end(
        &mut change,
        &mut rotation,
        act.now.plus_seconds(grace),
        policy,
    );
    start(&mut change, &mut rotation, act, reason)?;
    change.put_rotation(rotation.clone(), Some(expected));
    Ok(Some((change.finish(), rotation)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyClass, SecretStage};
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::plan::{plan_schedule, RotationRequest, Start};
    use crate::rotation::RotationStatus;

    #[test]
    fn a_rotation_scheduled_past_the_deadline_starts_now_with_its_grace_and_secret() {
        let actor = actor();
        let policy = policy();
        let key = key(KeyClass::Server);
        let deadline = key
            .current()
            .unwrap()
            .created_at
            .plus_seconds(policy.server.max_age_seconds());
        let far = deadline.plus_seconds(400 * 86_400);
        let (change, rotation) = plan_schedule(
            key,
            &RotationRequest {
                start: Start::At(far),
                grace_seconds: Some(7200),
                ..Default::default()
            },
            &policy,
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        assert_eq!(
            rotation.uncovered_from,
            Some(
                deadline
                    .max(now().plus_seconds(policy.schedule_lead_seconds))
                    .plus_seconds(1)
            )
        );
        let at = deadline.plus_seconds(60);
        assert!(!rotation.covers(at));
        let reason = Reason::system("compliance");
        let (started, rotation) = plan_start_late(
            change.key().clone(),
            rotation,
            &policy,
            &reason,
            act(&actor, at),
        )
        .unwrap()
        .expect("started");
        assert_eq!(rotation.status, RotationStatus::GracePeriod);
        assert_eq!(rotation.scheduled_at, at);
        assert_eq!(rotation.grace_ends_at, at.plus_seconds(7200));
        let old = started.key().version(1).unwrap();
        assert_eq!(
            (old.stage, old.expires_at),
            (SecretStage::Previous, Some(at.plus_seconds(7200)))
        );
        assert_eq!(
            started.key().current().unwrap().version,
            2,
            "the same new secret"
        );
    }

    #[test]
    fn a_rotation_that_starts_in_time_is_not_started_early() {
        let actor = actor();
        let policy = policy();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &RotationRequest::default(),
            &policy,
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        assert_eq!(rotation.uncovered_from, None);
        let refused = plan_start_late(
            change.key().clone(),
            rotation,
            &policy,
            &Reason::system("compliance"),
            act(&actor, now().plus_seconds(400 * 86_400)),
        );
        assert!(refused.unwrap().is_none(), "nothing to do");
    }
}
