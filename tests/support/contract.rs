//! The store contract: every adapter must pass every test here, unchanged.
//! `contract_suite!(factory)` instantiates the whole suite for one adapter.

use std::sync::Arc;

use futures::future::join_all;
use keyroll_core::audit::AuditAction;
use keyroll_core::error::{Conflict, Error};
use keyroll_core::ids::{KeyName, OrganizationId, Reason, Scope};
use keyroll_core::index::DueRef;
use keyroll_core::key::{KeyClass, SecretStage};
use keyroll_core::rotation::{RotationStatus, RotationTrigger};
use keyroll_core::secret::LookupHash;
use keyroll_core::service::{
    EmergencyRequest, EmergencySource, IssuedKey, LegacyKey, NewKey, RotationRequest, Start,
    Verification,
};
use keyroll_core::store::{ChangeBuilder, StoreError, INDEX_SHARDS};

use crate::ReturnedSecret;
use keyroll_core::time::Timestamp;

use crate::fixture::{epoch, Fixture};

/// Generates one `#[tokio::test]` per contract test for the adapter built by `$make`.
#[macro_export]
macro_rules! contract_suite {
    ($make:path) => {
        $crate::contract_suite!(@each $make;
            issued_key_round_trips,
            stale_revision_is_refused_and_changes_nothing,
            creating_an_existing_key_is_refused,
            rotation_status_guard_is_enforced,
            duplicate_secret_record_is_refused,
            scheduled_rotation_full_lifecycle,
            expiry_holds_without_the_processor,
            immediate_rotation_starts_at_once,
            second_rotation_while_one_is_in_progress_is_refused,
            cancel_restores_the_old_secret,
            complete_ends_the_grace_now,
            extend_moves_the_deadline_within_policy,
            emergency_with_zero_grace_kills_old_secret_now,
            emergency_supersedes_rotation_in_progress_and_never_lengthens,
            legacy_key_verifies_by_hash,
            verify_rejects_malformed_and_unknown,
            rotations_are_listed_newest_first,
            due_index_returns_only_due_rotations_in_pages,
            age_index_returns_only_old_active_keys,
            racing_completions_have_exactly_one_winner,
            racing_schedules_create_exactly_one_rotation,
            racing_raw_commits_have_exactly_one_winner,
            racing_processors_advance_each_rotation_once,
            failed_rotation_keeps_every_valid_secret,
            last_use_is_written_at_most_once_a_minute,
            use_counts_from_several_containers_add_up,
            racing_leak_reports_rotate_once,
            a_late_extend_or_cancel_never_revives_an_expired_secret,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $make().await;
                $crate::contract::$name(fixture).await;
            }
        )*
    };
}

fn new_key(class: KeyClass) -> NewKey {
    NewKey {
        organization_id: OrganizationId::parse("org_acme").unwrap(),
        name: KeyName::parse("production backend").unwrap(),
        scopes: vec![
            Scope::parse("charges:write").unwrap(),
            Scope::parse("charges:read").unwrap(),
        ],
        rate_limit: 1000,
        class,
    }
}

async fn issue(f: &Fixture) -> IssuedKey {
    f.keyroll
        .issue_key(new_key(KeyClass::Server), &f.actor())
        .await
        .expect("issue key")
}

fn reason(text: &str) -> Option<Reason> {
    Some(Reason::parse(text).unwrap())
}

async fn code(f: &Fixture, secret: &str) -> &'static str {
    f.keyroll.verify(secret).await.expect("verify").code()
}

async fn assert_chain_valid(f: &Fixture, key: &keyroll_core::ids::KeyId) -> Vec<AuditAction> {
    let trail = f.keyroll.audit_trail(key).await.expect("audit trail");
    assert!(trail.report.valid, "audit chain broken: {:?}", trail.report);
    trail.events.iter().map(|e| e.action).collect()
}

pub async fn issued_key_round_trips(f: Fixture) {
    let issued = issue(&f).await;
    let stored = f
        .store
        .key(&issued.key.id)
        .await
        .unwrap()
        .expect("key stored");
    assert_eq!(stored, issued.key);
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.versions.len(), 1);
    assert_eq!(stored.versions[0].stage, SecretStage::Current);

    let record = f
        .store
        .secret(&LookupHash::of(issued.secret.expose()))
        .await
        .unwrap()
        .expect("secret record");
    assert_eq!(record.key_id, issued.key.id);
    assert_eq!(record.scopes, stored.scopes);
    assert!(record.verifier.is_some());

    match f.keyroll.verify(issued.secret.expose()).await.unwrap() {
        Verification::Valid(record) => {
            assert_eq!(record.organization_id.as_str(), "org_acme");
            assert_eq!(record.rate_limit, 1000);
        }
        other => panic!("expected VALID, got {other:?}"),
    }
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![AuditAction::KeyCreated]
    );
}

