//! The notifier: what happens to a notification once it leaves the queue. It lands in
//! its organisation's in-app feed, and one delivery per interested destination (email
//! contacts, webhook endpoints) is created — once per event id, so a redelivered queue
//! message sends nothing twice — and attempted. A failed webhook stays pending on a
//! durable schedule (`KEYROLL_WEBHOOK_RETRY_SECONDS`) that [`Notifier::retry_due`]
//! works through; an endpoint that answers 410, or fails for the whole schedule, is
//! disabled and the organisation's email contacts are told. Every attempt is recorded.
//!
//! Sending is at least once: a sender claims a delivery before it sends, so two
//! consumers never both send, but a crash after the send and before its outcome is
//! written sends again once the claim lapses (a webhook then carries the same
//! `webhook-id`, on which receivers deduplicate).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use crate::contact::{Contact, WebhookEndpoint};
use crate::delivery::{
    next_attempt, webhook_verdict, AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus,
    FeedEntry, Target, WebhookVerdict,
};
use crate::email::render;
use crate::error::{Error, Result, StoreError};
use crate::index::INDEX_SHARDS;
use crate::notification::Notification;
use crate::store::DeliveryStore;
use crate::time::{Clock, Timestamp};
use crate::vault::SecretVault;
use crate::webhook::{signature_header, SigningSecret};

pub mod breaker;
pub mod fair;
#[cfg(feature = "webhooks")]
pub mod http;
pub mod mailer;
#[cfg(feature = "ses")]
pub mod ses;

use breaker::{Breaker, BreakerSettings};
use fair::FairQueue;
pub use mailer::{MailError, Mailer};

/// The longest a webhook receiver may take to answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// An attempt is not started with less time than this left: recording its outcome
/// needs a moment too.
const SHORTEST_ATTEMPT: Duration = Duration::from_secs(1);

/// One signed webhook request.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a receiver answered: its status, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The receiver took the connection and never answered within the timeout.
    pub timed_out: bool,
}

/// The webhook port: one POST that gives up after `timeout`, never an error, the
/// outcome in the response.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(&self, request: &WebhookRequest, timeout: Duration) -> WebhookResponse;
}

/// How the notifier behaves.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// Delays between webhook attempts.
    pub retry_seconds: Vec<u64>,
    /// How long a sender holds a delivery it is attempting.
    pub claim_seconds: u64,
    /// Deliveries attempted at once.
    pub concurrency: usize,
    /// Of those, at most this many for one organisation, so others always get a slot.
    pub per_organization: usize,
    /// The longest one webhook attempt may take (less when the run has less left).
    pub attempt_timeout: Duration,
    pub breaker: BreakerSettings,
    /// `KEYROLL_EMAILS_PER_ORGANIZATION_HOUR`: beyond it, an organisation's emails wait
    /// for a retry in a later hour.
    pub emails_per_organization_hour: u32,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            retry_seconds: crate::delivery::DEFAULT_RETRY_SECONDS.to_vec(),
            claim_seconds: 60,
            concurrency: 8,
            per_organization: 4,
            attempt_timeout: ATTEMPT_TIMEOUT,
            breaker: BreakerSettings::default(),
            emails_per_organization_hour: crate::config::settings::EMAILS_PER_ORGANIZATION_HOUR
                .default
                .parse()
                .expect("the declared default is a number"),
        }
    }
}

/// What one call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifyReport {
    pub delivered: u64,
    pub retrying: u64,
    pub failed: u64,
    /// Deliveries another sender held, or already done: nothing sent.
    pub skipped: u64,
    /// Deliveries left for the retry schedule without an attempt: the run ran out of
    /// time, their destination failed earlier in the run or its circuit is open.
    pub deferred: u64,
}

