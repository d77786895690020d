//! In-process tests of every route and every error row, through the real router with
//! `oneshot`, over the in-memory store and a manual clock.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keyroll_api::{app, AppState, Auth};
use keyroll_core::config::Config;
use keyroll_core::service::Keyroll;
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::time::{ManualClock, Timestamp};
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token-0123456789";

struct TestApp {
    router: Router,
    clock: ManualClock,
}

struct Reply {
    status: StatusCode,
    content_type: String,
    replayed: bool,
    body: Value,
    text: String,
}

fn epoch() -> Timestamp {
    Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
}

fn spawn_app() -> TestApp {
    spawn_app_with(&[])
}

/// The app with settings beyond the test defaults.
fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    let clock = ManualClock::new(epoch());
    let mut all = std::collections::HashMap::from([("KEYROLL_MIN_GRACE_SECONDS", "1")]);
    all.extend(settings.iter().copied());
    let config = Config::from_lookup(|name| all.get(name).map(|v| v.to_string())).unwrap();
    let keyroll = Keyroll::new(
        Arc::new(MemoryStore::new()),
        Arc::new(clock.clone()),
        Arc::new(config),
    )
    .with_vault(Arc::new(keyroll_core::vault::MemoryVault::new()));
    let router = app(AppState {
        keyroll: Arc::new(keyroll),
        queue: None,
        auth: Auth::admin_token(TOKEN),
    });
    TestApp { router, clock }
}

impl TestApp {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            replayed,
            body,
            text,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.raw(method, path, body.map(|b| b.to_string()), &[])
            .await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        let mut has_auth = false;
        let mut has_type = false;
        for (name, value) in headers {
            has_auth |= name.eq_ignore_ascii_case("authorization");
            has_type |= name.eq_ignore_ascii_case("content-type");
            builder = builder.header(*name, *value);
        }
        if !has_auth {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        if body.is_some() && !has_type {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    async fn create_key(&self) -> (String, String) {
        let reply = self
            .call("POST", "/v1/keys", Some(json!({"organizationId": "org_acme", "name": "prod", "scopes": ["charges:read"], "rateLimit": 100})))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (
            reply.body["key"]["id"].as_str().unwrap().to_owned(),
            reply.body["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn verify(&self, secret: &str) -> String {
        let reply = self
            .call("POST", "/v1/verify", Some(json!({"secret": secret})))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["code"].as_str().unwrap().to_owned()
    }

    /// Everything observable about a key, to prove a refused request changed nothing.
    async fn snapshot(&self, key_id: &str) -> (Value, Value, Value) {
        let key = self
            .call("GET", &format!("/v1/keys/{key_id}"), None)
            .await
            .body;
        let rotations = self
            .call("GET", &format!("/v1/keys/{key_id}/rotations"), None)
            .await
            .body;
        let audit = self
            .call("GET", &format!("/v1/keys/{key_id}/audit"), None)
            .await
            .body;
        (key, rotations, audit)
    }
}

fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{}",
        reply.text
    );
    assert_eq!(reply.body["status"], status, "{}", reply.text);
    assert!(
        reply.body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://keyroll.dev/problems/"),
        "{}",
        reply.text
    );
    assert!(
        reply.body["title"].is_string() && reply.body["detail"].is_string(),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn issue_and_read_a_key_without_exposing_hashes() {
    let app = spawn_app();
    let reply = app
        .call("POST", "/v1/keys", Some(json!({"organizationId": "org_acme", "name": "mobile", "scopes": ["a", "b"], "rateLimit": 5, "class": "embedded"})))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let secret = reply.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("sk_live_"));
    let id = reply.body["key"]["id"].as_str().unwrap();
    assert_eq!(reply.body["key"]["class"], "embedded");

    let got = app.call("GET", &format!("/v1/keys/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    let version = &got.body["key"]["versions"][0];
    assert_eq!(version["version"], 1);
    assert_eq!(version["stage"], "current");
    assert_eq!(version["prefix"], &secret[..16]);
    assert_eq!(version["createdAt"], "2026-01-01T00:00:00Z");
    assert!(version.get("expiresAt").is_some() && version.get("lastUsedAt").is_some());
    for forbidden in ["lookupHash", "verifier", "scrypt", &secret[16..]] {
        assert!(!got.text.contains(forbidden), "{forbidden} in {}", got.text);
    }
}

#[tokio::test]
async fn scheduled_rotation_over_http() {
    let app = spawn_app();
    let (key, old) = app.create_key().await;
    let reply = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"reason": "quarterly", "gracePeriodSeconds": 3600})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let rotation = &reply.body["rotation"];
    let new = reply.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotation["status"], "scheduled");
    assert_eq!(rotation["trigger"], "manual");
    assert_eq!(
        rotation["scheduledAt"], "2026-01-02T00:00:00Z",
        "default start is now + 24 h"
    );
    assert_eq!(rotation["graceEndsAt"], "2026-01-02T01:00:00Z");
    for field in [
        "id",
        "keyId",
        "reason",
        "oldPrefix",
        "newPrefix",
        "createdAt",
        "completedAt",
    ] {
        assert!(rotation.get(field).is_some(), "{field} missing");
    }
    assert_eq!(app.verify(&old).await, "VALID");
    assert_eq!(app.verify(&new).await, "VALID");
    let rotation_id = rotation["id"].as_str().unwrap().to_owned();

    let got = app
        .call("GET", &format!("/v1/rotations/{rotation_id}"), None)
        .await;
    assert_eq!(got.body["rotation"]["id"], rotation_id.as_str());

    // The processor route starts it when due, then completes it.
    app.clock
        .set(Timestamp::parse("2026-01-02T00:00:00Z").unwrap());
    let processed = app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(processed.status, StatusCode::OK, "{}", processed.text);
    assert_eq!(
        processed.body,
        json!({"started": 1, "reminded": 0, "completed": 0, "extended": 0, "failed": 0, "markedFailed": 0, "notified": 0, "remaining": 0})
    );
    app.clock
        .set(Timestamp::parse("2026-01-02T01:00:00Z").unwrap());
    assert_eq!(
        app.verify(&old).await,
        "EXPIRED",
        "expired to the second, before the processor runs"
    );
    let processed = app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(processed.body["completed"], 1);
    assert_eq!(app.verify(&old).await, "REVOKED");
    assert_eq!(app.verify(&new).await, "VALID");

    let audit = app
        .call("GET", &format!("/v1/keys/{key}/audit"), None)
        .await;
    assert_eq!(audit.body["chainValid"], true);
    let actions: Vec<_> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "key.created",
            "rotation.scheduled",
            "rotation.started",
            "rotation.completed"
        ]
    );
    assert!(!audit.text.contains(&new[16..]) && !audit.text.contains(&old[16..]));
}

