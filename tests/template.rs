//! template.yaml and the code must describe the same table: the deployed table is
//! the one the code queries.

use std::collections::BTreeSet;

#[path = "template/alarms.rs"]
mod alarms;
#[path = "template/parameters.rs"]
mod parameters;

use keyroll_core::store::dynamodb::schema::TABLE;
use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn tables(template: &Value) -> Vec<&Value> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect()
}

fn key_schema(schema: &Value) -> (String, String) {
    let mut hash = String::new();
    let mut range = String::new();
    for element in schema.as_sequence().expect("KeySchema is a list") {
        let name = element["AttributeName"]
            .as_str()
            .expect("AttributeName")
            .to_owned();
        match element["KeyType"].as_str() {
            Some("HASH") => hash = name,
            Some("RANGE") => range = name,
            other => panic!("unexpected KeyType {other:?}"),
        }
    }
    (hash, range)
}

/// `value` with every `!If [condition, then, else]` taken as `then`: the table as
/// `TableIndexes` at its default (all of keyroll's indexes) declares it.
fn every_condition_true(value: &Value) -> Value {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!If" => {
            every_condition_true(&tagged.value.as_sequence().expect("!If [c, a, b]")[1])
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(every_condition_true).collect()),
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (k.clone(), every_condition_true(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn the_table_in_template_yaml_matches_the_code() {
    let template = template();
    let tables = tables(&template);
    assert_eq!(tables.len(), 1, "keyroll uses exactly one table");
    // Older stacks step up one index per deploy (TableIndexes); by default the table
    // has them all, and then it is the code's.
    let steps = &template["Parameters"]["TableIndexes"];
    assert_eq!(
        steps["Default"].as_str(),
        Some(TABLE.indexes.len().to_string().as_str())
    );
    let properties = &every_condition_true(&tables[0]["Properties"]);

    assert_eq!(
        key_schema(&properties["KeySchema"]),
        (TABLE.partition_key.to_owned(), TABLE.sort_key.to_owned())
    );

    let declared: BTreeSet<(String, String)> = properties["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = TABLE
        .attributes()
        .into_iter()
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    assert_eq!(declared, expected, "AttributeDefinitions");

    let indexes = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes");
    assert_eq!(indexes.len(), TABLE.indexes.len(), "number of indexes");
    for spec in TABLE.indexes {
        let index = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(spec.name))
            .unwrap_or_else(|| panic!("index {} missing from template.yaml", spec.name));
        assert_eq!(
            key_schema(&index["KeySchema"]),
            (spec.partition_key.to_owned(), spec.sort_key.to_owned()),
            "key schema of index {}",
            spec.name
        );
        assert_eq!(
            index["Projection"]["ProjectionType"].as_str(),
            Some(spec.projection),
            "projection of {}",
            spec.name
        );
        let included: Vec<&str> = index["Projection"]["NonKeyAttributes"]
            .as_sequence()
            .map(|names| names.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            included, spec.included,
            "projected attributes of {}",
            spec.name
        );
    }
}

#[test]
fn the_table_is_recoverable_and_encrypted() {
    let template = template();
    let table = tables(&template)[0];
    let properties = &table["Properties"];
    assert_eq!(properties["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        properties["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    let ttl = &properties["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some(TABLE.ttl_attribute));
    assert_eq!(
        ttl["Enabled"].as_bool(),
        Some(true),
        "idempotency records expire"
    );
}

fn functions(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r))
        .collect()
}

fn env_names(variables: &Value) -> BTreeSet<String> {
    variables
        .as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Every variable the template sets is one the code reads (a typo would silently fall
/// back to a default), and each function gets what its code requires.
#[test]
fn function_environments_match_what_the_code_reads() {
    let template = template();
    let global = env_names(&template["Globals"]["Function"]["Environment"]["Variables"]);
    let known: BTreeSet<&str> = keyroll_core::config::SETTINGS
        .iter()
        .map(|s| s.name)
        .collect();
    let all_functions = functions(&template);
    assert_eq!(
        all_functions.len(),
        5,
        "api, authorizer, processor, scanner, notifier"
    );
    for (name, function) in &all_functions {
        let mut names = global.clone();
        names.extend(env_names(
            &function["Properties"]["Environment"]["Variables"],
        ));
        for variable in names.iter().filter(|n| n.starts_with("KEYROLL_")) {
            assert!(
                known.contains(variable.as_str()),
                "{name} sets {variable}, which no code reads"
            );
        }
        assert!(
            names.contains("KEYROLL_TABLE_NAME"),
            "{name} needs its table"
        );
        if name == "ProcessorFunction" {
            assert!(
                names.contains("KEYROLL_QUEUE_URL"),
                "the processor requires its queue"
            );
        }
    }
}

/// Each function builds a binary that exists in the workspace.
#[test]
fn every_function_builds_a_workspace_binary() {
    let template = template();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
    let mut binaries = BTreeSet::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        for block in text.split("[[bin]]").skip(1) {
            if let Some(line) = block.lines().find(|l| l.trim_start().starts_with("name")) {
                binaries.insert(line.split('"').nth(1).unwrap().to_owned());
            }
        }
    }
    for (name, function) in functions(&template) {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        assert!(
            binaries.contains(binary),
            "{name} builds {binary}, not a workspace binary: {binaries:?}"
        );
    }
    let global = &template["Globals"]["Function"];
    assert_eq!(global["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(global["Architectures"][0].as_str(), Some("arm64"));
}

/// Least privilege: no wildcard actions, and data-plane access scoped to keyroll's own
/// table, queue and secret prefix.
#[test]
fn function_policies_are_least_privilege() {
    let template = template();
    for (name, function) in functions(&template) {
        let policies = function["Properties"]["Policies"]
            .as_sequence()
            .expect("inline policies");
        for policy in policies {
            for statement in policy["Statement"].as_sequence().unwrap() {
                let actions: Vec<&str> = match &statement["Action"] {
                    Value::Sequence(list) => list.iter().map(|a| a.as_str().unwrap()).collect(),
                    other => vec![other.as_str().unwrap()],
                };
                for action in &actions {
                    assert!(!action.contains('*'), "{name}: wildcard action {action}");
                }
                let resource = serde_yaml::to_string(&statement["Resource"]).unwrap();
                assert!(
                    !resource.trim().trim_matches('\'').eq("*"),
                    "{name}: wildcard resource"
                );
                if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
                    assert!(
                        resource.contains("${SecretNamePrefix}"),
                        "{name}: secrets scoped to the prefix"
                    );
                }
            }
        }
    }
}

fn strings(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Sequence(list) => list
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        other => BTreeSet::from([other.as_str().unwrap().to_owned()]),
    }
}

/// The internet-facing key authorizer may read and write secret records only, and
/// write only the attributes its use write names: what the code does, nothing more
/// (and derive the MAC key records are checked with: one GenerateMac).
#[test]
fn the_key_authorizer_may_touch_only_secret_records_and_their_use() {
    use keyroll_core::store::dynamodb::schema::{SECRET_PK_PREFIX, USE_WRITE_ATTRIBUTES};
    let template = template();
    let statements = template["Resources"]["AuthorizerFunction"]["Properties"]["Policies"][0]
        ["Statement"]
        .as_sequence()
        .expect("the authorizer's statements");
    let leading = BTreeSet::from([format!("{SECRET_PK_PREFIX}*")]);
    let mut actions = BTreeSet::new();
    for statement in statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        let granted = strings(&statement["Action"]);
        if granted == BTreeSet::from(["kms:GenerateMac".to_owned()]) {
            actions.extend(granted);
            continue;
        }
        let condition = &statement["Condition"];
        assert_eq!(
            strings(&condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]),
            leading,
            "{granted:?} is limited to secret records"
        );
        if granted.contains("dynamodb:UpdateItem") {
            let attributes =
                strings(&condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]);
            let expected: BTreeSet<String> =
                USE_WRITE_ATTRIBUTES.iter().map(|a| a.to_string()).collect();
            assert_eq!(attributes, expected, "the use write's attributes");
        }
        actions.extend(granted);
    }
    assert_eq!(
        actions,
        BTreeSet::from([
            "dynamodb:GetItem".to_owned(),
            "dynamodb:UpdateItem".to_owned(),
            "kms:GenerateMac".to_owned(),
        ])
    );
}

/// The notifier talks to servers customers choose: its role may touch only the
/// partitions its code owns (the code's NOTIFIER_PARTITIONS), so it can never write a
/// key, a secret record, a rotation, an idempotency record or the outbox.
#[test]
fn the_notifier_may_touch_only_its_own_partitions() {
    use keyroll_core::store::dynamodb::{NOTIFIER_INDEX_PARTITIONS, NOTIFIER_PARTITIONS};
    let template = template();
    let statements = template["Resources"]["NotifierFunction"]["Properties"]["Policies"][0]
        ["Statement"]
        .as_sequence()
        .expect("the notifier's statements");
    let on_table: BTreeSet<String> = NOTIFIER_PARTITIONS
        .iter()
        .map(|p| format!("{p}*"))
        .collect();
    let on_index: BTreeSet<String> = NOTIFIER_INDEX_PARTITIONS
        .iter()
        .map(|p| format!("{p}*"))
        .collect();
    let mut dynamodb_statements = 0;
    for statement in statements {
        let granted = strings(&statement["Action"]);
        if !granted.iter().any(|a| a.starts_with("dynamodb:")) {
            continue;
        }
        dynamodb_statements += 1;
        let resource = format!("{:?}", statement["Resource"]);
        let leading =
            strings(&statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
        let expected = if resource.contains("/index/") {
            assert_eq!(granted, BTreeSet::from(["dynamodb:Query".to_owned()]));
            &on_index
        } else {
            &on_table
        };
        assert_eq!(&leading, expected, "{granted:?} on {resource}");
        for forbidden in ["KEY#", "SECRET#", "ROT#", "IDEM#", "OUTBOX#", "DUE#"] {
            assert!(
                !leading
                    .iter()
                    .any(|p| forbidden.starts_with(p.trim_end_matches('*'))),
                "{forbidden} is reachable through {leading:?}"
            );
        }
    }
    assert_eq!(dynamodb_statements, 2);
}

/// The functions that write keys (and so audit events and idempotency records) share
/// the KMS MAC key and may use it; the internet-facing authorizer may only derive the
/// key it checks secret records with (GenerateMac, once per container).
#[test]
fn the_writers_and_the_authorizer_alone_use_the_kms_mac_key() {
    let template = template();
    let global = env_names(&template["Globals"]["Function"]["Environment"]["Variables"]);
    assert!(global.contains("KEYROLL_MAC_KEY_ID"));
    for (name, function) in functions(&template) {
        let policy = serde_yaml::to_string(&function["Properties"]["Policies"]).unwrap();
        let may_mac = policy.contains("kms:GenerateMac") && policy.contains("AuditMacKey");
        // The writers MAC; the key authorizer derives the key it checks records with.
        let uses_the_key = matches!(
            name.as_str(),
            "ApiFunction" | "ProcessorFunction" | "ScannerFunction" | "AuthorizerFunction"
        );
        assert_eq!(may_mac, uses_the_key, "{name}");
        if name == "AuthorizerFunction" {
            assert!(
                !policy.contains("kms:VerifyMac"),
                "it derives, never asks KMS"
            );
        }
    }
    let key = &template["Resources"]["AuditMacKey"]["Properties"];
    assert_eq!(key["KeySpec"].as_str(), Some("HMAC_256"));
    assert_eq!(key["KeyUsage"].as_str(), Some("GENERATE_VERIFY_MAC"));
    // Whatever IAM grants, the key policy lets only the writers' roles (tagged by their
    // functions, SAM copying the tags onto the roles) make or check a MAC.
    let deny = key["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Deny"))
        .expect("a Deny statement");
    assert_eq!(deny["Principal"].as_str(), Some("*"));
    let actions = serde_yaml::to_string(&deny["Action"]).unwrap();
    assert!(actions.contains("kms:GenerateMac") && actions.contains("kms:VerifyMac"));
    let tag = &deny["Condition"]["StringNotEquals"]["aws:PrincipalTag/keyroll:mac"];
    let allowed: Vec<&str> = tag
        .as_sequence()
        .expect("the tag values the key allows")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(allowed, ["writer", "verifier"]);
    for (name, function) in functions(&template) {
        let tag = function["Properties"]["Tags"]["keyroll:mac"].as_str();
        let expected = match name.as_str() {
            "ApiFunction" | "ProcessorFunction" | "ScannerFunction" => Some("writer"),
            "AuthorizerFunction" => Some("verifier"),
            _ => None,
        };
        assert_eq!(tag, expected, "{name}'s role's MAC tag");
    }
}

/// The routes anyone may call are throttled on their own, so a flood of them cannot use
/// up the Lambda concurrency the key authorizer needs.
#[test]
fn the_public_routes_are_throttled() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["RouteSettings"];
    for route in ["POST /v1/leaks", "GET /portal"] {
        let limits = &settings[route];
        assert!(
            limits["ThrottlingRateLimit"]
                .as_f64()
                .is_some_and(|r| r > 0.0),
            "{route}"
        );
        assert!(
            limits["ThrottlingBurstLimit"]
                .as_u64()
                .is_some_and(|b| b > 0),
            "{route}"
        );
    }
}

