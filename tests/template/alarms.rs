//! Every failure a customer would feel reaches a person: each alert the code can log is
//! counted by a metric filter on every log group of a function that runs that code,
//! each such metric has an alarm, each alarm notifies the topic (which CloudWatch can
//! publish to) and has a runbook entry in the README.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::{functions, template};

/// Which functions run the code in each source file that logs an alert. The api runs
/// the processor (`POST /v1/admin/process`), the scan (`POST /v1/admin/scan`) and
/// verification (`POST /v1/verify`) on demand, so it logs their alerts too.
const ALERT_SOURCES: [(&str, &[&str]); 7] = [
    ("shared/src/processor/", &["processor", "api"]),
    ("shared/src/notify/", &["notifier"]),
    ("shared/src/service/verification.rs", &["authorizer", "api"]),
    ("shared/src/scan.rs", &["scanner", "api"]),
    // Customer tokens are verified in the api (and keyroll-local, which is not deployed).
    ("functions/api/src/identity/", &["api"]),
    // Webhook endpoints are changed through the api alone.
    ("shared/src/service/contacts.rs", &["api"]),
    // Every change commits through it: the api, the processor and the scanner.
    (
        "shared/src/service/commit.rs",
        &["api", "processor", "scanner"],
    ),
];

fn resources(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// `!Ref X` / `!GetAtt X.Y` → `X`.
fn referenced(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => tagged
            .value
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned(),
        other => panic!("not a reference: {other:?}"),
    }
}

/// Every `alert = "…"` in the Rust sources under `dir`, with the file it is in.
fn alerts_in(dir: &std::path::Path, root: &std::path::Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("tests") {
                alerts_in(&path, root, found);
            }
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A unit test's log lines are not the function's.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let file = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for (index, _) in text.match_indices("alert = \"") {
            let line_start = text[..index].rfind('\n').map_or(0, |i| i + 1);
            let line = text[line_start..].lines().next().unwrap_or_default();
            // Doc comments mention alerts; only logging statements raise them.
            if line.trim_start().starts_with("//") {
                continue;
            }
            assert!(
                line.contains("tracing::error!("),
                "{file}: an alert must be logged at ERROR, which no LogLevel drops: {line}"
            );
            let rest = &text[index + "alert = \"".len()..];
            found.push((rest[..rest.find('"').unwrap()].to_owned(), file.clone()));
        }
    }
}

fn code_alerts() -> Vec<(String, String)> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut found = Vec::new();
    for dir in ["shared/src", "functions"] {
        alerts_in(&root.join(dir), root, &mut found);
    }
    found
}

/// binary → its function's log group.
fn log_groups(template: &Value) -> BTreeMap<String, String> {
    functions(template)
        .into_iter()
        .map(|(_, function)| {
            (
                function["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                referenced(&function["Properties"]["LoggingConfig"]["LogGroup"]),
            )
        })
        .collect()
}

#[test]
fn every_alert_the_code_logs_reaches_an_alarm_from_every_function_that_logs_it() {
    let template = template();
    let alerts = code_alerts();
    assert!(alerts.len() >= 5, "{alerts:?}");
    let groups = log_groups(&template);
    let filters = resources(&template, "AWS::Logs::MetricFilter");
    let alarmed: BTreeSet<String> = resources(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter_map(|(_, a)| a["Properties"]["MetricName"].as_str().map(str::to_owned))
        .collect();
    for (alert, file) in &alerts {
        let (_, binaries) = ALERT_SOURCES
            .iter()
            .find(|(source, _)| file.starts_with(source))
            .unwrap_or_else(|| {
                panic!("{file} logs alert {alert}: add which functions run it to ALERT_SOURCES")
            });
        for binary in *binaries {
            let group = &groups[*binary];
            let pattern = format!("$.fields.alert = \"{alert}\"");
            let filter = filters
                .iter()
                .find(|(_, f)| {
                    referenced(&f["Properties"]["LogGroupName"]) == *group
                        && f["Properties"]["FilterPattern"]
                            .as_str()
                            .is_some_and(|p| p.contains(&pattern))
                })
                .unwrap_or_else(|| panic!("no metric filter counts {alert} in {group}"));
            let metric = filter.1["Properties"]["MetricTransformations"][0]["MetricName"]
                .as_str()
                .unwrap();
            assert!(
                alarmed.contains(metric),
                "{}: no alarm watches {metric}",
                filter.0
            );
        }
    }
}

#[test]
fn every_alarm_notifies_the_topic_and_has_a_runbook_entry() {
    let template = template();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 19, "{}", alarms.len());
    for (name, alarm) in &alarms {
        let actions = &alarm["Properties"]["AlarmActions"];
        assert_eq!(
            actions
                .as_sequence()
                .map(|a| a.iter().map(referenced).collect::<Vec<_>>()),
            Some(vec!["AlarmTopic".to_owned()]),
            "{name} notifies the alarm topic"
        );
        let row = format!("| `{name}` |");
        let entry = readme
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("README has no runbook row for {name}"));
        assert!(
            entry.split(" | ").count() >= 3,
            "{name}: the row says what it means and what to do"
        );
    }
}

/// CloudWatch publishes to an encrypted topic only with a key whose policy lets
/// `cloudwatch.amazonaws.com` use it; the AWS-managed SNS key's policy cannot.
#[test]
fn cloudwatch_may_publish_to_the_alarm_topic() {
    let template = template();
    let topic = &template["Resources"]["AlarmTopic"]["Properties"];
    let key = referenced(&topic["KmsMasterKeyId"]);
    let policy = &template["Resources"][key.as_str()]["Properties"]["KeyPolicy"];
    let grant = policy["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com"))
        .expect("a statement for CloudWatch");
    let actions = serde_yaml::to_string(&grant["Action"]).unwrap();
    assert!(actions.contains("kms:Decrypt") && actions.contains("kms:GenerateDataKey*"));
    let scope = serde_yaml::to_string(&grant["Condition"]).unwrap();
    assert!(
        scope.contains("aws:SourceArn") && scope.contains(":alarm:*"),
        "{scope}"
    );
}

/// Each function's timeout is the one its AWS calls are sized to, and a scheduled
/// function's failed run is not retried on top of the next one.
#[test]
fn timeouts_and_retries_match_the_code() {
    let template = template();
    let global = template["Globals"]["Function"]["Timeout"].as_u64().unwrap();
    for (name, function) in functions(&template) {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let code = keyroll_core::aws::Function::ALL
            .into_iter()
            .find(|f| f.binary() == binary)
            .unwrap_or_else(|| panic!("{binary} is not a keyroll_core::aws::Function"));
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap_or(global);
        assert_eq!(timeout, code.timeout().as_secs(), "{name}");
        let events = function["Properties"]["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let scheduled: Vec<_> = events
            .values()
            .filter(|e| e["Type"].as_str() == Some("Schedule"))
            .collect();
        if scheduled.is_empty() {
            continue;
        }
        let invoke = &function["Properties"]["EventInvokeConfig"];
        let retries = invoke["MaximumRetryAttempts"]
            .as_u64()
            .expect("retries set");
        let age = invoke["MaximumEventAgeInSeconds"]
            .as_u64()
            .expect("age set");
        let every_minute = scheduled.iter().any(|e| {
            serde_yaml::to_string(&e["Properties"]["Schedule"])
                .unwrap()
                .contains("ProcessorSchedule")
                || e["Properties"]["Schedule"].as_str() == Some("rate(1 minute)")
        });
        if every_minute {
            assert_eq!((retries, age), (0, 60), "{name}: the next run is the retry");
        }
    }
}
