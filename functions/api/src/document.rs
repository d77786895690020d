//! The OpenAPI document, completed with what utoipa's derives cannot say: every input's
//! rule, taken from the same definitions the server validates with
//! (`keyroll_core::rules` and the routes' own limits), the rules that span two fields,
//! unique operation ids, and the links between operations that a generated client or a
//! stateful tester follows from a created key to its rotations.
//!
//! The split the document keeps: a request outside these rules is refused 422
//! (`invalid-request`), naming the field; a well-formed one that the key's policy, the
//! configuration or the clock refuses is 409 (`outside-policy`).

use keyroll_core::rules::{self, Range, TextRule};
use serde_json::{json, Map, Value};

/// One input's rule, as JSON Schema keywords.
#[derive(Debug, Clone)]
pub enum Rule {
    Text(TextRule),
    /// A pattern with its length bounds.
    Pattern {
        pattern: String,
        min_chars: usize,
        max_chars: usize,
    },
    Range(Range),
    /// An array's length bounds.
    Items {
        min: usize,
        max: usize,
    },
    /// An array whose items follow the rule.
    Each(Box<Rule>),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// An array that names each item at most once.
    Distinct,
}

impl Rule {
    fn pattern(pattern: impl Into<String>, min_chars: usize, max_chars: usize) -> Self {
        Rule::Pattern {
            pattern: pattern.into(),
            min_chars,
            max_chars,
        }
    }

    fn prefixed_ulid(prefix: &str) -> Self {
        let len = prefix.len() + 26;
        Rule::pattern(rules::prefixed_ulid_pattern(prefix), len, len)
    }

