//! The notification queue port, with the SQS FIFO adapter and an in-memory one.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::notification::Notification;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Where notifications go.
#[async_trait]
pub trait NotificationQueue: Send + Sync {
    /// Publishes up to 10 notifications and returns the event ids the queue accepted.
    /// A notification already accepted before is accepted again without a second
    /// delivery (deduplication by event id).
    async fn publish(&self, batch: &[Notification]) -> Result<Vec<String>, QueueError>;
}

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

/// In-memory queue for local runs and tests: deduplicates like FIFO SQS, and can be
/// switched off to simulate an outage.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    delivered: Mutex<Vec<Notification>>,
    seen: Mutex<HashSet<String>>,
    down: AtomicBool,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates the queue being unreachable (`true`) or back (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every notification delivered so far, in delivery order.
    pub fn delivered(&self) -> Vec<Notification> {
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl NotificationQueue for MemoryQueue {
    async fn publish(&self, batch: &[Notification]) -> Result<Vec<String>, QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError("queue is down (simulated)".into()));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        for notification in batch {
            if seen.insert(notification.event_id.clone()) {
                delivered.push(notification.clone());
            }
        }
        Ok(batch.iter().map(|n| n.event_id.clone()).collect())
    }
}
