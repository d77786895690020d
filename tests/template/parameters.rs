//! A deploy that cannot break itself: every value CloudFormation lets a parameter take
//! starts every function that reads it, and each function's environment fits Lambda's
//! 4 KB with every parameter at its longest.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{functions, template};

/// Lambda refuses an update whose environment (names and values) passes 4 KB.
const LAMBDA_ENVIRONMENT_LIMIT: usize = 4 * 1024;

/// What a template value becomes in a function's environment: a parameter's value, or
/// a stand-in of the right shape for a resource's name or ARN.
fn resolve(value: &Value, parameters: &BTreeMap<String, String>) -> String {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            let name = tagged.value.as_str().unwrap();
            parameters
                .get(name)
                .cloned()
                .unwrap_or_else(|| format!("keyroll-{name}"))
        }
        Value::Tagged(_) => {
            "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d".into()
        }
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("unexpected environment value {other:?}"),
    }
}

/// Each function's environment (Globals and its own), as the template sets it.
fn environments(
    template: &Value,
    parameters: &BTreeMap<String, String>,
) -> Vec<(String, BTreeMap<String, String>)> {
    let global = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    functions(template)
        .into_iter()
        .map(|(name, function)| {
            let mut env = BTreeMap::new();
            let own = function["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .cloned()
                .unwrap_or_default();
            for (key, value) in global.iter().chain(own.iter()) {
                env.insert(key.as_str().unwrap().to_owned(), resolve(value, parameters));
            }
            (name, env)
        })
        .collect()
}

/// The parameters' defaults.
fn defaults(template: &Value) -> BTreeMap<String, String> {
    template["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, p)| {
            (
                name.as_str().unwrap().to_owned(),
                resolve(&p["Default"], &BTreeMap::new()),
            )
        })
        .collect()
}

/// Whether Config starts with `env`, or its problem.
fn starts(env: &BTreeMap<String, String>) -> Result<(), String> {
    keyroll_core::config::Config::from_lookup(|name| env.get(name).cloned())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The parameters whose value reaches some function's environment, with the variable.
fn parameters_in_environments(template: &Value) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let global = &template["Globals"]["Function"]["Environment"]["Variables"];
    let mut sources = vec![global.clone()];
    for (_, function) in functions(template) {
        sources.push(function["Properties"]["Environment"]["Variables"].clone());
    }
    let names: Vec<String> = template["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for variables in sources {
        for (variable, value) in variables.as_mapping().cloned().unwrap_or_default() {
            if let Value::Tagged(tagged) = &value {
                let target = tagged.value.as_str().unwrap_or_default();
                if tagged.tag == "!Ref" && names.iter().any(|n| n == target) {
                    found.insert(target.to_owned(), variable.as_str().unwrap().to_owned());
                }
            }
        }
    }
    found
}

/// Tries `value` for `parameter` (all others at their defaults) in every function.
fn try_value(template: &Value, parameter: &str, value: &str) -> Result<(), String> {
    let mut parameters = defaults(template);
    parameters.insert(parameter.to_owned(), value.to_owned());
    for (function, env) in environments(template, &parameters) {
        starts(&env).map_err(|e| format!("{function}: {e}"))?;
    }
    Ok(())
}

/// Whole-string match of a CloudFormation `AllowedPattern`.
fn allowed_by(pattern: &str, value: &str) -> bool {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .expect("AllowedPattern is a regular expression")
        .is_match(value)
}

/// Texts a String parameter is tried with: shapes near every rule the code has.
fn text_samples(default: &str) -> Vec<String> {
    let mut samples: Vec<String> = [
        "",
        "a",
        "ab",
        "abc",
        "ABC",
        "a_b",
        "a-b",
        "a.b",
        "a/b",
        "a@b",
        "a+b=c",
        "_",
        "-",
        "sk_",
        "a b",
        "a!",
        "0",
        "1",
        "5",
        "60",
        "86400",
        "86401",
        "99999",
        "1,2",
        "1,,2",
        ",1",
        "1,",
        " 1",
        "ops@example.com",
        "a@b",
        "a@b.c",
        "a@-b.c",
        "@b.c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for length in [19, 20, 21, 199, 200, 201, 255, 256, 257] {
        samples.push("x".repeat(length));
    }
    samples.push(vec!["86400"; 20].join(","));
    samples.push(vec!["1"; 21].join(","));
    samples.push(default.to_owned());
    samples.push(format!("{default}!"));
    samples
}

