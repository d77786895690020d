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
/// The fixtures' caller (`…:assumed-role/SecurityEngineer/sam`, access key
/// `ASIAEXAMPLEKEYID0001`) as the audit trail names it: the session name `sam` is the
/// caller's own choice, so it is left out; the access key ties the request to the
/// `AssumeRole` in CloudTrail.
const CALLER: &str =
    "arn:aws:sts::123456789012:assumed-role/SecurityEngineer (access key ASIAEXAMPLEKEYID0001)";

fn fixture(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn router() -> axum::Router {
    router_with(None)
}

fn router_with(customers: Option<keyroll_api::customer::CustomerAccess>) -> axum::Router {
    let wired = TestKeyroll::with_defaults()
        .starting_at(Timestamp::parse("2026-11-25T18:00:00Z").unwrap())
        .without_vault()
        .build();
    app(AppState {
        keyroll: Arc::new(wired.keyroll),
        queue: None,
        auth: Auth::ApiGatewayIam,
        customers,
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
        "the IAM principal is the actor, without its self-chosen session name"
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

/// In Lambda the customer is who API Gateway's JWT authorizer verified: the claims in
/// the request context, never a header; with KEYROLL_JWKS the token in the header must
/// name the same user.
#[tokio::test]
async fn a_customer_in_lambda_is_who_the_jwt_authorizer_verified() {
    use keyroll_api::customer::CustomerAccess;
    use keyroll_api::identity::dev::{DevClaims, DevSigningKey};
    use keyroll_api::identity::{ClaimNames, IdentitySettings, Role, TokenVerifier};

    let names = ClaimNames::default();
    let router = router_with(Some(CustomerAccess::behind_gateway(names.clone(), None)));
    let (status, created) = invoke(&router, &fixture("api-create-key.json")).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"]["id"].as_str().unwrap().to_owned();
    let event = fixture("api-customer-list-keys.json");
    let (status, listed) = invoke(&router, &event).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["keys"][0]["id"], key.as_str());
    assert_eq!(listed["keys"][0]["createdBy"], "provider");

    // Without the authorizer's claims, nothing in the request makes a customer.
    let mut unverified: Value = serde_json::from_str(&event).unwrap();
    unverified["requestContext"]["authorizer"]
        .as_object_mut()
        .unwrap()
        .remove("jwt");
    unverified["headers"]["x-org-id"] = "org_acme".into();
    let (status, _) = invoke(&router, &unverified.to_string()).await;
    assert_eq!(status, 401);
    // Another organisation's claims see none of acme's keys.
    let globex = event.replace("\"org_acme\"", "\"org_globex\"");
    let (status, other) = invoke(&router, &globex).await;
    assert_eq!(status, 200);
    assert_eq!(other["keys"], serde_json::json!([]));

    // With KEYROLL_JWKS the token is checked again and must be the same user.
    let signer = DevSigningKey::generate().unwrap();
    let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123";
    let settings = IdentitySettings {
        issuer: issuer.into(),
        audience: "keyroll".into(),
        jwks: Some(signer.jwks()),
        claims: names.clone(),
    };
    let verifier = TokenVerifier::new(&settings, &signer.jwks()).unwrap();
    let router = router_with(Some(CustomerAccess::behind_gateway(
        names.clone(),
        Some(verifier),
    )));
    let token_for = |subject: &str| {
        signer
            .sign(
                &DevClaims {
                    names: &names,
                    issuer,
                    audience: "keyroll",
                    organization: "org_acme",
                    subject,
                    role: Role::Admin,
                    now: Timestamp::parse("2026-11-25T18:00:00Z").unwrap(),
                }
                .to_json(),
            )
            .unwrap()
    };
    let with_token = |token: &str| event.replace("REPLACE_WITH_THE_USERS_TOKEN", token);
    let (status, body) = invoke(&router, &with_token(&token_for("alice"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = invoke(&router, &with_token(&token_for("mallory"))).await;
    assert_eq!(status, 401, "the token and the verified claims disagree");
    let (status, _) = invoke(&router, &event).await;
    assert_eq!(status, 401, "no valid token in the header");
}
