//! Logging for the Lambda functions: one JSON object per line (CloudWatch Logs
//! Insights can query every field), level from `RUST_LOG` (default `info`), no
//! timestamps (Lambda adds its own). Nothing secret is ever a field: secrets are
//! `RawSecret`, which has no `Display` and a redacting `Debug`.

pub fn init_lambda() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
}
