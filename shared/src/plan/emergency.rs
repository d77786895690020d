//! An emergency rotation: it starts now, every other secret of the key dies within the
//! emergency grace (at once for 0), a rotation in progress is closed as superseded, and
//! **no secret's life is ever lengthened** (`Key::retire_every_secret_by`, which only
//! ever brings an expiry forward through `SecretVersion::expire_by`).

use super::{
    admit_customer_rotation, complete, record, snapshot, Act, EmergencyRequest, EmergencySource,
    Successor,
};
use crate::audit::AuditAction;
use crate::change::{ChangeBuilder, EmergencyLogEntry, KeyChange};
use crate::config::Policy;
use crate::error::{Conflict, Error, Result};
use crate::key::{
    Key, KeyStatus, SecretOrigin, SecretRecord, SecretStage, SecretVersion, Validity,
};
use crate::rotation::{NewRotation, Rotation, RotationCommand, RotationStatus, RotationTrigger};

/// Rotates `key` now. `active` is its rotation in progress, if any (it is superseded).
pub fn plan_emergency(
    key: Key,
    active: Option<Rotation>,
    request: &EmergencyRequest,
    policy: &Policy,
    successor: &Successor,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    let grace = request.grace(&policy.emergency)?;
    if key.status == KeyStatus::Revoked {
        return Err(Conflict::KeyRevoked.into());
    }
    if key.has_expired(act.now) {
        return Err(Conflict::KeyExpired.into());
    }
    if key.active_rotation.as_ref() != active.as_ref().map(|r| &r.id) {
        return Err(Error::Internal(format!(
            "key {} points at a rotation that was not loaded",
            key.id
        )));
    }
    let old = key
        .current()
        .cloned()
        .ok_or_else(|| Error::Internal(format!("key {} has no current secret", key.id)))?;
    if let EmergencySource::Leak { version } = request.source {
        let live = key
            .version(version)
            .is_some_and(|v| v.validity(act.now) == Validity::Valid);
        if !live {
            return Err(Conflict::LeakedSecretIsDead.into());
        }
        // A leak rotation started after this version existed already replaced it
        // (whether it was the current, a pending or a previous secret).
        if let Some(active) = &active {
            if active.trigger == RotationTrigger::Leak && active.to_version > version {
                return Err(Conflict::LeakAlreadyRotating.into());
            }
        }
    }
    let deadline = act.now.plus_seconds(grace);
    let mut change = ChangeBuilder::update(key);
    admit_customer_rotation(change.key_mut(), policy, act)?;

    if let Some(mut previous) = active {
        let before = snapshot(change.key(), Some(&previous));
        let expected = previous.status;
        previous.apply(RotationCommand::Supersede)?;
        previous.cancelled_at = Some(act.now);
        previous.superseded_by = Some(successor.rotation_id.clone());
        change.key_mut().active_rotation = None;
        record(
            &mut change,
            before,
            &previous,
            act,
            AuditAction::RotationSuperseded,
            Some(&request.reason),
        );
        change.put_rotation(previous, Some(expected));
    }

    let before = snapshot(change.key(), None);
    let new_version = SecretVersion::new(
        change.key().next_version_number(),
        successor.secret.display_prefix.clone(),
        successor.secret.lookup_hash,
        SecretStage::Current,
        SecretOrigin::Generated,
        act.now,
    );
    change.key_mut().retire_every_secret_by(deadline, act.now);
    change.key_mut().versions.push(new_version.clone());
    let mut rotation = Rotation::new(NewRotation {
        id: successor.rotation_id.clone(),
        key_id: change.key().id.clone(),
        from: &old,
        to: &new_version,
        trigger: request.rotation_trigger(),
        reason: request.reason.clone(),
        actor: act.actor.clone(),
        created_at: act.now,
        scheduled_at: act.now,
        grace_ends_at: deadline,
    });
    rotation.status = RotationStatus::GracePeriod;
    rotation.started_at = Some(act.now);
    rotation.vault_secret = successor.held_as.clone();
    change.key_mut().active_rotation = Some(rotation.id.clone());
    change.log_emergency(EmergencyLogEntry {
        at: act.now,
        rotation_id: rotation.id.clone(),
        key_id: change.key().id.clone(),
    });
    change.add_secret(SecretRecord::new(
        change.key(),
        &new_version,
        Some(successor.secret.verifier.clone()),
    ));
    record(
        &mut change,
        before,
        &rotation,
        act,
        AuditAction::RotationEmergency,
        Some(&request.reason),
    );
    if grace == 0 {
        complete(&mut change, &mut rotation, act, &request.reason)?;
    }
    change.put_rotation(rotation.clone(), None);
    Ok((change.finish(), rotation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Reason;
    use crate::key::KeyClass;
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::plan::{plan_schedule, RotationRequest};

    fn request(grace: u64, source: EmergencySource) -> EmergencyRequest {
        EmergencyRequest {
            reason: Reason::parse("leaked").unwrap(),
            grace_seconds: Some(grace),
            source,
        }
    }

    /// A key with a scheduled rotation whose pending secret (v2) and old secret (v1)
    /// are both valid; v1 expires at the rotation's grace end.
    fn key_in_rotation() -> (Key, Rotation) {
        let actor = actor();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &RotationRequest::default(),
            &policy(),
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        (change.key().clone(), rotation)
    }

    #[test]
    fn an_emergency_never_lengthens_a_life() {
        let actor = actor();
        let (key, active) = key_in_rotation();
        let before: Vec<_> = key
            .versions
            .iter()
            .map(|v| (v.version, v.expires_at))
            .collect();
        // A grace longer than what the old secret has left: it keeps its sooner end.
        let long = policy().emergency.max_grace_seconds;
        let (change, rotation) = plan_emergency(
            key,
            Some(active),
            &request(long, EmergencySource::Operator),
            &policy(),
            &successor(3, false),
            act(&actor, now()),
        )
        .unwrap();
        let deadline = now().plus_seconds(long);
        for (version, old_expiry) in before {
            let v = change.key().version(version).unwrap();
            let expiry = v.expires_at.expect("every old secret has a deadline now");
            assert!(
                expiry <= deadline,
                "v{version} lives past the emergency deadline"
            );
            if let Some(old) = old_expiry {
                assert!(expiry <= old, "v{version}'s life was lengthened");
            }
            assert_eq!(v.stage, SecretStage::Previous);
        }
        assert_eq!(change.key().current().unwrap().version, 3);
        assert_eq!(rotation.status, RotationStatus::GracePeriod);
        assert_eq!(
            change.rotations().len(),
            2,
            "the emergency and the superseded one"
        );
        assert_eq!(
            change.emergencies().len(),
            1,
            "logged for the emergency list"
        );
    }

    #[test]
    fn zero_grace_kills_every_other_secret_now() {
        let actor = actor();
        let (key, active) = key_in_rotation();
        let (change, rotation) = plan_emergency(
            key,
            Some(active),
            &request(0, EmergencySource::Operator),
            &policy(),
            &successor(3, false),
            act(&actor, now()),
        )
        .unwrap();
        assert_eq!(rotation.status, RotationStatus::Completed);
        assert_eq!(change.key().valid_versions(now()).count(), 1);
        assert_eq!(change.key().active_rotation, None);
    }

    #[test]
    fn a_leak_of_a_dead_or_already_rotated_secret_changes_nothing() {
        let actor = actor();
        let p = policy();
        let leak = |key, active, version| {
            plan_emergency(
                key,
                active,
                &request(0, EmergencySource::Leak { version }),
                &p,
                &successor(9, true),
                act(&actor, now()),
            )
        };
        assert!(matches!(
            leak(key(KeyClass::Server), None, 7),
            Err(Error::Conflict(Conflict::LeakedSecretIsDead))
        ));
        let (change, first) = leak(key(KeyClass::Server), None, 1).unwrap();
        assert_eq!(first.trigger, RotationTrigger::Leak);
        // With a grace, the first leak rotation is still in progress; a second report
        // of the same secret finds it.
        let (change2, in_grace) = plan_emergency(
            change.key().clone(),
            None,
            &EmergencyRequest {
                grace_seconds: Some(60),
                ..request(60, EmergencySource::Leak { version: 2 })
            },
            &p,
            &successor(10, true),
            act(&actor, now()),
        )
        .unwrap();
        assert!(matches!(
            leak(change2.key().clone(), Some(in_grace), 2),
            Err(Error::Conflict(Conflict::LeakAlreadyRotating))
        ));
    }

    #[test]
    fn the_grace_is_bounded_by_the_policy() {
        let actor = actor();
        let p = policy();
        assert!(matches!(
            plan_emergency(
                key(KeyClass::Server),
                None,
                &request(p.emergency.max_grace_seconds + 1, EmergencySource::Operator),
                &p,
                &successor(2, false),
                act(&actor, now()),
            ),
            Err(Error::Conflict(crate::error::Conflict::OutsidePolicy {
                field: "gracePeriodSeconds",
                ..
            }))
        ));
    }
}
