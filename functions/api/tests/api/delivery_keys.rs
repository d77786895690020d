//! Delivery keys: the key's client registers one on first use with a live secret; only
//! an operator or a customer admin replaces it; anything but a public P-256 key is a
//! 422 that stores nothing and repeats nothing.

use crate::customers::Issuers;
use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyroll_core::time::Clock;
use p256::elliptic_curve::sec1::ToEncodedPoint;

/// The public JWK of the P-256 key `seed`, and its private scalar (base64url).
fn key_pair(seed: u8) -> (Value, String) {
    let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    let public = json!({"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())});
    (public, URL_SAFE_NO_PAD.encode(secret.to_bytes()))
}

async fn put_own(app: &TestApp, secret: &str, jwk: &Value) -> Reply {
    app.raw(
        "PUT",
        "/v1/self/delivery-key",
        Some(json!({ "jwk": jwk }).to_string()),
        &[("authorization", &format!("Bearer {secret}"))],
    )
    .await
}

#[tokio::test]
async fn the_client_registers_its_delivery_key_once_and_cannot_replace_it() {
    let app = spawn_app();
    let (key, secret) = app.create_key().await;
    let (first, _) = key_pair(1);
    let (second, _) = key_pair(2);

    // Not a live secret: 401, whatever the body.
    for presented in ["sk_live_nope", ""] {
        assert_problem(&put_own(&app, presented, &first).await, 401);
    }
    let registered = put_own(&app, &secret, &first).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let thumbprint = registered.body["thumbprint"].as_str().unwrap().to_owned();
    assert_eq!(registered.body["keyId"], key.as_str());
    assert_eq!(thumbprint.len(), 43);

    // The same key again: 200, nothing written.
    let before = app.snapshot(&key).await;
    let again = put_own(&app, &secret, &first).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["thumbprint"], thumbprint.as_str());
    // Another one from the client: 409, nothing changed.
    let replaced = put_own(&app, &secret, &second).await;
    assert_problem(&replaced, 409);
    assert!(replaced.text.contains("operator"), "{}", replaced.text);
    assert_eq!(app.snapshot(&key).await, before);

    let shown = app.call("GET", &format!("/v1/keys/{key}"), None).await;
    let delivery = &shown.body["key"]["deliveryKey"];
    assert_eq!(delivery["thumbprint"], thumbprint.as_str());
    assert_eq!(delivery["jwk"], first);
    assert_eq!(delivery["registeredBy"], format!("customer:{key}"));
    let trail = app
        .call("GET", &format!("/v1/keys/{key}/audit"), None)
        .await;
    let events = trail.body["events"].as_array().unwrap();
    let event = events
        .iter()
        .find(|e| e["action"] == "key.delivery_key_registered")
        .expect("audited");
    assert_eq!(event["after"]["deliveryKey"], thumbprint.as_str());
    assert_eq!(trail.body["chainValid"], true);

    // The operator replaces it.
    let by_operator = app
        .call(
            "PUT",
            &format!("/v1/keys/{key}/delivery-key"),
            Some(json!({ "jwk": second })),
        )
        .await;
    assert_eq!(by_operator.status, StatusCode::OK, "{}", by_operator.text);
    assert_ne!(
        by_operator.body["key"]["deliveryKey"]["thumbprint"],
        thumbprint.as_str()
    );
}

#[tokio::test]
async fn anything_but_a_public_p256_key_is_refused_and_never_repeated() {
    let app = spawn_app();
    let (key, secret) = app.create_key().await;
    let (public, d) = key_pair(3);
    let mut private = public.clone();
    private["d"] = json!(d);
    let mut off_curve = public.clone();
    off_curve["y"] = public["x"].clone();
    // The secret's use is counted (it authenticated); the snapshot follows it.
    assert_problem(&put_own(&app, &secret, &json!({})).await, 422);
    let before = app.snapshot(&key).await;
    for jwk in [
        private,
        off_curve,
        json!({"kty": "RSA", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw", "e": "AQAB"}),
        json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}),
        json!("not an object"),
    ] {
        for reply in [
            put_own(&app, &secret, &jwk).await,
            app.call(
                "PUT",
                &format!("/v1/keys/{key}/delivery-key"),
                Some(json!({ "jwk": jwk })),
            )
            .await,
        ] {
            assert_problem(&reply, 422);
            assert!(reply.text.contains("jwk"), "{}", reply.text);
            assert!(!reply.text.contains(&d), "the private key was repeated");
        }
    }
    assert_eq!(app.snapshot(&key).await, before, "nothing stored");
    let shown = app.call("GET", &format!("/v1/keys/{key}"), None).await;
    assert_eq!(shown.body["key"]["deliveryKey"], Value::Null);
}

/// A customer admin registers or replaces a delivery key on the organisation's own
/// keys; another organisation's key answers as an unknown one; a viewer may not.
#[tokio::test]
async fn a_customer_admin_sets_the_delivery_key_of_their_own_keys_only() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let created = app
        .call("POST", "/v1/keys", Some(json!({"organizationId": "org_acme", "name": "prod", "scopes": [], "rateLimit": 10})))
        .await;
    let key = created.body["key"]["id"].as_str().unwrap().to_owned();
    let now = app.clock.now();
    let alice = issuers.token("org_acme", "alice", "admin", now);
    let mallory = issuers.token("org_other", "mallory", "admin", now);
    let vera = issuers.token("org_acme", "vera", "viewer", now);
    let (jwk, _) = key_pair(4);
    let body = Some(json!({ "jwk": jwk }));
    let path = format!("/v1/org/keys/{key}/delivery-key");
    let foreign = app.as_customer(&mallory, "PUT", &path, body.clone()).await;
    let unknown = app
        .as_customer(
            &mallory,
            "PUT",
            "/v1/org/keys/key_unknown/delivery-key",
            body.clone(),
        )
        .await;
    assert_problem(&foreign, 404);
    assert_eq!(
        foreign.body["detail"]
            .as_str()
            .map(|d| d.replace(&key, "ID")),
        unknown.body["detail"]
            .as_str()
            .map(|d| d.replace("key_unknown", "ID"))
    );
    assert_problem(
        &app.as_customer(&vera, "PUT", &path, body.clone()).await,
        403,
    );
    let set = app.as_customer(&alice, "PUT", &path, body).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        set.body["key"]["deliveryKey"]["registeredBy"],
        "customer:org_acme/alice"
    );
}
