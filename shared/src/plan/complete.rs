//! Ending a grace now ("the customer has moved"): the old secret is revoked; a
//! rotation that has not started is started and completed in the same change.

use super::{complete, start, Act};
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::Result;
use crate::ids::Reason;
use crate::key::Key;
use crate::rotation::{Rotation, RotationCommand, RotationStatus};

pub fn plan_complete(
    key: Key,
    mut rotation: Rotation,
    reason: Option<&Reason>,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    let expected = rotation.status;
    rotation.status.after(RotationCommand::Complete)?;
    let mut change = ChangeBuilder::update(key);
    let reason = reason
        .cloned()
        .unwrap_or_else(|| Reason::system("completed early"));
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
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::plan::{plan_schedule, RotationRequest};

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
        let (change, done) = plan_complete(change.key, rotation, None, act(&actor, now())).unwrap();
        assert_eq!(done.status, RotationStatus::Completed);
        let actions: Vec<_> = change.events.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [AuditAction::RotationStarted, AuditAction::RotationCompleted]
        );
        assert_eq!(change.key.current().unwrap().version, 2);
        assert_eq!(change.key.version(1).unwrap().stage, SecretStage::Revoked);
        assert!(plan_complete(change.key, done, None, act(&actor, now())).is_err());
    }
}
