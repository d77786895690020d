//! Every input's rule, by schema and property, by parameter and by operation, from
//! the definitions the server validates with; and the rules that span two fields.

use keyroll_core::ids::{ContactId, KeyId, OrganizationId, RotationId, WebhookId};
use keyroll_core::rules::{self, Range, TextInput};
use serde_json::{json, Value};

use super::{merge, Rule};

/// The rules of body fields that no validated type carries (a field typed as one,
/// `KeyName`, `Reason`, …, states its type's rule itself): (component schema,
/// property, rule).
pub fn body_rules() -> Vec<(&'static str, &'static str, Rule)> {
    use Rule::*;
    let grace = || Range(rules::GRACE_SECONDS);
    const TYPES: usize = keyroll_core::notification::NotificationType::ALL.len();
    let scopes = Items {
        min: 0,
        max: rules::MAX_SCOPES,
    };
    vec![
        ("ScheduleRotationRequest", "gracePeriodSeconds", grace()),
        (
            "ScheduleRotationRequest",
            "completeWhenUnusedSeconds",
            Range(rules::COMPLETE_WHEN_UNUSED_SECONDS),
        ),
        (
            "ScheduleRotationRequest",
            "quietSeconds",
            Range(rules::QUIET_SECONDS),
        ),
        (
            "ScheduleRotationRequest",
            "fadeBelowDailyUses",
            Range(rules::FADE_BELOW_DAILY_USES),
        ),
        (
            "EmergencyRotationRequest",
            "gracePeriodSeconds",
            Range(rules::EMERGENCY_GRACE_SECONDS),
        ),
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
            "ConfirmContactRequest",
            "code",
            Text(rules::CONFIRMATION_CODE),
        ),
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
                max: crate::dto::limits::MAX_ROWS,
            },
        ),
        (
            "ImportRow",
            "prefix",
            Rule::pattern(
                crate::dto::limits::PREFIX_PATTERN,
                8,
                crate::dto::limits::MAX_PREFIX_CHARS,
            ),
        ),
        ("ImportRow", "lookupHash", Text(rules::LOOKUP_HASH)),
        // A new key's, which an imported row carries too (both go through `NewKey`).
        ("CreateKeyRequest", "scopes", scopes.clone()),
        ("ImportRow", "scopes", scopes),
        ("CreateKeyRequest", "rateLimit", Range(rules::RATE_LIMIT)),
        ("UpdateKeyRequest", "rateLimit", Range(rules::RATE_LIMIT)),
        (
            "UpdateKeyRequest",
            "scopes",
            Items {
                min: 0,
                max: rules::MAX_SCOPES,
            },
        ),
        ("UpdateKeyRequest", "metadata", metadata()),
        (
            "CreateOwnKeyRequest",
            "scopes",
            Items {
                min: 0,
                max: rules::MAX_SCOPES,
            },
        ),
        ("CreateOwnKeyRequest", "rateLimit", Range(rules::RATE_LIMIT)),
        (
            "KeyPolicyBody",
            "allowedScopes",
            Items {
                min: 0,
                max: rules::MAX_SCOPES,
            },
        ),
        ("KeyPolicyBody", "maxRateLimit", Range(rules::RATE_LIMIT)),
        (
            "KeyPolicyBody",
            "maxKeys",
            Range(keyroll_core::rules::Range::new(
                1,
                keyroll_core::key_policy::MAX_KEYS_LIMIT,
            )),
        ),
        (
            "KeyPolicyBody",
            "classes",
            Items {
                min: 1,
                max: keyroll_core::key::KeyClass::ALL.len(),
            },
        ),
        ("KeyPolicyBody", "classes", Distinct),
        ("UpdateOwnKeyRequest", "metadata", metadata()),
        ("ImportRow", "rateLimit", Range(rules::RATE_LIMIT)),
    ]
}