    /// The JSON Schema keywords that state the rule.
    pub fn keywords(&self) -> Map<String, Value> {
        let value = match self {
            Rule::Text(rule) => json!({
                "minLength": rule.min_chars,
                "maxLength": rule.max_chars,
                "pattern": rule.pattern(),
            }),
            Rule::Pattern {
                pattern,
                min_chars,
                max_chars,
            } => json!({"minLength": min_chars, "maxLength": max_chars, "pattern": pattern}),
            Rule::Range(range) => json!({"minimum": range.min, "maximum": range.max}),
            Rule::Items { min, max } => json!({"minItems": min, "maxItems": max}),
            Rule::Each(rule) => json!({"items": rule.keywords()}),
            Rule::OneOf(words) => json!({"enum": words}),
            Rule::Distinct => json!({"uniqueItems": true}),
        };
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

fn reason() -> Rule {
    Rule::Text(rules::REASON)
}

/// The rules of body fields: (component schema, property, rule).
pub fn body_rules() -> Vec<(&'static str, &'static str, Rule)> {
    use Rule::*;
    let grace = || Range(rules::GRACE_SECONDS);
    const TYPES: usize = keyroll_core::notification::NotificationType::ALL.len();
    let mut rules = vec![
        ("ScheduleRotationRequest", "reason", reason()),
        ("ScheduleRotationRequest", "gracePeriodSeconds", grace()),
        (
            "ScheduleRotationRequest",
            "completeWhenUnusedSeconds",
            Range(rules::COMPLETE_WHEN_UNUSED_SECONDS),
        ),
        ("EmergencyRotationRequest", "reason", reason()),
        (
            "EmergencyRotationRequest",
            "gracePeriodSeconds",
            Range(rules::EMERGENCY_GRACE_SECONDS),
        ),
        ("ReasonRequest", "reason", reason()),
        ("CancelRotationRequest", "reason", reason()),
        ("CompleteRotationRequest", "reason", reason()),
        ("ExtendRotationRequest", "reason", reason()),
        (
            "ExtendRotationRequest",
            "gracePeriodSeconds",
            Range(rules::EXTENSION_SECONDS),
        ),
        (
            "CreateContactRequest",
            "email",
            Rule::pattern(rules::EMAIL_PATTERN, 3, rules::EMAIL_MAX_CHARS),
        ),
        (
            "CreateContactRequest",
            "types",
            Items { min: 1, max: TYPES },
        ),
        ("CreateContactRequest", "types", Distinct),
        (
            "CreateWebhookRequest",
            "url",
            Rule::pattern(rules::WEBHOOK_URL_PATTERN, 1, rules::WEBHOOK_URL_MAX_CHARS),
        ),
        (
            "CreateWebhookRequest",
            "types",
            Items { min: 1, max: TYPES },
        ),
        ("CreateWebhookRequest", "types", Distinct),
        (
            "ImportRequest",
            "keys",
            Items {
                min: 0,
                max: crate::import::MAX_ROWS,
            },
        ),
        ("ImportRow", "id", Text(rules::KEY_ID)),
        (
            "ImportRow",
            "prefix",
            Rule::pattern(
                crate::import::PREFIX_PATTERN,
                8,
                crate::import::MAX_PREFIX_CHARS,
            ),
        ),
        ("ImportRow", "lookupHash", Text(rules::LOOKUP_HASH)),
    ];
    // A new key's fields, which an imported row carries too (both go through `NewKey`).
    for schema in ["CreateKeyRequest", "ImportRow"] {
        rules.extend(
            key_fields()
                .into_iter()
                .map(|(field, rule)| (schema, field, rule)),
        );
    }
    rules
}

/// The rules of a new key's fields.
fn key_fields() -> Vec<(&'static str, Rule)> {
    use Rule::*;
    vec![
        ("organizationId", Text(rules::ORGANIZATION_ID)),
        ("name", Text(rules::KEY_NAME)),
        (
            "scopes",
            Items {
                min: 0,
                max: rules::MAX_SCOPES,
            },
        ),
        ("scopes", Each(Box::new(Text(rules::SCOPE)))),
        ("rateLimit", Range(rules::RATE_LIMIT)),
    ]
}

/// The rules of parameters, by name, wherever they appear.
pub fn parameter_rules() -> Vec<(&'static str, Rule)> {
    vec![
        ("keyId", Rule::Text(rules::KEY_ID)),
        (
            "rotationId",
            Rule::prefixed_ulid(keyroll_core::ids::RotationId::PREFIX),
        ),
        (
            "contactId",
            Rule::prefixed_ulid(keyroll_core::ids::ContactId::PREFIX),
        ),
        (
            "webhookId",
            Rule::prefixed_ulid(keyroll_core::ids::WebhookId::PREFIX),
        ),
        ("eventId", Rule::Text(rules::EVENT_ID)),
        ("organizationId", Rule::Text(rules::ORGANIZATION_ID)),
        ("Idempotency-Key", Rule::Text(rules::IDEMPOTENCY_KEY)),
        ("order", Rule::OneOf(&["oldest", "newest"])),
        (
            "status",
            Rule::OneOf(&[
                "compliant",
                "rotation_in_progress",
                "rotation_blocked",
                "overdue",
            ]),
        ),
    ]
}

/// The rules of parameters that differ by operation: (path, name, rule).
pub fn operation_parameter_rules() -> Vec<(&'static str, &'static str, Rule)> {
    use crate::{compliance, org, organizations, routes};
    let limit = |range: Range| Rule::Range(range);
    let due = || Rule::pattern(rules::due_cursor_pattern(), 1, 200);
    let sequence = || Rule::pattern(rules::SEQUENCE_CURSOR_PATTERN, 1, 19);
    let feed = || Rule::pattern(rules::FEED_CURSOR_PATTERN, 1, 256);
    vec![
        ("/v1/rotations", "limit", limit(routes::ROTATION_PAGE)),
        ("/v1/rotations", "cursor", due()),
        ("/v1/emergencies", "limit", limit(routes::ROTATION_PAGE)),
        ("/v1/emergencies", "cursor", due()),
        ("/v1/emergencies", "days", limit(routes::EMERGENCY_DAYS)),
        ("/v1/keys/{keyId}/audit", "limit", limit(routes::AUDIT_PAGE)),
        ("/v1/keys/{keyId}/audit", "cursor", sequence()),
        ("/v1/org/audit", "limit", limit(routes::AUDIT_PAGE)),
        ("/v1/org/audit", "cursor", sequence()),
        ("/v1/compliance", "limit", limit(compliance::REPORT_PAGE)),
        ("/v1/compliance.csv", "limit", limit(compliance::CSV_PAGE)),
        (
            "/v1/compliance",
            "cursor",
            Rule::pattern(rules::COMPLIANCE_CURSOR_PATTERN, 1, 200),
        ),
        (
            "/v1/compliance.csv",
            "cursor",
            Rule::pattern(rules::COMPLIANCE_CURSOR_PATTERN, 1, 200),
        ),
        ("/v1/org/keys", "limit", limit(org::keys::KEY_PAGE)),
        ("/v1/org/keys", "cursor", Rule::Text(rules::KEY_ID)),
        (
            "/v1/org/notifications",
            "limit",
            limit(organizations::FEED_PAGE),
        ),
        ("/v1/org/notifications", "cursor", feed()),
        (
            "/v1/org/deliveries",
            "limit",
            limit(organizations::FEED_PAGE),
        ),
        ("/v1/org/deliveries", "cursor", feed()),
        (
            "/v1/organizations/{organizationId}/notifications",
            "limit",
            limit(organizations::FEED_PAGE),
        ),
        (
            "/v1/organizations/{organizationId}/notifications",
            "cursor",
            feed(),
        ),
        (
            "/v1/organizations/{organizationId}/deliveries",
            "limit",
            limit(organizations::FEED_PAGE),
        ),
        (
            "/v1/organizations/{organizationId}/deliveries",
            "cursor",
            feed(),
        ),
    ]
}

/// Inputs that take any value of their type, and why (the coverage test requires
/// every other text or number input to carry a rule).
pub const FREE_INPUTS: &[(&str, &str)] = &[
    (
        "VerifyRequest.secret",
        "any text is answered 200: a malformed secret is `MALFORMED`",
    ),
    (
        "LeakReportItem.token",
        "GitHub's candidate: anything that looked like a secret",
    ),
    ("LeakReportItem.type", "GitHub's token type name"),
    ("LeakReportItem.url", "where GitHub found it"),
    ("LeakReportItem.source", "GitHub's own label"),
    ("ScheduleRotationRequest.scheduledAt", "format: date-time"),
    ("ImportRow.createdAt", "format: date-time"),
    (
        "Github-Public-Key-Identifier",
        "checked against the trusted keys, answered 401",
    ),
    (
        "Github-Public-Key-Signature",
        "checked against the body, answered 401",
    ),
];

/// Operations that share a handler name with another route get a distinct id: the
/// customer's routes are `org_…`, GitHub's report is `report_leaks`.
fn unique_operation_ids(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            if id.starts_with("org_") || id == "report_leaks" {
                continue;
            }
            let id = if path.starts_with("/v1/org/") {
                format!("org_{id}")
            } else if path == "/v1/leaks" {
                "report_leaks".to_owned()
            } else {
                continue;
            };
            operation["operationId"] = Value::String(id);
        }
    }
}

