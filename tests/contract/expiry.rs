//! A key's own expiry (`expiresAt`), on every store: its secrets answer `EXPIRED` from
//! that second with no job run; the expiry index hands the processor the warning ahead
//! of it and then the marking, and nothing else.

use super::*;
use keyroll_core::compliance::KeyComplianceStatus;
use keyroll_core::index::ExpiryRef;
use keyroll_core::key::KeyStatus;
use keyroll_core::processor::{process_due, ProcessorOptions};
use keyroll_core::store::shard_of;

const DAY: u64 = 86_400;

async fn issue_expiring(f: &Fixture, in_seconds: u64) -> IssuedKey {
    let mut request = new_key(KeyClass::Server);
    request.expires_at = Some(f.clock_now().plus_seconds(in_seconds));
    f.keyroll
        .issue_key(request, &f.actor())
        .await
        .expect("issue an expiring key")
}

async fn due(f: &Fixture, key: &keyroll_core::ids::KeyId, by: Timestamp) -> Vec<ExpiryRef> {
    f.store
        .expiring_keys(shard_of(key.as_str()), by, None, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.key_id == *key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expiring_key_stops_at_the_second_and_the_processor_settles_it() {
    let f = fixture().await;
    let issued = issue_expiring(&f, 30 * DAY).await;
    let secret = issued.secret.expose().to_owned();
    let expires_at = issued.key.expires_at.unwrap();
    let warn_ahead = u64::from(f.keyroll.config().policy.warn_ahead_days) * DAY;
    let warn_at = expires_at.minus_seconds(warn_ahead);

    // The index holds the key from its warning time, not before.
    assert!(due(&f, &issued.key.id, warn_at.minus_seconds(1))
        .await
        .is_empty());
    let entries = due(&f, &issued.key.id, warn_at).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].due_at, warn_at);
    // Paging: nothing after the one entry.
    assert!(f
        .store
        .expiring_keys(
            shard_of(issued.key.id.as_str()),
            warn_at,
            Some(&entries[0]),
            10
        )
        .await
        .unwrap()
        .iter()
        .all(|e| e.key_id != issued.key.id));

    f.clock.set(warn_at);
    let report = process_due(&f.keyroll, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!((report.expiry_warned, report.expired), (1, 0));
    let warned = f.keyroll.key(&issued.key.id).await.unwrap();
    assert_eq!(warned.expiry_warned_for, Some(expires_at));
    assert!(due(&f, &issued.key.id, warn_at).await.is_empty());
    assert_eq!(due(&f, &issued.key.id, expires_at).await.len(), 1);
    // A second run at the same moment does nothing.
    let again = process_due(&f.keyroll, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!((again.expiry_warned, again.expired), (0, 0));

    // The second before: valid. The second of: expired, with no job run.
    f.clock.set(expires_at.minus_seconds(1));
    assert_eq!(code(&f, &secret).await, "VALID");
    f.clock.set(expires_at);
    assert_eq!(code(&f, &secret).await, "EXPIRED");
    let refused = f
        .keyroll
        .schedule_rotation(&issued.key.id, Default::default(), &f.actor())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::Conflict(Conflict::KeyExpired)),
        "{refused:?}"
    );

    let totals = |counts: keyroll_core::compliance::ComplianceCounts| {
        KeyComplianceStatus::ALL
            .iter()
            .map(|s| counts.of_status(*s))
            .sum::<u64>()
    };
    let before = totals(f.store.compliance_counts(None).await.unwrap());
    let report = process_due(&f.keyroll, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!(report.expired, 1);
    let expired = f.keyroll.key(&issued.key.id).await.unwrap();
    assert_eq!(expired.status, KeyStatus::Expired);
    assert_eq!(
        totals(f.store.compliance_counts(None).await.unwrap()),
        before - 1,
        "out of the totals"
    );
    assert!(due(&f, &issued.key.id, expires_at.plus_seconds(DAY))
        .await
        .is_empty());
    assert_eq!(code(&f, &secret).await, "EXPIRED");
    let actions = assert_chain_valid(&f, &issued.key.id).await;
    assert_eq!(
        actions,
        [
            AuditAction::KeyCreated,
            AuditAction::KeyExpiryWarned,
            AuditAction::KeyExpired
        ]
    );
}

/// An expiry must be in the future (409 outside-policy: the clock refuses it); a key
/// without one never enters the index.
#[tokio::test]
async fn an_expiry_in_the_past_is_refused_and_none_is_never_due() {
    let f = fixture().await;
    let mut request = new_key(KeyClass::Server);
    request.expires_at = Some(f.clock_now());
    let refused = f.keyroll.issue_key(request, &f.actor()).await.unwrap_err();
    assert!(
        matches!(&refused, Error::Conflict(Conflict::OutsidePolicy { field, .. }) if *field == "expiresAt"),
        "{refused:?}"
    );
    let plain = issue(&f).await;
    let far = f.clock_now().plus_seconds(10_000 * DAY);
    assert!(due(&f, &plain.key.id, far).await.is_empty());
}

/// `KEYROLL_WARN_AHEAD_DAYS` lowered after keys were stamped: the first run under the
/// new setting finds such a key due, warns nobody early, and moves it to its new
/// warning time (no event written), so later runs do not read it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lowered_warning_lead_moves_stamped_keys_without_warning_early() {
    let f = fixture().await;
    let issued = issue_expiring(&f, 30 * DAY).await;
    let expires_at = issued.key.expires_at.unwrap();
    let old_lead = u64::from(f.keyroll.config().policy.warn_ahead_days) * DAY;
    assert!(
        old_lead > 2 * DAY,
        "the default lead is longer than the new one"
    );
    let mut config = keyroll_tests::fixture::test_config();
    config.policy.warn_ahead_days = 2;
    let lowered = f.container_configured(config);

    let between = expires_at.minus_seconds(old_lead).plus_seconds(3600);
    f.clock.set(between);
    assert_eq!(
        due(&f, &issued.key.id, between).await.len(),
        1,
        "stamped under the old lead"
    );
    let first = process_due(&lowered, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (first.expiry_warned, first.expired),
        (0, 0),
        "nobody warned early"
    );
    assert!(due(&f, &issued.key.id, between).await.is_empty(), "moved");
    let moved = due(&f, &issued.key.id, expires_at).await;
    assert_eq!(moved[0].due_at, expires_at.minus_seconds(2 * DAY));
    let actions = assert_chain_valid(&f, &issued.key.id).await;
    assert_eq!(
        actions,
        [AuditAction::KeyCreated],
        "the move writes no event"
    );

    // At the new lead, the warning goes out.
    f.clock.set(expires_at.minus_seconds(2 * DAY));
    let warned = process_due(&lowered, None, ProcessorOptions::default())
        .await
        .unwrap();
    assert_eq!(warned.expiry_warned, 1);
}
