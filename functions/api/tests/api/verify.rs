//! Verification.

use crate::support::*;

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
