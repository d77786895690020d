//! Retirement by the callers (`retire`), drilled on a simulated clock: the old secret
//! outlives the grace while a caller still uses it, dies once everyone has moved and it
//! has been quiet, or at its bound when someone never moves; an embedded secret retires
//! when its app versions have faded.

use super::*;
use keyroll_core::callers::{CallerFingerprint, CallerHints};
use keyroll_core::key::KeyClass;
use keyroll_core::rotation::{Retire, Rotation};
use keyroll_core::secret::LookupHash;
use keyroll_core::service::KeyScope;
use keyroll_core::time::{Clock, Timestamp};

/// Caller `n`: its own network and agent, at an address whose last octet is `.77`.
fn caller(n: usize) -> CallerFingerprint {
    CallerFingerprint::of(&CallerHints {
        ip: Some(format!("198.51.{n}.77")),
        user_agent: Some(format!("integration-{n}/2.{n} (linux)")),
        ..Default::default()
    })
}

/// An app install of `version`.
fn app(version: &str) -> CallerFingerprint {
    CallerFingerprint::of(&CallerHints {
        ip: Some("192.0.2.77".into()),
        user_agent: Some("AcmeApp/ios".into()),
        app_version: Some(version.into()),
        ..Default::default()
    })
}

/// One verification by `who`, in a minute of its own, so its use is written at once.
async fn call(w: &World, secret: &str, who: &CallerFingerprint) -> &'static str {
    // (The drills' own checks use `check_secret`, which counts no use.)
    let verified = w
        .keyroll
        .verify_by(secret, Some(who.clone()))
        .await
        .expect("verify");
    w.clock.advance(60);
    verified.code()
}

async fn rotate(w: &World, key: &KeyId, grace: u64, retire: Retire) -> (Rotation, String) {
    let issued = w
        .keyroll
        .schedule_rotation(
            key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(grace),
                retire: Some(retire),
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let new = issued.returned_secret().expose().to_owned();
    (issued.rotation, new)
}

async fn rotation(w: &World, id: &keyroll_core::ids::RotationId) -> Rotation {
    w.keyroll.rotation(id).await.expect("rotation")
}

/// The reason of the key's last `rotation.completed` event.
async fn completion_reason(w: &World, key: &KeyId) -> String {
    let trail = w.keyroll.audit_trail(key).await.expect("audit");
    assert!(trail.report.valid, "{:?}", trail.report);
    trail
        .events
        .iter()
        .rev()
        .find(|e| e.action == keyroll_core::audit::AuditAction::RotationCompleted)
        .and_then(|e| e.reason.as_ref().map(ToString::to_string))
        .expect("a completion with its reason")
}

/// Everything the store holds about these secrets, as text: no full address may be in
/// it (the table is scanned on DynamoDB; the memory store's records and logs are read).
async fn stored_text(w: &World, secrets: &[&str]) -> String {
    match &w.dynamo {
        Some(dynamo) => {
            let mut text = String::new();
            let mut start = None;
            loop {
                let page = dynamo
                    .client()
                    .scan()
                    .table_name(dynamo.table())
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("scan");
                for item in page.items() {
                    text.push_str(&format!("{item:?}\n"));
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    return text;
                }
            }
        }
        None => {
            let mut text = String::new();
            for secret in secrets {
                let hash = LookupHash::of(secret);
                let record = w.store.secret(&hash).await.unwrap();
                let log = w.store.callers(&hash).await.unwrap();
                text.push_str(&format!("{record:?}\n{log:?}\n"));
            }
            text
        }
    }
}

/// The acceptance drill: four callers use the old secret; three move; at the grace end
/// the old secret still verifies and one caller is named as not moved; the fourth
/// moves; an hour of quiet later the processor revokes the old secret and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_old_secret_retires_when_every_caller_has_moved_and_it_is_quiet() {
    let w = world().await;
    let (key, old) = issue(&w, KeyClass::Server).await;
    for n in 1..=4 {
        assert_eq!(call(&w, &old, &caller(n)).await, "VALID");
    }
    let grace = 86_400;
    let (scheduled, new) = rotate(
        &w,
        &key,
        grace,
        Retire::WhenMoved {
            quiet_seconds: 3600,
        },
    )
    .await;
    w.run().await;
    let started = rotation(&w, &scheduled.id).await;
    assert_eq!(
        started.status,
        RotationStatus::GracePeriod,
        "started at once"
    );
    let grace_end = started.grace_ends_at;
    let bound = started.retire_by.expect("a bound");
    assert_eq!(
        bound,
        grace_end.plus_seconds(30 * 86_400),
        "the class's maximum grace"
    );

    for n in 1..=3 {
        assert_eq!(call(&w, &new, &caller(n)).await, "VALID");
    }
    // The fourth keeps calling with the old secret every few hours, past the grace end.
    while w.clock.now() < grace_end.plus_seconds(3 * 3600) {
        assert_eq!(call(&w, &old, &caller(4)).await, "VALID");
        w.run().await;
        w.clock.advance(3 * 3600);
    }
    w.clock.set(grace_end.plus_seconds(4 * 3600));
    w.run().await;
    assert_eq!(call(&w, &old, &caller(4)).await, "VALID");
    assert_eq!(
        w.keyroll.check_secret(&old).await.unwrap().code(),
        "VALID",
        "past the grace end the old secret still works"
    );
    let callers = w.keyroll.key_callers(&key, KeyScope::Any).await.unwrap();
    assert_eq!(
        (
            callers.summary.moved,
            callers.summary.not_moved,
            callers.summary.gone
        ),
        (3, 1, 0)
    );
    let outlived = rotation(&w, &scheduled.id).await;
    assert_eq!(outlived.status, RotationStatus::GracePeriod);
    assert!(outlived.grace_end_noted);

    // The fourth moves; its last use of the old secret was written with it.
    assert_eq!(call(&w, &new, &caller(4)).await, "VALID");
    let last_old = w
        .store
        .secret(&LookupHash::of(&old))
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .expect("the old secret's last use");
    w.run().await;
    w.clock.set(last_old.plus_seconds(3599));
    assert_eq!(w.run().await.completed, 0, "not quiet for an hour yet");
    assert_eq!(w.keyroll.check_secret(&old).await.unwrap().code(), "VALID");
    w.clock.set(last_old.plus_seconds(3600));
    assert_eq!(w.run().await.completed, 1);
    assert_eq!(
        w.keyroll.check_secret(&old).await.unwrap().code(),
        "REVOKED"
    );
    assert_eq!(w.keyroll.check_secret(&new).await.unwrap().code(), "VALID");
    assert_eq!(
        completion_reason(&w, &key).await,
        "retired the old secret: all 4 callers moved; old secret quiet for 1 h"
    );

    let messages = w.inbox.take().await;
    let told = find(&messages, NotificationType::RotationExtended);
    assert!(
        told.callers_not_moved.contains(&caller(4)),
        "the grace end names who has not moved: {told:?}"
    );
    assert_eq!(
        told.deadline,
        Some(bound),
        "the old secret's end is now its bound"
    );
    find(&messages, NotificationType::RotationCompleted);
    let everything = format!("{messages:?}\n{}", stored_text(&w, &[&old, &new]).await);
    for n in 1..=4 {
        assert!(
            !everything.contains(&format!("198.51.{n}.77")),
            "a full address was kept"
        );
    }
    assert!(!everything.contains(&old) && !everything.contains(&new));
}

