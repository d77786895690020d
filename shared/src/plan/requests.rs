//! What callers ask for, as types that cannot hold a contradiction: a start is one of
//! three, a scheduled rotation's trigger decides who gets its secret, an emergency
//! names its source.

use crate::config::{EmergencyPolicy, Policy};
use crate::error::{Error, Result};
use crate::ids::{KeyId, KeyName, OrganizationId, Reason, Scope};
use crate::key::KeyClass;
use crate::rotation::{Retire, RotationTrigger};
use crate::secret::LookupHash;
use crate::time::Timestamp;

pub use crate::rules::MAX_SCOPES;

/// A request to issue a key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub organization_id: OrganizationId,
    pub name: KeyName,
    pub scopes: Vec<Scope>,
    pub rate_limit: u32,
    pub class: KeyClass,
    /// When the whole key stops verifying (a contractor's, a trial's); never by default.
    pub expires_at: Option<Timestamp>,
}

impl NewKey {
    /// Validates a key's attributes as they arrive from outside.
    pub fn parse(
        organization_id: &str,
        name: &str,
        scopes: &[String],
        rate_limit: u32,
        class: KeyClass,
        expires_at: Option<Timestamp>,
    ) -> Result<Self> {
        if scopes.len() > MAX_SCOPES {
            return Err(Error::invalid(
                "scopes",
                format!("at most {MAX_SCOPES} scopes"),
            ));
        }
        Ok(Self {
            organization_id: OrganizationId::parse(organization_id)?,
            name: KeyName::parse(name)?,
            scopes: scopes
                .iter()
                .map(|s| Scope::parse(s))
                .collect::<Result<_>>()?,
            rate_limit,
            class,
            expires_at,
        })
    }

    /// The rules that depend on the clock: an expiry is in the future (a well-formed
    /// instant the clock has passed is refused as a conflict, like a late schedule).
    pub fn validate_at(&self, now: Timestamp) -> Result<()> {
        self.validate()?;
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::outside_policy("expiresAt", "must be in the future"));
        }
        Ok(())
    }

    /// The rules a key's attributes obey, however they were built.
    pub fn validate(&self) -> Result<()> {
        if self.scopes.len() > MAX_SCOPES {
            return Err(Error::invalid(
                "scopes",
                format!("at most {MAX_SCOPES} scopes"),
            ));
        }
        if !crate::rules::RATE_LIMIT.contains(u64::from(self.rate_limit)) {
            return Err(Error::invalid("rateLimit", "must be at least 1"));
        }
        Ok(())
    }
}

/// A key from the old system: its SHA-256 lookup hash and the 8 hex characters that
/// were shown as its prefix. The secret itself was never stored and is not needed.
#[derive(Debug, Clone)]
pub struct LegacyKey {
    /// The old system's id, kept; a new `key_…` id when `None`.
    pub id: Option<KeyId>,
    /// Import an already revoked key (its secret never verifies).
    pub revoked: bool,
    pub key: NewKey,
    pub lookup_hash: LookupHash,
    pub visible_prefix: String,
    pub created_at: Timestamp,
}

/// When a scheduled rotation starts: its new secret becomes current and the grace
/// begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// After the policy's lead time (`KEYROLL_SCHEDULE_LEAD_SECONDS`).
    #[default]
    Default,
    /// At this instant, which must not be in the past.
    At(Timestamp),
    /// Now, in the same change that schedules it.
    Now,
}

impl Start {
    /// The start instant, for a rotation scheduled at `now`.
    pub fn at(self, now: Timestamp, policy: &Policy) -> Timestamp {
        match self {
            Start::Default => now.plus_seconds(policy.schedule_lead_seconds),
            Start::At(at) => at,
            Start::Now => now,
        }
    }
}

/// Who asked for a scheduled rotation, which decides who gets its new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleTrigger {
    /// An operator through the API: the secret is returned to them.
    #[default]
    Manual,
    /// An operator, for the customer's own client: the secret is held for the customer
    /// to fetch once with the old secret (the self-service successor fetch).
    SelfService,
    /// The compliance scanner: the secret is held for the owner's one reveal.
    Policy,
}

impl ScheduleTrigger {
    pub fn rotation_trigger(self) -> RotationTrigger {
        match self {
            ScheduleTrigger::Manual | ScheduleTrigger::SelfService => RotationTrigger::Manual,
            ScheduleTrigger::Policy => RotationTrigger::Policy,
        }
    }

    /// Nobody is handed the secret in the response: it waits in the vault.
    pub fn holds_secret(self) -> bool {
        !matches!(self, ScheduleTrigger::Manual)
    }
}

