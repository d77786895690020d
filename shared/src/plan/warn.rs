//! The expiry warning: once per secret version, the customer hears that the key's
//! current secret reaches its maximum age at a deadline (a policy rotation follows).

use super::snapshot;
use crate::audit::{AuditAction, Happened};
use crate::change::{ChangeBuilder, KeyChange};
use crate::ids::{Actor, Reason};
use crate::key::{Key, KeyStatus};
use crate::notification::{Notification, OutboxMessage};
use crate::time::Timestamp;

/// The warning's change, or `None` when there is nothing to warn about: the key is
/// revoked, already rotating, or its current secret was warned about before.
pub fn plan_warn_expiring(
    key: Key,
    deadline: Timestamp,
    reason: &Reason,
    actor: &Actor,
    now: Timestamp,
) -> Option<KeyChange> {
    let current = key.current().cloned()?;
    if key.status != KeyStatus::Active
        || key.active_rotation.is_some()
        || key.expiry_warned_version == Some(current.version)
    {
        return None;
    }
    let before = snapshot(&key, None);
    let mut change = ChangeBuilder::update(key);
    change.key_mut().expiry_warned_version = Some(current.version);
    let after = snapshot(change.key(), None);
    change.record(Happened {
        reason: Some(reason.clone()),
        before,
        after,
        ..Happened::new(now, actor, AuditAction::KeyExpiryWarned)
    });
    let notification = Notification::key_expiring(change.key(), &current, deadline, now, reason);
    change.enqueue(
        now,
        OutboxMessage::Notify {
            notification: Box::new(notification),
        },
    );
    Some(change.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyClass;
    use crate::plan::fixtures::{actor, key, now};

    #[test]
    fn each_secret_version_is_warned_about_once() {
        let reason = Reason::system("old");
        let deadline = now().plus_seconds(86_400);
        let change = plan_warn_expiring(key(KeyClass::Server), deadline, &reason, &actor(), now())
            .expect("a first warning");
        assert_eq!(change.key().expiry_warned_version, Some(1));
        assert_eq!(change.outbox().len(), 1);
        assert!(
            plan_warn_expiring(change.key().clone(), deadline, &reason, &actor(), now()).is_none()
        );
    }
}
