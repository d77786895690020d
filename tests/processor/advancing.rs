//! Rotations advanced on time, under faults, and by their secrets' use.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotations_advance_on_time_and_notify_once() {
    let w = world().await;
    let start = epoch().plus_seconds(3600);
    let keys = w.seed(3, start, 3 * 86_400).await;
    let report = w.run().await;
    assert_eq!(
        (report.started, report.notified),
        (0, 3),
        "only the scheduling notices"
    );

    w.clock.set(start.minus_seconds(1));
    assert_eq!(w.run().await.started, 0, "not yet due");
    w.clock.set(start);
    assert_eq!(w.run().await.started, 3);
    // The reminder goes out 24 h before the grace ends.
    w.clock.set(start.plus_seconds(2 * 86_400 - 1));
    assert_eq!(w.run().await.reminded, 0);
    w.clock.set(start.plus_seconds(2 * 86_400));
    assert_eq!(w.run().await.reminded, 3);
    w.clock.set(start.plus_seconds(3 * 86_400));
    let report = w.run().await;
    assert_eq!((report.completed, report.notified), (3, 3));
    assert_eq!(
        w.run().await,
        ProcessReport::default(),
        "a re-run does nothing"
    );

    let messages = w.inbox.take().await;
    assert_unique(&messages);
    let grouped = by_key(&messages);
    assert_eq!(grouped.len(), 3);
    for key in &keys {
        assert_eq!(
            grouped[key],
            [
                NotificationType::RotationScheduled,
                NotificationType::RotationStarted,
                NotificationType::RotationReminder,
                NotificationType::RotationCompleted
            ]
        );
    }
    let reminder = messages
        .iter()
        .find(|m| m.kind == NotificationType::RotationReminder)
        .unwrap();
    assert_eq!(reminder.deadline, Some(start.plus_seconds(3 * 86_400)));
    assert!(
        reminder.old_prefix.is_some()
            && reminder.new_prefix.is_some()
            && reminder.rotation_id.is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_and_lost_races_are_retried() {
    let w = world().await;
    let start = epoch().plus_seconds(10);
    w.seed(3, start, 600).await;
    w.clock.set(start);
    w.faults
        .throttle_commits
        .store(2, std::sync::atomic::Ordering::SeqCst);
    w.faults
        .conflict_commits
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let report = w.run().await;
    assert_eq!((report.started, report.failed), (3, 0), "{report:?}");
}

/// A rotation whose guarded write is refused on every run is retried, quietly at
/// first; an hour after it fell due every run reports it stuck (an alert with an
/// alarm), and it advances as soon as the write can pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guard_that_never_passes_is_reported_stuck_after_an_hour() {
    use std::sync::atomic::Ordering;
    let w = world().await;
    let start = epoch().plus_seconds(10);
    w.seed(1, start, 600).await;
    w.faults.refuse_every_commit.store(true, Ordering::SeqCst);
    w.clock.set(start);
    let report = w.run().await;
    assert_eq!((report.started, report.failed, report.stuck), (0, 1, 0));
    w.clock.set(start.plus_seconds(3599));
    assert_eq!(w.run().await.stuck, 0, "not an hour yet");
    w.clock.set(start.plus_seconds(3600));
    let report = w.run().await;
    assert_eq!((report.failed, report.stuck), (1, 1), "{report:?}");
    w.faults.refuse_every_commit.store(false, Ordering::SeqCst);
    let report = w.run().await;
    assert_eq!((report.started, report.failed, report.stuck), (1, 0, 0));
}

