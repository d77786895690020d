//! The scanner handler runs on the `events/scanner-schedule.json` fixture.

use keyroll_core::testing::TestKeyroll;
use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use keyroll_core::ids::{Actor, KeyName, OrganizationId};
use keyroll_core::service::NewKey;
use keyroll_scanner::{handle, Deps};
use lambda_runtime::{Context, LambdaEvent};

fn fixture() -> EventBridgeEvent<serde_json::Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/scanner-schedule.json"
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

#[tokio::test]
async fn the_daily_event_runs_one_scan() {
    let wired = TestKeyroll::with_defaults().build();
    let (keyroll, clock) = (Arc::new(wired.keyroll), wired.clock);
    let new_key = NewKey {
        organization_id: OrganizationId::parse("org_acme").unwrap(),
        name: KeyName::parse("old").unwrap(),
        scopes: vec![],
        rate_limit: 10,
        class: Default::default(),
        expires_at: None,
    };
    keyroll
        .issue_key(new_key, &Actor::parse("alice").unwrap())
        .await
        .unwrap();
    clock.advance(100 * 86_400);
    let deps = Deps { keyroll };
    let report = handle(&deps, LambdaEvent::new(fixture(), context(300)))
        .await
        .unwrap();
    assert_eq!(
        (
            report.scheduled,
            report.snapshot.active_keys,
            report.snapshot.in_progress
        ),
        (1, 1, 1)
    );
    let again = handle(&deps, LambdaEvent::new(fixture(), context(300)))
        .await
        .unwrap();
    assert_eq!(again.scheduled, 0);
    // No time left: the scan stops and says so, and writes no snapshot for a partial day.
    let partial = handle(&deps, LambdaEvent::new(fixture(), context(1)))
        .await
        .unwrap();
    assert!(partial.incomplete);
}
