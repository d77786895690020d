//! Keys and their secret versions.
//!
//! A key is a stable identity (`key_…`) with an owner, scopes, a rate limit and a
//! class. Rotation replaces the key's *secret*, never the key: the id, scopes, rate
//! limit and history survive. Each secret is a [`SecretVersion`] with a stage.

use serde::{Deserialize, Serialize};

use crate::audit::AuditHash;
use crate::error::{Error, Result};
use crate::ids::{Actor, KeyId, KeyName, OrganizationId, RotationId, Scope};
use crate::secret::{LookupHash, Verifier};
use crate::time::Timestamp;

/// Where a key lives, which decides its rotation policy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyClass {
    /// Used by customers' servers: can be swapped in hours.
    #[default]
    Server,
    /// Shipped inside customers' mobile apps: swapping needs an app release.
    Embedded,
}

impl KeyClass {
    pub const ALL: [KeyClass; 2] = [KeyClass::Server, KeyClass::Embedded];

    /// The name used in the API, the table's index keys, CSV and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyClass::Server => "server",
            KeyClass::Embedded => "embedded",
        }
    }
}

impl std::fmt::Display for KeyClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyStatus {
    Active,
    Revoked,
    /// Past its `expiresAt`: no secret of it verifies (from that second, whether or not
    /// the processor has marked it yet).
    Expired,
}

impl KeyStatus {
    pub const ALL: [KeyStatus; 3] = [KeyStatus::Active, KeyStatus::Revoked, KeyStatus::Expired];

    /// The name used in the API and the table's index keys.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
        }
    }
}

/// The stage of one secret version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SecretStage {
    /// The key's main secret.
    Current,
    /// Minted by a scheduled rotation that has not started; already valid.
    Pending,
    /// Replaced by a rotation; valid until its `expires_at` (end of the grace).
    Previous,
    /// Never valid again.
    Revoked,
}

impl SecretStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretStage::Current => "current",
            SecretStage::Pending => "pending",
            SecretStage::Previous => "previous",
            SecretStage::Revoked => "revoked",
        }
    }
}

/// Where a secret version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SecretOrigin {
    /// Minted by keyroll: has a checksum and a scrypt verifier.
    #[default]
    Generated,
    /// Imported from the old system: verified by its SHA-256 lookup hash alone.
    Imported,
}

/// The answer to "is this secret good right now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Validity {
    Valid,
    Expired,
    Revoked,
}

/// The verification rule, in one place: a secret is valid while its stage is not
/// revoked and its expiry, if any, is still in the future — to the second, whether or
/// not any background job has run since.
pub fn validity(stage: SecretStage, expires_at: Option<Timestamp>, now: Timestamp) -> Validity {
    match (stage, expires_at) {
        (SecretStage::Revoked, _) => Validity::Revoked,
        (_, Some(expiry)) if now >= expiry => Validity::Expired,
        _ => Validity::Valid,
    }
}

/// One secret of a key. Holds what may be shown (prefix, times, stage) and the lookup
/// hash that links it to its verification record; never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    pub version: u32,
    pub prefix: String,
    pub lookup_hash: LookupHash,
    pub stage: SecretStage,
    #[serde(default)]
    pub origin: SecretOrigin,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

/// How many revoked versions a key keeps listed (the latest ones).
pub const RETAINED_REVOKED_VERSIONS: usize = 10;

