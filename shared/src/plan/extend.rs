//! Giving a rotation more grace by hand: never an emergency's, never once the grace has
//! ended, never past the class's maximum (counted from the scheduled start).

use super::{move_grace_end, record, snapshot, Act};
use crate::audit::AuditAction;
use crate::change::{ChangeBuilder, KeyChange};
use crate::config::Policy;
use crate::error::{Conflict, Error, Result};
use crate::ids::Reason;
use crate::key::Key;
use crate::rotation::{Rotation, RotationCommand, RotationStatus};

pub fn plan_extend(
    key: Key,
    mut rotation: Rotation,
    add_seconds: u64,
    reason: &Reason,
    policy: &Policy,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    if !crate::rules::EXTENSION_SECONDS.contains(add_seconds) {
        return Err(Error::invalid(
            "gracePeriodSeconds",
            crate::rules::EXTENSION_SECONDS.expectation(),
        ));
    }
    if rotation.trigger.is_emergency() {
        return Err(Conflict::EmergencyGraceIsFixed.into());
    }
    let expected = rotation.status;
    rotation.apply(RotationCommand::Extend)?;
    if rotation.grace_ends_at <= act.now {
        return Err(Conflict::GraceEnded {
            remedy: "it cannot be extended",
        }
        .into());
    }
    let rules = policy.for_class(key.class);
    let new_end = rotation.grace_ends_at.plus_seconds(add_seconds);
    let total = new_end.seconds_since(rotation.scheduled_at);
    if total > i64::try_from(rules.max_grace_seconds).unwrap_or(i64::MAX) {
        return Err(Error::outside_policy(
            "gracePeriodSeconds",
            format!(
                "would make the grace total {total} s, over the maximum of {} s",
                rules.max_grace_seconds
            ),
        ));
    }
    let before = snapshot(&key, Some(&rotation));
    let mut change = ChangeBuilder::update(key);
    move_grace_end(&mut change, &mut rotation, new_end, policy);
    if rotation.status == RotationStatus::GracePeriod {
        rotation.usage_check_at = crate::rollover::first_check(&rotation);
    }
    record(
        &mut change,
        before,
        &rotation,
        act,
        AuditAction::RotationExtended,
        Some(reason),
    );
    change.put_rotation(rotation.clone(), Some(expected));
    Ok((change.finish(), rotation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyClass;
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::plan::{
        plan_emergency, plan_schedule, EmergencyRequest, EmergencySource, RotationRequest,
    };

    fn reason() -> Reason {
        Reason::parse("customer asked").unwrap()
    }

    #[test]
    fn extending_moves_the_deadline_and_the_old_secrets_expiry_within_the_maximum() {
        let actor = actor();
        let p = policy();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &RotationRequest::default(),
            &p,
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        let end = rotation.grace_ends_at;
        let (change, longer) = plan_extend(
            change.key().clone(),
            rotation,
            3600,
            &reason(),
            &p,
            act(&actor, now()),
        )
        .unwrap();
        assert_eq!(longer.grace_ends_at, end.plus_seconds(3600));
        assert_eq!(
            change.key().version(1).unwrap().expires_at,
            Some(longer.grace_ends_at)
        );
        let too_much = p.server.max_grace_seconds;
        assert!(matches!(
            plan_extend(
                change.key().clone(),
                longer.clone(),
                too_much,
                &reason(),
                &p,
                act(&actor, now())
            ),
            Err(Error::Conflict(
                crate::error::Conflict::OutsidePolicy { .. }
            ))
        ));
        assert!(matches!(
            plan_extend(
                change.key().clone(),
                longer.clone(),
                1,
                &reason(),
                &p,
                act(&actor, longer.grace_ends_at)
            ),
            Err(Error::Conflict(Conflict::GraceEnded { .. }))
        ));
    }

    #[test]
    fn an_emergency_grace_is_fixed() {
        let actor = actor();
        let p = policy();
        let request = EmergencyRequest {
            reason: reason(),
            grace_seconds: Some(60),
            source: EmergencySource::Operator,
        };
        let (change, rotation) = plan_emergency(
            key(KeyClass::Server),
            None,
            &request,
            &p,
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        assert!(matches!(
            plan_extend(
                change.key().clone(),
                rotation,
                60,
                &reason(),
                &p,
                act(&actor, now())
            ),
            Err(Error::Conflict(Conflict::EmergencyGraceIsFixed))
        ));
    }
}
