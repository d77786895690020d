//! The daily compliance scan, which enforces the maximum-age rule of
//! [`crate::compliance`].
//!
//! The scan reads the age index (partitioned by class and shard), only below each
//! class's warning cutoff, so its reads grow with the keys that are old, not with the
//! table. It schedules a policy rotation for every overdue key that has none in
//! progress (through the same operation as the API: audited, notified, its secret held
//! for one reveal), warns once per secret version ahead of the deadline, and writes the
//! day's snapshot. Re-running it the same day schedules and warns nothing new.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::compliance::{age_days, ComplianceSnapshot, KeyComplianceStatus, DAY};
use crate::error::{Conflict, Error, Result};
use crate::ids::{Actor, Reason};
use crate::index::{AgeRef, INDEX_SHARDS};
use crate::key::KeyClass;
use crate::service::{Keyroll, RotationRequest, ScheduleTrigger};
use crate::time::Timestamp;

/// How a scan reads and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    pub page_size: usize,
    /// Keys checked at once.
    pub concurrency: usize,
    pub stop_at: Option<Instant>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            concurrency: 8,
            stop_at: None,
        }
    }
}

/// What one scan did, and the day's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanReport {
    /// Policy rotations scheduled by this scan.
    pub scheduled: u64,
    /// `key.expiring` warnings recorded by this scan.
    pub warned: u64,
    /// Overdue keys whose rotation was scheduled to start after their deadline, started
    /// now instead (keeping its new secret and grace).
    pub started_late: u64,
    /// Overdue keys that could not be scheduled (logged; retried next scan).
    pub failed: u64,
    /// Keys whose compliance status only time had moved (a secret that passed its
    /// maximum age with no rotation started by this scan), re-stamped so the index
    /// and totals hold it.
    pub settled: u64,
    /// True when the scan stopped at its deadline; the next run carries on.
    pub incomplete: bool,
    pub snapshot: ComplianceSnapshot,
}

/// What the scan did about one key of the age index.
enum Outcome {
    Scheduled,
    StartedLate,
    InProgress,
    Failed,
    Warned,
    Nothing,
}

/// Schedules a policy rotation for an overdue key, or warns about one nearing its
/// maximum age.
async fn check_key(
    keyroll: &Keyroll,
    entry: AgeRef,
    class: KeyClass,
    now: Timestamp,
    scanner: &Actor,
) -> Result<Outcome> {
    let rules = keyroll.config().policy.for_class(class);
    let max_age = rules.max_age_seconds();
    let age = age_days(entry.created_at, now);
    if entry.created_at < now.minus_seconds(max_age) {
        let key = keyroll.key(&entry.key_id).await?;
        if let Some(active) = &key.active_rotation {
            // A rotation scheduled to start too late does not cover the key: it starts
            // now (keeping its new secret and grace) rather than at its far-off date.
            let reason = Reason::system(format!(
                "compliance: the secret is {age} days old; the maximum for {} keys is {} days, and the rotation was scheduled to start after that",
                class, rules.max_age_days
            ));
            return Ok(match keyroll.start_late_rotation(active, reason).await {
                Ok(Some(_)) => Outcome::StartedLate,
                Ok(None) => Outcome::InProgress,
                Err(error) => {
                    tracing::warn!(key = %entry.key_id, rotation = %active, error = %crate::error::Chain(&error), "late rotation not started; the next scan retries");
                    Outcome::Failed
                }
            });
        }
        let reason = Reason::system(format!(
            "compliance: the secret is {age} days old; the maximum for {} keys is {} days",
            class, rules.max_age_days
        ));
        let request = RotationRequest {
            reason: Some(reason),
            trigger: ScheduleTrigger::Policy,
            ..Default::default()
        };
        return Ok(
            match keyroll
                .schedule_rotation(&entry.key_id, request, scanner)
                .await
            {
                Ok(_) => Outcome::Scheduled,
                // Another writer started one meanwhile: covered all the same.
                Err(Error::Conflict(Conflict::RotationInProgress { .. })) => Outcome::InProgress,
                Err(error) => {
                    tracing::warn!(key = %entry.key_id, error = %crate::error::Chain(&error), "policy rotation not scheduled; the next scan retries");
                    Outcome::Failed
                }
            },
        );
    }
    let deadline = entry.created_at.plus_seconds(max_age);
    let reason = Reason::system(format!(
        "compliance: the secret is {age} days old and reaches the {}-day maximum for {} keys on {}",
        rules.max_age_days,
        class,
        &deadline.to_rfc3339()[..10]
    ));
    Ok(
        match keyroll.warn_expiring(&entry.key_id, deadline, reason).await {
            Ok(true) => Outcome::Warned,
            Ok(false) => Outcome::Nothing,
            Err(error) => {
                tracing::warn!(key = %entry.key_id, error = %crate::error::Chain(&error), "expiry warning not recorded");
                Outcome::Nothing
            }
        },
    )
}

