//! The upgrade sweep on a table this release wrote: nothing to fix, and once done a
//! run costs one read.

use super::*;

#[tokio::test]
async fn a_sweep_over_this_releases_items_fixes_nothing_then_costs_one_read() {
    let f = fixture().await;
    issue(&f).await;
    issue(&f).await;
    let report = keyroll_core::upgrade::sweep_legacy(&f.keyroll, None)
        .await
        .unwrap();
    assert!(report.done, "{report:?}");
    assert_eq!((report.keys_indexed, report.records_deleted), (0, 0));
    let reads = f.read_count();
    let again = f.store.sweep_legacy(500).await.unwrap();
    assert!(again.done);
    assert_eq!(again.examined, 0, "a finished sweep reads no page");
    if f.dynamo.is_some() {
        assert_eq!(f.read_count() - reads, 1, "only its place");
    }
}

/// Only a record without keyroll's identity MAC takes the sweep's MACs: one this
/// release wrote is left as it is.
#[tokio::test]
async fn the_sweep_leaves_a_record_this_release_maced_alone() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let hash = keyroll_core::secret::LookupHash::of(issued.secret.expose());
    let stored = f.store.secret(&hash).await.unwrap().unwrap();
    assert!(stored.identity_mac.is_some() && stored.state_mac.is_some());
    let mut other = stored.clone();
    other.identity_mac = Some("00".repeat(32));
    assert!(!f.store.authenticate_secret_record(&other).await.unwrap());
    assert_eq!(f.store.secret(&hash).await.unwrap().unwrap(), stored);
    assert!(f
        .keyroll
        .verify(issued.secret.expose())
        .await
        .unwrap()
        .is_valid());
}
