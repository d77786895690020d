//! The rotation rules as pure code: each planner takes the state the service loaded
//! and returns the whole change to commit, or why it is refused. No planner reads or
//! writes anything, so every rule is unit-tested without a store (see each file's
//! tests), and the service only loads, plans, commits and retries.
//!
//! | rule | file |
//! |---|---|
//! | issuing a key, importing an old one | [`issue`] |
//! | scheduling a rotation (grace bounds, start, who gets the secret) | [`schedule`] |
//! | an emergency: never lengthens a life, supersedes what is in progress | [`emergency`] |
//! | cancel, complete (never undelivered, unless forced), extend | [`cancel`], [`complete`], [`extend`] |
//! | the processor's step: start, remind, usage and delivery checks, complete; giving up | [`advance`] |
//! | handing out a held secret once | [`reveal`] |
//! | revoking a key: every secret dead now, a rotation in progress cancelled | [`revoke`] |
//! | a leak report: rotate the current secret, or kill a leaked previous one alone | [`leak`] |
//! | changing a key's name, scopes, rate limit, metadata, expiry (a merge patch) | [`update`] |
//! | the expiry warning ahead of the maximum age | [`warn`] |
//! | a key's own expiry: the warning ahead of it, then marking it expired | [`expire`] |
//! | starting now a rotation scheduled too late for the maximum age | [`start_late`] |

use serde_json::{json, Value};

use crate::audit::{AuditAction, Happened};
use crate::change::ChangeBuilder;
use crate::config::Policy;
use crate::error::{Conflict, Result};
use crate::ids::{Actor, Reason, RotationId};
use crate::key::{Key, KeyStatus};
use crate::notification::{Notification, NotificationType, OutboxMessage};
use crate::rotation::{Rotation, RotationCommand, RotationStatus};
use crate::secret::{LookupHash, Verifier};
use crate::time::Timestamp;

pub mod advance;
pub mod cancel;
pub mod complete;
pub mod delivery_key;
pub mod emergency;
pub mod expire;
pub mod extend;
pub mod issue;
pub mod leak;
pub mod requests;
pub mod reveal;
pub mod revoke;
pub mod schedule;
pub mod start_late;
pub mod update;
pub mod warn;

pub use advance::{advance_needs_usage, advance_reads_callers, plan_advance, plan_fail, Advance};
pub use cancel::{plan_cancel, DeliveredSuccessor};
pub use complete::plan_complete;
pub use delivery_key::{plan_delivery_key, DeliveryKeyChange};
pub use emergency::plan_emergency;
pub use expire::{plan_expiry, ExpiryStep};
pub use extend::plan_extend;
pub use issue::{plan_import, plan_issue};
pub use leak::{leak_response, plan_kill_leaked, LeakResponse};
pub use requests::{
    Completion, EmergencyRequest, EmergencySource, LegacyKey, NewKey, RotationRequest,
    ScheduleTrigger, Start, MAX_SCOPES,
};
pub use reveal::{plan_deliver_sealed, plan_reveal};
pub use revoke::{plan_revoke, Revocation};
pub use schedule::plan_schedule;
pub use start_late::plan_start_late;
pub use update::{plan_update, KeyPatch, MetadataPatch};
pub use warn::plan_warn_expiring;

/// The public half of a freshly minted secret: what a plan writes. The secret itself
/// stays with the service, which returns it to the caller or holds it in the vault.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub display_prefix: String,
    pub lookup_hash: LookupHash,
    pub verifier: Verifier,
}

/// The new secret of a rotation, and where it is held when nobody is handed it.
#[derive(Debug, Clone)]
pub struct Successor {
    pub rotation_id: RotationId,
    pub secret: NewSecret,
    /// The vault secret holding it; `None` when it is returned to the caller.
    pub held_as: Option<String>,
    /// When it was put in the vault (its held-secret marker's time).
    pub held_since: Option<Timestamp>,
}

/// Counts a rotation the organisation's own users or clients start against the key's
/// hourly limit (`KEYROLL_CUSTOMER_ROTATIONS_PER_KEY_HOUR`), refusing one past it:
/// rotations cost the company's shared quotas (a vault secret, emails to every
/// contact). Operators, the scanner and leak reports are never limited.
pub(crate) fn admit_customer_rotation(key: &mut Key, policy: &Policy, act: Act<'_>) -> Result<()> {
    if !act.actor.kind().is_customer() {
        return Ok(());
    }
    check_customer_rotation(key, policy, act)?;
    key.customer_rotations_at =
        crate::limits::record(&key.customer_rotations_at, crate::limits::HOUR, act.now);
    Ok(())
}