#[tokio::test]
async fn rotation_actions_and_their_refusals() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let first = app
        .call("POST", &format!("/v1/keys/{key}/rotations"), None)
        .await;
    assert_eq!(
        first.status,
        StatusCode::CREATED,
        "empty body means all defaults: {}",
        first.text
    );
    let first_id = first.body["rotation"]["id"].as_str().unwrap().to_owned();

    // A second schedule while one is in progress: 409 naming it.
    let second = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({})),
        )
        .await;
    assert_problem(&second, 409);
    assert_eq!(second.body["rotationId"], first_id.as_str());

    // Extend, then cancel while scheduled.
    let extended = app
        .call(
            "POST",
            &format!("/v1/rotations/{first_id}/extend"),
            Some(json!({"gracePeriodSeconds": 600, "reason": "customer asked"})),
        )
        .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.text);
    assert_eq!(
        extended.body["rotation"]["graceEndsAt"],
        "2026-01-05T00:10:00Z"
    );
    let cancelled = app
        .call(
            "POST",
            &format!("/v1/rotations/{first_id}/cancel"),
            Some(json!({"reason": "not now"})),
        )
        .await;
    assert_eq!(cancelled.body["rotation"]["status"], "cancelled");
    assert_problem(
        &app.call("POST", &format!("/v1/rotations/{first_id}/cancel"), None)
            .await,
        409,
    );
    assert_problem(
        &app.call("POST", &format!("/v1/rotations/{first_id}/complete"), None)
            .await,
        409,
    );

    // Immediate rotation, then complete it early.
    let immediate = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"immediate": true})),
        )
        .await;
    assert_eq!(immediate.body["rotation"]["status"], "grace_period");
    let immediate_id = immediate.body["rotation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        &app.call(
            "POST",
            &format!("/v1/rotations/{immediate_id}/cancel"),
            None,
        )
        .await,
        409,
    );
    let completed = app
        .call(
            "POST",
            &format!("/v1/rotations/{immediate_id}/complete"),
            Some(json!({})),
        )
        .await;
    assert_eq!(completed.body["rotation"]["status"], "completed");

    // Emergency, with 0 grace; then its extension is refused.
    let emergency = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/emergency-rotation"),
            Some(json!({"reason": "leaked", "gracePeriodSeconds": 0})),
        )
        .await;
    assert_eq!(emergency.status, StatusCode::CREATED, "{}", emergency.text);
    assert_eq!(emergency.body["rotation"]["trigger"], "emergency");
    let emergency_id = emergency.body["rotation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        &app.call(
            "POST",
            &format!("/v1/rotations/{emergency_id}/extend"),
            Some(json!({"gracePeriodSeconds": 60, "reason": "x"})),
        )
        .await,
        409,
    );
    let immediate_secret = immediate.body["secret"].as_str().unwrap();
    assert_eq!(app.verify(immediate_secret).await, "REVOKED");

    let recent = app.call("GET", "/v1/emergencies", None).await;
    assert_eq!(
        recent.body["rotations"][0]["id"],
        emergency_id.as_str(),
        "completed emergencies stay listed"
    );
    assert_problem(&app.call("GET", "/v1/emergencies?days=0", None).await, 422);
    let listed = app
        .call("GET", &format!("/v1/keys/{key}/rotations"), None)
        .await;
    let ids: Vec<_> = listed.body["rotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [emergency_id, immediate_id, first_id], "newest first");
    assert_eq!(
        app.call("GET", &format!("/v1/keys/{key}/audit"), None)
            .await
            .body["chainValid"],
        true
    );
}

