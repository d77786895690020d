//! The processor: advances every rotation that is due, settles keys whose own expiry
//! is near or past (`expiry.rs`), and delivers the outbox.
//!
//! - Reads only the due index (sharded, paged), advances rotations with bounded
//!   concurrency, and stops starting work at `stop_at` (the Lambda deadline minus a
//!   margin), leaving the rest for the next run.
//! - Safe to run several at once and to re-run: each rotation is advanced by a guarded
//!   change that re-reads it, so work another run did is not done twice.
//! - Isolates failures: throttling and lost races are retried with backoff; a rotation
//!   that still fails is counted and logged and the others proceed; one whose stored
//!   state is inconsistent (it can never succeed) is marked `failed` and alerted.
//! - Delivers the outbox: notifications to the queue (in order per key, deduplicated by
//!   event id), vault secrets deleted. An entry is removed only once done, so a crash
//!   or an outage at any point is finished by a later run.

mod expiry;

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::error::Result;
use crate::ids::RotationId;
use crate::index::{DueRef, INDEX_SHARDS};
use crate::notification::{Notification, OutboxEntry, OutboxMessage};
use crate::queue::NotificationQueue;
use crate::service::{Advance, Keyroll};
use crate::time::{Clock, SystemClock};

/// A rotation still not advanced this long after it fell due is stuck (its guard may
/// never pass): each run then alerts, where a shorter failure is only a warning.
pub const STUCK_AFTER_SECONDS: u64 = 3600;

/// How long a run may hold an outbox shard before another run may take it over.
pub const LEASE_SECONDS: u64 = 60;

/// How a run reads and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorOptions {
    /// Entries read per index or outbox query.
    pub page_size: usize,
    /// Rotations advanced at once.
    pub concurrency: usize,
    /// Stop starting new work after this instant.
    pub stop_at: Option<Instant>,
    /// Attempts per rotation within one run (throttling, lost races).
    pub attempts: u32,
    /// First backoff delay; doubles with each attempt.
    pub backoff: Duration,
}

impl Default for ProcessorOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            concurrency: 8,
            stop_at: None,
            attempts: 4,
            backoff: Duration::from_millis(50),
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProcessReport {
    pub started: u64,
    pub reminded: u64,
    pub completed: u64,
    /// Graces extended because the old secret was still in use (embedded keys).
    // Also counts `retire` rotations whose old secret outlived the grace end.
    pub extended: u64,
    /// Rotations held open because nobody has received their new secret (each also
    /// logged with `alert = "secret_undelivered"`).
    pub undelivered: u64,
    /// Rotations that could not be advanced this run (retried next run), plus those
    /// marked `failed`.
    pub failed: u64,
    /// Of `failed`: rotations marked `failed` for good.
    pub marked_failed: u64,
    /// Of `failed`: rotations not advanced for an hour or more after they fell due
    /// (each also logged with `alert = "rotation_stuck"`).
    pub stuck: u64,
    /// Notifications the queue accepted.
    pub notified: u64,
    /// Due rotations seen but left for the next run because time ran out.
    pub remaining: u64,
    /// Held secrets deleted because their rotation never committed (an hour after
    /// they were held, once that is certain).
    pub orphaned_secrets_deleted: u64,
    /// Keys whose own expiry is near: the customer was warned (`key.expiring`).
    pub expiry_warned: u64,
    /// Keys past their own expiry, marked expired.
    pub expired: u64,
}

