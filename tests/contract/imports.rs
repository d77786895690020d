//! An import's rows, many to a transaction: the totals moved once per batch, a re-run
//! importing nothing twice, a row repeating an earlier one a duplicate, and a batch
//! applied entirely or not at all.

use super::*;
use keyroll_core::key::Key;
use keyroll_core::plan::{plan_import, Act};
use keyroll_core::store::MAX_KEY_CREATIONS;

/// Row `n`'s secret in the old system.
fn legacy_secret(n: usize) -> String {
    format!("sk_live_{:064x}", 0xb0_0000 + n)
}

/// Row `n` of an old system's table, of organisation `org_<n % organisations>`.
fn legacy_row(n: usize, organisations: usize) -> LegacyKey {
    let mut key = new_key(KeyClass::Server);
    key.organization_id =
        OrganizationId::parse(&format!("org_import_{}", n % organisations)).unwrap();
    LegacyKey {
        id: None,
        revoked: false,
        key,
        lookup_hash: LookupHash::of(&legacy_secret(n)),
        visible_prefix: format!("{:08x}", n),
        created_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    }
}

fn imported(outcomes: &[Result<Key, Error>]) -> usize {
    outcomes.iter().filter(|o| o.is_ok()).count()
}

fn duplicates(outcomes: &[Result<Key, Error>]) -> Vec<usize> {
    outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Err(Error::Conflict(Conflict::AlreadyImported))))
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_writes_its_rows_many_to_a_transaction_with_the_totals_moved_once() {
    let f = fixture().await;
    let rows = 3 * MAX_KEY_CREATIONS + 5;
    let before = f.transaction_count();
    let outcomes = f
        .keyroll
        .import_legacy_keys((0..rows).map(|n| legacy_row(n, 3)).collect(), &f.actor())
        .await;
    assert_eq!(imported(&outcomes), rows, "{outcomes:?}");
    assert_eq!(
        f.transaction_count() - before,
        4,
        "{rows} rows in batches of {MAX_KEY_CREATIONS}: one transaction each"
    );
    assert_eq!(
        f.keyroll.compliance_figures(None).await.unwrap().active,
        rows as u64
    );
    let org = OrganizationId::parse("org_import_1").unwrap();
    let of_one = f.keyroll.compliance_figures(Some(&org)).await.unwrap();
    assert_eq!(
        of_one.active,
        (0..rows).filter(|n| n % 3 == 1).count() as u64
    );
    // In row order; each secret verifies as its own key, with an authenticated chain.
    for (n, outcome) in outcomes.iter().enumerate() {
        let key = outcome.as_ref().unwrap();
        assert_eq!(
            key.organization_id.as_str(),
            format!("org_import_{}", n % 3)
        );
        match f.keyroll.verify(&legacy_secret(n)).await.unwrap() {
            Verification::Valid(record) => assert_eq!(record.key_id, key.id),
            other => panic!("row {n}: {other:?}"),
        }
    }
    let first = &outcomes[0].as_ref().unwrap().id;
    let report = f.keyroll.audit_trail(first).await.unwrap().report;
    assert!(report.valid && report.authenticated, "{report:?}");
}

/// A re-run (after a timeout, say) imports only what is new: the rows there already
/// are duplicates, in their places, and the totals count each key once. A refused
/// batch reads which rows exist and sends the rest again together, not one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rerun_imports_nothing_twice() {
    let f = fixture().await;
    let first = f
        .keyroll
        .import_legacy_keys((0..30).map(|n| legacy_row(n, 2)).collect(), &f.actor())
        .await;
    assert_eq!(imported(&first), 30);
    let before = f.transaction_count();
    let again = f
        .keyroll
        .import_legacy_keys((0..40).map(|n| legacy_row(n, 2)).collect(), &f.actor())
        .await;
    assert_eq!(duplicates(&again), (0..30).collect::<Vec<_>>(), "{again:?}");
    assert_eq!(imported(&again), 10);
    assert_eq!(
        f.transaction_count() - before,
        3,
        "rows 0-23: refused once, all found; rows 24-39: refused, the 10 new sent again"
    );
    assert_eq!(f.keyroll.compliance_figures(None).await.unwrap().active, 40);
}