#[tokio::test]
async fn verify_answers_every_code() {
    let app = spawn_app();
    let (key, old) = app.create_key().await;
    assert_eq!(app.verify("not a key").await, "MALFORMED");
    let mut typo: Vec<char> = old.chars().collect();
    typo[30] = if typo[30] == 'x' { 'y' } else { 'x' };
    assert_eq!(
        app.verify(&typo.into_iter().collect::<String>()).await,
        "MALFORMED"
    );
    assert_eq!(
        app.verify(&format!("sk_live_{}", "ab".repeat(32))).await,
        "NOT_FOUND"
    );
    let valid = app
        .call("POST", "/v1/verify", Some(json!({"secret": old})))
        .await;
    assert_eq!(valid.body["valid"], true);
    assert_eq!(valid.body["keyId"], key.as_str());
    assert_eq!(valid.body["organizationId"], "org_acme");
    assert_eq!(valid.body["scopes"], json!(["charges:read"]));
    assert_eq!(valid.body["rateLimit"], 100);
    assert_eq!(valid.body["stage"], "current");
    // The key shows when its secret was last used, and how often per day.
    let shown = app.call("GET", &format!("/v1/keys/{key}"), None).await;
    assert_eq!(
        shown.body["key"]["versions"][0]["lastUsedAt"],
        epoch().to_rfc3339()
    );
    assert_eq!(
        shown.body["key"]["versions"][0]["dailyUses"],
        json!({ epoch().day(): 1 })
    );

    app.call(
        "POST",
        &format!("/v1/keys/{key}/rotations"),
        Some(json!({"immediate": true, "gracePeriodSeconds": 10})),
    )
    .await;
    let shown = app.call("GET", &format!("/v1/keys/{key}"), None).await;
    assert_eq!(
        shown.body["key"]["versions"][1]["lastUsedAt"],
        Value::Null,
        "new, unused"
    );
    assert_eq!(shown.body["key"]["versions"][1]["dailyUses"], json!({}));
    app.clock.advance(10);
    let expired = app
        .call("POST", "/v1/verify", Some(json!({"secret": old})))
        .await;
    assert_eq!(expired.body["code"], "EXPIRED");
    assert_eq!(expired.body["valid"], false);
    assert!(
        expired.body.get("scopes").is_none(),
        "no grants for an invalid secret"
    );
    app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(app.verify(&old).await, "REVOKED");
}

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
        // 422: grace out of bounds, past start, long reason, unknown field, bad types
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": 0}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": 99_999_999}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"scheduledAt": "2025-12-31T23:59:59Z"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"scheduledAt": "tomorrow"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"immediate": true, "scheduledAt": "2026-02-01T00:00:00Z"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"reason": "x".repeat(501)}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"reason": "ok", "color": "blue"}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": -5}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some(json!({"gracePeriodSeconds": "sk_live_lookslikeasecret"}).to_string()), vec![], 422),
        ("POST", emergency.clone(), Some(json!({}).to_string()), vec![], 422),
        ("POST", emergency.clone(), Some(json!({"reason": "   "}).to_string()), vec![], 422),
        ("POST", emergency.clone(), Some(json!({"reason": "leak", "gracePeriodSeconds": 86_401}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "bad org", "name": "n", "rateLimit": 1}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "org", "name": "n", "rateLimit": 0}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1, "class": "root"}).to_string()), vec![], 422),
        ("POST", "/v1/keys".into(), Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1, "scopes": vec!["s"; 51]}).to_string()), vec![], 422),
        ("POST", "/v1/verify".into(), Some(json!({}).to_string()), vec![], 422),
        ("POST", rotations.clone(), Some("{}".into()), vec![("idempotency-key", "short")], 422),
        // 400: malformed JSON
        ("POST", rotations.clone(), Some("{\"reason\": ".into()), vec![], 400),
        ("POST", emergency.clone(), Some("{\"reason\": \"x\",}".into()), vec![], 400),
        ("POST", "/v1/verify".into(), Some("not json".into()), vec![], 400),
        ("POST", rotations.clone(), Some(format!("{}{}", "[".repeat(200), "]".repeat(200))), vec![], 422),
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

