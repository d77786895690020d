//! The processor handler runs on the `events/processor-schedule.json` fixture.

use keyroll_core::service::Start;
use keyroll_core::testing::TestKeyroll;
use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId};
use keyroll_core::notification::NotificationType;
use keyroll_core::queue::MemoryQueue;
use keyroll_core::service::{Keyroll, NewKey, RotationRequest};
use keyroll_core::time::{ManualClock, Timestamp};
use keyroll_processor::{handle, Deps};
use lambda_runtime::{Context, LambdaEvent};

fn fixture() -> EventBridgeEvent<serde_json::Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/processor-schedule.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the fixture is an EventBridge event")
}

fn context(seconds_left: u64) -> Context {
    let mut context = Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + seconds_left * 1000;
    context
}

/// A keyroll on the in-memory store at 2026-11-25T18:00Z with one key, and that key.
async fn keyroll_with_a_key() -> (Arc<Keyroll>, ManualClock, KeyId, Actor) {
    let wired = TestKeyroll::with_defaults()
        .starting_at(Timestamp::parse("2026-11-25T18:00:00Z").unwrap())
        .without_vault()
        .build();
    let (keyroll, clock) = (Arc::new(wired.keyroll), wired.clock);
    let actor = Actor::parse("alice").unwrap();
    let new_key = NewKey {
        organization_id: OrganizationId::parse("org_acme").unwrap(),
        name: KeyName::parse("prod").unwrap(),
        scopes: vec![],
        rate_limit: 10,
        class: Default::default(),
        expires_at: None,
    };
    let issued = keyroll.issue_key(new_key, &actor).await.unwrap();
    (keyroll, clock, issued.key.id, actor)
}

#[tokio::test]
async fn the_scheduled_event_runs_one_processor_pass() {
    let (keyroll, clock, key_id, actor) = keyroll_with_a_key().await;
    let queue = Arc::new(MemoryQueue::new());
    let deps = Deps {
        keyroll: keyroll.clone(),
        queue: queue.clone(),
    };
    keyroll
        .schedule_rotation(&key_id, RotationRequest::default(), &actor)
        .await
        .unwrap();

    // Not due yet: nothing advances, the scheduling notice goes out.
    let report = handle(&deps, LambdaEvent::new(fixture(), context(60)))
        .await
        .unwrap();
    assert_eq!(
        (report.started, report.completed, report.notified),
        (0, 0, 1)
    );

    clock.advance(86_400);
    let report = handle(&deps, LambdaEvent::new(fixture(), context(60)))
        .await
        .unwrap();
    assert_eq!((report.started, report.notified), (1, 1));
    let kinds: Vec<_> = queue.delivered().iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [
            NotificationType::RotationScheduled,
            NotificationType::RotationStarted
        ]
    );
}

#[tokio::test]
async fn a_run_without_time_left_starts_nothing() {
    let (keyroll, clock, key_id, actor) = keyroll_with_a_key().await;
    let request = RotationRequest {
        start: Start::Now,
        grace_seconds: Some(60),
        ..Default::default()
    };
    keyroll
        .schedule_rotation(&key_id, request, &actor)
        .await
        .unwrap();
    clock.advance(60);
    let deps = Deps {
        keyroll,
        queue: Arc::new(MemoryQueue::new()),
    };
    // Less time left than the safety margin: the due rotation is left for the next run.
    let report = handle(&deps, LambdaEvent::new(fixture(), context(5)))
        .await
        .unwrap();
    assert_eq!((report.completed, report.remaining), (0, 1));
    let report = handle(&deps, LambdaEvent::new(fixture(), context(60)))
        .await
        .unwrap();
    assert_eq!((report.completed, report.remaining), (1, 0));
}
