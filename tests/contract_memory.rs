//! The store contract against the embedded in-memory store.

keyroll_tests::contract_suite!(keyroll_tests::fixture::memory);

/// In-memory only: tampering with the stored trail is reported by the audit check.
#[tokio::test]
async fn tampered_audit_trail_is_reported() {
    use keyroll_core::audit::ChainProblem;
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
                immediate: true,
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
