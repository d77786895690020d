//! No rotation ends before its new secret was delivered: the lockout a held secret
//! nobody reveals used to cause, on every store.

use super::*;

/// Moves the clock to each moment the rotation is due and runs the processor's step,
/// until `until`. Returns how many steps held the rotation open for delivery.
async fn process_until(
    f: &Fixture,
    rotation: &RotationId,
    old_secret: &str,
    until: Timestamp,
) -> u64 {
    let mut held_open = 0;
    let limit = f
        .keyroll
        .rotation(rotation)
        .await
        .unwrap()
        .scheduled_at
        .plus_seconds(f.keyroll.config().policy.server.max_grace_seconds);
    loop {
        let current = f.keyroll.rotation(rotation).await.unwrap();
        let Some(due) = current.due_at() else { break };
        if due > until {
            break;
        }
        f.clock.set(due.max(f.clock_now()));
        let advance = f.keyroll.advance_rotation(rotation).await.unwrap();
        assert!(
            !advance.completed,
            "completed with its new secret undelivered"
        );
        held_open += u64::from(advance.undelivered);
        if f.clock_now() < limit {
            assert_eq!(
                code(f, old_secret).await,
                "VALID",
                "the old secret stopped at {} with its successor undelivered",
                f.clock_now()
            );
        }
    }
    held_open
}

/// The lockout, reproduced: an imported 400-day-old key, the scan's policy rotation
/// (new secret held for one reveal), the grace passes and nobody reveals it. The old
/// secret keeps working (up to the class's maximum grace), the rotation never
/// completes, and the new secret can still be revealed; once it is, the rotation ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unrevealed_policy_rotation_never_locks_the_customer_out() {
    let f = fixture().await;
    let old_secret = format!("sk_live_{}", "4c0ffee0".repeat(8));
    let key = f
        .keyroll
        .import_legacy_key(
            LegacyKey {
                id: None,
                revoked: false,
                key: new_key(KeyClass::Server),
                lookup_hash: LookupHash::of(&old_secret),
                visible_prefix: "4c0ffee0".into(),
                created_at: epoch().minus_seconds(400 * 86_400),
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let report = keyroll_core::scan::scan(&f.keyroll, Default::default())
        .await
        .unwrap();
    assert_eq!(report.scheduled, 1);
    let rotation_id = f
        .keyroll
        .key(&key.id)
        .await
        .unwrap()
        .active_rotation
        .unwrap();
    let rotation = f.keyroll.rotation(&rotation_id).await.unwrap();
    assert_eq!(rotation.trigger, RotationTrigger::Policy);
    assert!(rotation.awaits_delivery());

    let past_the_grace = rotation.grace_ends_at.plus_seconds(86_400);
    let held = process_until(&f, &rotation_id, &old_secret, past_the_grace).await;
    assert!(held >= 1, "the grace was held open");
    assert_eq!(
        code(&f, &old_secret).await,
        "VALID",
        "the old secret still works"
    );
    let blocked = f.keyroll.rotation(&rotation_id).await.unwrap();
    assert_eq!(blocked.status, RotationStatus::GracePeriod);
    assert!(blocked.is_blocked());
    let report = f
        .keyroll
        .compliance_page(&Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        report.rows[0].status,
        keyroll_core::compliance::KeyComplianceStatus::RotationBlocked,
        "the report says why"
    );
    // An operator's plain completion is refused: it would lock the customer out.
    assert!(matches!(
        f.keyroll
            .complete_rotation(&rotation_id, None, &f.actor())
            .await,
        Err(Error::Conflict(Conflict::SecretNotDelivered))
    ));

    // Long after the class's maximum grace: the rotation still waits.
    let long_after = rotation
        .scheduled_at
        .plus_seconds(f.keyroll.config().policy.server.max_grace_seconds + 3 * 86_400);
    process_until(&f, &rotation_id, &old_secret, long_after).await;
    let waiting = f.keyroll.rotation(&rotation_id).await.unwrap();
    assert_eq!(waiting.status, RotationStatus::GracePeriod);
    assert!(
        waiting.grace_ends_at
            <= waiting
                .scheduled_at
                .plus_seconds(f.keyroll.config().policy.server.max_grace_seconds),
        "never past the class's maximum grace"
    );

    let (_, new_secret) = f
        .keyroll
        .reveal_secret(&rotation_id, &f.actor())
        .await
        .unwrap();
    assert_eq!(code(&f, new_secret.expose()).await, "VALID");
    let done = f.keyroll.advance_rotation(&rotation_id).await.unwrap();
    assert!(done.completed, "delivered: the rotation ends");
    assert_eq!(code(&f, new_secret.expose()).await, "VALID");
    let actions = assert_chain_valid(&f, &key.id).await;
    assert!(actions.contains(&AuditAction::RotationUndelivered));
}

/// The same for customer self-service: a rotation whose client never fetched its
/// successor keeps the old secret working past the grace, and the successor can still
/// be fetched with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfetched_self_service_successor_never_locks_the_customer_out() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let old_secret = issued.secret.expose().to_owned();
    let rotation = self_service_rotation(&f, &issued.key.id, 2 * 86_400).await;
    let past_the_grace = rotation.grace_ends_at.plus_seconds(86_400);
    let held = process_until(&f, &rotation.id, &old_secret, past_the_grace).await;
    assert!(held >= 1);
    assert_eq!(code(&f, &old_secret).await, "VALID");
    let successor = fetch_successor(&f, &old_secret).await;
    assert_eq!(code(&f, successor.as_str()).await, "VALID");
    // Fetched: the rotation now ends at its (extended) grace end, on time.
    let fetched = f.keyroll.rotation(&rotation.id).await.unwrap();
    assert!(!fetched.awaits_delivery());
    f.clock.set(fetched.grace_ends_at);
    assert!(
        f.keyroll
            .advance_rotation(&rotation.id)
            .await
            .unwrap()
            .completed
    );
}

