//! The SQS FIFO adapter of the notification queue.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::{NotificationQueue, QueueError};
use crate::notification::Notification;

/// SQS FIFO: message group = key id (per-key order), deduplication id = event id.
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    requests: AtomicU64,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            requests: AtomicU64::new(0),
        }
    }

    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl NotificationQueue for SqsQueue {
    async fn publish(&self, batch: &[Notification]) -> Result<Vec<String>, QueueError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut entries = Vec::with_capacity(batch.len());
        for (index, notification) in batch.iter().enumerate() {
            let body = serde_json::to_string(notification)
                .map_err(|e| QueueError(format!("encode: {e}")))?;
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(body)
                    .message_group_id(notification.key_id.as_str())
                    .message_deduplication_id(&notification.event_id)
                    .build()
                    .map_err(|e| QueueError(format!("entry: {e}")))?,
            );
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                QueueError(format!(
                    "SendMessageBatch: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(output
            .successful
            .iter()
            .filter_map(|ok| ok.id.parse::<usize>().ok())
            .filter_map(|index| batch.get(index).map(|n| n.event_id.clone()))
            .collect())
    }
}
