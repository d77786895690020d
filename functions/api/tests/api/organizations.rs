//! An organisation's contacts, webhooks, feed and delivery log: another organisation's
//! ids answer exactly like unknown ones and change nothing; bad input is a 422 problem.

use crate::support::*;

#[tokio::test]
async fn another_organisations_destinations_answer_like_unknown_ones() {
    let app = spawn_app_with(&[("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")]);
    let contact = app
        .call(
            "POST",
            "/v1/organizations/org_a/contacts",
            Some(json!({"email": "ops@a.example"})),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.text);
    let contact_id = contact.body["id"].as_str().unwrap().to_owned();
    let webhook = app
        .call(
            "POST",
            "/v1/organizations/org_a/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(webhook.status, StatusCode::CREATED, "{}", webhook.text);
    let webhook_id = webhook.body["id"].as_str().unwrap().to_owned();
    assert!(webhook.body["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let listed = app
        .call("GET", "/v1/organizations/org_a/webhooks", None)
        .await;
    assert!(
        !listed.text.contains("whsec_"),
        "never listed with its secret"
    );

    let before = (
        app.call("GET", "/v1/organizations/org_a/contacts", None)
            .await
            .body,
        app.call("GET", "/v1/organizations/org_a/webhooks", None)
            .await
            .body,
    );
    let unknown_contact = "ctc_01jd4x8m2q7r5t9v3w6y0z1a2b";
    let unknown_webhook = "whk_01jd4x8m2q7r5t9v3w6y0z1a2b";
    for (foreign, unknown) in [
        (
            app.call(
                "DELETE",
                &format!("/v1/organizations/org_b/contacts/{contact_id}"),
                None,
            )
            .await,
            app.call(
                "DELETE",
                &format!("/v1/organizations/org_b/contacts/{unknown_contact}"),
                None,
            )
            .await,
        ),
        (
            app.call(
                "DELETE",
                &format!("/v1/organizations/org_b/webhooks/{webhook_id}"),
                None,
            )
            .await,
            app.call(
                "DELETE",
                &format!("/v1/organizations/org_b/webhooks/{unknown_webhook}"),
                None,
            )
            .await,
        ),
        (
            app.call(
                "POST",
                &format!("/v1/organizations/org_b/webhooks/{webhook_id}/rotate-secret"),
                None,
            )
            .await,
            app.call(
                "POST",
                &format!("/v1/organizations/org_b/webhooks/{unknown_webhook}/rotate-secret"),
                None,
            )
            .await,
        ),
    ] {
        assert_problem(&foreign, 404);
        // The same answer, but for the id it names.
        let shape = |reply: &Reply| {
            reply
                .text
                .replace(&contact_id, "ID")
                .replace(&webhook_id, "ID")
                .replace(unknown_contact, "ID")
                .replace(unknown_webhook, "ID")
        };
        assert_eq!(shape(&foreign), shape(&unknown), "indistinguishable");
    }
    let theirs = app
        .call("GET", "/v1/organizations/org_b/contacts", None)
        .await;
    assert_eq!(theirs.body["contacts"], json!([]));
    let after = (
        app.call("GET", "/v1/organizations/org_a/contacts", None)
            .await
            .body,
        app.call("GET", "/v1/organizations/org_a/webhooks", None)
            .await
            .body,
    );
    assert_eq!(before, after, "nothing changed");
}

#[tokio::test]
async fn bad_destinations_and_cursors_are_refused_and_change_nothing() {
    let app = spawn_app();
    // Outside the document's form: 422. Of the right form but outside the destination
    // policy (plain http, metadata, private or loopback addresses): 409.
    for (path, body, status) in [
        (
            "/v1/organizations/org_a/contacts",
            json!({"email": "not an address"}),
            422,
        ),
        (
            "/v1/organizations/org_a/contacts",
            json!({"email": "ops@a.example", "types": []}),
            422,
        ),
        (
            "/v1/organizations/org_a/contacts",
            json!({"email": "ops@a.example", "types": ["rotation.nope"]}),
            422,
        ),
        (
            "/v1/organizations/org_a/webhooks",
            json!({"url": "ftp://hooks.example.com/"}),
            422,
        ),
        (
            "/v1/organizations/org_a/webhooks",
            json!({"url": "https://user@hooks.example.com/"}),
            422,
        ),
        (
            "/v1/organizations/org_a/webhooks",
            json!({"url": "http://hooks.example.com/"}),
            409,
        ),
        (
            "/v1/organizations/org_a/webhooks",
            json!({"url": "https://169.254.169.254/latest/meta-data/"}),
            409,
        ),
        (
            "/v1/organizations/org_a/webhooks",
            json!({"url": "https://10.0.0.5/hook"}),
            409,
        ),
        (
            "/v1/organizations/org_a/webhooks",
            json!({"url": "http://127.0.0.1:9/hook"}),
            409,
        ),
    ] {
        let reply = app.call("POST", path, Some(body.clone())).await;
        assert_problem(&reply, status);
        let field = if path.ends_with("contacts") && body["types"].is_null() {
            "email"
        } else if path.ends_with("contacts") {
            "types"
        } else {
            "url"
        };
        let named = reply.body["errors"][0]["field"].as_str().unwrap_or("");
        assert!(named.starts_with(field), "{body}: {}", reply.text);
    }
    for path in [
        "/v1/organizations/org_a/notifications?cursor=",
        "/v1/organizations/org_a/notifications?cursor=-1",
        "/v1/organizations/org_a/deliveries?limit=0",
        "/v1/organizations/org_a/deliveries?cursor=%20",
    ] {
        assert_problem(&app.call("GET", path, None).await, 422);
    }
    assert_problem(
        &app.call(
            "POST",
            "/v1/organizations/org_a/notifications/evt_unknown/read",
            None,
        )
        .await,
        404,
    );
    let contacts = app
        .call("GET", "/v1/organizations/org_a/contacts", None)
        .await;
    let webhooks = app
        .call("GET", "/v1/organizations/org_a/webhooks", None)
        .await;
    assert_eq!(contacts.body["contacts"], json!([]));
    assert_eq!(webhooks.body["webhooks"], json!([]));
}