pub async fn stale_revision_is_refused_and_changes_nothing(f: Fixture) {
    let issued = issue(&f).await;
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();

    // Someone else changes the key first.
    f.keyroll
        .schedule_rotation(
            &key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let after_winner = f.store.key(&key.id).await.unwrap().unwrap();
    let events_before = f.store.audit_events(&key.id).await.unwrap();

    // A change planned on the old revision must be refused as a whole.
    let mut stale = ChangeBuilder::update(key.clone());
    stale.key_mut().versions[0].stage = SecretStage::Revoked;
    stale.record(
        epoch(),
        &f.actor(),
        AuditAction::RotationCompleted,
        None,
        None,
        serde_json::Value::Null,
        serde_json::Value::Null,
    );
    assert_eq!(
        f.store.commit(stale.finish()).await,
        Err(StoreError::Conflict)
    );

    assert_eq!(f.store.key(&key.id).await.unwrap().unwrap(), after_winner);
    assert_eq!(f.store.audit_events(&key.id).await.unwrap(), events_before);
    assert_eq!(
        code(&f, issued.secret.expose()).await,
        "VALID",
        "the secret record was not touched"
    );
}

pub async fn creating_an_existing_key_is_refused(f: Fixture) {
    let issued = issue(&f).await;
    let mut again = ChangeBuilder::create(issued.key.clone());
    again.record(
        epoch(),
        &f.actor(),
        AuditAction::KeyCreated,
        None,
        None,
        serde_json::Value::Null,
        serde_json::Value::Null,
    );
    assert_eq!(
        f.store.commit(again.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        f.store.key(&issued.key.id).await.unwrap().unwrap(),
        issued.key
    );
}

pub async fn rotation_status_guard_is_enforced(f: Fixture) {
    let issued = issue(&f).await;
    let rotation = f
        .keyroll
        .schedule_rotation(&issued.key.id, RotationRequest::default(), &f.actor())
        .await
        .unwrap()
        .rotation;
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    // Right key revision, wrong expected rotation status: refused.
    let mut change = ChangeBuilder::update(key.clone());
    let mut edited = rotation.clone();
    edited.status = RotationStatus::Completed;
    change.put_rotation(edited, Some(RotationStatus::GracePeriod));
    change.record(
        epoch(),
        &f.actor(),
        AuditAction::RotationCompleted,
        None,
        None,
        serde_json::Value::Null,
        serde_json::Value::Null,
    );
    assert_eq!(
        f.store.commit(change.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        f.store
            .rotation(&rotation.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        RotationStatus::Scheduled
    );
    assert_eq!(f.store.key(&key.id).await.unwrap().unwrap(), key);
}

pub async fn duplicate_secret_record_is_refused(f: Fixture) {
    let issued = issue(&f).await;
    let record = f
        .store
        .secret(&LookupHash::of(issued.secret.expose()))
        .await
        .unwrap()
        .unwrap();
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    let mut change = ChangeBuilder::update(key.clone());
    change.add_secret(record);
    change.record(
        epoch(),
        &f.actor(),
        AuditAction::RotationScheduled,
        None,
        None,
        serde_json::Value::Null,
        serde_json::Value::Null,
    );
    assert_eq!(
        f.store.commit(change.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(f.store.key(&key.id).await.unwrap().unwrap(), key);
}

pub async fn scheduled_rotation_full_lifecycle(f: Fixture) {
    let issued = issue(&f).await;
    let start = epoch().plus_seconds(3600);
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                reason: reason("quarterly"),
                grace_seconds: Some(600),
                start: Start::At(start),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let rotation = rotated.rotation.clone();
    assert_eq!(rotation.status, RotationStatus::Scheduled);
    assert_eq!(rotation.trigger, RotationTrigger::Manual);
    assert_eq!(rotation.scheduled_at, start);
    assert_eq!(rotation.grace_ends_at, start.plus_seconds(600));
    assert_ne!(rotated.returned_secret().expose(), issued.secret.expose());
    // The new secret is valid at once; the old one too.
    assert_eq!(code(&f, issued.secret.expose()).await, "VALID");
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");

    // Not due yet: the processor changes nothing.
    f.clock.set(start.minus_seconds(1));
    let before = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(
        f.keyroll.advance_rotation(&rotation.id).await.unwrap(),
        Default::default()
    );
    assert_eq!(f.store.key(&issued.key.id).await.unwrap().unwrap(), before);

    // Due: started, new secret current, old previous.
    f.clock.set(start);
    let advance = f.keyroll.advance_rotation(&rotation.id).await.unwrap();
    assert!(advance.started && !advance.completed);
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(
        key.version(rotation.to_version).unwrap().stage,
        SecretStage::Current
    );
    assert_eq!(
        key.version(rotation.from_version).unwrap().stage,
        SecretStage::Previous
    );
    assert_eq!(
        f.store
            .rotation(&rotation.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        RotationStatus::GracePeriod
    );
    assert_eq!(code(&f, issued.secret.expose()).await, "VALID");
    // Re-running changes nothing.
    assert_eq!(
        f.keyroll.advance_rotation(&rotation.id).await.unwrap(),
        Default::default()
    );

    // Grace over: completed, old secret revoked.
    f.clock.set(rotation.grace_ends_at);
    let advance = f.keyroll.advance_rotation(&rotation.id).await.unwrap();
    assert!(advance.completed && !advance.started);
    let done = f.store.rotation(&rotation.id).await.unwrap().unwrap();
    assert_eq!(done.status, RotationStatus::Completed);
    assert_eq!(done.completed_at, Some(rotation.grace_ends_at));
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(key.active_rotation, None);
    assert_eq!(key.scopes, issued.key.scopes, "scopes survive rotation");
    assert_eq!(key.id, issued.key.id, "the key id survives rotation");

    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationScheduled,
            AuditAction::RotationStarted,
            AuditAction::RotationCompleted
        ]
    );
    // Idempotent after completion too.
    assert_eq!(
        f.keyroll.advance_rotation(&rotation.id).await.unwrap(),
        Default::default()
    );
}

pub async fn expiry_holds_without_the_processor(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(5),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    f.clock.set(epoch().plus_seconds(4));
    assert_eq!(
        code(&f, issued.secret.expose()).await,
        "VALID",
        "one second before the deadline"
    );
    f.clock.set(epoch().plus_seconds(5));
    assert_eq!(
        code(&f, issued.secret.expose()).await,
        "EXPIRED",
        "at the deadline, no processor run"
    );
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
}

pub async fn immediate_rotation_starts_at_once(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.rotation.status, RotationStatus::GracePeriod);
    assert_eq!(
        rotated.rotation.grace_ends_at,
        epoch().plus_seconds(72 * 3600)
    );
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(key.current().unwrap().version, rotated.rotation.to_version);
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationScheduled,
            AuditAction::RotationStarted
        ]
    );
}

pub async fn second_rotation_while_one_is_in_progress_is_refused(f: Fixture) {
    let issued = issue(&f).await;
    let first = f
        .keyroll
        .schedule_rotation(&issued.key.id, RotationRequest::default(), &f.actor())
        .await
        .unwrap();
    let before = f.store.key(&issued.key.id).await.unwrap().unwrap();
    match f
        .keyroll
        .schedule_rotation(&issued.key.id, RotationRequest::default(), &f.actor())
        .await
    {
        Err(Error::Conflict(Conflict::RotationInProgress { rotation_id })) => {
            assert_eq!(rotation_id, first.rotation.id.to_string())
        }
        other => panic!("expected RotationInProgress, got {other:?}"),
    }
    assert_eq!(f.store.key(&issued.key.id).await.unwrap().unwrap(), before);
    assert_eq!(f.store.rotations_of(&issued.key.id).await.unwrap().len(), 1);
}

pub async fn cancel_restores_the_old_secret(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                grace_seconds: Some(60),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let cancelled = f
        .keyroll
        .cancel_rotation(&rotated.rotation.id, reason("customer asked"), &f.actor())
        .await
        .unwrap();
    assert_eq!(cancelled.status, RotationStatus::Cancelled);
    assert_eq!(
        code(&f, rotated.returned_secret().expose()).await,
        "REVOKED"
    );
    f.clock
        .set(Timestamp::parse("2030-01-01T00:00:00Z").unwrap());
    assert_eq!(
        code(&f, issued.secret.expose()).await,
        "VALID",
        "no deadline left on the old secret"
    );
    assert_eq!(
        f.store
            .key(&issued.key.id)
            .await
            .unwrap()
            .unwrap()
            .active_rotation,
        None
    );
    // Cancel again, or cancel a started rotation: refused (409), nothing changes.
    let error = f
        .keyroll
        .cancel_rotation(&rotated.rotation.id, None, &f.actor())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), keyroll_core::ErrorKind::Conflict);
    let immediate = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let error = f
        .keyroll
        .cancel_rotation(&immediate.rotation.id, None, &f.actor())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), keyroll_core::ErrorKind::Conflict);
    assert_chain_valid(&f, &issued.key.id).await;
}

