//! The notifier function. Two triggers: the SQS FIFO notification queue (a batch of
//! messages; each accepted once durably recorded, the others reported back as batch
//! item failures, so only they are redelivered and, after the queue's receive limit,
//! dead-lettered), and an EventBridge schedule that retries the deliveries that are
//! due. See [`keyroll_core::notify`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use keyroll_core::notification::Notification;
use keyroll_core::notify::{Notifier, NotifyReport};
use keyroll_core::time::stop_before_deadline;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// Stop starting retries this long before the Lambda deadline.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// How long a batch's deliveries are attempted after its messages are recorded: two
/// waves of the longest attempt. What is left waits for the retry schedule (every
/// minute), so a batch holds its messages and its poller's slot for seconds, not for
/// the whole timeout, whatever its destinations do.
pub const BATCH_ATTEMPTS: Duration = Duration::from_secs(20);

/// Everything an invocation needs, built once per container.
pub struct Deps {
    pub notifier: Notifier,
}

/// One SQS batch, in two steps. First every message is recorded (feed entry and
/// deliveries, store writes only): what could not be comes back as a batch item
/// failure. A FIFO queue keeps a key's messages in order only if nothing after a
/// failure goes through: once a message of a key (its message group) fails, the rest of
/// that group in the batch is handed back too; and so is everything not recorded by
/// `stop_at`. Then the recorded deliveries are attempted together, fairly between
/// organisations, until `stop_at`; what is not attempted waits for the retry schedule,
/// never in the queue, so one organisation's endpoints that never answer cannot push
/// another's messages back into it (or, after five receives, into the dead-letter
/// queue).
pub async fn handle_batch(
    deps: &Deps,
    event: SqsEvent,
    stop_at: Option<Instant>,
) -> (SqsBatchResponse, NotifyReport) {
    let mut response = SqsBatchResponse::default();
    let mut report = NotifyReport::default();
    let mut failed_groups: HashSet<String> = HashSet::new();
    let mut pending = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let group = record.attributes.get("MessageGroupId").cloned();
        let failed = || {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.clone();
            failure
        };
        let held_back = group.as_ref().is_some_and(|g| failed_groups.contains(g));
        if held_back || stop_at.is_some_and(|at| Instant::now() >= at) {
            response.batch_item_failures.push(failed());
            continue;
        }
        let mut fail = |response: &mut SqsBatchResponse| {
            response.batch_item_failures.push(failed());
            if let Some(group) = &group {
                failed_groups.insert(group.clone());
            }
        };
        let Some(body) = record.body.as_deref() else {
            tracing::error!(message_id = %id, "a notification message without a body");
            fail(&mut response);
            continue;
        };
        let notification: Notification = match serde_json::from_str(body) {
            Ok(notification) => notification,
            Err(error) => {
                // Never parseable: after the queue's receive limit it lands in the DLQ.
                tracing::error!(message_id = %id, error = %keyroll_core::error::Chain(&error), "a message that is not a notification");
                fail(&mut response);
                continue;
            }
        };
        match deps.notifier.record(&notification).await {
            Ok(recorded) => {
                tracing::info!(event_id = %notification.event_id, kind = notification.kind_name(), deliveries = recorded.pending.len(), skipped = recorded.skipped, "notification recorded");
                report.skipped += recorded.skipped;
                pending.extend(recorded.pending);
            }
            Err(error) => {
                tracing::warn!(event_id = %notification.event_id, error = %keyroll_core::error::Chain(&error), "notification not recorded; the queue redelivers it");
                fail(&mut response);
            }
        }
    }
    let attempts_until = stop_at.map(|at| at.min(Instant::now() + BATCH_ATTEMPTS));
    report.merge(deps.notifier.attempt_fairly(pending, attempts_until).await);
    (response, report)
}

/// An SQS batch, or the retry schedule's event.
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let (payload, context) = (event.payload, event.context);
    if payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(payload)?;
        let stop_at = stop_before_deadline(context.deadline, DEADLINE_MARGIN);
        let (response, report) = handle_batch(deps, batch, Some(stop_at)).await;
        emf(
            &context.request_id,
            &report,
            response.batch_item_failures.len(),
        );
        return Ok(serde_json::to_value(response)?);
    }
    let stop_at = stop_before_deadline(context.deadline, DEADLINE_MARGIN);
    let report = deps.notifier.retry_due(Some(stop_at)).await?;
    tracing::info!(
        event = "notifier_retries",
        delivered = report.delivered,
        retrying = report.retrying,
        failed = report.failed,
        skipped = report.skipped,
        deferred = report.deferred,
        "notifier retry run"
    );
    emf(&context.request_id, &report, 0);
    Ok(serde_json::to_value(report)?)
}

fn emf(request_id: &str, report: &NotifyReport, unrecorded: usize) {
    println!(
        "{}",
        keyroll_core::metrics::emf_line(
            "notifier",
            request_id,
            keyroll_core::metrics::now_ms(),
            &[
                ("DeliveriesSucceeded", report.delivered as f64, "Count"),
                ("DeliveriesRetrying", report.retrying as f64, "Count"),
                ("DeliveriesFailed", report.failed as f64, "Count"),
                ("DeliveriesDeferred", report.deferred as f64, "Count"),
                ("NotificationsUnrecorded", unrecorded as f64, "Count"),
            ],
        )
    );
}
