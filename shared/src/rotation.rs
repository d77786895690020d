//! Rotations and their state machine.
//!
//! ```text
//!   scheduled ──start──▶ grace_period ──complete──▶ completed
//!      │  ╲                  │   ╲
//!      │   ╲─complete───────────────▶ completed   (ends the grace at once)
//!      │                     │
//!      ├─cancel / supersede─▶ cancelled ◀─supersede─┤
//!      └─fail──────────────▶ failed ◀──────fail─────┘
//! ```
//! `extend` moves the grace end of a scheduled or in-grace rotation. `completed`,
//! `cancelled` and `failed` are final: nothing leaves them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Conflict, Error};
use crate::ids::{Actor, KeyId, Reason, RotationId};
use crate::key::SecretVersion;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RotationStatus {
    Scheduled,
    GracePeriod,
    Completed,
    Cancelled,
    Failed,
}

impl RotationStatus {
    pub const ALL: [RotationStatus; 5] = [
        RotationStatus::Scheduled,
        RotationStatus::GracePeriod,
        RotationStatus::Completed,
        RotationStatus::Cancelled,
        RotationStatus::Failed,
    ];

    pub fn is_final(self) -> bool {
        matches!(
            self,
            RotationStatus::Completed | RotationStatus::Cancelled | RotationStatus::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RotationStatus::Scheduled => "scheduled",
            RotationStatus::GracePeriod => "grace_period",
            RotationStatus::Completed => "completed",
            RotationStatus::Cancelled => "cancelled",
            RotationStatus::Failed => "failed",
        }
    }

    /// The status after `command`, or why the command is refused.
    pub fn after(self, command: RotationCommand) -> Result<RotationStatus, InvalidTransition> {
        use RotationCommand as C;
        use RotationStatus as S;
        let next = match (self, command) {
            (S::Scheduled, C::Start) => S::GracePeriod,
            (S::Scheduled | S::GracePeriod, C::Complete) => S::Completed,
            (S::Scheduled, C::Cancel) => S::Cancelled,
            (S::Scheduled | S::GracePeriod, C::Supersede | C::Revoke) => S::Cancelled,
            (S::Scheduled | S::GracePeriod, C::Extend) => self,
            (S::Scheduled | S::GracePeriod, C::Fail) => S::Failed,
            _ => {
                return Err(InvalidTransition {
                    from: self,
                    command,
                })
            }
        };
        Ok(next)
    }
}

impl fmt::Display for RotationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can be asked of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationCommand {
    /// The scheduled time came: the new secret becomes current.
    Start,
    /// The grace ended (or an operator ended it): the old secret is revoked.
    Complete,
    /// Called off before it started: the new secret is revoked.
    Cancel,
    /// Closed because an emergency rotation of the same key replaced it.
    Supersede,
    /// The grace end moves.
    Extend,
    /// Given up after repeated errors.
    Fail,
    /// Ended because its key was revoked or expired: neither secret works any more.
    Revoke,
}

impl RotationCommand {
    pub const ALL: [RotationCommand; 7] = [
        RotationCommand::Start,
        RotationCommand::Complete,
        RotationCommand::Cancel,
        RotationCommand::Supersede,
        RotationCommand::Extend,
        RotationCommand::Fail,
        RotationCommand::Revoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationCommand::Start => "start",
            RotationCommand::Complete => "complete",
            RotationCommand::Cancel => "cancel",
            RotationCommand::Supersede => "supersede",
            RotationCommand::Extend => "extend",
            RotationCommand::Fail => "fail",
            RotationCommand::Revoke => "revoke",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} rotation cannot {}", command.as_str())]
pub struct InvalidTransition {
    pub from: RotationStatus,
    pub command: RotationCommand,
}

impl From<InvalidTransition> for Error {
    fn from(value: InvalidTransition) -> Self {
        Error::Conflict(Conflict::WrongState(value.to_string()))
    }
}

/// Why a rotation happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RotationTrigger {
    /// Asked for by a person or a system through the API.
    Manual,
    /// Scheduled by the compliance scanner (secret too old).
    Policy,
    /// Asked for as an emergency (suspected compromise).
    Emergency,
    /// Started by a leak report, with no human in the loop.
    Leak,
}

impl RotationTrigger {
    /// Emergency-like rotations are never extended and their old secret is never
    /// handed out again.
    pub fn is_emergency(self) -> bool {
        matches!(self, RotationTrigger::Emergency | RotationTrigger::Leak)
    }
}

