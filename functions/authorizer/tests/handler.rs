//! The authorizer on its `events/authorizer-*.json` fixtures, over the in-memory store
//! with a manual clock: who is let through, what the backend learns, and how long a
//! cached verification can outlive a revocation.

use keyroll_core::service::{EmergencySource, Start};
use keyroll_core::testing::TestKeyroll;
use std::sync::Arc;

use keyroll_authorizer::{handle, Deps};
use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId, Scope};
use keyroll_core::key::KeyClass;
use keyroll_core::service::{EmergencyRequest, Keyroll, NewKey, RotationRequest};
use keyroll_core::time::{ManualClock, Timestamp};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

const PLACEHOLDER: &str = "sk_live_REPLACE_WITH_A_SECRET";

fn fixture(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("fixture exists")
}

/// The HTTP API (payload 2.0) fixture presenting `secret`.
fn http_api_event(secret: &str) -> Value {
    serde_json::from_str(&fixture("authorizer-http-api.json").replace(PLACEHOLDER, secret))
        .expect("fixture is JSON")
}

/// The REST API (REQUEST type) fixture presenting `secret` in `X-Api-Key`.
fn rest_api_event(secret: &str) -> Value {
    serde_json::from_str(&fixture("authorizer-rest-api.json").replace(PLACEHOLDER, secret))
        .expect("fixture is JSON")
}

struct World {
    keyroll: Arc<Keyroll>,
    clock: ManualClock,
    actor: Actor,
}

fn world(cache_seconds: u64) -> World {
    let wired = TestKeyroll::new()
        .setting("KEYROLL_VERIFY_CACHE_SECONDS", &cache_seconds.to_string())
        .starting_at(Timestamp::parse("2026-11-25T18:00:00Z").unwrap())
        .without_vault()
        .build();
    World {
        keyroll: Arc::new(wired.keyroll),
        clock: wired.clock,
        actor: Actor::parse("alice").unwrap(),
    }
}

impl World {
    async fn issue(&self) -> (KeyId, String) {
        let issued = self
            .keyroll
            .issue_key(
                NewKey {
                    organization_id: OrganizationId::parse("org_acme").unwrap(),
                    name: KeyName::parse("acme backend").unwrap(),
                    scopes: vec![
                        Scope::parse("charges:read").unwrap(),
                        Scope::parse("charges:write").unwrap(),
                    ],
                    rate_limit: 250,
                    class: KeyClass::Server,
                    expires_at: None,
                },
                &self.actor,
            )
            .await
            .unwrap();
        (issued.key.id, issued.secret.expose().to_owned())
    }
}

async fn invoke(deps: &Deps, event: Value) -> Value {
    handle(deps, LambdaEvent::new(event, Context::default()))
        .await
        .expect("the authorizer answers")
}

async fn allowed_http(deps: &Deps, secret: &str) -> bool {
    let answer = invoke(deps, http_api_event(secret)).await;
    answer["isAuthorized"].as_bool().expect("simple response")
}

#[tokio::test]
async fn http_api_allows_a_current_secret_and_passes_who_it_is() {
    let w = world(10);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, secret) = w.issue().await;
    let answer = invoke(&deps, http_api_event(&secret)).await;
    assert_eq!(
        answer,
        json!({
            "isAuthorized": true,
            "context": {
                "keyId": key_id.to_string(),
                "organizationId": "org_acme",
                "scopes": "charges:read charges:write",
                "rateLimit": 250,
                "stage": "current",
            }
        })
    );
}

#[tokio::test]
async fn rest_api_gets_an_allow_or_deny_policy_for_the_method() {
    let w = world(10);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, secret) = w.issue().await;
    let method = "arn:aws:execute-api:us-east-1:123456789012:f6g7h8i9j0/prod/*/*";

    let answer = invoke(&deps, rest_api_event(&secret)).await;
    assert_eq!(answer["principalId"], key_id.to_string());
    assert_eq!(
        answer["policyDocument"]["Statement"][0],
        json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method})
    );
    assert_eq!(answer["context"]["keyId"], key_id.to_string());
    assert_eq!(answer["context"]["rateLimit"], 250);

    let denied = invoke(&deps, rest_api_event("sk_live_nonsense")).await;
    assert_eq!(denied["principalId"], "anonymous");
    assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(denied["context"], json!({}), "nothing for a denied caller");

    // TOKEN authorizers carry the header's value in authorizationToken.
    let token = json!({"type": "TOKEN", "authorizationToken": format!("Bearer {secret}"), "methodArn": method});
    let answer = invoke(&deps, token).await;
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");
}

