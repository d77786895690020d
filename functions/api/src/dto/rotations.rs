//! A rotation as the API shows it, alone, with its new secret, or in pages.

use keyroll_core::rotation::{Retire, Rotation, RotationStatus, RotationTrigger};
use keyroll_core::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::Viewer;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationView {
    pub id: String,
    pub key_id: String,
    pub status: RotationStatus,
    pub trigger: RotationTrigger,
    pub reason: String,
    pub actor: String,
    pub from_version: u32,
    pub to_version: u32,
    pub old_prefix: String,
    pub new_prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub grace_ends_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
    pub superseded_by: Option<String>,
    pub failure: Option<String>,
    /// When the customer is reminded that the old secret is about to stop working.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reminder_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reminded_at: Option<Timestamp>,
    /// Whether the new secret waits in Secrets Manager for its one reveal (policy,
    /// self-service and leak rotations, until it is delivered).
    pub secret_held: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revealed_at: Option<Timestamp>,
    /// Completes early once the old secret is unused this long (see the request).
    pub complete_when_unused_seconds: Option<u64>,
    pub auto_extend: bool,
    /// How the old secret retires: `deadline`, `when_moved` or `when_faded` (see the
    /// request).
    pub retire: crate::dto::RetireMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fade_below_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fade_below_daily_uses: Option<u64>,
    /// With `when_moved` or `when_faded`: the latest the old secret works, whatever its
    /// callers do (the grace end plus the class's maximum grace, no more than that past
    /// its maximum age).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retire_by: Option<Timestamp>,
    /// When the processor next looks at the secrets' use.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub usage_check_at: Option<Timestamp>,
    /// The new secret is held and nobody entitled to it has received it: the rotation
    /// does not end until someone does (or an operator forces it).
    pub awaiting_delivery: bool,
    /// When the grace first had to be held open for that reason ("rotation blocked").
    #[schema(value_type = Option<String>, format = DateTime)]
    pub blocked_since: Option<Timestamp>,
    /// Set when the rotation starts too late to cover the key under the maximum-age
    /// rule (after its secret's deadline): from this instant until it starts, the key
    /// counts as overdue, and the next compliance scan starts it then.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub uncovered_from: Option<Timestamp>,
    /// What `uncoveredFrom` means for this rotation, in words; null when it starts in
    /// time.
    pub compliance_warning: Option<String>,
    /// When the old secret was last used (in listings of rotations in progress).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub old_secret_last_used_at: Option<Timestamp>,
    /// How many of the key's callers have moved to the new secret (`GET
    /// /v1/rotations/{rotationId}`; the callers themselves: `GET
    /// /v1/keys/{keyId}/callers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<crate::dto::MoveSummaryView>,
}

impl From<&Rotation> for RotationView {
    fn from(r: &Rotation) -> Self {
        Self {
            id: r.id.to_string(),
            key_id: r.key_id.to_string(),
            status: r.status,
            trigger: r.trigger,
            reason: r.reason.to_string(),
            actor: r.actor.to_string(),
            from_version: r.from_version,
            to_version: r.to_version,
            old_prefix: r.old_prefix.clone(),
            new_prefix: r.new_prefix.clone(),
            created_at: r.created_at,
            scheduled_at: r.scheduled_at,
            grace_ends_at: r.grace_ends_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            cancelled_at: r.cancelled_at,
            superseded_by: r.superseded_by.as_ref().map(ToString::to_string),
            failure: r.failure.clone(),
            reminder_at: r.reminder_at,
            reminded_at: r.reminded_at,
            secret_held: r.holds_secret(),
            revealed_at: r.revealed_at,
            complete_when_unused_seconds: r.complete_when_unused_seconds,
            auto_extend: r.auto_extend,
            retire: match r.retire {
                Retire::Deadline => crate::dto::RetireMode::Deadline,
                Retire::WhenMoved { .. } => crate::dto::RetireMode::WhenMoved,
                Retire::WhenFaded { .. } => crate::dto::RetireMode::WhenFaded,
            },
            quiet_seconds: match r.retire {
                Retire::WhenMoved { quiet_seconds } => Some(quiet_seconds),
                _ => None,
            },
            fade_below_percent: match r.retire {
                Retire::WhenFaded {
                    below_basis_points, ..
                } => Some(f64::from(below_basis_points) / 100.0),
                _ => None,
            },
            fade_below_daily_uses: match r.retire {
                Retire::WhenFaded {
                    below_daily_uses, ..
                } => Some(below_daily_uses),
                _ => None,
            },
            retire_by: r.retire_by.filter(|_| !r.retire.is_deadline()),
            usage_check_at: r.usage_check_at,
            awaiting_delivery: r.awaits_delivery() && r.is_in_progress(),
            blocked_since: r.blocked_since,
            uncovered_from: r.uncovered_from.filter(|_| r.status == RotationStatus::Scheduled),
            compliance_warning: r
                .uncovered_from
                .filter(|_| r.status == RotationStatus::Scheduled)
                .map(|from| {
                    format!(
                        "this rotation starts after the key's secret reaches its maximum age: from {from} until it starts, the key counts as overdue, and the next compliance scan starts it then (keeping its new secret and grace)"
                    )
                }),
            old_secret_last_used_at: None,
            summary: None,
        }
    }
}

impl RotationView {
    pub fn seen_by(mut self, viewer: Viewer) -> Self {
        self.actor = viewer.actor(&self.actor);
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotationResponse {
    pub rotation: RotationView,
}

/// A rotation and the new secret it minted. The secret is shown here only; a
/// self-service rotation's is not shown at all (the customer fetches it).
#[derive(Debug, Serialize, ToSchema)]
pub struct RotationWithSecretResponse {
    pub rotation: RotationView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotationsResponse {
    pub rotations: Vec<RotationView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationPageResponse {
    pub rotations: Vec<RotationView>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}