/// A caller that never moves: the old secret dies at the bound, not a second later,
/// even before the processor has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_that_never_moves_keeps_the_old_secret_until_its_bound_only() {
    let w = world().await;
    let (key, old) = issue(&w, KeyClass::Server).await;
    assert_eq!(call(&w, &old, &caller(1)).await, "VALID");
    let (scheduled, new) = rotate(&w, &key, 3600, Retire::WhenMoved { quiet_seconds: 60 }).await;
    w.run().await;
    assert_eq!(call(&w, &new, &caller(2)).await, "VALID");
    let bound = rotation(&w, &scheduled.id).await.retire_by.unwrap();
    let mut at = w.clock.now();
    while at < bound.minus_seconds(86_400) {
        assert_eq!(call(&w, &old, &caller(1)).await, "VALID");
        w.run().await;
        at = at.plus_seconds(86_400);
        w.clock.set(at);
    }
    w.clock.set(bound.minus_seconds(61));
    assert_eq!(call(&w, &old, &caller(1)).await, "VALID");
    assert_eq!(w.clock.now(), bound.minus_seconds(1));
    assert_eq!(w.run().await.completed, 0);
    assert_eq!(w.keyroll.check_secret(&old).await.unwrap().code(), "VALID");
    w.clock.set(bound);
    assert_eq!(
        w.keyroll.check_secret(&old).await.unwrap().code(),
        "EXPIRED",
        "at the bound, before any processor run"
    );
    assert_eq!(w.run().await.completed, 1);
    assert_eq!(
        w.keyroll.check_secret(&old).await.unwrap().code(),
        "REVOKED"
    );
    assert!(completion_reason(&w, &key)
        .await
        .starts_with("retired the old secret at its latest"));
}

/// Embedded: app 3.1 carries the old secret, 3.2 the new; 3.1's share falls day by
/// day. The old secret retires at the first processor run after both its share of the
/// week's uses and its daily uses are below the thresholds, never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_embedded_secret_retires_once_its_app_versions_have_faded() {
    let w = world().await;
    let (key, old) = issue(&w, KeyClass::Embedded).await;
    // Days start at 01:00 UTC, so each day's uses fall on one UTC day.
    let midnight = Timestamp::parse(&format!("{}T00:00:00Z", w.clock.now().day())).unwrap();
    w.clock.set(midnight.plus_seconds(86_400 + 3600));
    let retire = Retire::WhenFaded {
        below_basis_points: 500,
        below_daily_uses: 2,
    };
    let (scheduled, new) = rotate(&w, &key, 30 * 86_400, retire).await;
    w.run().await;
    // Uses per day of 3.1 (old secret); 3.2 (new) makes 10 a day. The week's share of
    // the old secret: 50 %, 44 %, 39 %, 33 %, 29 %, 25 %, 22 %, 12.5 %, 5.4 %, 1.4 %.
    let old_per_day = [10, 6, 3, 1, 0, 0, 0, 0, 0, 0];
    let crossed_on = 9;
    let mut day = w.clock.now();
    for (n, uses) in old_per_day.into_iter().enumerate() {
        w.clock.set(day);
        for _ in 0..uses {
            assert_eq!(call(&w, &old, &app("3.1")).await, "VALID");
        }
        for _ in 0..10 {
            assert_eq!(call(&w, &new, &app("3.2")).await, "VALID");
        }
        let report = w.run().await;
        let status = rotation(&w, &scheduled.id).await.status;
        if n < crossed_on {
            assert_eq!(report.completed, 0, "retired early, on day {n}");
            assert_eq!(status, RotationStatus::GracePeriod);
        } else {
            assert_eq!(report.completed, 1, "not retired on day {n}");
            break;
        }
        day = day.plus_seconds(86_400);
    }
    assert_eq!(
        w.keyroll.check_secret(&old).await.unwrap().code(),
        "REVOKED"
    );
    let reason = completion_reason(&w, &key).await;
    assert!(
        reason.starts_with("retired the old secret: the old secret faded: 1.4 % of the key's uses this week (below 5 %)"),
        "{reason}"
    );
}
