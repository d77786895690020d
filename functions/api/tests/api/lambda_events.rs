//! The `events/api-*.json` fixtures (API Gateway HTTP API v2 payloads with IAM auth,
//! as `sam local invoke` sends them) parsed by lambda_http and run through the router
//! in its Lambda configuration. A fixture that stops matching the code fails here.

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use keyroll_api::{app, AppState, Auth};
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::Timestamp;
use serde_json::Value;
use tower::ServiceExt;

const PLACEHOLDER_KEY: &str = "key_01jd0000000000000000000000";
const PLACEHOLDER_SECRET: &str = "sk_live_REPLACE_WITH_A_SECRET";
const CALLER: &str = "arn:aws:sts::123456789012:assumed-role/SecurityEngineer/sam";

fn fixture(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn router() -> axum::Router {
    let wired = TestKeyroll::with_defaults()
        .starting_at(Timestamp::parse("2026-11-25T18:00:00Z").unwrap())
        .without_vault()
        .build();
    app(AppState {
        keyroll: Arc::new(wired.keyroll),
        queue: None,
        auth: Auth::ApiGatewayIam,
        customers: None,
    })
}

async fn invoke(router: &axum::Router, event: &str) -> (u16, Value) {
    let request =
        lambda_http::request::from_str(event).expect("fixture parses as an API Gateway event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn every_api_fixture_runs_through_the_lambda_router() {
    let router = router();
    let (status, created) = invoke(&router, &fixture("api-create-key.json")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["key"]["createdBy"], CALLER,
        "the IAM principal is the actor"
    );
    let key = created["key"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();

    let (status, verified) = invoke(
        &router,
        &fixture("api-verify.json").replace(PLACEHOLDER_SECRET, &secret),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(verified["code"], "VALID");

    let (status, scheduled) = invoke(
        &router,
        &fixture("api-schedule-rotation.json").replace(PLACEHOLDER_KEY, &key),
    )
    .await;
    assert_eq!(status, 201, "{scheduled}");
    assert_eq!(scheduled["rotation"]["actor"], CALLER);

    let (status, emergency) = invoke(
        &router,
        &fixture("api-emergency-rotation.json").replace(PLACEHOLDER_KEY, &key),
    )
    .await;
    assert_eq!(status, 201, "{emergency}");
    assert_eq!(emergency["rotation"]["trigger"], "emergency");

    let (status, audit) = invoke(
        &router,
        &fixture("api-get-audit.json").replace(PLACEHOLDER_KEY, &key),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(audit["chainValid"], true);
    assert!(audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == CALLER));

    let (status, compliance) = invoke(&router, &fixture("api-get-compliance.json")).await;
    assert_eq!(status, 200, "{compliance}");
    assert_eq!(compliance["activeKeys"], 1);
    assert_eq!(
        compliance["keys"].as_array().unwrap().len(),
        0,
        "filtered to overdue keys"
    );

    // As shipped, the fixtures name a key that does not exist: a clean 404.
    let (status, problem) = invoke(&router, &fixture("api-schedule-rotation.json")).await;
    assert_eq!(status, 404, "{problem}");
}

#[tokio::test]
async fn a_request_without_an_iam_principal_is_refused() {
    let router = router();
    let mut event: Value = serde_json::from_str(&fixture("api-create-key.json")).unwrap();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let (status, problem) = invoke(&router, &event.to_string()).await;
    assert_eq!(status, 401);
    assert_eq!(problem["status"], 401);
}