/// completeWhenUnusedSeconds on a simulated clock: the rotation completes once the new
/// secret is in use and the old one has been quiet for an hour — not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_completes_early_once_clients_have_moved() {
    let w = world().await;
    let (key, old) = issue(&w, Default::default()).await;
    let scheduled = w
        .keyroll
        .schedule_rotation(
            &key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3 * 86_400),
                complete_when_unused_seconds: Some(3600),
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let new = scheduled.returned_secret().expose().to_owned();
    let rotation = scheduled.rotation.id;
    let start = w.keyroll.now();

    // Clients still use the old secret ten minutes in; nobody uses the new one yet.
    w.clock.set(start.plus_seconds(600));
    assert!(w.keyroll.verify(&old).await.unwrap().is_valid());
    w.clock.set(start.plus_seconds(3600));
    assert_eq!(w.run().await.completed, 0, "the new secret is unused");
    // The clients move.
    w.clock.set(start.plus_seconds(3660));
    assert!(w.keyroll.verify(&new).await.unwrap().is_valid());
    // Next check: a quarter of the hour after the last one.
    w.clock.set(start.plus_seconds(3600 + 899));
    assert_eq!(w.run().await.completed, 0, "not due yet");
    w.clock.set(start.plus_seconds(3600 + 900));
    assert_eq!(
        w.run().await.completed,
        1,
        "old quiet since +10 min, new in use"
    );
    let done = w.keyroll.rotation(&rotation).await.unwrap();
    assert_eq!(done.status, RotationStatus::Completed);
    assert!(done.completed_at.unwrap() < done.grace_ends_at, "early");
    assert_eq!(w.keyroll.verify(&old).await.unwrap().code(), "REVOKED");
    assert!(w.keyroll.verify(&new).await.unwrap().is_valid());

    let messages = w.inbox.take().await;
    let completed = find(&messages, NotificationType::RotationCompleted);
    assert!(
        completed
            .reason
            .as_ref()
            .unwrap()
            .to_string()
            .starts_with("completed early"),
        "{completed:?}"
    );
    assert_eq!(
        completed.old_secret_last_used_at,
        Some(start.plus_seconds(600))
    );
    assert!(completed.old_secret_used_in_last_24h, "used 65 min before");
    let trail = w.keyroll.audit_trail(&key).await.unwrap();
    assert!(trail.report.valid);
}

/// A usage check that finds nothing to do yet records no event, but it is still a
/// write: a change planned on the key before it (here, a stale copy of the rotation's
/// last check) is refused rather than silently undoing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_planned_before_a_usage_check_is_refused() {
    use keyroll_core::audit::{AuditAction, Happened};
    use keyroll_core::change::ChangeBuilder;
    use keyroll_core::store::StoreError;

    let w = world().await;
    let (key, _old) = issue(&w, Default::default()).await;
    w.keyroll
        .schedule_rotation(
            &key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3 * 86_400),
                complete_when_unused_seconds: Some(3600),
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let start = w.keyroll.now();
    w.clock.set(start.plus_seconds(3600));
    let stale = w.store.key(&key).await.unwrap().unwrap();
    let revision = stale.revision;
    let report = w.run().await;
    assert_eq!((report.completed, report.failed), (0, 0), "{report:?}");
    let checked = w.store.key(&key).await.unwrap().unwrap();
    assert_eq!(checked.revision, revision, "no event");
    assert_eq!(checked.writes, stale.writes + 1, "but a write");
    let mut change = ChangeBuilder::update(stale);
    change.record(Happened::new(
        w.keyroll.now(),
        &w.actor(),
        AuditAction::KeyExpiryWarned,
    ));
    assert_eq!(
        w.store.commit(change.finish()).await,
        Err(StoreError::Conflict)
    );
}