#[tokio::test]
async fn idempotency_key_replays_the_first_result_once() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let path = format!("/v1/keys/{key}/rotations");
    let idem = [("idempotency-key", "9b1f2c5e-0d1a-4f6b-8a3e-2c7d9e0f1a2b")];
    let body = json!({"reason": "quarterly", "immediate": true}).to_string();
    let first = app.raw("POST", &path, Some(body.clone()), &idem).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed);
    let retry = app.raw("POST", &path, Some(body.clone()), &idem).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(retry.replayed);
    assert_eq!(retry.body["rotation"]["id"], first.body["rotation"]["id"]);
    assert_eq!(
        retry.body["secret"], first.body["secret"],
        "the same secret, not a second one"
    );
    let versions = app.call("GET", &format!("/v1/keys/{key}"), None).await.body["key"]["versions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(versions, 2, "minted once");

    // Same key, different body: 422 and nothing changes.
    let before = app.snapshot(&key).await;
    let other = app
        .raw(
            "POST",
            &path,
            Some(json!({"reason": "other"}).to_string()),
            &idem,
        )
        .await;
    assert_problem(&other, 422);
    assert_eq!(app.snapshot(&key).await, before);

    // Key creation replays too.
    let create = json!({"organizationId": "org", "name": "n", "rateLimit": 1}).to_string();
    let idem2 = [("idempotency-key", "create-key-0123456789abcdef")];
    let a = app
        .raw("POST", "/v1/keys", Some(create.clone()), &idem2)
        .await;
    let b = app.raw("POST", "/v1/keys", Some(create), &idem2).await;
    assert_eq!(a.body["key"]["id"], b.body["key"]["id"]);
    assert_eq!(a.body["secret"], b.body["secret"]);
    assert!(b.replayed);
}