fn merge(target: &mut Value, keywords: Map<String, Value>) -> bool {
    let Some(object) = target.as_object_mut() else {
        return false;
    };
    for (name, value) in keywords {
        match (object.get_mut(&name), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (_, value) => {
                object.insert(name, value);
            }
        }
    }
    true
}

/// The rules that span two fields, which utoipa's derives cannot state.
fn cross_field_rules(schemas: &mut Value) {
    let forced_needs_reason = json!({
        "if": {"required": ["force"], "properties": {"force": {"const": true}}},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}}
    });
    if let Value::Object(more) = forced_needs_reason {
        for schema in ["CancelRotationRequest", "CompleteRotationRequest"] {
            merge(&mut schemas[schema], more.clone());
        }
    }
    if let Value::Object(more) = json!({
        "not": {
            "required": ["immediate", "scheduledAt"],
            "properties": {"immediate": {"const": true}, "scheduledAt": {"type": "string"}}
        }
    }) {
        merge(&mut schemas["ScheduleRotationRequest"], more);
    }
    // u32 fields: utoipa says int32, whose range is half of theirs.
    for (schema, property) in [
        ("CreateKeyRequest", "rateLimit"),
        ("ImportRow", "rateLimit"),
    ] {
        schemas[schema]["properties"][property]["format"] = json!("int64");
    }
    // GitHub may leave `url` out, but never sends null for it.
    schemas["LeakReportItem"]["properties"]["url"]["type"] = json!("string");
}