/// A row repeating an earlier row's secret or id is a duplicate of it, whichever batch
/// each falls in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_repeating_an_earlier_one_is_its_duplicate() {
    let f = fixture().await;
    let mut rows: Vec<_> = (0..MAX_KEY_CREATIONS + 3)
        .map(|n| legacy_row(n, 1))
        .collect();
    let mut same_secret = legacy_row(2, 1);
    same_secret.visible_prefix = "abcdef01".into();
    rows.push(same_secret);
    let mut same_id = legacy_row(900, 1);
    same_id.id = Some(keyroll_core::ids::KeyId::parse("key_old_system_7").unwrap());
    let mut first_with_id = legacy_row(901, 1);
    first_with_id.id = same_id.id.clone();
    rows.insert(1, first_with_id);
    rows.push(same_id);
    let outcomes = f.keyroll.import_legacy_keys(rows.clone(), &f.actor()).await;
    let last = rows.len() - 1;
    assert_eq!(duplicates(&outcomes), vec![last - 1, last], "{outcomes:?}");
    assert_eq!(imported(&outcomes), rows.len() - 2);
    assert_eq!(
        f.keyroll.compliance_figures(None).await.unwrap().active,
        (rows.len() - 2) as u64
    );
}

/// The store applies a batch of creations entirely or not at all: one existing key
/// refuses it, and none of the others is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_creations_applies_entirely_or_not_at_all() {
    let f = fixture().await;
    let actor = f.actor();
    let act = Act {
        actor: &actor,
        now: f.clock_now(),
    };
    let format = &f.keyroll.config().secret_format;
    let changes: Vec<_> = (0..5)
        .map(|n| plan_import(legacy_row(n, 1), format, act).unwrap())
        .collect();
    f.store.create_keys(&changes[2..3]).await.unwrap();
    assert_eq!(
        f.store.create_keys(&changes).await,
        Err(StoreError::Conflict)
    );
    for (n, change) in changes.iter().enumerate() {
        let stored = f.store.key(&change.key().id).await.unwrap();
        assert_eq!(stored.is_some(), n == 2, "key {n}");
    }
    // Two creations of one secret in a batch are refused the same way.
    let twice = [
        changes[0].clone(),
        plan_import(legacy_row(0, 1), format, act).unwrap(),
    ];
    assert_eq!(f.store.create_keys(&twice).await, Err(StoreError::Conflict));
    assert!(f.store.key(&twice[1].key().id).await.unwrap().is_none());
    // The rest go in together.
    let rest: Vec<_> = [0, 1, 3, 4].map(|n| changes[n].clone()).to_vec();
    f.store.create_keys(&rest).await.unwrap();
    for change in &changes {
        assert!(f.store.key(&change.key().id).await.unwrap().is_some());
    }
    assert!(f
        .store
        .secret(&LookupHash::of(&legacy_secret(4)))
        .await
        .unwrap()
        .is_some_and(|record| record.key_id == changes[4].key().id));
}

/// The batch committed but its answer was lost: the request fails, and its retry
/// finds every row imported (duplicates), the totals counting each key once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_whose_answer_was_lost_is_found_imported_on_retry() {
    let f = fixture().await;
    let faults = Arc::new(keyroll_tests::faults::Faults::default());
    let keyroll = f.container_over(Arc::new(keyroll_tests::faults::FaultyStore {
        inner: f.store.clone(),
        faults: faults.clone(),
    }));
    let rows: Vec<_> = (0..10).map(|n| legacy_row(n, 1)).collect();
    faults
        .fail_after_commit
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let outcomes = keyroll.import_legacy_keys(rows.clone(), &f.actor()).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(Error::Unavailable { .. }))),
        "{outcomes:?}"
    );
    let retry = keyroll.import_legacy_keys(rows, &f.actor()).await;
    assert_eq!(duplicates(&retry), (0..10).collect::<Vec<_>>(), "{retry:?}");
    assert_eq!(f.keyroll.compliance_figures(None).await.unwrap().active, 10);
}
