//! The API's request and response bodies (camelCase, RFC 3339 UTC times). Responses
//! are built from the domain types and leave out lookup hashes and verifiers; a secret
//! appears only in the response of the request that minted it.

use keyroll_core::audit::{AuditAction, AuditEvent, ChainReport};
use keyroll_core::key::{Key, KeyClass, KeyStatus, SecretStage, SecretVersion};
use keyroll_core::rotation::{Rotation, RotationStatus, RotationTrigger};
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ---------- requests ----------

/// A number checked against its documented range (`rules`), as the document states it.
pub fn within(
    field: &'static str,
    value: Option<u64>,
    range: keyroll_core::rules::Range,
) -> Result<Option<u64>, keyroll_core::Error> {
    match value {
        Some(n) if !range.contains(n) => {
            Err(keyroll_core::Error::invalid(field, range.expectation()))
        }
        other => Ok(other),
    }
}

/// A page size: `default` when absent, else within `range` (the document's).
pub fn page_limit(
    value: Option<usize>,
    default: usize,
    range: keyroll_core::rules::Range,
) -> Result<usize, keyroll_core::Error> {
    let limit = value.unwrap_or(default);
    if !range.contains(limit as u64) {
        return Err(keyroll_core::Error::invalid("limit", range.expectation()));
    }
    Ok(limit)
}

