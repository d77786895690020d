//! Logging for the Lambda functions: one JSON object per line (CloudWatch Logs
//! Insights can query every field), each with an RFC 3339 `timestamp` and its `level`.
//! Lambda's log-level filter reads both: a line without a valid timestamp counts as
//! INFO whatever it says, so at `LogLevel` WARN every alert would be dropped. Nothing
//! secret is ever a field: secrets are `RawSecret`, which has no `Display` and a
//! redacting `Debug`.
//!
//! Lambda's advanced logging controls are honoured: `AWS_LAMBDA_LOG_LEVEL` (set by the
//! function's `LoggingConfig.ApplicationLogLevel`) wins over `RUST_LOG`, and
//! `AWS_LAMBDA_LOG_FORMAT=Text` switches to plain lines. Inside an invocation every line
//! carries the `Lambda runtime invoke` span of lambda_runtime, whose fields are the
//! `requestId` and `xrayTraceId` (Logs Insights: `spans.0.requestId`).

use tracing_subscriber::EnvFilter;

/// The output format Lambda asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// keyroll's own code (its libraries and the functions' binaries): the only targets the
/// chosen level reaches. Every other crate stays at INFO or quieter whatever the level:
/// at DEBUG and TRACE lambda_runtime logs whole invocations (an authorizer's
/// `Authorization` header, a verification request's body) and the AWS SDK logs request bodies
/// (`CreateSecret`'s `SecretString`).
pub const OWN_TARGETS: [&str; 12] = [
    "keyroll_core",
    "keyroll_api",
    "keyroll_authorizer",
    "keyroll_processor",
    "keyroll_scanner",
    "keyroll_notifier",
    "keyroll_local",
    "api",
    "authorizer",
    "processor",
    "scanner",
    "notifier",
];

/// tracing's levels, most verbose first.
const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

fn level_of(text: &str) -> Option<&'static str> {
    let text = text.trim().to_ascii_lowercase();
    match text.as_str() {
        "fatal" => Some("error"),
        other => LEVELS.iter().find(|l| **l == other).copied(),
    }
}

fn is_own(target: &str) -> bool {
    OWN_TARGETS
        .iter()
        .any(|own| target == *own || target.starts_with(&format!("{own}::")))
}

/// The filter directive: keyroll's own targets at Lambda's level (else `RUST_LOG`'s
/// bare level and its directives for keyroll's targets; else `info`), every other
/// target at that level but never more verbose than `info`. Lambda's levels are
/// TRACE, DEBUG, INFO, WARN, ERROR and FATAL; tracing has no FATAL, so it maps to
/// `error`. An unknown level falls back to `info` rather than silencing logs.
pub fn filter_directive(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    let mut own_level = "info";
    let mut own_directives: Vec<String> = Vec::new();
    match lambda_level.map(str::trim).filter(|l| !l.is_empty()) {
        Some(level) => own_level = level_of(level).unwrap_or("info"),
        None => {
            for directive in rust_log.unwrap_or("").split(',').map(str::trim) {
                if directive.is_empty() {
                    continue;
                }
                match directive.split_once('=') {
                    None => own_level = level_of(directive).unwrap_or(own_level),
                    Some((target, level)) => {
                        let target = target.split('[').next().unwrap_or(target);
                        if let (true, Some(level)) = (is_own(target), level_of(level)) {
                            own_directives.push(format!("{target}={level}"));
                        }
                    }
                }
            }
        }
    }
    let verbosity = |level: &str| LEVELS.iter().position(|l| *l == level).unwrap_or(2);
    let others = if verbosity(own_level) < verbosity("info") {
        "info"
    } else {
        own_level
    };
    let mut parts = vec![others.to_owned()];
    parts.extend(OWN_TARGETS.iter().map(|t| format!("{t}={own_level}")));
    parts.extend(own_directives);
    parts.join(",")
}

/// JSON unless Lambda's log format is `Text`.
pub fn log_format(lambda_format: Option<&str>) -> LogFormat {
    match lambda_format {
        Some(format) if format.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
        _ => LogFormat::Json,
    }
}