/// A request to rotate a key's secret on a schedule.
#[derive(Debug, Clone, Default)]
pub struct RotationRequest {
    pub reason: Option<Reason>,
    pub grace_seconds: Option<u64>,
    pub start: Start,
    pub trigger: ScheduleTrigger,
    /// Complete early once the old secret is unused this long and the new one is used.
    pub complete_when_unused_seconds: Option<u64>,
    /// Embedded keys: extend the grace while the old secret is still in use.
    pub auto_extend: bool,
    /// When the old secret stops working; `None`: `deadline`, except for policy
    /// rotations of embedded keys, which wait for their callers (`when_moved`).
    pub retire: Option<Retire>,
}

impl RotationRequest {
    /// The start must not be in the past. Checked once, when the request arrives:
    /// a retry after a lost race keeps the start it was accepted with.
    pub fn validate_start(&self, now: Timestamp) -> Result<()> {
        if let Start::At(at) = self.start {
            if at < now {
                return Err(Error::outside_policy(
                    "scheduledAt",
                    "must not be in the past",
                ));
            }
        }
        Ok(())
    }

    /// How the old secret of `class` retires under this request.
    pub fn retire_for(&self, class: KeyClass) -> Result<Retire> {
        let retire = match self.retire {
            Some(retire) => retire,
            None if self.trigger == ScheduleTrigger::Policy
                && class == KeyClass::Embedded
                && !self.auto_extend
                && self.complete_when_unused_seconds.is_none() =>
            {
                Retire::WhenMoved {
                    quiet_seconds: crate::rules::DEFAULT_QUIET_SECONDS,
                }
            }
            None => Retire::Deadline,
        };
        if matches!(retire, Retire::WhenFaded { .. }) && class != KeyClass::Embedded {
            return Err(Error::outside_policy(
                "retire",
                "when_faded is for embedded keys only: a server integration is retired when_moved",
            ));
        }
        Ok(retire)
    }

    /// The checks that need no key and no clock.
    pub fn validate(&self) -> Result<()> {
        if self.retire.is_some_and(|r| !r.is_deadline())
            && (self.auto_extend || self.complete_when_unused_seconds.is_some())
        {
            return Err(Error::invalid(
                "retire",
                "cannot be combined with completeWhenUnusedSeconds or autoExtend: choose one way to end the grace",
            ));
        }
        if let Some(n) = self.complete_when_unused_seconds {
            if !crate::rules::COMPLETE_WHEN_UNUSED_SECONDS.contains(n) {
                return Err(Error::invalid(
                    "completeWhenUnusedSeconds",
                    "must be between 60 and 31536000",
                ));
            }
        }
        Ok(())
    }
}

/// An operator ending a rotation's grace now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The customer has moved. Refused while the rotation's held new secret has not
    /// been delivered to anyone: completing would lock the customer out.
    Moved { reason: Option<Reason> },
    /// The operator's decision to end it even though nobody received the new secret;
    /// the reason is required and audited.
    Forced { reason: Reason },
}

/// Who started an emergency rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmergencySource {
    /// A person, who gets the new secret in the response.
    Operator,
    /// A leak report naming secret `version`, with no human in the loop: the new
    /// secret waits in the vault for the owner. If a leak rotation of that very version
    /// is already under way, nothing new happens (a report is idempotent per token,
    /// even when two arrive at once).
    Leak { version: u32 },
}

/// A request to rotate a key at once because its secret may be compromised.
#[derive(Debug, Clone)]
pub struct EmergencyRequest {
    pub reason: Reason,
    pub grace_seconds: Option<u64>,
    pub source: EmergencySource,
}

impl EmergencyRequest {
    /// The grace this emergency gets: the policy's default, or the one asked for, never
    /// over the policy's maximum.
    pub fn grace(&self, policy: &EmergencyPolicy) -> Result<u64> {
        let grace = self.grace_seconds.unwrap_or(policy.default_grace_seconds);
        if grace > policy.max_grace_seconds {
            return Err(Error::outside_policy(
                "gracePeriodSeconds",
                format!(
                    "must be between 0 and {} for an emergency rotation",
                    policy.max_grace_seconds
                ),
            ));
        }
        Ok(grace)
    }

    pub fn rotation_trigger(&self) -> RotationTrigger {
        match self.source {
            EmergencySource::Operator => RotationTrigger::Emergency,
            EmergencySource::Leak { .. } => RotationTrigger::Leak,
        }
    }
}
