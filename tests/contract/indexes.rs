//! The due and age indexes the processor and the scan read.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_index_returns_only_due_rotations_in_pages() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn age_index_returns_only_old_active_keys() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_processors_advance_each_rotation_once() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organisations_keys_are_listed_in_pages_and_no_other_organisations() {
    let f = fixture().await;
    let acme = OrganizationId::parse("org_acme").unwrap();
    let globex = OrganizationId::parse("org_globex").unwrap();
    let mut expected = Vec::new();
    for _ in 0..5 {
        expected.push(issue(&f).await.key.id);
    }
    for _ in 0..2 {
        let other = NewKey {
            organization_id: globex.clone(),
            ..new_key(KeyClass::Server)
        };
        f.keyroll.issue_key(other, &f.actor()).await.unwrap();
    }
    let rotated = f
        .keyroll
        .schedule_rotation(&expected[1], RotationRequest::default(), &f.actor())
        .await
        .unwrap();
    let rotating = expected[1].clone();
    expected.sort();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = f.store.keys_of(&acme, after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().cloned());
        if page.len() < 2 {
            break;
        }
        after = page.last().cloned();
    }
    assert_eq!(
        seen, expected,
        "every key of the organisation once, in id order"
    );

    // The service's page: each key with its rotation in progress, and the reads it
    // costs follow the page (one query, one read per key, two per rotation: its
    // pointer and its item).
    let reads_before = f.dynamo.as_ref().map(|d| d.read_count());
    let first = f.keyroll.organization_keys(&acme, None, 3).await.unwrap();
    if let (Some(dynamo), Some(before)) = (&f.dynamo, reads_before) {
        let rotations = first.keys.iter().filter(|k| k.rotation.is_some()).count() as u64;
        assert_eq!(dynamo.read_count() - before, 1 + 3 + 2 * rotations);
    }
    assert_eq!(first.next.as_ref(), Some(&expected[2]));
    let rest = f
        .keyroll
        .organization_keys(&acme, first.next.as_ref(), 3)
        .await
        .unwrap();
    assert_eq!(rest.keys.len(), 2);
    assert_eq!(rest.next, None, "the last page");
    let page = first.keys;
    assert_eq!(
        page.iter().map(|k| k.key.id.clone()).collect::<Vec<_>>(),
        expected[..3]
    );
    for owned in &page {
        let expected_rotation = (owned.key.id == rotating).then(|| rotated.rotation.id.clone());
        assert_eq!(
            owned.rotation.as_ref().map(|r| r.id.clone()),
            expected_rotation
        );
    }
    assert!(f
        .keyroll
        .organization_keys(&OrganizationId::parse("org_nobody").unwrap(), None, 10)
        .await
        .unwrap()
        .keys
        .is_empty());

    // Another organisation's key answers exactly like an unknown one.
    let foreign = f
        .keyroll
        .owned_key(&globex, &expected[0])
        .await
        .unwrap_err();
    let unknown = f
        .keyroll
        .owned_key(
            &globex,
            &keyroll_core::ids::KeyId::parse("key_unknown").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(foreign.kind(), unknown.kind());
    assert!(matches!(foreign, Error::NotFound { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotations_in_progress_page_in_due_order_at_a_cost_that_follows_the_page() {
    let f = fixture().await;
    let mut expected = Vec::new();
    for i in 0..11u64 {
        let issued = issue(&f).await;
        let rotation = f
            .keyroll
            .schedule_rotation(
                &issued.key.id,
                RotationRequest {
                    start: Start::At(epoch().plus_seconds(1000 + i)),
                    grace_seconds: Some(60),
                    ..Default::default()
                },
                &f.actor(),
            )
            .await
            .unwrap()
            .rotation;
        expected.push(rotation.id);
    }
    // First page: in due order, and what it reads does not depend on the other pages.
    let reads = f.dynamo.as_ref().map(|d| d.read_count());
    let (page, next) = f.keyroll.rotations_in_progress(None, 4).await.unwrap();
    if let (Some(dynamo), Some(before)) = (&f.dynamo, reads) {
        // 4 shard queries; per rotation its pointer and item, its key, two secrets.
        assert_eq!(dynamo.read_count() - before, INDEX_SHARDS as u64 + 4 * 5);
    }
    let ids = |page: &[(keyroll_core::rotation::Rotation, keyroll_core::key::Key)]| {
        page.iter().map(|(r, _)| r.id.clone()).collect::<Vec<_>>()
    };
    let mut seen = ids(&page);
    assert_eq!(seen, expected[..4]);
    // Between pages one rotation ends and a new one, due last, begins: the rest of
    // the list holds every remaining rotation once, nothing skipped or repeated.
    f.keyroll
        .cancel_rotation(&expected[6], None, &f.actor())
        .await
        .unwrap();
    let late = issue(&f).await;
    let added = f
        .keyroll
        .schedule_rotation(
            &late.key.id,
            RotationRequest {
                start: Start::At(epoch().plus_seconds(5000)),
                grace_seconds: Some(60),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .rotation;
    let mut after = next;
    while let Some(cursor) = after {
        let (page, next) = f
            .keyroll
            .rotations_in_progress(Some(&cursor), 4)
            .await
            .unwrap();
        assert!(page.len() <= 4);
        seen.extend(ids(&page));
        after = next;
    }
    let mut wanted: Vec<_> = expected
        .iter()
        .filter(|id| **id != expected[6])
        .cloned()
        .collect();
    wanted.push(added.id);
    assert_eq!(seen, wanted);
}
