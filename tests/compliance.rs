//! The compliance scan over the in-memory adapters and over DynamoDB Local + moto.

use keyroll_core::ids::{KeyId, KeyName, OrganizationId};
use keyroll_core::key::KeyClass;
use keyroll_core::notification::NotificationType;
use keyroll_core::rotation::RotationTrigger;
use keyroll_core::scan::{scan, ScanOptions};
use keyroll_core::service::NewKey;
use keyroll_core::time::Timestamp;
use keyroll_tests::processor::World;

const DAY: u64 = 86_400;

fn today() -> Timestamp {
    Timestamp::parse("2026-06-01T12:00:00Z").unwrap()
}

/// Issues a key whose secret is `age_days` old today.
async fn key_aged(w: &World, age_days: u64, class: KeyClass) -> KeyId {
    w.clock.set(today().minus_seconds(age_days * DAY));
    let issued = w
        .keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org_acme").unwrap(),
                name: KeyName::parse(&format!("{age_days} days")).unwrap(),
                scopes: vec![],
                rate_limit: 10,
                class,
                expires_at: None,
            },
            &w.actor(),
        )
        .await
        .unwrap();
    w.clock.set(today());
    issued.key.id
}

async fn scan_schedules_exactly_the_overdue_keys_once(w: World) {
    let mut keys = std::collections::BTreeMap::new();
    for age in [10, 89, 90, 91, 1000] {
        keys.insert(
            format!("server-{age}"),
            key_aged(&w, age, KeyClass::Server).await,
        );
    }
    for age in [91, 200] {
        keys.insert(
            format!("embedded-{age}"),
            key_aged(&w, age, KeyClass::Embedded).await,
        );
    }
    w.run().await; // nothing due; drains nothing of note

    let report = scan(&w.keyroll, ScanOptions::default()).await.unwrap();
    assert_eq!(
        report.scheduled, 3,
        "server 91 and 1000 days, embedded 200 days: {report:?}"
    );
    assert_eq!(
        report.warned, 2,
        "server 89 and 90 days are within 14 days of 90"
    );
    // By hand: 7 active; 3 over their maximum, each now with a rotation in progress.
    assert_eq!(report.snapshot.active_keys, 7);
    assert_eq!(report.snapshot.in_progress, 3);
    assert_eq!(report.snapshot.non_compliant, 0);
    assert_eq!(report.snapshot.compliant, 4);
    assert_eq!(report.snapshot.coverage_percent, 100.0);
    assert_eq!(report.snapshot.date, "2026-06-01");

    for (name, grace) in [
        ("server-91", 72 * 3600),
        ("server-1000", 72 * 3600),
        ("embedded-200", 30 * DAY),
    ] {
        let rotations = w.keyroll.rotations_of(&keys[name]).await.unwrap();
        assert_eq!(rotations.len(), 1, "{name}");
        let rotation = &rotations[0];
        assert_eq!(rotation.trigger, RotationTrigger::Policy);
        assert!(
            rotation.reason.as_str().contains("days old"),
            "{}",
            rotation.reason
        );
        assert_eq!(
            rotation.grace_ends_at.seconds_since(rotation.scheduled_at),
            grace as i64,
            "{name}"
        );
        assert!(
            rotation.vault_secret.is_some(),
            "the new secret waits for its reveal"
        );
    }
    for name in ["server-10", "server-89", "server-90", "embedded-91"] {
        assert!(
            w.keyroll
                .rotations_of(&keys[name])
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }

    // The same day again: nothing new.
    let again = scan(&w.keyroll, ScanOptions::default()).await.unwrap();
    assert_eq!((again.scheduled, again.warned), (0, 0));
    assert_eq!(again.snapshot, report.snapshot);
    assert_eq!(
        w.keyroll.compliance_history(10).await.unwrap(),
        vec![report.snapshot.clone()]
    );

    w.run().await;
    let messages = w.inbox.take().await;
    let expiring: Vec<_> = messages
        .iter()
        .filter(|m| m.kind == NotificationType::KeyExpiring)
        .collect();
    assert_eq!(expiring.len(), 2);
    let warned_90 = expiring
        .iter()
        .find(|m| m.key_id == keys["server-90"])
        .unwrap();
    assert_eq!(warned_90.deadline, Some(today()), "90 days after creation");
    let scheduled = messages
        .iter()
        .filter(|m| m.kind == NotificationType::RotationScheduled)
        .count();
    assert_eq!(scheduled, 3);
    for key in keys.values() {
        assert!(w.keyroll.audit_trail(key).await.unwrap().report.valid);
    }
}

mod memory {
    #[tokio::test]
    async fn scan_schedules_exactly_the_overdue_keys_once() {
        super::scan_schedules_exactly_the_overdue_keys_once(
            keyroll_tests::processor::memory_world().await,
        )
        .await;
    }
}

mod aws {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn scan_schedules_exactly_the_overdue_keys_once() {
        super::scan_schedules_exactly_the_overdue_keys_once(
            keyroll_tests::processor::aws_world().await,
        )
        .await;
    }

    /// The scan's reads grow with the old keys, not with the table: 10 overdue keys
    /// cost the same whether 100 or 10,000 compliant keys sit beside them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn scan_cost_grows_with_overdue_keys_not_the_table() {
        let mut costs = Vec::new();
        for compliant in [100usize, 10_000] {
            let w = keyroll_tests::processor::dynamodb_world_with_memory_queue().await;
            let dynamo = w.dynamo.clone().unwrap();
            for _ in 0..10 {
                key_aged(&w, 120, KeyClass::Server).await;
            }
            let young: Vec<_> = (0..compliant)
                .map(|i| {
                    keyroll_tests::fixture::bulk_key(
                        i,
                        today().minus_seconds((i as u64 % 60) * DAY),
                    )
                })
                .collect();
            keyroll_tests::fixture::bulk_load(&dynamo, &young).await;
            let reads = dynamo.read_count();
            let report = scan(&w.keyroll, ScanOptions::default()).await.unwrap();
            assert_eq!(report.scheduled, 10);
            assert_eq!(report.snapshot.active_keys, 10 + compliant as u64);
            assert_eq!(report.snapshot.in_progress, 10);
            costs.push(dynamo.read_count() - reads);
        }
        // Per overdue key: read the key, then scheduling reads it again (2 reads); one
        // age-index query per class and shard (8); settling, one query per class and
        // unsettled range (6), the counters (1) and a COUNT per class and shard (8:
        // every key is stamped, so no walk); the figures, the counters and the same 6
        // ranges. Counting 10,000 index entries takes one COUNT request more per shard
        // page at most.
        assert_eq!(costs[0], 10 * 2 + 8 + 6 + 1 + 8 + 1 + 6, "{costs:?}");
        assert!(
            costs[1] <= costs[0] + 8,
            "reads barely depend on the compliant keys: {costs:?}"
        );
    }

    fn active(counts: &keyroll_core::compliance::ComplianceCounts) -> u64 {
        keyroll_core::compliance::KeyComplianceStatus::ALL
            .iter()
            .map(|status| counts.of_status(*status))
            .sum()
    }

    /// Offboarding an organisation of 2,500 keys on DynamoDB Local: every key revoked,
    /// the totals lower by exactly 2,500, the other organisation's 500 keys untouched,
    /// in a few calls; the requests it costs are two per key (read it, commit its
    /// revocation) and a few index queries, whatever else the table holds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn offboarding_2500_keys_costs_what_the_organisation_holds() {
        use keyroll_core::ids::Reason;
        use keyroll_core::key::SecretStage;
        const LEAVING: usize = 2_500;
        let w = keyroll_tests::processor::dynamodb_world_with_memory_queue().await;
        let dynamo = w.dynamo.clone().unwrap();
        let staying = OrganizationId::parse("org_staying").unwrap();
        let keys: Vec<_> = (0..LEAVING + 500)
            .map(|i| {
                let (mut key, mut record) = keyroll_tests::fixture::bulk_key(i, today());
                if i >= LEAVING {
                    key.organization_id = staying.clone();
                    record.organization_id = staying.clone();
                }
                (key, record)
            })
            .collect();
        keyroll_tests::fixture::bulk_load(&dynamo, &keys).await;
        // Keys bulk-loaded for scale have no audit chain (no creating change wrote
        // one), which keyroll accepts only with authenticated chains not required.
        let w = keyroll_tests::processor::World {
            keyroll: std::sync::Arc::new(
                keyroll_core::testing::TestKeyroll::new()
                    .store(dynamo.clone())
                    .setting("KEYROLL_AUDIT_MAC_REQUIRED", "false")
                    .build()
                    .keyroll,
            ),
            ..w
        };
        let leaving = keys[0].0.organization_id.clone();
        let store = &w.store;
        let all_before = active(&store.compliance_counts(None).await.unwrap());
        assert_eq!(all_before, (LEAVING + 500) as u64);

        let requests = dynamo.request_count();
        let (mut calls, mut revoked) = (0, 0);
        loop {
            calls += 1;
            let stop_at = std::time::Instant::now() + std::time::Duration::from_secs(25);
            let done = w
                .keyroll
                .revoke_organization_keys(
                    &leaving,
                    Reason::parse("contract ended").unwrap(),
                    stop_at,
                    &w.actor(),
                )
                .await
                .unwrap();
            revoked += done.revoked;
            if done.remaining == 0 {
                break;
            }
            assert!(calls < 10, "offboarding does not progress: {done:?}");
        }
        let cost = dynamo.request_count() - requests;
        assert_eq!(revoked, LEAVING as u64);
        assert!(calls <= 3, "{calls} calls");
        assert!(
            (2 * LEAVING as u64..=2 * LEAVING as u64 + 50 * calls).contains(&cost),
            "two requests per key and a few queries per call: {cost} in {calls} calls"
        );
        assert_eq!(
            active(&store.compliance_counts(None).await.unwrap()),
            all_before - LEAVING as u64
        );
        assert_eq!(
            active(&store.compliance_counts(Some(&staying)).await.unwrap()),
            500
        );
        for (key, record) in keys.iter().step_by(100) {
            let stored = store.secret(&record.lookup_hash).await.unwrap().unwrap();
            let expected = if key.organization_id == leaving {
                SecretStage::Revoked
            } else {
                SecretStage::Current
            };
            assert_eq!(stored.stage, expected, "{}", key.id);
        }
    }
}
