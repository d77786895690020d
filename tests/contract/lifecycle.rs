//! A scheduled rotation's life: schedule, start, cancel, complete, extend, fail; and races between them.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_rotation_full_lifecycle() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_holds_without_the_processor() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn immediate_rotation_starts_at_once() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_rotation_while_one_is_in_progress_is_refused() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_restores_the_old_secret() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_ends_the_grace_now() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn extend_moves_the_deadline_within_policy() {
    let f = fixture().await;
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
    // Well formed, but past the class's maximum: the policy refuses it.
    assert!(
        matches!(error, Error::Conflict(Conflict::OutsidePolicy { .. })),
        "{error:?}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotations_are_listed_newest_first() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_rotation_keeps_every_valid_secret() {
    let f = fixture().await;
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

/// Found by the property test (schedule with a 60 s grace starting now, wait 60 s with
/// no processor run, extend by 1 s): the old secret had expired, and the extension
/// made it verify again. Neither an extension nor a cancellation nor a failure may
/// revive a secret whose grace has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_extend_or_cancel_never_revives_an_expired_secret() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_completions_have_exactly_one_winner() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_schedules_create_exactly_one_rotation() {
    let f = fixture().await;
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

/// A reason keyroll composes around the caller's (a forced completion's) is held to
/// the reason rule, so the rotation, its audit event and its notification read back
/// from the table: on DynamoDB an over-long reason made the outbox unreadable and every
/// processor run failed.
#[tokio::test]
async fn a_forced_completion_with_the_longest_reason_reads_back() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let rotation = f
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
        .unwrap()
        .rotation;
    let longest = Reason::parse(&"é".repeat(Reason::MAX_CHARS)).unwrap();
    f.keyroll
        .force_complete_rotation(&rotation.id, longest, &f.actor())
        .await
        .unwrap();

    let stored = f.store.rotation(&rotation.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RotationStatus::Completed);
    let trail = f.keyroll.audit_trail(&issued.key.id).await.unwrap();
    assert!(trail.report.valid);
    let completed = trail.events.last().unwrap();
    let reason = completed.reason.as_ref().unwrap().as_str();
    assert_eq!(reason.chars().count(), Reason::MAX_CHARS);
    assert!(reason.starts_with("forced although the new secret was delivered: éé"));
    let shard = keyroll_core::index::shard_of(issued.key.id.as_str());
    let outbox = f.store.outbox(shard, None, 100).await.unwrap();
    let told = outbox
        .iter()
        .find_map(|entry| match &entry.message {
            keyroll_core::notification::OutboxMessage::Notify { notification }
                if notification.kind
                    == keyroll_core::notification::NotificationType::RotationCompleted =>
            {
                Some(notification.reason.clone())
            }
            _ => None,
        })
        .expect("the completion's notification reads back");
    assert_eq!(told.as_ref().map(|r| r.as_str()), Some(reason));
}