/// Whether one more rotation by the organisation fits the key's hourly limit (for
/// any actor: [`admit_customer_rotation`] applies it to customers only).
pub(crate) fn check_customer_rotation(key: &Key, policy: &Policy, act: Act<'_>) -> Result<()> {
    crate::limits::admit(
        "rotations of this key by your organisation",
        &key.customer_rotations_at,
        policy.customer_rotations_per_key_hour,
        crate::limits::HOUR,
        act.now,
    )
}

/// Who acts, and when.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
}

fn key_snapshot(key: &Key) -> Value {
    json!({
        "status": key.status,
        "activeRotation": key.active_rotation,
        "versions": key.versions.iter().map(|v| json!({
            "version": v.version,
            "prefix": v.prefix,
            "stage": v.stage,
            "expiresAt": v.expires_at,
        })).collect::<Vec<_>>(),
    })
}

fn rotation_snapshot(rotation: Option<&Rotation>) -> Value {
    match rotation {
        None => Value::Null,
        Some(r) => json!({
            "status": r.status,
            "trigger": r.trigger,
            "fromVersion": r.from_version,
            "toVersion": r.to_version,
            "scheduledAt": r.scheduled_at,
            "graceEndsAt": r.grace_ends_at,
            "completedAt": r.completed_at,
            "supersededBy": r.superseded_by,
        }),
    }
}

/// What an audit event records as `before` or `after`.
pub(crate) fn snapshot(key: &Key, rotation: Option<&Rotation>) -> Value {
    json!({ "key": key_snapshot(key), "rotation": rotation_snapshot(rotation) })
}

/// Records one state change of `rotation`: the audit event (`before` is the state the
/// builder and the rotation held, `after` what they hold now), the customer's
/// notification, and the deletion of a held secret nobody needs any more.
pub(crate) fn record(
    change: &mut ChangeBuilder,
    before: Value,
    rotation: &Rotation,
    act: Act<'_>,
    action: AuditAction,
    reason: Option<&Reason>,
) {
    record_naming(change, before, rotation, act, action, reason, &[]);
}

/// [`record`], the notification naming the callers that have not moved to the new
/// secret yet (a reminder's, a delivery check's).
pub(crate) fn record_naming(
    change: &mut ChangeBuilder,
    before: Value,
    rotation: &Rotation,
    act: Act<'_>,
    action: AuditAction,
    reason: Option<&Reason>,
    not_moved: &[crate::callers::CallerFingerprint],
) {
    let after = snapshot(change.key(), Some(rotation));
    change.record(Happened {
        reason: reason.cloned(),
        rotation_id: Some(rotation.id.clone()),
        before,
        after,
        ..Happened::new(act.now, act.actor, action)
    });
    if let Some(kind) = notification_kind(action) {
        let deadline_applies =
            !rotation.status.is_final() || action == AuditAction::RotationCompleted;
        let mut notification = Notification::of_rotation(
            kind,
            change.key(),
            rotation,
            act.now,
            reason,
            deadline_applies,
        );
        // The customer's own side is named; the provider's operators are not.
        notification.actor = act.actor.kind().is_customer().then(|| act.actor.clone());
        notification.callers_not_moved = not_moved.to_vec();
        change.enqueue(
            act.now,
            OutboxMessage::Notify {
                notification: Box::new(notification),
            },
        );
    }
    // A secret held for its one reveal is deleted when its rotation ends (a leak
    // rotation's is kept until revealed: see Rotation::holds_secret).
    // A secret delivered sealed is kept for the client's other instances until then.
    let delivered_sealed = rotation.sealed_delivery;
    if rotation.status.is_final()
        && (delivered_sealed || rotation.revealed_at.is_none() && !rotation.holds_secret())
    {
        if let Some(name) = &rotation.vault_secret {
            change.enqueue(
                act.now,
                OutboxMessage::DeleteVaultSecret { name: name.clone() },
            );
        }
    }
}

