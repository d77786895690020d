//! The OpenAPI document: what it promises, and that the server keeps to it.

use crate::support::*;

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
        ("post", "/v1/org/keys/{keyId}/revoke", true, "200"),
        ("post", "/v1/org/keys", true, "201"),
        ("patch", "/v1/org/keys/{keyId}", false, "200"),
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
        ("post", "/v1/org/contacts/{contactId}/confirm", true, "200"),
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
        32 + 24,
        "no undocumented extra paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

/// Every rule the document states was placed: no rule names a schema, property,
/// parameter or link the document lacks.
#[test]
fn every_rule_is_placed_in_the_document() {
    let generated = keyroll_api::openapi();
    let mut again = generated.clone();
    let misses = keyroll_api::document::complete(&mut again);
    assert!(misses.0.is_empty(), "{:?}", misses.0);
}

/// The bounds in /openapi.json are the validators' own constants (`keyroll_core::rules`
/// and the routes' limits): each rule's keywords are in the served document.
#[tokio::test]
async fn the_served_document_states_every_validation_rule() {
    let app = spawn_app();
    let document = app.call("GET", "/openapi.json", None).await.body;
    for (schema, property, rule) in keyroll_api::document::body_rules() {
        let target = &document["components"]["schemas"][schema]["properties"][property];
        for (keyword, value) in rule.keywords() {
            assert!(
                holds(&target[&keyword], &value),
                "{schema}.{property} {keyword}: {} does not hold {value}",
                target[&keyword]
            );
        }
    }
    let name = &document["components"]["schemas"]["CreateKeyRequest"]["properties"]["name"];
    assert_eq!(name["maxLength"], keyroll_core::rules::KEY_NAME.max_chars);
    let limit = document["paths"]["/v1/compliance.csv"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["maximum"], 10_000);
    // Operation ids are unique, so links and generated clients name one operation.
    let mut ids = std::collections::BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        }
    }
    // Each link names an operation that exists.
    let links = &document["paths"]["/v1/keys"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["ScheduleRotation"]["operationId"],
        "schedule_rotation"
    );
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"].as_object().into_iter().flatten() {
                    assert!(
                        ids.contains(link.1["operationId"].as_str().unwrap()),
                        "{link:?}"
                    );
                }
            }
        }
    }
}

/// Whether `target` holds every keyword of `expected` (objects compared key by key).
fn holds(target: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match expected {
        serde_json::Value::Object(keywords) => keywords
            .iter()
            .all(|(name, value)| holds(&target[name], value)),
        other => target == other,
    }
}

/// The names of the properties of a request body schema (following `$ref`s).
fn request_schemas(document: &serde_json::Value) -> Vec<String> {
    let mut names = Vec::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            let reference = schema["$ref"]
                .as_str()
                .or_else(|| schema["items"]["$ref"].as_str());
            if let Some(reference) = reference {
                names.push(reference.rsplit('/').next().unwrap().to_owned());
            }
        }
    }
    names.push("ImportRow".into());
    names.sort();
    names.dedup();
    names
}

fn constrained(schema: &serde_json::Value) -> bool {
    [
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "enum",
        "format",
        "$ref",
        "maxItems",
    ]
    .iter()
    .any(|keyword| !schema[keyword].is_null())
        || ["oneOf", "anyOf"].iter().any(|choice| {
            schema[choice]
                .as_array()
                .is_some_and(|options| options.iter().any(|o| !o["$ref"].is_null()))
        })
        || schema["type"] == "boolean"
        || schema["type"] == json!(["boolean", "null"])
}

/// A new input cannot slip into the API without its rule in the document: every text,
/// number and list a request carries (body fields, path, query and header parameters)
/// states its bounds, or is listed as free with the reason.
#[test]
fn every_request_input_carries_its_rule_in_the_document() {
    let document = keyroll_api::openapi();
    let free: std::collections::BTreeSet<&str> = keyroll_api::document::FREE_INPUTS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let mut unconstrained = Vec::new();
    for schema in request_schemas(&document) {
        let properties = &document["components"]["schemas"][&schema]["properties"];
        for (property, definition) in properties.as_object().into_iter().flatten() {
            let name = format!("{schema}.{property}");
            let items_ok = definition["type"] != "array" || constrained(&definition["items"]);
            if !free.contains(name.as_str()) && (!constrained(definition) || !items_ok) {
                unconstrained.push(name);
            }
        }
    }
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if !free.contains(name) && !constrained(&parameter["schema"]) {
                    unconstrained.push(format!("{} {name}", operation["operationId"]));
                }
            }
        }
    }
    assert!(
        unconstrained.is_empty(),
        "inputs without a rule: {unconstrained:?}"
    );
}