/// Re-stamps the keys whose status only time has moved, then stamps any active key
/// that has never been stamped (written before the compliance read model): found when
/// the age index holds more active keys of a class than its counters count — a COUNT
/// per shard, 1 MB of keys-only entries per request — and then by walking that class's
/// age index once.
async fn settle(keyroll: &Keyroll, options: ScanOptions) -> Result<u64> {
    let mut settled = 0;
    let concurrency = options.concurrency.max(1);
    for class in KeyClass::ALL {
        settled += keyroll
            .settle_class(class, options.page_size, concurrency)
            .await?;
    }
    let counts = keyroll.store().compliance_counts(None).await?;
    for class in KeyClass::ALL {
        let mut indexed = 0;
        for shard in 0..INDEX_SHARDS {
            indexed += keyroll.store().count_active(class, shard).await?;
        }
        let counted: i64 = KeyComplianceStatus::ALL
            .iter()
            .map(|status| counts.get(*status, class))
            .sum();
        if i64::try_from(indexed).unwrap_or(i64::MAX) <= counted {
            continue;
        }
        tracing::info!(%class, indexed, counted, "stamping keys written before the compliance read model");
        for shard in 0..INDEX_SHARDS {
            let mut after: Option<AgeRef> = None;
            loop {
                let page = keyroll
                    .store()
                    .aged_keys(
                        class,
                        shard,
                        Timestamp::MAX,
                        after.as_ref(),
                        options.page_size,
                    )
                    .await?;
                let full = page.len() == options.page_size;
                after = page.last().cloned();
                settled += keyroll
                    .settle_all(page.into_iter().map(|e| e.key_id), concurrency)
                    .await?;
                if !full {
                    break;
                }
            }
        }
    }
    Ok(settled)
}

pub async fn scan(keyroll: &Keyroll, options: ScanOptions) -> Result<ScanReport> {
    let now = keyroll.now();
    let policy = keyroll.config().policy;
    let scanner = Actor::system("scanner");
    let out_of_time = || {
        options
            .stop_at
            .is_some_and(|deadline| Instant::now() >= deadline)
    };
    let (mut scheduled, mut warned, mut failed, mut started_late) = (0, 0, 0, 0);
    let mut incomplete = false;

    for class in KeyClass::ALL {
        let max_age = policy.for_class(class).max_age_seconds();
        let warn_before =
            now.minus_seconds(max_age.saturating_sub(u64::from(policy.warn_ahead_days) * DAY));
        for shard in 0..INDEX_SHARDS {
            let mut after: Option<AgeRef> = None;
            loop {
                if out_of_time() {
                    incomplete = true;
                    break;
                }
                let page = keyroll
                    .store()
                    .aged_keys(class, shard, warn_before, after.as_ref(), options.page_size)
                    .await?;
                let full = page.len() == options.page_size;
                after = page.last().cloned();
                let outcomes: Vec<Result<Outcome>> = stream::iter(page)
                    .map(|entry| check_key(keyroll, entry, class, now, &scanner))
                    .buffer_unordered(options.concurrency.max(1))
                    .collect()
                    .await;
                for outcome in outcomes {
                    match outcome? {
                        Outcome::Scheduled => scheduled += 1,
                        Outcome::StartedLate => started_late += 1,
                        Outcome::Failed => failed += 1,
                        Outcome::Warned => warned += 1,
                        Outcome::InProgress | Outcome::Nothing => {}
                    }
                }
                if !full {
                    break;
                }
            }
        }
    }
    if incomplete {
        tracing::error!(alert = "scan_incomplete", scheduled, warned, started_late, failed, "the compliance scan stopped at its deadline before reaching every key; overdue keys it did not reach wait for the next scan (run POST /v1/admin/scan to carry on now)");
    }
    let settled = if incomplete {
        0
    } else {
        settle(keyroll, options).await?
    };
    let figures = keyroll.compliance_figures(None).await?;
    let snapshot = ComplianceSnapshot::new(
        now.to_rfc3339()[..10].to_owned(),
        figures.active,
        figures.in_progress,
        figures.overdue,
    );
    if !incomplete {
        keyroll.store().put_snapshot(&snapshot).await?;
    }
    Ok(ScanReport {
        scheduled,
        warned,
        started_late,
        failed,
        settled,
        incomplete,
        snapshot,
    })
}