pub async fn complete_ends_the_grace_now(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(&issued.key.id, RotationRequest::default(), &f.actor())
        .await
        .unwrap();
    let done = f
        .keyroll
        .complete_rotation(
            &rotated.rotation.id,
            reason("customer migrated"),
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(done.status, RotationStatus::Completed);
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationScheduled,
            AuditAction::RotationStarted,
            AuditAction::RotationCompleted
        ]
    );
    assert_eq!(
        f.keyroll
            .complete_rotation(&rotated.rotation.id, None, &f.actor())
            .await
            .unwrap_err()
            .kind(),
        keyroll_core::ErrorKind::Conflict
    );
}

pub async fn extend_moves_the_deadline_within_policy(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3600),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let extended = f
        .keyroll
        .extend_rotation(
            &rotated.rotation.id,
            1800,
            Reason::parse("customer release slipped").unwrap(),
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(extended.grace_ends_at, epoch().plus_seconds(5400));
    f.clock.set(epoch().plus_seconds(5399));
    assert_eq!(code(&f, issued.secret.expose()).await, "VALID");
    f.clock.set(epoch().plus_seconds(5400));
    assert_eq!(code(&f, issued.secret.expose()).await, "EXPIRED");

    // Beyond the class maximum (30 days): 422, nothing changes (asked during the
    // grace; after it, an extension is refused as a conflict: see
    // a_late_extend_or_cancel_never_revives_an_expired_secret).
    f.clock.set(epoch().plus_seconds(1000));
    let before = f
        .store
        .rotation(&rotated.rotation.id)
        .await
        .unwrap()
        .unwrap();
    let error = f
        .keyroll
        .extend_rotation(
            &rotated.rotation.id,
            31 * 86_400,
            Reason::parse("too long").unwrap(),
            &f.actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), keyroll_core::ErrorKind::Invalid);
    assert_eq!(
        f.store
            .rotation(&rotated.rotation.id)
            .await
            .unwrap()
            .unwrap(),
        before
    );
    assert_chain_valid(&f, &issued.key.id).await;
}