#[tokio::test]
async fn concurrent_duplicates_get_one_rotation() {
    let app = Arc::new(spawn_app());
    let (key, _) = app.create_key().await;
    let path = format!("/v1/keys/{key}/rotations");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            app.raw(
                "POST",
                &path,
                Some("{}".into()),
                &[("idempotency-key", "dup-0123456789abcdef-000")],
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.push(reply.body["rotation"]["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every duplicate got the one rotation");
    let listed = app
        .call("GET", &format!("/v1/keys/{key}/rotations"), None)
        .await;
    assert_eq!(listed.body["rotations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn openapi_document_lists_every_route_with_schemas() {
    let document = serde_json::to_value(keyroll_api::openapi()).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let routes = [
        ("post", "/v1/keys", true, "201"),
        ("get", "/v1/keys/{keyId}", false, "200"),
        ("post", "/v1/keys/{keyId}/rotations", true, "201"),
        ("post", "/v1/keys/{keyId}/emergency-rotation", true, "201"),
        ("get", "/v1/keys/{keyId}/rotations", false, "200"),
        ("get", "/v1/rotations/{rotationId}", false, "200"),
        ("post", "/v1/rotations/{rotationId}/cancel", true, "200"),
        ("post", "/v1/rotations/{rotationId}/complete", true, "200"),
        ("post", "/v1/rotations/{rotationId}/extend", true, "200"),
        ("get", "/v1/keys/{keyId}/audit", false, "200"),
        ("post", "/v1/verify", true, "200"),
        ("post", "/v1/admin/process", false, "200"),
        ("post", "/v1/rotations/{rotationId}/reveal", false, "200"),
        ("get", "/v1/compliance", false, "200"),
        ("post", "/v1/admin/scan", false, "200"),
        ("get", "/v1/self/successor", false, "200"),
        ("post", "/v1/leaks", true, "200"),
    ];
    for (method, path, has_body, success) in routes {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        if has_body {
            assert!(
                operation["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{method} {path} request schema"
            );
        }
        assert!(
            operation["responses"][success]["content"]["application/json"]["schema"].is_object(),
            "{method} {path} response schema"
        );
        assert!(
            operation["responses"]["401"]["content"]["application/problem+json"]["schema"]
                .is_object(),
            "{method} {path} 401"
        );
    }
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        20,
        "no undocumented extra paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn compliance_report_scan_and_csv() {
    let app = spawn_app();
    // Keys aged 100, 95, 50 and 10 days (server; maximum 90), two organisations.
    for (age, org) in [
        (100u64, "org_a"),
        (95, "org_b"),
        (50, "org_a"),
        (10, "org_a"),
    ] {
        app.clock.set(epoch());
        app.clock.advance(200 * 86_400 - age * 86_400);
        let reply = app
            .call(
                "POST",
                "/v1/keys",
                Some(json!({"organizationId": org, "name": format!("{age} days"), "rateLimit": 1})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    app.clock.set(epoch());
    app.clock.advance(200 * 86_400);

    let before = app.call("GET", "/v1/compliance", None).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    assert_eq!(
        (
            before.body["activeKeys"].as_u64(),
            before.body["compliant"].as_u64(),
            before.body["nonCompliant"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(before.body["coveragePercent"], 50.0);
    assert_eq!(before.body["keys"][0]["ageDays"], 100, "oldest first");
    assert_eq!(before.body["keys"][0]["status"], "overdue");

    let scanned = app.call("POST", "/v1/admin/scan", None).await;
    assert_eq!(scanned.status, StatusCode::OK, "{}", scanned.text);
    assert_eq!(scanned.body["scheduled"], 2);
    assert_eq!(scanned.body["snapshot"]["coveragePercent"], 100.0);

    let after = app.call("GET", "/v1/compliance", None).await;
    assert_eq!(
        (
            after.body["inProgress"].as_u64(),
            after.body["nonCompliant"].as_u64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(after.body["history"].as_array().unwrap().len(), 1);
    assert!(after.body["keys"][0]["rotationId"]
        .as_str()
        .unwrap()
        .starts_with("rot_"));

    // Filters and pages.
    let org_a = app
        .call(
            "GET",
            "/v1/compliance?organizationId=org_a&status=compliant",
            None,
        )
        .await;
    assert_eq!(org_a.body["activeKeys"], 3);
    assert_eq!(org_a.body["keys"].as_array().unwrap().len(), 2);
    let first = app.call("GET", "/v1/compliance?limit=3", None).await;
    assert_eq!(first.body["keys"].as_array().unwrap().len(), 3);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let second = app
        .call(
            "GET",
            &format!("/v1/compliance?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.body["keys"].as_array().unwrap().len(), 1);
    assert!(second.body["nextCursor"].is_null());
    for bad in [
        "?status=late",
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?cursor=key_nope",
        "?color=blue",
        "?organizationId=bad%20org",
    ] {
        assert_problem(
            &app.call("GET", &format!("/v1/compliance{bad}"), None).await,
            422,
        );
    }

    let csv = app
        .raw(
            "GET",
            "/v1/compliance.csv?status=rotation_in_progress",
            None,
            &[],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type.starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "keyId,organizationId,class,prefix,ageDays,status,rotationId"
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains(",100,rotation_in_progress,rot_"),
        "{}",
        lines[1]
    );
}

fn sha256_hex(text: &str) -> String {
    keyroll_core::secret::LookupHash::of(text).to_hex()
}

#[tokio::test]
async fn import_brings_old_keys_in_and_the_scan_rotates_them() {
    let app = spawn_app();
    app.clock
        .set(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
    let old_secret = format!(
        "sk_live_{}",
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
    );
    let young_secret = format!("sk_live_{}", "aa".repeat(32));
    let body = json!({"keys": [
        {"id": "key-abc123def456", "organizationId": "org_acme", "name": "Acme 2023", "scopes": ["charges:read"],
         "rateLimit": 100, "prefix": &old_secret[..16], "lookupHash": sha256_hex(&old_secret), "createdAt": "2023-01-01T00:00:00Z"},
        {"organizationId": "org_acme", "name": "recent", "rateLimit": 5, "prefix": "aaaaaaaa",
         "lookupHash": sha256_hex(&young_secret), "createdAt": "2025-12-01T00:00:00Z", "class": "embedded"},
        {"organizationId": "org acme", "name": "bad org", "rateLimit": 5, "prefix": "aaaaaaaa", "lookupHash": "00", "createdAt": "2025-12-01T00:00:00Z"},
        {"organizationId": "org_acme", "name": "future", "rateLimit": 5, "prefix": "bbbbbbbb",
         "lookupHash": sha256_hex("x"), "createdAt": "2030-01-01T00:00:00Z"},
        {"organizationId": "org_acme", "name": "unknown field", "rateLimit": 5, "prefix": "bbbbbbbb",
         "lookupHash": sha256_hex("y"), "createdAt": "2025-01-01T00:00:00Z", "color": "red"},
        "not an object"
    ]})
    .to_string();
    let reply = app
        .raw("POST", "/v1/keys/import", Some(body.clone()), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        (
            reply.body["imported"].as_u64(),
            reply.body["duplicates"].as_u64(),
            reply.body["invalid"].as_u64()
        ),
        (Some(2), Some(0), Some(4))
    );
    let outcomes: Vec<_> = reply.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        outcomes,
        ["imported", "imported", "invalid", "invalid", "invalid", "invalid"]
    );
    assert_eq!(
        reply.body["rows"][0]["keyId"], "key-abc123def456",
        "the old id is kept"
    );

    // A re-run imports nothing twice.
    let again = app.raw("POST", "/v1/keys/import", Some(body), &[]).await;
    assert_eq!(
        (
            again.body["imported"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (Some(0), Some(2))
    );

    // The CSV form; a row repeating an imported secret is a duplicate.
    let csv = format!(
        "id,organizationId,name,scopes,rateLimit,class,prefix,lookupHash,createdAt,status\n\
         ,org_beta,\"Beta, old\",read write,10,server,cccccccc,{},2024-02-01T00:00:00Z,\n\
         ,org_beta,dup,,10,,dddddddd,{},2024-02-01T00:00:00Z,active\n\
         ,org_beta,gone,,10,,eeeeeeee,{},2024-02-01T00:00:00Z,revoked\n",
        sha256_hex("sk_live_beta"),
        sha256_hex(&old_secret),
        sha256_hex("sk_live_gone")
    );
    let reply = app
        .raw(
            "POST",
            "/v1/keys/import",
            Some(csv),
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        (
            reply.body["imported"].as_u64(),
            reply.body["duplicates"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_problem(
        &app.raw(
            "POST",
            "/v1/keys/import",
            Some("a,b\n1,2".into()),
            &[("content-type", "text/csv")],
        )
        .await,
        422,
    );
    assert_problem(
        &app.raw(
            "POST",
            "/v1/keys/import",
            Some("x".into()),
            &[("content-type", "text/plain")],
        )
        .await,
        415,
    );

    // The 3-year-old key verifies, shows as overdue, and the scan rotates it.
    assert_eq!(app.verify(&old_secret).await, "VALID");
    let report = app.call("GET", "/v1/compliance?status=overdue", None).await;
    let overdue: Vec<_> = report.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyId"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        overdue.contains(&"key-abc123def456".to_owned()),
        "{overdue:?}"
    );
    assert_eq!(report.body["keys"][0]["ageDays"], 1096);
    let scanned = app.call("POST", "/v1/admin/scan", None).await;
    // A policy rotation's secret waits for an operator: the customer's old secret
    // cannot fetch it (only "selfService" rotations allow that).
    let customer = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &format!("Bearer {old_secret}"))],
        )
        .await;
    assert_problem(&customer, 404);
    assert!(scanned.body["scheduled"].as_u64().unwrap() >= 1);
    let rotations = app
        .call("GET", "/v1/keys/key-abc123def456/rotations", None)
        .await;
    let rotation = &rotations.body["rotations"][0];
    assert_eq!(rotation["trigger"], "policy");
    assert_eq!(rotation["secretHeld"], true);
    let id = rotation["id"].as_str().unwrap();
    let revealed = app
        .call("POST", &format!("/v1/rotations/{id}/reveal"), None)
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let new_secret = revealed.body["secret"].as_str().unwrap().to_owned();
    assert_problem(
        &app.call("POST", &format!("/v1/rotations/{id}/reveal"), None)
            .await,
        410,
    );
    // The rotation runs its course: old secret valid through the grace, then gone.
    app.clock.advance(86_400);
    app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(app.verify(&old_secret).await, "VALID");
    app.clock.advance(72 * 3600);
    app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(app.verify(&old_secret).await, "REVOKED");
    assert_eq!(app.verify(&new_secret).await, "VALID");
    assert_eq!(app.verify("sk_live_gone").await, "MALFORMED");
}

/// Customer self-service: the old secret fetches its successor once during a
/// self-service rotation; 404 without one; 403 for an emergency; 401 for a bad secret.
#[tokio::test]
async fn self_service_successor_is_handed_out_once() {
    let app = spawn_app();
    let (key, old) = app.create_key().await;
    let customer = |secret: &str| format!("Bearer {secret}");

    // No rotation: nothing to hand over.
    let none = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &customer(&old))],
        )
        .await;
    assert_problem(&none, 404);
    // Not a valid secret, or none at all: 401, same answer either way.
    for headers in [
        vec![("authorization", "Bearer sk_live_nope")],
        vec![("authorization", "")],
    ] {
        let refused = app.raw("GET", "/v1/self/successor", None, &headers).await;
        assert_problem(&refused, 401);
    }

    // The operator schedules a self-service rotation: the secret is not in the reply.
    let scheduled = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"immediate": true, "gracePeriodSeconds": 3600, "selfService": true})),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.text);
    assert!(
        scheduled.body.get("secret").is_none(),
        "held for the customer"
    );
    assert_eq!(scheduled.body["rotation"]["secretHeld"], true);

    // The customer's client, with its old secret (here as x-api-key), gets it once.
    let fetched = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", "x"), ("x-api-key", &old)],
        )
        .await;
    assert_problem(&fetched, 401); // a malformed Authorization header is not skipped
    let fetched = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &customer(&old))],
        )
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    let new = fetched.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(fetched.body["keyId"], key.as_str());
    assert_eq!(app.verify(&new).await, "VALID");
    let again = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &customer(&old))],
        )
        .await;
    assert_problem(&again, 410);
    // The new secret has no successor; the reveal is in the audit trail.
    let own = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &customer(&new))],
        )
        .await;
    assert_problem(&own, 404);
    let audit = app
        .call("GET", &format!("/v1/keys/{key}/audit"), None)
        .await;
    let revealed = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "rotation.revealed")
        .expect("audited");
    assert_eq!(revealed["actor"], format!("customer:{key}"));

    // An emergency rotation's old secret may be the attacker's: 403.
    app.clock.advance(3600);
    app.call("POST", "/v1/admin/process", None).await;
    let emergency = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/emergency-rotation"),
            Some(json!({"reason": "pasted in a ticket", "gracePeriodSeconds": 600})),
        )
        .await;
    assert_eq!(emergency.status, StatusCode::CREATED, "{}", emergency.text);
    let forbidden = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &customer(&new))],
        )
        .await;
    assert_problem(&forbidden, 403);
}

