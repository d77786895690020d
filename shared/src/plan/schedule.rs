//! Scheduling a rotation: the new secret is valid at once (stage `pending`), the old
//! one expires at start + grace, and the grace stays within the class's bounds.

use super::{
    admit_customer_rotation, record, reminder_for, retire_by, snapshot, start, Act,
    RotationRequest, ScheduleTrigger, Start, Successor,
};
use crate::audit::AuditAction;
use crate::change::{ChangeBuilder, KeyChange};
use crate::config::Policy;
use crate::error::{Conflict, Error, Result};
use crate::ids::Reason;
use crate::key::{
    Key, KeyClass, KeyStatus, SecretOrigin, SecretRecord, SecretStage, SecretVersion,
};
use crate::rotation::{NewRotation, Rotation};

/// The grace a rotation of `key` gets: the class's default or the one asked for, within
/// the class's bounds.
fn grace_for(key: &Key, requested: Option<u64>, policy: &Policy) -> Result<u64> {
    let rules = policy.for_class(key.class);
    let grace = requested.unwrap_or(rules.default_grace_seconds);
    if !(rules.min_grace_seconds..=rules.max_grace_seconds).contains(&grace) {
        return Err(Error::outside_policy(
            "gracePeriodSeconds",
            format!(
                "must be between {} and {} for {} keys",
                rules.min_grace_seconds, rules.max_grace_seconds, key.class
            ),
        ));
    }
    Ok(grace)
}