/// A link from a response to an operation its ids open (OpenAPI 3.1 §4.8.20).
struct Link {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
}

const KEY: &[(&str, &str)] = &[("keyId", "$response.body#/key/id")];
const ROTATION: &[(&str, &str)] = &[("rotationId", "$response.body#/rotation/id")];
const CONTACT: &[(&str, &str)] = &[
    ("organizationId", "$request.path.organizationId"),
    ("contactId", "$response.body#/id"),
];
const WEBHOOK: &[(&str, &str)] = &[
    ("organizationId", "$request.path.organizationId"),
    ("webhookId", "$response.body#/id"),
];
const OWN_CONTACT: &[(&str, &str)] = &[("contactId", "$response.body#/id")];
const OWN_WEBHOOK: &[(&str, &str)] = &[("webhookId", "$response.body#/id")];

fn links() -> Vec<Link> {
    let link = |from, status, name, to, parameters| Link {
        from,
        status,
        name,
        to,
        parameters,
    };
    vec![
        link("create_key", "201", "GetKey", "get_key", KEY),
        link(
            "create_key",
            "201",
            "ScheduleRotation",
            "schedule_rotation",
            KEY,
        ),
        link(
            "create_key",
            "201",
            "EmergencyRotation",
            "emergency_rotation",
            KEY,
        ),
        link("create_key", "201", "ListRotations", "list_rotations", KEY),
        link("create_key", "201", "Audit", "audit", KEY),
        link(
            "schedule_rotation",
            "201",
            "GetRotation",
            "get_rotation",
            ROTATION,
        ),
        link(
            "schedule_rotation",
            "201",
            "CancelRotation",
            "cancel_rotation",
            ROTATION,
        ),
        link(
            "schedule_rotation",
            "201",
            "CompleteRotation",
            "complete_rotation",
            ROTATION,
        ),
        link(
            "schedule_rotation",
            "201",
            "ExtendRotation",
            "extend_rotation",
            ROTATION,
        ),
        link(
            "schedule_rotation",
            "201",
            "RevealSecret",
            "reveal_secret",
            ROTATION,
        ),
        link(
            "emergency_rotation",
            "201",
            "GetRotation",
            "get_rotation",
            ROTATION,
        ),
        link(
            "emergency_rotation",
            "201",
            "CompleteRotation",
            "complete_rotation",
            ROTATION,
        ),
        link(
            "get_rotation",
            "200",
            "CancelRotation",
            "cancel_rotation",
            ROTATION,
        ),
        link(
            "get_rotation",
            "200",
            "CompleteRotation",
            "complete_rotation",
            ROTATION,
        ),
        link(
            "get_rotation",
            "200",
            "ExtendRotation",
            "extend_rotation",
            ROTATION,
        ),
        link(
            "add_contact",
            "201",
            "RemoveContact",
            "remove_contact",
            CONTACT,
        ),
        link(
            "add_webhook",
            "201",
            "RotateSecret",
            "rotate_webhook_secret",
            WEBHOOK,
        ),
        link(
            "add_webhook",
            "201",
            "RemoveWebhook",
            "remove_webhook",
            WEBHOOK,
        ),
        link(
            "org_schedule_rotation",
            "201",
            "CompleteRotation",
            "org_complete_rotation",
            ROTATION,
        ),
        link(
            "org_schedule_rotation",
            "201",
            "ExtendRotation",
            "org_extend_rotation",
            ROTATION,
        ),
        link(
            "org_schedule_rotation",
            "201",
            "RevealSecret",
            "org_reveal_secret",
            ROTATION,
        ),
        link(
            "org_add_contact",
            "201",
            "RemoveContact",
            "org_remove_contact",
            OWN_CONTACT,
        ),
        link(
            "org_add_webhook",
            "201",
            "RotateSecret",
            "org_rotate_webhook_secret",
            OWN_WEBHOOK,
        ),
        link(
            "org_add_webhook",
            "201",
            "RemoveWebhook",
            "org_remove_webhook",
            OWN_WEBHOOK,
        ),
    ]
}