/// Refuses a change to a key that no longer works: revoked, or past its own expiry.
pub(crate) fn check_key_live(key: &Key, now: Timestamp) -> Result<()> {
    match key.status {
        KeyStatus::Revoked => Err(Conflict::KeyRevoked.into()),
        KeyStatus::Expired => Err(Conflict::KeyExpired.into()),
        KeyStatus::Active if key.has_expired(now) => Err(Conflict::KeyExpired.into()),
        KeyStatus::Active => Ok(()),
    }
}

/// Refuses a plan made without the key's active rotation (the key's pointer and the
/// rotation loaded disagree): the planners that end a key must end it too.
pub(crate) fn check_active_rotation(key: &Key, rotation: Option<&Rotation>) -> Result<()> {
    if rotation.map(|r| &r.id) != key.active_rotation.as_ref() {
        return Err(crate::error::Error::from(
            crate::error::StoreError::Corrupt(format!(
                "key {} was planned without its active rotation",
                key.id
            )),
        ));
    }
    Ok(())
}

/// The rotation in progress of a key being ended, as it was read.
#[derive(Debug, Clone)]
pub enum InProgress {
    /// The key's rotation in progress, or `None` when it has none.
    Read(Option<Box<Rotation>>),
    /// The key points at a rotation whose record is gone. Ending the key must not
    /// wait for it: there is nothing to cancel, and the secret it may have held is
    /// deleted from the vault by the name it would have had.
    Lost {
        rotation: RotationId,
        vault_secret: String,
    },
}

impl From<Option<Rotation>> for InProgress {
    fn from(rotation: Option<Rotation>) -> Self {
        InProgress::Read(rotation.map(Box::new))
    }
}

/// Ends `key` for good (revoked or expired) at `act.now`: `finish` sets its status and
/// what goes with it, a rotation in progress ends cancelled, the event is recorded
/// with `reason`, and a held secret is deleted (whatever it was kept for, it is dead).
/// Outbox entries are queued after the event, so their place follows it.
pub(crate) fn end_key(
    key: Key,
    in_progress: InProgress,
    finish: impl FnOnce(&mut Key),
    action: AuditAction,
    reason: &Reason,
    act: Act<'_>,
) -> Result<ChangeBuilder> {
    let (rotation, lost) = match in_progress {
        InProgress::Read(rotation) => {
            let rotation = rotation.map(|boxed| *boxed);
            check_active_rotation(&key, rotation.as_ref())?;
            (rotation, None)
        }
        InProgress::Lost {
            rotation,
            vault_secret,
        } => {
            if key.active_rotation.as_ref() != Some(&rotation) {
                return Err(crate::error::Error::from(
                    crate::error::StoreError::Corrupt(format!(
                        "key {} does not point at the lost rotation {rotation}",
                        key.id
                    )),
                ));
            }
            (None, Some((rotation, vault_secret)))
        }
    };
    // The key as read: a lost rotation's pointer is in the event's "before".
    let before = snapshot(&key, rotation.as_ref());
    let mut change = ChangeBuilder::update(key);
    change.key_mut().active_rotation = None;
    finish(change.key_mut());
    let mut ended = None;
    if let Some(mut rotation) = rotation {
        let expected = rotation.status;
        rotation.apply(RotationCommand::Revoke)?;
        rotation.cancelled_at = Some(act.now);
        change.put_rotation(rotation.clone(), Some(expected));
        ended = Some(rotation);
    }
    let after = snapshot(change.key(), ended.as_ref());
    let rotation_id = match (&ended, &lost) {
        (Some(rotation), _) => Some(rotation.id.clone()),
        (None, Some((id, _))) => Some(id.clone()),
        (None, None) => None,
    };
    change.record(Happened {
        reason: Some(reason.clone()),
        rotation_id,
        before,
        after,
        ..Happened::new(act.now, act.actor, action)
    });
    let vault_secret = match (ended, lost) {
        (Some(rotation), _) => rotation.vault_secret,
        (None, Some((_, name))) => Some(name),
        (None, None) => None,
    };
    if let Some(name) = vault_secret {
        change.enqueue(act.now, OutboxMessage::DeleteVaultSecret { name });
    }
    Ok(change)
}

/// Starts `rotation`: its new secret becomes current, the old one previous.
pub(crate) fn start(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    act: Act<'_>,
    reason: &Reason,
) -> Result<()> {
    let before = snapshot(change.key(), Some(rotation));
    rotation.apply(RotationCommand::Start)?;
    rotation.started_at = Some(act.now);
    rotation.usage_check_at = crate::rollover::first_check(rotation);
    rotation.delivery_check_at = rotation
        .awaits_delivery()
        .then(|| rotation.delivery_decision_at());
    change.key_mut().promote(rotation.to_version);
    record(
        change,
        before,
        rotation,
        act,
        AuditAction::RotationStarted,
        Some(reason),
    );
    Ok(())
}

