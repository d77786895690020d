//! Verification and last use.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn legacy_key_verifies_by_hash() {
    let f = fixture().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_rejects_malformed_and_unknown() {
    let f = fixture().await;
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

/// 1,000 verifications of one secret inside a minute cause one write; the uses counted
/// meanwhile are added by the next minute's write, so the day's count is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_use_is_written_at_most_once_a_minute() {
    let f = fixture().await;
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
/// the other is refused by its condition (in one request: the refusal returns the
/// record) and its uses are added a minute later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn use_counts_from_several_containers_add_up() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let secret = issued.secret.expose().to_owned();
    let hash = LookupHash::of(&secret);
    let second = f.another_container();
    let before = f.write_count();
    for _ in 0..5 {
        assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
        assert!(second.verify(&secret).await.unwrap().is_valid());
    }
    assert_eq!(
        f.write_count() - before,
        2,
        "one write per container; the refused one costs one request, not a second try"
    );
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

/// Imports of one secret racing each other: exactly one key is made, every other call
/// is told it is a duplicate (never "duplicate" with nothing imported), and the secret
/// verifies as that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_imports_of_one_secret_make_exactly_one_key() {
    let f = fixture().await;
    let secret = format!("sk_live_{}", "fedcba9876543210".repeat(4));
    let legacy = LegacyKey {
        id: None,
        revoked: false,
        key: new_key(KeyClass::Server),
        lookup_hash: LookupHash::of(&secret),
        visible_prefix: "fedcba98".into(),
        created_at: Timestamp::parse("2024-05-01T00:00:00Z").unwrap(),
    };
    let actor = f.actor();
    let calls = (0..8).map(|_| f.keyroll.import_legacy_key(legacy.clone(), &actor));
    let outcomes: Vec<_> = join_all(calls).await;
    let imported: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(imported.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(error) = outcome {
            assert!(
                matches!(error, Error::Conflict(Conflict::AlreadyImported)),
                "{error:?}"
            );
        }
    }
    match f.keyroll.verify(&secret).await.unwrap() {
        Verification::Valid(record) => assert_eq!(record.key_id, imported[0].id),
        other => panic!("{other:?}"),
    }
}
