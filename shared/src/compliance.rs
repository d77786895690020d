//! Compliance: the rule that every active key's secret is younger than its class's
//! maximum age, and the figures and rows that show where each key stands. The daily
//! scan that enforces it is the job in `scan.rs`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
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

/// Where one active key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyComplianceStatus {
    Compliant,
    RotationInProgress,
    /// A rotation is in progress but cannot end: its new secret has not been
    /// delivered to anyone ("rotation blocked: new secret not delivered").
    RotationBlocked,
    Overdue,
}

impl KeyComplianceStatus {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "compliant" => Ok(Self::Compliant),
            "rotation_in_progress" => Ok(Self::RotationInProgress),
            "rotation_blocked" => Ok(Self::RotationBlocked),
            "overdue" => Ok(Self::Overdue),
            _ => Err(Error::invalid(
                "status",
                "must be compliant, rotation_in_progress, rotation_blocked or overdue",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "compliant",
            Self::RotationInProgress => "rotation_in_progress",
            Self::RotationBlocked => "rotation_blocked",
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
        let status = if active.is_some_and(Rotation::is_blocked) {
            KeyComplianceStatus::RotationBlocked
        } else if created_at >= overdue_before {
            KeyComplianceStatus::Compliant
        } else if key.active_rotation.is_some() {
            KeyComplianceStatus::RotationInProgress
        } else {
            KeyComplianceStatus::Overdue
        };
        Some(Self {
            key_id: key.id.to_string(),
            organization_id: key.organization_id.to_string(),
            class: key.class,
            prefix: current.prefix.clone(),
            age_days: age_days(created_at, now),
            status,
            rotation_id: key.active_rotation.as_ref().map(ToString::to_string),
        })
    }
}
