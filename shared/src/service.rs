//! keyroll's operations: issue, import, schedule, emergency, cancel, complete, extend,
//! advance (the processor's step), verify and audit. Every operation reads the key,
//! plans the whole change with the rules of [`crate::rotation`] and [`crate::key`],
//! and commits it as one guarded [`KeyChange`]; when another writer got there first
//! it re-reads and re-plans, so a retried or racing call can never apply twice.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::audit::{verify_chain, AuditAction, AuditEvent, ChainHead, ChainReport};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::idempotency::IdempotencyIntent;
use crate::ids::{Actor, KeyId, KeyName, OrganizationId, Reason, RotationId, Scope};
use crate::key::{
    Key, KeyClass, KeyStatus, SecretOrigin, SecretRecord, SecretStage, SecretVersion, Validity,
};
use crate::notification::{Notification, NotificationType, OutboxMessage, SCHEMA_VERSION};
use crate::rotation::{Rotation, RotationCommand, RotationStatus, RotationTrigger};
use crate::secret::{LookupHash, MintedSecret, RawSecret, SecretShape, Verifier};
use crate::store::{ChangeBuilder, KeyChange, Store, StoreError};
use crate::time::{Clock, Timestamp};
use crate::vault::SecretVault;

/// How many times an operation re-reads and re-plans after losing a race.
const CONFLICT_ATTEMPTS: usize = 5;
pub const MAX_SCOPES: usize = 50;

/// Who is asking, and the idempotency key of their request if they sent one.
#[derive(Debug)]
pub struct Caller {
    pub actor: Actor,
    pub idempotency: Option<IdempotencyIntent>,
}

impl Caller {
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            idempotency: None,
        }
    }

    pub fn with_idempotency(mut self, intent: IdempotencyIntent) -> Self {
        self.idempotency = Some(intent);
        self
    }

    /// Adds the record of this caller's idempotent request to `change`.
    fn record_request(
        &self,
        change: &mut ChangeBuilder,
        resource_id: &str,
        status: u16,
        secret: Option<&RawSecret>,
        now: Timestamp,
    ) -> Result<()> {
        if let Some(intent) = &self.idempotency {
            change.set_idempotency(intent.record(resource_id, status, secret, now)?);
        }
        Ok(())
    }
}

impl From<&Actor> for Caller {
    fn from(actor: &Actor) -> Self {
        Caller::new(actor.clone())
    }
}

impl From<Actor> for Caller {
    fn from(actor: Actor) -> Self {
        Caller::new(actor)
    }
}

/// The first result of an idempotent request, to answer its retry with.
#[derive(Debug)]
pub struct Replay {
    pub resource_id: String,
    pub status: u16,
    pub secret: Option<RawSecret>,
}

/// A request to issue a key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub organization_id: OrganizationId,
    pub name: KeyName,
    pub scopes: Vec<Scope>,
    pub rate_limit: u32,
    pub class: KeyClass,
}

impl NewKey {
    /// Validates a key's attributes as they arrive from outside.
    pub fn parse(
        organization_id: &str,
        name: &str,
        scopes: &[String],
        rate_limit: u32,
        class: KeyClass,
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
        })
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

/// A request to rotate a key's secret on a schedule.
#[derive(Debug, Clone, Default)]
pub struct RotationRequest {
    pub reason: Option<Reason>,
    pub grace_seconds: Option<u64>,
    pub scheduled_at: Option<Timestamp>,
    pub immediate: bool,
    /// `Manual` from the API, `Policy` from the compliance scanner.
    pub policy_triggered: bool,
    /// Keep the new secret in the vault for the customer to fetch once
    /// (`GET /v1/self/successor`) instead of returning it to the caller.
    pub hold_for_customer: bool,
    /// Complete early once the old secret is unused this long and the new one is used.
    pub complete_when_unused_seconds: Option<u64>,
    /// Embedded keys: extend the grace while the old secret is still in use.
    pub auto_extend: bool,
}

/// A request to rotate a key at once because its secret may be compromised.
#[derive(Debug, Clone)]
pub struct EmergencyRequest {
    pub reason: Reason,
    pub grace_seconds: Option<u64>,
    /// `true` when a leak report triggered it rather than a person.
    pub from_leak_report: bool,
    /// For leak reports: the leaked secret's version. If a leak rotation of that very
    /// version is already under way, nothing new happens (a report is idempotent per
    /// token, even when two arrive at once).
    pub leaked_version: Option<u32>,
}

/// A new secret and the rotation that minted it. The secret is returned here only.
#[derive(Debug)]
pub struct RotationIssued {
    pub rotation: Rotation,
    pub secret: RawSecret,
}

/// A new key and its first secret. The secret is returned here only.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: Key,
    pub secret: RawSecret,
}

/// The answer to a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Not a keyroll secret at all (prefix, length, alphabet or checksum); no lookup.
    Malformed,
    NotFound,
    Valid(SecretRecord),
    Expired(SecretRecord),
    Revoked(SecretRecord),
}

impl Verification {
    pub fn code(&self) -> &'static str {
        match self {
            Verification::Malformed => "MALFORMED",
            Verification::NotFound => "NOT_FOUND",
            Verification::Valid(_) => "VALID",
            Verification::Expired(_) => "EXPIRED",
            Verification::Revoked(_) => "REVOKED",
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Verification::Valid(_))
    }
}

/// What one processor step did to one rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Advance {
    pub started: bool,
    pub reminded: bool,
    pub completed: bool,
    /// The grace moved because the old secret is still in use (embedded keys).
    pub extended: bool,
    /// A usage check found nothing to do yet and set the next one.
    pub checked: bool,
}

/// A key's audit trail and the verdict on its chain.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    pub events: Vec<AuditEvent>,
    pub report: ChainReport,
}

fn key_snapshot(key: &Key) -> Value {
    json!({
        "status": key.status,
        "activeRotation": key.active_rotation,
        "versions": key.versions.iter().map(|v| json!({
            "version": v.version,
            "prefix": v.prefix,
            "stage": v.stage,
            "expiresAt": v.expires_at,
        })).collect::<Vec<_>>(),
    })
}

fn rotation_snapshot(rotation: Option<&Rotation>) -> Value {
    match rotation {
        None => Value::Null,
        Some(r) => json!({
            "status": r.status,
            "trigger": r.trigger,
            "fromVersion": r.from_version,
            "toVersion": r.to_version,
            "scheduledAt": r.scheduled_at,
            "graceEndsAt": r.grace_ends_at,
            "completedAt": r.completed_at,
            "supersededBy": r.superseded_by,
        }),
    }
}

fn snapshot(key: &Key, rotation: Option<&Rotation>) -> Value {
    json!({ "key": key_snapshot(key), "rotation": rotation_snapshot(rotation) })
}

/// Records one state change: `before` is the state the builder and `rotation_before`
/// held, `after` what they hold now.
fn record(
    change: &mut ChangeBuilder,
    before: Value,
    rotation: &Rotation,
    at: Timestamp,
    actor: &Actor,
    action: AuditAction,
    reason: Option<&Reason>,
) {
    let after = snapshot(change.key(), Some(rotation));
    change.record(at, actor, action, reason, Some(&rotation.id), before, after);
    if let Some(kind) = notification_kind(action) {
        let key = change.key();
        let old_last_used = key
            .version(rotation.from_version)
            .and_then(|v| v.last_used_at);
        let notification = Notification {
            kind,
            schema_version: SCHEMA_VERSION,
            event_id: Notification::event_id(&key.id, key.revision),
            occurred_at: at,
            key_id: key.id.clone(),
            organization_id: key.organization_id.clone(),
            key_name: key.name.clone(),
            rotation_id: Some(rotation.id.clone()),
            old_prefix: Some(rotation.old_prefix.clone()),
            new_prefix: Some(rotation.new_prefix.clone()),
            deadline: (!rotation.status.is_final() || action == AuditAction::RotationCompleted)
                .then_some(rotation.grace_ends_at),
            reason: reason.cloned(),
            trigger: Some(rotation.trigger),
            old_secret_last_used_at: old_last_used,
            old_secret_used_in_last_24h: crate::notification::used_in_last_24h(old_last_used, at),
        };
        change.enqueue(
            at,
            OutboxMessage::Notify {
                notification: Box::new(notification),
            },
        );
    }
    // A secret held for its one reveal is deleted when its rotation ends (a leak
    // rotation's is kept until revealed: see Rotation::holds_secret).
    if rotation.status.is_final() && rotation.revealed_at.is_none() && !rotation.holds_secret() {
        if let Some(name) = &rotation.vault_secret {
            change.enqueue(at, OutboxMessage::DeleteVaultSecret { name: name.clone() });
        }
    }
}

