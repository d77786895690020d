//! Compliance: the rule that every active key's secret is younger than its class's
//! maximum age, and the figures and rows that show where each key stands. The daily
//! scan that enforces it is the job in `scan.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Policy;
use crate::index::ComplianceEntry;
pub use crate::key::KeyComplianceStatus;
use crate::key::{Key, KeyClass};
use crate::rotation::Rotation;
use crate::time::Timestamp;

pub const DAY: u64 = 86_400;

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

/// Age in whole days.
pub fn age_days(created_at: Timestamp, now: Timestamp) -> u64 {
    u64::try_from(now.seconds_since(created_at)).unwrap_or(0) / DAY
}

/// Secrets of `class` created before this are past their maximum age at `now`.
pub fn overdue_before(policy: &Policy, class: KeyClass, now: Timestamp) -> Timestamp {
    now.minus_seconds(policy.for_class(class).max_age_seconds())
}

/// How many active keys stand where, by status and class: the compliance totals as
/// kept (one counter per status and class, moved by every change in its transaction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplianceCounts {
    counts: BTreeMap<(KeyComplianceStatus, KeyClass), i64>,
}

impl ComplianceCounts {
    pub fn add(&mut self, status: KeyComplianceStatus, class: KeyClass, delta: i64) {
        *self.counts.entry((status, class)).or_default() += delta;
    }

    pub fn get(&self, status: KeyComplianceStatus, class: KeyClass) -> i64 {
        self.counts.get(&(status, class)).copied().unwrap_or(0)
    }

    /// Every class of `status` together (never below zero).
    pub fn of_status(&self, status: KeyComplianceStatus) -> u64 {
        let total: i64 = KeyClass::ALL.iter().map(|c| self.get(status, *c)).sum();
        u64::try_from(total).unwrap_or(0)
    }

    pub fn merge(&mut self, other: &ComplianceCounts) {
        for ((status, class), n) in &other.counts {
            self.add(*status, *class, *n);
        }
    }

    /// The counts as counter moves: each status and class that is not zero, once.
    pub fn moves(&self) -> Vec<(KeyComplianceStatus, KeyClass, i64)> {
        self.counts
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((status, class), n)| (*status, *class, *n))
            .collect()
    }
}

/// The report's figures: every active key (of an organisation, or all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComplianceFigures {
    pub active: u64,
    pub compliant: u64,
    /// Rotations in progress, blocked ones included.
    pub in_progress: u64,
    pub blocked: u64,
    pub overdue: u64,
}

impl ComplianceFigures {
    pub fn of(counts: &ComplianceCounts) -> Self {
        let blocked = counts.of_status(KeyComplianceStatus::RotationBlocked);
        let compliant = counts.of_status(KeyComplianceStatus::Compliant);
        let in_progress = counts.of_status(KeyComplianceStatus::RotationInProgress) + blocked;
        let overdue = counts.of_status(KeyComplianceStatus::Overdue);
        Self {
            active: compliant + in_progress + overdue,
            compliant,
            in_progress,
            blocked,
            overdue,
        }
    }

    pub fn coverage_percent(&self) -> f64 {
        coverage(self.active, self.compliant + self.in_progress)
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

impl KeyCompliance {
    /// Where `key` stands at `now`, given the oldest a secret of its class may be and
    /// its rotation in progress, if any.
    pub fn of(
        key: &Key,
        active: Option<&Rotation>,
        overdue_before: Timestamp,
        now: Timestamp,
    ) -> Option<Self> {
        let current = key.current()?;
        let created_at = key.current_secret_created_at()?;
        let blocked = active.is_some_and(Rotation::is_blocked);
        let covered = active.is_some_and(|rotation| rotation.covers(now));
        Some(Self {
            key_id: key.id.to_string(),
            organization_id: key.organization_id.to_string(),
            class: key.class,
            prefix: current.prefix.clone(),
            age_days: age_days(created_at, now),
            status: KeyComplianceStatus::at(created_at, covered, blocked, overdue_before),
            rotation_id: key.active_rotation.as_ref().map(ToString::to_string),
        })
    }

    /// The row of an index entry at `now`: its status by the rule, from what the
    /// entry holds (so an age crossed since the entry was written shows at once).
    pub fn of_entry(entry: &ComplianceEntry, overdue_before: Timestamp, now: Timestamp) -> Self {
        Self {
            key_id: entry.key_id.to_string(),
            organization_id: entry.organization_id.to_string(),
            class: entry.class,
            prefix: entry.prefix.clone(),
            age_days: age_days(entry.created_at, now),
            status: entry.status_at(overdue_before),
            rotation_id: entry.active_rotation.as_ref().map(ToString::to_string),
        }
    }
}
