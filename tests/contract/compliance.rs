//! The compliance read model: totals kept by every change, report pages read from the
//! index, cursors that hold while keys change.

use std::collections::BTreeSet;

use keyroll_core::compliance::{overdue_before, ComplianceFigures, KeyCompliance};
use keyroll_core::ids::{KeyId, OrganizationId};
use keyroll_core::service::{ComplianceCursor, ComplianceFilter};

use super::*;

const DAY: u64 = 86_400;

/// The figures worked out from every key's own state: what the counters must say.
async fn recount(f: &Fixture, keys: &[KeyId], org: Option<&str>) -> ComplianceFigures {
    let now = f.clock_now();
    let policy = f.keyroll.config().policy;
    let mut figures = ComplianceFigures::default();
    for id in keys {
        let key = f.store.key(id).await.unwrap().unwrap();
        if org.is_some_and(|o| key.organization_id.as_str() != o) {
            continue;
        }
        let active = match &key.active_rotation {
            Some(id) => f.store.rotation(id).await.unwrap(),
            None => None,
        };
        let threshold = overdue_before(&policy, key.class, now);
        let Some(row) = KeyCompliance::of(&key, active.as_ref(), threshold, now) else {
            continue;
        };
        figures.active += 1;
        use keyroll_core::compliance::KeyComplianceStatus as S;
        match row.status {
            S::Compliant => figures.compliant += 1,
            S::RotationInProgress => figures.in_progress += 1,
            S::RotationBlocked => {
                figures.in_progress += 1;
                figures.blocked += 1;
            }
            S::Overdue => figures.overdue += 1,
        }
    }
    figures
}

async fn assert_totals(f: &Fixture, keys: &[KeyId], step: &str) -> ComplianceFigures {
    let figures = f.keyroll.compliance_figures(None).await.unwrap();
    assert_eq!(figures, recount(f, keys, None).await, "all, after {step}");
    for org in ["org_acme", "org_globex"] {
        let org_id = OrganizationId::parse(org).unwrap();
        assert_eq!(
            f.keyroll.compliance_figures(Some(&org_id)).await.unwrap(),
            recount(f, keys, Some(org)).await,
            "{org}, after {step}"
        );
    }
    figures
}

