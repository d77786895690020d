//! A key's own expiry (`expiresAt`): the customer is warned once ahead of it
//! (`key.expiring`), and once it has passed the key is marked expired — out of the
//! compliance totals and indexes, a rotation in progress cancelled. Verification does
//! not wait for this: every secret record carries the key's expiry and answers
//! `EXPIRED` from that second.

use super::{check_active_rotation, end_key, snapshot, Act};
use crate::audit::{AuditAction, Happened};
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::Result;
use crate::ids::Reason;
use crate::key::{Key, KeyStatus};
use crate::notification::{Notification, OutboxMessage};
use crate::rotation::Rotation;

/// What the processor did about a key's expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryStep {
    pub warned: bool,
    pub expired: bool,
}

/// The expiry step due for `key` at `act.now`, or `None` when nothing is due: the key
/// is not active, has no expiry, was warned about this expiry, or it is too early.
/// `rotation` is its active rotation, if it has one.
pub fn plan_expiry(
    key: Key,
    rotation: Option<Rotation>,
    warn_ahead_seconds: u64,
    act: Act<'_>,
) -> Result<Option<(KeyChange, ExpiryStep)>> {
    let Some(expires_at) = key.expires_at.filter(|_| key.status == KeyStatus::Active) else {
        return Ok(None);
    };
    check_active_rotation(&key, rotation.as_ref())?;
    if act.now >= expires_at {
        return expire(key, rotation, act).map(Some);
    }
    let warn_from = expires_at.minus_seconds(warn_ahead_seconds);
    if act.now < warn_from || key.expiry_warned_for == Some(expires_at) {
        return Ok(None);
    }
    let reason = Reason::system(format!("the key expires at {expires_at}"));
    let before = snapshot(&key, None);
    let current = key.current().cloned();
    let mut change = ChangeBuilder::update(key);
    change.key_mut().expiry_warned_for = Some(expires_at);
    let after = snapshot(change.key(), None);
    change.record(Happened {
        reason: Some(reason.clone()),
        before,
        after,
        ..Happened::new(act.now, act.actor, AuditAction::KeyExpiryWarned)
    });
    if let Some(current) = current {
        let notification =
            Notification::key_expiring(change.key(), &current, expires_at, act.now, &reason);
        change.enqueue(
            act.now,
            OutboxMessage::Notify {
                notification: Box::new(notification),
            },
        );
    }
    let step = ExpiryStep {
        warned: true,
        expired: false,
    };
    Ok(Some((change.finish(), step)))
}

/// Marks the key expired: its secrets already answer `EXPIRED`; it leaves the totals,
/// and a rotation in progress ends with it (its held secret deleted).
fn expire(key: Key, rotation: Option<Rotation>, act: Act<'_>) -> Result<(KeyChange, ExpiryStep)> {
    let change = end_key(
        key,
        rotation.into(),
        |key| key.status = KeyStatus::Expired,
        AuditAction::KeyExpired,
        &Reason::system("the key's expiry passed"),
        act,
    )?;
    let step = ExpiryStep {
        warned: false,
        expired: true,
    };
    Ok((change.finish(), step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyClass, Validity};
    use crate::notification::NotificationType;
    use crate::plan::fixtures::{act, actor, key, now};
    use crate::rotation::RotationStatus;

    const DAY: u64 = 86_400;

    fn expiring(in_days: u64) -> Key {
        let mut key = key(KeyClass::Server);
        key.expires_at = Some(now().plus_seconds(in_days * DAY));
        key
    }

    #[test]
    fn the_customer_is_warned_once_ahead_of_the_expiry() {
        let actor = actor();
        let key = expiring(10);
        assert!(plan_expiry(key.clone(), None, 7 * DAY, act(&actor, now()))
            .unwrap()
            .is_none());
        let at = now().plus_seconds(4 * DAY);
        let (change, step) = plan_expiry(key, None, 7 * DAY, act(&actor, at))
            .unwrap()
            .unwrap();
        assert!(step.warned && !step.expired);
        let told: Vec<_> = change
            .outbox()
            .iter()
            .filter_map(|e| match &e.message {
                OutboxMessage::Notify { notification } => {
                    Some((notification.kind, notification.deadline))
                }
                OutboxMessage::DeleteVaultSecret { .. } => None,
            })
            .collect();
        assert_eq!(
            told,
            [(NotificationType::KeyExpiring, change.key().expires_at)]
        );
        assert!(
            plan_expiry(change.key().clone(), None, 7 * DAY, act(&actor, at))
                .unwrap()
                .is_none()
        );
        // A new expiry is warned about again.
        let mut moved = change.key().clone();
        moved.expires_at = Some(now().plus_seconds(6 * DAY));
        assert!(plan_expiry(moved, None, 7 * DAY, act(&actor, at))
            .unwrap()
            .is_some());
    }

    #[test]
    fn at_its_expiry_the_key_is_marked_expired_and_its_rotation_ends() {
        let actor = actor();
        let (mut key, rotation) = crate::plan::fixtures::scheduled(
            KeyClass::Server,
            crate::plan::RotationRequest {
                trigger: crate::plan::ScheduleTrigger::SelfService,
                ..Default::default()
            },
        );
        key.expires_at = Some(now().plus_seconds(DAY));
        let at = now().plus_seconds(DAY);
        let (change, step) = plan_expiry(key, Some(rotation), 7 * DAY, act(&actor, at))
            .unwrap()
            .unwrap();
        assert!(step.expired);
        let expired = change.key();
        assert_eq!(expired.status, KeyStatus::Expired);
        assert_eq!(expired.active_rotation, None);
        assert_eq!(
            change.rotations()[0].rotation.status,
            RotationStatus::Cancelled
        );
        assert_eq!(change.events()[0].action, AuditAction::KeyExpired);
        assert!(change
            .outbox()
            .iter()
            .any(|e| matches!(e.message, OutboxMessage::DeleteVaultSecret { .. })));
        // Every secret already stopped at the expiry, to the second.
        for version in &expired.versions {
            let record_expiry = expired.record_expiry(version);
            assert_eq!(
                crate::key::validity(version.stage, record_expiry, at),
                Validity::Expired
            );
        }
        assert!(plan_expiry(expired.clone(), None, 7 * DAY, act(&actor, at))
            .unwrap()
            .is_none());
    }
}
