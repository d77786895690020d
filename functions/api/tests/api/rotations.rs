//! Rotations over HTTP: schedule, act on, roll over.

use crate::support::*;

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
        json!({"started": 1, "reminded": 0, "completed": 0, "extended": 0, "undelivered": 0, "failed": 0, "markedFailed": 0, "stuck": 0, "notified": 0, "remaining": 0, "orphanedSecretsDeleted": 0, "expiryWarned": 0, "expired": 0})
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
        // autoExtend on a server key is well formed but outside its policy (409).
        assert!(
            [400, 409, 422].contains(&reply.status.as_u16()),
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
        assert_eq!(reply.body[0]["outcome"], "rotated");
        assert_eq!(reply.body[1]["outcome"], "not_ours");
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
        assert_eq!(again.body[0]["outcome"], "already_handled");
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

#[tokio::test]
async fn rotations_in_progress_page_with_a_cursor() {
    let app = spawn_app();
    let mut expected = Vec::new();
    for i in 0..5u64 {
        let (key, _) = app.create_key().await;
        let at = epoch().plus_seconds(3600 + i).to_rfc3339();
        let reply = app
            .call(
                "POST",
                &format!("/v1/keys/{key}/rotations"),
                Some(json!({"scheduledAt": at, "gracePeriodSeconds": 60})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        expected.push(reply.body["rotation"]["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/rotations?limit=2".to_owned();
    loop {
        let page = app.call("GET", &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let rotations = page.body["rotations"].as_array().unwrap();
        assert!(rotations.len() <= 2);
        seen.extend(
            rotations
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/v1/rotations?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "soonest due first, each once");
    for bad in [
        "limit=0",
        "limit=501",
        "cursor=2026-01-01T00:00:00Z",
        "cursor=nonsense.rot_x.key_y",
    ] {
        let reply = app.call("GET", &format!("/v1/rotations?{bad}"), None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }
}

/// Inside Lambda, the admin runs stop starting work before the invocation's deadline
/// and answer with what they left, rather than being killed mid-run with no answer.
#[tokio::test]
async fn admin_runs_stop_at_the_lambda_deadline_and_say_what_is_left() {
    use axum::body::Body;
    use axum::http::Request;
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let scheduled = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"scheduledAt": "2026-01-01T00:10:00Z", "reason": "due soon"})),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.text);
    app.clock
        .set(Timestamp::parse("2026-01-01T00:10:00Z").unwrap());
    let expired_now = || {
        let mut context = lambda_http::Context::default();
        context.deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        context
    };
    let run = |path: &'static str| {
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .extension(expired_now())
            .body(Body::empty())
            .unwrap();
        app.send(request)
    };
    let processed = run("/v1/admin/process").await;
    assert_eq!(processed.status, StatusCode::OK, "{}", processed.text);
    assert_eq!(
        (&processed.body["started"], &processed.body["remaining"]),
        (&json!(0), &json!(1))
    );
    let scanned = run("/v1/admin/scan").await;
    assert_eq!(scanned.status, StatusCode::OK, "{}", scanned.text);
    assert_eq!(scanned.body["incomplete"], true);

    // Without a Lambda deadline (keyroll-local) the request budget applies: all done.
    let processed = app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(
        (&processed.body["started"], &processed.body["remaining"]),
        (&json!(1), &json!(0))
    );
}

/// A rotation scheduled to start after the secret's maximum age does not cover the
/// key, and the answer to scheduling it says so (when, and what follows).
#[tokio::test]
async fn scheduling_past_the_compliance_deadline_is_flagged() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let late = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"scheduledAt": "2030-01-01T00:00:00Z", "reason": "next year's freeze"})),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.text);
    let rotation = &late.body["rotation"];
    assert_eq!(
        rotation["uncoveredFrom"], "2026-04-01T00:00:01Z",
        "the second after its 90 days"
    );
    let warning = rotation["complianceWarning"].as_str().unwrap();
    assert!(warning.contains("counts as overdue"), "{warning}");
    let id = rotation["id"].as_str().unwrap();
    let got = app.call("GET", &format!("/v1/rotations/{id}"), None).await;
    assert_eq!(
        got.body["rotation"]["uncoveredFrom"],
        "2026-04-01T00:00:01Z"
    );
    app.call(
        "POST",
        &format!("/v1/rotations/{id}/cancel"),
        Some(json!({})),
    )
    .await;

    let in_time = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"scheduledAt": "2026-03-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(in_time.status, StatusCode::CREATED, "{}", in_time.text);
    assert_eq!(in_time.body["rotation"]["uncoveredFrom"], Value::Null);
    assert_eq!(in_time.body["rotation"]["complianceWarning"], Value::Null);
}
