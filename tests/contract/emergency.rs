//! Emergency rotations and leak reports.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emergency_with_zero_grace_kills_old_secret_now() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let rotated = f
        .keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("key posted in a public gist").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.rotation.trigger, RotationTrigger::Emergency);
    assert_eq!(rotated.rotation.status, RotationStatus::Completed);
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    assert_eq!(code(&f, rotated.returned_secret().expose()).await, "VALID");
    // Emergency rotations cannot be extended.
    let error = f
        .keyroll
        .extend_rotation(
            &rotated.rotation.id,
            60,
            Reason::parse("please").unwrap(),
            &f.actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), keyroll_core::ErrorKind::Conflict);
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationEmergency,
            AuditAction::RotationCompleted
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emergency_supersedes_rotation_in_progress_and_never_lengthens() {
    let f = fixture().await;
    let issued = issue(&f).await;
    // A normal rotation in grace: the old secret expires in 10 minutes.
    let normal = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(600),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    // An emergency with a 4-hour grace must not give the oldest secret 4 hours.
    let emergency = f
        .keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("leaked in CI logs").unwrap(),
                grace_seconds: None,
                source: EmergencySource::Leak { version: 2 },
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(emergency.rotation.trigger, RotationTrigger::Leak);
    assert_eq!(
        emergency.rotation.grace_ends_at,
        epoch().plus_seconds(4 * 3600)
    );
    let superseded = f
        .store
        .rotation(&normal.rotation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(superseded.status, RotationStatus::Cancelled);
    assert_eq!(
        superseded.superseded_by.as_ref(),
        Some(&emergency.rotation.id)
    );

    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(
        key.version(1).unwrap().expires_at,
        Some(epoch().plus_seconds(600)),
        "never lengthened"
    );
    assert_eq!(
        key.version(2).unwrap().expires_at,
        Some(epoch().plus_seconds(4 * 3600))
    );
    assert_eq!(key.current().unwrap().version, 3);
    assert_eq!(key.active_rotation.as_ref(), Some(&emergency.rotation.id));

    f.clock.set(epoch().plus_seconds(600));
    assert_eq!(code(&f, issued.secret.expose()).await, "EXPIRED");
    assert_eq!(code(&f, normal.returned_secret().expose()).await, "VALID");
    f.clock.set(epoch().plus_seconds(4 * 3600));
    assert_eq!(code(&f, normal.returned_secret().expose()).await, "EXPIRED");
    let advance = f
        .keyroll
        .advance_rotation(&emergency.rotation.id)
        .await
        .unwrap();
    assert!(advance.completed);
    assert_eq!(code(&f, normal.returned_secret().expose()).await, "REVOKED");
    assert_eq!(code(&f, issued.secret.expose()).await, "REVOKED");
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationScheduled,
            AuditAction::RotationStarted,
            AuditAction::RotationSuperseded,
            AuditAction::RotationEmergency,
            AuditAction::RotationCompleted,
        ]
    );
    // A leak rotation's secret is held for the owner, never returned: revealed here.
    let (_, new_secret) = f
        .keyroll
        .reveal_secret(&emergency.rotation.id, &f.actor())
        .await
        .unwrap();
    assert_eq!(code(&f, new_secret.expose()).await, "VALID");
}

