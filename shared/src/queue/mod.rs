//! The notification queue port, with an in-memory adapter and, with the `sqs` feature,
//! the SQS FIFO one.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::notification::Notification;

#[cfg(feature = "sqs")]
mod sqs;
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;

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

/// In-memory queue for local runs and tests: deduplicates like FIFO SQS, and can be
/// switched off to simulate an outage.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    delivered: Mutex<Vec<Notification>>,
    seen: Mutex<HashSet<String>>,
    down: AtomicBool,
    /// How many of `delivered` a consumer has taken (keyroll-local's notifier).
    taken: Mutex<usize>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates the queue being unreachable (`true`) or back (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The notifications delivered since the last call, in order: what a consumer
    /// receives (keyroll-local's notifier reads the queue this way).
    pub fn take_new(&self) -> Vec<Notification> {
        let delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let new = delivered[*taken..].to_vec();
        *taken = delivered.len();
        new
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