impl NotifyReport {
    fn add(&mut self, attempted: &Attempted) {
        match attempted {
            Attempted::Done { outcome, .. } => match outcome {
                AttemptOutcome::Delivered => self.delivered += 1,
                AttemptOutcome::Retrying => self.retrying += 1,
                AttemptOutcome::Failed => self.failed += 1,
            },
            Attempted::HeldElsewhere => self.skipped += 1,
            Attempted::Postponed { .. } => self.deferred += 1,
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: NotifyReport) {
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.deferred += other.deferred;
    }
}

/// What became of one delivery a wave handed out.
enum Attempted {
    /// Sent, and its outcome recorded; `retry_at` when it is due again.
    Done {
        outcome: AttemptOutcome,
        retry_at: Option<Timestamp>,
    },
    /// Another sender holds it, or it is done: nothing sent.
    HeldElsewhere,
    /// Not sent: its endpoint's circuit is open until `until`, when it is due again.
    Postponed { until: Timestamp },
}

impl Attempted {
    fn delivered(&self) -> bool {
        matches!(
            self,
            Attempted::Done {
                outcome: AttemptOutcome::Delivered,
                ..
            }
        )
    }

    /// When the destination's other deliveries should be tried, if it failed now.
    fn destination_due_again(&self) -> Option<Timestamp> {
        match self {
            Attempted::Done {
                outcome: AttemptOutcome::Retrying,
                retry_at,
            } => *retry_at,
            Attempted::Postponed { until } => Some(*until),
            _ => None,
        }
    }
}

/// What recording a notification left to attempt.
pub struct Recorded {
    /// Its deliveries that are due now.
    pub pending: Vec<Delivery>,
    /// Deliveries seen before and not due (a redelivered message).
    pub skipped: u64,
}

pub struct Notifier {
    store: Arc<dyn DeliveryStore>,
    mailer: Option<Arc<dyn Mailer>>,
    webhooks: Arc<dyn WebhookSender>,
    vault: Arc<dyn SecretVault>,
    clock: Arc<dyn Clock>,
    settings: NotifierSettings,
    breaker: Breaker,
}

impl Notifier {
    /// `mailer` is `None` when email is off (no `KEYROLL_EMAIL_FROM`): contacts then get
    /// nothing, webhooks and the feed still do.
    pub fn new(
        store: Arc<dyn DeliveryStore>,
        mailer: Option<Arc<dyn Mailer>>,
        webhooks: Arc<dyn WebhookSender>,
        vault: Arc<dyn SecretVault>,
        clock: Arc<dyn Clock>,
        settings: NotifierSettings,
    ) -> Self {
        Self {
            store,
            mailer,
            webhooks,
            vault,
            clock,
            breaker: Breaker::new(settings.breaker),
            settings,
        }
    }

    /// Takes one notification from the queue: feed entry, deliveries, first attempts.
    /// `Ok` once all of it is durably recorded (a failed webhook then waits for its
    /// retry); `Err` when the store could not record it, and the message should come
    /// back.
    pub async fn accept(&self, notification: &Notification) -> Result<NotifyReport> {
        let recorded = self.record(notification).await?;
        let mut report = self.attempt_fairly(recorded.pending, None).await;
        report.skipped += recorded.skipped;
        Ok(report)
    }

    /// Records one notification from the queue: its feed entry and one delivery per
    /// interested destination, nothing sent. Once it returns `Ok` the message may be
    /// deleted: every delivery is durable and due, and what no wave attempts the retry
    /// schedule does. A batch records all its messages first and then attempts their
    /// deliveries together ([`Notifier::attempt_fairly`]), so a slow destination can
    /// never hold a message, nor another organisation's, in the queue.
    pub async fn record(&self, notification: &Notification) -> Result<Recorded> {
        let now = self.clock.now();
        self.store
            .add_to_feed(&FeedEntry {
                notification: notification.clone(),
                read_at: None,
            })
            .await?;
        let organization = &notification.organization_id;
        let mut targets = Vec::new();
        if self.mailer.is_some() {
            targets.extend(
                self.store
                    .contacts(organization)
                    .await?
                    .into_iter()
                    .filter(|c| c.wants(notification.kind))
                    .map(|c| Target::Email { contact_id: c.id }),
            );
        }
        targets.extend(
            self.store
                .webhooks(organization)
                .await?
                .into_iter()
                .filter(|w| w.wants(notification.kind))
                .map(|w| Target::Webhook { webhook_id: w.id }),
        );
        let mut skipped = 0;
        let mut pending = Vec::new();
        for target in targets {
            let delivery = Delivery::new(notification.clone(), target.clone(), now);
            if self.store.create_delivery(&delivery).await? {
                pending.push(delivery);
            } else {
                // Seen before (a redelivered message): only what is still due.
                match self
                    .store
                    .delivery(&notification.event_id, target.id())
                    .await?
                {
                    Some(existing) if existing.claimable(now) => pending.push(existing),
                    _ => skipped += 1,
                }
            }
        }
        Ok(Recorded { pending, skipped })
    }