/// Every bound CloudFormation enforces is the code's: a number parameter's MinValue
/// and MaxValue start every function, one past either is refused by the code too (so
/// the bounds are no narrower than needed), and a text parameter's pattern admits
/// nothing the code refuses.
#[test]
fn every_value_cloudformation_accepts_starts_every_function() {
    let template = template();
    let parameters = template["Parameters"].as_mapping().unwrap();
    let used = parameters_in_environments(&template);
    assert!(used.len() >= 10, "{used:?}");
    assert_eq!(
        try_value(&template, "MaxAgeDays", "90"),
        Ok(()),
        "the defaults start"
    );
    for (name, variable) in &used {
        let parameter = &parameters[name.as_str()];
        let default = resolve(&parameter["Default"], &BTreeMap::new());
        match parameter["Type"].as_str() {
            Some("Number") => {
                let min = parameter["MinValue"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name} ({variable}) has no MinValue"));
                let max = parameter["MaxValue"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name} ({variable}) has no MaxValue"));
                for edge in [min, max] {
                    assert_eq!(
                        try_value(&template, name, &edge.to_string()),
                        Ok(()),
                        "{name} = {edge}"
                    );
                }
                assert!(
                    try_value(&template, name, &(max + 1).to_string()).is_err(),
                    "{name}: the code accepts {}, past MaxValue",
                    max + 1
                );
                if min > 0 {
                    assert!(
                        try_value(&template, name, &(min - 1).to_string()).is_err(),
                        "{name}: the code accepts {}, below MinValue",
                        min - 1
                    );
                }
            }
            Some("String") => {
                let allowed_values: Option<Vec<String>> =
                    parameter["AllowedValues"].as_sequence().map(|values| {
                        values
                            .iter()
                            .map(|v| resolve(v, &BTreeMap::new()))
                            .collect()
                    });
                let pattern = parameter["AllowedPattern"].as_str();
                let min_length = parameter["MinLength"].as_u64().unwrap_or(0) as usize;
                let max_length = parameter["MaxLength"].as_u64().map(|n| n as usize);
                let admitted = |value: &str| {
                    allowed_values
                        .as_ref()
                        .is_none_or(|values| values.iter().any(|v| v == value))
                        && pattern.is_none_or(|p| allowed_by(p, value))
                        && value.len() >= min_length
                        && max_length.is_none_or(|max| value.len() <= max)
                };
                if DOCUMENTS.contains(&name.as_str()) {
                    assert_eq!(try_value(&template, name, ""), Ok(()), "{name} empty");
                    continue;
                }
                let mut samples = text_samples(&default);
                samples.extend(allowed_values.clone().unwrap_or_default());
                for sample in samples.iter().filter(|s| admitted(s)) {
                    assert_eq!(
                        try_value(&template, name, sample),
                        Ok(()),
                        "{name} = {sample:?}: CloudFormation accepts it"
                    );
                }
            }
            other => panic!("{name}: parameter type {other:?}"),
        }
    }
}

/// Parameters holding a whole JSON document, which no pattern can check: they reach
/// the api function alone, never the authorizer on customers' request path. A bad one
/// stops the api from starting (its log names the setting, HttpApiServerErrorsAlarm
/// fires); customers' requests to the company's API keep being verified.
const DOCUMENTS: [&str; 2] = ["GitHubPublicKeys", "CustomerJwks"];

#[test]
fn documents_reach_only_the_api() {
    let template = template();
    let used = parameters_in_environments(&template);
    let global = serde_yaml::to_string(&template["Globals"]).unwrap();
    for document in DOCUMENTS {
        assert!(used.contains_key(document), "{document} is used");
        assert!(
            !global.contains(&format!("!Ref {document}")),
            "{document} is set in Globals: a bad one would stop every function"
        );
        for (name, function) in functions(&template) {
            let own = serde_yaml::to_string(&function["Properties"]["Environment"]).unwrap();
            assert_eq!(
                own.contains(&format!("!Ref {document}")),
                name == "ApiFunction",
                "{name} and {document}"
            );
        }
    }
}

/// With every String parameter at its MaxLength, each function's environment fits in
/// Lambda's 4 KB: an update past it fails and rolls back.
#[test]
fn every_function_environment_fits_lambdas_limit() {
    let template = template();
    let mut longest = defaults(&template);
    for (name, parameter) in template["Parameters"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if parameter["Type"].as_str() == Some("String") {
            let length = match parameter["AllowedValues"].as_sequence() {
                Some(values) => values
                    .iter()
                    .map(|v| resolve(v, &BTreeMap::new()).len())
                    .max()
                    .unwrap_or(0),
                None => parameter["MaxLength"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name} has no MaxLength"))
                    as usize,
            };
            longest.insert(name.to_owned(), "x".repeat(length));
        }
    }
    for (function, env) in environments(&template, &longest) {
        // An ARN or URL a resource resolves to is at most this long.
        let size: usize = env
            .iter()
            .map(|(k, v)| k.len() + v.len().max(if v.starts_with("keyroll-") { 128 } else { 0 }))
            .sum();
        assert!(
            size <= LAMBDA_ENVIRONMENT_LIMIT,
            "{function}: {size} bytes of environment with every parameter at its longest"
        );
    }
}