/// Schedules `successor` to replace `key`'s current secret.
pub fn plan_schedule(
    key: Key,
    request: &RotationRequest,
    policy: &Policy,
    successor: &Successor,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    request.validate()?;
    debug_assert_eq!(
        successor.held_as.is_some(),
        request.trigger.holds_secret(),
        "a held secret is held exactly when the trigger says so"
    );
    let grace = grace_for(&key, request.grace_seconds, policy)?;
    let retire = request.retire_for(key.class)?;
    if request.auto_extend && key.class != KeyClass::Embedded {
        return Err(Error::outside_policy(
            "autoExtend",
            "is for embedded keys only: only they extend their grace automatically",
        ));
    }
    if key.status == KeyStatus::Revoked {
        return Err(Conflict::KeyRevoked.into());
    }
    if request.trigger == ScheduleTrigger::SelfService && key.delivery_key.is_none() {
        return Err(Error::outside_policy(
            "selfService",
            "needs a delivery key on the key, so the new secret reaches its client encrypted: the client registers one (PUT /v1/self/delivery-key, or keyroll-client enroll), or an operator or admin does (PUT …/delivery-key)",
        ));
    }
    if key.has_expired(act.now) {
        return Err(Conflict::KeyExpired.into());
    }
    if let Some(active) = &key.active_rotation {
        return Err(Conflict::RotationInProgress {
            rotation_id: active.to_string(),
        }
        .into());
    }
    let old = key
        .current()
        .cloned()
        .ok_or_else(|| Error::Internal(format!("key {} has no current secret", key.id)))?;
    let scheduled_at = request.start.at(act.now, policy);
    let grace_ends_at = scheduled_at.plus_seconds(grace);
    let new_version = SecretVersion::new(
        key.next_version_number(),
        successor.secret.display_prefix.clone(),
        successor.secret.lookup_hash,
        SecretStage::Pending,
        SecretOrigin::Generated,
        act.now,
    );
    let mut rotation = Rotation::new(NewRotation {
        id: successor.rotation_id.clone(),
        key_id: key.id.clone(),
        from: &old,
        to: &new_version,
        trigger: request.trigger.rotation_trigger(),
        reason: request
            .reason
            .clone()
            .unwrap_or_else(|| Reason::system("scheduled rotation")),
        actor: act.actor.clone(),
        created_at: act.now,
        scheduled_at,
        grace_ends_at,
    });
    rotation.reminder_at = reminder_for(scheduled_at, grace_ends_at, policy.reminder_lead_seconds);
    rotation.vault_secret = successor.held_as.clone();
    rotation.complete_when_unused_seconds = request.complete_when_unused_seconds;
    rotation.auto_extend = request.auto_extend;
    rotation.retire = retire;
    rotation.retire_by = retire_by(&key, &rotation, grace_ends_at, policy);
    rotation.self_service = request.trigger == ScheduleTrigger::SelfService;
    let deadline = old
        .created_at
        .plus_seconds(policy.for_class(key.class).max_age_seconds());
    rotation.uncovered_from = Rotation::uncovered_from_for(
        scheduled_at,
        act.now,
        deadline,
        policy.schedule_lead_seconds,
    );

    let before = snapshot(&key, None);
    let mut change = ChangeBuilder::update(key);
    admit_customer_rotation(change.key_mut(), policy, act)?;
    let old_until =
        rotation.old_secret_until(policy.for_class(change.key().class).max_grace_seconds);
    change
        .key_mut()
        .add_successor(new_version.clone(), old.version, old_until);
    change.key_mut().active_rotation = Some(rotation.id.clone());
    change.add_secret(SecretRecord::new(
        change.key(),
        &new_version,
        Some(successor.secret.verifier.clone()),
    ));
    let reason = rotation.reason.clone();
    record(
        &mut change,
        before,
        &rotation,
        act,
        AuditAction::RotationScheduled,
        Some(&reason),
    );
    if request.start == Start::Now {
        start(&mut change, &mut rotation, act, &reason)?;
    }
    change.put_rotation(rotation.clone(), None);
    Ok((change.finish(), rotation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::SecretWrite;
    use crate::key::Validity;
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::rotation::{RotationStatus, RotationTrigger};

    #[test]
    fn the_new_secret_is_valid_at_once_and_the_old_one_gets_its_deadline() {
        let actor = actor();
        let request = RotationRequest::default();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &request,
            &policy(),
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        let p = policy();
        assert_eq!(rotation.status, RotationStatus::Scheduled);
        assert_eq!(
            rotation.scheduled_at,
            now().plus_seconds(p.schedule_lead_seconds)
        );
        assert_eq!(
            rotation.grace_ends_at,
            rotation
                .scheduled_at
                .plus_seconds(p.server.default_grace_seconds)
        );
        let new = change.key().version(2).unwrap();
        assert_eq!(new.stage, SecretStage::Pending);
        assert_eq!(new.validity(now()), Validity::Valid);
        assert_eq!(
            change.key().version(1).unwrap().expires_at,
            Some(rotation.grace_ends_at)
        );
        assert_eq!(change.key().active_rotation, Some(rotation.id.clone()));
        assert_eq!(
            change.expected_revision(),
            Some(1),
            "guarded by the revision read"
        );
        assert!(change
            .secrets()
            .iter()
            .any(|w| matches!(w, SecretWrite::Create(r) if r.version == 2)));
        assert_eq!(change.events().len(), 1);
        assert_eq!(change.outbox().len(), 1, "the customer is told");
    }

    #[test]
    fn starting_now_promotes_in_the_same_change() {
        let actor = actor();
        let request = RotationRequest {
            start: Start::Now,
            ..Default::default()
        };
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &request,
            &policy(),
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        assert_eq!(rotation.status, RotationStatus::GracePeriod);
        assert_eq!(change.key().current().unwrap().version, 2);
        assert_eq!(
            change.key().version(1).unwrap().stage,
            SecretStage::Previous
        );
        assert_eq!(change.events().len(), 2, "scheduled, then started");
    }

    #[test]
    fn the_trigger_decides_who_gets_the_secret() {
        let actor = actor();
        for (trigger, held, self_service, rotation_trigger) in [
            (
                ScheduleTrigger::Manual,
                false,
                false,
                RotationTrigger::Manual,
            ),
            (
                ScheduleTrigger::SelfService,
                true,
                true,
                RotationTrigger::Manual,
            ),
            (
                ScheduleTrigger::Policy,
                true,
                false,
                RotationTrigger::Policy,
            ),
        ] {
            let request = RotationRequest {
                trigger,
                ..Default::default()
            };
            let (_, rotation) = plan_schedule(
                key(KeyClass::Server),
                &request,
                &policy(),
                &successor(2, held),
                act(&actor, now()),
            )
            .unwrap();
            assert_eq!(rotation.vault_secret.is_some(), held, "{trigger:?}");
            assert_eq!(rotation.self_service, self_service, "{trigger:?}");
            assert_eq!(rotation.trigger, rotation_trigger, "{trigger:?}");
        }
    }

    #[test]
    fn refusals_name_their_reason() {
        let actor = actor();
        let p = policy();
        let plan = |key: Key, request: RotationRequest| {
            plan_schedule(key, &request, &p, &successor(2, false), act(&actor, now()))
        };
        let too_long = RotationRequest {
            grace_seconds: Some(p.server.max_grace_seconds + 1),
            ..Default::default()
        };
        assert!(matches!(
            plan(key(KeyClass::Server), too_long),
            Err(Error::Conflict(crate::error::Conflict::OutsidePolicy {
                field: "gracePeriodSeconds",
                ..
            }))
        ));
        let past = RotationRequest {
            start: Start::At(now().minus_seconds(1)),
            ..Default::default()
        };
        assert!(matches!(
            past.validate_start(now()),
            Err(Error::Conflict(crate::error::Conflict::OutsidePolicy {
                field: "scheduledAt",
                ..
            }))
        ));
        let extend = RotationRequest {
            auto_extend: true,
            ..Default::default()
        };
        assert!(matches!(
            plan(key(KeyClass::Server), extend.clone()),
            Err(Error::Conflict(crate::error::Conflict::OutsidePolicy {
                field: "autoExtend",
                ..
            }))
        ));
        assert!(plan(key(KeyClass::Embedded), extend).is_ok());
        let mut busy = key(KeyClass::Server);
        busy.active_rotation = Some(crate::ids::RotationId::generate());
        assert!(matches!(
            plan(busy, RotationRequest::default()),
            Err(Error::Conflict(Conflict::RotationInProgress { .. }))
        ));
        let mut revoked = key(KeyClass::Server);
        revoked.status = KeyStatus::Revoked;
        assert!(matches!(
            plan(revoked, RotationRequest::default()),
            Err(Error::Conflict(Conflict::KeyRevoked))
        ));
    }

    #[test]
    fn a_retire_condition_keeps_the_old_secret_until_its_bound() {
        use crate::rotation::Retire;
        let actor = actor();
        let p = policy();
        let plan = |key: Key, request: RotationRequest, held: bool| {
            plan_schedule(key, &request, &p, &successor(2, held), act(&actor, now()))
        };
        // A policy rotation of an embedded key waits for its callers by default.
        let policy_rotation = RotationRequest {
            trigger: ScheduleTrigger::Policy,
            ..Default::default()
        };
        let (change, rotation) =
            plan(key(KeyClass::Embedded), policy_rotation.clone(), true).unwrap();
        assert_eq!(
            rotation.retire,
            Retire::WhenMoved {
                quiet_seconds: crate::rules::DEFAULT_QUIET_SECONDS
            }
        );
        let bound = rotation.retire_by.expect("a bound");
        assert_eq!(
            bound,
            rotation
                .grace_ends_at
                .plus_seconds(p.embedded.max_grace_seconds)
        );
        assert_eq!(rotation.ends_at(), bound);
        assert_eq!(
            change.key().version(1).unwrap().expires_at,
            Some(bound),
            "the old secret's expiry is the bound"
        );
        // A server key's policy rotation keeps its deadline.
        let (_, server) = plan(key(KeyClass::Server), policy_rotation, true).unwrap();
        assert_eq!((server.retire, server.retire_by), (Retire::Deadline, None));

        let faded = RotationRequest {
            retire: Some(Retire::WhenFaded {
                below_basis_points: 100,
                below_daily_uses: 100,
            }),
            ..Default::default()
        };
        assert!(matches!(
            plan(key(KeyClass::Server), faded.clone(), false),
            Err(Error::Conflict(Conflict::OutsidePolicy {
                field: "retire",
                ..
            }))
        ));
        assert!(plan(key(KeyClass::Embedded), faded, false).is_ok());
        let both = RotationRequest {
            retire: Some(Retire::WhenMoved { quiet_seconds: 60 }),
            complete_when_unused_seconds: Some(60),
            ..Default::default()
        };
        assert!(matches!(
            plan(key(KeyClass::Server), both, false),
            Err(Error::Invalid { field, .. }) if field == "retire"
        ));
    }
}