    /// Attempts every delivery whose retry is due, until `stop_at`.
    pub async fn retry_due(&self, stop_at: Option<Instant>) -> Result<NotifyReport> {
        let now = self.clock.now();
        let mut report = NotifyReport::default();
        for shard in 0..INDEX_SHARDS {
            loop {
                if stop_at.is_some_and(|at| Instant::now() >= at) {
                    return Ok(report);
                }
                let due = self.store.due_deliveries(shard, now, 50).await?;
                let full = due.len() == 50;
                let mut pending = Vec::new();
                for entry in due {
                    match self
                        .store
                        .delivery(&entry.event_id, &entry.target_id)
                        .await?
                    {
                        Some(delivery) if delivery.claimable(now) => pending.push(delivery),
                        _ => report.skipped += 1,
                    }
                }
                let claimed = pending.len();
                report.merge(self.attempt_fairly(pending, stop_at).await);
                // A full page all held by other senders would be read again: stop.
                if !full || claimed == 0 {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Attempts `deliveries` in waves until `stop_at`: organisations take turns, none
    /// holds more than its share of the slots, a destination gets one attempt at a
    /// time and none after one that failed (its other deliveries are postponed to its
    /// retry), and each attempt's timeout is capped by the time left. What is not
    /// started stays due for the retry schedule. Never an error: a delivery whose
    /// outcome could not be recorded is retried once its claim lapses.
    pub async fn attempt_fairly(
        &self,
        deliveries: Vec<Delivery>,
        stop_at: Option<Instant>,
    ) -> NotifyReport {
        let mut queue = FairQueue::new(deliveries, self.settings.per_organization);
        let mut in_flight = FuturesUnordered::new();
        let mut report = NotifyReport::default();
        let mut out_of_time = false;
        loop {
            while !out_of_time && in_flight.len() < self.settings.concurrency.max(1) {
                let Some(delivery) = queue.take_next() else {
                    break;
                };
                let Some(timeout) = self.time_for_attempt(stop_at) else {
                    out_of_time = true;
                    report.deferred += 1;
                    break;
                };
                in_flight.push(async move {
                    let attempted = self.attempt(delivery.clone(), timeout).await;
                    (delivery, attempted)
                });
            }
            let Some((delivery, attempted)) = in_flight.next().await else {
                break;
            };
            let attempted = match attempted {
                Ok(attempted) => attempted,
                Err(error) => {
                    tracing::warn!(event_id = delivery.event_id(), target = delivery.target.id(), error = %crate::error::Chain(&error), "a delivery's attempt could not be recorded; it is tried again once its claim lapses");
                    report.deferred += 1;
                    report.deferred += queue.finished(&delivery, false).len() as u64;
                    continue;
                }
            };
            report.add(&attempted);
            let left = queue.finished(&delivery, attempted.delivered());
            report.deferred += left.len() as u64;
            if let Some(until) = attempted.destination_due_again() {
                for waiting in left {
                    self.postpone(waiting, until).await;
                }
            }
        }
        report.deferred += queue.remaining().len() as u64;
        report
    }

    /// How long the next attempt may take: the attempt timeout, or less when the run
    /// has less left; `None` when too little is left to start one.
    fn time_for_attempt(&self, stop_at: Option<Instant>) -> Option<Duration> {
        let left = match stop_at {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => return Some(self.settings.attempt_timeout),
        };
        (left >= SHORTEST_ATTEMPT).then(|| left.min(self.settings.attempt_timeout))
    }

    /// Moves a due delivery to `until` without an attempt (its destination is failing
    /// now): the retry schedule's next pages then reach other deliveries. Best effort:
    /// a delivery another sender changed meanwhile is left as it is.
    async fn postpone(&self, mut delivery: Delivery, until: Timestamp) {
        if delivery.next_attempt_at.is_some_and(|at| at >= until) {
            return;
        }
        let read_version = delivery.version;
        delivery.next_attempt_at = Some(until);
        delivery.version += 1;
        if let Err(error) = self.store.update_delivery(&delivery, read_version).await {
            if !matches!(error, StoreError::Conflict) {
                tracing::warn!(event_id = delivery.event_id(), error = %crate::error::Chain(&error), "a delivery could not be postponed; it stays due");
            }
        }
    }

    /// Claims, sends, records.
    async fn attempt(&self, mut delivery: Delivery, timeout: Duration) -> Result<Attempted> {
        let now = self.clock.now();
        if let Target::Webhook { webhook_id } = &delivery.target {
            if let Some(open_until) = self.breaker.open_until(webhook_id.as_str(), Instant::now()) {
                let wait = open_until.saturating_duration_since(Instant::now());
                let until = now.plus_seconds(wait.as_secs().max(1));
                self.postpone(delivery, until).await;
                return Ok(Attempted::Postponed { until });
            }
        }
        // Claim it first, so a racing run leaves it alone.
        let read_version = delivery.version;
        delivery.claimed_until = Some(now.plus_seconds(self.settings.claim_seconds));
        delivery.version += 1;
        match self.store.update_delivery(&delivery, read_version).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(Attempted::HeldElsewhere),
            Err(other) => return Err(other.into()),
        }
        let sent = self.send(&delivery, now, timeout).await?;
        let jitter = f64::from(crate::random::bytes::<1>()[0]) / 255.0;
        let attempt = delivery.attempts + 1;
        let retry_at = next_attempt(&self.settings.retry_seconds, attempt, now, jitter);
        let decided = decide(&sent, retry_at, &self.settings.retry_seconds);
        self.store
            .record_attempt(&DeliveryAttempt {
                organization_id: delivery.organization_id().clone(),
                event_id: delivery.event_id().to_owned(),
                target: delivery.target.clone(),
                destination: sent.destination.clone(),
                attempt,
                at: now,
                status: sent.status,
                latency_ms: sent.latency_ms,
                outcome: decided.outcome,
                error: sent.error.clone(),
                detail: sent.detail.clone(),
            })
            .await?;
        let claimed_version = delivery.version;
        settle(&mut delivery, &decided, sent.error.clone(), now);
        self.store
            .update_delivery(&delivery, claimed_version)
            .await?;
        if let (Target::Webhook { webhook_id }, Some(reason)) = (&delivery.target, &decided.disable)
        {
            self.disable_endpoint(&delivery, webhook_id, reason, now)
                .await?;
        }
        Ok(Attempted::Done {
            outcome: decided.outcome,
            retry_at: decided.retry_at,
        })
    }

    /// Sends `delivery`'s notification to its target as it is now (a contact removed or
    /// an endpoint deleted since is refused, not retried).
    async fn send(&self, delivery: &Delivery, now: Timestamp, timeout: Duration) -> Result<Sent> {
        Ok(match &delivery.target {
            Target::Email { contact_id } => {
                let contact = self
                    .store
                    .contacts(delivery.organization_id())
                    .await?
                    .into_iter()
                    .find(|c| c.id == *contact_id);
                self.send_email(&delivery.notification, contact.as_ref(), now)
                    .await
            }
            Target::Webhook { webhook_id } => {
                let endpoint = self
                    .store
                    .webhook(delivery.organization_id(), webhook_id)
                    .await?;
                self.send_webhook(&delivery.notification, endpoint.as_ref(), now, timeout)
                    .await
            }
        })
    }

    async fn send_email(
        &self,
        notification: &Notification,
        contact: Option<&Contact>,
        now: Timestamp,
    ) -> Sent {
        let (Some(mailer), Some(contact)) = (&self.mailer, contact) else {
            return Sent::refused("", EMAIL_REFUSALS[0]);
        };
        if !contact.wants(notification.kind) {
            return Sent::refused(contact.email.as_str(), EMAIL_REFUSALS[1]);
        }
        if let Err(held) = self.take_email(&contact.organization_id, now).await {
            return Sent {
                destination: contact.email.as_str().to_owned(),
                ..held
            };
        }
        let started = Instant::now();
        let message = render(notification, now);
        let result = mailer.send(&contact.email, &message).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(()) => Sent {
                verdict: Verdict::Delivered,
                destination: contact.email.as_str().to_owned(),
                status: None,
                latency_ms,
                error: None,
                detail: None,
                ours: false,
            },
            // The mail service's own error names the account, its identities and roles:
            // the operator's to read, not the customer's.
            Err(error) => Sent {
                verdict: Verdict::Retry,
                destination: contact.email.as_str().to_owned(),
                status: None,
                latency_ms,
                error: Some(EMAIL_NOT_ACCEPTED.to_owned()),
                detail: Some(error.to_string()),
                ours: false,
            },
        }
    }

    /// Counts one email of `organization` this hour; when it has had its limit (or the
    /// count cannot be kept), the attempt waits for its retry, keyroll's doing.
    async fn take_email(
        &self,
        organization: &crate::ids::OrganizationId,
        now: Timestamp,
    ) -> std::result::Result<(), Sent> {
        let limit = self.settings.emails_per_organization_hour;
        let held = |detail: String| Sent {
            verdict: Verdict::Retry,
            destination: String::new(),
            status: None,
            latency_ms: 0,
            error: Some(EMAIL_LIMIT_REACHED.to_owned()),
            detail: Some(detail),
            ours: true,
        };
        match self
            .store
            .take_email(organization, crate::limits::clock_hour(now), limit)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::error!(alert = "organization_email_limit", organization = %organization, limit, "an organisation had its hourly emails (KEYROLL_EMAILS_PER_ORGANIZATION_HOUR): its notifications' emails wait for a later hour");
                Err(held(format!("{limit} emails this hour")))
            }
            Err(error) => Err(Sent {
                error: Some(EMAIL_NOT_ACCEPTED.to_owned()),
                ..held(crate::error::Chain(&error).to_string())
            }),
        }
    }

