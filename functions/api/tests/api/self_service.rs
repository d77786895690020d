//! Customer self-service with the old secret.

use crate::support::*;

/// The client's delivery key pair in these tests, registered by the client itself.
fn client_keys() -> keyroll_core::testing::sealed::DeliveryKeyPair {
    keyroll_core::testing::sealed::DeliveryKeyPair::from_seed(11)
}

async fn enroll(app: &TestApp, secret: &str) {
    let registered = app
        .raw(
            "PUT",
            "/v1/self/delivery-key",
            Some(json!({ "jwk": client_keys().public_jwk() }).to_string()),
            &[("authorization", &format!("Bearer {secret}"))],
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
}

/// Customer self-service: the old secret fetches its successor sealed to the key's
/// delivery key, as often as any instance asks; 404 without one; 403 for an emergency;
/// 401 for a bad secret; a self-service rotation of a key with no delivery key is
/// refused when scheduled. A holder of the old secret alone gets ciphertext it cannot
/// open, and no route hands the new secret to it in plaintext.
#[tokio::test]
async fn self_service_successor_is_sealed_to_the_delivery_key() {
    let app = spawn_app();
    let (key, old) = app.create_key().await;
    let customer = |secret: &str| format!("Bearer {secret}");
    let fetch = |secret: String| {
        let app = &app;
        async move {
            app.raw(
                "GET",
                "/v1/self/successor",
                None,
                &[("authorization", &format!("Bearer {secret}"))],
            )
            .await
        }
    };

    // No rotation: nothing to hand over.
    assert_problem(&fetch(old.clone()).await, 404);
    // Not a valid secret, or none at all: 401, same answer either way.
    for headers in [
        vec![("authorization", "Bearer sk_live_nope")],
        vec![("authorization", "")],
    ] {
        let refused = app.raw("GET", "/v1/self/successor", None, &headers).await;
        assert_problem(&refused, 401);
    }
    // No delivery key: the operator cannot schedule a self-service rotation.
    let path = format!("/v1/keys/{key}/rotations");
    let body = json!({"immediate": true, "gracePeriodSeconds": 3600, "selfService": true});
    let refused = app.call("POST", &path, Some(body.clone())).await;
    assert_problem(&refused, 409);
    assert!(refused.text.contains("delivery key"), "{}", refused.text);

    enroll(&app, &old).await;
    let scheduled = app.call("POST", &path, Some(body)).await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.text);
    assert!(
        scheduled.body.get("secret").is_none(),
        "held for the customer"
    );
    assert_eq!(scheduled.body["rotation"]["secretHeld"], true);

    // A malformed Authorization header is not skipped for x-api-key.
    let malformed = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", "x"), ("x-api-key", &old)],
        )
        .await;
    assert_problem(&malformed, 401);
    // Any instance, any number of times: the same secret, sealed afresh each time.
    let first = fetch(old.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["keyId"], key.as_str());
    assert_eq!(first.body["rotationId"], scheduled.body["rotation"]["id"]);
    assert_eq!(
        first.body["graceEndsAt"],
        scheduled.body["rotation"]["graceEndsAt"]
    );
    assert!(first.sunset.is_some(), "RFC 8594: when the old secret goes");
    assert!(first.body.get("secret").is_none() && !first.text.contains("\"sk_live_"));
    let jwe = first.body["jwe"].as_str().unwrap().to_owned();
    let new = client_keys()
        .open(&jwe)
        .expect("opens with the client's key");
    assert_eq!(app.verify(&new).await, "VALID");
    let second = fetch(old.clone()).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let again = second.body["jwe"].as_str().unwrap();
    assert_ne!(again, jwe, "fresh keys each time");
    assert_eq!(client_keys().open(again).as_deref(), Some(new.as_str()));
    // Whoever holds only the old secret gets ciphertext it cannot open.
    let attacker = keyroll_core::testing::sealed::DeliveryKeyPair::from_seed(12);
    assert_eq!(attacker.open(&jwe), None);
    // The new secret has no successor; the first fetch is the delivery, audited once.
    assert_problem(&fetch(new.clone()).await, 404);
    let audit = app
        .call("GET", &format!("/v1/keys/{key}/audit"), None)
        .await;
    let revealed: Vec<_> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "rotation.revealed")
        .collect();
    assert_eq!(revealed.len(), 1, "the first fetch counts as delivered");
    assert_eq!(revealed[0]["actor"], format!("customer:{key}"));
    assert_eq!(
        app.call(
            "GET",
            &format!(
                "/v1/rotations/{}",
                first.body["rotationId"].as_str().unwrap()
            ),
            None
        )
        .await
        .body["rotation"]["awaitingDelivery"],
        false
    );

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

/// The operator cannot cancel the rotation under the customer's feet: once the
/// successor was fetched, cancelling says so (409) unless forced with a reason.
#[tokio::test]
async fn a_fetched_successor_is_never_cancelled_silently() {
    let app = spawn_app();
    let (key, old) = app.create_key().await;
    enroll(&app, &old).await;
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
    let fetched = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &format!("Bearer {old}"))],
        )
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    let new = client_keys()
        .open(fetched.body["jwe"].as_str().unwrap())
        .unwrap();

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

    enroll(&app, &old).await;
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
