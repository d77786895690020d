//! The bodies of the key, rotation and verification requests.

use keyroll_core::ids::{KeyName, OrganizationId, Reason, Scope};
use keyroll_core::key::KeyClass;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// The owning organisation: 1-64 of `A-Za-z0-9_-.:`.
    #[schema(value_type = OrganizationId, inline)]
    pub organization_id: String,
    /// 1-100 printable characters.
    #[schema(value_type = KeyName, inline)]
    pub name: String,
    /// Up to 50 scopes of 1-64 of `A-Za-z0-9_-.:*/`.
    #[serde(default)]
    #[schema(value_type = Vec<Scope>, inline)]
    pub scopes: Vec<String>,
    /// Requests per second allowed to the key, at least 1.
    #[schema(minimum = 1, maximum = 4294967295u64)]
    pub rate_limit: u32,
    #[serde(default)]
    pub class: KeyClass,
    /// When the whole key stops verifying (RFC 3339, in the future): every secret of
    /// it answers `EXPIRED` from that second. Default: never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleRotationRequest {
    /// Why; recorded in the audit trail and sent to the customer. At most 500 characters.
    #[schema(value_type = Option<Reason>, inline)]
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
    /// When the old secret stops working. `deadline`: at the grace end. `when_moved`:
    /// once every caller seen on it has moved to the new secret or gone (not seen for 7
    /// days), it has been unused for `quietSeconds`, and the new secret was delivered.
    /// `when_faded` (embedded keys): once its share of the key's uses over 7 days is
    /// below `fadeBelowPercent` and its daily uses below `fadeBelowDailyUses`. Both wait
    /// no longer than the grace end plus the class's maximum grace (`retireBy`). Default
    /// `deadline`; policy rotations of embedded keys: `when_moved`. Not combined with
    /// `completeWhenUnusedSeconds` or `autoExtend`.
    pub retire: Option<RetireMode>,
    /// `when_moved`: how long the old secret must have gone unused (60 s to 7 days;
    /// default 3600).
    pub quiet_seconds: Option<u64>,
    /// `when_faded`: the old secret's share of the key's 7-day uses it must fall below,
    /// in percent (0.01 to 100; default 1).
    #[schema(minimum = 0.01, maximum = 100)]
    pub fade_below_percent: Option<f64>,
    /// `when_faded`: the old secret's daily uses it must fall below (default 100).
    pub fade_below_daily_uses: Option<u64>,
}

/// How a rotation's old secret retires (`retire`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetireMode {
    Deadline,
    WhenMoved,
    WhenFaded,
}

/// A delivery key to register: the public half of a P-256 key pair the key's client
/// holds (`{"kty": "EC", "crv": "P-256", "x": "…", "y": "…"}`). A private key (any `d`
/// member), another curve or type, or a point off the curve is a 422, never stored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryKeyRequest {
    #[schema(value_type = Object)]
    pub jwk: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmergencyRotationRequest {
    /// Required: why the secret is presumed compromised.
    #[schema(value_type = Reason, inline)]
    pub reason: String,
    /// 0 (the old secret dies now) up to the emergency maximum. Default 14400 (4 h).
    #[schema(minimum = 0)]
    pub grace_period_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(value_type = Option<Reason>, inline)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelRotationRequest {
    /// Why; recorded in the audit trail. Required with `force`.
    #[schema(value_type = Option<Reason>, inline)]
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
    #[schema(value_type = Option<Reason>, inline)]
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
    #[schema(value_type = Reason, inline)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeKeyRequest {
    /// Why; recorded in the audit trail and sent to the customer.
    #[schema(value_type = Reason, inline)]
    pub reason: String,
}

/// How far an organisation's offboarding got.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct OffboardingResponse {
    /// Keys this call revoked.
    pub revoked: u64,
    /// Active keys the organisation still has: call again to continue.
    pub remaining: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The secret as presented to the company's API.
    pub secret: String,
    /// Who presented it, as the company's backend saw the request: the use is
    /// attributed to this caller (its network, never the address, is kept).
    pub caller: Option<CallerHintsRequest>,
}

/// What the company's backend knows of its own caller. Each value is cut to 64
/// characters, control characters dropped.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallerHintsRequest {
    /// The caller's IP address (IPv4 or IPv6); only its /24 or /48 is kept.
    pub ip: Option<String>,
    /// Its User-Agent header; only the first product token is kept.
    pub user_agent: Option<String>,
    /// Its `Keyroll-Client` header.
    pub client: Option<String>,
    /// Its app version header.
    pub app_version: Option<String>,
}

impl CallerHintsRequest {
    /// The caller's fingerprint, or `None` when nothing was told.
    pub fn fingerprint(&self) -> Option<keyroll_core::callers::CallerFingerprint> {
        let caller =
            keyroll_core::callers::CallerFingerprint::of(&keyroll_core::callers::CallerHints {
                ip: self.ip.clone(),
                user_agent: self.user_agent.clone(),
                client: self.client.clone(),
                app_version: self.app_version.clone(),
            });
        (caller != Default::default()).then_some(caller)
    }
}
