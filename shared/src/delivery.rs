//! Delivering a notification to the people it concerns: one delivery per notification
//! and destination (an email contact or a webhook endpoint), created once per event id
//! (so a redelivered queue message sends nothing twice), each attempt recorded, retried
//! on a durable schedule, and the in-app feed every notification lands in.

use serde::{Deserialize, Serialize};

use crate::ids::{ContactId, OrganizationId, WebhookId};
use crate::index::shard_of;
use crate::notification::Notification;
use crate::time::Timestamp;

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "channel")]
pub enum Target {
    Email { contact_id: ContactId },
    Webhook { webhook_id: WebhookId },
}

impl Target {
    /// The destination's id (`ctc_…` or `whk_…`).
    pub fn id(&self) -> &str {
        match self {
            Target::Email { contact_id } => contact_id.as_str(),
            Target::Webhook { webhook_id } => webhook_id.as_str(),
        }
    }

    pub fn channel(&self) -> &'static str {
        match self {
            Target::Email { .. } => "email",
            Target::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// Not yet accepted by the destination; `next_attempt_at` says when it is tried.
    Pending,
    Delivered,
    /// Given up: the destination refused it for good, was disabled, or failed for the
    /// whole retry window.
    Failed,
}

/// One notification on its way to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub notification: Notification,
    pub target: Target,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// A sender holds it until then, so two consumers of one message never both send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Guards every update.
    pub version: u64,
}

impl Delivery {
    pub fn new(notification: Notification, target: Target, now: Timestamp) -> Self {
        Self {
            notification,
            target,
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: Some(now),
            claimed_until: None,
            delivered_at: None,
            last_error: None,
            version: 0,
        }
    }

    pub fn organization_id(&self) -> &OrganizationId {
        &self.notification.organization_id
    }

    pub fn event_id(&self) -> &str {
        &self.notification.event_id
    }

    /// Its entry in the retry index while pending.
    pub fn due(&self) -> Option<DueDelivery> {
        match (self.status, self.next_attempt_at) {
            (DeliveryStatus::Pending, Some(at)) => Some(DueDelivery {
                due_at: at,
                event_id: self.event_id().to_owned(),
                target_id: self.target.id().to_owned(),
            }),
            _ => None,
        }
    }

    /// Whether a sender may take it now.
    pub fn claimable(&self, now: Timestamp) -> bool {
        self.status == DeliveryStatus::Pending
            && self.next_attempt_at.is_some_and(|at| at <= now)
            && self.claimed_until.is_none_or(|until| until <= now)
    }
}

/// An entry of the retry index: a pending delivery and when it is next due.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueDelivery {
    pub due_at: Timestamp,
    pub event_id: String,
    pub target_id: String,
}

impl DueDelivery {
    pub fn shard(&self) -> u8 {
        shard_of(&self.event_id)
    }

    pub fn sort_key(&self) -> String {
        format!("{}#{}#{}", self.due_at, self.event_id, self.target_id)
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    Delivered,
    /// Failed for now; tried again later.
    Retrying,
    /// Failed for good (refused, disabled, or out of retries).
    Failed,
}

/// One recorded attempt, for the organisation's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub organization_id: OrganizationId,
    pub event_id: String,
    pub target: Target,
    /// The email address or URL tried (never a secret).
    pub destination: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: Timestamp,
    /// The HTTP status a webhook answered with; `None` for email and for failures
    /// before any answer (timeouts, refused connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    /// What went wrong, as the customer may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// keyroll's own failure in full (an AWS SDK error names the account, roles and
    /// resources): shown to operators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl DeliveryAttempt {
    /// Sorts newest first within its organisation, unique per attempt.
    pub fn sort_key(&self) -> String {
        format!(
            "{}#{}#{}#{:04}",
            self.at,
            self.event_id,
            self.target.id(),
            self.attempt
        )
    }
}

/// A notification in an organisation's in-app feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEntry {
    pub notification: Notification,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
}

impl FeedEntry {
    /// Sorts by time, then event id; the feed is read newest first.
    pub fn sort_key(&self) -> String {
        format!(
            "{}#{}",
            self.notification.occurred_at, self.notification.event_id
        )
    }
}

/// What a webhook's answer means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookVerdict {
    Delivered,
    /// Timeouts, refused connections, 5xx and 429: try again later.
    Retry,
    /// 410 Gone: the receiver asks never to be called again.
    DisableEndpoint,
    /// Any other answer: the receiver refused this message; not retried.
    Refused,
}

/// The rule for a webhook's answer (`None`: no answer at all).
pub fn webhook_verdict(status: Option<u16>) -> WebhookVerdict {
    match status {
        Some(200..=299) => WebhookVerdict::Delivered,
        None | Some(429) | Some(500..=599) => WebhookVerdict::Retry,
        Some(410) => WebhookVerdict::DisableEndpoint,
        Some(_) => WebhookVerdict::Refused,
    }
}

/// When attempt `attempts + 1` happens after attempt `attempts` failed at `now`, from
/// the delays between attempts (`KEYROLL_WEBHOOK_RETRY_SECONDS`), with up to 10 %
/// jitter from `jitter` (0..=1) so a recovering receiver is not hit by every retry at
/// once; `None` once the delays are used up (the delivery fails for good).
pub fn next_attempt(
    delays: &[u64],
    attempts: u32,
    now: Timestamp,
    jitter: f64,
) -> Option<Timestamp> {
    let delay = *delays.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let spread = (delay as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as u64;
    Some(now.plus_seconds(delay + spread))
}

/// The delays between webhook attempts by default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h
/// and 10 h, so a receiver gets attempts for a day and more (27 h 35 min) before it is
/// given up on.
pub const DEFAULT_RETRY_SECONDS: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decide_between_done_retry_disable_and_refused() {
        assert_eq!(webhook_verdict(Some(200)), WebhookVerdict::Delivered);
        assert_eq!(webhook_verdict(Some(204)), WebhookVerdict::Delivered);
        for retry in [None, Some(429), Some(500), Some(503)] {
            assert_eq!(webhook_verdict(retry), WebhookVerdict::Retry, "{retry:?}");
        }
        assert_eq!(webhook_verdict(Some(410)), WebhookVerdict::DisableEndpoint);
        assert_eq!(webhook_verdict(Some(400)), WebhookVerdict::Refused);
        assert_eq!(webhook_verdict(Some(301)), WebhookVerdict::Refused);
    }

    #[test]
    fn retries_follow_the_schedule_for_more_than_a_day_then_stop() {
        let now = Timestamp::from_unix(1_000_000).unwrap();
        assert_eq!(
            next_attempt(&DEFAULT_RETRY_SECONDS, 1, now, 0.0),
            Some(now.plus_seconds(5))
        );
        assert_eq!(
            next_attempt(&DEFAULT_RETRY_SECONDS, 2, now, 1.0),
            Some(now.plus_seconds(330))
        );
        assert_eq!(next_attempt(&DEFAULT_RETRY_SECONDS, 8, now, 0.0), None);
        assert_eq!(next_attempt(&DEFAULT_RETRY_SECONDS, 0, now, 0.0), None);
        let window: u64 = DEFAULT_RETRY_SECONDS.iter().sum();
        assert!(window >= 86_400, "at least a day of retries");
    }
}