#[tokio::test]
async fn pending_and_in_grace_previous_secrets_pass_with_their_stage() {
    let w = world(0);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, old) = w.issue().await;
    let scheduled = w
        .keyroll
        .schedule_rotation(
            &key_id,
            RotationRequest {
                start: Start::At(w.keyroll.now().plus_seconds(60)),
                grace_seconds: Some(120),
                ..Default::default()
            },
            &w.actor,
        )
        .await
        .unwrap();
    let new = scheduled.handout.returned().unwrap().expose().to_owned();
    let stage = |answer: &Value| answer["context"]["stage"].as_str().map(str::to_owned);

    let answer = invoke(&deps, http_api_event(&new)).await;
    assert_eq!(stage(&answer).as_deref(), Some("pending"));
    let answer = invoke(&deps, http_api_event(&old)).await;
    assert_eq!(stage(&answer).as_deref(), Some("current"));

    w.clock.advance(60);
    w.keyroll
        .advance_rotation(&scheduled.rotation.id)
        .await
        .unwrap(); // the processor starts it
    let answer = invoke(&deps, http_api_event(&old)).await;
    assert_eq!(stage(&answer).as_deref(), Some("previous"));
    // Going away: the backend (and through it the caller, as `Sunset`) learns when.
    let grace_end = w.keyroll.now().plus_seconds(120);
    assert_eq!(answer["context"]["sunset"], grace_end.to_rfc3339());
    assert_eq!(
        answer["context"]["sunsetHttpDate"],
        grace_end.to_http_date()
    );
    let answer = invoke(&deps, http_api_event(&new)).await;
    assert_eq!(stage(&answer).as_deref(), Some("current"));
    assert!(answer["context"].get("sunset").is_none(), "{answer}");

    // The grace ends: the old secret is refused to the second, processor or not.
    w.clock.advance(120);
    assert!(!allowed_http(&deps, &old).await, "expired");
    assert!(allowed_http(&deps, &new).await);
}

#[tokio::test]
async fn missing_malformed_unknown_expired_and_revoked_secrets_get_the_same_denial() {
    let w = world(0);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, secret) = w.issue().await;
    let (_, other) = w.issue().await;
    // A well-formed secret (right prefix, length and checksum) that was never issued:
    // the other key's secret with one body character changed is not it, so mint a
    // fresh one through a throw-away service.
    let unknown = {
        let elsewhere = world(0);
        elsewhere.issue().await.1
    };
    let mut typo: Vec<char> = other.chars().collect();
    typo[20] = if typo[20] == 'a' { 'b' } else { 'a' };
    let typo: String = typo.into_iter().collect();

    let mut no_header = http_api_event(&secret);
    no_header["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let mut answers = vec![
        invoke(&deps, no_header).await,
        invoke(&deps, http_api_event("")).await,
        invoke(&deps, http_api_event("sk_live_short")).await,
        invoke(&deps, http_api_event(&typo)).await,
        invoke(&deps, http_api_event(&unknown)).await,
    ];
    // Revoked: an emergency rotation with no grace.
    w.keyroll
        .emergency_rotation(
            &key_id,
            EmergencyRequest {
                reason: keyroll_core::ids::Reason::parse("leaked").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &w.actor,
        )
        .await
        .unwrap();
    answers.push(invoke(&deps, http_api_event(&secret)).await);
    for answer in answers {
        assert_eq!(
            answer,
            json!({"isAuthorized": false}),
            "no detail in a denial"
        );
    }
    assert!(
        allowed_http(&deps, &other).await,
        "other keys are unaffected"
    );
}

