//! Customer self-service with the old secret.

use crate::support::*;

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
    let old_expires =
        keyroll_core::time::Timestamp::parse(fetched.body["oldSecretExpiresAt"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        fetched.sunset,
        Some(old_expires.to_http_date()),
        "RFC 8594: when the old secret goes"
    );
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

/// A lost answer never strands the customer: a fetch retried with the same
/// Idempotency-Key gets the same successor again (a fetch without one stays once
/// only). And the operator cannot cancel the rotation under the customer's feet: once
/// the successor was fetched, cancelling says so (409) unless forced with a reason.
#[tokio::test]
async fn a_fetched_successor_survives_a_lost_answer_and_is_never_cancelled_silently() {
    let app = spawn_app();
    let (key, old) = app.create_key().await;
    let scheduled = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"gracePeriodSeconds": 3600, "selfService": true})),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.text);
    let rotation = scheduled.body["rotation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {old}");
    let fetch = |idempotency: Option<&'static str>| {
        let mut headers = vec![("authorization", bearer.as_str())];
        if let Some(key) = idempotency {
            headers.push(("idempotency-key", key));
        }
        let headers: Vec<(&str, &str)> = headers;
        let app = &app;
        async move { app.raw("GET", "/v1/self/successor", None, &headers).await }
    };
    const RETRY_KEY: &str = "4b7a8a4e-0f5c-4d0e-9a63-2f0d8e1c5b77";
    let first = fetch(Some(RETRY_KEY)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let retried = fetch(Some(RETRY_KEY)).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(
        retried.body["secret"], first.body["secret"],
        "the same successor"
    );
    assert_problem(&fetch(None).await, 410);
    assert_problem(&fetch(Some("another-key-0123456789")).await, 410);
    let new = first.body["secret"].as_str().unwrap().to_owned();

    let cancel = format!("/v1/rotations/{rotation}/cancel");
    let refused = app.call("POST", &cancel, Some(json!({}))).await;
    assert_problem(&refused, 409);
    assert!(refused.text.contains("handed out"), "{}", refused.text);
    assert_problem(
        &app.call("POST", &cancel, Some(json!({"force": true})))
            .await,
        422,
    );
    assert_eq!(app.verify(&new).await, "VALID", "nothing changed");
    let forced = app
        .call(
            "POST",
            &cancel,
            Some(json!({"force": true, "reason": "the customer asked to stay on the old key"})),
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text);
    assert_eq!(app.verify(&new).await, "REVOKED");
    assert_eq!(app.verify(&old).await, "VALID");
}

/// `GET /v1/self/key`: what a client polls with any live secret. Idle: come back in an
/// hour. A self-service successor waiting for this secret: fetch it now (and the old
/// secret's Sunset). Another kind of rotation in progress: come back in five minutes.
#[tokio::test]
async fn a_client_polls_its_key_for_a_successor_with_nothing_secret_in_the_answer() {
    let app = spawn_app();
    let poll = |secret: String| {
        let app = &app;
        async move {
            app.raw(
                "GET",
                "/v1/self/key",
                None,
                &[("authorization", &format!("Bearer {secret}"))],
            )
            .await
        }
    };
    assert_problem(&poll("sk_live_nope".into()).await, 401);
    let (key, old) = app.create_key().await;
    let idle = poll(old.clone()).await;
    assert_eq!(idle.status, StatusCode::OK, "{}", idle.text);
    assert_eq!(idle.body["keyId"], key.as_str());
    assert_eq!(idle.body["stage"], "current");
    assert_eq!(idle.body["expiresAt"], Value::Null);
    assert_eq!(idle.body["successor"], Value::Null);
    assert_eq!(idle.body["pollAfterSeconds"], 3600);
    assert_eq!(idle.sunset, None);

    let scheduled = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"immediate": true, "gracePeriodSeconds": 3600, "selfService": true})),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.text);
    let rotation = &scheduled.body["rotation"];
    let waiting = poll(old.clone()).await;
    assert_eq!(waiting.body["stage"], "previous");
    assert_eq!(waiting.body["expiresAt"], rotation["graceEndsAt"]);
    assert_eq!(
        waiting.body["successor"],
        json!({"rotationId": rotation["id"], "graceEndsAt": rotation["graceEndsAt"]})
    );
    assert_eq!(waiting.body["pollAfterSeconds"], 0);
    assert!(waiting.sunset.is_some());
    assert!(
        !waiting.text.contains("sk_live_"),
        "nothing secret: {}",
        waiting.text
    );

    // A key rotated by the operator (the new secret was handed to them): nothing to
    // fetch, but something is happening.
    let (other, other_old) = app.create_key().await;
    let manual = app
        .call(
            "POST",
            &format!("/v1/keys/{other}/rotations"),
            Some(json!({"immediate": true, "gracePeriodSeconds": 3600})),
        )
        .await;
    assert_eq!(manual.status, StatusCode::CREATED);
    let busy = poll(other_old).await;
    assert_eq!(busy.body["successor"], Value::Null);
    assert_eq!(busy.body["pollAfterSeconds"], 300);
    let new = manual.body["secret"].as_str().unwrap().to_owned();
    let moved = poll(new).await;
    assert_eq!(moved.body["stage"], "current");
    assert_eq!(moved.body["successor"], Value::Null);
}
