//! template.yaml's operator, auditor and verifier policies against the router: each
//! grants `execute-api:Invoke` on exactly the management routes it should, so a new
//! route cannot be left out of the operator's policy or slip into the auditor's.

use std::collections::BTreeSet;

use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `METHOD/path` of every resource a managed policy grants, with the ARN's fixed
/// start (partition, region, account, API, any stage) checked and removed.
fn granted(template: &Value, policy: &str) -> BTreeSet<String> {
    let properties = &template["Resources"][policy]["Properties"];
    assert_eq!(
        template["Resources"][policy]["Type"].as_str(),
        Some("AWS::IAM::ManagedPolicy"),
        "{policy}"
    );
    let statements = properties["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1, "{policy}: one statement");
    let statement = &statements[0];
    assert_eq!(statement["Effect"].as_str(), Some("Allow"));
    assert_eq!(statement["Action"].as_str(), Some("execute-api:Invoke"));
    let prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/";
    statement["Resource"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|resource| {
            let Value::Tagged(tagged) = resource else {
                panic!("{policy}: {resource:?} is not a !Sub");
            };
            let arn = tagged.value.as_str().unwrap();
            arn.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{policy}: {arn} is not a route of this API"))
                .to_owned()
        })
        .collect()
}

/// The router's routes behind operator credentials, as `METHOD/path` with every
/// path parameter a `*`.
fn operator_routes() -> Vec<(String, String)> {
    let document = serde_json::to_value(keyroll_api::openapi()).unwrap();
    let default = document["security"].clone();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation.get("security").unwrap_or(&default);
            if security == &serde_json::json!([{"operatorToken": []}]) {
                let mut pattern = String::new();
                let mut inside = false;
                for c in path.chars() {
                    match c {
                        '{' => {
                            inside = true;
                            pattern.push('*');
                        }
                        '}' => inside = false,
                        _ if !inside => pattern.push(c),
                        _ => {}
                    }
                }
                routes.push((method.to_uppercase(), pattern));
            }
        }
    }
    routes
}

#[test]
fn the_operator_auditor_and_verifier_policies_match_the_routes() {
    let template = template();
    let routes = operator_routes();
    assert!(routes.len() > 20, "{routes:?}");
    let all: BTreeSet<String> = routes.iter().map(|(m, p)| format!("{m}{p}")).collect();
    let reads: BTreeSet<String> = routes
        .iter()
        .filter(|(m, _)| m == "GET")
        .map(|(m, p)| format!("{m}{p}"))
        .collect();
    assert_eq!(granted(&template, "OperatorPolicy"), all, "OperatorPolicy");
    let auditor = granted(&template, "AuditorPolicy");
    assert_eq!(auditor, reads, "AuditorPolicy: every read, nothing else");
    assert!(
        auditor
            .iter()
            .all(|r| r.starts_with("GET/") && !r.contains("reveal")),
        "the auditor never reveals or changes anything"
    );
    assert_eq!(
        granted(&template, "VerifierPolicy"),
        BTreeSet::from(["POST/v1/verify".to_owned()])
    );
    // No customer route is an IAM route: they are behind the JWT authorizer.
    assert!(all.iter().all(|r| !r.contains("/v1/org/")));
    for output in ["OperatorPolicyArn", "AuditorPolicyArn", "VerifierPolicyArn"] {
        assert!(template["Outputs"][output].is_mapping(), "{output}");
    }
}

#[test]
fn the_customer_routes_are_behind_the_jwt_authorizer_with_the_issuer_and_audience_parameters() {
    let template = template();
    let authorizer =
        &template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["CustomerJwt"];
    let issuer = &authorizer["JwtConfiguration"]["issuer"];
    let Value::Tagged(issuer) = issuer else {
        panic!("issuer is not !Ref: {issuer:?}")
    };
    assert_eq!(issuer.value.as_str(), Some("CustomerJwtIssuer"));
    let audience = &authorizer["JwtConfiguration"]["audience"][0];
    let Value::Tagged(audience) = audience else {
        panic!("audience is not !Ref: {audience:?}")
    };
    assert_eq!(audience.value.as_str(), Some("CustomerJwtAudience"));
    assert_eq!(
        authorizer["IdentitySource"].as_str(),
        Some("$request.header.Authorization")
    );
    let events = &template["Resources"]["ApiFunction"]["Properties"]["Events"];
    let customer = &events["CustomerRoutes"]["Properties"];
    assert_eq!(customer["Path"].as_str(), Some("/v1/org/{proxy+}"));
    assert_eq!(customer["Auth"]["Authorizer"].as_str(), Some("CustomerJwt"));
    assert_eq!(
        events["CustomerPortal"]["Properties"]["Auth"]["Authorizer"].as_str(),
        Some("NONE")
    );
    let env = &template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    for name in ["KEYROLL_JWT_ISSUER", "KEYROLL_JWT_AUDIENCE", "KEYROLL_JWKS"] {
        assert!(matches!(env[name], Value::Tagged(_)), "{name}");
    }
    // Every customer route the router has is under the authorized prefix.
    let document = serde_json::to_value(keyroll_api::openapi()).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            if operation["security"] == serde_json::json!([{"customerToken": []}]) {
                assert!(path.starts_with("/v1/org/"), "{path}");
            }
        }
    }
}