pub async fn emergency_with_zero_grace_kills_old_secret_now(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("key posted in a public gist").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.rotation.trigger, RotationTrigger::Emergency);
    assert_eq!(rotated.rotation.status, RotationStatus::Completed);
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
    // Emergency rotations cannot be extended.
    let error = f
        .keyroll
        .extend_rotation(
            &rotated.rotation.id,
            60,
            Reason::parse("please").unwrap(),
            &f.actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), keyroll_core::ErrorKind::Conflict);
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationEmergency,
            AuditAction::RotationCompleted
        ]
    );
}

pub async fn emergency_supersedes_rotation_in_progress_and_never_lengthens(f: Fixture) {
    let issued = issue(&f).await;
    // A normal rotation in grace: the old secret expires in 10 minutes.
    let normal = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(600),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    // An emergency with a 4-hour grace must not give the oldest secret 4 hours.
    let emergency = f
        .keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("leaked in CI logs").unwrap(),
                grace_seconds: None,
                source: EmergencySource::Leak { version: 2 },
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(emergency.rotation.trigger, RotationTrigger::Leak);
    assert_eq!(
        emergency.rotation.grace_ends_at,
        epoch().plus_seconds(4 * 3600)
    );
    let superseded = f
        .store
        .rotation(&normal.rotation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(superseded.status, RotationStatus::Cancelled);
    assert_eq!(
        superseded.superseded_by.as_ref(),
        Some(&emergency.rotation.id)
    );

    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(
        key.version(1).unwrap().expires_at,
        Some(epoch().plus_seconds(600)),
        "never lengthened"
    );
    assert_eq!(
        key.version(2).unwrap().expires_at,
        Some(epoch().plus_seconds(4 * 3600))
    );
    assert_eq!(key.current().unwrap().version, 3);
    assert_eq!(key.active_rotation.as_ref(), Some(&emergency.rotation.id));

    f.clock.set(epoch().plus_seconds(600));
    assert_eq!(code(&f, issued.secret.expose()).await, "EXPIRED");
    assert_eq!(code(&f, normal.returned_secret().expose()).await, "VALID");
    f.clock.set(epoch().plus_seconds(4 * 3600));
    assert_eq!(code(&f, normal.returned_secret().expose()).await, "EXPIRED");
    let advance = f
        .keyroll
        .advance_rotation(&emergency.rotation.id)
        .await
        .unwrap();
    assert!(advance.completed);
    assert_eq!(code(&f, normal.returned_secret().expose()).await, "REVOKED");
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationScheduled,
            AuditAction::RotationStarted,
            AuditAction::RotationSuperseded,
            AuditAction::RotationEmergency,
            AuditAction::RotationCompleted,
        ]
    );
    // A leak rotation's secret is held for the owner, never returned: revealed here.
    let (_, new_secret) = f
        .keyroll
        .reveal_secret(&emergency.rotation.id, &f.actor())
        .await
        .unwrap();
    assert_eq!(code(&f, new_secret.expose()).await, "VALID");
}