    async fn send_webhook(
        &self,
        notification: &Notification,
        endpoint: Option<&WebhookEndpoint>,
        now: Timestamp,
        timeout: Duration,
    ) -> Sent {
        let Some(endpoint) = endpoint else {
            return Sent::refused("", "the endpoint was removed");
        };
        if endpoint.disabled_at.is_some() {
            return Sent::refused(&endpoint.url, "the endpoint is disabled");
        }
        let mut secrets = Vec::new();
        for reference in endpoint.live_secrets(now) {
            match self.vault.get(&reference.vault_secret).await {
                Ok(Some(text)) => match SigningSecret::parse(text.expose()) {
                    Ok(secret) => secrets.push(secret),
                    Err(_) => {
                        tracing::error!(webhook = %endpoint.id, "a stored signing secret is malformed")
                    }
                },
                Ok(None) => {
                    tracing::error!(webhook = %endpoint.id, "a signing secret is missing from the vault")
                }
                Err(error) => {
                    tracing::warn!(webhook = %endpoint.id, error = %crate::error::Chain(&error), "a signing secret could not be read; the delivery is retried");
                    return Sent::retry_ours(
                        &endpoint.url,
                        format!("signing secret unavailable: {error}"),
                    );
                }
            }
        }
        if secrets.is_empty() {
            return Sent::retry_ours(&endpoint.url, "no signing secret could be read".to_owned());
        }
        let body = match serde_json::to_vec(notification) {
            Ok(body) => body,
            Err(error) => return Sent::refused(&endpoint.url, &format!("encoding: {error}")),
        };
        let timestamp = now.unix();
        let request = WebhookRequest {
            url: endpoint.url.clone(),
            headers: vec![
                ("webhook-id".into(), notification.event_id.clone()),
                ("webhook-timestamp".into(), timestamp.to_string()),
                (
                    "webhook-signature".into(),
                    signature_header(&secrets, &notification.event_id, timestamp, &body),
                ),
            ],
            body,
        };
        let response = self.webhooks.post(&request, timeout).await;
        self.breaker
            .record(endpoint.id.as_str(), response.timed_out, Instant::now());
        let verdict = match webhook_verdict(response.status) {
            WebhookVerdict::Delivered => Verdict::Delivered,
            WebhookVerdict::Retry => Verdict::Retry,
            WebhookVerdict::DisableEndpoint => Verdict::Disable,
            WebhookVerdict::Refused => Verdict::Refused,
        };
        Sent {
            verdict,
            destination: endpoint.url.clone(),
            status: response.status,
            latency_ms: response.latency_ms,
            error: response.error,
            detail: None,
            ours: false,
        }
    }