async fn issue_in(f: &Fixture, org: &str, class: KeyClass) -> KeyId {
    let mut request = new_key(class);
    request.organization_id = OrganizationId::parse(org).unwrap();
    f.keyroll
        .issue_key(request, &f.actor())
        .await
        .unwrap()
        .key
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_totals_are_right_after_every_kind_of_change() {
    let f = fixture().await;
    let mut keys = vec![
        issue_in(&f, "org_acme", KeyClass::Server).await,
        issue_in(&f, "org_acme", KeyClass::Embedded).await,
        issue_in(&f, "org_globex", KeyClass::Server).await,
    ];
    let figures = assert_totals(&f, &keys, "issue").await;
    assert_eq!((figures.active, figures.compliant), (3, 3));

    // Imports: one active and 200 days old, one revoked (not counted).
    for (revoked, n) in [(false, 1u8), (true, 2)] {
        let key = f
            .keyroll
            .import_legacy_key(
                LegacyKey {
                    id: None,
                    revoked,
                    key: new_key(KeyClass::Server),
                    lookup_hash: LookupHash::of(&format!("sk_live_legacy_{n}")),
                    visible_prefix: format!("0000000{n}"),
                    created_at: epoch().minus_seconds(200 * DAY),
                },
                &f.actor(),
            )
            .await
            .unwrap();
        keys.push(key.id);
    }
    let figures = assert_totals(&f, &keys, "import").await;
    assert_eq!((figures.active, figures.overdue), (4, 1));

    // Time alone: 100 days on, the server keys are past 90 days, the embedded one
    // (180) is not — before any scan has run.
    f.clock.advance(100 * DAY);
    let figures = assert_totals(&f, &keys, "100 days").await;
    assert_eq!((figures.compliant, figures.overdue), (1, 3));

    let scheduled = f
        .keyroll
        .schedule_rotation(&keys[0], RotationRequest::default(), &f.actor())
        .await
        .unwrap();
    let figures = assert_totals(&f, &keys, "schedule").await;
    assert_eq!((figures.in_progress, figures.overdue), (1, 2));

    f.keyroll
        .cancel_rotation(&scheduled.rotation.id, None, &f.actor())
        .await
        .unwrap();
    assert_totals(&f, &keys, "cancel").await;

    f.keyroll
        .emergency_rotation(
            &keys[2],
            EmergencyRequest {
                reason: Reason::parse("pasted in a ticket").unwrap(),
                grace_seconds: Some(3600),
                source: EmergencySource::Operator,
            },
            &f.actor(),
        )
        .await
        .unwrap();
    // Its new secret is current at once: compliant, though the rotation is open.
    let figures = assert_totals(&f, &keys, "emergency").await;
    assert_eq!((figures.compliant, figures.overdue), (2, 2));

    // The daily scan rotates the overdue keys and settles what time moved: the
    // counters alone then agree with the keys.
    let report = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert_eq!(report.scheduled, 2, "{report:?}");
    let figures = assert_totals(&f, &keys, "scan").await;
    assert_eq!((figures.in_progress, figures.overdue), (2, 0));
    assert_eq!(report.snapshot.in_progress, 2);

    // Completing renews the secret: compliant again.
    let rotation = f
        .keyroll
        .key(&keys[2])
        .await
        .unwrap()
        .active_rotation
        .unwrap();
    f.keyroll
        .complete_rotation(&rotation, None, &f.actor())
        .await
        .unwrap();
    let figures = assert_totals(&f, &keys, "complete").await;
    assert_eq!((figures.compliant, figures.in_progress), (2, 2));

    // A key still stamped compliant whose rotation stays open past the maximum age is
    // settled by the next scan: in progress, by the counters alone.
    f.clock.advance(90 * DAY);
    assert_totals(&f, &keys, "another 90 days").await;
    let report = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert!(report.settled + report.scheduled >= 1, "{report:?}");
    let figures = assert_totals(&f, &keys, "second scan").await;
    let counted = keyroll_core::compliance::ComplianceFigures::of(
        &f.store.compliance_counts(None).await.unwrap(),
    );
    assert_eq!(
        counted, figures,
        "after a scan the counters need no correction"
    );
}

async fn seed(f: &Fixture, rows: Vec<(keyroll_core::key::Key, keyroll_core::key::SecretRecord)>) {
    match (&f.dynamo, &f.memory) {
        (Some(dynamo), _) => keyroll_tests::fixture::bulk_load(dynamo, &rows).await,
        (None, Some(memory)) => memory.bulk_load_for_benchmarks(&rows),
        _ => unreachable!("every fixture has a store"),
    }
}

/// A page costs its size in items read, whatever the table holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_page_reads_the_same_at_1000_and_at_10000_keys() {
    let f = fixture().await;
    let now = f.clock_now();
    let load = |from: usize, to: usize| {
        (from..to)
            .map(|i| {
                // One in ten past the 90-day maximum, the rest within 60 days.
                let age = if i % 10 == 0 { 120 + (i % 50) } else { i % 60 };
                keyroll_tests::fixture::bulk_key(i, now.minus_seconds(age as u64 * DAY))
            })
            .collect::<Vec<_>>()
    };

    let overdue = ComplianceFilter {
        status: Some(keyroll_core::compliance::KeyComplianceStatus::Overdue),
        ..Default::default()
    };
    let mut costs = Vec::new();
    for (from, to) in [(0, 1_000), (1_000, 10_000)] {
        seed(&f, load(from, to)).await;
        let before = f.dynamo.as_ref().map(|d| (d.read_count(), d.items_read()));
        let first = f.keyroll.compliance_page(&overdue, None, 50).await.unwrap();
        let second = f
            .keyroll
            .compliance_page(&overdue, first.next.as_ref(), 50)
            .await
            .unwrap();
        let all = f
            .keyroll
            .compliance_page(&ComplianceFilter::default(), None, 50)
            .await
            .unwrap();
        assert_eq!(
            (first.rows.len(), second.rows.len(), all.rows.len()),
            (50, 50, 50)
        );
        assert!(first.rows.iter().all(|r| r.age_days >= 120));
        let ages: Vec<u64> = first.rows.iter().map(|r| r.age_days).collect();
        assert!(
            ages.windows(2).all(|w| w[0] >= w[1]),
            "oldest first: {ages:?}"
        );
        assert_eq!(all.rows[0].age_days, 160, "the oldest key of all leads");
        if let (Some(dynamo), Some((requests, items))) = (&f.dynamo, before) {
            costs.push((dynamo.read_count() - requests, dynamo.items_read() - items));
        }
        let figures = f.keyroll.compliance_figures(None).await.unwrap();
        assert_eq!(figures.active, to as u64);
        assert_eq!(figures.overdue, to as u64 / 10);
    }
    if let [small, large] = costs[..] {
        // Each page: one query per index range (4, 4 and 8), and a few more where one
        // range holds most of the page.
        assert!(
            large.0.abs_diff(small.0) <= 2,
            "about the same requests: {costs:?}"
        );
        assert!(large.0 <= 16 + 8, "{costs:?}");
        let (low, high) = (small.1.min(large.1), small.1.max(large.1));
        assert!(high - low <= 50, "the same items, ± a page: {costs:?}");
        assert!(
            small.1 <= 3 * 50 + 4 * 8,
            "about the pages' size: {costs:?}"
        );
    }
}