pub async fn legacy_key_verifies_by_hash(f: Fixture) {
    let old_secret = format!("sk_live_{}", "0123456789abcdef".repeat(4));
    let legacy = LegacyKey {
        id: None,
        revoked: false,
        key: new_key(KeyClass::Embedded),
        lookup_hash: LookupHash::of(&old_secret),
        visible_prefix: "01234567".into(),
        created_at: Timestamp::parse("2023-05-01T00:00:00Z").unwrap(),
    };
    let key = f
        .keyroll
        .import_legacy_key(legacy.clone(), &f.actor())
        .await
        .unwrap();
    assert_eq!(key.versions[0].prefix, "sk_live_01234567");
    assert_eq!(code(&f, &old_secret).await, "VALID");
    let wrong = format!("sk_live_{}", "0123456789abcdee".repeat(4));
    assert_eq!(code(&f, &wrong).await, "NOT_FOUND");
    assert_eq!(
        f.keyroll
            .import_legacy_key(legacy, &f.actor())
            .await
            .unwrap_err()
            .kind(),
        keyroll_core::ErrorKind::Conflict
    );
    // A legacy key rotates like any other: the replacement is a checksummed secret.
    let rotated = f
        .keyroll
        .schedule_rotation(
            &key.id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(86_400),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
    assert_eq!(code(&f, &old_secret).await, "VALID");
    f.keyroll
        .complete_rotation(&rotated.rotation.id, None, &f.actor())
        .await
        .unwrap();
    assert_eq!(code(&f, &old_secret).await, "REVOKED");
}

pub async fn verify_rejects_malformed_and_unknown(f: Fixture) {
    let issued = issue(&f).await;
    let text = issued.secret.expose();
    assert_eq!(code(&f, "").await, "MALFORMED");
    assert_eq!(code(&f, "sk_live_short").await, "MALFORMED");
    let mut mistyped: Vec<char> = text.chars().collect();
    mistyped[20] = if mistyped[20] == 'a' { 'b' } else { 'a' };
    assert_eq!(
        code(&f, &mistyped.into_iter().collect::<String>()).await,
        "MALFORMED"
    );
    let unknown = f.keyroll.config().secret_format.generate();
    assert_eq!(code(&f, unknown.secret.expose()).await, "NOT_FOUND");
}

pub async fn rotations_are_listed_newest_first(f: Fixture) {
    let issued = issue(&f).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let rotated = f
            .keyroll
            .schedule_rotation(
                &issued.key.id,
                RotationRequest {
                    start: Start::Now,
                    grace_seconds: Some(60),
                    ..Default::default()
                },
                &f.actor(),
            )
            .await
            .unwrap();
        f.keyroll
            .complete_rotation(&rotated.rotation.id, None, &f.actor())
            .await
            .unwrap();
        ids.push(rotated.rotation.id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let listed: Vec<_> = f
        .store
        .rotations_of(&issued.key.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    let other = issue(&f).await;
    assert!(f
        .store
        .rotations_of(&other.key.id)
        .await
        .unwrap()
        .is_empty());
}

pub async fn due_index_returns_only_due_rotations_in_pages(f: Fixture) {
    let mut expected = Vec::new();
    for i in 0..12u64 {
        let issued = issue(&f).await;
        let rotated = f
            .keyroll
            .schedule_rotation(
                &issued.key.id,
                RotationRequest {
                    start: Start::At(epoch().plus_seconds(100 + i)),
                    grace_seconds: Some(60),
                    ..Default::default()
                },
                &f.actor(),
            )
            .await
            .unwrap();
        if i < 8 {
            expected.push(rotated.rotation.id);
        }
    }
    // Due by 107: the first eight. Read every shard in pages of 2.
    let due_by = epoch().plus_seconds(107);
    let mut seen = Vec::new();
    for shard in 0..INDEX_SHARDS {
        let mut after: Option<DueRef> = None;
        loop {
            let page = f
                .store
                .due_rotations(shard, due_by, after.as_ref(), 2)
                .await
                .unwrap();
            assert!(page.len() <= 2);
            assert!(
                page.windows(2).all(|w| w[0].sort_key() < w[1].sort_key()),
                "in due order"
            );
            seen.extend(page.iter().map(|d| d.rotation_id.clone()));
            if page.len() < 2 {
                break;
            }
            after = page.last().cloned();
        }
    }
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "every due rotation exactly once, none that is not due"
    );

    // A final rotation leaves the index.
    let first = f.store.rotation(&expected[0]).await.unwrap().unwrap();
    f.keyroll
        .cancel_rotation(&first.id, None, &f.actor())
        .await
        .unwrap();
    let mut remaining = 0;
    for shard in 0..INDEX_SHARDS {
        remaining += f
            .store
            .due_rotations(shard, due_by, None, 100)
            .await
            .unwrap()
            .len();
    }
    assert_eq!(remaining, 7);
}

pub async fn age_index_returns_only_old_active_keys(f: Fixture) {
    let old = issue(&f).await;
    f.clock.advance(100 * 86_400);
    let young = issue(&f).await;
    let cutoff = f.clock_now().minus_seconds(90 * 86_400);
    let mut aged = Vec::new();
    for shard in 0..INDEX_SHARDS {
        aged.extend(
            f.store
                .aged_keys(KeyClass::Server, shard, cutoff, None, 100)
                .await
                .unwrap(),
        );
    }
    let ids: Vec<_> = aged.iter().map(|a| a.key_id.clone()).collect();
    assert_eq!(ids, vec![old.key.id.clone()]);
    assert_eq!(aged[0].created_at, epoch());
    assert!(!ids.contains(&young.key.id));

    // Rotating the old key moves it out of the aged set.
    let rotated = f
        .keyroll
        .schedule_rotation(
            &old.key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.rotation.status, RotationStatus::GracePeriod);
    let mut aged = Vec::new();
    for shard in 0..INDEX_SHARDS {
        aged.extend(
            f.store
                .aged_keys(KeyClass::Server, shard, cutoff, None, 100)
                .await
                .unwrap(),
        );
    }
    assert!(aged.is_empty(), "{aged:?}");
}

pub async fn racing_completions_have_exactly_one_winner(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(&issued.key.id, RotationRequest::default(), &f.actor())
        .await
        .unwrap();
    let f = Arc::new(f);
    let attempts = (0..8).map(|_| {
        let f = f.clone();
        let id = rotated.rotation.id.clone();
        tokio::spawn(async move { f.keyroll.complete_rotation(&id, None, &f.actor()).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(loser.kind(), keyroll_core::ErrorKind::Conflict, "{loser}");
    }
    let actions = assert_chain_valid(&f, &issued.key.id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::RotationCompleted)
            .count(),
        1
    );
}

pub async fn racing_schedules_create_exactly_one_rotation(f: Fixture) {
    let issued = issue(&f).await;
    let f = Arc::new(f);
    let attempts = (0..6).map(|_| {
        let f = f.clone();
        let id = issued.key.id.clone();
        tokio::spawn(async move {
            f.keyroll
                .schedule_rotation(&id, RotationRequest::default(), &f.actor())
                .await
        })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(f.store.rotations_of(&issued.key.id).await.unwrap().len(), 1);
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(key.versions.len(), 2, "exactly one new secret version");
    assert_chain_valid(&f, &issued.key.id).await;
}

pub async fn racing_raw_commits_have_exactly_one_winner(f: Fixture) {
    let issued = issue(&f).await;
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    let changes = (0..8).map(|i| {
        let mut change = ChangeBuilder::update(key.clone());
        change.key_mut().rate_limit = 2000 + i;
        change.record(
            epoch(),
            &f.actor(),
            AuditAction::RotationExtended,
            None,
            None,
            serde_json::json!({"i": i}),
            serde_json::Value::Null,
        );
        change.finish()
    });
    let store = f.store.clone();
    let results = join_all(changes.map(|c| {
        let store = store.clone();
        tokio::spawn(async move { store.commit(c).await })
    }))
    .await;
    let ok = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(Ok(())) | Ok(Err(StoreError::Conflict)))));
    assert_eq!(f.store.audit_events(&key.id).await.unwrap().len(), 2);
    assert_chain_valid(&f, &key.id).await;
}

pub async fn racing_processors_advance_each_rotation_once(f: Fixture) {
    let mut rotations = Vec::new();
    for _ in 0..5 {
        let issued = issue(&f).await;
        let rotated = f
            .keyroll
            .schedule_rotation(
                &issued.key.id,
                RotationRequest {
                    start: Start::At(epoch().plus_seconds(10)),
                    grace_seconds: Some(10),
                    ..Default::default()
                },
                &f.actor(),
            )
            .await
            .unwrap();
        rotations.push(rotated.rotation);
    }
    f.clock.set(epoch().plus_seconds(30));
    let f = Arc::new(f);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        for rotation in &rotations {
            let f = f.clone();
            let id = rotation.id.clone();
            tasks.push(tokio::spawn(async move {
                f.keyroll.advance_rotation(&id).await
            }));
        }
    }
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let mut started = 0;
    let mut completed = 0;
    for result in &results {
        match result {
            Ok(advance) => {
                started += usize::from(advance.started);
                completed += usize::from(advance.completed);
            }
            Err(error) => assert_eq!(error.kind(), keyroll_core::ErrorKind::Conflict, "{error}"),
        }
    }
    assert_eq!(
        (started, completed),
        (5, 5),
        "each rotation started and completed exactly once"
    );
    for rotation in &rotations {
        let actions = assert_chain_valid(&f, &rotation.key_id).await;
        assert_eq!(
            actions
                .iter()
                .filter(|a| **a == AuditAction::RotationCompleted)
                .count(),
            1
        );
        assert_eq!(
            f.store
                .rotation(&rotation.id)
                .await
                .unwrap()
                .unwrap()
                .status,
            RotationStatus::Completed
        );
    }
}

pub async fn failed_rotation_keeps_every_valid_secret(f: Fixture) {
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                grace_seconds: Some(60),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let failed = f
        .keyroll
        .fail_rotation(&rotated.rotation.id, "stored state is inconsistent")
        .await
        .unwrap();
    assert_eq!(failed.status, RotationStatus::Failed);
    assert_eq!(
        failed.failure.as_deref(),
        Some("stored state is inconsistent")
    );
    // Long after the planned grace, both secrets still work: nothing was cut off.
    f.clock
        .set(Timestamp::parse("2027-01-01T00:00:00Z").unwrap());
    assert_eq!(code(&f, issued.secret.expose()).await, "VALID");
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(key.active_rotation, None, "a new rotation can be scheduled");
    assert_eq!(
        f.keyroll
            .fail_rotation(&rotated.rotation.id, "again")
            .await
            .unwrap_err()
            .kind(),
        keyroll_core::ErrorKind::Conflict
    );
    let actions = assert_chain_valid(&f, &issued.key.id).await;
    assert_eq!(actions.last(), Some(&AuditAction::RotationFailed));
}

impl Fixture {
    fn clock_now(&self) -> Timestamp {
        use keyroll_core::time::Clock;
        self.clock.now()
    }
}

/// 1,000 verifications of one secret inside a minute cause one write; the uses counted
/// meanwhile are added by the next minute's write, so the day's count is exact.
pub async fn last_use_is_written_at_most_once_a_minute(f: Fixture) {
    let issued = issue(&f).await;
    let secret = issued.secret.expose().to_owned();
    let hash = LookupHash::of(&secret);
    let before = f.write_count();
    for i in 0..1000u64 {
        if i > 0 && i % 20 == 0 {
            f.clock.advance(1); // 50 s of steady traffic, all in the first minute
        }
        assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
    }
    assert_eq!(f.write_count() - before, 1, "one write in the minute");
    let record = f.store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(epoch()));
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&1));

    f.clock.advance(30); // the next minute
    assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
    assert_eq!(f.write_count() - before, 2);
    let record = f.store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(epoch().plus_seconds(79)));
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&1001));

    // The key shows it; a secret never used shows nothing.
    let (_, usage) = f.keyroll.key_with_usage(&issued.key.id).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].last_used_at, Some(epoch().plus_seconds(79)));
    let unused = issue(&f).await;
    let (_, usage) = f.keyroll.key_with_usage(&unused.key.id).await.unwrap();
    assert_eq!(usage[0].last_used_at, None);
    assert!(usage[0].daily_uses.is_empty());
}