impl SecretVersion {
    /// A version as it is created: no expiry, never revoked, never used.
    pub fn new(
        version: u32,
        prefix: String,
        lookup_hash: LookupHash,
        stage: SecretStage,
        origin: SecretOrigin,
        created_at: Timestamp,
    ) -> Self {
        Self {
            version,
            prefix,
            lookup_hash,
            stage,
            origin,
            created_at,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    pub fn validity(&self, now: Timestamp) -> Validity {
        validity(self.stage, self.expires_at, now)
    }

    /// Revokes the version now (idempotent).
    pub fn revoke(&mut self, now: Timestamp) {
        if self.stage != SecretStage::Revoked {
            self.stage = SecretStage::Revoked;
            self.revoked_at = Some(now);
        }
    }

    /// Brings the expiry forward to `deadline` if that is sooner; never later.
    pub fn expire_by(&mut self, deadline: Timestamp) {
        self.expires_at = Some(match self.expires_at {
            Some(existing) => existing.min(deadline),
            None => deadline,
        });
    }
}

/// An API key. `revision` counts the audit events of the key and is the guard of
/// every conditional write: a change applies only to the revision it was planned on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub id: KeyId,
    pub organization_id: OrganizationId,
    pub name: KeyName,
    pub scopes: Vec<Scope>,
    pub rate_limit: u32,
    pub class: KeyClass,
    pub status: KeyStatus,
    pub created_at: Timestamp,
    pub created_by: Actor,
    pub versions: Vec<SecretVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_rotation: Option<RotationId>,
    pub revision: u64,
    /// When the key was revoked through keyroll (an imported revoked key has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// The API company's own labels (its customer id, a plan, a team): a flat map of
    /// at most 16 entries, never read by keyroll.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
    /// When every secret of the key stops verifying, whatever their own expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// The `expires_at` the customer was warned about (`key.expiring`); a new expiry
    /// is warned about again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warned_for: Option<Timestamp>,
    /// When the processor next looks at the key's expiry (stamped by the commit path
    /// from [`Key::expiry_due_at`]): the expiry index's sort key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_check_at: Option<Timestamp>,
    /// Committed changes of the key, with or without an audit event. Every change is
    /// guarded by it, so one that records no event (a usage check, a re-stamp) is still
    /// ordered against every other: a change planned before it is refused.
    #[serde(default)]
    pub writes: u64,
    /// When the organisation's users or clients started the key's rotations in the
    /// last hour (its per-hour limit's window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customer_rotations_at: Vec<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<AuditHash>,
    /// The keyed MAC of the audit head, written with it: the head's hash commits to
    /// every event before it, so this authenticates the whole chain against anyone who
    /// can write the table but not use the MAC key. `None` on keys last changed before
    /// chains were authenticated (verified by their hashes alone until their next
    /// change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head_mac: Option<crate::audit::HeadMac>,
    /// The secret version the customer was last warned about (`key.expiring`), so
    /// each version is warned about once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warned_version: Option<u32>,
    /// Where the key stood against the maximum-age rule when it was last written
    /// (stamped on every change, and by the daily scan when only time has passed): what
    /// the compliance index and totals hold. `None` before the key's first stamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<KeyComplianceStatus>,
    /// Since when the current version has been current (stamped with the status): a
    /// pending secret made current later keeps its creation time, and the compliance
    /// report's cursor needs to know the key moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_since: Option<CurrentSince>,
    /// The public key the key's successors are encrypted to, for its client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_key: Option<crate::delivery_key::DeliveryKey>,
}

/// When a version became the key's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentSince {
    pub version: u32,
    pub at: Timestamp,
}

impl Key {
    pub fn version(&self, number: u32) -> Option<&SecretVersion> {
        self.versions.iter().find(|v| v.version == number)
    }

    pub fn version_mut(&mut self, number: u32) -> Option<&mut SecretVersion> {
        self.versions.iter_mut().find(|v| v.version == number)
    }

    pub fn current(&self) -> Option<&SecretVersion> {
        self.versions
            .iter()
            .find(|v| v.stage == SecretStage::Current)
    }

    pub fn next_version_number(&self) -> u32 {
        self.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1
    }

    /// When the secret that compliance measures was created: the current secret's
    /// creation time, while the key is active.
    pub fn current_secret_created_at(&self) -> Option<Timestamp> {
        match self.status {
            KeyStatus::Active => self.current().map(|v| v.created_at),
            KeyStatus::Revoked | KeyStatus::Expired => None,
        }
    }

    /// When `version`'s verification record stops verifying: its own expiry or the
    /// key's, whichever comes first.
    pub fn record_expiry(&self, version: &SecretVersion) -> Option<Timestamp> {
        match (version.expires_at, self.expires_at) {
            (Some(own), Some(key)) => Some(own.min(key)),
            (own, key) => own.or(key),
        }
    }

    /// Whether the key's own expiry has passed at `now`.
    pub fn has_expired(&self, now: Timestamp) -> bool {
        self.status == KeyStatus::Expired || self.expires_at.is_some_and(|at| now >= at)
    }

    /// When the processor next has to look at the key's expiry: to warn the customer
    /// `warn_ahead_seconds` before it (once per expiry), then to mark it expired.
    pub fn expiry_due_at(&self, warn_ahead_seconds: u64) -> Option<Timestamp> {
        let expires_at = self
            .expires_at
            .filter(|_| self.status == KeyStatus::Active)?;
        if self.expiry_warned_for == Some(expires_at) {
            return Some(expires_at);
        }
        Some(expires_at.minus_seconds(warn_ahead_seconds))
    }

    /// Versions that still authenticate at `now`.
    pub fn valid_versions(&self, now: Timestamp) -> impl Iterator<Item = &SecretVersion> {
        self.versions
            .iter()
            .filter(move |v| v.validity(now) == Validity::Valid)
    }

