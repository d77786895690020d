//! Revoking a key: every secret of it stops verifying now, for good. A rotation in
//! progress ends cancelled (its held new secret is deleted from the vault), the key
//! leaves the compliance totals and indexes, and the customer hears it once.
//! Revoking a revoked key changes nothing.

use super::{end_key, Act, InProgress};
use crate::audit::AuditAction;
use crate::change::KeyChange;
use crate::error::Result;
use crate::ids::Reason;
use crate::key::{Key, KeyStatus};
use crate::notification::{Notification, OutboxMessage};
use crate::time::Timestamp;

/// What revoking a key comes to.
#[derive(Debug)]
pub enum Revocation {
    /// The change that revokes it.
    Revokes(Box<KeyChange>),
    /// It was revoked before, at this instant (none for a key imported revoked).
    AlreadyRevoked { at: Option<Timestamp> },
}

/// Revokes `key`; `rotation` is its active rotation, if it has one.
pub fn plan_revoke(
    key: Key,
    rotation: impl Into<InProgress>,
    reason: &Reason,
    act: Act<'_>,
) -> Result<Revocation> {
    if key.status == KeyStatus::Revoked {
        return Ok(Revocation::AlreadyRevoked { at: key.revoked_at });
    }
    let current = key.current().cloned();
    let mut change = end_key(
        key,
        rotation.into(),
        |key| {
            key.status = KeyStatus::Revoked;
            key.revoked_at = Some(act.now);
            for version in &mut key.versions {
                version.revoke(act.now);
            }
        },
        AuditAction::KeyRevoked,
        reason,
        act,
    )?;
    let mut notification =
        Notification::key_revoked(change.key(), current.as_ref(), act.now, reason);
    notification.actor = act.actor.kind().is_customer().then(|| act.actor.clone());
    change.enqueue(
        act.now,
        OutboxMessage::Notify {
            notification: Box::new(notification),
        },
    );
    Ok(Revocation::Revokes(Box::new(change.finish())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyClass, SecretStage, Validity};
    use crate::notification::NotificationType;
    use crate::plan::fixtures::{act, actor, key, now, scheduled};
    use crate::plan::{RotationRequest, Start};
    use crate::rotation::RotationStatus;

    fn revoked(change: &Revocation) -> &KeyChange {
        match change {
            Revocation::Revokes(change) => change,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn revoking_during_a_grace_kills_both_secrets_and_cancels_the_rotation() {
        let actor = actor();
        let request = RotationRequest {
            start: Start::Now,
            grace_seconds: Some(3600),
            trigger: crate::plan::ScheduleTrigger::SelfService,
            ..Default::default()
        };
        let (started, rotation) = scheduled(KeyClass::Server, request);
        let reason = Reason::parse("customer churned").unwrap();
        let later = now().plus_seconds(60);
        let plan = plan_revoke(started, Some(rotation), &reason, act(&actor, later)).unwrap();
        let change = revoked(&plan);
        let key = change.key();
        assert_eq!(key.status, KeyStatus::Revoked);
        assert_eq!(key.revoked_at, Some(later));
        assert_eq!(key.active_rotation, None);
        assert!(key
            .versions
            .iter()
            .all(|v| v.stage == SecretStage::Revoked && v.validity(later) == Validity::Revoked));
        assert_eq!(
            change.secrets().len(),
            2,
            "both verification records rewritten"
        );
        let rotation = &change.rotations()[0].rotation;
        assert_eq!(rotation.status, RotationStatus::Cancelled);
        assert_eq!(rotation.cancelled_at, Some(later));
        assert_eq!(change.events().len(), 1);
        assert_eq!(change.events()[0].action, AuditAction::KeyRevoked);
        let notices: Vec<_> = change
            .outbox()
            .iter()
            .filter_map(|entry| match &entry.message {
                OutboxMessage::Notify { notification } => Some(notification.kind),
                OutboxMessage::DeleteVaultSecret { .. } => None,
            })
            .collect();
        assert_eq!(notices, [NotificationType::KeyRevoked]);
        assert!(change
            .outbox()
            .iter()
            .any(|entry| matches!(&entry.message, OutboxMessage::DeleteVaultSecret { .. })));
    }

    #[test]
    fn revoking_twice_changes_nothing_and_keeps_the_first_instant() {
        let actor = actor();
        let reason = Reason::parse("offboarded").unwrap();
        let plan = plan_revoke(key(KeyClass::Server), None, &reason, act(&actor, now())).unwrap();
        let again = plan_revoke(
            revoked(&plan).key().clone(),
            None,
            &reason,
            act(&actor, now().plus_seconds(5)),
        )
        .unwrap();
        assert!(matches!(
            again,
            Revocation::AlreadyRevoked { at: Some(at) } if at == now()
        ));
    }

    #[test]
    fn a_key_must_be_planned_with_its_active_rotation() {
        let actor = actor();
        let mut rotating = key(KeyClass::Server);
        rotating.active_rotation = Some(crate::ids::RotationId::generate());
        let reason = Reason::parse("x").unwrap();
        assert!(plan_revoke(rotating, None, &reason, act(&actor, now())).is_err());
    }
}
