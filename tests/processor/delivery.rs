//! Notifications through the outbox, and held secrets, through outages and crashes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_outage_delays_but_never_loses_a_message() {
    let w = world().await;
    let start = epoch().plus_seconds(10);
    w.seed(4, start, 600).await;
    w.clock.set(start);
    let report = process_due(
        &w.keyroll,
        Some(w.broken_queue.as_ref()),
        ProcessorOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.started, report.notified),
        (4, 0),
        "state changes commit while the queue is down"
    );
    assert!(w.inbox.take().await.is_empty());
    let report = w.run().await;
    assert_eq!(
        report.notified, 8,
        "4 scheduled + 4 started, delivered once the queue is back"
    );
    assert_eq!(w.run().await.notified, 0);
    let messages = w.inbox.take().await;
    assert_unique(&messages);
    assert_eq!(messages.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_between_delivery_and_removal_delivers_once() {
    let w = world().await;
    let start = epoch().plus_seconds(10);
    w.seed(2, start, 600).await;
    w.faults
        .fail_outbox_removals
        .store(1, std::sync::atomic::Ordering::SeqCst);
    // The run delivers, then "dies" before it can remove the outbox entries.
    assert!(process_due(
        &w.keyroll,
        Some(w.queue.as_ref()),
        ProcessorOptions::default()
    )
    .await
    .is_err());
    // The next run delivers them again; the queue's deduplication drops the copies.
    w.run().await;
    assert_eq!(w.run().await.notified, 0, "the outbox is empty now");
    let messages = w.inbox.take().await;
    assert_unique(&messages);
    assert_eq!(messages.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_after_commit_before_delivery_is_finished_later() {
    let w = world().await;
    let start = epoch().plus_seconds(10);
    let keys = w.seed(2, start, 600).await;
    w.clock.set(start);
    // The change commits; the process "dies" before its outbox is delivered.
    for key in &keys {
        let rotation = w.keyroll.rotations_of(key).await.unwrap().remove(0);
        assert!(
            w.keyroll
                .advance_rotation(&rotation.id)
                .await
                .unwrap()
                .started
        );
    }
    let report = w.run().await;
    assert_eq!((report.started, report.notified), (0, 4));
    let messages = w.inbox.take().await;
    assert_unique(&messages);
    assert_eq!(messages.len(), 4);
}

async fn policy_rotation(w: &World) -> (KeyId, keyroll_core::rotation::Rotation) {
    let (key_id, _) = issue(w, Default::default()).await;
    let issued_rotation = w
        .keyroll
        .schedule_rotation(
            &key_id,
            RotationRequest {
                trigger: ScheduleTrigger::Policy,
                ..Default::default()
            },
            &Actor::system("scanner"),
        )
        .await
        .unwrap();
    (key_id, issued_rotation.rotation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_secret_is_revealed_once_then_gone() {
    let w = world().await;
    let (_, rotation) = policy_rotation(&w).await;
    let name = rotation.vault_secret.clone().expect("held in the vault");
    assert!(w.vault.get(&name).await.unwrap().is_some());

    let (revealed, secret) = w
        .keyroll
        .reveal_secret(&rotation.id, &w.actor())
        .await
        .unwrap();
    assert!(revealed.revealed_at.is_some());
    assert!(w.keyroll.verify(secret.expose()).await.unwrap().is_valid());
    assert!(
        w.vault.get(&name).await.unwrap().is_none(),
        "deleted at reveal"
    );

    let again = w
        .keyroll
        .reveal_secret(&rotation.id, &w.actor())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), keyroll_core::ErrorKind::Gone);
    w.run().await; // the outbox's delete finds nothing left: still fine
    assert!(w.vault.get(&name).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_secret_is_deleted_when_the_rotation_ends() {
    let w = world().await;
    let (_, rotation) = policy_rotation(&w).await;
    let name = rotation.vault_secret.clone().unwrap();
    w.keyroll
        .cancel_rotation(&rotation.id, None, &w.actor())
        .await
        .unwrap();
    assert!(
        w.vault.get(&name).await.unwrap().is_some(),
        "deleted by the processor, after the commit"
    );
    w.run().await;
    assert!(w.vault.get(&name).await.unwrap().is_none());
    assert_eq!(
        w.keyroll
            .reveal_secret(&rotation.id, &w.actor())
            .await
            .unwrap_err()
            .kind(),
        keyroll_core::ErrorKind::Gone
    );
}

/// "It committed, then the call failed": the rotation is found by re-reading and
/// reported created, and its held secret is never deleted — the sweep an hour later
/// keeps it too, since its rotation exists — so the key's owner can still reveal it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_commit_answer_never_deletes_the_held_secret() {
    use std::sync::atomic::Ordering;
    let w = world().await;
    let (key_id, _) = issue(&w, Default::default()).await;
    w.faults.fail_after_commit.store(1, Ordering::SeqCst);
    let rotation = w
        .keyroll
        .schedule_rotation(
            &key_id,
            RotationRequest {
                trigger: ScheduleTrigger::Policy,
                ..Default::default()
            },
            &Actor::system("scanner"),
        )
        .await
        .expect("committed: found by re-reading")
        .rotation;
    assert_eq!(
        w.faults.fail_after_commit.load(Ordering::SeqCst),
        0,
        "the fault fired"
    );
    let name = rotation.vault_secret.clone().expect("held in the vault");
    assert!(w.vault.get(&name).await.unwrap().is_some());
    w.clock.set(w.keyroll.now().plus_seconds(2 * 3600));
    assert_eq!(w.run().await.orphaned_secrets_deleted, 0);
    assert!(
        w.vault.get(&name).await.unwrap().is_some(),
        "kept by the sweep"
    );
    let (_, secret) = w
        .keyroll
        .reveal_secret(&rotation.id, &w.actor())
        .await
        .expect("the owner still gets the new secret");
    assert!(w.keyroll.verify(secret.expose()).await.unwrap().is_valid());
}

/// A commit that failed without committing leaves its held secret for the sweep,
/// which deletes it once an hour has passed with no rotation for it — not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_secret_whose_rotation_never_committed_is_swept_after_an_hour() {
    use keyroll_core::held::ORPHAN_AFTER_SECONDS;
    use keyroll_core::time::Timestamp;
    use std::sync::atomic::Ordering;
    let w = world().await;
    let (key_id, _) = issue(&w, Default::default()).await;
    let held_at = w.keyroll.now();
    w.faults.throttle_commits.store(1, Ordering::SeqCst);
    let failed = w
        .keyroll
        .schedule_rotation(
            &key_id,
            RotationRequest {
                trigger: ScheduleTrigger::Policy,
                ..Default::default()
            },
            &Actor::system("scanner"),
        )
        .await;
    assert!(failed.is_err(), "the commit failed");
    let markers = w.store.held_markers(Timestamp::MAX, 10).await.unwrap();
    assert_eq!(markers.len(), 1);
    let name = markers[0].vault_secret.clone();
    assert!(
        w.vault.get(&name).await.unwrap().is_some(),
        "not deleted on the spot"
    );

    w.clock.set(held_at.plus_seconds(ORPHAN_AFTER_SECONDS - 1));
    assert_eq!(
        w.run().await.orphaned_secrets_deleted,
        0,
        "too soon to be sure"
    );
    assert!(w.vault.get(&name).await.unwrap().is_some());
    w.clock.set(held_at.plus_seconds(ORPHAN_AFTER_SECONDS + 1));
    assert_eq!(w.run().await.orphaned_secrets_deleted, 1);
    assert!(w.vault.get(&name).await.unwrap().is_none());
    assert!(w
        .store
        .held_markers(Timestamp::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(w.run().await.orphaned_secrets_deleted, 0, "once");
}
