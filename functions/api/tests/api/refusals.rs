//! What the API refuses: missing credentials, invalid input, hostile bodies; never a 5xx, never a change.

use crate::support::*;

#[tokio::test]
async fn every_route_requires_auth_and_changes_nothing_without_it() {
    let app = spawn_app();
    let (key, secret) = app.create_key().await;
    let before = app.snapshot(&key).await;
    let rotation = "rot_01m89zdh2fkg7qrmj3n31f4rc2";
    let routes = [
        ("POST", "/v1/keys".to_owned()),
        ("GET", format!("/v1/keys/{key}")),
        ("POST", format!("/v1/keys/{key}/rotations")),
        ("GET", format!("/v1/keys/{key}/rotations")),
        ("POST", format!("/v1/keys/{key}/emergency-rotation")),
        ("GET", format!("/v1/rotations/{rotation}")),
        ("POST", format!("/v1/rotations/{rotation}/cancel")),
        ("POST", format!("/v1/rotations/{rotation}/complete")),
        ("POST", format!("/v1/rotations/{rotation}/extend")),
        ("GET", format!("/v1/keys/{key}/audit")),
        ("POST", "/v1/verify".to_owned()),
        ("POST", "/v1/admin/process".to_owned()),
        ("POST", format!("/v1/rotations/{rotation}/reveal")),
        ("GET", "/v1/compliance".to_owned()),
        ("GET", "/v1/compliance.csv".to_owned()),
        ("POST", "/v1/admin/scan".to_owned()),
        ("POST", "/v1/keys/import".to_owned()),
    ];
    let body = json!({"reason": "x", "secret": secret, "immediate": true}).to_string();
    for (method, path) in &routes {
        for auth in [
            "",
            "Bearer wrong-token",
            "Basic dGVzdA==",
            &format!("Bearer {TOKEN}x"),
        ] {
            // An empty Authorization header stands for "no credentials".
            let reply = app
                .raw(method, path, Some(body.clone()), &[("authorization", auth)])
                .await;
            assert_problem(&reply, 401);
        }
    }
    assert_eq!(app.snapshot(&key).await, before);
    // The OpenAPI document is public.
    let document = app
        .raw("GET", "/openapi.json", None, &[("authorization", "")])
        .await;
    assert_eq!(document.status, StatusCode::OK);
}

#[tokio::test]
async fn invalid_input_gets_the_documented_status_and_changes_nothing() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let before = app.snapshot(&key).await;
    let rotations = format!("/v1/keys/{key}/rotations");
    let emergency = format!("/v1/keys/{key}/emergency-rotation");
    // (method, path, body, extra headers, expected status)
    type Case<'a> = (
        &'a str,
        String,
        Option<String>,
        Vec<(&'a str, &'a str)>,
        u16,
    );
    let cases: Vec<Case> = vec![
        // 404: unknown or malformed ids, unknown routes
        ("GET", "/v1/keys/key_01m89zdh2fkg7qrmj3n31f4rc2".into(), None, vec![], 404),
        ("GET", "/v1/keys/nonsense".into(), None, vec![], 404),
        ("POST", "/v1/keys/key_01m89zdh2fkg7qrmj3n31f4rc2/rotations".into(), Some("{}".into()), vec![], 404),
        ("GET", "/v1/rotations/rot_01m89zdh2fkg7qrmj3n31f4rc2".into(), None, vec![], 404),
        ("POST", "/v1/rotations/rot_nope/complete".into(), None, vec![], 404),
        ("GET", "/v1/nothing-here".into(), None, vec![], 404),
        // 405
        ("DELETE", format!("/v1/keys/{key}"), None, vec![], 405),
        // 409: well formed, but outside the key's policy or past
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": 0}).to_string()), vec![], 409),
        ("POST", rotations.clone(), Some(json!({"scheduledAt": "2025-12-31T23:59:59Z"}).to_string()), vec![], 409),
        ("POST", emergency.clone(), Some(json!({"reason": "leak", "gracePeriodSeconds": 86_401}).to_string()), vec![], 409),
        // 422: outside the document: grace past any policy, long reason, unknown field, bad types
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": 99_999_999}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"scheduledAt": "tomorrow"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"immediate": true, "scheduledAt": "2026-02-01T00:00:00Z"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"reason": "x".repeat(501)}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"reason": "ok", "color": "blue"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": -5}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": "sk_live_lookslikeasecret"}).to_string()), vec![], 422),
        ("POST", emergency.clone(), Some(json!({}).to_string()), vec![], 422),
        ("POST", emergency.clone(), Some(json!({"reason": "   "}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "bad org", "name": "n", "rateLimit": 1}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "org", "name": "n", "rateLimit": 0}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1, "class": "root"}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1, "scopes": vec!["s"; 51]}).to_string()), vec![], 422),
        ("POST", "/v1/verify".into(), Some(json!({}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some("{}".into()), vec![("idempotency-key", "short")], 422),
        // A body that is not an object, though every field is optional (a merge patch
        // of `[]` was once taken field by position)
        ("PATCH", format!("/v1/keys/{key}"), Some("[]".into()), vec![("content-type", "application/merge-patch+json")], 422),
        ("POST", rotations.clone(), Some("[]".into()), vec![], 422),
        ("POST", "/v1/verify".into(), Some("\"sk_live_lookslikeasecret\"".into()), vec![], 422),
        // 400: malformed JSON
        ("POST", rotations.clone(), Some("{\"reason\": ".into()), vec![], 400),
        ("POST", emergency.clone(), Some("{\"reason\": \"x\",}".into()), vec![], 400),
        ("POST", "/v1/verify".into(), Some("not json".into()), vec![], 400),
        ("POST", rotations.clone(), Some(format!("{}{}", "[".repeat(200), "]".repeat(200))), vec![], 400),
        ("POST", rotations.clone(), Some("{\"reason\": \"unterminated}".into()), vec![], 400),
        // 413: over 64 KiB
        ("POST", rotations.clone(), Some(json!({"reason": "x".repeat(70_000)}).to_string()), vec![], 413),
        ("POST", "/v1/verify".into(), Some(json!({"secret": "x".repeat(65_537)}).to_string()), vec![], 413),
        // 415: not JSON
        ("POST", rotations.clone(), Some("reason=x".into()), vec![("content-type", "application/x-www-form-urlencoded")], 415),
    ];
    for (method, path, body, headers, status) in cases {
        let reply = app.raw(method, &path, body.clone(), &headers).await;
        assert_problem(&reply, status);
        assert!(
            !reply.text.contains("sk_live_lookslikeasecret"),
            "input echoed: {}",
            reply.text
        );
        assert_eq!(
            app.snapshot(&key).await,
            before,
            "{method} {path} {body:?} changed state"
        );
    }
    // A revoked-by-emergency key is still active; a 409 for wrong state is covered in
    // rotation_actions_and_their_refusals.
}

