//! Leak reports under faults: every token is handled on its own.

use super::*;
use keyroll_core::leak::parse_report;
use keyroll_core::service::LeakVerdict;

/// A transient failure on one token of a report leaves the others rotated; GitHub's
/// retry of the same report rotates the one that failed and no other a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_on_one_reported_token_never_stops_the_others() {
    use std::sync::atomic::Ordering;
    let w = world().await;
    let (first_key, first) = issue(&w, Default::default()).await;
    let (second_key, second) = issue(&w, Default::default()).await;
    let body = serde_json::json!([
        {"token": first, "type": "keyroll_live_key", "url": "https://github.com/a/b", "source": "content"},
        {"token": second, "type": "keyroll_live_key", "url": "https://github.com/a/c", "source": "Commit"},
        {"token": "sk_live_not_ours", "type": "keyroll_live_key"},
    ])
    .to_string();
    let tokens = parse_report(body.as_bytes()).unwrap();

    w.faults.throttle_commits.store(1, Ordering::SeqCst);
    let outcomes = w.keyroll.report_leaks(&tokens, None).await;
    assert!(
        outcomes[0].is_err(),
        "the first token's write was throttled"
    );
    assert!(
        matches!(&outcomes[1], Ok(LeakVerdict::TruePositive { key_id, rotation: Some(_) }) if *key_id == second_key),
        "{:?}",
        outcomes[1]
    );
    assert!(matches!(outcomes[2], Ok(LeakVerdict::FalsePositive)));
    assert!(
        w.keyroll.verify(&first).await.unwrap().is_valid(),
        "not rotated yet"
    );
    assert!(!w.keyroll.verify(&second).await.unwrap().is_valid());

    // GitHub retries the report.
    let again = w.keyroll.report_leaks(&tokens, None).await;
    assert!(
        matches!(&again[0], Ok(LeakVerdict::TruePositive { key_id, rotation: Some(_) }) if *key_id == first_key),
        "{:?}",
        again[0]
    );
    assert!(
        matches!(
            &again[1],
            Ok(LeakVerdict::TruePositive { rotation: None, .. })
        ),
        "already handled: {:?}",
        again[1]
    );
    assert!(!w.keyroll.verify(&first).await.unwrap().is_valid());
    for key in [&first_key, &second_key] {
        let rotations = w.keyroll.rotations_of(key).await.unwrap();
        assert_eq!(rotations.len(), 1, "one leak rotation each");
    }
}

/// Tokens not reached by the request's deadline fail (to be retried), never the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_past_the_reports_deadline_fail_alone() {
    let w = world().await;
    let (_, secret) = issue(&w, Default::default()).await;
    let body = serde_json::json!([{"token": secret, "type": "keyroll_live_key"}]).to_string();
    let tokens = parse_report(body.as_bytes()).unwrap();
    let late = w
        .keyroll
        .report_leaks(&tokens, Some(std::time::Instant::now()))
        .await;
    assert!(late[0].as_ref().is_err_and(|e| e.is_transient()));
    assert!(
        w.keyroll.verify(&secret).await.unwrap().is_valid(),
        "untouched"
    );
}