/// Paging while keys are issued, rotated, renewed and cancelled between pages: no key
/// is listed twice, and every key that was there throughout and not renewed is
/// listed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_cursors_never_skip_or_repeat_a_key_while_keys_change() {
    let f = fixture().await;
    let mut keys = Vec::new();
    for i in 0..24u64 {
        f.clock.set(epoch().plus_seconds(i * 7 * DAY));
        keys.push(issue_in(&f, "org_acme", KeyClass::Server).await);
    }
    f.clock.set(epoch().plus_seconds(200 * DAY));
    // Scheduled before the report: its new secret is created now, made current later.
    let pending = f
        .keyroll
        .schedule_rotation(&keys[2], RotationRequest::default(), &f.actor())
        .await
        .unwrap()
        .rotation;
    let mut seen: Vec<String> = Vec::new();
    let mut renewed: BTreeSet<String> = BTreeSet::new();
    let mut cursor: Option<ComplianceCursor> = None;
    let mut page_number = 0;
    loop {
        let page = f
            .keyroll
            .compliance_page(&ComplianceFilter::default(), cursor.as_ref(), 5)
            .await
            .unwrap();
        seen.extend(page.rows.iter().map(|r| r.key_id.clone()));
        f.clock.advance(60);
        match page_number {
            // One already listed is renewed (its secret now the newest of all)...
            0 => {
                let listed = &keys[0];
                let rotation = f
                    .keyroll
                    .schedule_rotation(
                        listed,
                        RotationRequest {
                            start: Start::Now,
                            ..Default::default()
                        },
                        &f.actor(),
                    )
                    .await
                    .unwrap();
                f.keyroll
                    .complete_rotation(&rotation.rotation.id, None, &f.actor())
                    .await
                    .unwrap();
                renewed.insert(listed.to_string());
            }
            // ...one not yet listed starts a rotation (changes status, keeps its place),
            // another is issued, one listed has its rotation cancelled, and one listed
            // has its scheduled rotation started (its secret, created before the
            // report, is current now).
            1 => {
                f.clock.set(pending.scheduled_at.max(f.clock_now()));
                let started = f.keyroll.advance_rotation(&pending.id).await.unwrap();
                assert!(started.started, "{started:?}");
                f.keyroll
                    .schedule_rotation(&keys[20], RotationRequest::default(), &f.actor())
                    .await
                    .unwrap();
                issue_in(&f, "org_acme", KeyClass::Server).await;
                let rotation = f
                    .keyroll
                    .schedule_rotation(&keys[1], RotationRequest::default(), &f.actor())
                    .await
                    .unwrap();
                f.keyroll
                    .cancel_rotation(&rotation.rotation.id, None, &f.actor())
                    .await
                    .unwrap();
            }
            _ => {}
        }
        page_number += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no key twice: {seen:?}");
    for key in &keys {
        assert!(
            seen.contains(&key.to_string()) || renewed.contains(&key.to_string()),
            "{key} was there throughout and was skipped"
        );
    }
    assert!(
        seen.contains(&keys[0].to_string()),
        "listed before it was renewed"
    );
    // The report is oldest first, so the cursor's position is what was listed.
    assert_eq!(seen.len(), keys.len());
}

/// Bad cursors are refused, never guessed at.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_cursor_is_parsed_strictly() {
    for bad in [
        "",
        "key_x",
        "a.b.c",
        "2026-01-01T00:00:00Z.2026-01-01T00:00:00Z.bad id",
    ] {
        assert!(ComplianceCursor::parse(bad).is_err(), "{bad:?} accepted");
    }
    let f = fixture().await;
    let key = issue(&f).await.key;
    let first = f
        .keyroll
        .compliance_page(&ComplianceFilter::default(), None, 1)
        .await
        .unwrap();
    assert_eq!(first.rows[0].key_id, key.id.to_string());
    assert!(first.next.is_none(), "one key, one page");
}

/// A re-stamp writes no event, so it is ordered against other changes by the stamp
/// itself: a change planned on the key before it is refused, and re-planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_planned_before_a_re_stamp_is_refused() {
    let f = fixture().await;
    let key = issue_in(&f, "org_acme", KeyClass::Server).await;
    f.clock.advance(100 * DAY);
    let stale = f.store.key(&key).await.unwrap().unwrap();
    assert!(
        f.keyroll.settle_compliance(&key).await.unwrap(),
        "crossed: re-stamped"
    );
    assert!(!f.keyroll.settle_compliance(&key).await.unwrap(), "once");
    let mut change = ChangeBuilder::update(stale);
    change.record(Happened::new(
        f.clock_now(),
        &f.actor(),
        AuditAction::KeyExpiryWarned,
    ));
    assert_eq!(
        f.store.commit(change.finish()).await,
        Err(StoreError::Conflict)
    );
    assert_totals(&f, &[key], "a refused stale change").await;
}