    // The transitions of a key's secret versions. Each rotation rule is one of these,
    // so the stage rules live in one place.

    /// A scheduled rotation mints `successor` (already valid, `pending`) and gives the
    /// `old` version its deadline, never a later one than it had.
    pub fn add_successor(&mut self, successor: SecretVersion, old: u32, deadline: Timestamp) {
        self.prune_revoked();
        self.versions.push(successor);
        if let Some(v) = self.version_mut(old) {
            v.expire_by(deadline);
        }
    }

    /// The version becomes current; every other current one becomes previous.
    pub fn promote(&mut self, version: u32) {
        for v in self.versions.iter_mut() {
            if v.version == version {
                v.stage = SecretStage::Current;
            } else if v.stage == SecretStage::Current {
                v.stage = SecretStage::Previous;
            }
        }
    }

    /// Ends a grace: every secret but the current one is revoked.
    pub fn revoke_all_but_current(&mut self, now: Timestamp) {
        for v in self
            .versions
            .iter_mut()
            .filter(|v| v.stage != SecretStage::Current)
        {
            v.revoke(now);
        }
        self.prune_revoked();
    }

    /// Forgets all but the latest [`RETAINED_REVOKED_VERSIONS`] revoked versions. The
    /// key is one DynamoDB item (at most 400 KB, past which no write to it succeeds,
    /// an emergency rotation's included); a key rotated daily would reach that in about
    /// four years. Nothing needs the old entries: a revoked secret's own record
    /// (`SECRET#`) still answers `REVOKED`, the audit trail keeps every change, and
    /// version numbers keep counting from the highest ever issued, which is never
    /// pruned (a key's live versions are newer than any revoked one it forgets).
    pub fn prune_revoked(&mut self) {
        let mut revoked: Vec<u32> = self
            .versions
            .iter()
            .filter(|v| v.stage == SecretStage::Revoked)
            .map(|v| v.version)
            .collect();
        if revoked.len() <= RETAINED_REVOKED_VERSIONS {
            return;
        }
        revoked.sort_unstable();
        let keep_from = revoked[revoked.len() - RETAINED_REVOKED_VERSIONS];
        let newest = self.versions.iter().map(|v| v.version).max();
        self.versions.retain(|v| {
            v.stage != SecretStage::Revoked || v.version >= keep_from || Some(v.version) == newest
        });
    }

    /// An emergency: every live secret becomes previous and dies at `deadline` at the
    /// latest (at once when `deadline` is `now`); no secret's life is ever lengthened.
    /// The emergency's own new secret is added after this, as current.
    pub fn retire_every_secret_by(&mut self, deadline: Timestamp, now: Timestamp) {
        for v in self
            .versions
            .iter_mut()
            .filter(|v| v.stage != SecretStage::Revoked)
        {
            if deadline <= now {
                v.revoke(now);
            } else {
                v.stage = SecretStage::Previous;
                v.expire_by(deadline);
            }
        }
        self.prune_revoked();
    }

    /// Calls off a rotation that has not started: its new secret is revoked and the old
    /// one keeps working with no deadline.
    pub fn undo_successor(&mut self, old: u32, new: u32, now: Timestamp) {
        if let Some(v) = self.version_mut(new) {
            v.revoke(now);
        }
        if let Some(v) = self.version_mut(old) {
            v.expires_at = None;
        }
    }

    /// Moves a grace end (an extension): the old secret's expiry follows unless it is
    /// already revoked. Callers check that the grace has not ended yet.
    pub fn move_deadline(&mut self, old: u32, deadline: Timestamp) {
        if let Some(v) = self.version_mut(old) {
            if v.stage != SecretStage::Revoked {
                v.expires_at = Some(deadline);
            }
        }
    }

    /// A failed rotation that had not started: the old secret keeps working with no
    /// deadline if it still works now; an already expired one stays dead.
    pub fn lift_deadline_if_valid(&mut self, old: u32, now: Timestamp) {
        if let Some(v) = self.version_mut(old) {
            if v.validity(now) == Validity::Valid {
                v.expires_at = None;
            }
        }
    }
}

