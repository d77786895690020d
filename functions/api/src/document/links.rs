//! The links between operations that a generated client or a stateful tester follows
//! from a created key to its reads and rotations.

use serde_json::{json, Map, Value};

use super::Misses;

/// A link from a response to an operation its ids open (OpenAPI 3.1 §4.8.20).
pub(crate) struct Link {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
}

pub(crate) const KEY: &[(&str, &str)] = &[("keyId", "$response.body#/key/id")];

pub(crate) const ROTATION: &[(&str, &str)] = &[("rotationId", "$response.body#/rotation/id")];

pub(crate) const CONTACT: &[(&str, &str)] = &[
    ("organizationId", "$request.path.organizationId"),
    ("contactId", "$response.body#/id"),
];

pub(crate) const WEBHOOK: &[(&str, &str)] = &[
    ("organizationId", "$request.path.organizationId"),
    ("webhookId", "$response.body#/id"),
];

pub(crate) const OWN_CONTACT: &[(&str, &str)] = &[("contactId", "$response.body#/id")];

pub(crate) const OWN_WEBHOOK: &[(&str, &str)] = &[("webhookId", "$response.body#/id")];

pub(crate) fn links() -> Vec<Link> {
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

pub(crate) fn add_links(document: &mut Value, misses: &mut Misses) {
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