/// The rollover options are checked: auto-extension is for embedded keys only, and
/// early completion needs at least a minute of quiet. A refusal changes nothing.
#[tokio::test]
async fn rollover_options_are_validated() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let before = app.snapshot(&key).await;
    for body in [
        json!({"immediate": true, "autoExtend": true}),
        json!({"immediate": true, "completeWhenUnusedSeconds": 59}),
        json!({"immediate": true, "completeWhenUnusedSeconds": -1}),
        json!({"immediate": true, "selfService": "yes"}),
    ] {
        let reply = app
            .call(
                "POST",
                &format!("/v1/keys/{key}/rotations"),
                Some(body.clone()),
            )
            .await;
        assert!(
            [400, 422].contains(&reply.status.as_u16()),
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.content_type, "application/problem+json");
    }
    assert_eq!(app.snapshot(&key).await, before);
    let accepted = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"immediate": true, "gracePeriodSeconds": 7200, "completeWhenUnusedSeconds": 600})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
    assert_eq!(accepted.body["rotation"]["completeWhenUnusedSeconds"], 600);
    assert_eq!(
        accepted.body["rotation"]["usageCheckAt"],
        epoch().plus_seconds(600).to_rfc3339()
    );
}

mod leak_reports {
    use super::*;
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{DerSignature, SigningKey};
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    /// GitHub's key pair for the test: the public half is configured, the private half
    /// signs the payloads.
    fn github() -> (SigningKey, String) {
        let signing = SigningKey::from_bytes(&[42u8; 32].into()).unwrap();
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let published = json!({"public_keys": [
            {"key_identifier": "github-test-key", "key": pem, "is_current": true}
        ]});
        (signing, published.to_string())
    }