/// What the document says is what the server does, at each bound: the longest or
/// largest value the document allows is accepted, one more is refused 422 naming the
/// field (`errors[0].field`).
#[tokio::test]
async fn the_server_refuses_exactly_past_the_documented_bounds() {
    let app = spawn_app();
    let document = keyroll_api::openapi();
    let property = |schema: &str, name: &str| {
        document["components"]["schemas"][schema]["properties"][name].clone()
    };
    let max_len =
        |schema: &str, name: &str| property(schema, name)["maxLength"].as_u64().unwrap() as usize;
    let base = json!({"organizationId": "org_bounds", "name": "n", "rateLimit": 1});
    let cases = [
        (
            "organizationId",
            json!("o".repeat(max_len("CreateKeyRequest", "organizationId"))),
            json!("o".repeat(max_len("CreateKeyRequest", "organizationId") + 1)),
        ),
        (
            "name",
            json!("n".repeat(max_len("CreateKeyRequest", "name"))),
            json!("n".repeat(max_len("CreateKeyRequest", "name") + 1)),
        ),
        ("organizationId", json!("o"), json!("")),
        (
            "rateLimit",
            property("CreateKeyRequest", "rateLimit")["maximum"].clone(),
            json!(
                property("CreateKeyRequest", "rateLimit")["maximum"]
                    .as_u64()
                    .unwrap()
                    + 1
            ),
        ),
        ("rateLimit", json!(1.0), json!(0)),
        (
            "scopes",
            json!(vec![
                "s";
                property("CreateKeyRequest", "scopes")["maxItems"]
                    .as_u64()
                    .unwrap() as usize
            ]),
            json!(vec![
                "s";
                property("CreateKeyRequest", "scopes")["maxItems"]
                    .as_u64()
                    .unwrap() as usize
                    + 1
            ]),
        ),
    ];
    for (field, allowed, refused) in cases {
        let mut body = base.clone();
        body[field] = allowed.clone();
        let reply = app.call("POST", "/v1/keys", Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{field} = {allowed}: {}",
            reply.text
        );
        let mut body = base.clone();
        body[field] = refused.clone();
        let reply = app.call("POST", "/v1/keys", Some(body)).await;
        assert_problem(&reply, 422);
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{field} = {refused}: {}",
            reply.text
        );
    }
    // Query limits, each route its own.
    let (key, _) = app.create_key().await;
    for (path, route) in [
        ("/v1/rotations", "/v1/rotations".to_owned()),
        ("/v1/emergencies", "/v1/emergencies".to_owned()),
        ("/v1/compliance", "/v1/compliance".to_owned()),
        ("/v1/compliance.csv", "/v1/compliance.csv".to_owned()),
        ("/v1/keys/{keyId}/audit", format!("/v1/keys/{key}/audit")),
    ] {
        let limit = document["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap()["schema"]["maximum"]
            .as_u64()
            .unwrap();
        let ok = app
            .call("GET", &format!("{route}?limit={limit}"), None)
            .await;
        assert_eq!(
            ok.status,
            StatusCode::OK,
            "{path} limit={limit}: {}",
            ok.text
        );
        let refused = app
            .call("GET", &format!("{route}?limit={}", limit + 1), None)
            .await;
        assert_problem(&refused, 422);
        assert_eq!(
            refused.body["errors"][0]["field"], "limit",
            "{path}: {}",
            refused.text
        );
    }
}

/// Type, range and format errors name the field, in the same shape everywhere:
/// `detail` and `errors: [{field, message}]`, and never echo the value sent.
#[tokio::test]
async fn problems_name_the_field_and_never_echo_the_value() {
    let app = spawn_app();
    let secretish = "sk_live_3fA9kQ2zSECRETVALUE";
    let reply = app
        .call(
            "POST",
            "/v1/keys",
            Some(json!({"organizationId": "org", "name": "n", "rateLimit": secretish})),
        )
        .await;
    assert_problem(&reply, 422);
    assert_eq!(
        reply.body["errors"][0]["field"], "rateLimit",
        "{}",
        reply.text
    );
    assert!(reply.body["detail"].as_str().unwrap().contains("rateLimit"));
    assert!(!reply.text.contains(secretish), "{}", reply.text);
    let reply = app
        .call(
            "POST",
            "/v1/keys",
            Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1, "class": secretish})),
        )
        .await;
    assert_eq!(reply.body["errors"][0]["field"], "class", "{}", reply.text);
    assert!(!reply.text.contains(secretish), "{}", reply.text);
    let reply = app
        .call(
            "POST",
            "/v1/keys",
            Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1, "colour": "red"})),
        )
        .await;
    assert_eq!(reply.body["errors"][0]["field"], "colour", "{}", reply.text);
    let reply = app.call("GET", "/v1/rotations?limit=many", None).await;
    assert_problem(&reply, 422);
    assert_eq!(reply.body["errors"][0]["field"], "limit", "{}", reply.text);
    let reply = app.call("GET", "/v1/rotations?colour=red", None).await;
    assert_eq!(reply.body["errors"][0]["field"], "colour", "{}", reply.text);
    let short = app
        .raw(
            "POST",
            "/v1/keys",
            Some(json!({"organizationId": "org", "name": "n", "rateLimit": 1}).to_string()),
            &[("idempotency-key", "short")],
        )
        .await;
    assert_problem(&short, 422);
    assert_eq!(
        short.body["errors"][0]["field"], "Idempotency-Key",
        "{}",
        short.text
    );
}