/// Every payload in events/ is parsed and run by some test, so none can rot.
#[test]
fn every_event_fixture_is_used_by_a_test() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut sources = String::new();
    let mut dirs = vec![root.join("tests")];
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        dirs.push(entry.unwrap().path().join("tests"));
    }
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("template.rs")
            {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    for entry in std::fs::read_dir(root.join("events")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(
                sources.contains(&name),
                "events/{name} is not used by any test"
            );
        }
    }
}

/// keyroll's own key-authenticated route passes the authorizer's `sunsetHttpDate` on as
/// a `Sunset` response header (RFC 8594): the route uses the key authorizer, and its
/// integration maps the header on a success.
#[test]
fn the_key_authenticated_route_sends_the_sunset_header() {
    let template = template();
    let resources = &template["Resources"];
    let route = &resources["SelfServiceSuccessorRoute"]["Properties"];
    assert_eq!(route["RouteKey"], "GET /v1/self/successor");
    assert_eq!(route["AuthorizationType"], "CUSTOM");
    // `!Ref KeyAuthorizer`, a tagged value to the YAML parser.
    let authorizer_id = format!("{:?}", route["AuthorizerId"]);
    assert!(
        authorizer_id.contains("Ref") && authorizer_id.contains("KeyAuthorizer"),
        "{authorizer_id}"
    );
    let authorizer = &resources["KeyAuthorizer"]["Properties"];
    assert_eq!(
        authorizer["AuthorizerResultTtlInSeconds"], 0,
        "no gateway cache"
    );
    assert_eq!(authorizer["EnableSimpleResponses"], true);
    let mapped = &resources["SelfServiceIntegration"]["Properties"]["ResponseParameters"]["200"]
        ["ResponseParameters"][0];
    assert_eq!(mapped["Source"], "$context.authorizer.sunsetHttpDate");
    assert_eq!(mapped["Destination"], "overwrite:header.Sunset");
}