    fn signed(key: &SigningKey, body: &str) -> Vec<(&'static str, String)> {
        let signature: DerSignature = key.sign(body.as_bytes());
        vec![
            ("github-public-key-identifier", "github-test-key".to_owned()),
            (
                "github-public-key-signature",
                base64::engine::general_purpose::STANDARD.encode(signature.as_bytes()),
            ),
        ]
    }

    async fn post(app: &TestApp, body: &str, headers: &[(&'static str, String)]) -> Reply {
        let mut all: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.push(("authorization", "")); // GitHub sends no operator credentials
        app.raw("POST", "/v1/leaks", Some(body.to_owned()), &all)
            .await
    }

    fn report(token: &str) -> String {
        json!([{"token": token, "type": "keyroll_live_key", "url": "https://github.com/acme/app/blob/main/.env", "source": "content"}]).to_string()
    }

    #[tokio::test]
    async fn a_signed_report_of_a_live_key_rotates_it_once() {
        let (github, keys) = github();
        let app = spawn_app_with(&[("KEYROLL_GITHUB_PUBLIC_KEYS", &keys)]);
        let (key, secret) = app.create_key().await;
        let (other_key, _) = app.create_key().await;
        let body = json!([
            {"token": secret, "type": "keyroll_live_key", "url": "https://github.com/acme/app/blob/main/.env", "source": "content"},
            {"token": "sk_live_not_ours_at_all", "type": "keyroll_live_key", "url": "https://github.com/x/y", "source": "commit"},
        ])
        .to_string();

        let reply = post(&app, &body, &signed(&github, &body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body[0]["label"], "true_positive");
        assert_eq!(reply.body[0]["token_type"], "keyroll_live_key");
        assert_eq!(reply.body[0]["token_hash"], sha256_hex(&secret));
        assert_eq!(reply.body[1]["label"], "false_positive");
        assert!(!reply.text.contains(&secret), "the token is never echoed");

        // The leaked secret died at once (leak grace 0); the rotation is a leak one,
        // and its new secret waits for the owner's reveal.
        assert_eq!(app.verify(&secret).await, "REVOKED");
        let rotations = app
            .call("GET", &format!("/v1/keys/{key}/rotations"), None)
            .await;
        let list = rotations.body["rotations"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["trigger"], "leak");
        assert_eq!(list[0]["secretHeld"], true);
        assert!(list[0]["reason"]
            .as_str()
            .unwrap()
            .contains("https://github.com/acme/app/blob/main/.env"));
        let rotation = list[0]["id"].as_str().unwrap();
        let revealed = app
            .call("POST", &format!("/v1/rotations/{rotation}/reveal"), None)
            .await;
        assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
        let new = revealed.body["secret"].as_str().unwrap().to_owned();
        assert_eq!(app.verify(&new).await, "VALID");

        // GitHub retries the same report: still a true positive, no second rotation.
        let again = post(&app, &body, &signed(&github, &body)).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body[0]["label"], "true_positive");
        let rotations = app
            .call("GET", &format!("/v1/keys/{key}/rotations"), None)
            .await;
        assert_eq!(rotations.body["rotations"].as_array().unwrap().len(), 1);
        assert_eq!(app.verify(&new).await, "VALID");
        // Other keys are untouched.
        let untouched = app
            .call("GET", &format!("/v1/keys/{other_key}/rotations"), None)
            .await;
        assert_eq!(untouched.body["rotations"], json!([]));
    }

    #[tokio::test]
    async fn unsigned_tampered_or_unknown_signer_reports_are_401_and_change_nothing() {
        let (github, keys) = github();
        let app = spawn_app_with(&[("KEYROLL_GITHUB_PUBLIC_KEYS", &keys)]);
        let (key, secret) = app.create_key().await;
        let before = app.snapshot(&key).await;
        let body = report(&secret);
        let good = signed(&github, &body);

        let tampered = body.replace("main", "mainx");
        assert_problem(&post(&app, &tampered, &good).await, 401);
        assert_problem(&post(&app, &body, &[]).await, 401);
        let mut unknown = good.clone();
        unknown[0].1 = "another-key".into();
        assert_problem(&post(&app, &body, &unknown).await, 401);
        let impostor = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        assert_problem(&post(&app, &body, &signed(&impostor, &body)).await, 401);
        let mut garbage = good.clone();
        garbage[1].1 = "!!!".into();
        assert_problem(&post(&app, &body, &garbage).await, 401);

        assert_eq!(app.snapshot(&key).await, before, "nothing changed");

        // Signed but not a report: 422, nothing changed.
        let nonsense = json!({"token": secret}).to_string();
        assert_problem(
            &post(&app, &nonsense, &signed(&github, &nonsense)).await,
            422,
        );
        assert_eq!(app.snapshot(&key).await, before);
        assert_eq!(app.verify(&secret).await, "VALID");
    }

    #[tokio::test]
    async fn without_configured_keys_every_report_is_refused() {
        let (github, _) = github();
        let app = spawn_app();
        let (key, secret) = app.create_key().await;
        let body = report(&secret);
        assert_problem(&post(&app, &body, &signed(&github, &body)).await, 401);
        assert_eq!(app.verify(&secret).await, "VALID");
        let rotations = app
            .call("GET", &format!("/v1/keys/{key}/rotations"), None)
            .await;
        assert_eq!(rotations.body["rotations"], json!([]));
    }
}
