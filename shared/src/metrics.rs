//! CloudWatch Embedded Metric Format: one JSON line per processor or scanner run that
//! CloudWatch turns into metrics on its own, so dashboards and alarms need no extra API
//! calls from the functions.

use serde_json::{json, Map, Value};

/// The EMF namespace of every keyroll metric.
pub const NAMESPACE: &str = "keyroll";

/// The Lambda log level an EMF line carries. Lambda's log-level filter drops a line
/// below the function's `LogLevel`, and a line without a level counts as INFO: at WARN
/// every metric (and the alarms on them) would go dark. Metrics are not logs, so they
/// carry the one level no `LogLevel` drops; no keyroll log line is ever FATAL, so in
/// Logs Insights `level = "FATAL"` finds exactly the metric lines.
pub const EMF_LEVEL: &str = "FATAL";

/// One EMF document: `metrics` (name, value, unit) under the `Function` dimension,
/// with the invocation's request id as a plain property (searchable in Logs Insights,
/// not a dimension, so it costs no metric cardinality).
pub fn emf_line(
    function: &str,
    request_id: &str,
    timestamp_ms: u64,
    metrics: &[(&str, f64, &str)],
) -> String {
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    document.insert("level".into(), Value::from(EMF_LEVEL));
    document.insert(
        "timestamp".into(),
        Value::from(
            chrono::DateTime::from_timestamp_millis(timestamp_ms as i64)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    );
    document.insert("Function".into(), Value::from(function));
    document.insert("requestId".into(), Value::from(request_id));
    for (name, value, _) in metrics {
        document.insert((*name).into(), Value::from(*value));
    }
    Value::Object(document).to_string()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_each_metric_and_carries_its_value() {
        let line = emf_line(
            "processor",
            "8906f98f-d01b-4194-8df9-7d2bad5d3a88",
            1_700_000_000_000,
            &[
                ("RotationsStarted", 3.0, "Count"),
                ("CoveragePercent", 99.5, "Percent"),
            ],
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "keyroll"
        );
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            "CoveragePercent"
        );
        assert_eq!(value["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(value["Function"], "processor");
        // Lambda's log-level filter keeps it at every LogLevel.
        assert_eq!(value["level"], "FATAL");
        assert_eq!(value["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(value["requestId"], "8906f98f-d01b-4194-8df9-7d2bad5d3a88");
        assert_eq!(value["RotationsStarted"], 3.0);
        assert!(!line.contains('\n'), "one line");
    }
}