/// A requested instant: RFC 3339 is the document's rule (422 otherwise); one keyroll
/// cannot represent (before 1970, after 9999) is outside what it allows (409).
pub fn requested_time(field: &'static str, text: &str) -> Result<Timestamp, keyroll_core::Error> {
    use keyroll_core::time::TimestampError;
    Timestamp::parse(text).map_err(|error| match error {
        TimestampError::Syntax => keyroll_core::Error::invalid(field, error.to_string()),
        TimestampError::OutOfRange => keyroll_core::Error::outside_policy(field, error.to_string()),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// The owning organisation: 1-64 of `A-Za-z0-9_-.:`.
    pub organization_id: String,
    /// 1-100 printable characters.
    pub name: String,
    /// Up to 50 scopes of 1-64 of `A-Za-z0-9_-.:*/`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Requests per second allowed to the key, at least 1.
    #[schema(minimum = 1, maximum = 4294967295u64)]
    pub rate_limit: u32,
    #[serde(default)]
    pub class: KeyClass,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleRotationRequest {
    /// Why; recorded in the audit trail and sent to the customer. At most 500 characters.
    pub reason: Option<String>,
    /// Grace after the start during which the old secret still works; within the key
    /// class's policy bounds. Default: the class's default grace.
    #[schema(minimum = 0)]
    pub grace_period_seconds: Option<u64>,
    /// When the new secret becomes current (RFC 3339). Default: now + 24 h.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_at: Option<String>,
    /// Start now (cannot be combined with `scheduledAt`).
    #[serde(default)]
    pub immediate: bool,
    /// Customer self-service: the new secret is not in this response; it waits in
    /// Secrets Manager for the customer's client to fetch once with its old secret
    /// (`GET /v1/self/successor`), or for an operator's reveal.
    #[serde(default)]
    pub self_service: bool,
    /// Complete the rotation early once the new secret is in use and the old one has
    /// not been used for this long (60 s to 365 days).
    #[schema(minimum = 60)]
    pub complete_when_unused_seconds: Option<u64>,
    /// Embedded keys: while the old secret is still in use an hour before the grace
    /// ends, extend the grace by `KEYROLL_EMBEDDED_EXTENSION_STEP_SECONDS`, up to the
    /// class's hard maximum.
    #[serde(default)]
    pub auto_extend: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmergencyRotationRequest {
    /// Required: why the secret is presumed compromised.
    pub reason: String,
    /// 0 (the old secret dies now) up to the emergency maximum. Default 14400 (4 h).
    #[schema(minimum = 0)]
    pub grace_period_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelRotationRequest {
    /// Why; recorded in the audit trail. Required with `force`.
    pub reason: Option<String>,
    /// Cancel even though the rotation's held new secret was already handed out
    /// (revealed, or fetched by the customer): it is revoked, and a client already
    /// using it breaks. Without it such a cancellation is refused (409, saying when
    /// the secret was handed out).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteRotationRequest {
    /// Why; recorded in the audit trail. Required with `force`.
    pub reason: Option<String>,
    /// End the grace even though the rotation's held new secret has not been delivered
    /// to anyone (revealed, or fetched by the customer): an operator's decision, audited
    /// with the reason. Without it such a completion is refused (409).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtendRotationRequest {
    /// Seconds added to the grace; the total stays within the class's maximum.
    #[schema(minimum = 1)]
    pub grace_period_seconds: u64,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The secret as presented to the company's API.
    pub secret: String,
}

// ---------- responses ----------

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersionView {
    pub version: u32,
    /// The shareable start of the secret, e.g. `sk_live_3fA9kQ2z`.
    pub prefix: String,
    pub stage: SecretStage,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// When the secret last verified, to the minute (recorded at most once a minute).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// Verifications per UTC day over the last 7 days (`{"2026-11-25": 1234}`); shown
    /// for the newest versions only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_uses: Option<std::collections::BTreeMap<String, u64>>,
}

impl From<&SecretVersion> for SecretVersionView {
    fn from(v: &SecretVersion) -> Self {
        Self {
            version: v.version,
            prefix: v.prefix.clone(),
            stage: v.stage,
            created_at: v.created_at,
            expires_at: v.expires_at,
            revoked_at: v.revoked_at,
            last_used_at: v.last_used_at,
            daily_uses: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit: u32,
    pub class: KeyClass,
    pub status: KeyStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
    pub active_rotation_id: Option<String>,
    pub versions: Vec<SecretVersionView>,
}

impl KeyView {
    /// The key with what is known of its secrets' use.
    pub fn with_usage(key: &Key, usage: &[keyroll_core::service::SecretUsage]) -> Self {
        let mut view = Self::from(key);
        for version in &mut view.versions {
            if let Some(used) = usage.iter().find(|u| u.version == version.version) {
                version.last_used_at = used.last_used_at;
                version.daily_uses = Some(used.daily_uses.clone());
            }
        }
        view
    }
}

impl From<&Key> for KeyView {
    fn from(key: &Key) -> Self {
        Self {
            id: key.id.to_string(),
            organization_id: key.organization_id.to_string(),
            name: key.name.to_string(),
            scopes: key.scopes.iter().map(ToString::to_string).collect(),
            rate_limit: key.rate_limit,
            class: key.class,
            status: key.status,
            created_at: key.created_at,
            created_by: key.created_by.to_string(),
            active_rotation_id: key.active_rotation.as_ref().map(ToString::to_string),
            versions: key.versions.iter().map(SecretVersionView::from).collect(),
        }
    }
}

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
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    pub key: KeyView,
}

/// A new key and its first secret. The secret is shown here only: store it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyWithSecretResponse {
    pub key: KeyView,
    pub secret: String,
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub action: AuditAction,
    pub reason: Option<String>,
    pub rotation_id: Option<String>,
    /// The state before the change (null for the first event of a key).
    #[schema(value_type = Option<Object>)]
    pub before: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub after: serde_json::Value,
    /// Hex SHA-256 of the previous event (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this event's canonical JSON.
    pub hash: String,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor.to_string(),
            action: e.action,
            reason: e.reason.as_ref().map(ToString::to_string),
            rotation_id: e.rotation_id.as_ref().map(ToString::to_string),
            before: e.before.clone(),
            after: e.after.clone(),
            prev_hash: e.prev_hash.to_hex(),
            hash: e.hash.to_hex(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditResponse {
    pub key_id: String,
    pub events: Vec<AuditEventView>,
    /// Where the next page starts (`cursor`), while there is one.
    pub next_cursor: Option<String>,
    /// Whether the whole chain (every page) is intact up to the key's head.
    pub chain_valid: bool,
    pub chain: ChainReport,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    Valid,
    Malformed,
    NotFound,
    Expired,
    Revoked,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: VerifyCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<SecretStage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

/// Who a response is for. A customer sees their own users and keyroll's jobs by name,
/// and the API provider's operators (IAM principals, the local admin) as `provider`:
/// the provider's account and role names are not the customer's to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Operator,
    Customer,
}

/// How the API provider's operators appear to customers.
pub const PROVIDER: &str = "provider";

impl Viewer {
    /// Whom a request by `actor` is answered for.
    pub fn of(actor: &keyroll_core::ids::Actor) -> Self {
        if actor.customer_subject().is_some() {
            Viewer::Customer
        } else {
            Viewer::Operator
        }
    }

    /// `actor` as this viewer may see it.
    pub fn actor(self, actor: &str) -> String {
        let named =
            actor.starts_with(keyroll_core::ids::CUSTOMER_PREFIX) || actor.starts_with("keyroll:");
        match self {
            Viewer::Customer if !named => PROVIDER.to_owned(),
            _ => actor.to_owned(),
        }
    }
}

impl KeyView {
    pub fn seen_by(mut self, viewer: Viewer) -> Self {
        self.created_by = viewer.actor(&self.created_by);
        self
    }
}

impl RotationView {
    pub fn seen_by(mut self, viewer: Viewer) -> Self {
        self.actor = viewer.actor(&self.actor);
        self
    }
}

impl AuditEventView {
    pub fn seen_by(mut self, viewer: Viewer) -> Self {
        self.actor = viewer.actor(&self.actor);
        self
    }
}