/// What verification reads: one record per secret, found by its lookup hash with a
/// single strongly consistent read. It repeats the key's owner, scopes and rate limit
/// and the version's stage and expiry, and every change to those rewrites it in the
/// same transaction as the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRecord {
    pub lookup_hash: LookupHash,
    pub key_id: KeyId,
    pub version: u32,
    pub organization_id: OrganizationId,
    pub scopes: Vec<Scope>,
    pub rate_limit: u32,
    pub class: KeyClass,
    pub stage: SecretStage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    pub origin: SecretOrigin,
    /// `None` for imported secrets, which only ever had a lookup hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<Verifier>,
    pub created_at: Timestamp,
    /// When this secret last verified, to the minute: written at most once a minute
    /// (see `usage`), so it may lag the newest use by up to a minute plus the uses a
    /// container has counted but not written yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// Verifications per UTC day (`YYYY-MM-DD`), for the last days only; always
    /// present (possibly empty) so a use can be added to one day in place.
    #[serde(default)]
    pub daily_uses: std::collections::BTreeMap<String, u64>,
    /// The version's shown prefix, for finding its key by what a customer quotes
    /// (absent on records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// keyroll's MAC of what the record is ([`SecretRecord::identity_message`]), set
    /// when it is created; absent on records from before records were authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_mac: Option<String>,
    /// keyroll's MAC of its state ([`SecretState::message`]), set at every change of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_mac: Option<String>,
}

/// The labels of a secret record's two MACs (HMAC-SHA-256 under the functions' derived
/// key, apart from audit heads' by label).
const IDENTITY_MAC_LABEL: &str = "keyroll-secret-identity-v1";
const STATE_MAC_LABEL: &str = "keyroll-secret-state-v1";

impl SecretRecord {
    pub fn new(key: &Key, version: &SecretVersion, verifier: Option<Verifier>) -> Self {
        Self {
            lookup_hash: version.lookup_hash,
            key_id: key.id.clone(),
            version: version.version,
            organization_id: key.organization_id.clone(),
            scopes: key.scopes.clone(),
            rate_limit: key.rate_limit,
            class: key.class,
            stage: version.stage,
            expires_at: key.record_expiry(version),
            origin: version.origin,
            verifier,
            created_at: version.created_at,
            last_used_at: version.last_used_at,
            daily_uses: Default::default(),
            prefix: Some(version.prefix.clone()),
            identity_mac: None,
            state_mac: None,
        }
    }

    pub fn validity(&self, now: Timestamp) -> Validity {
        validity(self.stage, self.expires_at, now)
    }

    /// What the identity MAC covers: what the record is, fixed at its creation — whose
    /// secret it is (key, version, organisation), how it verifies (origin, verifier),
    /// its class and when it was made. A record put by someone without the key, or one
    /// of these changed, fails it.
    pub fn identity_message(&self) -> Vec<u8> {
        let origin = match self.origin {
            SecretOrigin::Generated => "generated",
            SecretOrigin::Imported => "imported",
        };
        crate::mac::message(
            IDENTITY_MAC_LABEL,
            &[
                &self.lookup_hash.to_hex(),
                self.key_id.as_str(),
                &self.version.to_string(),
                self.organization_id.as_str(),
                origin,
                self.class.as_str(),
                self.verifier.as_ref().map_or("", |v| v.as_phc()),
                &self.created_at.to_rfc3339(),
            ],
        )
    }

    /// What the state MAC covers of this record as it reads ([`SecretState::message`]).
    pub fn state_message(&self) -> Vec<u8> {
        self.state()
            .message(&self.lookup_hash, &self.key_id, &self.organization_id)
    }

    /// The parts of the record its state MAC covers.
    pub fn state(&self) -> SecretState {
        SecretState {
            stage: self.stage,
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
            rate_limit: self.rate_limit,
        }
    }
}

/// The parts of a secret record that change after it is written: its own stage and
/// expiry, and what verification tells about its key (scopes, rate limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretState {
    pub stage: SecretStage,
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<Scope>,
    pub rate_limit: u32,
}