#[tokio::test]
async fn x_api_key_header_and_bearer_scheme_in_any_case_are_read() {
    let w = world(0);
    let deps = Deps::new(w.keyroll.clone());
    let (_, secret) = w.issue().await;
    let mut event = http_api_event(&secret);
    let headers = event["headers"].as_object_mut().unwrap();
    headers.remove("authorization");
    headers.insert("x-api-key".into(), json!(secret));
    assert_eq!(invoke(&deps, event).await["isAuthorized"], true);

    let mut event = http_api_event(&secret);
    event["headers"]["authorization"] = json!(format!("bearer {secret}"));
    assert_eq!(invoke(&deps, event).await["isAuthorized"], true);

    let mut event = http_api_event(&secret);
    event["headers"]["authorization"] = json!(format!("Basic {secret}"));
    assert_eq!(invoke(&deps, event).await["isAuthorized"], false);
}

/// The cache bound: a secret revoked after it was verified passes for less than
/// KEYROLL_VERIFY_CACHE_SECONDS, then never again; without a cache it fails at once.
#[tokio::test]
async fn a_revoked_secret_passes_at_most_for_the_cache_time() {
    for cache_seconds in [0u64, 10] {
        let w = world(cache_seconds);
        let deps = Deps::new(w.keyroll.clone());
        let (key_id, secret) = w.issue().await;
        assert!(allowed_http(&deps, &secret).await, "cached now");
        let revoked_at = w.keyroll.now();
        w.keyroll
            .emergency_rotation(
                &key_id,
                EmergencyRequest {
                    reason: keyroll_core::ids::Reason::parse("leaked").unwrap(),
                    grace_seconds: Some(0),
                    source: EmergencySource::Operator,
                },
                &w.actor,
            )
            .await
            .unwrap();
        let mut last_allowed = None;
        for _ in 0..=cache_seconds + 2 {
            if allowed_http(&deps, &secret).await {
                last_allowed = Some(w.keyroll.now().seconds_since(revoked_at));
            }
            w.clock.advance(1);
        }
        match cache_seconds {
            0 => assert_eq!(last_allowed, None, "no cache: refused at once"),
            n => assert_eq!(
                last_allowed,
                Some(n as i64 - 1),
                "passes for less than {n} s after the read it reuses"
            ),
        }
    }
}

/// A key's new scopes and rate limit reach the backend's context once the cache bound
/// has passed (every secret record is rewritten with the change).
#[tokio::test]
async fn patched_scopes_reach_the_context_within_the_cache_bound() {
    let w = world(10);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, secret) = w.issue().await;
    let context = |answer: Value| answer["context"].clone();
    let before = context(invoke(&deps, http_api_event(&secret)).await);
    assert_eq!(before["scopes"], "charges:read charges:write");
    let patch = keyroll_core::service::KeyPatch {
        scopes: Some(vec![Scope::parse("refunds:write").unwrap()]),
        rate_limit: Some(50),
        ..Default::default()
    };
    w.keyroll
        .update_key(
            &key_id,
            &patch,
            None,
            keyroll_core::service::KeyScope::Any,
            &w.actor,
        )
        .await
        .unwrap();
    // Within the bound the cached verification may still answer.
    w.clock.advance(9);
    let cached = context(invoke(&deps, http_api_event(&secret)).await);
    assert_eq!(cached["scopes"], "charges:read charges:write");
    w.clock.advance(1);
    let after = context(invoke(&deps, http_api_event(&secret)).await);
    assert_eq!(after["scopes"], "refunds:write");
    assert_eq!(after["rateLimit"], 50);
}

/// Expiry is checked on every request, cached or not: the end of a grace is exact
/// even when the secret was verified a second earlier.
#[tokio::test]
async fn a_cached_secret_still_expires_to_the_second() {
    let w = world(300);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, old) = w.issue().await;
    w.keyroll
        .schedule_rotation(
            &key_id,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(5),
                ..Default::default()
            },
            &w.actor,
        )
        .await
        .unwrap();
    w.clock.advance(4);
    assert!(allowed_http(&deps, &old).await, "in grace, now cached");
    w.clock.advance(1);
    assert!(!allowed_http(&deps, &old).await, "the grace ended");
}

#[tokio::test]
async fn an_event_that_is_not_an_authorizer_request_is_an_error() {
    let w = world(0);
    let deps = Deps::new(w.keyroll.clone());
    let scheduled = fixture("processor-schedule.json");
    let result = handle(
        &deps,
        LambdaEvent::new(
            serde_json::from_str(&scheduled).unwrap(),
            Context::default(),
        ),
    )
    .await;
    let error = result.expect_err("refused").to_string();
    assert!(
        error.contains("not an API Gateway authorizer request"),
        "{error}"
    );
}

