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

mod inputs;
mod links;

use inputs::cross_field_rules;
pub use inputs::{body_rules, operation_parameter_rules, parameter_rules, FREE_INPUTS};
use links::add_links;

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
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// An array that names each item at most once.
    Distinct,
    /// A flat map of text: at most `entries` entries, names of 1-`name_chars` and
    /// values of at most `value_chars` characters (`null` removes an entry).
    Map {
        entries: usize,
        name_chars: usize,
        value_chars: usize,
    },
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
            Rule::OneOf(words) => json!({"enum": words}),
            Rule::Distinct => json!({"uniqueItems": true}),
            Rule::Map {
                entries,
                name_chars,
                value_chars,
            } => {
                // No control characters, in names or values.
                let printable = r"^[^\u0000-\u001f\u007f-\u009f]*$";
                json!({
                    "maxProperties": entries,
                    "propertyNames": {"minLength": 1, "maxLength": name_chars, "pattern": printable},
                    "additionalProperties": {"maxLength": value_chars, "pattern": printable},
                })
            }
        };
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
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
    inline_typed_fields(schemas);
    for (schema, property, rule) in body_rules() {
        let target = &mut schemas[schema]["properties"][property];
        if !(target.is_object() && merge(target, rule.keywords())) {
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

/// A field typed as a validated type (`#[schema(value_type = KeyName, inline)]`) that
/// has its own description comes out of utoipa as `{"oneOf": [<the type's schema>],
/// "description"}` (with a `{"type": "null"}` branch when optional): stated as the one
/// schema it is, as a hand-written field would be.
fn inline_typed_fields(schemas: &mut Value) {
    let properties = schemas
        .as_object_mut()
        .into_iter()
        .flat_map(|schemas| schemas.values_mut())
        .filter_map(|schema| schema.get_mut("properties")?.as_object_mut())
        .flat_map(|properties| properties.values_mut());
    for property in properties {
        let Some(field) = property.as_object_mut() else {
            continue;
        };
        let Some(Value::Array(branches)) = field.get("oneOf") else {
            continue;
        };
        let is_null = |branch: &Value| branch == &json!({"type": "null"});
        let nullable = branches.iter().any(is_null);
        let typed: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
        let [typed] = typed.as_slice() else {
            continue;
        };
        let Some(Value::String(kind)) = typed.get("type") else {
            continue;
        };
        let Value::Object(mut inlined) = (*typed).clone() else {
            continue;
        };
        if nullable {
            inlined.insert("type".to_owned(), json!([kind, "null"]));
        }
        field.remove("oneOf");
        inlined.extend(std::mem::take(field));
        *field = inlined;
    }
}

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

pub(crate) fn merge(target: &mut Value, keywords: Map<String, Value>) -> bool {
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
        // The one media type the body is documented with (JSON, or a merge patch).
        let Some(reference) = content
            .as_object()
            .and_then(|types| types.values().next())
            .and_then(|media| media["schema"]["$ref"].as_str())
        else {
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