impl SecretState {
    /// What the state MAC covers: this state of the record of `lookup_hash`, which
    /// belongs to `key_id` of `organization` (so a state cannot be moved to another
    /// record, nor a record to another organisation).
    pub fn message(
        &self,
        lookup_hash: &LookupHash,
        key_id: &KeyId,
        organization: &OrganizationId,
    ) -> Vec<u8> {
        let expires = self.expires_at.map(Timestamp::to_rfc3339);
        let (hash, rate, count) = (
            lookup_hash.to_hex(),
            self.rate_limit.to_string(),
            self.scopes.len().to_string(),
        );
        let mut parts = vec![
            hash.as_str(),
            key_id.as_str(),
            organization.as_str(),
            self.stage.as_str(),
            expires.as_deref().unwrap_or(""),
            rate.as_str(),
            count.as_str(),
        ];
        parts.extend(self.scopes.iter().map(Scope::as_str));
        crate::mac::message(STATE_MAC_LABEL, &parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(seconds).unwrap()
    }

    #[test]
    fn expiry_holds_to_the_second() {
        let expiry = at(1_000);
        assert_eq!(
            validity(SecretStage::Previous, Some(expiry), at(999)),
            Validity::Valid
        );
        assert_eq!(
            validity(SecretStage::Previous, Some(expiry), at(1_000)),
            Validity::Expired
        );
        assert_eq!(
            validity(SecretStage::Current, None, at(i64::from(u32::MAX))),
            Validity::Valid
        );
        assert_eq!(
            validity(SecretStage::Revoked, None, at(0)),
            Validity::Revoked
        );
        assert_eq!(
            validity(SecretStage::Revoked, Some(expiry), at(999)),
            Validity::Revoked
        );
    }

    #[test]
    fn expire_by_never_lengthens_a_life() {
        let mut version = SecretVersion {
            version: 1,
            prefix: "sk_live_abcdefgh".into(),
            lookup_hash: LookupHash::of("x"),
            stage: SecretStage::Previous,
            origin: SecretOrigin::Generated,
            created_at: at(0),
            expires_at: Some(at(100)),
            revoked_at: None,
            last_used_at: None,
        };
        version.expire_by(at(500));
        assert_eq!(version.expires_at, Some(at(100)));
        version.expire_by(at(50));
        assert_eq!(version.expires_at, Some(at(50)));
        version.revoke(at(60));
        version.revoke(at(70));
        assert_eq!(version.revoked_at, Some(at(60)));
    }

    /// A key rotated 2,000 times (every tenth an emergency) stays a small item: its
    /// live versions and the latest 10 revoked ones; numbering carries on.
    #[test]
    fn a_key_rotated_two_thousand_times_stays_far_below_the_item_limit() {
        let mut key = crate::plan::fixtures::key(KeyClass::Server);
        let one_rotation = |key: &mut Key, n: i64| {
            let now = at(1_767_225_600 + n * 86_400);
            let number = key.next_version_number();
            let current = key.current().map(|v| v.version).unwrap();
            let successor = SecretVersion::new(
                number,
                format!("sk_live_{number:08}"),
                LookupHash::of(&number.to_string()),
                SecretStage::Pending,
                SecretOrigin::Generated,
                now,
            );
            if n % 10 == 0 {
                key.retire_every_secret_by(now, now);
                key.versions.push(SecretVersion {
                    stage: SecretStage::Current,
                    ..successor
                });
            } else {
                key.add_successor(successor, current, now.plus_seconds(3_600));
                key.promote(number);
                key.revoke_all_but_current(now.plus_seconds(3_600));
            }
        };
        let size = |key: &Key| serde_json::to_vec(key).unwrap().len();
        for n in 1..=2_000 {
            one_rotation(&mut key, n);
        }
        let revoked = key
            .versions
            .iter()
            .filter(|v| v.stage == SecretStage::Revoked)
            .count();
        assert_eq!(revoked, RETAINED_REVOKED_VERSIONS);
        assert_eq!(key.current().unwrap().version, 2_001);
        assert_eq!(key.next_version_number(), 2_002);
        // JSON of the whole key, attribute names included: what DynamoDB counts is of
        // the same order. The item limit is 400 KB.
        assert!(size(&key) < 8 * 1024, "{} bytes", size(&key));
    }
}

/// Where one active key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    pub const ALL: [KeyComplianceStatus; 4] = [
        Self::Compliant,
        Self::RotationInProgress,
        Self::RotationBlocked,
        Self::Overdue,
    ];

    /// Where `key` stands, given whether its rotation in progress is blocked, whether
    /// it covers the secret (starts in time: [`crate::rotation::Rotation::covers`]) and
    /// the oldest its class's secret may be; `None` when it is not active.
    pub fn of(key: &Key, blocked: bool, covered: bool, overdue_before: Timestamp) -> Option<Self> {
        let created_at = key.current_secret_created_at()?;
        Some(Self::at(created_at, covered, blocked, overdue_before))
    }

    /// The rule itself: a blocked rotation first, then the secret's age. A secret past
    /// its age with a rotation that covers it is in progress; a rotation that starts
    /// too late does not cover it, and the key is overdue.
    pub fn at(
        created_at: Timestamp,
        covered: bool,
        blocked: bool,
        overdue_before: Timestamp,
    ) -> Self {
        if blocked {
            Self::RotationBlocked
        } else if created_at >= overdue_before {
            Self::Compliant
        } else if covered {
            Self::RotationInProgress
        } else {
            Self::Overdue
        }
    }

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
