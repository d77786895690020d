//! Logging for the Lambda functions: one JSON object per line (CloudWatch Logs
//! Insights can query every field), no timestamps (Lambda adds its own). Nothing secret
//! is ever a field: secrets are `RawSecret`, which has no `Display` and a redacting
//! `Debug`.
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

/// The filter directive from Lambda's level, else `RUST_LOG`, else `info`. Lambda's
/// levels are TRACE, DEBUG, INFO, WARN, ERROR and FATAL; tracing has no FATAL, so it
/// maps to `error`. An unknown level falls back to `info` rather than silencing logs.
pub fn filter_directive(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    if let Some(level) = lambda_level.map(str::trim).filter(|l| !l.is_empty()) {
        return match level.to_ascii_uppercase().as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "WARN" => "warn",
            "ERROR" | "FATAL" => "error",
            _ => "info",
        }
        .to_owned();
    }
    rust_log
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("info")
        .to_owned()
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
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time();
    match log_format(std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref()) {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        assert_eq!(filter_directive(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(filter_directive(Some("fatal"), None), "error");
        assert_eq!(filter_directive(Some("WARN"), None), "warn");
        assert_eq!(filter_directive(Some("bogus"), Some("trace")), "info");
    }

    #[test]
    fn rust_log_applies_when_lambda_sets_no_level() {
        assert_eq!(
            filter_directive(None, Some("keyroll_core=debug")),
            "keyroll_core=debug"
        );
        assert_eq!(filter_directive(Some(" "), Some("warn")), "warn");
        assert_eq!(filter_directive(None, None), "info");
    }

    #[test]
    fn json_unless_lambda_asks_for_text() {
        assert_eq!(log_format(None), LogFormat::Json);
        assert_eq!(log_format(Some("JSON")), LogFormat::Json);
        assert_eq!(log_format(Some("Text")), LogFormat::Text);
    }
}
