//! The OpenAPI document.

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
        (
            "post",
            "/v1/organizations/{organizationId}/contacts",
            true,
            "201",
        ),
        (
            "get",
            "/v1/organizations/{organizationId}/contacts",
            false,
            "200",
        ),
        (
            "post",
            "/v1/organizations/{organizationId}/webhooks",
            true,
            "201",
        ),
        (
            "get",
            "/v1/organizations/{organizationId}/webhooks",
            false,
            "200",
        ),
        (
            "post",
            "/v1/organizations/{organizationId}/webhooks/{webhookId}/rotate-secret",
            false,
            "200",
        ),
        (
            "get",
            "/v1/organizations/{organizationId}/notifications",
            false,
            "200",
        ),
        (
            "get",
            "/v1/organizations/{organizationId}/deliveries",
            false,
            "200",
        ),
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
    // The customer routes: each behind the customer token, none behind the
    // operator's credentials.
    let customer = [
        ("get", "/v1/org/me", false, "200"),
        ("get", "/v1/org/keys", false, "200"),
        ("get", "/v1/org/keys/{keyId}", false, "200"),
        ("post", "/v1/org/keys/{keyId}/rotations", true, "201"),
        (
            "post",
            "/v1/org/keys/{keyId}/emergency-rotation",
            true,
            "201",
        ),
        ("get", "/v1/org/audit", false, "200"),
        (
            "post",
            "/v1/org/rotations/{rotationId}/complete",
            true,
            "200",
        ),
        ("post", "/v1/org/rotations/{rotationId}/extend", true, "200"),
        (
            "post",
            "/v1/org/rotations/{rotationId}/reveal",
            false,
            "200",
        ),
        ("post", "/v1/org/contacts", true, "201"),
        ("get", "/v1/org/contacts", false, "200"),
        ("delete", "/v1/org/contacts/{contactId}", false, "204"),
        ("post", "/v1/org/webhooks", true, "201"),
        ("get", "/v1/org/webhooks", false, "200"),
        ("delete", "/v1/org/webhooks/{webhookId}", false, "204"),
        (
            "post",
            "/v1/org/webhooks/{webhookId}/rotate-secret",
            false,
            "200",
        ),
        ("get", "/v1/org/notifications", false, "200"),
        ("post", "/v1/org/notifications/{eventId}/read", false, "204"),
        ("get", "/v1/org/deliveries", false, "200"),
    ];
    for (method, path, has_body, success) in customer {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        assert_eq!(
            operation["security"],
            serde_json::json!([{"customerToken": []}]),
            "{method} {path}"
        );
        if has_body {
            assert!(operation["requestBody"]["content"]["application/json"]["schema"].is_object());
        }
        assert!(
            operation["responses"][success].is_object(),
            "{method} {path}"
        );
        assert!(
            operation["responses"]["401"].is_object(),
            "{method} {path} 401"
        );
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["customerToken"]["bearerFormat"], "JWT");
    assert_eq!(schemes["operatorToken"]["scheme"], "bearer");
    assert_eq!(
        document["security"],
        serde_json::json!([{"operatorToken": []}])
    );
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        28 + 17,
        "no undocumented extra paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}