#[tokio::test]
async fn hostile_bodies_never_cause_a_5xx_or_a_change() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let scheduled = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({})),
        )
        .await;
    let rotation = scheduled.body["rotation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.snapshot(&key).await;
    let posts = [
        "/v1/keys".to_owned(),
        format!("/v1/keys/{key}/rotations"),
        format!("/v1/keys/{key}/emergency-rotation"),
        format!("/v1/rotations/{rotation}/extend"),
        "/v1/verify".to_owned(),
    ];
    let hostile = [
        "null".to_owned(),
        "true".to_owned(),
        "\"string\"".to_owned(),
        "12345678901234567890123456789".to_owned(),
        "[]".to_owned(),
        "{\"reason\": null, \"gracePeriodSeconds\": 1e400}".to_owned(),
        "{\"reason\": \"\\u0000\\u001b[31m\"}".to_owned(),
        "{\"reason\": \"\\ud800\"}".to_owned(),
        "{\"secret\": 1}".to_owned(),
        "{\"organizationId\": {\"$ne\": null}, \"name\": [], \"rateLimit\": 4294967296}".to_owned(),
        "{\"reason\": \"x\", \"reason\": \"y\"}".to_owned(),
        "\u{feff}{}".to_owned(),
        "{\"gracePeriodSeconds\": 18446744073709551616, \"reason\": \"r\"}".to_owned(),
        format!("{{\"reason\": \"{}\"}}", "\\\"".repeat(5000)),
    ];
    for path in &posts {
        for body in &hostile {
            let reply = app.raw("POST", path, Some(body.clone()), &[]).await;
            assert!(
                reply.status.is_client_error(),
                "{path} {body}: {} {}",
                reply.status,
                reply.text
            );
            assert_eq!(
                reply.content_type, "application/problem+json",
                "{path} {body}"
            );
        }
    }
    assert_eq!(app.snapshot(&key).await, before);
}

/// A vault that is down (Secrets Manager throttling or unreachable).
struct UnreachableVault;

#[async_trait::async_trait]
impl keyroll_core::vault::SecretVault for UnreachableVault {
    async fn put(
        &self,
        _name: &str,
        _secret: &keyroll_core::secret::RawSecret,
        _tags: &[(&str, &str)],
    ) -> Result<(), keyroll_core::vault::VaultError> {
        Err(keyroll_core::vault::VaultError::because(
            keyroll_core::error::Dependency::Vault,
            "CreateSecret",
            "connect timed out to 10.0.0.7",
        ))
    }
    async fn get(
        &self,
        _name: &str,
    ) -> Result<Option<keyroll_core::secret::RawSecret>, keyroll_core::vault::VaultError> {
        Err(keyroll_core::vault::VaultError::because(
            keyroll_core::error::Dependency::Vault,
            "GetSecretValue",
            "connect timed out to 10.0.0.7",
        ))
    }
    async fn delete(&self, _name: &str) -> Result<(), keyroll_core::vault::VaultError> {
        Err(keyroll_core::vault::VaultError::because(
            keyroll_core::error::Dependency::Vault,
            "DeleteSecret",
            "connect timed out to 10.0.0.7",
        ))
    }
}

/// A vault outage is the dependency being unavailable: 503 (retry later), saying
/// nothing of the cause, and nothing changed; not a 500 that calls it a bug.
#[tokio::test]
async fn a_vault_outage_answers_503_and_changes_nothing() {
    let app = spawn_app_on(TestKeyroll::new().vault(Arc::new(UnreachableVault)), None);
    let (key, secret) = app.create_key().await;
    // Self-service successors are sealed to the key's delivery key.
    let registered = app
        .call("PUT", &format!("/v1/keys/{key}/delivery-key"), Some(json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}})))
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    let before = app.snapshot(&key).await;
    let reply = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"immediate": true, "selfService": true})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.content_type, "application/problem+json");
    assert!(!reply.text.contains("10.0.0.7"), "{}", reply.text);
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("retry later"));
    assert_eq!(app.snapshot(&key).await, before);
    assert_eq!(app.verify(&secret).await, "VALID");
}