/// Completes `rotation`: every secret of the key but the current one is revoked.
pub(crate) fn complete(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    act: Act<'_>,
    reason: &Reason,
) -> Result<()> {
    let before = snapshot(change.key(), Some(rotation));
    rotation.apply(RotationCommand::Complete)?;
    rotation.completed_at = Some(act.now);
    let key = change.key_mut();
    key.revoke_all_but_current(act.now);
    key.active_rotation = None;
    record(
        change,
        before,
        rotation,
        act,
        AuditAction::RotationCompleted,
        Some(reason),
    );
    Ok(())
}

/// Moves a rotation's grace end (extensions, by hand or automatic): the old secret's
/// expiry follows, and the new deadline gets its own reminder.
pub(crate) fn move_grace_end(
    change: &mut ChangeBuilder,
    rotation: &mut Rotation,
    new_end: Timestamp,
    policy: &Policy,
) {
    rotation.grace_ends_at = new_end;
    rotation.retire_by = retire_by(change.key(), rotation, new_end, policy);
    rotation.reminder_at =
        reminder_for(rotation.scheduled_at, new_end, policy.reminder_lead_seconds);
    rotation.reminded_at = None;
    if rotation.status == RotationStatus::GracePeriod && rotation.awaits_delivery() {
        rotation.delivery_check_at = Some(rotation.delivery_decision_at());
    }
    let max_grace = policy.for_class(change.key().class).max_grace_seconds;
    change
        .key_mut()
        .move_deadline(rotation.from_version, rotation.old_secret_until(max_grace));
}

/// The bound of a `retire` rotation whose grace ends at `grace_ends_at` (`None` for a
/// `deadline` one): [`crate::rollover::retire_bound`], from the old secret's compliance
/// deadline (its age limit) and the class's maximum grace.
pub(crate) fn retire_by(
    key: &Key,
    rotation: &Rotation,
    grace_ends_at: Timestamp,
    policy: &Policy,
) -> Option<Timestamp> {
    if rotation.retire.is_deadline() {
        return None;
    }
    let rules = policy.for_class(key.class);
    let created = key
        .version(rotation.from_version)
        .map_or(rotation.created_at, |v| v.created_at);
    Some(crate::rollover::retire_bound(
        grace_ends_at,
        created.plus_seconds(rules.max_age_seconds()),
        rules.max_grace_seconds,
    ))
}

/// Which state changes the customer hears about.
fn notification_kind(action: AuditAction) -> Option<NotificationType> {
    match action {
        AuditAction::RotationScheduled => Some(NotificationType::RotationScheduled),
        AuditAction::RotationStarted => Some(NotificationType::RotationStarted),
        AuditAction::RotationReminded => Some(NotificationType::RotationReminder),
        AuditAction::RotationCompleted => Some(NotificationType::RotationCompleted),
        AuditAction::RotationCancelled | AuditAction::RotationSuperseded => {
            Some(NotificationType::RotationCancelled)
        }
        AuditAction::RotationExtended => Some(NotificationType::RotationExtended),
        AuditAction::RotationEmergency => Some(NotificationType::RotationEmergency),
        AuditAction::RotationUndelivered => Some(NotificationType::RotationUndelivered),
        AuditAction::RotationRevealed => Some(NotificationType::RotationRevealed),
        AuditAction::KeyCreated
        | AuditAction::KeyImported
        | AuditAction::RotationFailed
        | AuditAction::KeyExpiryWarned => None,
        // About the key, not a rotation: `revoke` sends its own; an expiry was
        // announced ahead of it (`expire`).
        AuditAction::KeyRevoked
        | AuditAction::KeyExpired
        | AuditAction::KeyUpdated
        | AuditAction::DeliveryKeyRegistered
        | AuditAction::SecretRevoked => None,
    }
}