/// Which state changes the customer hears about.
fn notification_kind(action: AuditAction) -> Option<NotificationType> {
    match action {
        AuditAction::RotationScheduled => Some(NotificationType::RotationScheduled),
        AuditAction::RotationStarted => Some(NotificationType::RotationStarted),
        AuditAction::RotationReminded => Some(NotificationType::RotationReminder),
        AuditAction::RotationCompleted => Some(NotificationType::RotationCompleted),
        AuditAction::RotationCancelled | AuditAction::RotationSuperseded => {
            Some(NotificationType::RotationCancelled)
        }
        AuditAction::RotationExtended => Some(NotificationType::RotationExtended),
        AuditAction::RotationEmergency => Some(NotificationType::RotationEmergency),
        AuditAction::KeyCreated
        | AuditAction::KeyImported
        | AuditAction::RotationFailed
        | AuditAction::RotationRevealed
        | AuditAction::KeyExpiryWarned => None,
    }
}

/// The reminder time for a grace ending at `grace_ends_at`: `lead` before it, if that
/// is after the rotation starts.
fn reminder_for(scheduled_at: Timestamp, grace_ends_at: Timestamp, lead: u64) -> Option<Timestamp> {
    let at = grace_ends_at.minus_seconds(lead);
    (lead > 0 && at > scheduled_at).then_some(at)
}

/// The secret becomes current; every other current secret becomes previous.
fn promote(key: &mut Key, version: u32) {
    for v in key.versions.iter_mut() {
        if v.version == version {
            v.stage = SecretStage::Current;
        } else if v.stage == SecretStage::Current {
            v.stage = SecretStage::Previous;
        }
    }
}

/// Ends a rotation's grace: every secret but the current one is revoked.
fn revoke_all_but_current(key: &mut Key, now: Timestamp) {
    for v in key
        .versions
        .iter_mut()
        .filter(|v| v.stage != SecretStage::Current)
    {
        v.revoke(now);
    }
}

/// What a leak report found about one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakVerdict {
    /// A keyroll secret; `rotation` is the emergency rotation this report started
    /// (`None` when the secret was already dead or already being rotated for a leak).
    TruePositive {
        key_id: KeyId,
        rotation: Option<RotationId>,
    },
    /// Not a keyroll secret.
    FalsePositive,
}

/// The longest a verification waits for its (once a minute) use write.
pub const USE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// How many of a key's newest secret versions [`Keyroll::key_with_usage`] reads.
pub const USAGE_VERSIONS: usize = 4;

/// What is known of a secret version's use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUsage {
    pub version: u32,
    pub last_used_at: Option<Timestamp>,
    pub daily_uses: std::collections::BTreeMap<String, u64>,
}

pub struct Keyroll {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    vault: Option<Arc<dyn SecretVault>>,
    usage: crate::usage::UsageTracker,
}

