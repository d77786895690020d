//! What a leak report of a live secret calls for. The leaked secret always dies; the
//! key's current secret is replaced only if it is exposed too: it is the one reported
//! (or the pending one about to replace it), or the reported secret could have fetched
//! it (the self-service successor of a rotation from that very secret). A leaked
//! **previous** secret — still in a manual rotation's grace, its successor already
//! deployed — dies alone, and the customer's current secret keeps working.

use super::{snapshot, Act};
use crate::audit::{AuditAction, Happened};
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::{Conflict, Result};
use crate::ids::Reason;
use crate::key::{Key, KeyStatus, SecretStage, Validity};
use crate::notification::{Notification, OutboxMessage};
use crate::rotation::{Rotation, RotationTrigger};

/// What a leak of one secret calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakResponse {
    /// The secret is dead, or the key is: nothing to do.
    Dead,
    /// A leak rotation started after this secret existed already replaced it.
    AlreadyRotating,
    /// The current secret is exposed: an emergency rotation.
    Rotate,
    /// Only the leaked (previous) secret dies.
    KillLeaked,
}

/// What a leak of `version` of `key` calls for; `active` is its rotation in progress.
pub fn leak_response(
    key: &Key,
    active: Option<&Rotation>,
    version: u32,
    now: crate::time::Timestamp,
) -> LeakResponse {
    let Some(leaked) = key.version(version) else {
        return LeakResponse::Dead;
    };
    if key.status == KeyStatus::Revoked
        || key.has_expired(now)
        || leaked.validity(now) != Validity::Valid
    {
        return LeakResponse::Dead;
    }
    if let Some(active) = active {
        if active.trigger == RotationTrigger::Leak && active.to_version > version {
            return LeakResponse::AlreadyRotating;
        }
    }
    let could_fetch_successor = active.is_some_and(|r| r.self_service && r.from_version == version);
    match leaked.stage {
        SecretStage::Previous if !could_fetch_successor => LeakResponse::KillLeaked,
        _ => LeakResponse::Rotate,
    }
}

/// Kills the leaked previous `version` of `key` now, and only it: audited
/// (`secret.revoked`) and told to the customer (`key.secret_revoked`). Refused with
/// `LeakNeedsRotation` when the state no longer allows killing it alone.
pub fn plan_kill_leaked(
    key: Key,
    active: Option<&Rotation>,
    version: u32,
    reason: &Reason,
    act: Act<'_>,
) -> Result<KeyChange> {
    match leak_response(&key, active, version, act.now) {
        LeakResponse::KillLeaked => {}
        LeakResponse::Dead => return Err(Conflict::LeakedSecretIsDead.into()),
        LeakResponse::AlreadyRotating => return Err(Conflict::LeakAlreadyRotating.into()),
        LeakResponse::Rotate => return Err(Conflict::LeakNeedsRotation.into()),
    }
    let before = snapshot(&key, active);
    let mut change = ChangeBuilder::update(key);
    let mut leaked = None;
    if let Some(v) = change.key_mut().version_mut(version) {
        v.revoke(act.now);
        leaked = Some(v.clone());
    }
    let after = snapshot(change.key(), active);
    change.record(Happened {
        reason: Some(reason.clone()),
        rotation_id: active.map(|r| r.id.clone()),
        before,
        after,
        ..Happened::new(act.now, act.actor, AuditAction::SecretRevoked)
    });
    let notification = Notification::secret_revoked(change.key(), leaked.as_ref(), act.now, reason);
    change.enqueue(
        act.now,
        OutboxMessage::Notify {
            notification: Box::new(notification),
        },
    );
    Ok(change.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyClass;
    use crate::notification::NotificationType;
    use crate::plan::fixtures::{act, actor, now, scheduled};
    use crate::plan::{RotationRequest, ScheduleTrigger, Start};

    fn in_grace(trigger: ScheduleTrigger) -> (Key, Rotation) {
        scheduled(
            KeyClass::Server,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3600),
                trigger,
                ..Default::default()
            },
        )
    }

    fn reason() -> Reason {
        Reason::system("leaked: reported by GitHub secret scanning".to_owned())
    }

    #[test]
    fn a_leaked_previous_secret_of_a_manual_rotation_dies_alone() {
        let actor = actor();
        let (key, rotation) = in_grace(ScheduleTrigger::Manual);
        let later = now().plus_seconds(60);
        assert_eq!(
            leak_response(&key, Some(&rotation), rotation.from_version, later),
            LeakResponse::KillLeaked
        );
        let change = plan_kill_leaked(
            key,
            Some(&rotation),
            rotation.from_version,
            &reason(),
            act(&actor, later),
        )
        .unwrap();
        let old = change.key().version(rotation.from_version).unwrap();
        assert_eq!(old.validity(later), Validity::Revoked);
        let current = change.key().current().unwrap();
        assert_eq!(current.version, rotation.to_version);
        assert_eq!(current.validity(later), Validity::Valid);
        assert_eq!(change.key().active_rotation.as_ref(), Some(&rotation.id));
        assert_eq!(
            change.secrets().len(),
            1,
            "only the leaked record rewritten"
        );
        assert_eq!(change.events()[0].action, AuditAction::SecretRevoked);
        assert!(change.rotations().is_empty(), "the rotation goes on");
        let kinds: Vec<_> = change
            .outbox()
            .iter()
            .filter_map(|e| match &e.message {
                OutboxMessage::Notify { notification } => Some(notification.kind),
                OutboxMessage::DeleteVaultSecret { .. } => None,
            })
            .collect();
        assert_eq!(kinds, [NotificationType::KeySecretRevoked]);
    }

    #[test]
    fn the_current_secret_or_one_that_could_fetch_it_is_rotated() {
        let later = now().plus_seconds(60);
        let (key, rotation) = in_grace(ScheduleTrigger::Manual);
        assert_eq!(
            leak_response(&key, Some(&rotation), rotation.to_version, later),
            LeakResponse::Rotate
        );
        let (key, rotation) = in_grace(ScheduleTrigger::SelfService);
        assert!(rotation.self_service);
        assert_eq!(
            leak_response(&key, Some(&rotation), rotation.from_version, later),
            LeakResponse::Rotate,
            "the leaked secret could have fetched its successor"
        );
        let actor = actor();
        assert!(matches!(
            plan_kill_leaked(
                key,
                Some(&rotation),
                rotation.from_version,
                &reason(),
                act(&actor, later)
            ),
            Err(crate::error::Error::Conflict(Conflict::LeakNeedsRotation))
        ));
    }

    #[test]
    fn a_dead_secret_calls_for_nothing() {
        let (key, rotation) = in_grace(ScheduleTrigger::Manual);
        let after_grace = rotation.grace_ends_at.plus_seconds(1);
        assert_eq!(
            leak_response(&key, Some(&rotation), rotation.from_version, after_grace),
            LeakResponse::Dead
        );
        assert_eq!(
            leak_response(&key, Some(&rotation), 99, now()),
            LeakResponse::Dead
        );
    }
}
