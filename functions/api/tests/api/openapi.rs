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
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        28,
        "no undocumented extra paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}