pub fn init_lambda() {
    let directive = filter_directive(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let format = log_format(std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref());
    tracing::subscriber::set_global_default(subscriber(&directive, format, std::io::stdout))
        .unwrap_or_else(|e| eprintln!("logging was already set up: {e}"));
}

/// The functions' subscriber writing to `writer`: JSON lines with `timestamp` (RFC 3339,
/// UTC) and `level`, or plain lines without a time (Lambda prefixes its own).
pub fn subscriber<W>(
    directive: &str,
    format: LogFormat,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.json().with_current_span(false).finish()),
        LogFormat::Text => Box::new(builder.without_time().with_ansi(false).finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The level keyroll's own targets get, and the one every other target gets.
    fn levels(directive: &str) -> (String, String) {
        let parts: Vec<&str> = directive.split(',').collect();
        let own = parts
            .iter()
            .find_map(|p| p.strip_prefix("keyroll_core="))
            .unwrap_or("?")
            .to_owned();
        (own, parts[0].to_owned())
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        assert_eq!(
            levels(&filter_directive(Some("DEBUG"), Some("warn"))),
            ("debug".into(), "info".into())
        );
        assert_eq!(
            levels(&filter_directive(Some("fatal"), None)),
            ("error".into(), "error".into())
        );
        assert_eq!(
            levels(&filter_directive(Some("WARN"), None)),
            ("warn".into(), "warn".into())
        );
        assert_eq!(
            levels(&filter_directive(Some("bogus"), Some("trace"))),
            ("info".into(), "info".into())
        );
    }

    #[test]
    fn other_crates_never_log_below_info() {
        for level in ["TRACE", "trace", "DEBUG"] {
            let directive = filter_directive(Some(level), None);
            assert!(directive.starts_with("info,"), "{directive}");
            for own in OWN_TARGETS {
                assert!(directive.contains(&format!(",{own}=")), "{directive}");
            }
        }
        // RUST_LOG cannot open them either: only keyroll's targets keep their directives.
        let directive = filter_directive(
            None,
            Some("trace,lambda_runtime=trace,aws_smithy_runtime=trace,aws_sdk_secretsmanager[x]=debug,keyroll_api::operator=trace"),
        );
        assert!(directive.starts_with("info,"), "{directive}");
        assert!(!directive.contains("lambda_runtime"), "{directive}");
        assert!(!directive.contains("aws_"), "{directive}");
        assert!(
            directive.contains("keyroll_api::operator=trace"),
            "{directive}"
        );
        assert_eq!(levels(&directive).0, "trace");
        let filter = EnvFilter::try_new(&directive);
        assert!(filter.is_ok(), "{directive}");
    }

    #[test]
    fn rust_log_applies_when_lambda_sets_no_level() {
        assert!(filter_directive(None, Some("keyroll_core=debug")).ends_with(",keyroll_core=debug"));
        assert_eq!(
            levels(&filter_directive(Some(" "), Some("warn"))),
            ("warn".into(), "warn".into())
        );
        assert_eq!(
            levels(&filter_directive(None, None)),
            ("info".into(), "info".into())
        );
    }

    /// Lambda filters JSON lines by `level` only when `timestamp` is valid RFC 3339:
    /// an alert must carry both or `LogLevel` WARN drops it as INFO.
    #[test]
    fn json_lines_carry_an_rfc3339_timestamp_and_their_level() {
        let captured = crate::testing::logs::CapturedLogs::default();
        let subscriber = subscriber(
            &filter_directive(Some("WARN"), None),
            LogFormat::Json,
            captured.clone(),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("dropped at WARN");
            tracing::error!(alert = "rotation_failed", "kept");
        });
        let text = captured.text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["fields"]["alert"], "rotation_failed");
        let timestamp = lines[0]["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
    }

    #[test]
    fn json_unless_lambda_asks_for_text() {
        assert_eq!(log_format(None), LogFormat::Json);
        assert_eq!(log_format(Some("JSON")), LogFormat::Json);
        assert_eq!(log_format(Some("Text")), LogFormat::Text);
    }
}