/// The same token reported six times at once (GitHub retries, two scanners): one leak
/// rotation, every answer a true positive, the chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_leak_reports_rotate_once() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let token = issued.secret.expose().to_owned();
    let verdicts = join_all((0..6).map(|_| {
        f.keyroll.report_leak(
            &token,
            "https://github.com/acme/app/blob/main/.env",
            "content",
        )
    }))
    .await;
    let mut started = 0;
    for verdict in verdicts {
        match verdict.unwrap() {
            keyroll_core::service::LeakVerdict::TruePositive { key_id, rotation } => {
                assert_eq!(key_id, issued.key.id);
                started += usize::from(rotation.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(started, 1, "one rotation");
    let rotations = f.store.rotations_of(&issued.key.id).await.unwrap();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].trigger, RotationTrigger::Leak);
    assert!(
        rotations[0].holds_secret(),
        "the new secret waits for its owner"
    );
    assert_eq!(f.keyroll.verify(&token).await.unwrap().code(), "REVOKED");
    assert!(
        f.keyroll
            .audit_trail(&issued.key.id)
            .await
            .unwrap()
            .report
            .valid
    );
    assert_eq!(
        f.keyroll
            .report_leak("sk_live_nothing_like_ours", "https://x", "content")
            .await
            .unwrap(),
        keyroll_core::service::LeakVerdict::FalsePositive
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recent_emergencies_page_newest_first_at_a_cost_that_follows_the_page() {
    let f = fixture().await;
    let mut started = Vec::new();
    for _ in 0..5 {
        let issued = issue(&f).await;
        f.clock.advance(60);
        let rotation = f
            .keyroll
            .emergency_rotation(
                &issued.key.id,
                EmergencyRequest {
                    reason: Reason::parse("leaked").unwrap(),
                    grace_seconds: Some(3600),
                    source: EmergencySource::Operator,
                },
                &f.actor(),
            )
            .await
            .unwrap()
            .rotation;
        started.push(rotation.id);
    }
    started.reverse();
    let reads = f.dynamo.as_ref().map(|d| d.read_count());
    let (page, next) = f.keyroll.recent_emergencies(30, None, 2).await.unwrap();
    if let (Some(dynamo), Some(before)) = (&f.dynamo, reads) {
        // One query of the month's log; each rotation's pointer and item.
        assert_eq!(dynamo.read_count() - before, 1 + 2 * 2);
    }
    let mut seen: Vec<_> = page.into_iter().map(|r| r.id).collect();
    assert_eq!(seen, started[..2]);
    // A new emergency between pages is newer than the cursor: the rest of the list
    // goes on where it ended, nothing skipped or repeated.
    let late = issue(&f).await;
    f.clock.advance(60);
    f.keyroll
        .emergency_rotation(
            &late.key.id,
            EmergencyRequest {
                reason: Reason::parse("leaked too").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let mut after = next;
    while let Some(cursor) = after {
        let (page, next) = f
            .keyroll
            .recent_emergencies(30, Some(&cursor), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|r| r.id));
        after = next;
    }
    assert_eq!(seen, started);
}

/// The dashboard's emergency panel through the API's router, on this adapter: with no
/// emergency logged and with one, `GET /v1/emergencies` answers 200 with the rotation
/// (on DynamoDB it once answered 503: an empty `begins_with` prefix).
#[tokio::test]
async fn emergencies_are_listed_through_the_api() {
    use tower::ServiceExt;

    let f = fixture().await;
    let token = "contract-admin-token-0123456789";
    let router = keyroll_api::app(keyroll_api::AppState {
        keyroll: Arc::new(f.another_container()),
        auth: keyroll_api::Auth::admin_token(token),
        queue: None,
        customers: None,
    });
    let list = || async {
        let response = router
            .clone()
            .oneshot(
                axum::http::Request::get("/v1/emergencies?days=30")
                    .header("authorization", format!("Bearer {token}"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    };
    let (status, body) = list().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rotations"], serde_json::json!([]));
    let key = issue(&f).await.key.id;
    let rotation = f
        .keyroll
        .emergency_rotation(
            &key,
            EmergencyRequest {
                reason: Reason::parse("posted in a public gist").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &f.actor(),
        )
        .await
        .unwrap()
        .rotation;
    let (status, body) = list().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rotations"][0]["id"],
        rotation.id.to_string(),
        "{body}"
    );
}

/// A leak report of a still-valid previous secret (a manual rotation's grace, the new
/// secret already deployed) revokes that secret alone: the current secret keeps
/// working, the rotation goes on, the customer is told `key.secret_revoked`. A second
/// report of it is already handled. A previous secret that could have fetched its
/// self-service successor exposes the current one: that key is rotated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leaked_previous_secret_is_revoked_alone() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let manual = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3600),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let current = manual.returned_secret().expose().to_owned();
    let leaked = issued.secret.expose();
    let url = "https://github.com/acme/app/blob/main/.env";
    assert_eq!(
        f.keyroll.report_leak(leaked, url, "content").await.unwrap(),
        keyroll_core::service::LeakVerdict::RevokedAlone {
            key_id: issued.key.id.clone()
        }
    );
    assert_eq!(code(&f, leaked).await, "REVOKED");
    assert_eq!(
        code(&f, &current).await,
        "VALID",
        "the deployed secret lives"
    );
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    assert_eq!(key.active_rotation.as_ref(), Some(&manual.rotation.id));
    assert_eq!(f.store.rotations_of(&issued.key.id).await.unwrap().len(), 1);
    assert_eq!(
        assert_chain_valid(&f, &issued.key.id).await,
        vec![
            AuditAction::KeyCreated,
            AuditAction::RotationScheduled,
            AuditAction::RotationStarted,
            AuditAction::SecretRevoked,
        ]
    );
    let shard = keyroll_core::index::shard_of(issued.key.id.as_str());
    let told = f
        .store
        .outbox(shard, None, 100)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find_map(|entry| match entry.message {
            keyroll_core::notification::OutboxMessage::Notify { notification }
                if notification.key_id == issued.key.id =>
            {
                Some(notification)
            }
            _ => None,
        })
        .expect("the customer is told");
    assert_eq!(
        told.kind,
        keyroll_core::notification::NotificationType::KeySecretRevoked
    );
    assert_eq!(
        told.new_prefix.as_deref(),
        Some(key.current().unwrap().prefix.as_str())
    );
    assert_eq!(
        f.keyroll.report_leak(leaked, url, "content").await.unwrap(),
        keyroll_core::service::LeakVerdict::TruePositive {
            key_id: issued.key.id.clone(),
            rotation: None
        },
        "a second report: already handled"
    );

    // A self-service rotation: the old secret could fetch its successor, so a leak of
    // it exposes the current secret too.
    let other = issue(&f).await;
    self_service_rotation(&f, &other.key.id, 3600).await;
    match f
        .keyroll
        .report_leak(other.secret.expose(), url, "content")
        .await
        .unwrap()
    {
        keyroll_core::service::LeakVerdict::TruePositive {
            rotation: Some(_), ..
        } => {}
        verdict => panic!("expected an emergency rotation, got {verdict:?}"),
    }
    let rotated = f.store.key(&other.key.id).await.unwrap().unwrap();
    assert_eq!(rotated.current().unwrap().version, 3);
}