async fn advance_with_retry(
    keyroll: &Keyroll,
    id: &RotationId,
    options: &ProcessorOptions,
) -> Result<Advance> {
    let mut delay = options.backoff;
    let mut attempt = 1;
    loop {
        match keyroll.advance_rotation(id).await {
            Err(error) if error.is_transient() && attempt < options.attempts => {
                // Jitter spreads racing processors apart.
                let jitter =
                    u64::from(crate::random::bytes::<1>()[0]) % (delay.as_millis() as u64 + 1);
                tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Advances every rotation due now, then delivers the outbox.
pub async fn process_due(
    keyroll: &Keyroll,
    queue: Option<&dyn NotificationQueue>,
    options: ProcessorOptions,
) -> Result<ProcessReport> {
    let now = keyroll.now();
    let mut report = ProcessReport::default();
    let out_of_time = || {
        options
            .stop_at
            .is_some_and(|deadline| Instant::now() >= deadline)
    };
    // Keys past their expiry first: a rotation of an expired key is cancelled with it,
    // never started with a secret that is dead on arrival.
    expiry::settle_expiries(keyroll, &options, &mut report).await?;
    for shard in 0..INDEX_SHARDS {
        let mut after: Option<DueRef> = None;
        loop {
            let page = keyroll
                .store()
                .due_rotations(shard, now, after.as_ref(), options.page_size)
                .await?;
            if out_of_time() {
                report.remaining += page.len() as u64;
                break;
            }
            let full = page.len() == options.page_size;
            after = page.last().cloned();
            let outcomes: Vec<_> = stream::iter(page)
                .map(|due| async move {
                    let outcome = advance_with_retry(keyroll, &due.rotation_id, &options).await;
                    (due, outcome)
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
            for (due, outcome) in outcomes {
                match outcome {
                    Ok(advance) => {
                        report.started += u64::from(advance.started);
                        report.reminded += u64::from(advance.reminded);
                        report.completed += u64::from(advance.completed);
                        report.extended += u64::from(advance.extended || advance.outlived_grace);
                        report.undelivered += u64::from(advance.undelivered);
                        if advance.uncovered {
                            tracing::warn!(rotation = %due.rotation_id, key = %due.key_id, "the rotation starts after its key's compliance deadline: the key counts as overdue until it starts (the next compliance scan starts it)");
                        }
                        if advance.undelivered {
                            tracing::error!(alert = "secret_undelivered", rotation = %due.rotation_id, key = %due.key_id, "the rotation's new secret has not been delivered to anyone: its grace is held open; reveal it, or complete the rotation with force");
                        }
                    }
                    Err(error) if error.is_permanent() => {
                        report.failed += 1;
                        let failure = crate::error::Chain(&error).to_string();
                        match keyroll.fail_rotation(&due.rotation_id, &failure).await {
                            Ok(_) => {
                                report.marked_failed += 1;
                                tracing::error!(alert = "rotation_failed", rotation = %due.rotation_id, key = %due.key_id, error = %crate::error::Chain(&error), "rotation marked failed");
                            }
                            Err(mark_error) => {
                                tracing::error!(alert = "rotation_failed", rotation = %due.rotation_id, key = %due.key_id, error = %crate::error::Chain(&error), mark_error = %crate::error::Chain(&mark_error), "rotation cannot be advanced nor marked failed")
                            }
                        }
                    }
                    Err(error) => {
                        report.failed += 1;
                        let overdue = now.seconds_since(due.due_at);
                        if overdue >= STUCK_AFTER_SECONDS as i64 {
                            report.stuck += 1;
                            tracing::error!(alert = "rotation_stuck", rotation = %due.rotation_id, key = %due.key_id, due_at = %due.due_at, overdue_seconds = overdue, error = %crate::error::Chain(&error), "rotation not advanced for an hour after it fell due; every run retries it, an operator must look");
                        } else {
                            tracing::warn!(rotation = %due.rotation_id, key = %due.key_id, error = %crate::error::Chain(&error), "rotation not advanced; the next run retries");
                        }
                    }
                }
            }
            if !full {
                break;
            }
        }
    }
    report.notified = deliver_outbox(keyroll, queue, &options).await?;
    // Housekeeping, when time is left: a failure here delays it to the next run and
    // fails nothing else.
    if !out_of_time() {
        match keyroll.sweep_held_secrets(options.page_size).await {
            Ok(deleted) => report.orphaned_secrets_deleted = deleted,
            Err(error) => {
                tracing::warn!(error = %crate::error::Chain(&error), "held secrets not swept; the next run retries");
            }
        }
    }
    Ok(report)
}

/// Carries out outbox entries: notifications to the queue, vault deletions. Returns
/// how many notifications the queue accepted.
pub async fn deliver_outbox(
    keyroll: &Keyroll,
    queue: Option<&dyn NotificationQueue>,
    options: &ProcessorOptions,
) -> Result<u64> {
    // A lease per outbox shard keeps racing runs from sending the same messages (the
    // queue would drop the copies anyway). Leases run on the wall clock: a run that
    // dies holding one delays that shard by at most LEASE_SECONDS.
    let owner = hex::encode(crate::random::bytes::<8>());
    let mut notified = 0;
    for shard in 0..INDEX_SHARDS {
        let mut delivery = ShardDelivery {
            keyroll,
            shard,
            lease: format!("outbox-{shard}"),
            owner: &owner,
            leased: false,
        };
        let result = delivery.deliver(queue, options).await;
        delivery.release().await;
        notified += result?;
    }
    Ok(notified)
}

/// One run's delivery of one outbox shard, under the shard's lease.
struct ShardDelivery<'a> {
    keyroll: &'a Keyroll,
    shard: u8,
    lease: String,
    owner: &'a str,
    leased: bool,
}

/// What delivering one page of a shard did.
#[derive(Default)]
struct PageDelivered {
    /// The entries done, to remove.
    done: Vec<(u8, String)>,
    notified: u64,
    /// A notification could not go out: later ones must wait for it.
    blocked: bool,
}

impl ShardDelivery<'_> {
    /// Delivers the shard page by page until it is empty, blocked, leased by another
    /// run, or out of time; how many notifications went out.
    async fn deliver(
        &mut self,
        queue: Option<&dyn NotificationQueue>,
        options: &ProcessorOptions,
    ) -> Result<u64> {
        let store = self.keyroll.store();
        let mut notified = 0;
        let mut after: Option<String> = None;
        loop {
            if options
                .stop_at
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                break;
            }
            let entries = store
                .outbox(self.shard, after.as_deref(), options.page_size)
                .await?;
            // An empty shard needs no lease; a shard another run holds is its.
            if entries.is_empty() || !self.hold_lease().await? {
                break;
            }
            let full = entries.len() == options.page_size;
            after = entries.last().map(|e| e.sort_key.clone());
            let page = self.deliver_page(&entries, queue).await;
            notified += page.notified;
            store.remove_outbox(&page.done).await?;
            if page.blocked || !full {
                break;
            }
        }
        Ok(notified)
    }

    /// Takes the shard's lease unless this run holds it already; `false` when another
    /// run holds it.
    async fn hold_lease(&mut self) -> Result<bool> {
        if !self.leased {
            let now = SystemClock.now();
            self.leased = self
                .keyroll
                .store()
                .try_lease(
                    &self.lease,
                    self.owner,
                    now.plus_seconds(LEASE_SECONDS),
                    now,
                )
                .await?;
        }
        Ok(self.leased)
    }

    async fn release(&self) {
        if !self.leased {
            return;
        }
        if let Err(error) = self
            .keyroll
            .store()
            .release_lease(&self.lease, self.owner)
            .await
        {
            tracing::warn!(error = %crate::error::Chain(&error), "outbox lease not released; it expires by itself");
        }
    }

    /// Carries out one page's entries in order. Consecutive notifications go out in
    /// batches of 10; a failure stops the page, so no later message of a key overtakes
    /// an earlier one.
    async fn deliver_page(
        &self,
        entries: &[OutboxEntry],
        queue: Option<&dyn NotificationQueue>,
    ) -> PageDelivered {
        let mut page = PageDelivered::default();
        let mut batch: Vec<&OutboxEntry> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match &entry.message {
                OutboxMessage::Notify { .. } => batch.push(entry),
                OutboxMessage::DeleteVaultSecret { name } => {
                    if self.delete_vault_secret(name).await {
                        page.done.push((self.shard, entry.sort_key.clone()));
                    }
                }
            }
            let next_is_notify = entries
                .get(index + 1)
                .is_some_and(|e| matches!(e.message, OutboxMessage::Notify { .. }));
            if !batch.is_empty() && (batch.len() == 10 || !next_is_notify) {
                self.publish(&batch, queue, &mut page).await;
                batch.clear();
                if page.blocked {
                    break;
                }
            }
        }
        page
    }

    /// Publishes a batch of notification entries; those the queue accepted are done.
    async fn publish(
        &self,
        batch: &[&OutboxEntry],
        queue: Option<&dyn NotificationQueue>,
        page: &mut PageDelivered,
    ) {
        let Some(queue) = queue else {
            page.blocked = true;
            return;
        };
        let notifications: Vec<&Notification> = batch
            .iter()
            .filter_map(|entry| match &entry.message {
                OutboxMessage::Notify { notification } => Some(notification.as_ref()),
                OutboxMessage::DeleteVaultSecret { .. } => None,
            })
            .collect();
        let messages: Vec<Notification> = notifications.iter().map(|n| (*n).clone()).collect();
        match queue.publish(&messages).await {
            Ok(accepted) => {
                for (entry, notification) in batch.iter().zip(&notifications) {
                    if accepted.contains(&notification.event_id) {
                        page.done.push((self.shard, entry.sort_key.clone()));
                        page.notified += 1;
                    } else {
                        page.blocked = true;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::error::Chain(&error), "notifications not delivered; the next run retries");
                page.blocked = true;
            }
        }
    }

    /// Deletes a held secret whose rotation no longer needs it; `true` once it is gone.
    async fn delete_vault_secret(&self, name: &str) -> bool {
        let Some(vault) = self.keyroll.vault() else {
            tracing::warn!(vault_secret_name = %name, "no vault configured to delete a held secret");
            return false;
        };
        match vault.delete(name).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(error = %crate::error::Chain(&error), vault_secret_name = %name, "vault secret not deleted; the next run retries");
                false
            }
        }
    }
}