/// An operator may end an undelivered rotation anyway, with a reason: audited, and the
/// held secret stays revealable (it is the only copy of the key's working secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forced_completion_is_audited_and_keeps_the_held_secret() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let rotation = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                trigger: keyroll_core::service::ScheduleTrigger::Policy,
                start: Start::Now,
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .rotation;
    let reason = Reason::parse("customer confirmed the new secret by phone").unwrap();
    let done = f
        .keyroll
        .force_complete_rotation(&rotation.id, reason, &f.actor())
        .await
        .unwrap();
    assert_eq!(done.status, RotationStatus::Completed);
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    let trail = f.keyroll.audit_trail(&issued.key.id).await.unwrap();
    let completed = trail.events.last().unwrap();
    assert_eq!(completed.action, AuditAction::RotationCompleted);
    assert!(completed
        .reason
        .as_ref()
        .unwrap()
        .as_str()
        .contains("customer confirmed the new secret by phone"));
    let (_, new_secret) = f
        .keyroll
        .reveal_secret(&rotation.id, &f.actor())
        .await
        .unwrap();
    assert_eq!(code(&f, new_secret.expose()).await, "VALID");
}

/// What a polling client costs: `GET /v1/self/key` and each fetch of the sealed
/// successor read a fixed number of items, however many keys and rotations the table
/// holds, and a fetch after the first writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polling_and_fetching_cost_the_same_in_a_crowded_table() {
    let f = fixture().await;
    let issued = issue(&f).await;
    self_service_rotation(&f, &issued.key.id, 3_600).await;
    let old = issued.secret.expose();
    fetch_successor(&f, old).await;

    let measure = || async {
        let (reads, writes) = (f.read_count(), f.write_count());
        let polled = f.keyroll.self_key(old).await.expect("self key");
        assert!(polled.successor.is_some());
        let after_poll = f.read_count();
        fetch_successor(&f, old).await;
        (
            after_poll - reads,
            f.read_count() - after_poll,
            f.write_count() - writes,
        )
    };
    let quiet = measure().await;
    for _ in 0..25 {
        let other = issue(&f).await;
        self_service_rotation(&f, &other.key.id, 3_600).await;
    }
    let crowded = measure().await;
    assert_eq!(quiet, crowded, "(poll reads, fetch reads, writes)");
    let (poll_reads, fetch_reads, writes) = crowded;
    assert_eq!(writes, 0, "a repeated fetch is already delivered");
    if f.dynamo.is_some() {
        // The secret record, the key, and its rotation (read through the key, not
        // the rotation's pointer item); a fetch reads the same three.
        assert_eq!((poll_reads, fetch_reads), (3, 3));
    }
}

