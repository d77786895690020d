//! keyroll-local's notifier: what the notifier function does in AWS, in-process. It
//! consumes the notification queue (the in-memory one, or SQS with long polling when
//! `KEYROLL_BACKEND=aws`), delivers each notification (emails as `.eml` files in a
//! folder, or through SES; webhooks over real HTTP), and retries what is due.

use std::sync::Arc;
use std::time::Duration;

use keyroll_core::notification::Notification;
use keyroll_core::notify::Notifier;
use keyroll_core::queue::MemoryQueue;

/// Where the notifier reads notifications from.
pub enum Source {
    Memory(Arc<MemoryQueue>),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

async fn accept(notifier: &Notifier, notification: &Notification) -> bool {
    match notifier.accept(notification).await {
        Ok(report) => {
            tracing::info!(event_id = %notification.event_id, kind = notification.kind_name(), delivered = report.delivered, retrying = report.retrying, failed = report.failed, "notification delivered");
            true
        }
        Err(error) => {
            tracing::warn!(event_id = %notification.event_id, error = %keyroll_core::error::Chain(&error), "notification not recorded; retried");
            false
        }
    }
}

/// One pass over the source: every message received is accepted (an SQS message is
/// deleted once accepted), then the due retries run.
pub async fn run_once(notifier: &Notifier, source: &Source) {
    match source {
        Source::Memory(queue) => {
            for notification in queue.take_new() {
                accept(notifier, &notification).await;
            }
        }
        Source::Sqs { client, url } => {
            let received = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await;
            match received {
                Ok(output) => {
                    for message in output.messages.unwrap_or_default() {
                        let Some(body) = message.body() else { continue };
                        let Ok(notification) = serde_json::from_str::<Notification>(body) else {
                            tracing::error!("a queue message that is not a notification");
                            continue;
                        };
                        if accept(notifier, &notification).await {
                            if let Some(handle) = message.receipt_handle() {
                                if let Err(error) = client
                                    .delete_message()
                                    .queue_url(url)
                                    .receipt_handle(handle)
                                    .send()
                                    .await
                                {
                                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "message not deleted; it comes back and is deduplicated");
                                }
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "receiving notifications failed")
                }
            }
        }
    }
    if let Err(error) = notifier.retry_due(None).await {
        tracing::warn!(error = %keyroll_core::error::Chain(&error), "webhook retries failed");
    }
}

/// Runs [`run_once`] every `every` until the process stops.
pub async fn run(notifier: Arc<Notifier>, source: Source, every: Duration) {
    loop {
        run_once(&notifier, &source).await;
        tokio::time::sleep(every).await;
    }
}
