//! The compliance scanner function: invoked daily by an EventBridge schedule, it runs
//! one [`scan`] and returns (and logs, as one structured line) what it found and did.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use keyroll_core::scan::{scan, ScanOptions, ScanReport};
use keyroll_core::service::Keyroll;
use keyroll_core::time::stop_before_deadline;
use lambda_runtime::LambdaEvent;

/// Stop starting new work this long before the Lambda deadline; the next run carries
/// on (it skips keys already covered, so nothing is done twice).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

pub struct Deps {
    pub keyroll: Arc<Keyroll>,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<ScanReport, lambda_runtime::Error> {
    let stop_at = stop_before_deadline(event.context.deadline, DEADLINE_MARGIN);
    let options = ScanOptions {
        stop_at: Some(stop_at),
        ..ScanOptions::default()
    };
    let report = scan(&deps.keyroll, options).await?;
    // With the time left: what an older release wrote, until none is left.
    let swept = keyroll_core::upgrade::sweep_legacy(&deps.keyroll, Some(stop_at)).await?;
    if swept.pages > 1 || swept.keys_indexed + swept.records_deleted > 0 || !swept.done {
        tracing::info!(
            event = "upgrade_sweep",
            done = swept.done,
            pages = swept.pages,
            examined = swept.examined,
            keys_indexed = swept.keys_indexed,
            records_deleted = swept.records_deleted,
            "upgrade sweep"
        );
    }
    let s = &report.snapshot;
    tracing::info!(
        event = "compliance_scan",
        trigger = %event.payload.detail_type,
        scheduled = report.scheduled,
        warned = report.warned,
        started_late = report.started_late,
        failed = report.failed,
        incomplete = report.incomplete,
        active_keys = s.active_keys,
        compliant = s.compliant,
        in_progress = s.in_progress,
        non_compliant = s.non_compliant,
        coverage_percent = s.coverage_percent,
        "compliance scan"
    );
    println!(
        "{}",
        keyroll_core::metrics::emf_line(
            "scanner",
            &event.context.request_id,
            keyroll_core::metrics::now_ms(),
            &[
                ("PolicyRotationsScheduled", report.scheduled as f64, "Count"),
                ("ExpiryWarningsSent", report.warned as f64, "Count"),
                ("LateRotationsStarted", report.started_late as f64, "Count"),
                ("ActiveKeys", s.active_keys as f64, "Count"),
                ("NonCompliantKeys", s.non_compliant as f64, "Count"),
                ("CoveragePercent", s.coverage_percent, "Percent"),
            ],
        )
    );
    Ok(report)
}