/// Two containers verifying the same secret in the same minute: one write succeeds,
/// the other is refused by its condition and its uses are added a minute later.
pub async fn use_counts_from_several_containers_add_up(f: Fixture) {
    let issued = issue(&f).await;
    let secret = issued.secret.expose().to_owned();
    let hash = LookupHash::of(&secret);
    let second = f.another_container();
    for _ in 0..5 {
        assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
        assert!(second.verify(&secret).await.unwrap().is_valid());
    }
    let record = f.store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(
        record.daily_uses.get("2026-01-01"),
        Some(&1),
        "one write won"
    );

    f.clock.advance(60);
    assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
    assert!(second.verify(&secret).await.unwrap().is_valid());
    f.clock.advance(60);
    assert!(second.verify(&secret).await.unwrap().is_valid());
    let record = f.store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(
        record.daily_uses.get("2026-01-01"),
        Some(&13),
        "every use counted once: 10 + 3"
    );
    assert_eq!(record.last_used_at, Some(epoch().plus_seconds(120)));
}

/// The same token reported six times at once (GitHub retries, two scanners): one leak
/// rotation, every answer a true positive, the chain intact.
pub async fn racing_leak_reports_rotate_once(f: Fixture) {
    let issued = issue(&f).await;
    let token = issued.secret.expose().to_owned();
    let verdicts = join_all((0..6).map(|_| {
        f.keyroll.report_leak(
            &token,
            "https://github.com/acme/app/blob/main/.env",
            "content",
        )
    }))
    .await;
    let mut started = 0;
    for verdict in verdicts {
        match verdict.unwrap() {
            keyroll_core::service::LeakVerdict::TruePositive { key_id, rotation } => {
                assert_eq!(key_id, issued.key.id);
                started += usize::from(rotation.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(started, 1, "one rotation");
    let rotations = f.store.rotations_of(&issued.key.id).await.unwrap();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].trigger, RotationTrigger::Leak);
    assert!(
        rotations[0].holds_secret(),
        "the new secret waits for its owner"
    );
    assert_eq!(f.keyroll.verify(&token).await.unwrap().code(), "REVOKED");
    assert!(
        f.keyroll
            .audit_trail(&issued.key.id)
            .await
            .unwrap()
            .report
            .valid
    );
    assert_eq!(
        f.keyroll
            .report_leak("sk_live_nothing_like_ours", "https://x", "content")
            .await
            .unwrap(),
        keyroll_core::service::LeakVerdict::FalsePositive
    );
}

/// Found by the property test (schedule with a 60 s grace starting now, wait 60 s with
/// no processor run, extend by 1 s): the old secret had expired, and the extension
/// made it verify again. Neither an extension nor a cancellation nor a failure may
/// revive a secret whose grace has ended.
pub async fn a_late_extend_or_cancel_never_revives_an_expired_secret(f: Fixture) {
    let issued = issue(&f).await;
    let old = issued.secret.expose().to_owned();
    let scheduled = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::At(epoch()),
                grace_seconds: Some(60),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let rotation = scheduled.rotation.id.clone();
    f.clock.advance(60); // the processor has not run: still "scheduled"
    assert_eq!(f.keyroll.verify(&old).await.unwrap().code(), "EXPIRED");
    let extend = f
        .keyroll
        .extend_rotation(&rotation, 1, Reason::parse("late").unwrap(), &f.actor())
        .await;
    assert!(matches!(extend, Err(Error::Conflict(_))), "{extend:?}");
    let cancel = f.keyroll.cancel_rotation(&rotation, None, &f.actor()).await;
    assert!(matches!(cancel, Err(Error::Conflict(_))), "{cancel:?}");
    assert_eq!(f.keyroll.verify(&old).await.unwrap().code(), "EXPIRED");
    f.keyroll
        .fail_rotation(&rotation, "injected")
        .await
        .unwrap();
    assert_eq!(
        f.keyroll.verify(&old).await.unwrap().code(),
        "EXPIRED",
        "a failure keeps it dead"
    );
    assert!(f
        .keyroll
        .verify(scheduled.returned_secret().expose())
        .await
        .unwrap()
        .is_valid());
    assert!(
        f.keyroll
            .audit_trail(&issued.key.id)
            .await
            .unwrap()
            .report
            .valid
    );
}