    /// Stops sending to an endpoint, and tells the organisation's email contacts.
    async fn disable_endpoint(
        &self,
        delivery: &Delivery,
        webhook_id: &crate::ids::WebhookId,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        let organization = delivery.organization_id();
        for _ in 0..3 {
            let Some(mut endpoint) = self.store.webhook(organization, webhook_id).await? else {
                return Ok(());
            };
            if endpoint.disabled_at.is_some() {
                return Ok(());
            }
            let read = endpoint.revision;
            endpoint.disabled_at = Some(now);
            endpoint.disabled_reason = Some(reason.to_owned());
            endpoint.revision += 1;
            match self.store.put_webhook(&endpoint, Some(read)).await {
                Ok(()) => {
                    tracing::warn!(webhook = %endpoint.id, organization = %organization, reason, "webhook endpoint disabled");
                    self.tell_contacts(&endpoint, reason, now).await?;
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::from(StoreError::Conflict))
    }

    async fn tell_contacts(
        &self,
        endpoint: &WebhookEndpoint,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        let Some(mailer) = &self.mailer else {
            return Ok(());
        };
        let message = crate::email::endpoint_disabled(
            &crate::contact::redacted_url(&endpoint.url),
            endpoint.id.as_str(),
            reason,
            now,
        );
        for contact in self.store.contacts(&endpoint.organization_id).await? {
            if !contact.is_confirmed()
                || self
                    .take_email(&contact.organization_id, now)
                    .await
                    .is_err()
            {
                continue;
            }
            if let Err(error) = mailer.send(&contact.email, &message).await {
                tracing::warn!(error = %crate::error::Chain(&error), contact = %contact.id, "could not tell a contact that a webhook endpoint was disabled");
            }
        }
        Ok(())
    }
}

/// What one send came to, before its outcome is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Retry,
    Refused,
    /// 410 Gone: disable the endpoint.
    Disable,
}

/// What one attempt's result decides, before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decided {
    outcome: AttemptOutcome,
    /// When to try again, for a retry.
    retry_at: Option<Timestamp>,
    /// Why the webhook endpoint is disabled, when this attempt disables it.
    disable: Option<String>,
}

/// The outcome of an attempt that `sent` this, given when the schedule would try
/// again (`None`: the schedule is spent), and whether it disables the endpoint: a 410,
/// or a destination's failure on every attempt (never a failure of keyroll's own).
fn decide(sent: &Sent, retry_at: Option<Timestamp>, retry_seconds: &[u64]) -> Decided {
    let outcome = match (sent.verdict, retry_at) {
        (Verdict::Delivered, _) => AttemptOutcome::Delivered,
        (Verdict::Retry, Some(_)) => AttemptOutcome::Retrying,
        (Verdict::Retry, None) | (Verdict::Refused | Verdict::Disable, _) => AttemptOutcome::Failed,
    };
    let disable = match (sent.verdict, outcome) {
        (Verdict::Disable, _) => Some("the endpoint answered 410 Gone".to_owned()),
        (Verdict::Retry, AttemptOutcome::Failed) if !sent.ours => Some(format!(
            "the endpoint failed every attempt for {} s",
            retry_seconds.iter().sum::<u64>()
        )),
        _ => None,
    };
    Decided {
        outcome,
        retry_at: retry_at.filter(|_| outcome == AttemptOutcome::Retrying),
        disable,
    }
}

/// `delivery` after an attempt that `decided` this: released from its claim, one more
/// attempt, delivered, due again or failed.
fn settle(delivery: &mut Delivery, decided: &Decided, error: Option<String>, now: Timestamp) {
    delivery.attempts += 1;
    delivery.claimed_until = None;
    delivery.last_error = error;
    delivery.version += 1;
    match decided.outcome {
        AttemptOutcome::Delivered => {
            delivery.status = DeliveryStatus::Delivered;
            delivery.delivered_at = Some(now);
            delivery.next_attempt_at = None;
        }
        AttemptOutcome::Retrying => delivery.next_attempt_at = decided.retry_at,
        AttemptOutcome::Failed => {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
        }
    }
}

struct Sent {
    verdict: Verdict,
    destination: String,
    status: Option<u16>,
    latency_ms: u64,
    /// What went wrong, as the customer may read it.
    error: Option<String>,
    /// keyroll's own failure in full (an AWS error: account, roles, resources), for
    /// operators only.
    detail: Option<String>,
    /// The failure was keyroll's (its vault), not the destination's: it never counts
    /// toward disabling an endpoint.
    ours: bool,
}

/// keyroll's own reasons for not sending an email: the customer may read them.
pub const EMAIL_REFUSALS: [&str; 2] = [
    "the contact was removed or email is off",
    "the contact no longer wants this type",
];

/// What a customer reads of an email the mail service did not take.
pub const EMAIL_NOT_ACCEPTED: &str =
    "the email service did not accept the message; keyroll tries again";
/// What a customer reads of an email held back by the organisation's hourly limit.
pub const EMAIL_LIMIT_REACHED: &str =
    "your organisation had its emails for this hour; keyroll tries again later";
/// What a customer reads of a webhook keyroll could not sign (its vault failed).
pub const NOT_SIGNED: &str =
    "keyroll could not sign the request (not your endpoint's fault); it tries again";

impl Sent {
    fn refused(destination: &str, why: &str) -> Self {
        Self {
            verdict: Verdict::Refused,
            destination: destination.to_owned(),
            status: None,
            latency_ms: 0,
            error: Some(why.to_owned()),
            detail: None,
            ours: false,
        }
    }

