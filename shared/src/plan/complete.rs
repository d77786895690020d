//! Ending a grace now ("the customer has moved"): the old secret is revoked; a
//! rotation that has not started is started and completed in the same change. Never
//! while its held new secret has reached nobody, unless the operator forces it.

use super::{complete, start, Act, Completion};
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::{Conflict, Result};
use crate::ids::Reason;
use crate::key::Key;
use crate::rotation::{Rotation, RotationCommand, RotationStatus};

pub fn plan_complete(
    key: Key,
    mut rotation: Rotation,
    completion: &Completion,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    let expected = rotation.status;
    rotation.status.after(RotationCommand::Complete)?;
    let reason = match completion {
        Completion::Moved { .. } if rotation.awaits_delivery() => {
            return Err(Conflict::SecretNotDelivered.into())
        }
        Completion::Moved { reason } => reason
            .clone()
            .unwrap_or_else(|| Reason::system("completed early")),
        Completion::Forced { reason } => Reason::system(format!(
            "forced although the new secret was {}: {reason}",
            if rotation.awaits_delivery() {
                "never delivered"
            } else {
                "delivered"
            }
        )),
    };
    let mut change = ChangeBuilder::update(key);
    if rotation.status == RotationStatus::Scheduled {
        start(&mut change, &mut rotation, act, &reason)?;
    }
    complete(&mut change, &mut rotation, act, &reason)?;
    change.put_rotation(rotation.clone(), Some(expected));
    Ok((change.finish(), rotation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditAction;
    use crate::key::{KeyClass, SecretStage};
    use crate::plan::fixtures::{act, actor, key, now, policy, scheduled, successor};
    use crate::plan::{plan_schedule, RotationRequest, ScheduleTrigger};

    #[test]
    fn completing_a_scheduled_rotation_starts_it_first() {
        let actor = actor();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &RotationRequest::default(),
            &policy(),
            &successor(2, false),
            act(&actor, now()),
        )
        .unwrap();
        let moved = Completion::Moved { reason: None };
        let (change, done) =
            plan_complete(change.key().clone(), rotation, &moved, act(&actor, now())).unwrap();
        assert_eq!(done.status, RotationStatus::Completed);
        let actions: Vec<_> = change.events().iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [AuditAction::RotationStarted, AuditAction::RotationCompleted]
        );
        assert_eq!(change.key().current().unwrap().version, 2);
        assert_eq!(change.key().version(1).unwrap().stage, SecretStage::Revoked);
        assert!(plan_complete(change.key().clone(), done, &moved, act(&actor, now())).is_err());
    }

    #[test]
    fn an_undelivered_secret_is_completed_only_by_force_and_stays_held() {
        let actor = actor();
        let request = RotationRequest {
            trigger: ScheduleTrigger::Policy,
            ..Default::default()
        };
        let (scheduled_key, rotation) = scheduled(KeyClass::Server, request);
        let moved = Completion::Moved { reason: None };
        assert!(matches!(
            plan_complete(
                scheduled_key.clone(),
                rotation.clone(),
                &moved,
                act(&actor, now())
            ),
            Err(crate::error::Error::Conflict(Conflict::SecretNotDelivered))
        ));
        let forced = Completion::Forced {
            reason: Reason::parse("customer confirmed by phone").unwrap(),
        };
        let (change, done) =
            plan_complete(scheduled_key, rotation, &forced, act(&actor, now())).unwrap();
        assert_eq!(done.status, RotationStatus::Completed);
        assert!(
            done.holds_secret(),
            "the only copy of a working secret is kept"
        );
        let completed = change.events().last().unwrap();
        assert!(completed
            .reason
            .as_ref()
            .unwrap()
            .as_str()
            .contains("customer confirmed by phone"));
        assert!(
            !change.outbox().iter().any(|e| matches!(
                e.message,
                crate::notification::OutboxMessage::DeleteVaultSecret { .. }
            )),
            "an undelivered secret is not deleted"
        );
    }
}