/// When a rotation's old secret stops working.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "mode",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Retire {
    /// At the grace end.
    #[default]
    Deadline,
    /// Once every caller seen on it has moved or gone and it has been unused this long.
    WhenMoved { quiet_seconds: u64 },
    /// Once its share of the key's week of traffic (in hundredths of a percent) and its
    /// daily uses are both below these.
    WhenFaded {
        below_basis_points: u32,
        below_daily_uses: u64,
    },
}

impl Retire {
    pub fn is_deadline(&self) -> bool {
        *self == Retire::Deadline
    }

    /// The name the API uses.
    pub fn mode(&self) -> &'static str {
        match self {
            Retire::Deadline => "deadline",
            Retire::WhenMoved { .. } => "when_moved",
            Retire::WhenFaded { .. } => "when_faded",
        }
    }
}

/// One rotation of one key's secret, from `from_version` to `to_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    pub id: RotationId,
    pub key_id: KeyId,
    pub from_version: u32,
    pub to_version: u32,
    pub old_prefix: String,
    pub new_prefix: String,
    pub status: RotationStatus,
    pub trigger: RotationTrigger,
    pub reason: Reason,
    pub actor: Actor,
    pub created_at: Timestamp,
    pub scheduled_at: Timestamp,
    pub grace_ends_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<RotationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When to remind the customer that the old secret is about to stop working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<Timestamp>,
    /// The vault secret holding the new secret, for rotations nobody was handed it
    /// (started by the compliance scanner) until it is revealed once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revealed_at: Option<Timestamp>,
    /// Complete early once the old secret has gone unused this long while the new one
    /// is in use (see `rollover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_when_unused_seconds: Option<u64>,
    /// Embedded keys: extend the grace in steps while the old secret is still in use.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_extend: bool,
    /// When the processor next looks at the secrets' use, for the two options above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_check_at: Option<Timestamp>,
    /// The operator asked for customer self-service: the held secret may be fetched
    /// with the old secret (the self-service successor fetch). Policy rotations hold theirs for
    /// an operator's reveal only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_service: bool,
    /// When the processor next decides about a held secret nobody has received yet:
    /// an hour before the grace ends (extend it?), then daily once it cannot be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_check_at: Option<Timestamp>,
    /// When the grace first had to be held open because the new secret was not
    /// delivered ("rotation blocked" in the compliance report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_since: Option<Timestamp>,
    /// Set when the rotation was scheduled to start too late to cover its old secret
    /// under the maximum-age rule: the instant it stops covering it (the secret's
    /// deadline, or — scheduled after that — the end of the policy's own lead time).
    /// From then until it starts the key counts as overdue, and the scanner starts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncovered_from: Option<Timestamp>,
    /// The processor has re-stamped the key at `uncovered_from` (so it is not due again
    /// for it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncovered_noted: bool,
    /// When the old secret stops working (see `rollover`).
    #[serde(default, skip_serializing_if = "Retire::is_deadline")]
    pub retire: Retire,
    /// With `retire` other than `deadline`: the latest the old secret lives (its
    /// expiry), `rollover::retire_bound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_by: Option<Timestamp>,
    /// The grace ended with callers still on the old secret, and the customer was told
    /// it keeps working until they move (once per rotation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grace_end_noted: bool,
    /// The held new secret is delivered sealed to the key's delivery key, to any of its
    /// client's instances, as often as they ask: the vault keeps it until the rotation
    /// ends (`revealed_at` is the first delivery).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed_delivery: bool,
}

/// How long before a grace ends the processor decides about a held secret nobody has
/// received.
pub const DELIVERY_DECISION_LEAD_SECONDS: u64 = 3600;

/// What a new rotation is made of; every other field starts empty.
#[derive(Debug, Clone)]
pub struct NewRotation<'a> {
    pub id: RotationId,
    pub key_id: KeyId,
    pub from: &'a SecretVersion,
    pub to: &'a SecretVersion,
    pub trigger: RotationTrigger,
    pub reason: Reason,
    pub actor: Actor,
    pub created_at: Timestamp,
    pub scheduled_at: Timestamp,
    pub grace_ends_at: Timestamp,
}

