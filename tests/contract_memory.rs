//! The store contract against the embedded in-memory store.

keyroll_tests::contract_suite!(keyroll_tests::fixture::memory);

/// In-memory only: tampering with the stored trail is reported by the audit check.
#[tokio::test]
async fn tampered_audit_trail_is_reported() {
    use keyroll_core::audit::ChainProblem;
    use keyroll_core::service::Start;
    use keyroll_core::store::memory::MemoryStore;
    use keyroll_core::time::ManualClock;
    use std::sync::Arc;

    let store = Arc::new(MemoryStore::new());
    let keyroll = keyroll_core::service::Keyroll::new(
        store.clone(),
        Arc::new(ManualClock::new(keyroll_tests::fixture::epoch())),
        Arc::new(keyroll_tests::fixture::test_config()),
    );
    let actor = keyroll_core::ids::Actor::parse("alice").unwrap();
    let issued = keyroll
        .issue_key(
            keyroll_core::service::NewKey {
                organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
                name: keyroll_core::ids::KeyName::parse("k").unwrap(),
                scopes: vec![],
                rate_limit: 1,
                class: Default::default(),
            },
            &actor,
        )
        .await
        .unwrap();
    keyroll
        .schedule_rotation(
            &issued.key.id,
            keyroll_core::service::RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &actor,
        )
        .await
        .unwrap();
    assert!(
        keyroll
            .audit_trail(&issued.key.id)
            .await
            .unwrap()
            .report
            .valid
    );
    store.tamper_audit(&issued.key.id, |events| {
        events.remove(1);
    });
    let report = keyroll.audit_trail(&issued.key.id).await.unwrap().report;
    assert!(!report.valid);
    assert_eq!(
        report.first_broken.unwrap().problem,
        ChainProblem::SequenceGap {
            expected: 2,
            found: 3
        }
    );
}

/// A use write that fails (DynamoDB unreachable for it) never fails the verification;
/// the uses are written with the next minute's write.
#[tokio::test]
async fn a_failed_use_write_never_fails_verification() {
    use keyroll_core::secret::LookupHash;
    use keyroll_core::store::memory::MemoryStore;
    use keyroll_core::store::Store;
    use keyroll_core::time::ManualClock;
    use keyroll_tests::faults::{Faults, FaultyStore};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let memory = Arc::new(MemoryStore::new());
    let faults = Arc::new(Faults::default());
    let store = Arc::new(FaultyStore {
        inner: memory.clone(),
        faults: faults.clone(),
    });
    let clock = ManualClock::new(keyroll_tests::fixture::epoch());
    let keyroll = keyroll_core::service::Keyroll::new(
        store,
        Arc::new(clock.clone()),
        Arc::new(keyroll_tests::fixture::test_config()),
    );
    let issued = keyroll
        .issue_key(
            keyroll_core::service::NewKey {
                organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
                name: keyroll_core::ids::KeyName::parse("k").unwrap(),
                scopes: vec![],
                rate_limit: 1,
                class: Default::default(),
            },
            &keyroll_core::ids::Actor::parse("alice").unwrap(),
        )
        .await
        .unwrap();
    let secret = issued.secret.expose().to_owned();
    faults.fail_use_writes.store(1, Ordering::SeqCst);
    for _ in 0..3 {
        assert!(keyroll.verify(&secret).await.unwrap().is_valid());
    }
    let record = memory
        .secret(&LookupHash::of(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.last_used_at, None, "the write failed");
    clock.advance(60);
    assert!(keyroll.verify(&secret).await.unwrap().is_valid());
    let record = memory
        .secret(&LookupHash::of(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&4), "no use lost");
}
