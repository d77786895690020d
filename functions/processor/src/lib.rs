//! The processor function: invoked every minute by an EventBridge schedule, it runs
//! one [`process_due`] pass and returns (and logs, as one structured line) what it did.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use keyroll_core::processor::{process_due, ProcessReport, ProcessorOptions};
use keyroll_core::queue::NotificationQueue;
use keyroll_core::service::Keyroll;
use keyroll_core::time::stop_before_deadline;
use lambda_runtime::LambdaEvent;

/// Stop starting new work this long before the Lambda deadline, so the run ends
/// cleanly and what is left waits for the next invocation.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Everything a run needs, built once per container.
pub struct Deps {
    pub keyroll: Arc<Keyroll>,
    pub queue: Arc<dyn NotificationQueue>,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<ProcessReport, lambda_runtime::Error> {
    let stop_at = stop_before_deadline(event.context.deadline, DEADLINE_MARGIN);
    let options = ProcessorOptions {
        stop_at: Some(stop_at),
        ..ProcessorOptions::default()
    };
    let report = process_due(&deps.keyroll, Some(deps.queue.as_ref()), options).await?;
    tracing::info!(
        event = "processor_run",
        trigger = %event.payload.detail_type,
        started = report.started,
        reminded = report.reminded,
        completed = report.completed,
        extended = report.extended,
        undelivered = report.undelivered,
        failed = report.failed,
        marked_failed = report.marked_failed,
        stuck = report.stuck,
        notified = report.notified,
        remaining = report.remaining,
        orphaned_secrets_deleted = report.orphaned_secrets_deleted,
        "processor run"
    );
    println!(
        "{}",
        keyroll_core::metrics::emf_line(
            "processor",
            &event.context.request_id,
            keyroll_core::metrics::now_ms(),
            &[
                ("RotationsStarted", report.started as f64, "Count"),
                ("RotationsCompleted", report.completed as f64, "Count"),
                ("GracesExtended", report.extended as f64, "Count"),
                ("RotationsUndelivered", report.undelivered as f64, "Count"),
                ("RotationsFailed", report.failed as f64, "Count"),
                ("RemindersSent", report.reminded as f64, "Count"),
                ("NotificationsSent", report.notified as f64, "Count"),
                ("RotationsRemaining", report.remaining as f64, "Count"),
            ],
        )
    );
    Ok(report)
}
