//! Handing out a held secret once: the rotation records when, and the vault copy is
//! deleted after the change commits. A second reveal, or one after the rotation ended
//! (but a completed leak rotation, whose secret nobody has seen yet), is gone.

use super::{move_grace_end, record, snapshot, Act};
use crate::audit::AuditAction;
use crate::change::{ChangeBuilder, KeyChange};
use crate::config::Policy;
use crate::error::{Conflict, Error, Result};
use crate::key::Key;
use crate::notification::OutboxMessage;
use crate::rotation::{Rotation, RotationStatus};

/// Whether `rotation`'s held secret may still be handed out; the reason when not.
pub fn check_revealable(rotation: &Rotation) -> Result<&str> {
    let Some(name) = rotation.vault_secret.as_deref() else {
        return Err(Conflict::SecretWasReturned.into());
    };
    if rotation.revealed_at.is_some() {
        return Err(Error::Gone(
            "this rotation's secret has already been revealed".into(),
        ));
    }
    if !rotation.holds_secret() {
        return Err(Error::Gone(format!(
            "this rotation is {} and its secret has been deleted",
            rotation.status
        )));
    }
    Ok(name)
}

pub fn plan_reveal(
    key: Key,
    rotation: Rotation,
    policy: &Policy,
    act: Act<'_>,
) -> Result<(KeyChange, Rotation)> {
    let name = check_revealable(&rotation)?.to_owned();
    let (mut change, rotation) = delivered(key, rotation, policy, act, None);
    change.enqueue(act.now, OutboxMessage::DeleteVaultSecret { name });
    Ok((change.finish(), rotation))
}

/// `rotation` marked delivered at `act.now`, recorded as a reveal (with `reason`). The
/// old secret, kept at the class's longest grace while the new one waited, now ends
/// with the grace — or, if the grace has passed already, the class's shortest grace
/// from now, so whoever just received the new secret has time to deploy it.
fn delivered(
    key: Key,
    mut rotation: Rotation,
    policy: &Policy,
    act: Act<'_>,
    reason: Option<&crate::ids::Reason>,
) -> (ChangeBuilder, Rotation) {
    let expected = rotation.status;
    let before = snapshot(&key, Some(&rotation));
    let waited = rotation.awaits_delivery();
    rotation.revealed_at = Some(act.now);
    rotation.delivery_check_at = None;
    let mut change = ChangeBuilder::update(key);
    // A failed rotation's held secret may still be revealed: the old secret, kept at
    // the bound while it waited, ends then too.
    if waited && (rotation.is_in_progress() || rotation.status == RotationStatus::Failed) {
        // Never later than the old secret was already kept (the bound): one that died
        // there stays dead.
        let kept = change
            .key()
            .version(rotation.from_version)
            .and_then(|v| v.expires_at);
        let shortest = act
            .now
            .plus_seconds(policy.for_class(change.key().class).min_grace_seconds);
        let target = kept.map_or(shortest, |kept| kept.min(shortest));
        if rotation.status == RotationStatus::GracePeriod && rotation.ends_at() < target {
            move_grace_end(&mut change, &mut rotation, target, policy);
        }
        let end = if rotation.is_in_progress() {
            rotation.ends_at()
        } else {
            rotation.ends_at().max(shortest)
        };
        let deadline = kept.map_or(end, |kept| kept.min(end));
        change
            .key_mut()
            .move_deadline(rotation.from_version, deadline);
    }
    record(
        &mut change,
        before,
        &rotation,
        act,
        AuditAction::RotationRevealed,
        reason,
    );
    change.put_rotation(rotation.clone(), Some(expected));
    (change, rotation)
}

/// A client's fetch of its self-service successor, sealed to the key's delivery key
/// (`thumbprint`): the first one counts as the delivery (recorded and notified as a
/// reveal); the vault keeps the secret for the client's other instances until the
/// rotation ends. `None` when it was delivered before: nothing to write.
pub fn plan_deliver_sealed(
    key: Key,
    mut rotation: Rotation,
    thumbprint: &str,
    policy: &Policy,
    act: Act<'_>,
) -> Result<Option<(KeyChange, Rotation)>> {
    if rotation.revealed_at.is_some() && rotation.sealed_delivery {
        return Ok(None);
    }
    check_revealable(&rotation)?;
    rotation.sealed_delivery = true;
    let reason = crate::ids::Reason::system(format!(
        "fetched by the key's client, sealed to its delivery key {thumbprint}"
    ));
    let (change, rotation) = delivered(key, rotation, policy, act, Some(&reason));
    Ok(Some((change.finish(), rotation)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyClass;
    use crate::plan::fixtures::{act, actor, key, now, policy, scheduled, successor};
    use crate::plan::{plan_schedule, RotationRequest, ScheduleTrigger};

    #[test]
    fn a_customers_reveal_is_told_to_the_organisation_naming_the_user() {
        let request = RotationRequest {
            trigger: ScheduleTrigger::Policy,
            ..Default::default()
        };
        let scanner = actor();
        let (change, rotation) = plan_schedule(
            key(KeyClass::Server),
            &request,
            &policy(),
            &successor(2, true),
            act(&scanner, now()),
        )
        .unwrap();
        let alice = crate::ids::Actor::customer(&change.key().organization_id, "alice").unwrap();
        let (change, _) = plan_reveal(
            change.key().clone(),
            rotation,
            &policy(),
            act(&alice, now()),
        )
        .unwrap();
        let told: Vec<_> = change
            .outbox()
            .iter()
            .filter_map(|e| match &e.message {
                OutboxMessage::Notify { notification } => Some(notification),
                _ => None,
            })
            .collect();
        assert_eq!(told.len(), 1);
        assert_eq!(
            told[0].kind,
            crate::notification::NotificationType::RotationRevealed
        );
        assert_eq!(told[0].actor.as_ref(), Some(&alice));
        let email = crate::email::render(told[0], now());
        assert!(
            email.text.contains("by alice, a user of your organisation"),
            "{}",
            email.text
        );
    }

    #[test]
    fn a_held_secret_is_revealed_once_and_a_returned_one_never() {
        let actor = actor();
        let request = RotationRequest {
            trigger: ScheduleTrigger::Policy,
            ..Default::default()
        };
        let (scheduled_key, rotation) = scheduled(KeyClass::Server, request);
        let (change, revealed) =
            plan_reveal(scheduled_key, rotation, &policy(), act(&actor, now())).unwrap();
        assert_eq!(revealed.revealed_at, Some(now()));
        assert!(change
            .outbox()
            .iter()
            .any(|e| matches!(e.message, OutboxMessage::DeleteVaultSecret { .. })));
        assert!(matches!(
            plan_reveal(
                change.key().clone(),
                revealed,
                &policy(),
                act(&actor, now())
            ),
            Err(Error::Gone(_))
        ));
        let (change, returned) = plan_schedule(
            key(KeyClass::Server),
            &RotationRequest::default(),
            &policy(),
            &successor(3, false),
            act(&actor, now()),
        )
        .unwrap();
        assert!(matches!(
            plan_reveal(
                change.key().clone(),
                returned,
                &policy(),
                act(&actor, now())
            ),
            Err(Error::Conflict(Conflict::SecretWasReturned))
        ));
    }
}
