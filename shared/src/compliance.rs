//! Compliance: the rule that every active key's secret is younger than its class's
//! maximum age, the daily scan that enforces it, and the figures that show it.
//!
//! The scan reads the age index (partitioned by class and shard), only below each
//! class's warning cutoff, so its reads grow with the keys that are old, not with the
//! table. It schedules a policy rotation for every overdue key that has none in
//! progress (through the same operation as the API: audited, notified, its secret held
//! for one reveal), warns once per secret version ahead of the deadline, and writes the
//! day's snapshot. Re-running it the same day schedules and warns nothing new.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{Actor, Reason};
use crate::key::KeyClass;
use crate::service::{Keyroll, RotationRequest};
use crate::store::{AgeRef, INDEX_SHARDS};
use crate::time::Timestamp;

const DAY: u64 = 86_400;
pub const CLASSES: [KeyClass; 2] = [KeyClass::Server, KeyClass::Embedded];

/// The figures of one day, kept so the trend can be shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComplianceSnapshot {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub active_keys: u64,
    /// Secret within its maximum age.
    pub compliant: u64,
    /// Secret over its maximum age, with a rotation in progress.
    pub in_progress: u64,
    /// Secret over its maximum age and nothing in progress.
    pub non_compliant: u64,
    /// (compliant + in progress) / active, in percent; 100 when there are no keys.
    pub coverage_percent: f64,
}

impl ComplianceSnapshot {
    pub fn new(date: String, active_keys: u64, in_progress: u64, non_compliant: u64) -> Self {
        let compliant = active_keys.saturating_sub(in_progress + non_compliant);
        Self {
            date,
            active_keys,
            compliant,
            in_progress,
            non_compliant,
            coverage_percent: coverage(active_keys, compliant + in_progress),
        }
    }
}

pub fn coverage(active: u64, covered: u64) -> f64 {
    if active == 0 {
        100.0
    } else {
        ((covered as f64 / active as f64) * 10_000.0).round() / 100.0
    }
}

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
    /// Overdue keys that could not be scheduled (logged; retried next scan).
    pub failed: u64,
    /// True when the scan stopped at its deadline; the next run carries on.
    pub incomplete: bool,
    pub snapshot: ComplianceSnapshot,
}

fn class_name(class: KeyClass) -> &'static str {
    match class {
        KeyClass::Server => "server",
        KeyClass::Embedded => "embedded",
    }
}

/// Age in whole days.
pub fn age_days(created_at: Timestamp, now: Timestamp) -> u64 {
    u64::try_from(now.seconds_since(created_at)).unwrap_or(0) / DAY
}

/// What the scan did about one key of the age index.
enum Outcome {
    Scheduled,
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
        if key.active_rotation.is_some() {
            return Ok(Outcome::InProgress);
        }
        let reason = Reason::system(format!(
            "compliance: the secret is {age} days old; the maximum for {} keys is {} days",
            class_name(class),
            rules.max_age_days
        ));
        let request = RotationRequest {
            reason: Some(reason),
            policy_triggered: true,
            ..Default::default()
        };
        return Ok(
            match keyroll
                .schedule_rotation(&entry.key_id, request, scanner)
                .await
            {
                Ok(_) => Outcome::Scheduled,
                // Another writer started one meanwhile: covered all the same.
                Err(Error::RotationInProgress(_)) => Outcome::InProgress,
                Err(error) => {
                    tracing::warn!(key = %entry.key_id, %error, "policy rotation not scheduled; the next scan retries");
                    Outcome::Failed
                }
            },
        );
    }
    let deadline = entry.created_at.plus_seconds(max_age);
    let reason = Reason::system(format!(
        "compliance: the secret is {age} days old and reaches the {}-day maximum for {} keys on {}",
        rules.max_age_days,
        class_name(class),
        &deadline.to_rfc3339()[..10]
    ));
    Ok(
        match keyroll.warn_expiring(&entry.key_id, deadline, reason).await {
            Ok(true) => Outcome::Warned,
            Ok(false) => Outcome::Nothing,
            Err(error) => {
                tracing::warn!(key = %entry.key_id, %error, "expiry warning not recorded");
                Outcome::Nothing
            }
        },
    )
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
    let (mut scheduled, mut warned, mut failed) = (0, 0, 0);
    let (mut active, mut in_progress, mut non_compliant) = (0, 0, 0);
    let mut incomplete = false;

    for class in CLASSES {
        let max_age = policy.for_class(class).max_age_seconds();
        let warn_before =
            now.minus_seconds(max_age.saturating_sub(u64::from(policy.warn_ahead_days) * DAY));
        for shard in 0..INDEX_SHARDS {
            active += keyroll.store().count_active(class, shard).await?;
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
                        Outcome::Scheduled => {
                            scheduled += 1;
                            in_progress += 1;
                        }
                        Outcome::InProgress => in_progress += 1,
                        Outcome::Failed => {
                            failed += 1;
                            non_compliant += 1;
                        }
                        Outcome::Warned => warned += 1,
                        Outcome::Nothing => {}
                    }
                }
                if !full {
                    break;
                }
            }
        }
    }
    let snapshot = ComplianceSnapshot::new(
        now.to_rfc3339()[..10].to_owned(),
        active,
        in_progress,
        non_compliant,
    );
    if !incomplete {
        keyroll.store().put_snapshot(&snapshot).await?;
    }
    Ok(ScanReport {
        scheduled,
        warned,
        failed,
        incomplete,
        snapshot,
    })
}