fn add_links(document: &mut Value, misses: &mut Misses) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for link in links() {
        let mut placed = false;
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
        {
            if operation.get("operationId").and_then(Value::as_str) != Some(link.from) {
                continue;
            }
            let response = &mut operation["responses"][link.status];
            if response.is_object() {
                let parameters: Map<String, Value> = link
                    .parameters
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), json!(value)))
                    .collect();
                response["links"][link.name] = json!({
                    "operationId": link.to,
                    "parameters": parameters,
                });
                placed = true;
            }
        }
        if !placed {
            misses.0.push(format!("link {} {}", link.from, link.name));
        }
    }
}

/// An empty JSON body stands for `{}` (see `extract::JsonBody`), so a body whose schema
/// requires no field may be left out.
fn optional_bodies(document: &mut Value) {
    let schemas = document["components"]["schemas"].clone();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let body = &mut operation["requestBody"];
        let content = &body["content"];
        let Some(reference) = content["application/json"]["schema"]["$ref"].as_str() else {
            continue;
        };
        let name = reference.rsplit('/').next().unwrap_or("");
        let requires_nothing = schemas[name]["required"]
            .as_array()
            .is_none_or(Vec::is_empty);
        if requires_nothing && content.as_object().is_some_and(|c| c.len() == 1) {
            body["required"] = json!(false);
        }
    }
}

/// What [`complete`] could not place: a rule naming a schema, property or parameter
/// the document does not have (a test keeps this empty).
#[derive(Debug, Default)]
pub struct Misses(pub Vec<String>);

/// Completes utoipa's document: rules, cross-field rules, unique ids, links.
pub fn complete(document: &mut Value) -> Misses {
    let mut misses = Misses::default();
    unique_operation_ids(document);
    let schemas = &mut document["components"]["schemas"];
    for (schema, property, rule) in body_rules() {
        let target = &mut schemas[schema]["properties"][property];
        let placed = match &rule {
            Rule::Each(inner) => merge(&mut target["items"], inner.keywords()),
            _ => target.is_object() && merge(target, rule.keywords()),
        };
        if !placed {
            misses.0.push(format!("{schema}.{property}"));
        }
    }
    cross_field_rules(schemas);
    let parameter_rules = parameter_rules();
    let operation_rules = operation_parameter_rules();
    let mut placed_operation_rules = vec![false; operation_rules.len()];
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(parameters) = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for parameter in parameters {
                    let Some(name) = parameter
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                    else {
                        continue;
                    };
                    // An optional parameter is left out, never sent as `null`.
                    if let Some(types) = parameter["schema"]["type"].as_array() {
                        if let Some(kind) = types.iter().find(|t| *t != "null").cloned() {
                            parameter["schema"]["type"] = kind;
                        }
                    }
                    for (i, (rule_path, rule_name, rule)) in operation_rules.iter().enumerate() {
                        if rule_path == path && *rule_name == name {
                            merge(&mut parameter["schema"], rule.keywords());
                            placed_operation_rules[i] = true;
                        }
                    }
                    if let Some((_, rule)) = parameter_rules.iter().find(|(n, _)| *n == name) {
                        merge(&mut parameter["schema"], rule.keywords());
                    }
                }
            }
        }
    }
    for ((path, name, _), placed) in operation_rules.iter().zip(placed_operation_rules) {
        if !placed {
            misses.0.push(format!("{path} {name}"));
        }
    }
    optional_bodies(document);
    add_links(document, &mut misses);
    misses
}
