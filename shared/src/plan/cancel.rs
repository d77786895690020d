//! Calling off a rotation that has not started: its new secret is revoked and the old
//! one keeps working with no deadline. Once the grace has ended (the processor may be
//! late), the old secret is dead and nothing may bring it back.

use super::{record, snapshot, Act};
use crate::audit::AuditAction;
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::{Conflict, Result};
use crate::ids::Reason;
use crate::key::Key;
use crate::rotation::{Rotation, RotationCommand};

/// What a cancellation does about a held new secret that was already handed out
/// (revealed, or fetched by the customer): a client may be using it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveredSuccessor {
    /// Refuse, saying when it was handed out.
    Refuse,
    /// Revoke it all the same: an operator's decision, with a reason.
    Revoke,
}

pub fn plan_cancel(
    key: Key,
    mut rotation: Rotation,
    reason: Option<&Reason>,
    delivered: DeliveredSuccessor,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    let expected = rotation.status;
    let before = snapshot(&key, Some(&rotation));
    rotation.apply(RotationCommand::Cancel)?;
    if let (Some(at), DeliveredSuccessor::Refuse) = (rotation.revealed_at, delivered) {
        return Err(Conflict::SuccessorDelivered { at }.into());
    }
    if rotation.grace_ends_at <= act.now {
        return Err(Conflict::GraceEnded {
            remedy: "complete the rotation instead",
        }
        .into());
    }
    rotation.cancelled_at = Some(act.now);
    let mut change = ChangeBuilder::update(key);
    change
        .key_mut()
        .undo_successor(rotation.from_version, rotation.to_version, act.now);
    change.key_mut().active_rotation = None;
    let reason = reason
        .cloned()
        .unwrap_or_else(|| Reason::system("cancelled"));
    record(
        &mut change,
        before,
        &rotation,
        act,
        AuditAction::RotationCancelled,
        Some(&reason),
    );
    change.put_rotation(rotation.clone(), Some(expected));
    Ok((change.finish(), rotation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::key::{KeyClass, SecretStage};
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::plan::{plan_schedule, RotationRequest, Start};
    use crate::rotation::RotationStatus;

    fn scheduled(start: Start) -> (Key, Rotation) {
        let actor = actor();
        let request = RotationRequest {
            start,
            grace_seconds: Some(3600),
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
        (change.key().clone(), rotation)
    }

    #[test]
    fn cancelling_revokes_the_new_secret_and_frees_the_old_one() {
        let actor = actor();
        let (key, rotation) = scheduled(Start::Default);
        let (change, cancelled) = plan_cancel(
            key,
            rotation,
            None,
            DeliveredSuccessor::Refuse,
            act(&actor, now()),
        )
        .unwrap();
        assert_eq!(cancelled.status, RotationStatus::Cancelled);
        assert_eq!(change.key().version(2).unwrap().stage, SecretStage::Revoked);
        assert_eq!(change.key().version(1).unwrap().expires_at, None);
        assert_eq!(change.key().active_rotation, None);
    }

    #[test]
    fn a_started_rotation_or_an_ended_grace_cannot_be_cancelled() {
        let actor = actor();
        let (key, rotation) = scheduled(Start::Now);
        assert!(matches!(
            plan_cancel(
                key,
                rotation,
                None,
                DeliveredSuccessor::Refuse,
                act(&actor, now())
            ),
            Err(Error::Conflict(Conflict::WrongState(_)))
        ));
        let (key, rotation) = scheduled(Start::Default);
        let late = rotation.grace_ends_at;
        assert!(matches!(
            plan_cancel(
                key,
                rotation,
                None,
                DeliveredSuccessor::Refuse,
                act(&actor, late)
            ),
            Err(Error::Conflict(Conflict::GraceEnded { .. }))
        ));
    }
}