/// The reminder time for a grace ending at `grace_ends_at`: `lead` before it, if that
/// is after the rotation starts.
pub(crate) fn reminder_for(
    scheduled_at: Timestamp,
    grace_ends_at: Timestamp,
    lead: u64,
) -> Option<Timestamp> {
    let at = grace_ends_at.minus_seconds(lead);
    (lead > 0 && at > scheduled_at).then_some(at)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Keys and rotations in known states, for the planners' unit tests.

    use super::*;
    use crate::config::Policy;
    use crate::ids::{KeyId, KeyName, OrganizationId};
    use crate::key::{KeyClass, KeyStatus, SecretOrigin, SecretStage, SecretVersion};

    pub fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    pub fn now() -> Timestamp {
        at("2026-01-01T00:00:00Z")
    }

    pub fn policy() -> Policy {
        Policy::default()
    }

    pub fn actor() -> Actor {
        Actor::parse("alice@example.com").unwrap()
    }

    pub fn act(actor: &Actor, now: Timestamp) -> Act<'_> {
        Act { actor, now }
    }

    /// One real verifier, derived once: planners only carry it.
    fn verifier() -> Verifier {
        static VERIFIER: std::sync::OnceLock<Verifier> = std::sync::OnceLock::new();
        VERIFIER
            .get_or_init(|| {
                let secret = crate::secret::RawSecret::from_string("sk_test_fixture".into());
                Verifier::derive(&secret, crate::secret::VerifierParams::DEFAULT).unwrap()
            })
            .clone()
    }

    fn secret(n: u8) -> NewSecret {
        NewSecret {
            display_prefix: format!("sk_live_{n:08}"),
            lookup_hash: LookupHash::of(&format!("secret-{n}")),
            verifier: verifier(),
        }
    }

    /// The successor of a rotation, returned to the caller (`held` false) or held.
    pub fn successor(n: u8, held: bool) -> Successor {
        let rotation_id = RotationId::generate();
        Successor {
            held_as: held.then(|| format!("keyroll/{rotation_id}")),
            held_since: held.then(now),
            rotation_id,
            secret: secret(n),
        }
    }

    /// A fresh key of `class` with `request`'s rotation planned on it at `now()`: the
    /// key as the change leaves it, and the rotation (its secret held when the trigger
    /// holds one).
    pub fn scheduled(class: KeyClass, request: RotationRequest) -> (Key, Rotation) {
        let actor = actor();
        let held = request.trigger.holds_secret();
        let (change, rotation) = super::plan_schedule(
            key(class),
            &request,
            &policy(),
            &successor(2, held),
            act(&actor, now()),
        )
        .unwrap();
        (change.key().clone(), rotation)
    }

    /// An active key of `class` with one current secret, created at `now()`, stored
    /// (revision 1).
    pub fn key(class: KeyClass) -> Key {
        let first = SecretVersion::new(
            1,
            "sk_live_00000001".into(),
            LookupHash::of("secret-1"),
            SecretStage::Current,
            SecretOrigin::Generated,
            now(),
        );
        Key {
            id: KeyId::generate(),
            organization_id: OrganizationId::parse("org_acme").unwrap(),
            name: KeyName::parse("backend").unwrap(),
            scopes: vec![],
            rate_limit: 10,
            class,
            status: KeyStatus::Active,
            created_at: now(),
            created_by: actor(),
            versions: vec![first],
            active_rotation: None,
            revision: 1,
            revoked_at: None,
            expires_at: None,
            expiry_warned_for: None,
            expiry_check_at: None,
            metadata: Default::default(),
            audit_head: None,
            audit_head_mac: None,
            expiry_warned_version: None,
            writes: 0,
            customer_rotations_at: Vec::new(),
            compliance: None,
            current_since: None,
            // Its client's delivery key (so self-service rotations may be planned).
            delivery_key: Some(crate::delivery_key::DeliveryKey::new(
                crate::delivery_key::PublicJwk::parse(&serde_json::json!({
                    "kty": "EC", "crv": "P-256",
                    "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
                    "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"
                }))
                .expect("a valid public key"),
                now(),
                actor(),
            )),
        }
    }
}

#[cfg(test)]
mod invariants {
    //! The property test's invariants (functions/api/tests/api/properties.rs), checked
    //! here on the planners alone: every sequence of up to four steps from a fresh
    //! key, each step at a later time.