/// The document as it stood before the API crate was reorganised (issue 24): every
/// path, operation, parameter, schema, field and rule it stated is still stated the
/// same way. Added detail (a new keyword, description or schema) is allowed; a removed
/// or changed one fails, naming where.
#[test]
fn the_document_keeps_every_promise_of_the_baseline() {
    let baseline: serde_json::Value =
        serde_json::from_str(include_str!("openapi.baseline.json")).unwrap();
    let current = keyroll_api::openapi();
    let mut broken = Vec::new();
    kept(
        (&baseline, &baseline),
        (&current, &current),
        "#".to_owned(),
        &mut broken,
    );
    assert!(broken.is_empty(), "broken promises: {broken:#?}");
    // Problem responses are declared once (http/problems.rs), with what they mean.
    let unauthenticated = &current["paths"]["/v1/keys"]["post"]["responses"]["401"];
    assert!(unauthenticated["description"]
        .as_str()
        .is_some_and(|d| d.contains("credential")));
    assert_eq!(
        unauthenticated["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}

/// Where `before` (in document `old`) is not held by `after` (in `new`), added to
/// `broken`. References are followed on both sides, so a schema that moved into
/// `components` (or out of it) compares by what it says.
fn kept(
    (old, before): (&serde_json::Value, &serde_json::Value),
    (new, after): (&serde_json::Value, &serde_json::Value),
    at: String,
    broken: &mut Vec<String>,
) {
    use serde_json::Value;
    let before = resolved(old, before);
    let after = resolved(new, after);
    match (before, after) {
        (Value::Object(was), Value::Object(is)) => {
            for (name, value) in was {
                match is.get(name) {
                    Some(now) => kept((old, value), (new, now), format!("{at}/{name}"), broken),
                    None => broken.push(format!("{at}/{name}: gone")),
                }
            }
        }
        (Value::Array(was), Value::Array(is)) => {
            // An enum may gain values (a new notification type, audit action): a
            // document that names more is added detail.
            if at.ends_with("/enum") {
                let is: Vec<_> = is.iter().map(Value::to_string).collect();
                for value in was.iter().map(Value::to_string) {
                    if !is.contains(&value) {
                        broken.push(format!("{at}: {value} is gone"));
                    }
                }
                return;
            }
            // An answer may promise a new field; a request may not demand one.
            let answer = at.contains("/responses/")
                || at
                    .strip_prefix("#/components/schemas/")
                    .and_then(|rest| rest.split('/').next())
                    .is_some_and(|name| !name.ends_with("Request") && !name.ends_with("Row"));
            if at.ends_with("/required") && answer {
                let is: Vec<_> = is.iter().map(Value::to_string).collect();
                for name in was.iter().map(Value::to_string) {
                    if !is.contains(&name) {
                        broken.push(format!("{at}: {name} is no longer required"));
                    }
                }
                return;
            }
            if at.ends_with("/required") {
                let mut was: Vec<_> = was.iter().map(Value::to_string).collect();
                let mut is: Vec<_> = is.iter().map(Value::to_string).collect();
                was.sort();
                is.sort();
                if was != is {
                    broken.push(format!("{at}: {was:?} is now {is:?}"));
                }
                return;
            }
            for (index, value) in was.iter().enumerate() {
                let held = is.iter().any(|now| {
                    let mut none = Vec::new();
                    kept((old, value), (new, now), format!("{at}/{index}"), &mut none);
                    none.is_empty()
                });
                if !held {
                    broken.push(format!("{at}/{index}: no longer held: {value}"));
                }
            }
        }
        (was, is) if was == is => {}
        // A subscription names each notification type at most once: its bound grows
        // with the types.
        (Value::Number(was), Value::Number(is))
            if at.ends_with("/types/maxItems") && is.as_u64() >= was.as_u64() => {}
        // An empty description said nothing: one that says something is added detail.
        (Value::String(was), Value::String(_))
            if was.is_empty() && at.ends_with("/description") => {}
        (was, is) => broken.push(format!("{at}: {was} is now {is}")),
    }
}

/// `value`, or what its `$ref` names in `document` (followed to the end).
fn resolved<'a>(
    document: &'a serde_json::Value,
    value: &'a serde_json::Value,
) -> &'a serde_json::Value {
    let mut value = value;
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(|r| r.as_str()) else {
            return value;
        };
        let Some(target) = reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
        else {
            return value;
        };
        value = target;
    }
    value
}