/// Each allowed request is attributed to its caller, from either request shape: the
/// source's /24 (never the address), the User-Agent's product, `Keyroll-Client` and the
/// app version header; cached answers count too.
#[tokio::test]
async fn every_allowed_request_is_attributed_to_its_caller() {
    use keyroll_core::callers::MoveStatus;
    use keyroll_core::service::KeyScope;
    let w = world(10);
    let deps = Deps::new(w.keyroll.clone());
    let (key_id, secret) = w.issue().await;
    assert!(allowed_http(&deps, &secret).await);
    w.clock.advance(60);
    assert!(allowed_http(&deps, &secret).await, "cached");
    let rest = invoke(&deps, rest_api_event(&secret)).await;
    assert_eq!(rest["policyDocument"]["Statement"][0]["Effect"], "Allow");
    w.clock.advance(60);
    assert!(
        allowed_http(&deps, &secret).await,
        "writes the minute's callers"
    );
    let found = w.keyroll.key_callers(&key_id, KeyScope::Any).await.unwrap();
    let callers: Vec<_> = found
        .callers
        .iter()
        .map(|c| {
            (
                c.caller.network.as_deref(),
                c.caller.agent.as_deref(),
                c.caller.client.as_deref(),
                c.caller.app_version.as_deref(),
                c.status,
            )
        })
        .collect();
    assert_eq!(
        callers,
        [
            (
                Some("203.0.113.0/24"),
                Some("acme-sdk/2.3.0"),
                Some("keyroll-python/0.1.0"),
                Some("3.1"),
                MoveStatus::Moved,
            ),
            (
                Some("203.0.113.0/24"),
                Some("acme-sdk/2.3.0"),
                None,
                None,
                MoveStatus::Moved,
            ),
        ],
        "the HTTP API's caller (3 uses) before the REST API's (1)"
    );
    assert_eq!(
        found.callers[0].versions[0].uses_7d, 3,
        "the minute's write carries the use that made it"
    );
}

/// Verification with callers, at TRACE: no log line carries a secret (presented, old,
/// new, or one a careless client put in its User-Agent) or a caller's full address.
#[tokio::test]
async fn no_log_line_at_any_level_carries_a_secret_or_an_address() {
    let logs = keyroll_core::testing::logs::CapturedLogs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let w = world(0);
    let deps = Deps::new(w.keyroll.clone());
    let (id, old) = w.issue().await;
    let careless = |secret: &str| {
        let mut event = http_api_event(secret);
        event["headers"]["user-agent"] = Value::from(format!("{secret} (copied by mistake)"));
        event
    };
    assert_eq!(invoke(&deps, careless(&old)).await["isAuthorized"], true);
    let rotated = w
        .keyroll
        .schedule_rotation(
            &id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &w.actor,
        )
        .await
        .unwrap();
    let new = rotated.handout.returned().unwrap().expose().to_owned();
    for minute in 0..3 {
        w.clock.advance(60 * minute);
        for secret in [&old, &new] {
            assert_eq!(invoke(&deps, careless(secret)).await["isAuthorized"], true);
            assert_eq!(
                invoke(&deps, http_api_event(secret)).await["isAuthorized"],
                true
            );
        }
    }
    let forged = format!("{}x", &old[..old.len() - 1]);
    assert_eq!(
        invoke(&deps, http_api_event(&forged)).await["isAuthorized"],
        false
    );
    // What was stored of the careless caller holds no secret either.
    let callers = w
        .keyroll
        .key_callers(&id, keyroll_core::service::KeyScope::Any)
        .await
        .unwrap();
    assert!(!callers.callers.is_empty());
    let stored = format!("{:?}", callers.callers);

    let text = logs.text();
    assert!(!text.is_empty(), "the subscriber saw the verification");
    for (what, needle) in [
        ("the old secret", &old[..20]),
        ("the new secret", &new[..20]),
        ("a forged secret", &forged[..20]),
        ("the caller's address", "203.0.113.7"),
    ] {
        assert!(!text.contains(needle), "{what} in the logs");
        assert!(!stored.contains(needle), "{what} in the caller log");
    }
}
