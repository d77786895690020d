//! Callers, on every store: each verification is attributed to its caller, written with
//! the once-a-minute use write (verification stays one read), and a key's callers say
//! who has moved to the new secret of its rotation.

use super::*;
use keyroll_core::callers::{CallerFingerprint, CallerHints, MoveStatus, MAX_CALLERS};
use keyroll_core::service::KeyScope;

fn caller(n: usize) -> CallerFingerprint {
    CallerFingerprint::of(&CallerHints {
        ip: Some(format!("203.0.{n}.77")),
        user_agent: Some(format!("job-{n}/1.0 (linux)")),
        ..Default::default()
    })
}

/// (use writes, caller writes, reads) so far: DynamoDB's requests, or the memory
/// store's counts (which count no reads but the key lists').
fn counts(f: &Fixture) -> (u64, u64, u64) {
    match (&f.dynamo, &f.memory) {
        (Some(dynamo), _) => (dynamo.write_count(), 0, dynamo.read_count()),
        (None, Some(memory)) => (memory.use_writes(), memory.caller_writes(), 0),
        (None, None) => unreachable!("every fixture has a store"),
    }
}

/// Fifty distinct callers in one minute: fifty reads (one per verification), one use
/// write and one caller write; the next minute's write carries all fifty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_callers_in_a_minute_cost_one_use_write_and_one_caller_write() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let secret = issued.secret.expose().to_owned();
    let before = counts(&f);
    for n in 0..MAX_CALLERS {
        let verified = f.keyroll.verify_by(&secret, Some(caller(n))).await.unwrap();
        assert!(verified.is_valid());
    }
    let after = counts(&f);
    if f.dynamo.is_some() {
        // The first verification wins the minute: its use write, then the caller
        // log's read and write. Every other verification is its one read.
        assert_eq!(after.0 - before.0, 2, "one use write, one caller write");
        assert_eq!(
            after.2 - before.2,
            MAX_CALLERS as u64 + 1,
            "one read each, and the log's"
        );
    } else {
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
    }
    // The first minute's write carried the first caller; the next carries the rest.
    let hash = LookupHash::of(&secret);
    assert_eq!(
        f.store.callers(&hash).await.unwrap().unwrap().callers.len(),
        1
    );
    f.clock.advance(60);
    assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
    let log = f.store.callers(&hash).await.unwrap().unwrap();
    assert_eq!(log.callers.len(), MAX_CALLERS);
    assert!(log.other.is_none());
    let uses: u64 = log
        .callers
        .iter()
        .map(|c| c.daily.values().sum::<u64>())
        .sum();
    assert_eq!(uses, MAX_CALLERS as u64, "every attributed use, once");
    // Never a full address: only networks.
    let stored = serde_json::to_string(&log).unwrap();
    assert!(!stored.contains(".77"), "{stored}");
    assert!(log.callers.iter().all(|c| c
        .caller
        .network
        .as_deref()
        .is_some_and(|n| n.ends_with(".0/24"))));
}

/// Three of four callers move to the rotation's new secret: they are `moved`, the
/// fourth `not_moved`; a caller unseen for a week is `gone`. Another organisation's
/// user gets the key's callers answered as an unknown key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keys_callers_say_who_has_moved_to_the_new_secret() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let old = issued.secret.expose().to_owned();
    let id = issued.key.id.clone();
    // A fifth caller, seen once eight days before the others.
    f.keyroll.verify_by(&old, Some(caller(5))).await.unwrap();
    f.clock.advance(8 * 86_400);
    for n in 1..=4 {
        f.keyroll.verify_by(&old, Some(caller(n))).await.unwrap();
        f.clock.advance(60);
    }
    let rotated = f
        .keyroll
        .emergency_rotation(
            &id,
            EmergencyRequest {
                reason: Reason::parse("rotated for the drill").unwrap(),
                grace_seconds: Some(86_400),
                source: EmergencySource::Operator,
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let new = rotated.returned_secret().expose().to_owned();
    f.clock.advance(60);
    for n in 1..=3 {
        assert!(f
            .keyroll
            .verify_by(&new, Some(caller(n)))
            .await
            .unwrap()
            .is_valid());
        f.clock.advance(60);
    }
    assert!(f
        .keyroll
        .verify_by(&old, Some(caller(4)))
        .await
        .unwrap()
        .is_valid());
    f.clock.advance(60);
    // A last use, to write the minute's sightings.
    f.keyroll.verify_by(&old, Some(caller(4))).await.unwrap();
    f.keyroll.verify_by(&new, Some(caller(1))).await.unwrap();

    let found = f.keyroll.key_callers(&id, KeyScope::Any).await.unwrap();
    assert_eq!(found.rotation_id.as_ref(), Some(&rotated.rotation.id));
    let status = |n: usize| {
        found
            .callers
            .iter()
            .find(|c| c.id == caller(n).id())
            .unwrap_or_else(|| panic!("caller {n} in {:?}", found.callers))
            .status
    };
    for n in 1..=3 {
        assert_eq!(status(n), MoveStatus::Moved, "caller {n}");
    }
    assert_eq!(status(4), MoveStatus::NotMoved);
    assert_eq!(status(5), MoveStatus::Gone);
    assert_eq!(
        (
            found.summary.moved,
            found.summary.not_moved,
            found.summary.gone
        ),
        (3, 1, 1)
    );

    let other = OrganizationId::parse("org_other").unwrap();
    let foreign = f
        .keyroll
        .key_callers(&id, KeyScope::OwnedBy(&other))
        .await
        .unwrap_err();
    assert!(matches!(foreign, Error::NotFound { .. }), "{foreign:?}");
}

/// The store merges each write of sightings into the log it holds: two containers'
/// writes of one caller add up, and a week-old day is forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_merges_each_write_into_the_secrets_log() {
    use keyroll_core::callers::Sighting;
    let f = fixture().await;
    let issued = issue(&f).await;
    let hash = LookupHash::of(issued.secret.expose());
    assert!(f.store.callers(&hash).await.unwrap().is_none());
    let seen = |uses: u64, at: Timestamp| Sighting {
        caller: caller(1),
        uses,
        first_at: at,
        last_at: at,
    };
    let day_one = epoch();
    assert!(f
        .store
        .record_callers(&hash, &[seen(3, day_one)], day_one)
        .await
        .unwrap());
    let later = day_one.plus_seconds(8 * 86_400);
    assert!(f
        .store
        .record_callers(&hash, &[seen(2, later)], later)
        .await
        .unwrap());
    let log = f.store.callers(&hash).await.unwrap().unwrap();
    assert_eq!(log.revision, 2);
    let entry = &log.callers[0];
    assert_eq!((entry.first_seen, entry.last_seen), (day_one, later));
    assert_eq!(entry.uses_7d(later), 2, "day one is past the week");
}