impl Rotation {
    /// A rotation from `spec.from` to `spec.to`, scheduled and not yet started.
    pub fn new(spec: NewRotation<'_>) -> Self {
        Self {
            id: spec.id,
            key_id: spec.key_id,
            from_version: spec.from.version,
            to_version: spec.to.version,
            old_prefix: spec.from.prefix.clone(),
            new_prefix: spec.to.prefix.clone(),
            status: RotationStatus::Scheduled,
            trigger: spec.trigger,
            reason: spec.reason,
            actor: spec.actor,
            created_at: spec.created_at,
            scheduled_at: spec.scheduled_at,
            grace_ends_at: spec.grace_ends_at,
            started_at: None,
            completed_at: None,
            cancelled_at: None,
            superseded_by: None,
            failure: None,
            reminder_at: None,
            reminded_at: None,
            vault_secret: None,
            revealed_at: None,
            complete_when_unused_seconds: None,
            auto_extend: false,
            usage_check_at: None,
            self_service: false,
            delivery_check_at: None,
            uncovered_from: None,
            uncovered_noted: false,
            blocked_since: None,
            retire: Retire::Deadline,
            retire_by: None,
            grace_end_noted: false,
            sealed_delivery: false,
        }
    }

    /// When the old secret dies at the latest, and so when the rotation completes by
    /// itself: its grace end, or with a `retire` condition, its bound.
    pub fn ends_at(&self) -> Timestamp {
        match self.retire_by {
            Some(bound) if !self.retire.is_deadline() => bound.max(self.grace_ends_at),
            _ => self.grace_ends_at,
        }
    }

    /// Until when the old secret verifies, as stored with it (the key's version and its
    /// `SECRET#` record). While the new secret waits in the vault for its delivery, that
    /// is the class's longest grace from the start (`max_grace_seconds`), whatever the
    /// grace says: "no old secret dies before its new secret was delivered" then holds
    /// by the data alone, even when the processor that would extend the grace does not
    /// run. The commit that delivers the new secret sets the real end
    /// (the reveal planner).
    pub fn old_secret_until(&self, max_grace_seconds: u64) -> Timestamp {
        let end = self.ends_at();
        if self.awaits_delivery() {
            end.max(self.scheduled_at.plus_seconds(max_grace_seconds))
        } else {
            end
        }
    }

    /// When the processor next has work on this rotation: its start while scheduled;
    /// in grace, the first of its reminder, its checks and its grace end — but a
    /// rotation whose new secret awaits delivery never ends by its grace, only its
    /// delivery check decides; never once final.
    pub fn due_at(&self) -> Option<Timestamp> {
        match self.status {
            RotationStatus::Scheduled => match self.uncovered_from {
                // Due when it stops covering its key, to re-stamp it as overdue.
                Some(from) if !self.uncovered_noted => Some(from.min(self.scheduled_at)),
                _ => Some(self.scheduled_at),
            },
            RotationStatus::GracePeriod => {
                let (end, delivery) = if self.awaits_delivery() {
                    // A rotation that started before the delivery rule has no check yet:
                    // it is due when one would have been.
                    let check = self
                        .delivery_check_at
                        .unwrap_or_else(|| self.delivery_decision_at());
                    (None, Some(check))
                } else {
                    (Some(self.ends_at()), None)
                };
                [self.pending_reminder(), self.usage_check_at, delivery, end]
                    .into_iter()
                    .flatten()
                    .min()
            }
            _ => None,
        }
    }

    /// Whether the rotation, at `now`, covers its key's old secret under the maximum-age
    /// rule: it has started, or it starts in time (by the secret's deadline, or within
    /// the policy's lead time when scheduled after it).
    pub fn covers(&self, now: Timestamp) -> bool {
        self.status != RotationStatus::Scheduled
            || self.uncovered_from.is_none_or(|from| now < from)
    }

    /// When a rotation scheduled at `now` to start at `scheduled_at` stops covering an
    /// old secret whose deadline is `deadline` (the second after the latest start that
    /// covers it): `None` when it starts in time, which is by the deadline or, once that
    /// has passed, no later than a policy rotation scheduled now would (`lead_seconds`).
    pub fn uncovered_from_for(
        scheduled_at: Timestamp,
        now: Timestamp,
        deadline: Timestamp,
        lead_seconds: u64,
    ) -> Option<Timestamp> {
        let latest = deadline.max(now.plus_seconds(lead_seconds));
        // The secret is still within its age at the deadline itself: it stops being
        // covered the second after.
        (scheduled_at > latest).then(|| latest.plus_seconds(1))
    }

    /// Whether the rotation's new secret is held and nobody entitled to it has received
    /// it yet (policy and self-service rotations; emergency and leak rotations end on
    /// time whatever happens, because their old secret is presumed compromised).
    pub fn awaits_delivery(&self) -> bool {
        self.vault_secret.is_some() && self.revealed_at.is_none() && !self.trigger.is_emergency()
    }