/// Where one active key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyComplianceStatus {
    Compliant,
    RotationInProgress,
    Overdue,
}

impl KeyComplianceStatus {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "compliant" => Ok(Self::Compliant),
            "rotation_in_progress" => Ok(Self::RotationInProgress),
            "overdue" => Ok(Self::Overdue),
            _ => Err(Error::invalid(
                "status",
                "must be compliant, rotation_in_progress or overdue",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "compliant",
            Self::RotationInProgress => "rotation_in_progress",
            Self::Overdue => "overdue",
        }
    }
}

/// One row of the compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyCompliance {
    pub key_id: String,
    pub organization_id: String,
    pub class: KeyClass,
    /// Display prefix of the current secret.
    pub prefix: String,
    pub age_days: u64,
    pub status: KeyComplianceStatus,
    pub rotation_id: Option<String>,
}

/// Every active key with its compliance status now, oldest secret first. Reads every
/// active key (it is the report of all of them); the scan itself does not.
pub async fn key_statuses(keyroll: &Keyroll) -> Result<Vec<KeyCompliance>> {
    let now = keyroll.now();
    let policy = keyroll.config().policy;
    let mut rows = Vec::new();
    for class in CLASSES {
        let overdue_before = now.minus_seconds(policy.for_class(class).max_age_seconds());
        for shard in 0..INDEX_SHARDS {
            let mut after: Option<AgeRef> = None;
            loop {
                let page = keyroll
                    .store()
                    .aged_keys(class, shard, Timestamp::MAX, after.as_ref(), 500)
                    .await?;
                let full = page.len() == 500;
                after = page.last().cloned();
                for entry in page {
                    let Some(key) = keyroll.store().key(&entry.key_id).await? else {
                        continue;
                    };
                    let Some(current) = key.current() else {
                        continue;
                    };
                    let status = if entry.created_at >= overdue_before {
                        KeyComplianceStatus::Compliant
                    } else if key.active_rotation.is_some() {
                        KeyComplianceStatus::RotationInProgress
                    } else {
                        KeyComplianceStatus::Overdue
                    };
                    rows.push(KeyCompliance {
                        key_id: key.id.to_string(),
                        organization_id: key.organization_id.to_string(),
                        class,
                        prefix: current.prefix.clone(),
                        age_days: age_days(entry.created_at, now),
                        status,
                        rotation_id: key.active_rotation.as_ref().map(ToString::to_string),
                    });
                }
                if !full {
                    break;
                }
            }
        }
    }
    rows.sort_by(|a, b| {
        b.age_days
            .cmp(&a.age_days)
            .then_with(|| a.key_id.cmp(&b.key_id))
    });
    Ok(rows)
}