/// autoExtend on an embedded key: an hour before the grace ends, the old secret is still
/// in use, so the grace moves by the step (7 days); with no more use it then ends on
/// time. The customer hears of the extension and of the reminder's usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_grace_extends_while_the_old_secret_is_in_use() {
    let w = world().await;
    let (key, old) = issue(&w, keyroll_core::key::KeyClass::Embedded).await;
    let scheduled = w
        .keyroll
        .schedule_rotation(
            &key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(2 * 86_400),
                auto_extend: true,
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let rotation = scheduled.rotation.id;
    let first_end = scheduled.rotation.grace_ends_at;

    // The app still ships the old secret: used two hours before the end.
    w.clock.set(first_end.minus_seconds(2 * 3600));
    assert!(w.keyroll.verify(&old).await.unwrap().is_valid());
    w.clock.set(first_end.minus_seconds(3600));
    let report = w.run().await;
    assert_eq!((report.extended, report.completed), (1, 0));
    let extended = w.keyroll.rotation(&rotation).await.unwrap();
    let second_end = first_end.plus_seconds(7 * 86_400);
    assert_eq!(extended.grace_ends_at, second_end);
    w.clock.set(first_end.plus_seconds(60));
    assert!(
        w.keyroll.verify(&old).await.unwrap().is_valid(),
        "past the first end"
    );

    // The reminder of the new deadline tells whether the old secret is still used.
    w.clock.set(second_end.minus_seconds(86_400));
    assert_eq!(w.run().await.reminded, 1);
    // No more use: no second extension; the grace ends on time.
    w.clock.set(second_end.minus_seconds(3600));
    let report = w.run().await;
    assert_eq!((report.extended, report.completed), (0, 0));
    w.clock.set(second_end);
    assert_eq!(w.run().await.completed, 1);
    assert_eq!(w.keyroll.verify(&old).await.unwrap().code(), "REVOKED");

    let messages = w.inbox.take().await;
    let notice = find(&messages, NotificationType::RotationExtended);
    assert_eq!(notice.deadline, Some(second_end));
    assert!(notice.old_secret_used_in_last_24h);
    let reminder = find(&messages, NotificationType::RotationReminder);
    assert!(
        !reminder.old_secret_used_in_last_24h,
        "last used 6 days before the reminder"
    );
    let trail = w.keyroll.audit_trail(&key).await.unwrap();
    assert!(trail.report.valid);
    let automatic = trail
        .events
        .iter()
        .find(|e| e.action == keyroll_core::audit::AuditAction::RotationExtended)
        .expect("audited");
    assert_eq!(automatic.actor.to_string(), "keyroll:processor");
}

/// A reminder names the callers still on the old secret (network, User-Agent product),
/// not those that moved; its email says where to look.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reminder_names_the_callers_that_have_not_moved() {
    use keyroll_core::callers::{CallerFingerprint, CallerHints};
    let w = world().await;
    let (key, old) = issue(&w, keyroll_core::key::KeyClass::Server).await;
    let caller = |n: u8, agent: &str| {
        CallerFingerprint::of(&CallerHints {
            ip: Some(format!("203.0.{n}.9")),
            user_agent: Some(agent.to_owned()),
            ..Default::default()
        })
    };
    let (mover, straggler) = (caller(1, "api-server/3.0"), caller(2, "billing-cron/1.4"));
    for who in [&mover, &straggler] {
        assert!(w
            .keyroll
            .verify_by(&old, Some(who.clone()))
            .await
            .unwrap()
            .is_valid());
        w.clock.advance(60);
    }
    let rotated = w
        .keyroll
        .schedule_rotation(
            &key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3 * 86_400),
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let new = rotated.returned_secret().expose().to_owned();
    w.clock.advance(60);
    assert!(w
        .keyroll
        .verify_by(&new, Some(mover.clone()))
        .await
        .unwrap()
        .is_valid());
    w.clock
        .set(rotated.rotation.grace_ends_at.minus_seconds(86_400));
    assert_eq!(w.run().await.reminded, 1);
    let messages = w.inbox.take().await;
    let reminder = find(&messages, NotificationType::RotationReminder);
    assert_eq!(reminder.callers_not_moved, vec![straggler]);
    let email = keyroll_core::email::render(reminder, w.keyroll.now());
    assert!(
        email
            .text
            .contains("Still calling with the old secret: billing-cron/1.4 from 203.0.2.0/24."),
        "{}",
        email.text
    );
}