    /// When the processor decides whether the undelivered new secret needs more grace:
    /// [`DELIVERY_DECISION_LEAD_SECONDS`] before the grace ends, or halfway through a
    /// grace shorter than twice that — early enough that the old secret never stops,
    /// even for a moment, while the grace is extended.
    pub fn delivery_decision_at(&self) -> Timestamp {
        let started = self.started_at.unwrap_or(self.scheduled_at);
        let grace = u64::try_from(self.grace_ends_at.seconds_since(started)).unwrap_or(0);
        self.grace_ends_at
            .minus_seconds(DELIVERY_DECISION_LEAD_SECONDS.min(grace / 2))
    }

    /// Whether its delivery check is due at `now` (a rotation from before the delivery
    /// rule, with no check recorded, at its decision time).
    pub fn delivery_due(&self, now: Timestamp) -> bool {
        self.status == RotationStatus::GracePeriod
            && self.awaits_delivery()
            && self
                .delivery_check_at
                .unwrap_or_else(|| self.delivery_decision_at())
                <= now
    }

    /// Whether its grace had to be held open because the new secret was not delivered.
    pub fn is_blocked(&self) -> bool {
        self.blocked_since.is_some() && self.awaits_delivery()
    }

    /// The reminder still to send, if any: before the grace ends, once.
    pub fn pending_reminder(&self) -> Option<Timestamp> {
        match (self.reminder_at, self.reminded_at) {
            (Some(at), None) if !self.status.is_final() && at < self.grace_ends_at => Some(at),
            _ => None,
        }
    }

    /// Whether the vault still holds this rotation's new secret: a held secret is
    /// deleted once it was revealed (a sealed delivery keeps it for the client's other
    /// instances until the rotation ends), or when its rotation was cancelled (its new
    /// secret then never works). A rotation that completed or failed without delivering
    /// keeps it: the secret works, and it is the only copy.
    pub fn holds_secret(&self) -> bool {
        self.vault_secret.is_some()
            && self.status != RotationStatus::Cancelled
            && (self.revealed_at.is_none() || (self.sealed_delivery && !self.status.is_final()))
    }

    pub fn is_in_progress(&self) -> bool {
        !self.status.is_final()
    }

    /// Applies `command` to the status, or refuses it without changing anything.
    pub fn apply(&mut self, command: RotationCommand) -> Result<(), InvalidTransition> {
        self.status = self.status.after(command)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RotationCommand as C;
    use RotationStatus as S;

    /// The full transition table: every (status, command) pair, allowed or refused.
    #[test]
    fn every_transition_allowed_and_refused() {
        let allowed = [
            (S::Scheduled, C::Start, S::GracePeriod),
            (S::Scheduled, C::Complete, S::Completed),
            (S::Scheduled, C::Cancel, S::Cancelled),
            (S::Scheduled, C::Supersede, S::Cancelled),
            (S::Scheduled, C::Extend, S::Scheduled),
            (S::Scheduled, C::Fail, S::Failed),
            (S::GracePeriod, C::Complete, S::Completed),
            (S::GracePeriod, C::Supersede, S::Cancelled),
            (S::GracePeriod, C::Extend, S::GracePeriod),
            (S::GracePeriod, C::Fail, S::Failed),
            (S::Scheduled, C::Revoke, S::Cancelled),
            (S::GracePeriod, C::Revoke, S::Cancelled),
        ];
        for from in RotationStatus::ALL {
            for command in RotationCommand::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, c, _)| *f == from && *c == command)
                    .map(|(_, _, to)| *to);
                match (from.after(command), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} --{command:?}"),
                    (Err(refused), None) => {
                        assert_eq!(refused, InvalidTransition { from, command });
                        assert_eq!(
                            Error::from(refused).kind(),
                            crate::error::ErrorKind::Conflict
                        );
                    }
                    (got, want) => panic!("{from} --{command:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn final_states_are_final_and_not_due() {
        for status in RotationStatus::ALL {
            let allows_any = RotationCommand::ALL
                .iter()
                .any(|c| status.after(*c).is_ok());
            assert_eq!(allows_any, !status.is_final(), "{status}");
        }
    }

    #[test]
    fn refused_transition_names_state_and_command() {
        let error = S::Completed.after(C::Cancel).unwrap_err();
        assert_eq!(error.to_string(), "a completed rotation cannot cancel");
    }
}