    use super::fixtures::{act, actor, key, now, policy, successor};
    use super::*;
    use crate::key::{KeyClass, Validity};
    use crate::rollover::Usage;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Schedule,
        ScheduleNow,
        Emergency(u64),
        Cancel,
        Complete,
        Extend,
        Advance,
    }

    const STEPS: [Step; 8] = [
        Step::Schedule,
        Step::ScheduleNow,
        Step::Emergency(0),
        Step::Emergency(3600),
        Step::Cancel,
        Step::Complete,
        Step::Extend,
        Step::Advance,
    ];

    /// The key and its rotation in progress after `step` at `at`, or `None` when the
    /// step is refused (a refusal changes nothing).
    fn apply(
        step: Step,
        key: &Key,
        active: Option<&Rotation>,
        n: u8,
        at: Timestamp,
    ) -> Option<(Key, Option<Rotation>)> {
        let actor = actor();
        let act = act(&actor, at);
        let p = policy();
        let reason = Reason::system("test");
        let (change, rotation) = match step {
            Step::Schedule | Step::ScheduleNow => {
                let request = RotationRequest {
                    start: match step {
                        Step::ScheduleNow => Start::Now,
                        _ => Start::Default,
                    },
                    ..Default::default()
                };
                plan_schedule(key.clone(), &request, &p, &successor(n, false), act).ok()?
            }
            Step::Emergency(grace) => {
                let request = EmergencyRequest {
                    reason,
                    grace_seconds: Some(grace),
                    source: EmergencySource::Operator,
                };
                plan_emergency(
                    key.clone(),
                    active.cloned(),
                    &request,
                    &p,
                    &successor(n, false),
                    act,
                )
                .ok()?
            }
            Step::Cancel => plan_cancel(
                key.clone(),
                active?.clone(),
                None,
                cancel::DeliveredSuccessor::Revoke,
                act,
            )
            .ok()?,
            Step::Complete => plan_complete(
                key.clone(),
                active?.clone(),
                &Completion::Moved { reason: None },
                act,
            )
            .ok()?,
            Step::Extend => {
                plan_extend(key.clone(), active?.clone(), 3600, &reason, &p, act).ok()?
            }
            Step::Advance => {
                let (change, _) = plan_advance(
                    key.clone(),
                    active?.clone(),
                    Some(&Usage::default()),
                    &p,
                    act,
                )
                .ok()??;
                let rotation = change.rotations().last()?.rotation.clone();
                (change, rotation)
            }
        };
        let in_progress = change.key().active_rotation.as_ref().map(|id| {
            if *id == rotation.id {
                rotation.clone()
            } else {
                panic!("the active rotation is the one just planned")
            }
        });
        Some((change.key().clone(), in_progress))
    }

    fn check(before: &Key, after: &Key, then: Timestamp, at: Timestamp, path: &[Step]) {
        assert!(
            after.valid_versions(at).next().is_some(),
            "a_key_always_has_a_valid_secret, after {path:?}"
        );
        for old in &before.versions {
            let dead_then = old.validity(then) != Validity::Valid;
            let new = after
                .version(old.version)
                .expect("versions are never dropped");
            if dead_then {
                assert_ne!(
                    new.validity(at),
                    Validity::Valid,
                    "a_dead_secret_never_comes_back: v{} after {path:?}",
                    old.version
                );
            }
            if let (Some(was), Some(now)) = (old.expires_at, new.expires_at) {
                if !matches!(path.last(), Some(Step::Extend | Step::Advance)) {
                    assert!(
                        now <= was,
                        "no_secret_outlives_its_deadline: v{} after {path:?}",
                        old.version
                    );
                }
            }
        }
    }

    #[test]
    fn every_short_sequence_keeps_the_invariants() {
        let mut frontier = vec![(key(KeyClass::Server), None::<Rotation>, Vec::<Step>::new())];
        let mut checked = 0;
        for depth in 0..4u8 {
            let mut next = Vec::new();
            for (key, active, path) in &frontier {
                // Each step lands a day and an hour later than the one before, so
                // scheduled starts, reminders and grace ends all come due.
                let then = now().plus_seconds(u64::from(depth) * 90_000);
                let at = then.plus_seconds(90_000);
                for (i, step) in STEPS.iter().enumerate() {
                    let n = 10 * (depth + 1) + i as u8;
                    let Some((after, in_progress)) = apply(*step, key, active.as_ref(), n, at)
                    else {
                        continue;
                    };
                    let mut path = path.clone();
                    path.push(*step);
                    check(key, &after, then, at, &path);
                    checked += 1;
                    next.push((after, in_progress, path));
                }
            }
            frontier = next;
        }
        assert!(checked > 300, "only {checked} sequences were possible");
    }
}
