//! The store port's guards: a change applies only to the state it was planned on,
//! entirely or not at all.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issued_key_round_trips() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_revision_is_refused_and_changes_nothing() {
    let f = fixture().await;
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
    let events_before = f
        .store
        .audit_events(
            &key.id,
            None,
            keyroll_core::audit::AuditOrder::OldestFirst,
            usize::MAX,
        )
        .await
        .unwrap();

    // A change planned on the old revision must be refused as a whole.
    let mut stale = ChangeBuilder::update(key.clone());
    stale.key_mut().versions[0].stage = SecretStage::Revoked;
    stale.record(Happened::new(
        epoch(),
        &f.actor(),
        AuditAction::RotationCompleted,
    ));
    assert_eq!(
        f.store.commit(stale.finish()).await,
        Err(StoreError::Conflict)
    );

    assert_eq!(f.store.key(&key.id).await.unwrap().unwrap(), after_winner);
    assert_eq!(
        f.store
            .audit_events(
                &key.id,
                None,
                keyroll_core::audit::AuditOrder::OldestFirst,
                usize::MAX
            )
            .await
            .unwrap(),
        events_before
    );
    assert_eq!(
        code(&f, issued.secret.expose()).await,
        "VALID",
        "the secret record was not touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creating_an_existing_key_is_refused() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let mut again = ChangeBuilder::create(issued.key.clone());
    again.record(Happened::new(epoch(), &f.actor(), AuditAction::KeyCreated));
    assert_eq!(
        f.store.commit(again.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        f.store.key(&issued.key.id).await.unwrap().unwrap(),
        issued.key
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_status_guard_is_enforced() {
    let f = fixture().await;
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
    change.record(Happened::new(
        epoch(),
        &f.actor(),
        AuditAction::RotationCompleted,
    ));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_secret_record_is_refused() {
    let f = fixture().await;
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
    change.record(Happened::new(
        epoch(),
        &f.actor(),
        AuditAction::RotationScheduled,
    ));
    assert_eq!(
        f.store.commit(change.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(f.store.key(&key.id).await.unwrap().unwrap(), key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_raw_commits_have_exactly_one_winner() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    let changes = (0..8).map(|i| {
        let mut change = ChangeBuilder::update(key.clone());
        change.key_mut().rate_limit = 2000 + i;
        change.record(Happened {
            before: serde_json::json!({"i": i}),
            ..Happened::new(epoch(), &f.actor(), AuditAction::RotationExtended)
        });
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
    let events = f
        .store
        .audit_events(
            &key.id,
            None,
            keyroll_core::audit::AuditOrder::OldestFirst,
            usize::MAX,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    // Raw store commits carry no head MAC (the service adds it): the hashes alone hold.
    let stored = f.store.key(&key.id).await.unwrap().unwrap();
    let head = keyroll_core::audit::ChainHead {
        last_seq: stored.revision,
        hash: stored.audit_head,
    };
    assert!(keyroll_core::audit::verify_chain(&key.id, &events, Some(head)).valid);
}

/// Held-secret markers: listed oldest first, only those held before the bound, up to
/// the limit; removing one (even twice) leaves the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_markers_list_the_oldest_first_and_are_removed_one_by_one() {
    use keyroll_core::held::HeldMarker;
    let f = fixture().await;
    let now = f.clock_now();
    let markers: Vec<HeldMarker> = (0..3u64)
        .map(|i| HeldMarker {
            held_at: now.plus_seconds(i * 60),
            rotation_id: RotationId::generate(),
            vault_secret: format!("keyroll/held-{i}"),
        })
        .collect();
    for marker in markers.iter().rev() {
        f.store.put_held_marker(marker).await.unwrap();
    }
    let older = f
        .store
        .held_markers(now.plus_seconds(120), 10)
        .await
        .unwrap();
    assert_eq!(
        older,
        markers[..2].to_vec(),
        "before the bound, oldest first"
    );
    let first = f
        .store
        .held_markers(now.plus_seconds(3600), 1)
        .await
        .unwrap();
    assert_eq!(first, markers[..1].to_vec(), "the limit");
    f.store.remove_held_marker(&markers[0]).await.unwrap();
    f.store.remove_held_marker(&markers[0]).await.unwrap();
    let left = f
        .store
        .held_markers(now.plus_seconds(3600), 10)
        .await
        .unwrap();
    assert_eq!(left, markers[1..].to_vec());
}

/// An outbox entry is never overwritten: a change whose entry lands where one waits is
/// refused as a whole, so no notification or clean-up is lost silently.
#[tokio::test]
async fn an_outbox_entry_is_never_overwritten() {
    use keyroll_core::notification::OutboxMessage;
    let f = fixture().await;
    let issued = issue(&f).await;
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    let mut first = ChangeBuilder::update(key);
    first.enqueue(
        epoch(),
        OutboxMessage::DeleteVaultSecret {
            name: "keyroll/first".into(),
        },
    );
    f.store.commit(first.finish()).await.unwrap();
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    let mut second = ChangeBuilder::update(key.clone());
    second.enqueue(
        epoch(),
        OutboxMessage::DeleteVaultSecret {
            name: "keyroll/second".into(),
        },
    );
    assert_eq!(
        f.store.commit(second.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(f.store.key(&issued.key.id).await.unwrap().unwrap(), key);
    let shard = keyroll_core::store::shard_of(issued.key.id.as_str());
    let waiting = f.store.outbox(shard, None, 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        waiting[0].message,
        OutboxMessage::DeleteVaultSecret {
            name: "keyroll/first".into()
        }
    );
}
