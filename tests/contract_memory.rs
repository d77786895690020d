//! The store contract against the embedded in-memory store.

use keyroll_tests::fixture::memory as fixture;

#[path = "contract/mod.rs"]
mod contract;

/// A server key of organisation `org`, for the in-memory-only tests below.
async fn issue_plain_key(f: &keyroll_tests::fixture::Fixture) -> keyroll_core::ids::KeyId {
    f.keyroll
        .issue_key(
            keyroll_core::service::NewKey {
                organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
                name: keyroll_core::ids::KeyName::parse("k").unwrap(),
                scopes: vec![],
                rate_limit: 1,
                class: Default::default(),
                expires_at: None,
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .key
        .id
}

/// In-memory only: an edit anywhere in the chain shows on every page, either order
/// (each page checks the whole chain, streamed).
#[tokio::test]
async fn an_edit_anywhere_in_the_chain_shows_on_every_page() {
    use keyroll_core::audit::AuditOrder;
    use keyroll_core::service::AuditPageRequest;

    let f = fixture().await;
    let memory = f.memory.clone().expect("the memory fixture");
    let key = issue_plain_key(&f).await;
    f.schedule_and_cancel(&key, 3).await;
    memory.tamper_audit(&key, |events| {
        events[1].reason = Some(keyroll_core::ids::Reason::parse("nothing to see").unwrap())
    });
    for order in [AuditOrder::OldestFirst, AuditOrder::NewestFirst] {
        let page = f
            .keyroll
            .audit_page(
                &key,
                AuditPageRequest {
                    order,
                    after: None,
                    limit: 1,
                },
            )
            .await
            .unwrap();
        assert!(!page.report.valid, "{order:?}");
        assert_eq!(page.report.first_broken.unwrap().seq, 2, "{order:?}");
        assert_eq!(page.events.len(), 1);
    }
}

/// In-memory only: tampering with the stored trail is reported by the audit check.
#[tokio::test]
async fn tampered_audit_trail_is_reported() {
    use keyroll_core::audit::ChainProblem;
    use keyroll_core::service::Start;
    use keyroll_core::testing::TestKeyroll;

    let wired = TestKeyroll::new().build();
    let (keyroll, store) = (wired.keyroll, wired.memory.unwrap());
    let actor = keyroll_core::ids::Actor::parse("alice").unwrap();
    let issued = keyroll
        .issue_key(
            keyroll_core::service::NewKey {
                organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
                name: keyroll_core::ids::KeyName::parse("k").unwrap(),
                scopes: vec![],
                rate_limit: 1,
                class: Default::default(),
                expires_at: None,
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
    use keyroll_tests::faults::{Faults, FaultyStore};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let memory = Arc::new(MemoryStore::new());
    let faults = Arc::new(Faults::default());
    let store = Arc::new(FaultyStore {
        inner: memory.clone(),
        faults: faults.clone(),
    });
    let wired = keyroll_core::testing::TestKeyroll::new()
        .store(store)
        .build();
    let (keyroll, clock) = (wired.keyroll, wired.clock);
    let issued = keyroll
        .issue_key(
            keyroll_core::service::NewKey {
                organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
                name: keyroll_core::ids::KeyName::parse("k").unwrap(),
                scopes: vec![],
                rate_limit: 1,
                class: Default::default(),
                expires_at: None,
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

/// No `Debug` output of any domain value that travels near a secret shows the
/// secret, its body, or its verifier.
#[tokio::test]
async fn debug_output_of_domain_types_never_shows_a_secret() {
    use keyroll_core::ids::{Actor, KeyName, OrganizationId, Reason, Scope};
    use keyroll_core::key::{KeyClass, SecretRecord};
    use keyroll_core::secret::LookupHash;
    use keyroll_core::service::{
        EmergencyRequest, EmergencySource, NewKey, RotationRequest, Start,
    };

    let wired = keyroll_core::testing::TestKeyroll::with_defaults().build();
    let (keyroll, store) = (wired.keyroll, wired.store);
    let actor = Actor::parse("alice").unwrap();
    let issued = keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org").unwrap(),
                name: KeyName::parse("k").unwrap(),
                scopes: vec![Scope::parse("read").unwrap()],
                rate_limit: 5,
                class: KeyClass::Server,
                expires_at: None,
            },
            &actor,
        )
        .await
        .unwrap();
    let rotated = keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &actor,
        )
        .await
        .unwrap();
    let emergency = keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("leak").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &actor,
        )
        .await
        .unwrap();
    let secrets = [
        issued.secret.expose(),
        rotated.handout.returned().unwrap().expose(),
        emergency.handout.returned().unwrap().expose(),
    ];
    let records: Vec<SecretRecord> = {
        let mut out = Vec::new();
        for s in secrets {
            out.push(store.secret(&LookupHash::of(s)).await.unwrap().unwrap());
        }
        out
    };
    let key = store.key(&issued.key.id).await.unwrap().unwrap();
    let events = store
        .audit_events(
            &issued.key.id,
            None,
            keyroll_core::audit::AuditOrder::OldestFirst,
            usize::MAX,
        )
        .await
        .unwrap();
    let verification = keyroll
        .verify(emergency.handout.returned().unwrap().expose())
        .await
        .unwrap();
    let printed = [
        format!("{issued:?}"),
        format!("{rotated:?}"),
        format!("{emergency:?}"),
        format!("{key:?}"),
        format!("{records:?}"),
        format!("{events:?}"),
        format!("{:?}", serde_json::to_string(&events).unwrap()),
        format!("{verification:?}"),
    ];
    for text in &printed {
        for secret in secrets {
            // The body after the display prefix is what must never appear.
            let body = &secret[16..];
            assert!(!text.contains(body), "secret body in: {text}");
        }
        for record in &records {
            if let Some(verifier) = &record.verifier {
                assert!(!text.contains(verifier.as_phc()), "verifier in: {text}");
            }
        }
    }
}

/// In-memory: a chain whose edited event and later hashes and head are all recomputed
/// (what table write access allows) fails on the head's keyed MAC.
#[tokio::test]
async fn a_chain_recomputed_without_the_mac_key_is_detected() {
    use keyroll_core::audit::{AuditOrder, ChainProblem};
    let f = fixture().await;
    let memory = f.memory.clone().unwrap();
    let key = issue_plain_key(&f).await;
    f.schedule_and_cancel(&key, 2).await;
    assert!(
        f.keyroll
            .audit_trail(&key)
            .await
            .unwrap()
            .report
            .authenticated
    );
    let mut head = None;
    memory.tamper_audit(&key, |events| {
        events[1].reason = Some(keyroll_core::ids::Reason::parse("nothing to see").unwrap());
        let mut prev = events[0].hash;
        for event in events.iter_mut().skip(1) {
            event.prev_hash = prev;
            event.hash = event.compute_hash();
            prev = event.hash;
        }
        head = Some(prev);
    });
    memory.tamper_key(&key, |k| k.audit_head = head);
    let events = f
        .store
        .audit_events(&key, None, AuditOrder::OldestFirst, 100)
        .await
        .unwrap();
    assert!(keyroll_core::audit::verify_chain(&key, &events, None).valid);
    let report = f.keyroll.audit_trail(&key).await.unwrap().report;
    assert!(!report.valid, "{report:?}");
    assert_eq!(
        report.first_broken.unwrap().problem,
        ChainProblem::HeadNotAuthentic
    );
}

/// In-memory: stripping the head's MAC (to pass the chain off as one from before
/// authentication) is itself detected, since MACs are required by default.
#[tokio::test]
async fn a_chain_stripped_of_its_mac_is_not_valid() {
    use keyroll_core::audit::ChainProblem;
    let f = fixture().await;
    let memory = f.memory.clone().unwrap();
    let key = issue_plain_key(&f).await;
    memory.tamper_key(&key, |k| k.audit_head_mac = None);
    let report = f.keyroll.audit_trail(&key).await.unwrap().report;
    assert!(!report.valid && !report.authenticated, "{report:?}");
    assert_eq!(
        report.first_broken.unwrap().problem,
        ChainProblem::HeadNotAuthentic
    );
}