/// The rule of a key's metadata.
fn metadata() -> Rule {
    use keyroll_core::plan::update::{
        MAX_METADATA_ENTRIES, MAX_METADATA_NAME_CHARS, MAX_METADATA_VALUE_CHARS,
    };
    Rule::Map {
        entries: MAX_METADATA_ENTRIES,
        name_chars: MAX_METADATA_NAME_CHARS,
        value_chars: MAX_METADATA_VALUE_CHARS,
    }
}

/// The rules of parameters, by name, wherever they appear.
pub fn parameter_rules() -> Vec<(&'static str, Rule)> {
    vec![
        ("keyId", Rule::Text(KeyId::RULE)),
        ("rotationId", Rule::prefixed_ulid(RotationId::PREFIX)),
        ("contactId", Rule::prefixed_ulid(ContactId::PREFIX)),
        ("webhookId", Rule::prefixed_ulid(WebhookId::PREFIX)),
        ("eventId", Rule::Text(rules::EVENT_ID)),
        ("organizationId", Rule::Text(OrganizationId::RULE)),
        ("Idempotency-Key", Rule::Text(rules::IDEMPOTENCY_KEY)),
        ("order", Rule::OneOf(&["oldest", "newest"])),
    ]
}

/// The rules of parameters that differ by operation: (path, name, rule).
pub fn operation_parameter_rules() -> Vec<(&'static str, &'static str, Rule)> {
    use crate::actions::audit::AUDIT_PAGE;
    use crate::dto::destinations::FEED_PAGE;
    use crate::dto::limits::{
        CSV_PAGE, EMERGENCY_DAYS, KEY_LIST_PAGE, KEY_PAGE, MAX_PREFIX_CHARS, REPORT_PAGE,
        ROTATION_PAGE, SHOWN_PREFIX_PATTERN,
    };
    let compliance_status = || {
        Rule::OneOf(&[
            "compliant",
            "rotation_in_progress",
            "rotation_blocked",
            "overdue",
        ])
    };
    let limit = |range: Range| Rule::Range(range);
    let due = || Rule::pattern(rules::due_cursor_pattern(), 1, 200);
    let sequence = || Rule::pattern(rules::SEQUENCE_CURSOR_PATTERN, 1, 19);
    let feed = || Rule::pattern(rules::FEED_CURSOR_PATTERN, 1, 256);
    vec![
        ("/v1/rotations", "limit", limit(ROTATION_PAGE)),
        ("/v1/rotations", "cursor", due()),
        ("/v1/emergencies", "limit", limit(ROTATION_PAGE)),
        ("/v1/emergencies", "cursor", due()),
        ("/v1/emergencies", "days", limit(EMERGENCY_DAYS)),
        ("/v1/keys/{keyId}/audit", "limit", limit(AUDIT_PAGE)),
        ("/v1/keys/{keyId}/audit", "cursor", sequence()),
        ("/v1/org/audit", "limit", limit(AUDIT_PAGE)),
        ("/v1/org/audit", "cursor", sequence()),
        ("/v1/compliance", "limit", limit(REPORT_PAGE)),
        ("/v1/compliance.csv", "limit", limit(CSV_PAGE)),
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
        ("/v1/compliance", "status", compliance_status()),
        ("/v1/compliance.csv", "status", compliance_status()),
        (
            "/v1/keys",
            "status",
            Rule::OneOf(&["active", "revoked", "expired"]),
        ),
        ("/v1/keys", "limit", limit(KEY_LIST_PAGE)),
        (
            "/v1/keys",
            "cursor",
            Rule::pattern(rules::KEY_LIST_CURSOR_PATTERN, 3, 76),
        ),
        (
            "/v1/keys",
            "prefix",
            Rule::pattern(SHOWN_PREFIX_PATTERN, 1, MAX_PREFIX_CHARS),
        ),
        (
            "/v1/keys/{keyId}/callers",
            "groupBy",
            Rule::OneOf(&["appVersion"]),
        ),
        (
            "/v1/org/keys/{keyId}/callers",
            "groupBy",
            Rule::OneOf(&["appVersion"]),
        ),
        ("/v1/org/keys", "limit", limit(KEY_PAGE)),
        ("/v1/org/keys", "cursor", Rule::Text(KeyId::RULE)),
        ("/v1/org/notifications", "limit", limit(FEED_PAGE)),
        ("/v1/org/notifications", "cursor", feed()),
        ("/v1/org/deliveries", "limit", limit(FEED_PAGE)),
        ("/v1/org/deliveries", "cursor", feed()),
        (
            "/v1/organizations/{organizationId}/notifications",
            "limit",
            limit(FEED_PAGE),
        ),
        (
            "/v1/organizations/{organizationId}/notifications",
            "cursor",
            feed(),
        ),
        (
            "/v1/organizations/{organizationId}/deliveries",
            "limit",
            limit(FEED_PAGE),
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
        "DeliveryKeyRequest.jwk",
        "any JSON object is read as a JWK: anything but a public P-256 key on the curve (another type or curve, a `d` member, bad coordinates) is a 422 naming `jwk`",
    ),
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
    (
        "CreateKeyRequest.expiresAt",
        "format: date-time; in the future, else 422",
    ),
    ("ImportRow.createdAt", "format: date-time"),
    (
        "CallerHintsRequest.ip",
        "any text: an address keeps its network, anything else is ignored",
    ),
    (
        "CallerHintsRequest.userAgent",
        "any text: cut to its first product token, 64 characters",
    ),
    (
        "CallerHintsRequest.client",
        "any text: cut to 64 characters",
    ),
    (
        "CallerHintsRequest.appVersion",
        "any text: cut to 64 characters",
    ),
    (
        "If-Match",
        "any value: one that is not an ETag of this API matches no revision (412)",
    ),
    (
        "Github-Public-Key-Identifier",
        "checked against the trusted keys, answered 401",
    ),
    (
        "Github-Public-Key-Signature",
        "checked against the body, answered 401",
    ),
];

/// The rules that span two fields, which utoipa's derives cannot state.
pub(crate) fn cross_field_rules(schemas: &mut Value) {
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
    // A retire option belongs to its mode; a retire condition replaces the older
    // options.
    let given = |field: &str, kind: &str| json!({"required": [field], "properties": {field: {"type": kind}}});
    let needs_mode = |field: &str, kind: &str, mode: &str| json!({"if": given(field, kind), "then": {"required": ["retire"], "properties": {"retire": {"const": mode}}}});
    if let Value::Object(more) = json!({
        "allOf": [
            needs_mode("quietSeconds", "integer", "when_moved"),
            needs_mode("fadeBelowPercent", "number", "when_faded"),
            needs_mode("fadeBelowDailyUses", "integer", "when_faded"),
            {
                "if": {"required": ["retire"], "properties": {"retire": {"enum": ["when_moved", "when_faded"]}}},
                "then": {"not": {"anyOf": [
                    given("completeWhenUnusedSeconds", "integer"),
                    {"required": ["autoExtend"], "properties": {"autoExtend": {"const": true}}}
                ]}}
            }
        ]
    }) {
        merge(&mut schemas["ScheduleRotationRequest"], more);
    }
    // u32 fields: utoipa says int32, whose range is half of theirs.
    for (schema, property) in [
        ("CreateKeyRequest", "rateLimit"),
        ("ImportRow", "rateLimit"),
        ("UpdateKeyRequest", "rateLimit"),
        ("CreateOwnKeyRequest", "rateLimit"),
        ("KeyPolicyBody", "maxRateLimit"),
    ] {
        schemas[schema]["properties"][property]["format"] = json!("int64");
    }
    // A delivery key: a public P-256 JWK (the server also checks the point).
    let coordinate = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"});
    schemas["DeliveryKeyRequest"]["properties"]["jwk"] = json!({
        "type": "object",
        "required": ["kty", "crv", "x", "y"],
        "properties": {
            "kty": {"const": "EC"},
            "crv": {"const": "P-256"},
            "x": coordinate,
            "y": coordinate
        },
        "not": {"required": ["d"]}
    });
    // GitHub may leave `url` out, but never sends null for it.
    schemas["LeakReportItem"]["properties"]["url"]["type"] = json!("string");
}