    /// keyroll could not sign the request: tried again later, never the endpoint's
    /// fault.
    fn retry_ours(destination: &str, why: String) -> Self {
        Self {
            verdict: Verdict::Retry,
            destination: destination.to_owned(),
            status: None,
            latency_ms: 0,
            error: Some(NOT_SIGNED.to_owned()),
            detail: Some(why),
            ours: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(verdict: Verdict, ours: bool) -> Sent {
        Sent {
            verdict,
            destination: "https://hooks.example/x".into(),
            status: None,
            latency_ms: 0,
            error: None,
            detail: None,
            ours,
        }
    }

    /// An attempt's outcome, its retry and whether it disables the endpoint are decided
    /// from its result alone.
    #[test]
    fn an_attempt_decides_outcome_retry_and_disabling() {
        let at = Timestamp::from_unix(1_000).unwrap();
        let schedule = [5, 300];
        let delivered = decide(&sent(Verdict::Delivered, false), Some(at), &schedule);
        assert_eq!(
            delivered,
            Decided {
                outcome: AttemptOutcome::Delivered,
                retry_at: None,
                disable: None
            }
        );
        let retrying = decide(&sent(Verdict::Retry, false), Some(at), &schedule);
        assert_eq!(retrying.outcome, AttemptOutcome::Retrying);
        assert_eq!(retrying.retry_at, Some(at));
        assert_eq!(retrying.disable, None);
        let spent = decide(&sent(Verdict::Retry, false), None, &schedule);
        assert_eq!(spent.outcome, AttemptOutcome::Failed);
        assert_eq!(
            spent.disable.as_deref(),
            Some("the endpoint failed every attempt for 305 s")
        );
        let ours = decide(&sent(Verdict::Retry, true), None, &schedule);
        assert_eq!((ours.outcome, ours.disable), (AttemptOutcome::Failed, None));
        let gone = decide(&sent(Verdict::Disable, false), Some(at), &schedule);
        assert_eq!(gone.outcome, AttemptOutcome::Failed);
        assert_eq!(
            gone.disable.as_deref(),
            Some("the endpoint answered 410 Gone")
        );
        let refused = decide(&sent(Verdict::Refused, false), Some(at), &schedule);
        assert_eq!(
            (refused.outcome, refused.disable),
            (AttemptOutcome::Failed, None)
        );
    }
}
