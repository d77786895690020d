//! The audit trail in pages: both orders, a cursor, events that hold what changed, and
//! the whole chain checked on every page, streamed.

use keyroll_core::audit::AuditOrder;
use keyroll_core::service::{AuditPageRequest, CHAIN_READ};

use super::*;

/// Schedules and cancels `cycles` rotations of a new key: 1 + 2 × cycles events.
async fn key_with_history(f: &Fixture, cycles: usize) -> keyroll_core::ids::KeyId {
    let key = issue(f).await.key.id;
    f.schedule_and_cancel(&key, cycles).await;
    key
}

async fn all_pages(f: &Fixture, key: &keyroll_core::ids::KeyId, order: AuditOrder) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut after = None;
    loop {
        let page = f
            .keyroll
            .audit_page(
                key,
                AuditPageRequest {
                    order,
                    after,
                    limit: 50,
                },
            )
            .await
            .unwrap();
        assert!(page.report.valid, "{:?}", page.report);
        assert_eq!(page.report.events, 211, "every page checks the whole chain");
        assert!(page.events.len() <= 50);
        seqs.extend(page.events.iter().map(|e| e.seq));
        match page.next {
            Some(next) => after = Some(next),
            None => return seqs,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_audit_trail_pages_both_ways_and_each_page_checks_the_whole_chain() {
    let f = fixture().await;
    let key = key_with_history(&f, 105).await; // 211 events: two reads of the chain
    const { assert!(211 > CHAIN_READ) };
    assert_eq!(
        all_pages(&f, &key, AuditOrder::OldestFirst).await,
        (1..=211).collect::<Vec<_>>()
    );
    assert_eq!(
        all_pages(&f, &key, AuditOrder::NewestFirst).await,
        (1..=211).rev().collect::<Vec<_>>()
    );

    // A page costs the key, the chain in reads of 200, and (newest first) its own query.
    if let Some(dynamo) = &f.dynamo {
        for (order, expected) in [
            (AuditOrder::OldestFirst, 1 + 2),
            (AuditOrder::NewestFirst, 1 + 2 + 1),
        ] {
            let before = dynamo.read_count();
            f.keyroll
                .audit_page(
                    &key,
                    AuditPageRequest {
                        order,
                        after: None,
                        limit: 50,
                    },
                )
                .await
                .unwrap();
            assert_eq!(dynamo.read_count() - before, expected, "{order:?}");
        }
    }

    // Each event holds what changed: the 105th schedule is no bigger than the first,
    // though the key then has 106 versions.
    let trail = f.keyroll.audit_trail(&key).await.unwrap();
    let size = |seq: usize| {
        serde_json::to_string(&trail.events[seq - 1].after)
            .unwrap()
            .len()
    };
    assert_eq!(trail.events[1].action, AuditAction::RotationScheduled);
    assert_eq!(trail.events[209].action, AuditAction::RotationScheduled);
    assert!(size(210) <= size(2) + 16, "{} vs {}", size(210), size(2));
    let versions = &trail.events[209].after["key"]["versions"];
    assert!(versions.as_array().unwrap().len() <= 2, "{versions}");
}

/// A key's chain is authenticated from its first event: a new key's and an imported
/// one's (their creation writes no other change to carry the MAC later).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_and_imported_keys_have_authenticated_chains() {
    use keyroll_core::secret::LookupHash;
    use keyroll_core::service::LegacyKey;
    use keyroll_core::time::Timestamp;
    let f = fixture().await;
    let issued = issue(&f).await.key.id;
    let secret = format!("sk_live_{}", "0a1b2c3d4e5f6789".repeat(4));
    let imported = f
        .keyroll
        .import_legacy_key(
            LegacyKey {
                id: None,
                revoked: false,
                key: new_key(KeyClass::Server),
                lookup_hash: LookupHash::of(&secret),
                visible_prefix: "0a1b2c3d".into(),
                created_at: Timestamp::parse("2025-11-01T00:00:00Z").unwrap(),
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .id;
    for key in [issued, imported] {
        let report = f.keyroll.audit_trail(&key).await.unwrap().report;
        assert!(report.valid && report.authenticated, "{key}: {report:?}");
        assert_eq!(report.events, 1);
    }
}