impl Keyroll {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Arc<Config>) -> Self {
        Self {
            store,
            clock,
            config,
            vault: None,
            usage: crate::usage::UsageTracker::new(),
        }
    }

    /// Adds the vault that holds secrets minted for rotations nobody asked for.
    pub fn with_vault(mut self, vault: Arc<dyn SecretVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    pub fn vault(&self) -> Option<&Arc<dyn SecretVault>> {
        self.vault.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Mints a secret and its verifier; scrypt runs on a blocking thread.
    async fn mint(&self) -> Result<(MintedSecret, Verifier)> {
        let format = self.config.secret_format.clone();
        let params = self.config.verifier;
        tokio::task::spawn_blocking(move || {
            let minted = format.generate();
            let verifier = Verifier::derive(&minted.secret, params)?;
            Ok((minted, verifier))
        })
        .await
        .map_err(|e| Error::Internal(format!("minting task: {e}")))?
    }

    async fn load_key(&self, id: &KeyId) -> Result<Key> {
        self.store
            .key(id)
            .await?
            .ok_or_else(|| Error::not_found("key", id))
    }

    pub async fn key(&self, id: &KeyId) -> Result<Key> {
        self.load_key(id).await
    }

    /// A key with the recorded use of its most recent secret versions
    /// ([`USAGE_VERSIONS`] of them: the current, pending and previous ones and the last
    /// retired), read from their secret records concurrently.
    pub async fn key_with_usage(&self, id: &KeyId) -> Result<(Key, Vec<SecretUsage>)> {
        let key = self.load_key(id).await?;
        let recent = key.versions.iter().rev().take(USAGE_VERSIONS);
        let reads = recent.map(|v| async move {
            let record = self.store.secret(&v.lookup_hash).await?;
            Ok::<_, Error>(record.map(|r| SecretUsage {
                version: v.version,
                last_used_at: r.last_used_at,
                daily_uses: r.daily_uses,
            }))
        });
        let usage = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok((key, usage))
    }

    pub async fn rotation(&self, id: &RotationId) -> Result<Rotation> {
        self.store
            .rotation(id)
            .await?
            .ok_or_else(|| Error::not_found("rotation", id))
    }

    /// Every rotation in progress (scheduled or in grace), soonest due first, with
    /// its key. Read from the due index, which holds exactly these.
    pub async fn rotations_in_progress(&self) -> Result<Vec<(Rotation, Key)>> {
        let mut due = Vec::new();
        for shard in 0..crate::store::INDEX_SHARDS {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .due_rotations(shard, Timestamp::MAX, after.as_ref(), 500)
                    .await?;
                let full = page.len() == 500;
                after = page.last().cloned();
                due.extend(page);
                if !full {
                    break;
                }
            }
        }
        due.sort();
        let mut out = Vec::new();
        for entry in due {
            // The index may lag: re-read, and skip what has ended meanwhile.
            let (Some(rotation), Some(mut key)) = (
                self.store.rotation(&entry.rotation_id).await?,
                self.store.key(&entry.key_id).await?,
            ) else {
                continue;
            };
            if rotation.is_in_progress() {
                // The secrets' records hold their latest use; the key's copy is only
                // refreshed when the processor acts.
                self.usage_of(&key, &rotation)
                    .await?
                    .copy_into(&mut key, &rotation);
                out.push((rotation, key));
            }
        }
        Ok(out)
    }

    /// Emergency and leak rotations started in the last `days` days, newest first.
    pub async fn recent_emergencies(&self, days: u64) -> Result<Vec<Rotation>> {
        let now = self.now();
        let since = now.minus_seconds(days * 86_400);
        let mut months = Vec::new();
        let mut at = now;
        loop {
            let month = at.to_rfc3339()[..7].to_owned();
            if !months.contains(&month) {
                months.push(month);
            }
            if at <= since {
                break;
            }
            at = at.minus_seconds(86_400).max(since);
        }
        let mut out = Vec::new();
        for month in months {
            for entry in self.store.emergencies(&month).await? {
                if entry.at >= since {
                    if let Some(rotation) = self.store.rotation(&entry.rotation_id).await? {
                        out.push(rotation);
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>> {
        self.load_key(key_id).await?;
        Ok(self.store.rotations_of(key_id).await?)
    }

    /// Commits `plan`'s change, re-planning from fresh reads when another writer won.
    async fn commit_with_retry<T, F, Fut>(&self, mut plan: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(Option<KeyChange>, T)>>,
    {
        for _ in 0..CONFLICT_ATTEMPTS {
            let (change, outcome) = plan().await?;
            let Some(change) = change else {
                return Ok(outcome);
            };
            match self.store.commit(change).await {
                Ok(()) => return Ok(outcome),
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::ConcurrentModification)
    }

    fn validate_new_key(&self, request: &NewKey) -> Result<()> {
        if request.scopes.len() > MAX_SCOPES {
            return Err(Error::invalid(
                "scopes",
                format!("at most {MAX_SCOPES} scopes"),
            ));
        }
        if request.rate_limit == 0 {
            return Err(Error::invalid("rateLimit", "must be at least 1"));
        }
        Ok(())
    }

    fn new_key(&self, request: NewKey, actor: &Actor, now: Timestamp, first: SecretVersion) -> Key {
        let mut scopes = request.scopes;
        scopes.sort();
        scopes.dedup();
        Key {
            id: KeyId::generate(),
            organization_id: request.organization_id,
            name: request.name,
            scopes,
            rate_limit: request.rate_limit,
            class: request.class,
            status: KeyStatus::Active,
            created_at: now,
            created_by: actor.clone(),
            versions: vec![first],
            active_rotation: None,
            revision: 0,
            audit_head: None,
            expiry_warned_version: None,
        }
    }

    /// Issues a key with its first secret.
    pub async fn issue_key(&self, request: NewKey, caller: impl Into<Caller>) -> Result<IssuedKey> {
        let caller = caller.into();
        let actor = &caller.actor;
        self.validate_new_key(&request)?;
        let (minted, verifier) = self.mint().await?;
        let now = self.now();
        let first = SecretVersion::new(
            1,
            minted.display_prefix.clone(),
            minted.lookup_hash,
            SecretStage::Current,
            SecretOrigin::Generated,
            now,
        );
        let key = self.new_key(request, actor, now, first.clone());
        let mut change = ChangeBuilder::create(key.clone());
        change.add_secret(SecretRecord::new(&key, &first, Some(verifier)));
        let after = snapshot(change.key(), None);
        change.record(
            now,
            actor,
            AuditAction::KeyCreated,
            None,
            None,
            Value::Null,
            after,
        );
        caller.record_request(&mut change, key.id.as_str(), 201, Some(&minted.secret), now)?;
        let change = change.finish();
        let key = change.key.clone();
        self.store.commit(change).await?;
        Ok(IssuedKey {
            key,
            secret: minted.secret,
        })
    }

    /// Imports a key from the old system by its lookup hash. Its secret keeps working
    /// (verified by hash alone) until it is rotated away.
    pub async fn import_legacy_key(
        &self,
        legacy: LegacyKey,
        caller: impl Into<Caller>,
    ) -> Result<Key> {
        let caller = caller.into();
        let actor = &caller.actor;
        self.validate_new_key(&legacy.key)?;
        let visible = &legacy.visible_prefix;
        if visible.len() != crate::secret::DISPLAY_CHARS
            || !visible
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(Error::invalid(
                "prefix",
                "must be the 8 lower-case hex characters after the legacy prefix",
            ));
        }
        let now = self.now();
        if legacy.created_at > now {
            return Err(Error::invalid("createdAt", "must not be in the future"));
        }
        let first = SecretVersion::new(
            1,
            self.config.secret_format.legacy_display_prefix(visible),
            legacy.lookup_hash,
            SecretStage::Current,
            SecretOrigin::Imported,
            legacy.created_at,
        );
        let mut first = first;
        if legacy.revoked {
            first.revoke(now);
        }
        let mut key = self.new_key(legacy.key, actor, now, first.clone());
        key.created_at = legacy.created_at;
        if let Some(id) = legacy.id {
            key.id = id;
        }
        if legacy.revoked {
            key.status = KeyStatus::Revoked;
        }
        let mut change = ChangeBuilder::create(key.clone());
        change.add_secret(SecretRecord::new(&key, &first, None));
        let after = snapshot(change.key(), None);
        change.record(
            now,
            actor,
            AuditAction::KeyImported,
            None,
            None,
            Value::Null,
            after,
        );
        caller.record_request(&mut change, key.id.as_str(), 201, None, now)?;
        let change = change.finish();
        let key = change.key.clone();
        match self.store.commit(change).await {
            Ok(()) => Ok(key),
            Err(StoreError::Conflict) => Err(Error::Conflict(
                "this secret has already been imported".into(),
            )),
            Err(other) => Err(other.into()),
        }
    }

    /// Schedules a rotation: the new secret is valid at once, the old one expires at
    /// start + grace, and the processor promotes and revokes on time.
    pub async fn schedule_rotation(
        &self,
        key_id: &KeyId,
        request: RotationRequest,
        caller: impl Into<Caller>,
    ) -> Result<RotationIssued> {
        let caller = &caller.into();
        let actor = &caller.actor;
        let now = self.now();
        if request.immediate && request.scheduled_at.is_some() {
            return Err(Error::invalid(
                "scheduledAt",
                "cannot be combined with immediate",
            ));
        }
        if let Some(at) = request.scheduled_at {
            if at < now {
                return Err(Error::invalid("scheduledAt", "must not be in the past"));
            }
        }
        let (minted, verifier) = self.mint().await?;
        let rotation_id = RotationId::generate();
        // Nobody is handed a policy rotation's secret: it waits in the vault for its
        // one reveal. It is stored before the change commits and removed again if the
        // change does not, so a committed rotation always has its secret.
        if let Some(n) = request.complete_when_unused_seconds {
            if !(60..=365 * 86_400).contains(&n) {
                return Err(Error::invalid(
                    "completeWhenUnusedSeconds",
                    "must be between 60 and 31536000",
                ));
            }
        }
        let vault_secret = if request.policy_triggered || request.hold_for_customer {
            Some(
                self.hold_in_vault(key_id, &rotation_id, &minted.secret)
                    .await?,
            )
        } else {
            None
        };
        let minted = &minted;
        let verifier = &verifier;
        let request = &request;
        let (rotation_id, vault_secret_ref) = (&rotation_id, &vault_secret);
        let outcome = self
            .commit_with_retry(|| async move {
                let now = self.now();
                let key = self.load_key(key_id).await?;
                let rules = self.config.policy.for_class(key.class);
                let grace = request.grace_seconds.unwrap_or(rules.default_grace_seconds);
                if !(rules.min_grace_seconds..=rules.max_grace_seconds).contains(&grace) {
                    return Err(Error::invalid(
                        "gracePeriodSeconds",
                        format!(
                            "must be between {} and {} for {} keys",
                            rules.min_grace_seconds,
                            rules.max_grace_seconds,
                            serde_json::to_value(key.class)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default()
                        ),
                    ));
                }
                if request.auto_extend && key.class != KeyClass::Embedded {
                    return Err(Error::invalid(
                        "autoExtend",
                        "only embedded keys extend their grace automatically",
                    ));
                }
                if key.status == KeyStatus::Revoked {
                    return Err(Error::Conflict(format!("key {key_id} is revoked")));
                }
                if let Some(active) = &key.active_rotation {
                    return Err(Error::RotationInProgress(active.clone()));
                }
                let old = key.current().cloned().ok_or_else(|| {
                    Error::Internal(format!("key {key_id} has no current secret"))
                })?;
                let start = if request.immediate {
                    now
                } else {
                    request
                        .scheduled_at
                        .unwrap_or(now.plus_seconds(self.config.policy.schedule_lead_seconds))
                };
                let grace_ends_at = start.plus_seconds(grace);
                let before = snapshot(&key, None);
                let mut change = ChangeBuilder::update(key);
                let new_version = SecretVersion::new(
                    change.key().next_version_number(),
                    minted.display_prefix.clone(),
                    minted.lookup_hash,
                    SecretStage::Pending,
                    SecretOrigin::Generated,
                    now,
                );
                let mut rotation = Rotation {
                    id: rotation_id.clone(),
                    key_id: key_id.clone(),
                    from_version: old.version,
                    to_version: new_version.version,
                    old_prefix: old.prefix.clone(),
                    new_prefix: new_version.prefix.clone(),
                    status: RotationStatus::Scheduled,
                    trigger: if request.policy_triggered {
                        RotationTrigger::Policy
                    } else {
                        RotationTrigger::Manual
                    },
                    reason: request
                        .reason
                        .clone()
                        .unwrap_or_else(|| Reason::system("scheduled rotation")),
                    actor: actor.clone(),
                    created_at: now,
                    scheduled_at: start,
                    grace_ends_at,
                    started_at: None,
                    completed_at: None,
                    cancelled_at: None,
                    superseded_by: None,
                    failure: None,
                    reminder_at: reminder_for(
                        start,
                        grace_ends_at,
                        self.config.policy.reminder_lead_seconds,
                    ),
                    reminded_at: None,
                    vault_secret: vault_secret_ref.clone(),
                    revealed_at: None,
                    complete_when_unused_seconds: request.complete_when_unused_seconds,
                    auto_extend: request.auto_extend,
                    usage_check_at: None,
                    self_service: request.hold_for_customer,
                };
                {
                    let key = change.key_mut();
                    key.versions.push(new_version.clone());
                    if let Some(v) = key.version_mut(old.version) {
                        v.expire_by(grace_ends_at);
                    }
                    key.active_rotation = Some(rotation.id.clone());
                }
                change.add_secret(SecretRecord::new(
                    change.key(),
                    &new_version,
                    Some(verifier.clone()),
                ));
                record(
                    &mut change,
                    before,
                    &rotation,
                    now,
                    actor,
                    AuditAction::RotationScheduled,
                    Some(&rotation.reason),
                );
                if request.immediate {
                    let reason = rotation.reason.clone();
                    self.start(&mut change, &mut rotation, now, actor, &reason)?;
                }
                // A held secret is not replayed to the caller either.
                let replayable = vault_secret_ref.is_none().then_some(&minted.secret);
                caller.record_request(&mut change, rotation.id.as_str(), 201, replayable, now)?;
                change.put_rotation(rotation.clone(), None);
                Ok((Some(change.finish()), rotation))
            })
            .await;
        let rotation = match outcome {
            Ok(rotation) => rotation,
            Err(error) => {
                self.release_vault(vault_secret.as_deref()).await;
                return Err(error);
            }
        };
        Ok(RotationIssued {
            rotation,
            secret: RawSecret::from_string(minted.secret.expose().to_owned()),
        })
    }

    /// Rotates now because the secret may be compromised. Every other secret of the
    /// key expires within the grace (0: revoked at once); a rotation in progress is
    /// closed as superseded; no secret's life is ever lengthened.
    pub async fn emergency_rotation(
        &self,
        key_id: &KeyId,
        request: EmergencyRequest,
        caller: impl Into<Caller>,
    ) -> Result<RotationIssued> {
        let caller = &caller.into();
        let actor = &caller.actor;
        let rules = self.config.policy.emergency;
        let grace = request.grace_seconds.unwrap_or(rules.default_grace_seconds);
        if grace > rules.max_grace_seconds {
            return Err(Error::invalid(
                "gracePeriodSeconds",
                format!(
                    "must be between 0 and {} for an emergency rotation",
                    rules.max_grace_seconds
                ),
            ));
        }
        let (minted, verifier) = self.mint().await?;
        let rotation_id = RotationId::generate();
        // Nobody is handed a leak rotation's secret (no person asked for it): it waits
        // in the vault for the key owner's reveal.
        let vault_secret = if request.from_leak_report {
            Some(
                self.hold_in_vault(key_id, &rotation_id, &minted.secret)
                    .await?,
            )
        } else {
            None
        };
        let (minted, verifier, request) = (&minted, &verifier, &request);
        let (rotation_id_ref, vault_secret_ref) = (&rotation_id, &vault_secret);
        let outcome = self
            .commit_with_retry(|| async move {
                let now = self.now();
                let key = self.load_key(key_id).await?;
                if key.status == KeyStatus::Revoked {
                    return Err(Error::Conflict(format!("key {key_id} is revoked")));
                }
                let old = key.current().cloned().ok_or_else(|| {
                    Error::Internal(format!("key {key_id} has no current secret"))
                })?;
                let superseded = match &key.active_rotation {
                    Some(id) => Some(self.store.rotation(id).await?.ok_or_else(|| {
                        Error::Internal(format!("key {key_id} points at missing rotation {id}"))
                    })?),
                    None => None,
                };
                if let Some(version) = request.leaked_version {
                    let live = key
                        .version(version)
                        .is_some_and(|v| v.validity(now) == Validity::Valid);
                    if !live {
                        return Err(Error::Conflict(
                            "the reported secret no longer works".into(),
                        ));
                    }
                }
                if let (Some(version), Some(active)) = (request.leaked_version, &superseded) {
                    // A leak rotation started after this version existed already replaced
                    // it (whether it was the current, a pending or a previous secret).
                    if active.trigger == RotationTrigger::Leak && active.to_version > version {
                        return Err(Error::Conflict(
                            "a leak rotation of this secret is already under way".into(),
                        ));
                    }
                }
                let deadline = now.plus_seconds(grace);
                let rotation_id = rotation_id_ref.clone();
                let mut change = ChangeBuilder::update(key);

                if let Some(mut previous) = superseded {
                    let before = snapshot(change.key(), Some(&previous));
                    let expected = previous.status;
                    previous.apply(RotationCommand::Supersede)?;
                    previous.cancelled_at = Some(now);
                    previous.superseded_by = Some(rotation_id.clone());
                    change.key_mut().active_rotation = None;
                    record(
                        &mut change,
                        before,
                        &previous,
                        now,
                        actor,
                        AuditAction::RotationSuperseded,
                        Some(&request.reason),
                    );
                    change.put_rotation(previous, Some(expected));
                }

                let before = snapshot(change.key(), None);
                let new_version = SecretVersion::new(
                    change.key().next_version_number(),
                    minted.display_prefix.clone(),
                    minted.lookup_hash,
                    SecretStage::Current,
                    SecretOrigin::Generated,
                    now,
                );
                {
                    let key = change.key_mut();
                    for v in key
                        .versions
                        .iter_mut()
                        .filter(|v| v.stage != SecretStage::Revoked)
                    {
                        if grace == 0 {
                            v.revoke(now);
                        } else {
                            v.stage = SecretStage::Previous;
                            v.expire_by(deadline);
                        }
                    }
                    key.versions.push(new_version.clone());
                }
                let mut rotation = Rotation {
                    id: rotation_id.clone(),
                    key_id: key_id.clone(),
                    from_version: old.version,
                    to_version: new_version.version,
                    old_prefix: old.prefix.clone(),
                    new_prefix: new_version.prefix.clone(),
                    status: RotationStatus::GracePeriod,
                    trigger: if request.from_leak_report {
                        RotationTrigger::Leak
                    } else {
                        RotationTrigger::Emergency
                    },
                    reason: request.reason.clone(),
                    actor: actor.clone(),
                    created_at: now,
                    scheduled_at: now,
                    grace_ends_at: deadline,
                    started_at: Some(now),
                    completed_at: None,
                    cancelled_at: None,
                    superseded_by: None,
                    failure: None,
                    reminder_at: None,
                    reminded_at: None,
                    vault_secret: vault_secret_ref.clone(),
                    revealed_at: None,
                    complete_when_unused_seconds: None,
                    auto_extend: false,
                    usage_check_at: None,
                    self_service: false,
                };
                change.key_mut().active_rotation = Some(rotation_id.clone());
                change.log_emergency(crate::store::EmergencyLogEntry {
                    at: now,
                    rotation_id: rotation_id.clone(),
                    key_id: key_id.clone(),
                });
                change.add_secret(SecretRecord::new(
                    change.key(),
                    &new_version,
                    Some(verifier.clone()),
                ));
                record(
                    &mut change,
                    before,
                    &rotation,
                    now,
                    actor,
                    AuditAction::RotationEmergency,
                    Some(&request.reason),
                );
                if grace == 0 {
                    let before = snapshot(change.key(), Some(&rotation));
                    rotation.apply(RotationCommand::Complete)?;
                    rotation.completed_at = Some(now);
                    change.key_mut().active_rotation = None;
                    record(
                        &mut change,
                        before,
                        &rotation,
                        now,
                        actor,
                        AuditAction::RotationCompleted,
                        Some(&request.reason),
                    );
                }
                let replayable = vault_secret_ref.is_none().then_some(&minted.secret);
                caller.record_request(&mut change, rotation.id.as_str(), 201, replayable, now)?;
                change.put_rotation(rotation.clone(), None);
                Ok((Some(change.finish()), rotation))
            })
            .await;
        let rotation = match outcome {
            Ok(rotation) => rotation,
            Err(error) => {
                self.release_vault(vault_secret.as_deref()).await;
                return Err(error);
            }
        };
        Ok(RotationIssued {
            rotation,
            secret: RawSecret::from_string(minted.secret.expose().to_owned()),
        })
    }

    /// Loads a rotation with its key, for the operations that change one.
    async fn load_rotation_and_key(&self, id: &RotationId) -> Result<(Rotation, Key)> {
        let rotation = self.rotation(id).await?;
        let key = self.load_key(&rotation.key_id).await?;
        Ok((rotation, key))
    }

    /// Calls off a rotation that has not started: its new secret is revoked and the
    /// old one keeps working with no deadline.
    pub async fn cancel_rotation(
        &self,
        id: &RotationId,
        reason: Option<Reason>,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        let caller = &caller.into();
        let actor = &caller.actor;
        let reason = &reason;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (mut rotation, key) = self.load_rotation_and_key(id).await?;
            let expected = rotation.status;
            let before = snapshot(&key, Some(&rotation));
            rotation.apply(RotationCommand::Cancel)?;
            // The processor may be late: once the grace has ended the old secret is
            // dead, and nothing may bring it back.
            if rotation.grace_ends_at <= now {
                return Err(Error::Conflict(
                    "the grace has ended and the old secret no longer works; complete the rotation instead".into(),
                ));
            }
            rotation.cancelled_at = Some(now);
            let mut change = ChangeBuilder::update(key);
            {
                let key = change.key_mut();
                if let Some(v) = key.version_mut(rotation.to_version) {
                    v.revoke(now);
                }
                if let Some(v) = key.version_mut(rotation.from_version) {
                    v.expires_at = None;
                }
                key.active_rotation = None;
            }
            let reason = reason
                .clone()
                .unwrap_or_else(|| Reason::system("cancelled"));
            record(
                &mut change,
                before,
                &rotation,
                now,
                actor,
                AuditAction::RotationCancelled,
                Some(&reason),
            );
            caller.record_request(&mut change, rotation.id.as_str(), 200, None, now)?;
            change.put_rotation(rotation.clone(), Some(expected));
            Ok((Some(change.finish()), rotation))
        })
        .await
    }

    /// Ends the grace now: the old secret is revoked (a scheduled rotation is started
    /// and completed in the same change).
    pub async fn complete_rotation(
        &self,
        id: &RotationId,
        reason: Option<Reason>,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        let caller = &caller.into();
        let actor = &caller.actor;
        let reason = &reason;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (mut rotation, key) = self.load_rotation_and_key(id).await?;
            let expected = rotation.status;
            rotation.status.after(RotationCommand::Complete)?;
            let mut change = ChangeBuilder::update(key);
            let reason = reason
                .clone()
                .unwrap_or_else(|| Reason::system("completed early"));
            if rotation.status == RotationStatus::Scheduled {
                self.start(&mut change, &mut rotation, now, actor, &reason)?;
            }
            self.complete(&mut change, &mut rotation, now, actor, &reason)?;
            caller.record_request(&mut change, rotation.id.as_str(), 200, None, now)?;
            change.put_rotation(rotation.clone(), Some(expected));
            Ok((Some(change.finish()), rotation))
        })
        .await
    }

    /// Gives a non-emergency rotation more grace, within the class's maximum.
    pub async fn extend_rotation(
        &self,
        id: &RotationId,
        add_seconds: u64,
        reason: Reason,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        let caller = &caller.into();
        let actor = &caller.actor;
        if add_seconds == 0 {
            return Err(Error::invalid("gracePeriodSeconds", "must be at least 1"));
        }
        let reason = &reason;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (mut rotation, key) = self.load_rotation_and_key(id).await?;
            if rotation.trigger.is_emergency() {
                return Err(Error::Conflict(
                    "an emergency rotation's grace cannot be extended".into(),
                ));
            }
            let expected = rotation.status;
            rotation.apply(RotationCommand::Extend)?;
            if rotation.grace_ends_at <= now {
                return Err(Error::Conflict(
                    "the grace has ended and the old secret no longer works: it cannot be extended"
                        .into(),
                ));
            }
            let rules = self.config.policy.for_class(key.class);
            let new_end = rotation.grace_ends_at.plus_seconds(add_seconds);
            let total = new_end.seconds_since(rotation.scheduled_at);
            if total > i64::try_from(rules.max_grace_seconds).unwrap_or(i64::MAX) {
                return Err(Error::invalid(
                    "gracePeriodSeconds",
                    format!(
                        "the grace would total {total} s, over the maximum of {} s",
                        rules.max_grace_seconds
                    ),
                ));
            }
            let before = snapshot(&key, Some(&rotation));
            let mut change = ChangeBuilder::update(key);
            self.move_grace_end(&mut change, &mut rotation, new_end);
            if rotation.status == RotationStatus::GracePeriod {
                rotation.usage_check_at = crate::rollover::first_check(&rotation);
            }
            record(
                &mut change,
                before,
                &rotation,
                now,
                actor,
                AuditAction::RotationExtended,
                Some(reason),
            );
            caller.record_request(&mut change, rotation.id.as_str(), 200, None, now)?;
            change.put_rotation(rotation.clone(), Some(expected));
            Ok((Some(change.finish()), rotation))
        })
        .await
    }

    /// Moves a rotation's grace end (extensions, by hand or automatic): the old
    /// secret's expiry follows, and the new deadline gets its own reminder.
    fn move_grace_end(
        &self,
        change: &mut ChangeBuilder,
        rotation: &mut Rotation,
        new_end: Timestamp,
    ) {
        rotation.grace_ends_at = new_end;
        rotation.reminder_at = reminder_for(
            rotation.scheduled_at,
            new_end,
            self.config.policy.reminder_lead_seconds,
        );
        rotation.reminded_at = None;
        if let Some(v) = change.key_mut().version_mut(rotation.from_version) {
            if v.stage != SecretStage::Revoked {
                v.expires_at = Some(new_end);
            }
        }
    }

    /// When the rotation's old and new secrets were last used, from their records.
    async fn usage_of(&self, key: &Key, rotation: &Rotation) -> Result<crate::rollover::Usage> {
        let last_used = |version: u32| {
            let hash = key.version(version).map(|v| v.lookup_hash);
            async move {
                Ok::<_, Error>(match hash {
                    Some(hash) => self.store.secret(&hash).await?.and_then(|r| r.last_used_at),
                    None => None,
                })
            }
        };
        let (old_last_used, new_last_used) = futures::try_join!(
            last_used(rotation.from_version),
            last_used(rotation.to_version)
        )?;
        Ok(crate::rollover::Usage {
            old_last_used,
            new_last_used,
        })
    }

    fn start(
        &self,
        change: &mut ChangeBuilder,
        rotation: &mut Rotation,
        now: Timestamp,
        actor: &Actor,
        reason: &Reason,
    ) -> Result<()> {
        let before = snapshot(change.key(), Some(rotation));
        rotation.apply(RotationCommand::Start)?;
        rotation.started_at = Some(now);
        rotation.usage_check_at = crate::rollover::first_check(rotation);
        promote(change.key_mut(), rotation.to_version);
        record(
            change,
            before,
            rotation,
            now,
            actor,
            AuditAction::RotationStarted,
            Some(reason),
        );
        Ok(())
    }

    fn complete(
        &self,
        change: &mut ChangeBuilder,
        rotation: &mut Rotation,
        now: Timestamp,
        actor: &Actor,
        reason: &Reason,
    ) -> Result<()> {
        let before = snapshot(change.key(), Some(rotation));
        rotation.apply(RotationCommand::Complete)?;
        rotation.completed_at = Some(now);
        let key = change.key_mut();
        revoke_all_but_current(key, now);
        key.active_rotation = None;
        record(
            change,
            before,
            rotation,
            now,
            actor,
            AuditAction::RotationCompleted,
            Some(reason),
        );
        Ok(())
    }

    /// The processor's step for one rotation: starts it if its time has come and
    /// completes it if its grace is over. Does nothing (and writes nothing) if neither
    /// is due, so a late or repeated run is harmless.
    pub async fn advance_rotation(&self, id: &RotationId) -> Result<Advance> {
        let actor = Actor::system("processor");
        let actor = &actor;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (mut rotation, key) = self.load_rotation_and_key(id).await?;
            let expected = rotation.status;
            let mut change = ChangeBuilder::update(key);
            let mut advance = Advance::default();
            if rotation.status == RotationStatus::Scheduled && rotation.scheduled_at <= now {
                self.start(
                    &mut change,
                    &mut rotation,
                    now,
                    actor,
                    &Reason::system("scheduled time reached"),
                )?;
                advance.started = true;
            }
            let in_grace = rotation.status == RotationStatus::GracePeriod;
            let check_due = rotation.usage_check_at.is_some_and(|at| at <= now);
            let remind_due = rotation.pending_reminder().is_some_and(|at| at <= now);
            if in_grace && (check_due || remind_due || rotation.grace_ends_at <= now) {
                // What the customer's clients are doing, for the decisions below and
                // for the notifications this step sends.
                let usage = self.usage_of(change.key(), &rotation).await?;
                usage.copy_into(change.key_mut(), &rotation);
                if check_due && rotation.grace_ends_at > now {
                    let rules = self.config.policy.for_class(change.key().class);
                    let step = if change.key().class == KeyClass::Embedded {
                        crate::rollover::decide(
                            &rotation,
                            &usage,
                            now,
                            rules.max_grace_seconds,
                            self.config.policy.embedded_extension_step_seconds,
                        )
                    } else {
                        let mut server = rotation.clone();
                        server.auto_extend = false;
                        crate::rollover::decide(&server, &usage, now, rules.max_grace_seconds, 0)
                    };
                    match step {
                        crate::rollover::Step::CompleteEarly { unused_for } => {
                            self.complete(
                                &mut change,
                                &mut rotation,
                                now,
                                actor,
                                &Reason::system(format!(
                                    "completed early: the new secret is in use and the old one has not been used for {unused_for} s"
                                )),
                            )?;
                            advance.completed = true;
                        }
                        crate::rollover::Step::Extend { to } => {
                            let before = snapshot(change.key(), Some(&rotation));
                            rotation.apply(RotationCommand::Extend)?;
                            self.move_grace_end(&mut change, &mut rotation, to);
                            rotation.usage_check_at = crate::rollover::first_check(&rotation);
                            let last = usage
                                .old_last_used
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default();
                            record(
                                &mut change,
                                before,
                                &rotation,
                                now,
                                actor,
                                AuditAction::RotationExtended,
                                Some(&Reason::system(format!(
                                    "extended automatically: the old secret is still in use (last used {last})"
                                ))),
                            );
                            advance.extended = true;
                        }
                        crate::rollover::Step::CheckAgainAt(next) => {
                            rotation.usage_check_at = next;
                            advance.checked = true;
                        }
                    }
                }
            }
            if rotation.status == RotationStatus::GracePeriod
                && rotation.grace_ends_at > now
                && rotation.pending_reminder().is_some_and(|at| at <= now)
            {
                let before = snapshot(change.key(), Some(&rotation));
                rotation.reminded_at = Some(now);
                record(
                    &mut change,
                    before,
                    &rotation,
                    now,
                    actor,
                    AuditAction::RotationReminded,
                    Some(&Reason::system("the grace period ends soon")),
                );
                advance.reminded = true;
            }
            if rotation.status == RotationStatus::GracePeriod && rotation.grace_ends_at <= now {
                self.complete(
                    &mut change,
                    &mut rotation,
                    now,
                    actor,
                    &Reason::system("grace period ended"),
                )?;
                advance.completed = true;
            }
            if advance == Advance::default() {
                // Not due (or already advanced by another run): write nothing.
                return Ok((None, advance));
            }
            change.put_rotation(rotation, Some(expected));
            Ok((Some(change.finish()), advance))
        })
        .await
    }

    /// Warns the customer, once per secret version, that the key's current secret
    /// reaches its maximum age at `deadline` (a policy rotation follows then). Returns
    /// whether a warning was recorded now.
    pub async fn warn_expiring(
        &self,
        key_id: &KeyId,
        deadline: Timestamp,
        reason: Reason,
    ) -> Result<bool> {
        let actor = Actor::system("scanner");
        let (actor, reason) = (&actor, &reason);
        self.commit_with_retry(|| async move {
            let now = self.now();
            let key = self.load_key(key_id).await?;
            let Some(current) = key.current().cloned() else {
                return Ok((None, false));
            };
            if key.status != KeyStatus::Active
                || key.active_rotation.is_some()
                || key.expiry_warned_version == Some(current.version)
            {
                return Ok((None, false));
            }
            let before = snapshot(&key, None);
            let mut change = ChangeBuilder::update(key);
            change.key_mut().expiry_warned_version = Some(current.version);
            let after = snapshot(change.key(), None);
            change.record(
                now,
                actor,
                AuditAction::KeyExpiryWarned,
                Some(reason),
                None,
                before,
                after,
            );
            let key = change.key();
            let notification = Notification {
                kind: NotificationType::KeyExpiring,
                schema_version: SCHEMA_VERSION,
                event_id: Notification::event_id(&key.id, key.revision),
                occurred_at: now,
                key_id: key.id.clone(),
                organization_id: key.organization_id.clone(),
                key_name: key.name.clone(),
                rotation_id: None,
                old_prefix: Some(current.prefix.clone()),
                new_prefix: None,
                deadline: Some(deadline),
                reason: Some(reason.clone()),
                trigger: None,
                old_secret_last_used_at: current.last_used_at,
                old_secret_used_in_last_24h: crate::notification::used_in_last_24h(
                    current.last_used_at,
                    now,
                ),
            };
            change.enqueue(
                now,
                OutboxMessage::Notify {
                    notification: Box::new(notification),
                },
            );
            Ok((Some(change.finish()), true))
        })
        .await
    }

    /// Gives up on a rotation that cannot be advanced (its state is inconsistent), so
    /// it stops failing every run. The key keeps every secret that was valid: a
    /// rotation that had not started leaves the old secret without a deadline, as if
    /// cancelled, while its new secret (possibly handed out already) stays valid.
    pub async fn fail_rotation(&self, id: &RotationId, failure: &str) -> Result<Rotation> {
        let actor = Actor::system("processor");
        let actor = &actor;
        let failure: String = failure.chars().take(500).collect();
        let failure = &failure;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (mut rotation, key) = self.load_rotation_and_key(id).await?;
            let expected = rotation.status;
            let before = snapshot(&key, Some(&rotation));
            rotation.apply(RotationCommand::Fail)?;
            rotation.failure = Some(failure.clone());
            let mut change = ChangeBuilder::update(key);
            {
                let key = change.key_mut();
                if expected == RotationStatus::Scheduled {
                    if let Some(v) = key.version_mut(rotation.from_version) {
                        // Still valid: it keeps working with no deadline. Already
                        // expired: it stays dead.
                        if v.validity(now) == Validity::Valid {
                            v.expires_at = None;
                        }
                    }
                }
                if key.active_rotation.as_ref() == Some(&rotation.id) {
                    key.active_rotation = None;
                }
            }
            record(
                &mut change,
                before,
                &rotation,
                now,
                actor,
                AuditAction::RotationFailed,
                Some(&Reason::system(format!("failed: {failure}"))),
            );
            change.put_rotation(rotation.clone(), Some(expected));
            Ok((Some(change.finish()), rotation))
        })
        .await
    }

    /// Acts on one token of a GitHub secret-scanning report: a live keyroll secret gets
    /// an emergency rotation (trigger `leak`, grace `KEYROLL_LEAK_GRACE_SECONDS`, the
    /// new secret held for the owner's reveal); a secret already dead, or already being
    /// rotated for a leak, is a true positive with nothing more to do; anything else is
    /// not ours.
    pub async fn report_leak(&self, token: &str, url: &str, source: &str) -> Result<LeakVerdict> {
        let record = match self.check_secret(token).await? {
            Verification::Malformed | Verification::NotFound => {
                return Ok(LeakVerdict::FalsePositive)
            }
            Verification::Expired(record) | Verification::Revoked(record) => {
                return Ok(LeakVerdict::TruePositive {
                    key_id: record.key_id,
                    rotation: None,
                })
            }
            Verification::Valid(record) => record,
        };
        let reason = Reason::system(format!(
            "leaked: reported by GitHub secret scanning at {} (source: {})",
            crate::leak::sanitized(url, 300),
            crate::leak::sanitized(source, 40)
        ));
        let request = EmergencyRequest {
            reason,
            grace_seconds: Some(self.config.policy.emergency.leak_grace_seconds),
            from_leak_report: true,
            leaked_version: Some(record.version),
        };
        let actor = Actor::system("github-secret-scanning");
        match self
            .emergency_rotation(&record.key_id, request, actor)
            .await
        {
            Ok(issued) => Ok(LeakVerdict::TruePositive {
                key_id: record.key_id,
                rotation: Some(issued.rotation.id),
            }),
            // Already rotated away by a concurrent report, or the key is revoked.
            Err(Error::Conflict(_)) => Ok(LeakVerdict::TruePositive {
                key_id: record.key_id,
                rotation: None,
            }),
            Err(error) => Err(error),
        }
    }

    /// Stores a new secret that nobody is handed for its one reveal, before the change
    /// that creates its rotation commits (so a committed rotation always has it).
    async fn hold_in_vault(
        &self,
        key_id: &KeyId,
        rotation_id: &RotationId,
        secret: &RawSecret,
    ) -> Result<String> {
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| Error::Config("holding a secret needs a secret vault".into()))?;
        let name = format!("{}{}", self.config.secret_name_prefix, rotation_id);
        vault
            .put(
                &name,
                secret,
                &[
                    ("keyroll:key", key_id.as_str()),
                    ("keyroll:rotation", rotation_id.as_str()),
                ],
            )
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(name)
    }

    /// Deletes a held secret whose rotation was not created after all.
    async fn release_vault(&self, name: Option<&str>) {
        if let (Some(vault), Some(name)) = (&self.vault, name) {
            if let Err(cleanup) = vault.delete(name).await {
                tracing::warn!(%cleanup, vault_secret_name = %name, "could not delete the vault secret of a rotation that was not created");
            }
        }
    }

    /// Customer self-service: the new secret of the rotation replacing `presented`,
    /// handed out once, to whoever proves they hold the old secret during a
    /// non-emergency rotation whose new secret is held for the customer. Refused for
    /// emergency and leak rotations: their old secret may be in an attacker's hands.
    pub async fn successor(&self, presented: &str) -> Result<(Rotation, RawSecret)> {
        let record = match self.verify(presented).await? {
            Verification::Valid(record) => record,
            _ => return Err(Error::Unauthenticated),
        };
        let key = self.load_key(&record.key_id).await?;
        let no_successor = || Error::not_found("successor for secret of key", &record.key_id);
        let Some(rotation_id) = key.active_rotation.clone() else {
            return Err(no_successor());
        };
        let rotation = self.rotation(&rotation_id).await?;
        if rotation.from_version != record.version {
            return Err(no_successor());
        }
        if rotation.trigger.is_emergency() {
            return Err(Error::Forbidden(
                "the old secret of an emergency or leak rotation is presumed compromised and cannot fetch its successor; the key's owner gets the new secret".into(),
            ));
        }
        if !rotation.self_service || rotation.vault_secret.is_none() {
            return Err(no_successor());
        }
        let actor = Actor::system_named(&format!("customer:{}", record.key_id));
        self.reveal_secret(&rotation_id, actor).await
    }

    /// Hands out, once, the secret a policy rotation minted and kept in the vault. A
    /// second reveal, or one after the rotation ended, is refused with 410.
    pub async fn reveal_secret(
        &self,
        id: &RotationId,
        caller: impl Into<Caller>,
    ) -> Result<(Rotation, RawSecret)> {
        let caller = &caller.into();
        let actor = &caller.actor;
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| Error::Config("no secret vault is configured".into()))?;
        let rotation = self.rotation(id).await?;
        let Some(name) = rotation.vault_secret.clone() else {
            return Err(Error::Conflict(
                "this rotation's secret was returned when it was created; keyroll keeps no copy"
                    .into(),
            ));
        };
        if rotation.revealed_at.is_some() {
            return Err(Error::Gone(
                "this rotation's secret has already been revealed".into(),
            ));
        }
        if !rotation.holds_secret() {
            return Err(Error::Gone(format!(
                "this rotation is {} and its secret has been deleted",
                rotation.status
            )));
        }
        let secret = vault
            .get(&name)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .ok_or_else(|| Error::Gone("this rotation's secret is no longer held".into()))?;
        let (name, secret_ref) = (&name, &secret);
        let revealed = self
            .commit_with_retry(|| async move {
                let now = self.now();
                let (mut rotation, key) = self.load_rotation_and_key(id).await?;
                if rotation.revealed_at.is_some() {
                    return Err(Error::Gone(
                        "this rotation's secret has already been revealed".into(),
                    ));
                }
                if !rotation.holds_secret() {
                    return Err(Error::Gone(
                        "this rotation has ended and its secret has been deleted".into(),
                    ));
                }
                let expected = rotation.status;
                let before = snapshot(&key, Some(&rotation));
                rotation.revealed_at = Some(now);
                let mut change = ChangeBuilder::update(key);
                record(
                    &mut change,
                    before,
                    &rotation,
                    now,
                    actor,
                    AuditAction::RotationRevealed,
                    None,
                );
                change.enqueue(now, OutboxMessage::DeleteVaultSecret { name: name.clone() });
                caller.record_request(
                    &mut change,
                    rotation.id.as_str(),
                    200,
                    Some(secret_ref),
                    now,
                )?;
                change.put_rotation(rotation.clone(), Some(expected));
                Ok((Some(change.finish()), rotation))
            })
            .await?;
        // The outbox deletes it too; deleting now keeps the copy's life short.
        if let Err(error) = vault.delete(name).await {
            tracing::warn!(%error, vault_secret_name = %name, "vault secret not deleted at reveal; the processor will retry");
        }
        Ok((revealed, secret))
    }

    /// The first result of an earlier request with the same idempotency key, if one
    /// committed and is still within the replay window. The same key with a different
    /// request is refused (422).
    pub async fn replay(&self, intent: &IdempotencyIntent) -> Result<Option<Replay>> {
        let Some(record) = self.store.idempotency(&intent.id).await? else {
            return Ok(None);
        };
        if !record.is_live(self.now()) {
            return Ok(None);
        }
        if record.fingerprint != intent.fingerprint {
            return Err(Error::invalid(
                "Idempotency-Key",
                "was already used with a different request; use a new key for a new request",
            ));
        }
        let secret = match &record.sealed_secret {
            Some(sealed) => Some(intent.open(sealed).ok_or_else(|| {
                Error::Internal("an idempotency record could not be opened".into())
            })?),
            None => None,
        };
        Ok(Some(Replay {
            resource_id: record.resource_id,
            status: record.status,
            secret,
        }))
    }

    /// Verifies a presented secret: format and checksum first (no I/O), then one
    /// strongly consistent read by lookup hash, then the stored verifier.
    pub async fn verify(&self, presented: &str) -> Result<Verification> {
        let verification = self.check_secret(presented).await?;
        if let Verification::Valid(record) = &verification {
            self.record_use(&record.lookup_hash).await;
        }
        Ok(verification)
    }

    /// [`Keyroll::verify`] without counting a use: for leak reports, which present a
    /// secret that nobody is using to call the API.
    pub async fn check_secret(&self, presented: &str) -> Result<Verification> {
        let shape = match self.config.secret_format.classify(presented) {
            Ok(shape) => shape,
            Err(_) => return Ok(Verification::Malformed),
        };
        let lookup_hash = LookupHash::of(presented);
        let Some(record) = self.store.secret(&lookup_hash).await? else {
            return Ok(Verification::NotFound);
        };
        let authentic = match (shape, record.origin, &record.verifier) {
            (SecretShape::Generated, SecretOrigin::Generated, Some(verifier)) => {
                let verifier = verifier.clone();
                let candidate = RawSecret::from_string(presented.to_owned());
                tokio::task::spawn_blocking(move || verifier.matches(candidate.expose()))
                    .await
                    .map_err(|e| Error::Internal(format!("verification task: {e}")))?
            }
            (SecretShape::Legacy, SecretOrigin::Imported, None) => {
                record.lookup_hash.ct_eq(&lookup_hash)
            }
            _ => false,
        };
        if !authentic {
            return Ok(Verification::NotFound);
        }
        Ok(match record.validity(self.now()) {
            Validity::Valid => Verification::Valid(record),
            Validity::Expired => Verification::Expired(record),
            Validity::Revoked => Verification::Revoked(record),
        })
    }

    /// Counts a successful verification; at most once a minute per secret (per
    /// container, and across containers by the write's condition) the counted uses are
    /// written. A failed write is logged and retried with the next minute's: usage is
    /// never a reason to refuse a valid secret.
    pub async fn record_use(&self, lookup_hash: &LookupHash) {
        let Some(record) = self.usage.count(*lookup_hash, self.now()) else {
            return;
        };
        // Bounded: a slow table must not hold up the answer to the caller.
        let write = self.store.record_use(lookup_hash, &record);
        let written = match tokio::time::timeout(USE_WRITE_TIMEOUT, write).await {
            Ok(Ok(written)) => written,
            Ok(Err(error)) => {
                tracing::warn!(%error, "recording a secret's last use failed; retried next minute");
                false
            }
            Err(_) => {
                tracing::warn!("recording a secret's last use timed out; retried next minute");
                false
            }
        };
        self.usage.settle(lookup_hash, &record, written);
    }

    /// A key's audit events and whether their chain is intact up to the key's head.
    pub async fn audit_trail(&self, key_id: &KeyId) -> Result<AuditTrail> {
        // The key first: events committed after this read are beyond its head and are
        // left out, so a concurrent change cannot look like tampering.
        let key = self.load_key(key_id).await?;
        let mut events = self.store.audit_events(key_id).await?;
        events.retain(|e| e.seq <= key.revision);
        let report = verify_chain(
            key_id,
            &events,
            Some(ChainHead {
                last_seq: key.revision,
                hash: key.audit_head,
            }),
        );
        Ok(AuditTrail { events, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::time::ManualClock;

    fn keyroll() -> (Keyroll, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
        let config = Config::from_lookup(|_| None).unwrap();
        (
            Keyroll::new(store.clone(), Arc::new(clock), Arc::new(config)),
            store,
        )
    }

    /// No `Debug` output of any domain value that travels near a secret shows the
    /// secret, its body, or its verifier.
    #[tokio::test]
    async fn debug_output_of_domain_types_never_shows_a_secret() {
        let (keyroll, store) = keyroll();
        let actor = Actor::parse("alice").unwrap();
        let issued = keyroll
            .issue_key(
                NewKey {
                    organization_id: OrganizationId::parse("org").unwrap(),
                    name: KeyName::parse("k").unwrap(),
                    scopes: vec![Scope::parse("read").unwrap()],
                    rate_limit: 5,
                    class: KeyClass::Server,
                },
                &actor,
            )
            .await
            .unwrap();
        let rotated = keyroll
            .schedule_rotation(
                &issued.key.id,
                RotationRequest {
                    immediate: true,
                    ..Default::default()
                },
                &actor,
            )
            .await
            .unwrap();
        let emergency = keyroll
            .emergency_rotation(
                &issued.key.id,
                EmergencyRequest {
                    reason: Reason::parse("leak").unwrap(),
                    grace_seconds: Some(0),
                    from_leak_report: false,
                    leaked_version: None,
                },
                &actor,
            )
            .await
            .unwrap();
        let secrets = [
            issued.secret.expose(),
            rotated.secret.expose(),
            emergency.secret.expose(),
        ];
        let records: Vec<SecretRecord> = {
            let mut out = Vec::new();
            for s in secrets {
                out.push(store.secret(&LookupHash::of(s)).await.unwrap().unwrap());
            }
            out
        };
        let key = store.key(&issued.key.id).await.unwrap().unwrap();
        let events = store.audit_events(&issued.key.id).await.unwrap();
        let verification = keyroll.verify(emergency.secret.expose()).await.unwrap();
        let printed = [
            format!("{issued:?}"),
            format!("{rotated:?}"),
            format!("{emergency:?}"),
            format!("{key:?}"),
            format!("{records:?}"),
            format!("{events:?}"),
            format!("{:?}", serde_json::to_string(&events).unwrap()),
            format!("{verification:?}"),
        ];
        for text in &printed {
            for secret in secrets {
                // The body after the display prefix is what must never appear.
                let body = &secret[16..];
                assert!(!text.contains(body), "secret body in: {text}");
            }
            for record in &records {
                if let Some(verifier) = &record.verifier {
                    assert!(!text.contains(verifier.as_phc()), "verifier in: {text}");
                }
            }
        }
    }
}