/// Keys written before the read model (no stamp) are counted and listed once the next
/// scan has stamped them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_written_before_the_read_model_are_stamped_by_the_next_scan() {
    let f = fixture().await;
    let now = f.clock_now();
    let legacy: Vec<_> = (0..30)
        .map(|i| {
            let (mut key, record) =
                keyroll_tests::fixture::bulk_key(i, now.minus_seconds((i as u64 % 60) * DAY));
            key.compliance = None;
            (key, record)
        })
        .collect();
    let ids: Vec<KeyId> = legacy.iter().map(|(k, _)| k.id.clone()).collect();
    seed(&f, legacy).await;
    assert_eq!(f.keyroll.compliance_figures(None).await.unwrap().active, 0);
    let report = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert_eq!(report.settled, 30, "{report:?}");
    assert_eq!(report.snapshot.active_keys, 30);
    let figures = f.keyroll.compliance_figures(None).await.unwrap();
    assert_eq!(figures, recount(&f, &ids, None).await);
    let again = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert_eq!(again.settled, 0, "stamped once");
}

/// The 90-day rule's back door, closed: a rotation scheduled to start after the
/// secret's deadline does not cover it. Up to the deadline the key is compliant; from
/// then on the report and the totals say overdue (the processor re-stamps it at that
/// instant), and the scan starts the rotation now, keeping its new secret and grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_scheduled_after_the_deadline_does_not_cover_the_key() {
    use keyroll_core::compliance::KeyComplianceStatus as S;
    use keyroll_core::processor::{process_due, ProcessorOptions};
    use keyroll_core::rotation::RotationStatus;
    use keyroll_core::service::{RotationRequest, Start};

    let f = fixture().await;
    let key = issue_in(&f, "org_acme", KeyClass::Server).await;
    let covered = issue_in(&f, "org_acme", KeyClass::Server).await;
    let keys = [key.clone(), covered.clone()];
    let issued = f.clock_now();
    let deadline = issued.plus_seconds(90 * DAY);
    let far = issued.plus_seconds(3650 * DAY);
    async fn schedule(f: &Fixture, id: &KeyId, at: Timestamp) -> keyroll_core::rotation::Rotation {
        let request = RotationRequest {
            start: Start::At(at),
            grace_seconds: Some(3600),
            ..Default::default()
        };
        f.keyroll
            .schedule_rotation(id, request, &f.actor())
            .await
            .unwrap()
            .rotation
    }
    async fn status_of(f: &Fixture, id: &KeyId) -> Option<S> {
        f.keyroll
            .compliance_page(&ComplianceFilter::default(), None, 100)
            .await
            .unwrap()
            .rows
            .into_iter()
            .find(|row| row.key_id == id.as_str())
            .map(|row| row.status)
    }
    let late = schedule(&f, &key, far).await;
    assert_eq!(
        late.uncovered_from,
        Some(deadline.plus_seconds(1)),
        "said when it is scheduled"
    );
    // Scheduled later, to start before the deadline: its new secret is 10 days old then.
    f.clock.set(issued.plus_seconds(80 * DAY));
    let in_time = schedule(&f, &covered, deadline.minus_seconds(DAY)).await;
    assert_eq!(in_time.uncovered_from, None);

    f.clock.set(deadline.minus_seconds(1));
    process_due(&f.keyroll, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!(status_of(&f, &key).await, Some(S::Compliant));
    assert_totals(&f, &keys, "before the deadline").await;

    // At the deadline the late rotation stops covering the key.
    f.clock.set(deadline.plus_seconds(60));
    process_due(&f.keyroll, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!(status_of(&f, &key).await, Some(S::Overdue));
    assert_eq!(
        status_of(&f, &covered).await,
        Some(S::Compliant),
        "started in time: its new secret is current"
    );
    let figures = assert_totals(&f, &keys, "the deadline").await;
    assert_eq!((figures.overdue, figures.compliant), (1, 1));

    // The scan starts it now, with its grace and new secret.
    let now = f.clock_now();
    let report = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert_eq!(
        (report.started_late, report.scheduled),
        (1, 0),
        "{report:?}"
    );
    let started = f.store.rotation(&late.id).await.unwrap().unwrap();
    assert_eq!(started.status, RotationStatus::GracePeriod);
    assert_eq!(started.grace_ends_at, now.plus_seconds(3600));
    assert_eq!(
        f.store
            .key(&key)
            .await
            .unwrap()
            .unwrap()
            .current()
            .unwrap()
            .version,
        2,
        "the new secret it was scheduled with"
    );
    assert_totals(&f, &keys, "the scan").await;
    let again = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert_eq!(again.started_late, 0, "once");
}