/// "No old secret dies before its new secret was delivered" holds by the data, with no
/// processor running at all: while the new secret waits in the vault, the old one's
/// stored expiry is the class's longest grace; the delivery (a client's sealed fetch,
/// or a user's reveal) sets the real end — the grace end, or, once that has passed,
/// the class's shortest grace from the delivery. Never delivered, it dies at the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_undelivered_secret_keeps_the_old_one_working_with_the_processor_stopped() {
    let f = fixture().await;
    let policy = &f.keyroll.config().policy.server;
    let (min_grace, max_grace) = (policy.min_grace_seconds, policy.max_grace_seconds);

    // A client's own rotation: fetched a day after its one-hour grace.
    let own = issue(&f).await;
    let rotation = self_service_rotation(&f, &own.key.id, 3_600).await;
    let old = own.secret.expose();
    f.clock.set(rotation.grace_ends_at.plus_seconds(86_400));
    assert_eq!(
        code(&f, old).await,
        "VALID",
        "the grace passed, undelivered"
    );
    let fetched_at = f.clock_now();
    let new = fetch_successor(&f, old).await;
    assert_eq!(code(&f, &new).await, "VALID");
    f.clock.set(fetched_at.plus_seconds(min_grace - 1));
    assert_eq!(
        code(&f, old).await,
        "VALID",
        "time to deploy the new secret"
    );
    f.clock.set(fetched_at.plus_seconds(min_grace));
    assert_eq!(code(&f, old).await, "EXPIRED");

    // A policy rotation, held for the owner's reveal, revealed within its grace: the
    // old secret ends with the grace as scheduled.
    f.clock.set(epoch());
    let revealed = issue(&f).await;
    let held = f
        .keyroll
        .schedule_rotation(
            &revealed.key.id,
            RotationRequest {
                trigger: keyroll_core::service::ScheduleTrigger::Policy,
                start: Start::Now,
                grace_seconds: Some(min_grace * 2),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .rotation;
    f.clock.set(epoch().plus_seconds(1));
    f.keyroll.reveal_secret(&held.id, &f.actor()).await.unwrap();
    f.clock.set(held.grace_ends_at.minus_seconds(1));
    assert_eq!(code(&f, revealed.secret.expose()).await, "VALID");
    f.clock.set(held.grace_ends_at);
    assert_eq!(code(&f, revealed.secret.expose()).await, "EXPIRED");

    // Never delivered: the old secret lives to the class's longest grace, no longer.
    f.clock.set(epoch());
    let never = issue(&f).await;
    let waiting = f
        .keyroll
        .schedule_rotation(
            &never.key.id,
            RotationRequest {
                trigger: keyroll_core::service::ScheduleTrigger::Policy,
                start: Start::Now,
                grace_seconds: Some(min_grace),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .rotation;
    let bound = waiting.scheduled_at.plus_seconds(max_grace);
    f.clock.set(bound.minus_seconds(1));
    assert_eq!(code(&f, never.secret.expose()).await, "VALID");
    f.clock.set(bound);
    assert_eq!(code(&f, never.secret.expose()).await, "EXPIRED");
}
